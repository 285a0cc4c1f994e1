//! `floe bench`: the gold and Bronze jobs on generated workloads, figures into a results file.
//!
//! Its parts, each in its own file:
//! - [`engine`] (a): the engine alone on records already in memory, beside [`baseline`]'s
//!   plain loop over the same records;
//! - [`files`]: the gold job end to end over the same records in one NDJSON file
//!   (`source.type = "files"`), as `floe run --files F --until-end` runs it;
//! - [`broker`] (b): end to end from a real Kafka broker, as a ratio to a consume-only loop with
//!   the same client against the same broker (needs `--brokers`);
//! - [`latency`]: from a window's end in event time to its row being visible in the table, with
//!   event time following the wall clock (needs `--brokers`);
//! - [`scaling`]: a cluster of one worker process and of two over the built-in generator
//!   (needs `--etcd`);
//! - [`windows`]: the gold job over tumbling, hopping, cumulating and session windows;
//! - [`nexmark`]: Nexmark's auction events and the queries Floe's SQL runs, beside Flink's
//!   figures per core;
//! - [`bronze`]: the Bronze (append) job of `examples/bronze.toml` on the engine alone;
//! - [`cdc`]: the CDC job of `examples/dim_videos.toml` on the engine alone, and DuckDB's scan
//!   of its table against a freshly written one;
//! - [`growth`]: the Bronze job over many commits, with and without table maintenance: commit
//!   time, metadata size and file counts as history grows;
//! - [`interval_growth`]: the Bronze job live at 250 ms checkpoints for minutes, with the
//!   default maintenance: its mean commit time early and late, its metadata beside its data;
//! - [`ingest`]: `floe ingest` of a generated CSV file beside DuckDB loading it, in CPU seconds
//!   per GB;
//! - [`merge`]: one window's partials from several workers through Arrow IPC and the
//!   committer's merge, at `--merge-keys` keys;
//! - [`state_move`]: the state of `--state-move-keys` open keys from one worker to another
//!   through the checkpoint store, as a rescale or a failover moves it;
//! - [`rescale`]: a worker joining the gold job live: the time to move its partitions, and how
//!   long the partitions that stay where they are go without reading on.

