//! Bench (growth): the Bronze job of `examples/bronze.toml` over many checkpoints, each one
//! commit, with the job's default table maintenance and with none: how commit time, the
//! `metadata.json`, the metadata directory and the file counts grow with history.
//!
//! Records go through the engine's own checkpoint path (`engine::checkpoint`: worker files,
//! state, manifest, commit, cleanup, maintenance when due), cycling over one generated pool.
//! Maintenance runs beside the commits, as in a job; since the checkpoints here follow each
//! other with no interval, every `every_checkpoints` they wait for a run still going (the time a
//! run has at a real interval), and that wait is reported apart from the commit times. At the
//! end, DuckDB scans the maintained table and a fresh copy of its rows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::window::WindowOperator;
use floe_table::iceberg_table::IcebergTable;

use super::engine::{checkpoint, decode_chunk, generate_n, BenchSink};
use super::reader_scans::{duckdb_scans, fresh_copy, ScanColumns};
use super::{bench_config_of, percentile, BenchArgs};

const BRONZE: &str = include_str!("../../../examples/bronze.toml");

/// The bounds the maintained table should keep (issue targets).
const MAX_METADATA_JSON_BYTES: u64 = 1024 * 1024;
const MAX_P99_GROWTH: f64 = 1.5;
const MAX_METADATA_SHARE_OF_DATA: f64 = 0.10;
const MAX_SCAN_VS_FRESH: f64 = 1.5;

/// The columns DuckDB's scans sum and take the max of.
const BRONZE_COLUMNS: ScanColumns = ScanColumns {
    sum: "kafka_offset",
    max: "event_type",
};

/// Commits at which the table is measured (and the last one).
const SAMPLES: [usize; 3] = [1_000, 5_000, 10_000];

/// Runs the growth bench: maintained, then (unless skipped) unmaintained.
pub async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    out.insert("maintained".into(), one_run(args, true).await?);
    if !args.growth_skip_unmaintained {
        out.insert("unmaintained".into(), one_run(args, false).await?);
    }
    Ok(serde_json::Value::Object(out))
}

async fn one_run(args: &BenchArgs, maintained: bool) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let mut cfg = bench_config_of(BRONZE, dir.path(), None)?;
    cfg.jobs[0].maintenance.enabled = maintained;
    let job = Arc::new(cfg.jobs[0].clone());
    let decoder = Decoder::new(&job).map_err(|e| anyhow::anyhow!(e))?;
    let per_commit = args.growth_events_per_commit.max(1);
    let pool = generate_n(args, (per_commit * 50).min(1_000_000) as u64);
    let sink = BenchSink::open(&cfg, &job).await?;
    let table =
        IcebergTable::open_or_create(crate::setup::catalog(&cfg).await?, &job.table).await?;
    let table_dir = dir
        .path()
        .join("warehouse")
        .join(job.table.name.replace('.', "/"));
    let mut op = WindowOperator::for_job(&job);
    for p in 0..args.partitions {
        op.assign(p, 0);
    }
    let mut batch = DecodedBatch::default();
    let mut commit_times: Vec<Duration> = Vec::with_capacity(args.growth_commits);
    let mut maintenance = Duration::ZERO;
    let mut maintenance_wait = Duration::ZERO;
    let mut samples = Vec::new();
    let mut at = 0usize;
    eprintln!(
        "growth ({}): {} commits of {per_commit} events…",
        if maintained {
            "maintained"
        } else {
            "unmaintained"
        },
        args.growth_commits
    );
    for id in 1..=args.growth_commits {
        let mut left = per_commit;
        while left > 0 {
            let n = left.min(args.batch).min(pool.len() - at);
            op.apply(decode_chunk(&decoder, &pool[at..at + n], &mut batch), 0);
            at = (at + n) % pool.len();
            left -= n;
        }
        // At a real interval a run has `every_checkpoints` intervals to finish; back to back
        // checkpoints wait for it there, outside the commit times.
        if maintained && (id as u64).is_multiple_of(job.maintenance.every_checkpoints) {
            let waiting = std::time::Instant::now();
            sink.committer.maintenance_finished().await;
            maintenance_wait += waiting.elapsed();
        }
        let done = checkpoint(&mut op, &sink, id as u64, args.partitions, false).await?;
        commit_times.push(done.phases.commit);
        maintenance += done.phases.maintenance;
        if SAMPLES.contains(&id) || id == args.growth_commits {
            samples.push(sample(&table, &table_dir, id, &commit_times).await?);
        }
    }
    let scan = if maintained {
        sink.committer.maintenance_finished().await;
        reader_scan(dir.path(), &cfg, &job).await?
    } else {
        // Thousands of manifests and small files: what the maintained run avoids.
        serde_json::Value::from("not measured without maintenance")
    };
    let window = 1_000.min(commit_times.len());
    let p99 = |times: &[Duration]| {
        let mut sorted = times.to_vec();
        sorted.sort();
        percentile(&sorted, 0.99)
    };
    let first = p99(&commit_times[..window]);
    let last = p99(&commit_times[commit_times.len() - window..]);
    let end = samples.last().cloned().unwrap_or_default();
    let metadata_json = end["metadata_json_bytes"].as_u64().unwrap_or(0);
    let share = end["metadata_dir_bytes"].as_f64().unwrap_or(0.0)
        / end["data_dir_bytes"].as_f64().unwrap_or(1.0).max(1.0);
    Ok(serde_json::json!({
        "what": "Bronze checkpoints through the engine's checkpoint path, one commit each",
        "commits": args.growth_commits, "events_per_commit": per_commit,
        "maintenance": if maintained { serde_json::to_value(job.maintenance)? } else { "off".into() },
        "commit_ms_p99_first_1000": first, "commit_ms_p99_last_1000": last,
        "commit_p99_growth": last / first.max(1e-9),
        "commit_p99_growth_target": MAX_P99_GROWTH,
        "maintenance_ms_total": maintenance.as_secs_f64() * 1000.0,
        "maintenance_wait_ms_total": maintenance_wait.as_secs_f64() * 1000.0,
        "metadata_json_bytes_target": MAX_METADATA_JSON_BYTES,
        "metadata_share_of_data": share,
        "metadata_share_of_data_target": MAX_METADATA_SHARE_OF_DATA,
        "duckdb_scan": scan,
        "duckdb_scan_vs_fresh_target": MAX_SCAN_VS_FRESH,
        "meets_targets": last / first.max(1e-9) <= MAX_P99_GROWTH
            && metadata_json <= MAX_METADATA_JSON_BYTES
            && share <= MAX_METADATA_SHARE_OF_DATA
            && (!maintained || scan["vs_fresh"].as_f64().is_some_and(|r| r <= MAX_SCAN_VS_FRESH)),
        "samples": samples,
    }))
}

