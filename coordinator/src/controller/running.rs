//! Running: checkpoints on the interval (or sooner, when the workers' statuses call for one),
//! the job's watermark from the workers' reports, and an eye on the members and the topic.

use std::time::Duration;

use floe_proto::{WorkerServiceError, WorkerStatus};

use super::checkpoint_round::{self, RoundError};
use super::worker_calls::call_assigned;
use super::{JobContext, State};
use crate::checkpoint_trigger::{checkpoint_now, JobSignals};
use crate::job::{JobError, PartitionStatus};

const STATUS_EVERY: Duration = Duration::from_millis(250);
/// How long a checkpoint waits for the topic's partitions to be listed.
const LISTING_WAIT: Duration = Duration::from_secs(1);

pub async fn run(ctx: &mut JobContext) -> Result<State, JobError> {
    let mut next_checkpoint = tokio::time::Instant::now() + ctx.options.checkpoint_interval;
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A change of members since Scheduling read them (a worker joined or left while the
    // others restored) is seen here at once: it was not marked seen.
    loop {
        if !ctx.stop_requested() {
            // A change of members is seen before a timer that fell due with it: a status poll
            // started then would take a leaving worker for a failed one.
            tokio::select! {
                biased;
                _ = ctx.stop.cancelled() => {}
                _ = members_changed(&mut ctx.members) => {
                    return Ok(State::Rescaling { why: "the members changed".into() });
                }
                _ = quarantine_ends(ctx.quarantine.next_return()) => {
                    return Ok(State::Rescaling { why: "a member's quarantine ended".into() });
                }
                _ = tokio::time::sleep_until(next_checkpoint) => {}
                _ = status_tick.tick() => {
                    let signals = match poll_statuses(ctx).await {
                        Ok(s) => s,
                        Err(e) => return ctx.after_failure(e).await,
                    };
                    if !checkpoint_now(&signals, last_checkpoint.elapsed(), ctx.options.checkpoint_min_pause) {
                        continue;
                    }
                }
            }
        }
        let stopping = ctx.stop_requested();
        let outcome = match checkpoint_round::run(ctx).await {
            Ok(o) => o,
            Err(RoundError::Worker(e)) => return ctx.after_failure(e).await,
            Err(RoundError::Committer(e)) => return Err(ctx.job_error(e)),
        };
        if stopping || outcome.finished {
            return Ok(State::Stopping);
        }
        next_checkpoint = tokio::time::Instant::now() + ctx.options.checkpoint_interval;
        last_checkpoint = tokio::time::Instant::now();
        // A streaming job follows the topic as it grows: the new partitions are spread over
        // the workers. (A bounded one reads the partitions listed when it was last
        // scheduled, each up to its end offset then.)
        if !ctx.options.bounded && topic_grew(ctx).await {
            return Ok(State::Rescaling {
                why: "the topic has new partitions".into(),
            });
        }
    }
}

/// Resolves when the members change; never, once no one can change them (a fixed list).
async fn members_changed(members: &mut super::Members) {
    if members.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves when a member set aside may come back (at once when that time has passed); never,
/// when none is aside.
async fn quarantine_ends(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether the topic lists partitions the job does not read yet. A listing that fails, or is
/// not back within [`LISTING_WAIT`] (a broker away), is not fatal: the next checkpoint asks
/// again, and checkpoints go on meanwhile.
async fn topic_grew(ctx: &mut JobContext) -> bool {
    match ctx.topic_listing.list(LISTING_WAIT).await {
        None => false,
        Some(Ok(listed)) => {
            let grew = listed.iter().any(|p| !ctx.partitions.contains(p));
            if grew {
                tracing::info!(job = %ctx.job.name, ?listed, "the topic has new partitions; spreading them");
                ctx.partitions = crate::assignment::to_schedule(&listed, &ctx.holders());
            }
            grew
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot list the topic's partitions; asking again at the next checkpoint");
            false
        }
    }
}

/// Asks every assigned worker for its status: the job's progress and watermark follow, and the
/// signals for an early checkpoint come back.
async fn poll_statuses(ctx: &mut JobContext) -> Result<JobSignals, WorkerServiceError> {
    let epoch = ctx.committer.epoch();
    let statuses: Vec<WorkerStatus> = call_assigned(
        &ctx.assigned,
        &ctx.members,
        None,
        "a status poll",
        |w| async move { w.status(epoch).await },
    )
    .await?;
    ctx.watermark.update(statuses.iter().map(|s| s.watermark));
    let stats = statuses.iter().map(|s| &s.stats).sum();
    let p = &mut ctx.progress;
    (p.open_windows, p.open_entries, p.offsets_skipped) = (0, 0, 0);
    p.partitions.clear();
    for s in &statuses {
        p.partitions.extend(
            s.partitions
                .iter()
                .map(|x| PartitionStatus::new(*x, ctx.ends.end_of(x.partition))),
        );
        p.open_windows = p.open_windows.max(s.open_windows);
        p.open_entries += s.open_entries;
        p.offsets_skipped += s.offsets_skipped;
    }
    p.partitions.sort_by_key(|x| x.progress.partition);
    p.record(stats, ctx.watermark.current());
    ctx.progress_tx.send_replace(p.clone());
    Ok(JobSignals::new(&statuses, &ctx.watermark))
}
