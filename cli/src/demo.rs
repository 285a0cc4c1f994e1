//! `floe demo`: the gold job end to end on one machine with nothing installed.
//!
//! An in-process Kafka cluster (librdkafka's mock cluster), a generator whose event time runs
//! faster than the wall clock (so windows close during a short demo), the job from
//! `examples/video_stats.toml`, checkpoints and an Iceberg warehouse under a local directory,
//! with a SQLite catalog.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use floe_common::config::{FloeConfig, Overrides};
use floe_common::duration::parse_duration;
use floe_coordinator::job::{run_job, JobOptions, JobProgress};
use floe_query::{Lake, OutputFormat, QueryLimits};
use floe_worker::{in_process_workers, WorkerOptions};
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, Producer};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::generator::{send, ContentEvents};
use crate::progress::ProgressView;
use floe_common::clock::wall_clock_ms;

const EXAMPLE: &str = include_str!("../../examples/video_stats.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// How long to run, e.g. 60s (Ctrl-C stops earlier, cleanly).
    #[arg(long, default_value = "60s")]
    duration: String,
    /// Working directory for checkpoints, warehouse and catalog (wiped at start).
    #[arg(long, default_value = ".floe-demo")]
    dir: PathBuf,
    /// Generated events per second.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    #[arg(long, default_value_t = 500)]
    videos: u32,
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Event time runs this many times faster than the wall clock.
    #[arg(long, default_value_t = 10)]
    speedup: i64,
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let duration =
        parse_duration(&args.duration).map_err(|m| anyhow::anyhow!("--duration: {m}"))?;
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("wiping {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::path::absolute(&args.dir)?;

    let cluster = MockCluster::new(1).context("starting the in-process Kafka cluster")?;
    cluster
        .create_topic("content_events", args.partitions, 1)
        .context("creating topic content_events")?;
    let brokers = cluster.bootstrap_servers();

    let mut file = FloeConfig::parse(EXAMPLE)?;
    file.apply(&Overrides {
        brokers: Some(brokers.clone()),
        topic: Some("content_events".into()),
        warehouse: Some(dir.join("warehouse").display().to_string()),
        catalog: Some(format!("sqlite://{}", dir.join("catalog.db").display())),
        checkpoints: Some(dir.join("checkpoints").display().to_string()),
        files: None,
    })?;
    file.checkpoint.interval = "5s".into();
    // Event time runs `speedup` times faster than the clock: allow it that far ahead.
    let ahead = duration
        .as_secs()
        .saturating_mul(args.speedup.max(1) as u64)
        + 3600;
    if let Some(event_time) = &mut file.jobs[0].event_time {
        event_time.max_ahead = format!("{ahead}s");
    }
    let cfg = file.validate()?;
    let job = Arc::new(cfg.jobs[0].clone());
    let catalog = crate::setup::catalog(&cfg).await?;
    let store = crate::setup::checkpoint_store(&cfg, &job.name)?;

    // The generator: event time = start + elapsed wall time × speedup, up to 5 s out of order.
    let stop_gen = Arc::new(AtomicBool::new(false));
    let generator = {
        let stop = stop_gen.clone();
        let (rate, videos, speedup) = (args.rate.max(1), args.videos, args.speedup.max(1));
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("linger.ms", "5")
            .create()
            .context("creating the demo producer")?;
        std::thread::spawn(move || -> anyhow::Result<()> {
            let mut events = ContentEvents::new(1, videos, 5_000);
            let start_ms = wall_clock_ms();
            let started = Instant::now();
            let mut sent: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let elapsed = started.elapsed();
                let due = (elapsed.as_secs_f64() * rate as f64) as u64;
                while sent < due {
                    let now_ms = start_ms + elapsed.as_millis() as i64 * speedup;
                    let e = events.next_event(now_ms);
                    send(&producer, "content_events", &e.video_id, &e.json)?;
                    sent += 1;
                }
                producer.poll(Duration::from_millis(5));
            }
            producer.flush(Duration::from_secs(10))?;
            Ok(())
        })
    };

    let stop = CancellationToken::new();
    let (progress_tx, mut progress_rx) = watch::channel(JobProgress::default());
    let options = JobOptions::new(&cfg);
    let workers = in_process_workers(1, store.clone(), WorkerOptions::default());
    let mut job_task = tokio::spawn(run_job(
        job.clone(),
        catalog.clone(),
        store,
        options,
        workers,
        stop.clone(),
        progress_tx,
    ));
    let mut view = ProgressView::new();
    let deadline = tokio::time::Instant::now() + duration;
    let mut redraw = tokio::time::interval(Duration::from_millis(500));
    let title = format!("floe demo: {} → {}", "content_events", job.table.name);
    let mut early = None;
    loop {
        tokio::select! {
            _ = redraw.tick() => view.draw(&title, &progress_rx.borrow_and_update().clone()),
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::signal::ctrl_c() => break,
            r = &mut job_task => { early = Some(r); break; }
        }
    }
    stop_gen.store(true, Ordering::Relaxed);
    let result = match early {
        Some(r) => r,
        None => {
            stop.cancel();
            println!("\nstopping: finishing the last checkpoint…");
            job_task.await
        }
    };
    let summary = result.context("job task")??;
    match generator.join() {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the generator thread panicked"),
    }
    view.draw(&title, &summary.progress);
    drop(cluster);

    println!();
    println!(
        "table      {} (catalog: sqlite {}, name {})",
        job.table.name,
        dir.join("catalog.db").display(),
        cfg.catalog.name
    );
    println!("warehouse  {}", dir.join("warehouse").display());
    println!(
        "late table {}   dead letters {}",
        job.late_table.name, job.dead_letter_table.name
    );
    let catalog_args = format!(
        "--catalog {} --warehouse {}",
        cfg.catalog.uri, cfg.catalog.warehouse
    );
    print_top_rows(catalog, &catalog_args, &job.table.name, 10).await?;
    Ok(())
}

/// Prints the rows with the most events, through `floe query`, and the command that shows them
/// again.
async fn print_top_rows(
    catalog: Arc<dyn iceberg::Catalog>,
    catalog_args: &str,
    table: &str,
    n: usize,
) -> anyhow::Result<()> {
    let ident = iceberg::TableIdent::from_strs(table.split('.'))?;
    let rows: u64 = catalog
        .load_table(&ident)
        .await?
        .metadata()
        .current_snapshot()
        .and_then(|s| s.summary().additional_properties.get("total-records"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!("\n{rows} rows committed; top {n} by events:\n");
    if rows == 0 {
        println!("(no window has closed yet: run longer, e.g. --duration 120s)");
        return Ok(());
    }
    let sql =
        format!("SELECT * FROM {table} ORDER BY events DESC, window_start, video_id LIMIT {n}");
    let mut sink = floe_query::sink(OutputFormat::Table, std::io::stdout());
    Lake::new(catalog, QueryLimits::default())
        .run(&sql, sink.as_mut())
        .await?;
    let floe = std::env::args().next().unwrap_or_else(|| "floe".into());
    println!("\nquery it again (or any SQL over the demo's tables):\n  {floe} query {catalog_args} \"{sql}\"");
    Ok(())
}
