use sqlparser::ast::Spanned;

/// Why a SQL script is not a job Floe can run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not SQL this front end reads.
    #[error("{0}")]
    Syntax(String),
    /// Valid SQL that Floe does not run (yet).
    #[error("{what} is not supported{place}{hint}")]
    Unsupported {
        what: String,
        /// Where in the script, as sqlparser writes it (` at Line: l, Column: c`), or empty.
        place: String,
        hint: String,
    },
    /// Statements that contradict each other or the table they name.
    #[error("{0}")]
    Invalid(String),
}

impl SqlError {
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        SqlError::Unsupported {
            what: what.into(),
            place: String::new(),
            hint: String::new(),
        }
    }

    /// This error placed where `node` starts in the script, unless it already names a place.
    pub(crate) fn at(self, node: &impl Spanned) -> Self {
        let place = node.span().start.to_string();
        if place.is_empty() || self.to_string().contains(" at Line: ") {
            return self;
        }
        match self {
            SqlError::Syntax(m) => SqlError::Syntax(m + &place),
            SqlError::Unsupported { what, hint, .. } => SqlError::Unsupported { what, place, hint },
            SqlError::Invalid(m) => SqlError::Invalid(m + &place),
        }
    }

    pub(crate) fn unsupported_with(what: impl Into<String>, hint: impl Into<String>) -> Self {
        SqlError::Unsupported {
            what: what.into(),
            place: String::new(),
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
