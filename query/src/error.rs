use std::time::Duration;

use datafusion::error::DataFusionError;

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse, names what does not exist, or is not a query.
    #[error("{0}")]
    Sql(String),
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    #[error("reading the catalog: {0}")]
    Catalog(#[from] iceberg::Error),
    #[error(
        "the query needs more memory than its limit of {limit_bytes} bytes even after spilling \
         to disk (raise it with --memory-limit): {message}"
    )]
    MemoryLimit { limit_bytes: usize, message: String },
    #[error("the query ran past its timeout of {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("running the query: {0}")]
    Execution(String),
    #[error("writing the result: {0}")]
    Output(String),
}

impl QueryError {
    /// A DataFusion error as the user should read it: planning errors are the SQL's fault.
    pub(crate) fn from_datafusion(error: DataFusionError, limit_bytes: usize) -> Self {
        match error.find_root() {
            DataFusionError::ResourcesExhausted(message) => QueryError::MemoryLimit {
                limit_bytes,
                message: message.clone(),
            },
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => QueryError::Sql(error.strip_backtrace()),
            _ => QueryError::Execution(error.strip_backtrace()),
        }
    }
}
