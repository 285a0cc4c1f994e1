//! Rescale: a third worker joins the gold job while it runs live on two (in-process workers over
//! the built-in generator, 1 s checkpoints, the state of `--rescale-videos` keys per window).
//! Measured: how long the rescale takes until the new worker reads the partitions it was given
//! (the time to move a partition), the longest time any partition that kept its worker went
//! without reading on (sampled every 20 ms), and the longest gap between two commits around the
//! join, beside the checkpoint interval.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_coordinator::job::{run_job, JobOptions, JobProgress};
use floe_proto::WorkerService;
use floe_worker::{LocalWorker, WorkerOptions, WorkerStores};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{bench_config_of, BenchArgs};

const PARTITIONS: i32 = 8;
const INTERVAL: Duration = Duration::from_secs(1);
/// How long the job runs on two workers before the third joins, and on three after.
const SETTLE: Duration = Duration::from_secs(8);
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Where each partition was read to, per worker, at one instant.
type Positions = BTreeMap<i32, (String, i64)>;

async fn positions(workers: &[Arc<LocalWorker>]) -> Positions {
    let mut out = BTreeMap::new();
    for w in workers {
        if let Some(s) = w.local_status().await {
            for p in s.partitions {
                out.insert(
                    p.partition,
                    (w.name().to_owned(), p.next_offset.unwrap_or(0)),
                );
            }
        }
    }
    out
}

/// What watching the workers' positions for a while saw.
struct Watched {
    /// Partition → the longest time it went without its position moving on.
    stalls: BTreeMap<i32, Duration>,
    /// How long until a worker new to the watch read on from where a partition was, with the
    /// job running again.
    new_worker_reads_after: Option<Duration>,
}

/// Samples every partition's position every [`SAMPLE_EVERY`] for `how_long`.
async fn watch_positions(
    workers: &[Arc<LocalWorker>],
    progress: &watch::Receiver<JobProgress>,
    how_long: Duration,
) -> Watched {
    let started = Instant::now();
    let first = positions(workers).await;
    let mut last: BTreeMap<i32, (i64, Instant)> = (first.iter())
        .map(|(p, (_, at))| (*p, (*at, started)))
        .collect();
    let mut watched = Watched {
        stalls: BTreeMap::new(),
        new_worker_reads_after: None,
    };
    while started.elapsed() < how_long {
        let now = positions(workers).await;
        let sampled = Instant::now();
        for (p, (_, at)) in &now {
            let entry = last.entry(*p).or_insert((*at, sampled));
            if *at > entry.0 {
                *entry = (*at, sampled);
            }
            let stall = watched.stalls.entry(*p).or_default();
            *stall = (*stall).max(sampled - entry.1);
        }
        let newcomer_reads = now.iter().any(|(p, (owner, at))| {
            first
                .get(p)
                .is_some_and(|(was, from)| was != owner && at > from)
        });
        if watched.new_worker_reads_after.is_none()
            && newcomer_reads
            && progress.borrow().state == "running"
        {
            watched.new_worker_reads_after = Some(started.elapsed());
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    watched
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    let text = super::EXAMPLE.replace("[job.source]", "[job.source]\ntype = \"generator\"")
        + &format!(
            "\n[job.source.generator]\npartitions = {PARTITIONS}\nrate = {}\nvideos = {}\nstep = \"{}us\"\n",
            args.rescale_rate,
            args.rescale_videos,
            // Event time follows the wall clock: the open window's state grows as it would live.
            1_000_000 * PARTITIONS as u64 / args.rescale_rate.max(1),
        );
    let dir = tempfile::tempdir()?;
    let cfg = bench_config_of(&text, dir.path(), None)?;
    let job = Arc::new(cfg.jobs[0].clone());
    let catalog = crate::setup::catalog(&cfg).await?;
    let store = crate::setup::checkpoint_store(&cfg, &job.name)?;
    let worker = |name: &str| {
        let options = WorkerOptions {
            readers: args.readers,
            ..WorkerOptions::default()
        };
        Arc::new(LocalWorker::new(
            name,
            options,
            WorkerStores::Given(store.clone()),
        ))
    };
    let mut workers = vec![worker("w0"), worker("w1")];
    let as_members = |ws: &[Arc<LocalWorker>]| -> Vec<Arc<dyn WorkerService>> {
        ws.iter()
            .map(|w| w.clone() as Arc<dyn WorkerService>)
            .collect()
    };
    let (members_tx, members) = watch::channel(as_members(&workers));
    let (notices_tx, mut notices) = mpsc::unbounded_channel();
    let options = JobOptions {
        checkpoint_interval: INTERVAL,
        commit_notices: Some(notices_tx),
        restart_on_failure: true,
        ..JobOptions::new(&cfg)
    };
    let stop = CancellationToken::new();
    let (progress_tx, progress) = watch::channel(JobProgress::default());
    eprintln!(
        "rescale: the gold job on two workers ({} events/s, {} videos), then a third joins…",
        args.rescale_rate, args.rescale_videos
    );
    let task = tokio::spawn(run_job(
        job,
        catalog,
        store.clone(),
        options,
        members,
        stop.clone(),
        progress_tx,
    ));
    tokio::time::sleep(SETTLE / 2).await;
    let steady = watch_positions(&workers, &progress, SETTLE / 2).await;
    let before = positions(&workers).await;
    let joined_ms = floe_common::clock::wall_clock_ms();
    workers.push(worker("w2"));
    members_tx.send_replace(as_members(&workers));
    let rescale = watch_positions(&workers, &progress, SETTLE).await;
    let after = positions(&workers).await;
    stop.cancel();
    task.await??;
    let mut commits_ms = Vec::new();
    while let Ok(n) = notices.try_recv() {
        commits_ms.push(n.visible_at_ms);
    }
    let settle_ms = SETTLE.as_millis() as i64;
    let gaps = |from: i64, to: i64| {
        let at: Vec<i64> = (commits_ms.iter())
            .copied()
            .filter(|at| (from..=to).contains(at))
            .collect();
        at.windows(2).map(|w| w[1] - w[0]).max()
    };
    let moved: Vec<i32> = (after.iter())
        .filter(|(p, (owner, _))| before.get(p).is_some_and(|(was, _)| was != owner))
        .map(|(p, _)| *p)
        .collect();
    let unmoved_stall = (rescale.stalls.iter())
        .filter(|(p, _)| !moved.contains(p))
        .map(|(_, d)| *d)
        .max()
        .unwrap_or_default();
    let steady_stall = steady.stalls.values().max().copied().unwrap_or_default();
    anyhow::ensure!(!moved.is_empty(), "no partition moved to the new worker");
    Ok(json!({
        "what": "a third in-process worker joins the gold job running live on two (generator, 8 partitions, 1 s checkpoints)",
        "events_per_s": args.rescale_rate,
        "keys_per_window": args.rescale_videos,
        "partitions_moved": moved,
        "move_s": rescale.new_worker_reads_after.map(|d| d.as_secs_f64()),
        "unmoved_longest_processing_stall_ms": unmoved_stall.as_millis() as u64,
        "steady_longest_processing_stall_ms": steady_stall.as_millis() as u64,
        "checkpoint_interval_ms": INTERVAL.as_millis() as u64,
        "longest_commit_gap_after_the_join_ms": gaps(joined_ms, joined_ms + settle_ms),
        "longest_commit_gap_before_the_join_ms": gaps(joined_ms - settle_ms / 2, joined_ms),
    }))
}
