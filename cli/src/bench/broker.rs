//! Bench (b): the gold job end to end from a real broker, against a consume-only loop.
//!
//! One topic is filled once; then the consume-only loop and a bounded job run take turns reading
//! all of it (consume, job, consume, job, …, consume), so both see the same broker in the same
//! state. The consume-only loop uses the job's own Kafka client settings, the same batched reads
//! (`RecordBatches`) and as many consumer threads as the job has readers, and only touches each
//! payload; the job decodes, aggregates, checkpoints and commits to Iceberg. The figure is job events/s ÷ consume-only events/s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use floe_common::config::JobSpec;
use floe_source::{create_consumer, topic_partitions, Polled, RecordBatches};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::{bench_config, cpu_seconds, create_topic, BenchArgs};
use crate::generator::{produce, GenArgs};

/// One timed read of the whole topic.
struct Pass {
    events: u64,
    wall_s: f64,
    cpu_s: f64,
}

impl Pass {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "events": self.events, "wall_s": self.wall_s, "cpu_s": self.cpu_s,
            "events_per_s": self.events as f64 / self.wall_s.max(1e-9),
            "events_per_cpu_s": self.events as f64 / self.cpu_s.max(1e-9),
            "cpu_s_per_million_events": per_million(self.cpu_s, self.events),
        })
    }

    fn rate(&self) -> f64 {
        self.events as f64 / self.wall_s.max(1e-9)
    }
}

pub async fn run(args: &BenchArgs, brokers: &str) -> anyhow::Result<serde_json::Value> {
    let topic = format!("floe-bench-{}", floe_common::clock::wall_clock_ms());
    create_topic(brokers, &topic, args.partitions).await?;
    let gen = GenArgs {
        brokers: Some(brokers.to_owned()),
        to_file: None,
        topic: topic.clone(),
        events: args.broker_events,
        videos: args.videos,
        rate: 0,
        seed: 42,
        disorder_ms: 5_000,
        start_ms: Some(1_767_225_600_000),
        step_us: Some(1_000),
        partitions: None,
        nexmark: false,
    };
    eprintln!("producing {} events to {topic}…", args.broker_events);
    tokio::task::spawn_blocking(move || produce(&gen)).await??;

    let probe_dir = tempfile::tempdir()?;
    let probe = bench_config(probe_dir.path(), Some((brokers, &topic)))?;
    let job = Arc::new(probe.jobs[0].clone());
    let partitions = {
        let job = job.clone();
        tokio::task::spawn_blocking(move || topic_partitions(&job, Duration::from_secs(30)))
            .await??
    };
    let ends = end_offsets(&job, &partitions)?;
    let total: i64 = ends.values().sum();
    anyhow::ensure!(
        total as u64 == args.broker_events,
        "the topic holds {total} records, {} were produced",
        args.broker_events
    );

    let mut consume_passes = vec![consume_pass(&job, &ends, args.readers).await?];
    let mut job_passes = Vec::new();
    for round in 0..args.rounds.max(1) {
        eprintln!("round {}: job run…", round + 1);
        job_passes.push(job_pass(args, brokers, &topic).await?);
        eprintln!("round {}: consume-only run…", round + 1);
        consume_passes.push(consume_pass(&job, &ends, args.readers).await?);
    }
    let consume_rate =
        consume_passes.iter().map(Pass::rate).sum::<f64>() / consume_passes.len() as f64;
    let job_rate = job_passes.iter().map(Pass::rate).sum::<f64>() / job_passes.len() as f64;
    let cpu_per_million = |passes: &[Pass]| {
        let cpu_s = passes.iter().map(|p| p.cpu_s).sum::<f64>();
        per_million(cpu_s, passes.iter().map(|p| p.events).sum())
    };
    Ok(serde_json::json!({
        "topic": topic, "partitions": args.partitions, "events": args.broker_events,
        "readers": args.readers, "poll_linger_ms": args.poll_linger_ms,
        "consume_only": consume_passes.iter().map(Pass::json).collect::<Vec<_>>(),
        "job": job_passes.iter().map(Pass::json).collect::<Vec<_>>(),
        "consume_only_events_per_s": consume_rate,
        "job_events_per_s": job_rate,
        "job_to_consume_only_ratio": job_rate / consume_rate.max(1e-9),
        "job_to_consume_only_ratio_target": 0.9,
        "job_cpu_s_per_million_events": cpu_per_million(&job_passes),
        "job_cpu_s_per_million_events_target": 1.2,
        "consume_only_cpu_s_per_million_events": cpu_per_million(&consume_passes),
    }))
}

