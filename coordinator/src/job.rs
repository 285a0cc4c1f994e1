//! Running one job: its options, progress and summary, and [`run_job`], which hands the job to
//! the controller's states with whatever workers there are (in this process or over gRPC).

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use floe_common::config::{JobSpec, StartPosition, ValidatedConfig};
use floe_common::job_watermark::JobWatermark;
use floe_common::watermark::WATERMARK_START;
use floe_common::window::{OperatorStats, PartitionProgress};
use floe_proto::WorkerServiceError;
use floe_source::PartitionSource;
use floe_storage::CheckpointStore;
use iceberg::Catalog;
use tokio::sync::{mpsc, watch};

use crate::committer::{CommitterError, IcebergCommitter};
use crate::committer_seam::Committer;
use crate::controller::{self, JobContext, Members};
use crate::source_ends::SourceEnds;
use crate::topic_listing::TopicListing;
use floe_table::overwrite_commit::SnapshotCommits;

/// How long a checkpoint round waits for its acks where no lease bounds the wait (one
/// process): long enough for a worker's retries of its state upload.
pub const DEFAULT_ROUND_DEADLINE: Duration = Duration::from_secs(900);

/// A cluster's default round deadline: one interval and six lease TTLs (70 s at the defaults
/// of 10 s each). A worker that stops answering is found sooner, by its lease or by the
/// channel's keepalive; this bounds one that answers pings but never acks.
pub fn cluster_round_deadline(lease_ttl: Duration, checkpoint_interval: Duration) -> Duration {
    checkpoint_interval + lease_ttl * 6
}

/// How often the source's end offsets (for consumer lag) are asked.
const SOURCE_ENDS_EVERY: Duration = Duration::from_secs(2);

/// Why a job stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job {job}: {source}")]
    Committer {
        job: String,
        #[source]
        source: Box<CommitterError>,
    },
    #[error("job {job}: {source}")]
    Source {
        job: String,
        #[source]
        source: floe_source::SourceError,
    },
    #[error("job {job}: {source}")]
    Worker {
        job: String,
        #[source]
        source: WorkerServiceError,
    },
}

impl JobError {
    /// Whether a newer owner of the job (a newer leader) refused this process's commit, or
    /// its manifest: the tables or the checkpoint store carry a newer epoch.
    pub fn is_fenced(&self) -> bool {
        matches!(
            self,
            JobError::Committer { source, .. }
                if matches!(
                    **source,
                    CommitterError::Table(floe_table::iceberg_table::TableError::Fenced { .. })
                        | CommitterError::Superseded { .. }
                )
        )
    }
}

/// How to run a job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub checkpoint_interval: Duration,
    /// The least time between two checkpoints taken early for a closed window.
    pub checkpoint_min_pause: Duration,
    pub keep_checkpoints: usize,
    /// The longest a checkpoint waits for every worker's ack before the job restarts from the
    /// last complete checkpoint.
    pub round_deadline: Duration,
    /// Where the checkpoints are, as the config names it (workers in other processes open it).
    pub checkpoint_store: String,
    /// Read each partition only up to its end offset at start, then finish.
    pub bounded: bool,
    /// Restart from the last complete checkpoint when a worker fails or vanishes (a cluster),
    /// instead of failing the job (one process: a worker's failure is the job's).
    pub restart_on_failure: bool,
    /// Receives a notice after every committed checkpoint (benchmarks, freshness metrics).
    pub commit_notices: Option<mpsc::UnboundedSender<CommitNotice>>,
    /// Where a start would be refused (a changed job, a store behind the tables), run from this
    /// position with empty state instead (`--start-over`); no effect when the state is fine.
    pub start_over: Option<StartPosition>,
    /// Where the job learns its topic's partitions (default: Kafka's metadata).
    pub partition_source: Option<Arc<dyn PartitionSource>>,
    /// The catalog's commits of snapshots iceberg's transactions cannot make: needed by jobs
    /// that rewrite a table (CDC), and by manifest merging.
    pub snapshot_commits: Option<Arc<SnapshotCommits>>,
}

