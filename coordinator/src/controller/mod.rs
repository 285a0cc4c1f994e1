//! The job controller: the coordinator's long-lived control logic as explicit states, one file
//! each, driving workers only through [`WorkerService`].
//!
//! ```text
//! Recovering ──▶ Scheduling ──▶ Running ──▶ Stopping ──▶ (done)
//!     ▲              ▲           │  ▲  │
//!     │              └─ Rescaling ◀┘──┘  │   members or partitions changed: move what changes
//!     └──────────────────────────────────┘   a worker failed or vanished: last checkpoint
//! ```

mod checkpoint_round;
#[cfg(test)]
mod fakes;
mod recovering;
mod rescaling;
mod running;
mod scheduling;
#[cfg(test)]
mod state_tests;
mod stopping;
#[cfg(test)]
mod tests;
mod worker_calls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use floe_common::config::JobSpec;
use floe_common::job_watermark::JobWatermark;
use floe_proto::{Assignment, RestorePoint, WorkerService, WorkerServiceError};
use tokio::sync::watch;

use crate::committer_seam::Committer;
use crate::job::{JobError, JobOptions, JobProgress, JobSummary};
use crate::quarantine::Quarantine;
use crate::source_ends::SourceEnds;
use crate::topic_listing::TopicListing;

/// The workers the coordinator can give work to now; the sender side follows membership
/// (a fixed list in one process, etcd leases in a cluster).
pub type Members = watch::Receiver<Vec<Arc<dyn WorkerService>>>;

/// The controller's states.
#[derive(Debug)]
pub enum State {
    /// Find the newest complete checkpoint (re-committing it) and where the job resumes.
    Recovering,
    /// Spread the partitions over the members and start them from the restore point.
    Scheduling,
    /// Take checkpoints; watch the workers, the members and the topic.
    Running,
    /// Move the partitions that change worker through one checkpoint; the rest read on.
    Rescaling {
        why: String,
    },
    /// Release the workers (Running and Rescaling take the last checkpoint before coming here;
    /// from elsewhere the restore point is already committed).
    Stopping,
    Done,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Recovering => "recovering",
            State::Scheduling => "scheduling",
            State::Running => "running",
            State::Rescaling { .. } => "rescaling",
            State::Stopping => "stopping",
            State::Done => "done",
        }
    }
}

/// Everything the states share.
pub struct JobContext {
    pub job: Arc<JobSpec>,
    pub committer: Box<dyn Committer>,
    pub options: JobOptions,
    pub members: Members,
    /// Where the source's partitions end, for consumer lag.
    pub ends: SourceEnds,
    /// The topic's partitions, listed off the controller's path (scheduling waits for them,
    /// running only glances to see the topic grow).
    pub topic_listing: TopicListing,
    pub stop: CancellationToken,
    pub progress_tx: watch::Sender<JobProgress>,
    pub progress: JobProgress,
    pub summary: JobSummary,
    /// Where the next assignment restores from: the newest complete checkpoint.
    pub restore: Option<RestorePoint>,
    pub next_id: u64,
    pub watermark: JobWatermark,
    /// The workers running the job now, and their partitions.
    pub assigned: Vec<(Arc<dyn WorkerService>, Vec<i32>)>,
    /// The topic's partitions as last listed.
    pub partitions: Vec<i32>,
    /// Failures in a row since the last committed checkpoint (for the restart back-off).
    pub failures_in_row: u32,
    /// When this process last committed a checkpoint (`sink.commit_interval`).
    pub last_commit: Option<tokio::time::Instant>,
    /// Members set aside after failing again and again.
    pub quarantine: Quarantine,
}

impl JobContext {
    /// Whether the next complete checkpoint is committed: always, unless the job commits at
    /// most every `commit_interval` and the last commit is more recent.
    pub fn commit_due(&self) -> bool {
        match (self.job.commit_interval, self.last_commit) {
            (Some(interval), Some(last)) => last.elapsed() >= interval,
            _ => true,
        }
    }

    pub fn job_error(&self, source: impl Into<JobErrorSource>) -> JobError {
        match source.into() {
            JobErrorSource::Worker(source) => JobError::Worker {
                job: self.job.name.clone(),
                source,
            },
            JobErrorSource::Committer(source) => JobError::Committer {
                job: self.job.name.clone(),
                source,
            },
        }
    }

    /// What `worker` is told to run: `partitions` of the job at `epoch`, restored from the
    /// restore point.
    pub fn assignment(&self, worker: &str, partitions: Vec<i32>, epoch: u64) -> Assignment {
        Assignment {
            job: self.job.clone(),
            checkpoint_store: self.options.checkpoint_store.clone(),
            epoch,
            worker_id: worker.to_owned(),
            partitions,
            restore: self.restore.clone(),
            bounded: self.options.bounded,
            tables: self.committer.worker_targets().to_vec(),
        }
    }

    /// Partition → worker name of the current assignment.
    pub fn holders(&self) -> BTreeMap<i32, String> {
        self.assigned
            .iter()
            .flat_map(|(w, ps)| ps.iter().map(move |p| (*p, w.name().to_owned())))
            .collect()
    }

