/// Why rows could not become data files of a table.
#[derive(Debug, thiserror::Error)]
pub enum DataFileError {
    /// The `TableSchema` itself is unusable (duplicate/unknown columns, bad partitioning).
    #[error("invalid schema for table `{table}`: {reason}")]
    InvalidSchema { table: String, reason: String },
    /// A batch does not fit the table schema.
    #[error("batch does not match table `{table}`: {reason}")]
    BatchMismatch { table: String, reason: String },
    /// Writing Parquet data files failed (files written so far are orphans, never committed).
    #[error("writing data files for `{table}` failed: {source}")]
    Write {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    /// Writing a batch's files took longer than [`crate::WRITE_TIMEOUT`] (a hung object store).
    #[error("writing the data files of `{table}` took longer than {after:?}")]
    WriteTimeout {
        table: String,
        after: std::time::Duration,
    },
    /// Data file metadata could not be converted to or from JSON.
    #[error("data file JSON conversion for `{table}` failed: {source}")]
    DataFileJson {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    /// Arrow rejected a batch (e.g. nulls in a required column).
    #[error("arrow error for `{table}`: {source}")]
    Arrow {
        table: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A table's metadata (from the catalog or sent to a worker) cannot be used for writing.
    #[error("table `{table}`: unusable metadata: {reason}")]
    Metadata { table: String, reason: String },
    /// A data file could not be read back.
    #[error("reading data file {path}: {reason}")]
    Read { path: String, reason: String },
}
