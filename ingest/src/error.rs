//! Why a load failed. Every message names what to change; none leaves rows behind.

use floe_table::iceberg_table::TableError;
use floe_table::DataFileError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("reading `{source_name}`: {reason}")]
    Read { source_name: String, reason: String },
    /// The file holds no rows to load.
    #[error("`{0}` holds no rows")]
    Empty(String),
    /// An option cannot be applied to this file or table.
    #[error("{0}")]
    Options(String),
    /// The file's columns do not fit the existing table.
    #[error("the file does not fit table `{table}`: {}", .problems.join("; "))]
    SchemaMismatch {
        table: String,
        problems: Vec<String>,
    },
    /// More rows were rejected than `--max-rejects` allows; nothing was committed.
    #[error(
        "more than {max} rows could not be read (--max-rejects {max}); nothing was loaded. \
         First: line {line}: {reason}"
    )]
    TooManyRejects { max: u64, line: u64, reason: String },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Write(#[from] DataFileError),
    #[error("catalog: {0}")]
    Catalog(#[from] iceberg::Error),
    #[error("building a batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}
