//! Bench (query): `floe query`'s aggregate over a table beside DuckDB's `iceberg_scan` of the
//! same aggregate (`scripts/bench_duckdb_scan.py`: count, a sum and a max over every row), both
//! timed on the same table in the same run. Target: within 2× DuckDB.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use floe_query::{Lake, QueryError, QueryLimits, ResultSink};

use super::reader_scans::{duckdb_scans, ScanColumns};

const RUNS: usize = 5;

/// Takes a result and keeps nothing: the bench times the query, not a writer.
struct Discard;

impl ResultSink for Discard {
    fn start(&mut self, _: &SchemaRef) -> Result<(), QueryError> {
        Ok(())
    }
    fn batch(&mut self, _: &RecordBatch) -> Result<(), QueryError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), QueryError> {
        Ok(())
    }
}

/// Times `floe query` and DuckDB over `table` of the SQLite catalog at `catalog_uri`.
pub(super) async fn beside_duckdb(
    catalog: Arc<dyn iceberg::Catalog>,
    catalog_uri: &str,
    table: &str,
    columns: ScanColumns,
) -> anyhow::Result<serde_json::Value> {
    let sql = format!(
        "SELECT count(*), sum(\"{}\"), max(\"{}\") FROM {table}",
        columns.sum, columns.max
    );
    let lake = Lake::new(catalog, QueryLimits::default());
    let mut times_ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        lake.run(&sql, &mut Discard).await?;
        times_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times_ms.sort_by(f64::total_cmp);
    let floe_ms = times_ms[RUNS / 2];
    let duckdb = duckdb_scans(catalog_uri, &[table], columns);
    let duckdb_ms = duckdb[table]["scan_ms_median"].as_f64();
    Ok(serde_json::json!({
        "what": "floe query of an aggregate (count, a sum and a max over every row) beside \
                 DuckDB's iceberg_scan of the same, medians of 5; target: ratio ≤ 2",
        "sql": sql,
        "floe_query_ms_median": floe_ms,
        "floe_query_ms_best": times_ms[0],
        "duckdb": duckdb,
        "ratio_to_duckdb": duckdb_ms.map(|d| floe_ms / d.max(1e-9)),
    }))
}
