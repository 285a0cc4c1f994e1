//! A failed request's answer: a status that says whose fault it was, and `{"error": "…"}`
//! with the message a user of the command line would have read.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use floe_ingest::IngestError;
use floe_query::QueryError;
use floe_table::iceberg_table::TableError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The server's own failure (the catalog or the store), with its whole cause chain.
    pub fn internal(error: &anyhow::Error) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, crate::one_line(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "request failed");
        }
        json_response(self.status, &json!({ "error": self.message }))
    }
}

/// `value` as an `application/json` answer.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        let status = match &error {
            QueryError::Sql(_) | QueryError::Table { .. } => StatusCode::BAD_REQUEST,
            QueryError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
            QueryError::MemoryLimit { .. } => StatusCode::INSUFFICIENT_STORAGE,
            QueryError::Catalog(_) | QueryError::Execution(_) | QueryError::Output(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, error.to_string())
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        let status = match &error {
            IngestError::Empty(_)
            | IngestError::Options(_)
            | IngestError::TooManyRejects { .. }
            | IngestError::Table(TableError::InvalidName(_)) => StatusCode::BAD_REQUEST,
            IngestError::SchemaMismatch { .. }
            | IngestError::Table(TableError::AlreadyExists(_))
            | IngestError::Table(TableError::CommitConflict { .. }) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}
