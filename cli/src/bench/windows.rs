//! The gold job over tumbling, hopping and cumulating windows of a minute, and over each video's
//! sessions of a 10 s gap (Nexmark q11's), on the same input:
//! events per CPU-second of each, and each as a ratio to the tumbling job of its own round,
//! - `aggregate_only`: decode and slices, one thread: what an event costs. A hopping window of
//!   a minute every 10 s holds every event six times; slices keep that from costing six
//!   updates per event;
//! - `pipeline`: the same plus closing windows (each the merge of its slices), checkpoints,
//!   Parquet and Iceberg commits: what the output costs too, which is six times the rows.
//!
//! A session costs a lookup of its key's sessions per event, where a slice costs a lookup of
//! the key in the slice.
//!
//! `tumbling_1m_sql` is the gold job as `examples/video_stats.sql` writes it, lowered by the SQL
//! front end: a job in SQL should cost what the same job in TOML does.

use std::sync::Arc;

use floe_common::config::{FloeConfig, JobSpec, WindowKind};
use floe_common::decode::Decoder;

use super::engine::{generate, run_aggregate_only, run_pipeline};
use super::rounds::{median_by, paired_ratios};
use super::{bench_config, bench_storage, BenchArgs, EXAMPLE};

/// The kinds measured, by name, with the ratio to tumbling windows each should reach.
const KINDS: [(&str, WindowKind, f64); 4] = [
    ("tumbling_1m", WindowKind::Tumbling, 1.0),
    (
        "hopping_1m_every_10s",
        WindowKind::Hopping { slide_ms: 10_000 },
        0.8,
    ),
    (
        "cumulating_1m_by_20s",
        WindowKind::Cumulating { step_ms: 20_000 },
        0.8,
    ),
    (
        "session_gap_10s",
        WindowKind::Session { gap_ms: 10_000 },
        0.7,
    ),
];

/// The ratio to the TOML job the gold job in SQL should reach: within 5 %.
const SQL_TARGET: f64 = 0.95;

/// The gold job of `examples/video_stats.sql`, with the bench's storage under `dir`.
fn gold_in_sql(dir: &std::path::Path) -> anyhow::Result<JobSpec> {
    let mut file = FloeConfig::parse(EXAMPLE)?;
    file.apply(&bench_storage(dir))?;
    file.jobs = floe_sql::jobs_from_sql(include_str!("../../../examples/video_stats.sql"))?;
    Ok(file.validate()?.jobs.remove(0))
}

/// Runs the windows bench and returns its figures.
pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let gold = bench_config(dir.path(), None)?.jobs.remove(0);
    let mut measured: Vec<(&str, JobSpec, f64)> = KINDS
        .iter()
        .map(|(name, kind, target)| {
            let mut job = gold.clone();
            job.window.kind = *kind;
            if let WindowKind::Session { gap_ms } = kind {
                job.window.size_ms = *gap_ms;
            }
            (*name, job, *target)
        })
        .collect();
    measured.push(("tumbling_1m_sql", gold_in_sql(dir.path())?, SQL_TARGET));
    let jobs: Vec<(Arc<JobSpec>, Decoder)> = measured
        .iter()
        .map(|(_, job, _)| {
            let decoder = Decoder::new(job).map_err(|e| anyhow::anyhow!(e))?;
            Ok((Arc::new(job.clone()), decoder))
        })
        .collect::<anyhow::Result<_>>()?;
    eprintln!("windows: generating {} events…", args.events);
    let input = generate(args);
    let mut runs: Vec<Vec<_>> = jobs.iter().map(|_| Vec::new()).collect();
    let mut aggs: Vec<Vec<f64>> = jobs.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.engine_rounds.max(1) {
        eprintln!("windows round {round}…");
        for (((job, decoder), runs), aggs) in jobs.iter().zip(&mut runs).zip(&mut aggs) {
            aggs.push(run_aggregate_only(job, decoder, &input, args).0.cpu_s);
            let round_dir = tempfile::tempdir()?;
            let cfg = bench_config(round_dir.path(), None)?;
            runs.push(run_pipeline(&cfg, job, decoder, &input, args).await?);
        }
    }
    let tumbling: Vec<f64> = runs[0].iter().map(|r| r.cpu_s).collect();
    let tumbling_aggs = aggs[0].clone();
    let events = args.events as f64;
    let mut results = serde_json::Map::new();
    results.insert(
        "workload".into(),
        serde_json::json!({
            "events": args.events, "partitions": args.partitions,
            "checkpoint_every": args.checkpoint_every, "rounds": tumbling.len(),
            "what": "the gold job's pipeline to Iceberg on one thread; each figure is the round \
                     with the median CPU seconds; ratios are paired with the tumbling run of the \
                     same round",
        }),
    );
    for (((name, _, target), runs), aggs) in measured.iter().zip(&runs).zip(&aggs) {
        let median = median_by(runs, |r| r.cpu_s);
        let (ratio, ratios) = paired_ratios(&tumbling, runs.iter().map(|r| r.cpu_s));
        let agg_cpu = *median_by(aggs, |s| *s);
        let (agg_ratio, agg_ratios) = paired_ratios(&tumbling_aggs, aggs.iter().copied());
        results.insert(
            (*name).into(),
            serde_json::json!({
                "aggregate_only": {
                    "cpu_s": agg_cpu, "events_per_cpu_s": events / agg_cpu,
                    "ratio_to_tumbling": agg_ratio, "ratio_to_tumbling_of_rounds": agg_ratios,
                },
                "pipeline": {
                    "cpu_s": median.cpu_s, "wall_s": median.wall_s,
                    "events_per_cpu_s": events / median.cpu_s,
                    "rows_committed": median.rows,
                    "ratio_to_tumbling": ratio, "ratio_to_tumbling_of_rounds": ratios,
                },
                "ratio_target": target,
            }),
        );
    }
    Ok(serde_json::Value::Object(results))
}
