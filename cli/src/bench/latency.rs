//! Latency: from a window's end in event time to its rows being visible in the Iceberg table.
//!
//! A producer thread writes content events at a steady rate with event times taken from the
//! wall clock (minus the usual disorder), while the gold job runs live with its configured
//! checkpoint interval. Each committed checkpoint reports the window ends of its rows and the
//! wall-clock instant its commit returned; a window's latency is that instant minus its end.
//! Its floor is the watermark delay plus the allowed lateness (the window cannot close
//! earlier); the rest is Floe's: waiting for the next checkpoint, then writing and committing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use floe_coordinator::job::{CommitNotice, JobOptions};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use tokio::sync::mpsc;

use super::{bench_config, create_topic, BenchArgs};
use crate::generator::{send, ContentEvents};
use floe_common::clock::wall_clock_ms;

const DISORDER_MS: i64 = 5_000;

pub async fn run(args: &BenchArgs, brokers: &str) -> anyhow::Result<serde_json::Value> {
    let topic = format!("floe-bench-latency-{}", wall_clock_ms());
    create_topic(brokers, &topic, args.partitions).await?;
    let dir = tempfile::tempdir()?;
    let cfg = bench_config(dir.path(), Some((brokers, &topic)))?;
    let window = cfg.jobs[0].window;
    let catalog = crate::setup::catalog(&cfg).await?;
    let (notices_tx, mut notices) = mpsc::unbounded_channel();
    let options = JobOptions {
        commit_notices: Some(notices_tx),
        ..JobOptions::new(&cfg)
    };
    let started = Instant::now();
    let (stop, job_task) = super::spawn_live_job(args, &cfg, catalog, options)?;

    eprintln!(
        "latency run: {} events/s for {} s with event time = wall clock…",
        args.latency_rate, args.latency_secs
    );
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let (brokers, topic, producing) = (brokers.to_owned(), topic.clone(), producing.clone());
        let (rate, secs, videos) = (args.latency_rate, args.latency_secs, args.videos);
        tokio::task::spawn_blocking(move || {
            let r = produce_live(&brokers, &topic, rate, Duration::from_secs(secs), videos);
            producing.store(false, Ordering::Release);
            r
        })
    };

    // Every window that ends before the last event minus the watermark delay and lateness
    // must close; collect notices until the newest of those is visible.
    let mut first_visible: BTreeMap<i64, i64> = BTreeMap::new();
    let mut checkpoint_ms = Vec::new();
    let mut last_event_ms = None;
    let closing_lag = window.watermark_delay_ms + window.allowed_lateness_ms;
    let mut deadline = None;
    loop {
        if last_event_ms.is_none() && !producing.load(Ordering::Acquire) {
            let last = wall_clock_ms();
            last_event_ms = Some(last);
            deadline = Some(
                Instant::now()
                    + Duration::from_millis(closing_lag as u64)
                    + cfg.checkpoint_interval * 3
                    + Duration::from_secs(30),
            );
        }
        if let Some(last) = last_event_ms {
            let newest_closable = (last - closing_lag).div_euclid(window.size_ms) * window.size_ms;
            if first_visible
                .keys()
                .next_back()
                .is_some_and(|e| *e >= newest_closable)
            {
                break;
            }
            anyhow::ensure!(
                deadline.is_some_and(|d| Instant::now() < d),
                "the window ending at {newest_closable} was not committed in time"
            );
        }
        match tokio::time::timeout(Duration::from_millis(500), notices.recv()).await {
            Ok(Some(notice)) => record(&notice, &mut first_visible, &mut checkpoint_ms),
            Ok(None) => anyhow::bail!("the job stopped during the latency run"),
            Err(_) => {}
        }
    }
    let produced = producer.await??;
    stop.cancel();
    let summary = job_task.await??;
    let minutes = started.elapsed().as_secs_f64() / 60.0;

    let mut latencies: Vec<Duration> = first_visible
        .iter()
        .map(|(end, visible)| Duration::from_millis((visible - end).max(0) as u64))
        .collect();
    latencies.sort();
    checkpoint_ms.sort();
    Ok(serde_json::json!({
        "topic": topic, "events_per_s": args.latency_rate, "seconds": args.latency_secs,
        "events_produced": produced, "events_counted": summary.progress.events,
        "window_size_ms": window.size_ms, "watermark_delay_ms": window.watermark_delay_ms,
        "allowed_lateness_ms": window.allowed_lateness_ms,
        "checkpoint_interval_ms": cfg.checkpoint_interval.as_millis() as u64,
        "floor_ms": closing_lag,
        "windows_measured": latencies.len(),
        "window_end_to_visible_ms": first_visible.iter().map(|(e, v)| serde_json::json!({"window_end_ms": e, "latency_ms": v - e})).collect::<Vec<_>>(),
        "p50_ms": super::percentile(&latencies, 0.5),
        "p95_ms": super::percentile(&latencies, 0.95),
        // The freshness target: watermark delay + allowed lateness + 3 s.
        "p95_target_ms": closing_lag + 3_000,
        "checkpoints": checkpoint_ms.len(),
        "checkpoints_per_minute": checkpoint_ms.len() as f64 / minutes.max(1e-9),
        "checkpoint_ms_p50": super::percentile(&checkpoint_ms, 0.5),
        "checkpoint_ms_p99": super::percentile(&checkpoint_ms, 0.99),
    }))
}

fn record(notice: &CommitNotice, first: &mut BTreeMap<i64, i64>, durations: &mut Vec<Duration>) {
    durations.push(notice.duration);
    for end in &notice.window_ends_ms {
        first.entry(*end).or_insert(notice.visible_at_ms);
    }
}

/// How often the latency run's producer sends what is due.
const PRODUCE_TICK: Duration = Duration::from_millis(5);

/// Produces `rate` events per second for `length`, with event times from the wall clock.
fn produce_live(
    brokers: &str,
    topic: &str,
    rate: u64,
    length: Duration,
    videos: u32,
) -> anyhow::Result<u64> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .context("creating producer")?;
    let mut events = ContentEvents::new(7, videos, DISORDER_MS);
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < length {
        let due = (started.elapsed().as_secs_f64() * rate.max(1) as f64) as u64;
        while sent < due {
            let e = events.next_event(wall_clock_ms());
            send(&producer, topic, &e.video_id, &e.json)?;
            sent += 1;
        }
        // Delivery reports are served without waiting, then the thread sleeps: a 1 ms poll spins
        // (librdkafka waits in whole milliseconds and rust-rdkafka asks again for the rest),
        // which took a core from the broker and the job it measures.
        producer.poll(Duration::ZERO);
        std::thread::sleep(PRODUCE_TICK);
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing")?;
    Ok(sent)
}