impl JobOptions {
    /// The config's checkpoint settings; unbounded, failing on a worker's failure, no notices.
    pub fn new(cfg: &ValidatedConfig) -> Self {
        Self {
            checkpoint_interval: cfg.checkpoint_interval,
            checkpoint_min_pause: cfg.checkpoint_min_pause,
            keep_checkpoints: cfg.checkpoint_keep,
            round_deadline: DEFAULT_ROUND_DEADLINE,
            checkpoint_store: cfg.checkpoint_store.clone(),
            bounded: false,
            restart_on_failure: false,
            commit_notices: None,
            start_over: None,
            partition_source: None,
            snapshot_commits: None,
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
    /// The commit step alone (every table's snapshot, retries included).
    pub commit_duration: Duration,
    /// The workers' state objects of this checkpoint, together.
    pub state_bytes: u64,
}

/// Live numbers of a running job, for progress views, metrics and the cluster status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobProgress {
    /// The controller's state (`running`, `rescaling`, …).
    pub state: String,
    /// This coordinator's epoch as the job's owner.
    pub epoch: u64,
    /// Worker name → the partitions it reads.
    pub assignment: std::collections::BTreeMap<String, Vec<i32>>,
    /// Where each partition is, by partition.
    pub partitions: Vec<PartitionStatus>,
    pub events: u64,
    pub late_accepted: u64,
    pub late_rejected: u64,
    pub dead_letters: u64,
    /// Source offsets jumped over because a checkpointed position was gone.
    pub offsets_skipped: u64,
    /// The job's watermark; [`WATERMARK_START`] until there is one.
    pub watermark_ms: i64,
    pub open_windows: usize,
    pub open_entries: usize,
    pub checkpoints_committed: u64,
    pub last_checkpoint_id: u64,
    pub rows_committed: u64,
    /// Wall clock (epoch ms) of the last commit.
    pub last_commit_at_ms: i64,
    pub input_finished: bool,
    /// Restarts from the last complete checkpoint after a failure, since this process took
    /// the job.
    pub restarts: u64,
    /// The newest failure, once there was one.
    pub last_failure: Option<String>,
    /// Members set aside after failing again and again (`quarantine.rs`).
    pub quarantined: Vec<crate::quarantine::QuarantinedMember>,
    /// Table commits tried again after a failure (catalog errors, conflicts).
    pub commit_retries: u64,
    /// The newest committed checkpoints, newest last (at most [`RECENT_COMMITS`]).
    pub recent_commits: std::collections::VecDeque<CommitSummary>,
    /// The job's tables as the last maintenance run found them.
    pub tables: Vec<crate::table_maintenance::TableStatus>,
}

impl Default for JobProgress {
    fn default() -> Self {
        Self {
            state: String::new(),
            epoch: 0,
            assignment: Default::default(),
            partitions: Vec::new(),
            events: 0,
            late_accepted: 0,
            late_rejected: 0,
            dead_letters: 0,
            offsets_skipped: 0,
            watermark_ms: WATERMARK_START,
            open_windows: 0,
            open_entries: 0,
            checkpoints_committed: 0,
            last_checkpoint_id: 0,
            rows_committed: 0,
            last_commit_at_ms: 0,
            input_finished: false,
            restarts: 0,
            last_failure: None,
            quarantined: Vec::new(),
            commit_retries: 0,
            recent_commits: Default::default(),
            tables: Vec::new(),
        }
    }
}

/// How many commits [`JobProgress::recent_commits`] keeps.
pub const RECENT_COMMITS: usize = 10;

/// One committed checkpoint, for status views.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitSummary {
    pub checkpoint_id: u64,
    pub rows: u64,
    /// Barrier to last commit.
    pub duration_ms: u64,
    /// The workers' state objects, together.
    pub state_bytes: u64,
    /// Wall clock (epoch ms) when its rows became visible.
    pub at_ms: i64,
}

/// One partition of the job: where its worker is, and how far behind the source's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PartitionStatus {
    #[serde(flatten)]
    pub progress: PartitionProgress,
    /// The offset the partition's next record will get, when last asked.
    pub end_offset: Option<i64>,
    /// Records between the worker's position and that end: the consumer lag.
    pub lag: Option<i64>,
}

impl PartitionStatus {
    pub fn new(progress: PartitionProgress, end_offset: Option<i64>) -> Self {
        let lag = match (progress.next_offset, end_offset) {
            (Some(next), Some(end)) => Some(end.saturating_sub(next).max(0)),
            _ => None,
        };
        Self {
            progress,
            end_offset,
            lag,
        }
    }
}

