//! Running one job embedded: the coordinator's checkpoint loop driving a worker in the same
//! process, through the same messages cluster mode will carry over the network.

use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_common::config::{JobSpec, StartPosition, ValidatedConfig};
use floe_common::window::OperatorStats;
use floe_proto::{Assignment, Barrier};
use floe_storage::CheckpointStore;
use floe_worker::{KafkaPartitions, PartitionSource, Worker, WorkerOptions};
use iceberg::Catalog;
use tokio::sync::{mpsc, watch};

use crate::checkpoint_trigger::checkpoint_now;
use crate::committer::{CommitterError, IcebergCommitter};

/// Why a job stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job {job}: {source}")]
    Committer {
        job: String,
        #[source]
        source: CommitterError,
    },
    #[error("job {job}: {source}")]
    Worker {
        job: String,
        #[source]
        source: floe_worker::WorkerError,
    },
}

/// How to run a job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub checkpoint_interval: Duration,
    /// The least time between two checkpoints taken early for a closed window.
    pub checkpoint_min_pause: Duration,
    pub keep_checkpoints: usize,
    pub worker: WorkerOptions,
    /// Receives a notice after every committed checkpoint (benchmarks, freshness metrics).
    pub commit_notices: Option<mpsc::UnboundedSender<CommitNotice>>,
    /// Where a start would be refused (a changed job, a store behind the tables), run from this
    /// position with empty state instead (`--start-over`); no effect when the state is fine.
    pub start_over: Option<StartPosition>,
    /// Where the job learns its topic's partitions (default: Kafka's metadata).
    pub partition_source: Option<Arc<dyn PartitionSource>>,
}

impl JobOptions {
    /// The config's checkpoint interval and retention, with `worker`'s tuning; no notices.
    pub fn new(cfg: &ValidatedConfig, worker: WorkerOptions) -> Self {
        Self {
            checkpoint_interval: cfg.checkpoint_interval,
            checkpoint_min_pause: cfg.checkpoint_min_pause,
            keep_checkpoints: cfg.checkpoint_keep,
            worker,
            commit_notices: None,
            start_over: None,
            partition_source: None,
        }
    }
}

/// One committed checkpoint: when its rows became visible and which windows they belong to.
#[derive(Debug, Clone)]
pub struct CommitNotice {
    pub checkpoint_id: u64,
    /// Wall clock (epoch ms) right after the last table's commit returned.
    pub visible_at_ms: i64,
    /// The distinct window ends (event time, epoch ms) of the rows in this commit, sorted.
    pub window_ends_ms: Vec<i64>,
    pub rows: u64,
    /// Barrier to last commit.
    pub duration: Duration,
}

/// Live numbers of a running job, for progress views and metrics.
#[derive(Debug, Clone, Default)]
pub struct JobProgress {
    pub events: u64,
    pub late_accepted: u64,
    pub late_rejected: u64,
    pub dead_letters: u64,
    /// Source offsets jumped over because a checkpointed position was gone.
    pub offsets_skipped: u64,
    pub watermark_ms: i64,
    pub open_windows: usize,
    pub open_entries: usize,
    pub checkpoints_committed: u64,
    pub last_checkpoint_id: u64,
    pub rows_committed: u64,
    pub input_finished: bool,
}

impl JobProgress {
    /// Takes a worker's counters and watermark.
    fn record(&mut self, stats: OperatorStats, watermark_ms: i64) {
        self.events = stats.events;
        self.late_accepted = stats.late_accepted;
        self.late_rejected = stats.late_rejected;
        self.dead_letters = stats.dead_letters;
        self.watermark_ms = watermark_ms;
    }
}

/// What a finished run did.
#[derive(Debug, Clone, Default)]
pub struct JobSummary {
    pub progress: JobProgress,
    /// Wall time of each checkpoint, barrier to last commit.
    pub checkpoint_durations: Vec<Duration>,
}

