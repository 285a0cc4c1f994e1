//! `floe tables` and `floe snapshots`: what a catalog holds, read from its tables' Iceberg
//! metadata, so that a user sees their tables without a second engine.

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use floe_table::commit_marker::CHECKPOINT_ID_PROPERTY;
use floe_table::table_creation::table_ident;
use iceberg::spec::Snapshot;
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableIdent};
use serde_json::{json, Value};

use crate::catalog_args::CatalogArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct TablesArgs {
    #[command(flatten)]
    catalog: CatalogArgs,
    /// A table for people, or JSON lines for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
pub struct SnapshotsArgs {
    /// The table, `namespace.table`.
    table: String,
    #[command(flatten)]
    catalog: CatalogArgs,
    /// A table for people, or JSON lines for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The columns of `floe tables`, in the order printed.
const TABLE_COLUMNS: [&str; 7] = [
    "table",
    "rows",
    "data_files",
    "delete_files",
    "bytes",
    "snapshots",
    "last_commit",
];

/// The columns of `floe snapshots`, in the order printed.
const SNAPSHOT_COLUMNS: [&str; 7] = [
    "snapshot_id",
    "committed_at",
    "operation",
    "checkpoint",
    "added_rows",
    "total_rows",
    "current",
];

/// Every table of the catalog, with the size of its current snapshot.
pub async fn tables(args: TablesArgs) -> anyhow::Result<()> {
    let catalog = args.catalog.connect().await?;
    let rows = table_rows(catalog.as_ref()).await?;
    print_rows(args.format, &rows, &TABLE_COLUMNS);
    Ok(())
}

/// A table's snapshots, oldest first, with the Floe checkpoint each committed.
pub async fn snapshots(args: SnapshotsArgs) -> anyhow::Result<()> {
    let catalog = args.catalog.connect().await?;
    let table = load(catalog.as_ref(), &args.table).await?;
    print_rows(args.format, &snapshot_rows(&table), &SNAPSHOT_COLUMNS);
    Ok(())
}

/// One object per table of the catalog (the columns of `floe tables`).
pub async fn table_rows(catalog: &dyn Catalog) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::new();
    for table in every_table(catalog).await? {
        let loaded = catalog
            .load_table(&table)
            .await
            .with_context(|| format!("loading {}", name(&table)))?;
        let metadata = loaded.metadata();
        let total = |key: &str| -> u64 {
            metadata
                .current_snapshot()
                .and_then(|s| s.summary().additional_properties.get(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        rows.push(json!({
            "table": name(&table),
            "rows": total("total-records"),
            "data_files": total("total-data-files"),
            "delete_files": total("total-delete-files"),
            "bytes": total("total-files-size"),
            "snapshots": metadata.snapshots().len(),
            "last_commit": metadata.current_snapshot().map(|s| utc(s.timestamp_ms())),
        }));
    }
    Ok(rows)
}

/// The table `namespace.table` of `catalog`.
pub async fn load(catalog: &dyn Catalog, table: &str) -> anyhow::Result<Table> {
    let ident = table_ident(table)?;
    catalog
        .load_table(&ident)
        .await
        .with_context(|| format!("loading {table}"))
}

/// One object per snapshot of `table`, oldest first (the columns of `floe snapshots`).
pub fn snapshot_rows(table: &Table) -> Vec<Value> {
    let metadata = table.metadata();
    let current = metadata.current_snapshot().map(|s| s.snapshot_id());
    let mut snapshots: Vec<&Arc<Snapshot>> = metadata.snapshots().collect();
    snapshots.sort_by_key(|s| (s.sequence_number(), s.timestamp_ms()));
    snapshots
        .into_iter()
        .map(|s| {
            let summary = s.summary();
            let property = |key: &str| summary.additional_properties.get(key).cloned();
            json!({
                "snapshot_id": s.snapshot_id(),
                "committed_at": utc(s.timestamp_ms()),
                "operation": summary.operation.as_str(),
                "checkpoint": checkpoint_of(s),
                "added_rows": property("added-records"),
                "total_rows": property("total-records"),
                "current": Some(s.snapshot_id()) == current,
            })
        })
        .collect()
}

/// The Floe checkpoint a snapshot committed: the one job's id, or each job's (`job:id`) of a
/// table several jobs write.
fn checkpoint_of(snapshot: &Snapshot) -> Option<String> {
    let properties = &snapshot.summary().additional_properties;
    if let Some(id) = properties.get(CHECKPOINT_ID_PROPERTY) {
        return Some(id.clone());
    }
    let mut per_job: Vec<String> = properties
        .iter()
        .filter_map(|(k, v)| {
            let job = k
                .strip_prefix("floe.job.")?
                .strip_suffix(".checkpoint-id")?;
            Some(format!("{job}:{v}"))
        })
        .collect();
    per_job.sort();
    (!per_job.is_empty()).then(|| per_job.join(","))
}

/// Every table of every namespace, nested ones too, by name.
async fn every_table(catalog: &dyn Catalog) -> anyhow::Result<Vec<TableIdent>> {
    let mut namespaces: Vec<NamespaceIdent> = catalog
        .list_namespaces(None)
        .await
        .context("listing namespaces")?;
    let mut tables = Vec::new();
    while let Some(ns) = namespaces.pop() {
        tables.extend(
            catalog
                .list_tables(&ns)
                .await
                .with_context(|| format!("listing the tables of {}", ns.join(".")))?,
        );
        // A catalog without nested namespaces may refuse to list a namespace's children.
        if let Ok(children) = catalog.list_namespaces(Some(&ns)).await {
            namespaces.extend(children.into_iter().filter(|c| c != &ns));
        }
    }
    tables.sort_by_key(name);
    tables.dedup();
    Ok(tables)
}

fn name(table: &TableIdent) -> String {
    format!("{}.{}", table.namespace().join("."), table.name())
}

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `rows` as JSON lines, or as a table of `columns` aligned for a terminal.
fn print_rows(format: Format, rows: &[Value], columns: &[&str]) {
    if format == Format::Json {
        for row in rows {
            println!("{row}");
        }
        return;
    }
    let cell = |row: &Value, column: &str| match &row[column] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_string()).collect());
    for row in rows {
        line(columns.iter().map(|c| cell(row, c)).collect());
    }
}
