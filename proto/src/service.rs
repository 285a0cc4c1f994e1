//! `WorkerService`: everything the coordinator asks of a worker.

use async_trait::async_trait;

use crate::messages::{AddPartitions, Assignment, Barrier, CheckpointAck, WorkerStatus};

/// Why a worker did not do what the coordinator asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkerServiceError {
    /// The worker cannot be reached (gone, restarting, network): its partitions must move.
    #[error("worker {worker} is unreachable: {message}")]
    Unavailable { worker: String, message: String },
    /// The worker's part of the job failed (a reader, the state store): the job recovers.
    #[error("worker {worker}: {message}")]
    Failed { worker: String, message: String },
    /// Workers gave no answer to a call within its deadline (stopped, hung, cut off).
    #[error("no answer from {} to {what} within {deadline:?}", workers.join(", "))]
    NoAnswer {
        workers: Vec<String>,
        what: String,
        deadline: std::time::Duration,
    },
    /// The request came from a coordinator older than one the worker has already obeyed, or
    /// (a barrier) from another epoch than the one the worker was assigned at.
    #[error("worker {worker} refused epoch {epoch}: it follows epoch {current}")]
    StaleEpoch {
        worker: String,
        epoch: u64,
        current: u64,
    },
}

impl WorkerServiceError {
    /// The workers the error is about.
    pub fn workers(&self) -> Vec<&str> {
        match self {
            Self::NoAnswer { workers, .. } => workers.iter().map(String::as_str).collect(),
            Self::Unavailable { worker, .. }
            | Self::Failed { worker, .. }
            | Self::StaleEpoch { worker, .. } => vec![worker.as_str()],
        }
    }

    /// Whether the call did not reach its workers: another call would not either, now.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::NoAnswer { .. })
    }
}

/// How the coordinator drives one worker: in-process (`floe run`) or over gRPC (cluster mode).
/// The coordinator knows nothing else of a worker.
#[async_trait]
pub trait WorkerService: Send + Sync {
    /// The worker's name (its state objects are named after it).
    fn name(&self) -> &str;

    /// Starts this worker's part of a job, replacing whatever it ran before: its partitions,
    /// their state restored from a checkpoint. Returns once the partitions are being read.
    async fn assign(&self, assignment: Assignment) -> Result<(), WorkerServiceError>;

    /// Takes a checkpoint: closes the windows the barrier's watermark closes, makes the state
    /// durable, and returns everything produced since the previous checkpoint.
    async fn checkpoint(&self, barrier: Barrier) -> Result<CheckpointAck, WorkerServiceError>;

    /// Live numbers of the work assigned at `epoch` (a worker assigned at another epoch refuses
    /// it); an error once the worker's part of the job has failed.
    async fn status(&self, epoch: u64) -> Result<WorkerStatus, WorkerServiceError>;

    /// Stops reading and drops the state since the last checkpoint (the partitions are about to
    /// move, or the job stops). Doing nothing is fine when nothing runs.
    async fn release(&self, epoch: u64) -> Result<(), WorkerServiceError>;

    /// Stops reading `partitions` of the work assigned at `epoch`; the other partitions run
    /// on. Their state up to where reading stopped is in the next checkpoint's state object
    /// and ack, and leaves the worker after it: the partitions move with that checkpoint.
    /// Returns once no more of their records can be read.
    async fn remove_partitions(
        &self,
        epoch: u64,
        partitions: Vec<i32>,
    ) -> Result<(), WorkerServiceError>;

    /// Adds partitions to the work assigned at the same epoch, their state restored from the
    /// checkpoint that took them off their last worker. Returns once they are being read.
    async fn add_partitions(&self, add: AddPartitions) -> Result<(), WorkerServiceError>;
}
