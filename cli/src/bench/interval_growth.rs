//! Bench (interval growth): the Bronze job of `examples/bronze.toml` running live, as `floe run`
//! runs it, with its checkpoint interval at 250 ms, over the built-in generator at a steady
//! rate, with no maintenance settings (the defaults): the mean commit time in its second and in
//! its last 30 s, and the table's metadata directory beside its data at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_coordinator::job::JobOptions;
use tokio::sync::mpsc;

use super::{bench_config_of, BenchArgs};

const BRONZE: &str = include_str!("../../../examples/bronze.toml");
const KAFKA_SOURCE: &str =
    "brokers = \"127.0.0.1:9092\"\ntopic = \"content_events\"\nstart = \"earliest\"\n";
const INTERVAL: &str = "interval = \"10s\"";

/// The mean commit time of the last 30 s over that of the second 30 s must stay within this.
const MAX_MEAN_GROWTH: f64 = 1.5;

/// Runs the Bronze job for `args.interval_growth_secs` and returns its figures.
pub async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        args.interval_growth_secs >= 90,
        "--interval-growth-secs must be at least 90 (a second and a last 30 s apart)"
    );
    anyhow::ensure!(
        BRONZE.contains(KAFKA_SOURCE) && BRONZE.contains(INTERVAL),
        "examples/bronze.toml changed its source or interval lines; update this bench"
    );
    let generator = format!(
        "type = \"generator\"\n\n[job.source.generator]\npartitions = {}\nrate = {}\n",
        args.partitions, args.interval_growth_rate
    );
    let text = BRONZE
        .replace(KAFKA_SOURCE, &generator)
        .replace(INTERVAL, "interval = \"250ms\"");
    let dir = tempfile::tempdir()?;
    let cfg = bench_config_of(&text, dir.path(), None)?;
    let job = Arc::new(cfg.jobs[0].clone());
    let catalog = crate::setup::catalog(&cfg).await?;
    let (notices_tx, mut notices) = mpsc::unbounded_channel();
    let options = JobOptions {
        commit_notices: Some(notices_tx),
        snapshot_commits: crate::setup::snapshot_commits(&cfg).await?,
        ..JobOptions::new(&cfg)
    };
    let run_for = Duration::from_secs(args.interval_growth_secs);
    eprintln!(
        "interval growth: the Bronze job at 250 ms checkpoints, {} events/s, for {} s…",
        args.interval_growth_rate, args.interval_growth_secs
    );
    let started = Instant::now();
    let (stop, job_task) = super::spawn_live_job(args, &cfg, catalog, options)?;
    // (seconds since the start, commit milliseconds, rows) of every commit.
    let mut commits: Vec<(f64, f64, u64)> = Vec::new();
    while started.elapsed() < run_for {
        match tokio::time::timeout(Duration::from_millis(500), notices.recv()).await {
            Ok(Some(notice)) => commits.push((
                started.elapsed().as_secs_f64(),
                notice.commit_duration.as_secs_f64() * 1e3,
                notice.rows,
            )),
            Ok(None) => anyhow::bail!("the job stopped during the interval growth run"),
            Err(_) => {}
        }
    }
    stop.cancel();
    let summary = job_task.await??;
    // The mean commit between two moments, of every checkpoint or of those with rows.
    let mean_between = |from: f64, to: f64, with_rows: bool| {
        let times: Vec<f64> = commits
            .iter()
            .filter(|(at, _, rows)| (from..to).contains(at) && (!with_rows || *rows > 0))
            .map(|(_, ms, _)| *ms)
            .collect();
        times.iter().sum::<f64>() / (times.len().max(1) as f64)
    };
    let secs = run_for.as_secs_f64();
    let (second, last) = (
        mean_between(30.0, 60.0, false),
        mean_between(secs - 30.0, secs, false),
    );
    let (second_rows, last_rows) = (
        mean_between(30.0, 60.0, true),
        mean_between(secs - 30.0, secs, true),
    );
    let growth = last / second.max(1e-9);
    let growth_rows = last_rows / second_rows.max(1e-9);
    let table_dir = dir
        .path()
        .join("warehouse")
        .join(job.table.name.replace('.', "/"));
    let (metadata_bytes, metadata_files) = super::growth::dir_size(&table_dir.join("metadata"));
    let (data_bytes, data_files) = super::growth::dir_size(&table_dir.join("data"));
    Ok(serde_json::json!({
        "what": "the Bronze job live (run_job, as floe run), 250 ms checkpoints, default maintenance",
        "seconds": args.interval_growth_secs, "events_per_s": args.interval_growth_rate,
        "events": summary.progress.events, "rows_committed": summary.progress.rows_committed,
        "commits": commits.len(),
        "commit_ms_mean_second_30s": second, "commit_ms_mean_last_30s": last,
        "commit_mean_growth": growth,
        "with_rows_commit_ms_mean_second_30s": second_rows,
        "with_rows_commit_ms_mean_last_30s": last_rows,
        "with_rows_commit_mean_growth": growth_rows,
        "commit_mean_growth_target": MAX_MEAN_GROWTH,
        "metadata_dir_bytes": metadata_bytes, "metadata_dir_files": metadata_files,
        "data_dir_bytes": data_bytes, "data_dir_files": data_files,
        "meets_targets": growth <= MAX_MEAN_GROWTH && growth_rows <= MAX_MEAN_GROWTH
            && metadata_bytes < data_bytes,
    }))
}
