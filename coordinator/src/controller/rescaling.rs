//! Rescaling: the members changed (a worker joined or is leaving, or came back from quarantine)
//! or the topic grew. Only the partitions that change worker move; the others read on throughout.
//!
//! 1. The workers giving partitions up stop reading them (`remove_partitions`).
//! 2. One checkpoint makes their state durable; it leaves those workers with it.
//! 3. The workers taking them on restore them from that checkpoint (`add_partitions`, or an
//!    `assign` for a worker new to the job) and read on from its positions.
//!
//! A worker leaving (it deregistered, and answers until released) gives all of its partitions
//! up this way. No event is read twice into the tables or skipped: positions move with the
//! state. Only when a worker that runs the job registered again (it lost its work) does every
//! worker restart from one checkpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use floe_proto::{AddPartitions, WorkerService, WorkerServiceError};
use futures::FutureExt;

use super::checkpoint_round::{self, RoundError};
use super::scheduling::without_quarantined;
use super::worker_calls::call_assigned;
use super::{JobContext, State};
use crate::assignment::{self, Handover};
use crate::job::JobError;

pub async fn run(ctx: &mut JobContext, why: &str) -> Result<State, JobError> {
    let all = ctx.members.borrow_and_update().clone();
    let members = without_quarantined(ctx, all.clone());
    let Some(Running { current, leaving }) = running_now(ctx, &all, &members) else {
        return restart_all(ctx, why).await;
    };
    let names: Vec<String> = members.iter().map(|w| w.name().to_owned()).collect();
    let plan = assignment::spread(&ctx.partitions, &names, &ctx.holders());
    let handover = Handover::between(&current, &plan);
    let joined = members.iter().any(|w| !current.contains_key(w.name()));
    if handover.is_empty() && !joined && leaving.is_empty() {
        return Ok(State::Running);
    }
    tracing::info!(job = %ctx.job.name, why, removals = ?handover.removals, additions = ?handover.additions, "rescaling: moving only the partitions that change worker");
    let epoch = ctx.committer.epoch();
    let giving: Vec<_> = (ctx.assigned.iter())
        .filter(|(w, _)| handover.removals.contains_key(w.name()))
        .cloned()
        .collect();
    let removed = call_assigned(
        &giving,
        &ctx.members,
        Some(ctx.options.round_deadline),
        "a removal of partitions",
        |w| {
            let partitions = handover.removals.get(w.name()).cloned().unwrap_or_default();
            async move { w.remove_partitions(epoch, partitions).await }
        },
    )
    .await;
    if let Err(e) = removed {
        return ctx.after_failure(e).await;
    }
    if !handover.removals.is_empty() {
        match checkpoint_round::run(ctx).await {
            Ok(outcome) if outcome.finished => {
                ctx.release_all().await;
                return Ok(State::Stopping);
            }
            Ok(_) => {}
            Err(RoundError::Worker(e)) => return ctx.after_failure(e).await,
            Err(RoundError::Committer(e)) => return Err(ctx.job_error(e)),
        }
    }
    // A leaving worker's partitions left with the checkpoint: it has nothing more to do.
    for w in &leaving {
        if let Err(e) = w.release(epoch).await {
            tracing::warn!(worker = w.name(), error = %e, "could not release a leaving worker");
        }
    }
    // From here the new plan is the assignment: a failure releases every worker in it.
    ctx.assigned = members
        .iter()
        .map(|w| (w.clone(), plan.get(w.name()).cloned().unwrap_or_default()))
        .collect();
    let additions = ctx.assigned.iter().filter_map(|(w, partitions)| {
        let w = w.clone();
        if !current.contains_key(w.name()) {
            let assignment = ctx.assignment(w.name(), partitions.clone(), epoch);
            return Some(async move { w.assign(assignment).await }.boxed());
        }
        let add = AddPartitions {
            epoch,
            partitions: handover.additions.get(w.name())?.clone(),
            restore: ctx.restore.clone(),
        };
        Some(async move { w.add_partitions(add).await }.boxed())
    });
    if let Err(e) = first_error(futures::future::join_all(additions).await) {
        return ctx.after_failure(e).await;
    }
    tracing::info!(job = %ctx.job.name, assignment = ?plan, "partitions moved");
    ctx.progress.assignment = plan;
    ctx.progress_tx.send_replace(ctx.progress.clone());
    Ok(State::Running)
}

/// The work running now, as a rescale sees it.
struct Running {
    /// Worker → partitions, for every worker running the job.
    current: BTreeMap<String, Vec<i32>>,
    /// The workers running the job that are no longer usable members (they deregistered to
    /// leave, or were set aside): they give every partition up.
    leaving: Vec<Arc<dyn WorkerService>>,
}

/// The work running now; `None` when nothing runs, or when a worker running the job has
/// registered again (the same name, another member: it lost its work).
fn running_now(
    ctx: &JobContext,
    all: &[Arc<dyn WorkerService>],
    usable: &[Arc<dyn WorkerService>],
) -> Option<Running> {
    if ctx.assigned.is_empty() {
        return None;
    }
    let mut leaving = Vec::new();
    for (w, _) in &ctx.assigned {
        if usable.iter().any(|m| Arc::ptr_eq(m, w)) {
            continue;
        }
        if all
            .iter()
            .any(|m| m.name() == w.name() && !Arc::ptr_eq(m, w))
        {
            return None;
        }
        leaving.push(w.clone());
    }
    let current = (ctx.assigned.iter())
        .map(|(w, ps)| (w.name().to_owned(), ps.clone()))
        .collect();
    Some(Running { current, leaving })
}

fn first_error(results: Vec<Result<(), WorkerServiceError>>) -> Result<(), WorkerServiceError> {
    results.into_iter().collect()
}

/// Every worker restarts from one checkpoint taken with the workers that run the job now.
async fn restart_all(ctx: &mut JobContext, why: &str) -> Result<State, JobError> {
    tracing::info!(job = %ctx.job.name, why, "rescaling: every worker restarts from a checkpoint");
    match checkpoint_round::run(ctx).await {
        Ok(outcome) => {
            ctx.release_all().await;
            Ok(if outcome.finished {
                State::Stopping
            } else {
                State::Scheduling
            })
        }
        Err(RoundError::Worker(e)) => ctx.after_failure(e).await,
        Err(RoundError::Committer(e)) => Err(ctx.job_error(e)),
    }
}