/// Runs `job` until `stop` turns true (then finishes one last checkpoint) or, for bounded
/// runs, until the input is fully processed and committed.
pub async fn run_job(
    job: Arc<JobSpec>,
    catalog: Arc<dyn Catalog>,
    store: CheckpointStore,
    options: JobOptions,
    mut stop: watch::Receiver<bool>,
    progress: watch::Sender<JobProgress>,
) -> Result<JobSummary, JobError> {
    let job = match options.start_over {
        Some(start) => {
            let mut job = (*job).clone();
            job.source.start = start;
            Arc::new(job)
        }
        None => job,
    };
    let name = job.name.clone();
    let committer_err = |source| JobError::Committer {
        job: name.clone(),
        source,
    };
    let worker_err = |source| JobError::Worker {
        job: name.clone(),
        source,
    };

    let committer = IcebergCommitter::open(
        job.clone(),
        catalog,
        store.clone(),
        options.keep_checkpoints,
    )
    .await
    .map_err(committer_err)?;
    let recovery = committer
        .recover(options.start_over.is_some())
        .await
        .map_err(committer_err)?;
    let partition_source = options
        .partition_source
        .clone()
        .unwrap_or_else(|| Arc::new(KafkaPartitions::new(job.clone())));
    let partitions = list_partitions(&partition_source)
        .await
        .map_err(worker_err)?;
    tracing::info!(job = %job.name, ?partitions, restore_from = ?recovery.restore_from, next_checkpoint = recovery.next_id, "starting");
    let assignment = Assignment {
        job: job.name.clone(),
        worker_id: "0".into(),
        partitions,
        restore_from: recovery.restore_from,
    };
    let mut worker = Worker::start(job.clone(), assignment, store, options.worker.clone())
        .await
        .map_err(worker_err)?;

    let mut summary = JobSummary::default();
    let mut state = JobProgress::default();
    let mut next_id = recovery.next_id;
    let mut next_checkpoint = tokio::time::Instant::now() + options.checkpoint_interval;
    let mut last_checkpoint = Instant::now();
    let mut status_tick = tokio::time::interval(Duration::from_millis(250));
    let result = loop {
        let stopping = *stop.borrow();
        if !stopping {
            tokio::select! {
                _ = tokio::time::sleep_until(next_checkpoint) => {}
                _ = stop.changed() => {}
                _ = status_tick.tick() => {
                    let s = match worker.status().await {
                        Ok(s) => s,
                        Err(e) => break Err(worker_err(e)),
                    };
                    state.record(s.stats, s.watermark_ms);
                    state.open_windows = s.open_windows;
                    state.offsets_skipped = s.offsets_skipped;
                    state.open_entries = s.open_entries;
                    progress.send_replace(state.clone());
                    let since_last = last_checkpoint.elapsed();
                    if !checkpoint_now(&s, since_last, options.checkpoint_min_pause) {
                        continue;
                    }
                }
            }
        }
        let stopping = *stop.borrow();
        let started = Instant::now();
        let id = next_id;
        let ack = match worker
            .checkpoint(Barrier {
                checkpoint_id: id,
                epoch: committer.epoch(),
            })
            .await
        {
            Ok(a) => a,
            Err(e) => break Err(worker_err(e)),
        };
        let finished = ack.input_finished;
        state.record(ack.stats, ack.watermark_ms);
        let window_ends = options.commit_notices.as_ref().map(|_| {
            let mut ends: Vec<i64> = ack.closed_windows.iter().map(|w| w.end_ms).collect();
            ends.sort_unstable();
            ends.dedup();
            ends
        });
        let manifest = match committer.complete(id, vec![ack]).await {
            Ok(m) => m,
            Err(e) => break Err(committer_err(e)),
        };
        let report = match committer.commit(&manifest).await {
            Ok(r) => r,
            Err(e) => break Err(committer_err(e)),
        };
        if let Err(e) = committer.cleanup().await {
            tracing::warn!(error = %e, "checkpoint cleanup failed; will retry next checkpoint");
        }
        let duration = started.elapsed();
        summary.checkpoint_durations.push(duration);
        if let (Some(tx), Some(window_ends_ms)) = (&options.commit_notices, window_ends) {
            let _ = tx.send(CommitNotice {
                checkpoint_id: id,
                visible_at_ms: floe_worker::clock::wall_clock_ms(),
                window_ends_ms,
                rows: report.rows_committed,
                duration,
            });
        }
        state.checkpoints_committed += 1;
        state.last_checkpoint_id = id;
        state.rows_committed += report.rows_committed;
        state.input_finished = finished;
        progress.send_replace(state.clone());
        tracing::info!(
            job = %job.name,
            checkpoint = id,
            rows = report.rows_committed,
            watermark = state.watermark_ms,
            ms = duration.as_millis() as u64,
            "checkpoint committed"
        );
        next_id += 1;
        next_checkpoint = tokio::time::Instant::now() + options.checkpoint_interval;
        last_checkpoint = Instant::now();
        if stopping || finished {
            break Ok(());
        }
        // A bounded run reads the partitions there were at its start; a streaming one follows
        // the topic as it grows.
        if !options.worker.bounded {
            if let Err(e) = read_new_partitions(&mut worker, &partition_source).await {
                break Err(worker_err(e));
            }
        }
    };
    worker.stop().await;
    result?;
    summary.progress = state;
    Ok(summary)
}

async fn list_partitions(
    source: &Arc<dyn PartitionSource>,
) -> Result<Vec<i32>, floe_worker::WorkerError> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || source.partitions())
        .await
        .map_err(|e| floe_worker::WorkerError::Actor(e.to_string()))?
}

/// Hands the worker the partitions the topic gained. Failing to list them is not fatal (the
/// next checkpoint asks again); failing to read them is.
async fn read_new_partitions(
    worker: &mut Worker,
    source: &Arc<dyn PartitionSource>,
) -> Result<(), floe_worker::WorkerError> {
    let listed = match list_partitions(source).await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the topic's partitions; asking again at the next checkpoint");
            return Ok(());
        }
    };
    let added: Vec<i32> = listed
        .into_iter()
        .filter(|p| !worker.partitions().contains(p))
        .collect();
    if !added.is_empty() {
        tracing::info!(
            ?added,
            "the topic has new partitions; reading them from their start"
        );
        worker.add_partitions(&added).await?;
    }
    Ok(())
}