/// CPU-seconds per million events: what the CPU target counts (this process, Kafka
/// client threads included).
fn per_million(cpu_s: f64, events: u64) -> f64 {
    cpu_s * 1e6 / (events as f64).max(1.0)
}

fn end_offsets(job: &JobSpec, partitions: &[i32]) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer = create_consumer(job)?;
    partitions
        .iter()
        .map(|p| {
            let (_, high) =
                consumer.fetch_watermarks(&job.source.topic, *p, Duration::from_secs(10))?;
            Ok((*p, high))
        })
        .collect()
}

/// Records the consume-only loop takes per batch: a worker's default `max_batch`.
const CONSUME_BATCH: usize = 4096;

/// Reads every partition from the beginning to `ends` with `readers` consumers on their own
/// threads, touching each payload.
async fn consume_pass(
    job: &Arc<JobSpec>,
    ends: &BTreeMap<i32, i64>,
    readers: usize,
) -> anyhow::Result<Pass> {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let parts: Vec<(i32, i64)> = ends.iter().map(|(p, e)| (*p, *e)).collect();
    let readers = readers.clamp(1, parts.len().max(1));
    let mut threads = Vec::new();
    for r in 0..readers {
        let mine: Vec<(i32, i64)> = parts.iter().skip(r).step_by(readers).copied().collect();
        let job = job.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            consume_until(&job, &mine)
        }));
    }
    let mut events = 0;
    for t in threads {
        events += t.await??;
    }
    Ok(Pass {
        events,
        wall_s: wall.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu,
    })
}

fn consume_until(job: &JobSpec, parts: &[(i32, i64)]) -> anyhow::Result<u64> {
    let consumer = Arc::new(create_consumer(job)?);
    let records = RecordBatches::new(
        consumer.clone(),
        &job.source.topic,
        parts.iter().map(|(p, _)| *p),
    )?;
    let mut tpl = TopicPartitionList::new();
    for (p, _) in parts {
        tpl.add_partition_offset(&job.source.topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut remaining: BTreeMap<i32, i64> = parts.iter().filter(|(_, e)| *e > 0).copied().collect();
    let (mut events, mut bytes) = (0u64, 0u64);
    let mut failed = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while !remaining.is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "consume-only pass took over 10 min"
        );
        records.poll(
            Duration::from_millis(100),
            CONSUME_BATCH,
            |polled| match polled {
                Polled::Record {
                    partition,
                    offset,
                    payload,
                } => {
                    events += 1;
                    bytes += payload.map_or(0, |p| p.len() as u64);
                    if remaining
                        .get(&partition)
                        .is_some_and(|end| offset + 1 >= *end)
                    {
                        remaining.remove(&partition);
                    }
                }
                Polled::PartitionEnd(_) => {}
                Polled::Error(e) => failed = Some(e),
            },
        );
        if let Some(e) = failed.take() {
            return Err(e).context("consume-only poll");
        }
    }
    std::hint::black_box(bytes);
    Ok(events)
}

/// One bounded run of the gold job over the whole topic, from an empty catalog and store.
async fn job_pass(args: &BenchArgs, brokers: &str, topic: &str) -> anyhow::Result<Pass> {
    let dir = tempfile::tempdir()?;
    let cfg = bench_config(dir.path(), Some((brokers, topic)))?;
    let (summary, wall_s, cpu_s) = super::bounded_run(args, &cfg).await?;
    let pass = Pass {
        events: summary.progress.events,
        wall_s,
        cpu_s,
    };
    anyhow::ensure!(
        pass.events == args.broker_events && summary.progress.rows_committed > 0,
        "the job counted {} events and committed {} rows; expected {} events",
        pass.events,
        summary.progress.rows_committed,
        args.broker_events
    );
    Ok(pass)
}
