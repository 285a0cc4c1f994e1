//! `POST /v1/query`: one read-only statement, answered as JSON (columns, rows, whether the row
//! limit cut it) or, for `Accept: application/vnd.apache.arrow.stream`, as an Arrow IPC stream.
//! At most `--max-queries` run at once, each under its own timeout and memory limit.

use std::time::Duration;

use arrow_schema::SchemaRef;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use floe_query::output::Collected;
use floe_query::{Lake, QueryLimits, Written};
use serde::Deserialize;
use serde_json::json;

use super::api_error::ApiError;
use super::Gateway;

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    sql: String,
    /// At most this many rows (capped by the server's --max-rows).
    max_rows: Option<u64>,
    /// Fail past this many seconds (capped by the server's --query-timeout).
    timeout_secs: Option<f64>,
}

pub async fn query(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: QueryRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be JSON such as {{\"sql\": \"SELECT 1\", \"max_rows\": 100}}: {e}"
        ))
    })?;
    let limits = gateway.limits;
    let max_rows = request
        .max_rows
        .unwrap_or(limits.max_rows)
        .min(limits.max_rows);
    let timeout = match request.timeout_secs {
        Some(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| ApiError::bad_request("timeout_secs must be a positive number"))?
            .min(limits.query_timeout),
        None => limits.query_timeout,
    };
    let _slot = tokio::time::timeout(limits.queue_wait, gateway.queries.acquire_owned())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "every query slot stayed busy for {}: try again later",
                    humantime::format_duration(limits.queue_wait)
                ),
            )
        })?
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the gateway is stopping"))?;
    let lake = Lake::new(
        gateway.catalog.clone(),
        QueryLimits {
            memory_bytes: limits.memory_bytes,
            timeout,
        },
    );
    let mut result = Collected::default();
    let written = lake
        .run_limited(&request.sql, &mut result, max_rows)
        .await?;
    let arrow = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(ARROW_STREAM));
    let mut answer = if arrow {
        arrow_response(&result)?
    } else {
        json_response(&result, written)?
    };
    let counts = answer.headers_mut();
    counts.insert("x-floe-rows", HeaderValue::from(written.rows));
    counts.insert(
        "x-floe-truncated",
        HeaderValue::from_static(if written.truncated { "true" } else { "false" }),
    );
    Ok(answer)
}

fn output_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("writing the result: {e}"),
    )
}

fn schema_of(result: &Collected) -> Result<&SchemaRef, ApiError> {
    result
        .schema
        .as_ref()
        .ok_or_else(|| output_error("the query gave no schema"))
}

/// `{"columns": [{"name", "type"}], "rows": [{column: value}], "row_count", "truncated"}`;
/// nulls are written, and each row's keys are the columns.
fn json_response(result: &Collected, written: Written) -> Result<Response, ApiError> {
    let columns: Vec<serde_json::Value> = schema_of(result)?
        .fields()
        .iter()
        .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    let mut rows = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow_json::writer::JsonArray>(Vec::new());
    for batch in &result.batches {
        let batch = floe_query::output::decimals_as_text(batch)?;
        rows.write(&batch).map_err(output_error)?;
    }
    rows.finish().map_err(output_error)?;
    let rows = String::from_utf8(rows.into_inner()).map_err(output_error)?;
    let body = format!(
        "{{\"columns\":{},\"rows\":{rows},\"row_count\":{},\"truncated\":{}}}",
        serde_json::Value::from(columns),
        written.rows,
        written.truncated
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn arrow_response(result: &Collected) -> Result<Response, ApiError> {
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), schema_of(result)?)
        .map_err(output_error)?;
    for batch in &result.batches {
        writer.write(batch).map_err(output_error)?;
    }
    writer.finish().map_err(output_error)?;
    let body = writer.into_inner().map_err(output_error)?;
    Ok(([(header::CONTENT_TYPE, ARROW_STREAM)], body).into_response())
}
