//! `GET /v1/tables`, `/v1/tables/{t}/snapshots` and `/v1/tables/{t}/schema`: what `floe tables`
//! and `floe snapshots` print, and a table's current schema in Iceberg's JSON form (each
//! column's doc is the CSV header it was loaded from).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use floe_table::table_creation::table_ident;
use iceberg::table::Table;
use serde_json::json;

use super::api_error::{json_response, ApiError};
use super::Gateway;
use crate::lake::{snapshot_rows, table_rows};

pub async fn tables(State(gateway): State<Gateway>) -> Result<Response, ApiError> {
    let rows = table_rows(gateway.catalog.as_ref())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(json_response(StatusCode::OK, &json!({ "tables": rows })))
}

pub async fn snapshots(
    State(gateway): State<Gateway>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    let loaded = existing_table(&gateway, &table).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "table": table, "snapshots": snapshot_rows(&loaded) }),
    ))
}

pub async fn schema(
    State(gateway): State<Gateway>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    let loaded = existing_table(&gateway, &table).await?;
    let metadata = loaded.metadata();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "table": table,
            "schema": metadata.current_schema(),
            "partition_spec": metadata.default_partition_spec(),
        }),
    ))
}

/// Table `name` of the gateway's catalog: 400 for a malformed name, 404 for a missing table.
async fn existing_table(gateway: &Gateway, name: &str) -> Result<Table, ApiError> {
    let ident = table_ident(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let exists = gateway
        .catalog
        .table_exists(&ident)
        .await
        .map_err(|e| ApiError::internal(&e.into()))?;
    if !exists {
        return Err(ApiError::not_found(format!("no table {name}")));
    }
    gateway
        .catalog
        .load_table(&ident)
        .await
        .map_err(|e| ApiError::internal(&anyhow::Error::new(e).context(format!("loading {name}"))))
}