    /// Stops every assigned worker's reading (best effort: a lost worker cannot answer). One
    /// that is no longer a member (its lease lapsed) is not waited for: it may be stopped or
    /// cut off, and the next assignment's newer epoch fences it anyway.
    pub async fn release_all(&mut self) {
        self.release_all_but(&[]).await;
    }

    /// [`Self::release_all`], leaving out the workers in `unreachable` (a call to them just
    /// failed: another would only wait out the channel's keepalive).
    async fn release_all_but(&mut self, unreachable: &[&str]) {
        let epoch = self.committer.epoch();
        let members = self.member_names();
        let (reachable, lapsed): (Vec<_>, Vec<_>) = self.assigned.iter().partition(|(w, _)| {
            members.iter().any(|m| m == w.name()) && !unreachable.contains(&w.name())
        });
        for (w, _) in lapsed {
            tracing::warn!(
                worker = w.name(),
                "not releasing a worker that is unreachable or whose lease lapsed"
            );
        }
        let releases = reachable.into_iter().map(|(w, _)| {
            let w = w.clone();
            async move {
                if let Err(e) = w.release(epoch).await {
                    tracing::warn!(worker = w.name(), error = %e, "could not release worker");
                }
            }
        });
        futures::future::join_all(releases).await;
        self.assigned.clear();
        self.progress.assignment.clear();
    }

    /// After a worker failed: the state to go to, or the job's error when the job does not
    /// restart on failures (a single process, where a worker's failure is the job's).
    pub async fn after_failure(&mut self, e: WorkerServiceError) -> Result<State, JobError> {
        let unreachable = if e.is_unreachable() {
            e.workers()
        } else {
            Vec::new()
        };
        self.release_all_but(&unreachable).await;
        if !self.options.restart_on_failure {
            return Err(self.job_error(e));
        }
        if self.stop_requested() {
            tracing::warn!(job = %self.job.name, error = %e, "a worker failed while stopping; stopping from the last checkpoint");
            return Ok(State::Stopping);
        }
        self.failures_in_row += 1;
        self.count_failure(&e);
        self.progress.restarts += 1;
        self.progress.last_failure = Some(e.to_string());
        self.progress_tx.send_replace(self.progress.clone());
        let pause = restart_pause(self.failures_in_row);
        tracing::warn!(job = %self.job.name, error = %e, retry_in = ?pause, "a worker failed; restarting from the last complete checkpoint");
        // A change of members (the failed worker's lease ran out, a new one came) ends the wait.
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.stop.cancelled() => {}
            changed = self.members.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
        if self.stop_requested() {
            return Ok(State::Stopping);
        }
        Ok(State::Recovering)
    }

    /// Counts the failure against the members it names (a deadline names every worker that
    /// did not answer), so that one failing again and again is set aside.
    fn count_failure(&mut self, e: &WorkerServiceError) {
        let now = tokio::time::Instant::now();
        let names = self.member_names();
        for worker in e
            .workers()
            .into_iter()
            .filter(|w| names.iter().any(|n| n == w))
        {
            self.quarantine.failed(worker, &e.to_string(), now);
        }
        self.progress.quarantined = self.quarantine.listing(now);
    }

    /// The names of the members now.
    fn member_names(&self) -> Vec<String> {
        self.members
            .borrow()
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// Whether the job was asked to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_cancelled()
    }
}

/// 1 s, 2 s, 4 s … up to 30 s between restarts that fail again.
pub(crate) fn restart_pause(failures_in_row: u32) -> Duration {
    Duration::from_secs(1u64 << failures_in_row.saturating_sub(1).min(5))
        .min(Duration::from_secs(30))
}

/// The two sources of a job's errors.
pub enum JobErrorSource {
    Worker(WorkerServiceError),
    Committer(Box<crate::committer::CommitterError>),
}

impl From<WorkerServiceError> for JobErrorSource {
    fn from(e: WorkerServiceError) -> Self {
        Self::Worker(e)
    }
}

impl From<crate::committer::CommitterError> for JobErrorSource {
    fn from(e: crate::committer::CommitterError) -> Self {
        Self::Committer(Box::new(e))
    }
}

impl From<Box<crate::committer::CommitterError>> for JobErrorSource {
    fn from(e: Box<crate::committer::CommitterError>) -> Self {
        Self::Committer(e)
    }
}

/// Runs the job through its states until it is done or fails.
pub async fn run(ctx: &mut JobContext) -> Result<(), JobError> {
    let mut state = State::Recovering;
    loop {
        tracing::debug!(job = %ctx.job.name, ?state, "controller state");
        let name = state.name();
        if ctx.progress.state != name {
            ctx.progress.state = name.to_owned();
            ctx.progress_tx.send_replace(ctx.progress.clone());
        }
        state = match state {
            State::Recovering => recovering::run(ctx).await?,
            State::Scheduling => scheduling::run(ctx).await?,
            State::Running => running::run(ctx).await?,
            State::Rescaling { why } => rescaling::run(ctx, &why).await?,
            State::Stopping => stopping::run(ctx).await?,
            State::Done => return Ok(()),
        };
    }
}