mod baseline;
mod broker;
mod bronze;
mod cdc;
mod engine;
mod files;
mod growth;
mod ingest;
mod interval_growth;
mod latency;
mod merge;
mod nexmark;
mod query;
mod reader_scans;
mod rescale;
mod rounds;
mod scaling;
mod state_move;
mod windows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use floe_common::config::{FloeConfig, Overrides, ValidatedConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

const EXAMPLE: &str = include_str!("../../../examples/video_stats.toml");

#[derive(Args)]
pub struct BenchArgs {
    /// Events to generate and process in memory (bench a).
    #[arg(long, default_value_t = 4_000_000)]
    events: u64,
    #[arg(long, default_value_t = 10_000)]
    videos: u32,
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Passes of the plain loop, decode + aggregate and the pipeline, in turn; each in-memory
    /// figure is the pass with the median CPU time.
    #[arg(long, default_value_t = 5)]
    engine_rounds: usize,
    /// Events between two checkpoints in the in-memory pipeline run.
    #[arg(long, default_value_t = 500_000)]
    checkpoint_every: u64,
    /// Records per decoded batch in the in-memory runs.
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// A Kafka broker for the end-to-end figures (b) and the latency run; without it only the
    /// in-memory figures are measured.
    #[arg(long)]
    brokers: Option<String>,
    /// Events produced to the broker for the throughput ratio.
    #[arg(long, default_value_t = 2_000_000)]
    broker_events: u64,
    /// Job runs against the broker, each between two consume-only runs.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Reader actors of the job, and consumer threads of the consume-only loop.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// How long a Kafka reader's batch that has records waits for more, in ms (the workers'
    /// default; 0 sends what one poll finds).
    #[arg(long, default_value_t = 10)]
    poll_linger_ms: u64,
    /// Length of the latency run, in seconds (0 skips it).
    #[arg(long, default_value_t = 300)]
    latency_secs: u64,
    /// Events per second produced during the latency run.
    #[arg(long, default_value_t = 20_000)]
    latency_rate: u64,
    /// Skip the in-memory figures (a).
    #[arg(long)]
    skip_engine: bool,
    /// etcd for the scaling figures (cluster processes); without it they are not measured.
    #[arg(long)]
    etcd: Option<String>,
    /// Generated events per scaling run (enough that start-up and the last commit weigh little).
    #[arg(long, default_value_t = 48_000_000)]
    scaling_events: u64,
    /// Rounds of the scaling runs (one worker, then two); each figure is the median run.
    #[arg(long, default_value_t = 3)]
    scaling_rounds: usize,
    /// Keys of the window whose partials the merge figure moves and merges.
    #[arg(long, default_value_t = 1_000_000)]
    merge_keys: usize,
    /// Open keys whose state the state-move figure moves between two workers (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    state_move_keys: usize,
    /// Events per second of the rescale bench's generator (0 skips it).
    #[arg(long, default_value_t = 80_000)]
    rescale_rate: u64,
    /// Videos (keys of each window) of the rescale bench.
    #[arg(long, default_value_t = 200_000)]
    rescale_videos: u32,
    /// Keys of the CDC bench's dimension table.
    #[arg(long, default_value_t = 1_000_000)]
    cdc_keys: usize,
    /// Checkpoints of changes in the CDC bench.
    #[arg(long, default_value_t = 100)]
    cdc_checkpoints: usize,
    /// Changes per checkpoint in the CDC bench (a rate times the checkpoint interval).
    #[arg(long, default_value_t = 100_000)]
    cdc_changes: usize,
    /// Commits of the growth bench (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    growth_commits: usize,
    /// Events per commit in the growth bench (8,000 events/s at 250 ms checkpoints).
    #[arg(long, default_value_t = 2_000)]
    growth_events_per_commit: usize,
    /// Run the growth bench with maintenance only, not also without it.
    #[arg(long)]
    growth_skip_unmaintained: bool,
    /// Megabytes of CSV the ingest bench loads (0 skips it).
    #[arg(long, default_value_t = 1024)]
    ingest_mb: u64,
    /// Seconds the interval growth bench runs the Bronze job live (0 skips it).
    #[arg(long, default_value_t = 300)]
    interval_growth_secs: u64,
    /// Events per second of the interval growth bench's generator.
    #[arg(long, default_value_t = 8_000)]
    interval_growth_rate: u64,
    /// Runtime threads of each worker process in the scaling runs (0: as many as cores).
    #[arg(long, default_value_t = 1)]
    worker_threads: usize,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(
        args.checkpoint_every > 0,
        "--checkpoint-every must be at least 1"
    );
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    let mut results = serde_json::Map::new();
    results.insert(
        "machine".into(),
        serde_json::json!({ "cores": std::thread::available_parallelism().map_or(0, |n| n.get()) }),
    );
    if !args.skip_engine {
        let engine = engine::run(&args).await?;
        let plain_loop = engine["plain_loop"]["events_per_cpu_s"].as_f64();
        results.insert("engine".into(), engine);
        results.insert("windows".into(), windows::run(&args).await?);
        results.insert("nexmark".into(), nexmark::run(&args, plain_loop).await?);
        results.insert("files".into(), files::run(&args, plain_loop).await?);
        results.insert("bronze".into(), bronze::run(&args).await?);
        results.insert("merge".into(), merge::run(args.merge_keys, 2)?);
    }
    if args.state_move_keys > 0 {
        results.insert(
            "state_move".into(),
            state_move::run(args.state_move_keys).await?,
        );
    }
    if args.rescale_rate > 0 {
        results.insert("rescale".into(), rescale::run(&args).await?);
    }
    if args.cdc_checkpoints > 0 {
        results.insert("cdc".into(), cdc::run(&args).await?);
    }
    if args.growth_commits > 0 {
        results.insert("growth".into(), growth::run(&args).await?);
    }
    if args.ingest_mb > 0 {
        results.insert("ingest".into(), ingest::run(&args).await?);
    }
    if args.interval_growth_secs > 0 {
        results.insert("interval_growth".into(), interval_growth::run(&args).await?);
    }
    match &args.brokers {
        Some(brokers) => {
            results.insert("broker".into(), broker::run(&args, brokers).await?);
            if args.latency_secs > 0 {
                results.insert("latency".into(), latency::run(&args, brokers).await?);
            }
        }
        None => {
            results.insert(
                "broker".into(),
                "not measured: pass --brokers (scripts/bench.sh starts a broker)".into(),
            );
        }
    }
    match &args.etcd {
        Some(etcd) => {
            results.insert("scaling".into(), scaling::run(&args, etcd).await?);
        }
        None => {
            results.insert(
                "scaling".into(),
                "not measured: pass --etcd (scripts/bench.sh starts etcd)".into(),
            );
        }
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(results))?;
    std::fs::write(&args.out, &text).with_context(|| format!("writing {}", args.out.display()))?;
    println!("{text}");
    eprintln!("results written to {}", args.out.display());
    Ok(())
}

/// The example gold job with its catalog, warehouse and checkpoints under `dir`, reading
/// `source` (brokers, topic) when given.
fn bench_config(dir: &Path, source: Option<(&str, &str)>) -> anyhow::Result<ValidatedConfig> {
    bench_config_of(EXAMPLE, dir, source)
}

/// The one-job config `example` with its catalog, warehouse and checkpoints under `dir`,
/// reading `source` (brokers, topic) when given.
fn bench_config_of(
    example: &str,
    dir: &Path,
    source: Option<(&str, &str)>,
) -> anyhow::Result<ValidatedConfig> {
    let mut file = FloeConfig::parse(example)?;
    file.apply(&Overrides {
        brokers: source.map(|s| s.0.to_owned()),
        topic: source.map(|s| s.1.to_owned()),
        ..bench_storage(dir)
    })?;
    Ok(file.validate()?)
}

/// A bench run's catalog, warehouse and checkpoints, all under `dir`.
fn bench_storage(dir: &Path) -> Overrides {
    Overrides {
        warehouse: Some(dir.join("warehouse").display().to_string()),
        catalog: Some(format!("sqlite://{}", dir.join("catalog.db").display())),
        checkpoints: Some(dir.join("checkpoints").display().to_string()),
        ..Overrides::default()
    }
}

/// A bench's job running live on one in-process worker, until the token it returns is
/// cancelled; its commits are told on `options.commit_notices`.
fn spawn_live_job(
    args: &BenchArgs,
    cfg: &ValidatedConfig,
    catalog: std::sync::Arc<dyn iceberg::Catalog>,
    options: floe_coordinator::job::JobOptions,
) -> anyhow::Result<(
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<
        Result<floe_coordinator::job::JobSummary, floe_coordinator::job::JobError>,
    >,
)> {
    let job = std::sync::Arc::new(cfg.jobs[0].clone());
    let store = crate::setup::checkpoint_store(cfg, &job.name)?;
    let workers = bench_workers(args, &store);
    let stop = tokio_util::sync::CancellationToken::new();
    let (progress, _) = tokio::sync::watch::channel(floe_coordinator::job::JobProgress::default());
    let task = tokio::spawn(floe_coordinator::job::run_job(
        job,
        catalog,
        store,
        options,
        workers,
        stop.clone(),
        progress,
    ));
    Ok((stop, task))
}

/// One in-process worker with the bench's readers: the members of a bench's job.
fn bench_workers(
    args: &BenchArgs,
    store: &floe_storage::CheckpointStore,
) -> floe_coordinator::controller::Members {
    floe_worker::in_process_workers(
        1,
        store.clone(),
        floe_worker::WorkerOptions {
            readers: args.readers,
            poll_linger: Duration::from_millis(args.poll_linger_ms),
            ..floe_worker::WorkerOptions::default()
        },
    )
}

/// One bounded run of `cfg`'s job on the bench's workers, from an empty catalog and store: its
/// summary, wall seconds and CPU seconds (this process's, set-up and the last commit included).
async fn bounded_run(
    args: &BenchArgs,
    cfg: &ValidatedConfig,
) -> anyhow::Result<(floe_coordinator::job::JobSummary, f64, f64)> {
    use floe_coordinator::job::{run_job, JobOptions, JobProgress};
    let job = std::sync::Arc::new(cfg.jobs[0].clone());
    let (wall, cpu) = (std::time::Instant::now(), cpu_seconds());
    let catalog = crate::setup::catalog(cfg).await?;
    let store = crate::setup::checkpoint_store(cfg, &job.name)?;
    let options = JobOptions {
        bounded: true,
        ..JobOptions::new(cfg)
    };
    let workers = bench_workers(args, &store);
    let stop = tokio_util::sync::CancellationToken::new();
    let (progress, _) = tokio::sync::watch::channel(JobProgress::default());
    let summary = run_job(job, catalog, store, options, workers, stop, progress).await?;
    Ok((summary, wall.elapsed().as_secs_f64(), cpu_seconds() - cpu))
}

/// Creates a fresh topic for one bench run.
async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    ensure_topic(brokers, topic, partitions, false).await
}

/// Creates `topic` with `partitions` partitions; an existing one is fine when `exists_ok`.
pub(crate) async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    exists_ok: bool,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("Kafka admin client")?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in admin.create_topics([&new], &opts).await? {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) if exists_ok => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code:?}"),
        }
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used (Linux).
pub(super) fn cpu_seconds() -> f64 {
    procfs::process::Process::myself()
        .and_then(|p| p.stat())
        .map_or(0.0, |stat| ticks_to_seconds(stat.utime + stat.stime))
}

/// Clock ticks as seconds, at the kernel's tick rate.
fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / procfs::ticks_per_second() as f64
}

/// This process's peak resident memory (Linux).
fn peak_rss_kib() -> u64 {
    procfs::process::Process::myself()
        .and_then(|p| p.status())
        .ok()
        .and_then(|status| status.vmhwm)
        .unwrap_or(0)
}

/// The `q` quantile of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}