impl JobProgress {
    /// Takes the workers' summed counters and the job's watermark.
    pub(crate) fn record(&mut self, stats: OperatorStats, watermark_ms: i64) {
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

/// Runs `job` on the workers of `members` until `stop` is cancelled (then finishes one last
/// checkpoint) or, for bounded runs, until the input is fully processed and committed.
pub async fn run_job(
    job: Arc<JobSpec>,
    catalog: Arc<dyn Catalog>,
    store: CheckpointStore,
    options: JobOptions,
    members: Members,
    stop: CancellationToken,
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
    let committer = IcebergCommitter::open(
        job.clone(),
        catalog,
        options.snapshot_commits.clone(),
        store.clone(),
        options.keep_checkpoints,
    )
    .await
    .map_err(|source| JobError::Committer {
        job: job.name.clone(),
        source: Box::new(source),
    })?;
    let partition_source = match options.partition_source.clone() {
        Some(source) => source,
        None => floe_source::partition_source(job.clone(), &store)
            .await
            .map_err(|source| JobError::Source {
                job: job.name.clone(),
                source,
            })?,
    };
    run_job_with(
        job,
        Box::new(committer),
        partition_source,
        options,
        members,
        stop,
        progress,
    )
    .await
}

/// [`run_job`] with its committer and source already open: the controller's states from
/// recovery to the end.
pub async fn run_job_with(
    job: Arc<JobSpec>,
    committer: Box<dyn Committer>,
    partition_source: Arc<dyn PartitionSource>,
    options: JobOptions,
    members: Members,
    stop: CancellationToken,
    progress: watch::Sender<JobProgress>,
) -> Result<JobSummary, JobError> {
    let mut ctx = JobContext {
        watermark: JobWatermark::new(job.window, None),
        job,
        committer,
        options,
        members,
        ends: SourceEnds::spawn(partition_source.clone(), SOURCE_ENDS_EVERY),
        topic_listing: TopicListing::new(partition_source),
        stop,
        progress_tx: progress,
        progress: JobProgress::default(),
        summary: JobSummary::default(),
        restore: None,
        next_id: 0,
        assigned: Vec::new(),
        partitions: Vec::new(),
        failures_in_row: 0,
        last_commit: None,
        quarantine: Default::default(),
    };
    let result = controller::run(&mut ctx).await;
    if result.is_err() {
        ctx.release_all().await;
    }
    ctx.ends.stop().await;
    ctx.topic_listing.stop().await;
    result?;
    ctx.summary.progress = ctx.progress;
    Ok(ctx.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_owner_of_the_tables_or_of_the_checkpoints_fences_the_job() {
        let committer = |source| JobError::Committer {
            job: "j".into(),
            source: Box::new(source),
        };
        let tables = committer(CommitterError::Table(
            floe_table::iceberg_table::TableError::Fenced {
                table: "t".into(),
                job: "j".into(),
                mine: 1,
                owner: 2,
            },
        ));
        let checkpoints = committer(CommitterError::Superseded {
            job: "j".into(),
            mine: 1,
            newer: 2,
        });
        assert!(tables.is_fenced());
        assert!(checkpoints.is_fenced(), "a newer epoch in the store");
        let other = committer(CommitterError::JobChanged {
            job: "j".into(),
            checkpoint: 3,
        });
        assert!(!other.is_fenced());
    }

    #[test]
    fn lag_is_the_records_between_position_and_end() {
        let at = |next_offset| PartitionProgress {
            partition: 3,
            next_offset,
            watermark_ms: None,
            events: 0,
        };
        assert_eq!(PartitionStatus::new(at(Some(40)), Some(100)).lag, Some(60));
        assert_eq!(PartitionStatus::new(at(Some(100)), Some(100)).lag, Some(0));
        // The end was asked before the worker read on.
        assert_eq!(PartitionStatus::new(at(Some(120)), Some(100)).lag, Some(0));
        assert_eq!(PartitionStatus::new(at(None), Some(100)).lag, None);
        assert_eq!(PartitionStatus::new(at(Some(7)), None).lag, None);
    }
}
