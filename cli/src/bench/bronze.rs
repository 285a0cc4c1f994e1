//! Bench (bronze): the append job of `examples/bronze.toml` on the engine alone, over the same
//! generated records as bench (a): decode → rows → Parquet files written as a worker writes
//! them → an Iceberg commit every `checkpoint_every` records. One thread, so records per
//! CPU-second is records per core.

use std::sync::Arc;

use floe_common::decode::Decoder;

use super::engine::{generate, run_pipeline};
use super::{bench_config_of, percentile, BenchArgs};

const BRONZE: &str = include_str!("../../../examples/bronze.toml");

/// Records per core-second the Bronze flow should reach.
const TARGET_RECORDS_PER_CPU_S: f64 = 500_000.0;

/// Runs the Bronze bench and returns its figures.
pub async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let cfg = bench_config_of(BRONZE, dir.path(), None)?;
    let job = Arc::new(cfg.jobs[0].clone());
    let decoder = Decoder::new(&job).map_err(|e| anyhow::anyhow!(e))?;
    eprintln!("bronze: generating {} events…", args.events);
    let input = generate(args);
    let bytes: usize = input.iter().map(|r| r.2.len()).sum();
    let run = run_pipeline(&cfg, &job, &decoder, &input, args).await?;
    anyhow::ensure!(
        run.rows == input.len() as u64,
        "the bronze table got {} rows for {} records",
        run.rows,
        input.len()
    );
    let records = input.len() as f64;
    let files = count_parquet(&dir.path().join("warehouse"));
    Ok(serde_json::json!({
        "what": "decode, rows, Parquet (zstd) written by the worker, Iceberg commit per checkpoint",
        "records": input.len(), "input_bytes": bytes, "checkpoint_every": args.checkpoint_every,
        "wall_s": run.wall_s, "cpu_s": run.cpu_s,
        "records_per_s": records / run.wall_s,
        "records_per_cpu_s": records / run.cpu_s,
        "records_per_cpu_s_target": TARGET_RECORDS_PER_CPU_S,
        "checkpoints": run.checkpoint_durations.len(),
        "checkpoint_ms_p50": percentile(&run.checkpoint_durations, 0.5),
        "checkpoint_ms_p99": percentile(&run.checkpoint_durations, 0.99),
        "parquet_files": files,
    }))
}

fn count_parquet(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                count_parquet(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}
