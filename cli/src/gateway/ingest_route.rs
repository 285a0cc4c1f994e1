//! `POST /v1/tables/{ns}.{table}/ingest`: a CSV upload, as the body itself or as the file of a
//! multipart form, loaded as `floe ingest` loads a file. The upload is streamed to a temporary
//! file, refused with 413 past `--max-upload` (nothing is loaded then); the load's options are
//! query parameters named as `floe ingest`'s flags. Loads of one table run one at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use floe_ingest::infer::NullValues;
use floe_ingest::input::CsvInput;
use floe_ingest::read_rows::LoadProgress;
use floe_ingest::{IngestOptions, IngestReport, LoadMode};
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::api_error::{json_response, ApiError};
use super::Gateway;
use crate::ingest::{parse_byte, parse_column_type};
use crate::query::parse_bytes;

/// One lock per table name, so two uploads to one table load one after the other rather than
/// racing to commit.
#[derive(Default)]
pub struct TableLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl TableLocks {
    fn of(&self, table: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(table.to_owned())
            .or_default()
            .clone()
    }
}

pub async fn ingest(
    State(gateway): State<Gateway>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let options = load_options(&table, query.as_deref().unwrap_or_default())?;
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(&e.into()))?;
    let upload = receive(request, &dir, gateway.limits.max_upload).await?;
    let input = CsvInput::open(&upload.path.display().to_string())?.named(upload.name);
    let lock = gateway.loads.of(&table);
    let _loading = lock.lock().await;
    let report = floe_ingest::ingest(
        gateway.catalog.clone(),
        &gateway.commits,
        &input,
        &options,
        Arc::new(LoadProgress::default()),
    )
    .await?;
    Ok(json_response(StatusCode::OK, &report_json(&report)))
}

/// The load's options from the query string: `mode`, `delimiter`, `quote`, `header`, `null`
/// (repeatable), `type` (repeatable, `col=TYPE`), `schema`, `max_rejects`, `force`,
/// `partition_by` and `target_file_size`.
fn load_options(table: &str, query: &str) -> Result<IngestOptions, ApiError> {
    let mut options = IngestOptions::new(table, LoadMode::Append);
    let mut nulls = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let bad = |reason: String| ApiError::bad_request(format!("{key}={value}: {reason}"));
        match key.as_ref() {
            "mode" => {
                options.mode = match value.as_ref() {
                    "create" => LoadMode::Create,
                    "append" => LoadMode::Append,
                    "overwrite" => LoadMode::Overwrite,
                    _ => return Err(bad("expected create, append or overwrite".into())),
                }
            }
            "delimiter" => options.dialect.delimiter = Some(parse_byte(&value).map_err(bad)?),
            "quote" => options.dialect.quote = Some(parse_byte(&value).map_err(bad)?),
            "header" => options.dialect.header = Some(parse_flag(&value).map_err(bad)?),
            "null" => nulls.push(value.into_owned()),
            "type" => options
                .columns
                .types
                .push(parse_column_type(&value).map_err(bad)?),
            "schema" => {
                options.columns.schema =
                    Some(floe_ingest::csv_type::parse_schema(&value).map_err(bad)?)
            }
            "max_rejects" => {
                options.max_rejects = Some(value.parse().map_err(|_| bad("not a count".into()))?)
            }
            "force" => options.force = parse_flag(&value).map_err(bad)?,
            "partition_by" => options.partition_by = Some(value.into_owned()),
            "target_file_size" => {
                options.target_file_bytes = parse_bytes(&value).map_err(bad)?.as_u64()
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{key}`: see /v1/openapi.json"
                )))
            }
        }
    }
    if !nulls.is_empty() {
        options.nulls = NullValues::only(nulls);
    }
    Ok(options)
}

fn parse_flag(text: &str) -> Result<bool, String> {
    match text {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// An upload held in a temporary file.
struct Upload {
    path: std::path::PathBuf,
    /// The client's file name, or `upload.csv`.
    name: String,
}

/// The request's CSV, from its body or from the first file of its multipart form, written to
/// `dir` as it arrives.
async fn receive(
    request: Request,
    dir: &tempfile::TempDir,
    max_bytes: u64,
) -> Result<Upload, ApiError> {
    let path = dir.path().join("upload.csv");
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = request.into_body().into_data_stream();
        write_bounded(body, &path, max_bytes).await?;
        return Ok(Upload {
            path,
            name: "upload.csv".to_owned(),
        });
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?
            .ok_or_else(|| ApiError::bad_request("the form holds no file field"))?;
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        let chunks = futures::stream::unfold(field, |mut field| async move {
            match field.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), field)),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e.body_text())), field)),
            }
        });
        write_bounded(chunks, &path, max_bytes).await?;
        return Ok(Upload { path, name });
    }
}

/// Writes `chunks` to `path`, failing with 413 once more than `max_bytes` arrived.
async fn write_bounded<E: std::fmt::Display>(
    chunks: impl Stream<Item = Result<Bytes, E>>,
    path: &std::path::Path,
    max_bytes: u64,
) -> Result<(), ApiError> {
    let failed = |e: std::io::Error| {
        ApiError::internal(&anyhow::Error::new(e).context("storing the upload"))
    };
    let mut file = tokio::fs::File::create(path).await.map_err(failed)?;
    let mut chunks = std::pin::pin!(chunks);
    let mut received = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
        received += chunk.len() as u64;
        if received > max_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is larger than this gateway's limit of {} (--max-upload)",
                    bytesize::ByteSize(max_bytes)
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.flush().await.map_err(failed)
}

fn report_json(report: &IngestReport) -> serde_json::Value {
    let columns: Vec<_> = report
        .columns
        .iter()
        .map(|(name, ty)| json!({ "name": name, "type": ty.to_string() }))
        .collect();
    json!({
        "table": report.table,
        "loaded": report.already_loaded_by.is_none(),
        "rows": report.rows,
        "rejected": report.rejected,
        "rejects_table": report.rejects_table,
        "columns": columns,
        "added_columns": report.added_columns,
        "data_files": report.data_files,
        "sha256": report.sha256,
        "snapshot_id": report.snapshot_id,
        "already_loaded_by": report.already_loaded_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_floe_ingests_flags() {
        let options = load_options(
            "lake.prices",
            "mode=overwrite&delimiter=%3B&header=false&null=-&null=none&type=zip%3Dstring&max_rejects=5&force=true",
        )
        .expect("options");
        assert_eq!(options.mode, LoadMode::Overwrite);
        assert_eq!(options.dialect.delimiter, Some(b';'));
        assert_eq!(options.dialect.header, Some(false));
        assert_eq!(options.max_rejects, Some(5));
        assert!(options.force);
        assert_eq!(options.columns.types.len(), 1);
        let err = load_options("lake.prices", "mode=replace").expect_err("bad mode");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("mode=replace"), "{}", err.message);
        let err = load_options("lake.prices", "colour=blue").expect_err("unknown");
        assert!(
            err.message.contains("unknown parameter `colour`"),
            "{}",
            err.message
        );
    }
}
