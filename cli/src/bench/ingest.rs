//! Bench (ingest): `floe ingest` of a generated CSV file (an id, a timestamp, a leading-zero
//! code, a decimal amount, a quoted note) into a table of a SQLite catalog, beside DuckDB
//! loading the same file into zstd Parquet (`scripts/bench_duckdb_csv.py`). Each is measured
//! in CPU seconds per GB. Target: Floe at least 0.5× DuckDB's speed per CPU-second.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use floe_ingest::input::CsvInput;
use floe_ingest::read_rows::LoadProgress;
use floe_ingest::{IngestOptions, LoadMode};
use floe_table::catalog::{connect_catalog, CatalogConfig};
use floe_table::overwrite_commit::SnapshotCommits;

use super::reader_scans::duckdb_script;
use super::{cpu_seconds, BenchArgs};

/// Writes about `bytes` of CSV to `path`; returns the rows written.
fn generate(path: &std::path::Path, bytes: u64) -> anyhow::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "id,at,code,amount,note")?;
    let (mut written, mut rows, mut line) = (0u64, 0u64, String::with_capacity(128));
    while written < bytes {
        let id = rows + 1;
        let cents = (id as i64 * 7919 % 2_000_001) - 1_000_000;
        let at = chrono::DateTime::from_timestamp(1_700_000_000 + id as i64 * 3, 0)
            .ok_or_else(|| anyhow::anyhow!("a timestamp out of range"))?;
        line.clear();
        writeln!(
            line,
            "{id},{},{:05},{}{}.{:02},\"note {}, item {}\"",
            at.format("%Y-%m-%d %H:%M:%S"),
            id % 100_000,
            if cents < 0 { "-" } else { "" },
            cents.abs() / 100,
            cents.abs() % 100,
            id % 977,
            id % 13
        )?;
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("load.csv");
    let bytes = args.ingest_mb << 20;
    eprintln!("ingest: writing {} MB of CSV…", args.ingest_mb);
    let rows = generate(&csv, bytes)?;
    let size = std::fs::metadata(&csv)?.len();
    let gb = size as f64 / 1e9;

    let cfg = CatalogConfig::new(
        format!("sqlite://{}/catalog.db", dir.path().display()),
        format!("file://{}/warehouse", dir.path().display()),
    );
    std::fs::create_dir_all(dir.path().join("warehouse"))?;
    let catalog = connect_catalog(&cfg).await?;
    let commits = SnapshotCommits::connect(&cfg).await?;
    let input = CsvInput::open(&csv.display().to_string())?;
    let (wall, cpu) = (std::time::Instant::now(), cpu_seconds());
    let report = floe_ingest::ingest(
        catalog,
        &commits,
        &input,
        &IngestOptions::new("bench.load", LoadMode::Create),
        Arc::new(LoadProgress::default()),
    )
    .await?;
    let (wall_s, cpu_s) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    anyhow::ensure!(report.rows == rows, "loaded {} of {rows} rows", report.rows);

    let duckdb = duckdb_script(
        "bench_duckdb_csv.py",
        &[
            "--csv".to_owned(),
            csv.display().to_string(),
            "--out".to_owned(),
            dir.path().join("duckdb.parquet").display().to_string(),
        ],
    )
    .unwrap_or_else(|e| format!("not measured: {}", crate::one_line(&e)).into());
    let duckdb_cpu_per_gb = duckdb["cpu_s"].as_f64().map(|c| c / gb);
    let floe_cpu_per_gb = cpu_s / gb;
    Ok(serde_json::json!({
        "what": "floe ingest of a generated CSV (id, timestamp, leading-zero code, decimal, quoted \
                 note) beside DuckDB's read_csv into zstd Parquet; target: speed per CPU-second \
                 ≥ 0.5× DuckDB's",
        "file_bytes": size, "rows": rows,
        "columns": report.columns.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>(),
        "data_files": report.data_files,
        "floe": { "wall_s": wall_s, "cpu_s": cpu_s, "cpu_s_per_gb": floe_cpu_per_gb },
        "duckdb": duckdb,
        "duckdb_cpu_s_per_gb": duckdb_cpu_per_gb,
        "speed_ratio_to_duckdb": duckdb_cpu_per_gb.map(|d| d / floe_cpu_per_gb.max(1e-9)),
    }))
}
