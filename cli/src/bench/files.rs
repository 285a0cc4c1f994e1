//! Bench (files): the gold job end to end over one newline-delimited JSON file
//! (`source.type = "files"`, bounded): the same records as bench (a), read from disk through the
//! file reader, decoded, windowed, checkpointed and committed by the job as `floe run` runs it.
//! By hand: `floe gen --to-file events.jsonl --events 4000000` and
//! `floe run --config examples/video_stats.toml --files events.jsonl --until-end`; the file is
//! what another engine (Flink's filesystem source) can be raced on. Then `floe query` over the
//! gold table it wrote, beside DuckDB.

use std::io::Write;

use super::engine::generate;
use super::query;
use super::reader_scans::ScanColumns;
use super::{bench_storage, bounded_run, BenchArgs, EXAMPLE};

/// What the query bench aggregates over the gold table the run wrote.
const GOLD_COLUMNS: ScanColumns = ScanColumns {
    sum: "events",
    max: "video_id",
};

/// Runs the gold job over a file of `args.events` records; `plain_loop` is the yardstick's
/// events per CPU-second from bench (a) of the same run, when measured.
pub async fn run(args: &BenchArgs, plain_loop: Option<f64>) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("events.jsonl");
    eprintln!(
        "files: writing {} events to {}…",
        args.events,
        path.display()
    );
    let bytes = {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let mut bytes = 0;
        for (_, _, json) in generate(args) {
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")?;
            bytes += json.len() + 1;
        }
        out.flush()?;
        bytes
    };
    let mut file = floe_common::config::FloeConfig::parse(EXAMPLE)?;
    file.apply(&floe_common::config::Overrides {
        files: Some(path.display().to_string()),
        ..bench_storage(dir.path())
    })?;
    let cfg = file.validate()?;
    let (summary, wall_s, cpu_s) = bounded_run(args, &cfg).await?;
    let events = summary.progress.events;
    anyhow::ensure!(
        events == args.events && summary.progress.rows_committed > 0,
        "the job counted {events} events and committed {} rows; expected {} events",
        summary.progress.rows_committed,
        args.events
    );
    let per_cpu_s = events as f64 / cpu_s.max(1e-9);
    let query = query::beside_duckdb(
        crate::setup::catalog(&cfg).await?,
        &format!("sqlite:///{}", dir.path().join("catalog.db").display()),
        &cfg.jobs[0].table.name,
        GOLD_COLUMNS,
    )
    .await?;
    Ok(serde_json::json!({
        "what": "the gold job, bounded, over one NDJSON file: read, decode, windows, \
                 checkpoints, Parquet, Iceberg commits (floe run --files F --until-end)",
        "events": events, "file_bytes": bytes, "readers": args.readers,
        "wall_s": wall_s, "cpu_s": cpu_s,
        "events_per_s": events as f64 / wall_s,
        "events_per_cpu_s": per_cpu_s,
        "cpu_s_per_million_events": cpu_s * 1e6 / events as f64,
        "ratio_to_plain_loop": plain_loop.map(|p| per_cpu_s / p),
        "checkpoints": summary.checkpoint_durations.len(),
        "query": query,
    }))
}
