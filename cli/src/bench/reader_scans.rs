//! The reader's side of a bench: DuckDB scanning a table Floe wrote over many checkpoints,
//! against a fresh copy of the same rows written in one commit
//! (`scripts/bench_duckdb_scan.py`, when `FLOE_PYTHON` names the test venv).

use std::sync::Arc;

use anyhow::Context;
use arrow_array::RecordBatch;
use floe_common::schema::TableSchema;
use floe_table::iceberg_table::IcebergTable;
use floe_table::table_commit::JobOwner;
use futures::TryStreamExt;

/// Rows of the copy written per call of the data file writer: files about the size a
/// compaction writes, in bounded memory.
const FRESH_CHUNK_ROWS: usize = 2_000_000;

/// The columns a scan sums (a long) and takes the max of, so that it reads real values.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScanColumns {
    pub sum: &'static str,
    pub max: &'static str,
}

/// Writes the rows of the table `spec` names into a new table `<name>_fresh` in one commit,
/// streaming; returns the row count and the new table's name.
pub(super) async fn fresh_copy(
    catalog: Arc<dyn iceberg::Catalog>,
    spec: &TableSchema,
) -> anyhow::Result<(usize, String)> {
    let table = IcebergTable::open_or_create(catalog.clone(), spec).await?;
    let mut batches = table.reload().await?.scan().build()?.to_arrow().await?;
    let mut copy = spec.clone();
    copy.name = format!("{}_fresh", spec.name);
    let fresh = IcebergTable::open_or_create(catalog, &copy).await?;
    let layout = fresh.layout();
    let (mut files, mut pending, mut pending_rows, mut count) = (Vec::new(), Vec::new(), 0, 0);
    loop {
        let batch = batches.try_next().await?;
        if let Some(batch) = &batch {
            pending_rows += batch.num_rows();
            count += batch.num_rows();
            pending.push(RecordBatch::try_new(
                layout.arrow_schema(),
                batch.columns().to_vec(),
            )?);
        }
        if pending_rows >= FRESH_CHUNK_ROWS || (batch.is_none() && pending_rows > 0) {
            let chunk = arrow_select::concat::concat_batches(&layout.arrow_schema(), &pending)?;
            files.extend(layout.write_data_files(chunk).await?);
            pending.clear();
            pending_rows = 0;
        }
        if batch.is_none() {
            break;
        }
    }
    let owner = JobOwner {
        job: "bench-fresh".into(),
        epoch: 0,
    };
    fresh.commit(&owner, 1, files).await?;
    Ok((count, copy.name))
}

/// DuckDB's scan times of `tables`, or why they were not measured (never a reason to lose the
/// figures measured before them).
pub(super) fn duckdb_scans(
    catalog_uri: &str,
    tables: &[&str],
    columns: ScanColumns,
) -> serde_json::Value {
    scans(catalog_uri, tables, columns)
        .unwrap_or_else(|e| format!("not measured: {}", crate::one_line(&e)).into())
}

fn scans(
    catalog_uri: &str,
    tables: &[&str],
    columns: ScanColumns,
) -> anyhow::Result<serde_json::Value> {
    let mut args: Vec<String> = ["--catalog-uri", catalog_uri, "--column", columns.sum]
        .into_iter()
        .chain(["--max-column", columns.max])
        .map(str::to_owned)
        .collect();
    for t in tables {
        args.extend(["--table".to_owned(), (*t).to_owned()]);
    }
    duckdb_script("bench_duckdb_scan.py", &args)
}

/// The JSON a `scripts/` DuckDB script prints, run with the test venv's python
/// (`FLOE_PYTHON`); a string saying why when it cannot run.
pub(super) fn duckdb_script(name: &str, args: &[String]) -> anyhow::Result<serde_json::Value> {
    let Some(python) = std::env::var_os("FLOE_PYTHON") else {
        return Ok("not measured: set FLOE_PYTHON to the test venv's python \
                   (scripts/bench.sh does)"
            .into());
    };
    // From the repository it runs in, else the one it was built from.
    let script = [
        std::path::Path::new("scripts").join(name),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts")
            .join(name),
    ]
    .into_iter()
    .find(|p| p.exists())
    .ok_or_else(|| {
        anyhow::anyhow!("scripts/{name} not found: run the bench from the repository")
    })?;
    let out = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