/// The table after `commits` commits: its health, its directories' sizes, and the p99 of the
/// last (up to) 1,000 commits.
async fn sample(
    table: &IcebergTable,
    table_dir: &Path,
    commits: usize,
    times: &[Duration],
) -> anyhow::Result<serde_json::Value> {
    let health = table.health().await?;
    let (metadata_bytes, metadata_files) = dir_size(&table_dir.join("metadata"));
    let (data_bytes, data_files) = dir_size(&table_dir.join("data"));
    let mut recent = times[times.len().saturating_sub(1_000)..].to_vec();
    recent.sort();
    Ok(serde_json::json!({
        "commits": commits,
        "commit_ms_p99_recent_1000": percentile(&recent, 0.99),
        "commit_ms_p50_recent_1000": percentile(&recent, 0.5),
        "snapshots": health.snapshots,
        "data_manifests": health.data_manifests,
        "metadata_json_bytes": health.metadata_file_bytes,
        "metadata_dir_bytes": metadata_bytes, "metadata_dir_files": metadata_files,
        "data_dir_bytes": data_bytes, "data_dir_files": data_files,
        "live_data_files": health.data_files,
    }))
}

/// Bytes and files under `dir`.
pub(super) fn dir_size(dir: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            let (b, f) = dir_size(&path);
            total.0 += b;
            total.1 += f;
        } else if let Ok(meta) = entry.metadata() {
            total.0 += meta.len();
            total.1 += 1;
        }
    }
    total
}

/// DuckDB's scan of the table against a fresh copy of its rows, and their ratio (medians).
async fn reader_scan(
    dir: &Path,
    cfg: &floe_common::config::ValidatedConfig,
    job: &floe_common::config::JobSpec,
) -> anyhow::Result<serde_json::Value> {
    let catalog_uri = format!("sqlite:///{}", dir.join("catalog.db").display());
    let (_, fresh) = fresh_copy(crate::setup::catalog(cfg).await?, &job.table).await?;
    let mut scans = duckdb_scans(&catalog_uri, &[&job.table.name, &fresh], BRONZE_COLUMNS);
    let median = |t: &str| scans[t]["scan_ms_median"].as_f64();
    if let (Some(table), Some(fresh)) = (median(&job.table.name), median(&fresh)) {
        scans["vs_fresh"] = serde_json::json!(table / fresh.max(1e-9));
    }
    Ok(scans)
}
