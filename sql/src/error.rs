/// Why a SQL script is not a job Floe can run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not SQL this front end reads.
    #[error("{0}")]
    Syntax(String),
    /// Valid SQL that Floe does not run (yet).
    #[error("{what} is not supported{hint}")]
    Unsupported { what: String, hint: String },
    /// Statements that contradict each other or the table they name.
    #[error("{0}")]
    Invalid(String),
}

impl SqlError {
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        SqlError::Unsupported {
            what: what.into(),
            hint: String::new(),
        }
    }

    pub(crate) fn unsupported_with(what: impl Into<String>, hint: impl Into<String>) -> Self {
        SqlError::Unsupported {
            what: what.into(),
            hint: format!(": {}", hint.into()),
        }
    }
}

impl From<sqlparser::parser::ParserError> for SqlError {
    fn from(e: sqlparser::parser::ParserError) -> Self {
        SqlError::Syntax(e.to_string())
    }
}

impl From<sqlparser::tokenizer::TokenizerError> for SqlError {
    fn from(e: sqlparser::tokenizer::TokenizerError) -> Self {
        SqlError::Syntax(e.to_string())
    }
}
