//! Scheduling: the topic's partitions (as listed, and as the restore point holds them) spread
//! over the members (each kept where the restore point had it when the spread allows), every
//! member started from the restore point.

use std::sync::Arc;

use floe_proto::{WorkerService, WorkerServiceError};

use super::{JobContext, State};
use crate::assignment;
use crate::job::JobError;

pub async fn run(ctx: &mut JobContext) -> Result<State, JobError> {
    if ctx.stop_requested() {
        return Ok(State::Stopping);
    }
    let Some(members) = wait_for_members(ctx).await else {
        return Ok(State::Stopping);
    };
    let members = without_quarantined(ctx, members);
    let listed = match list_partitions(ctx).await {
        Ok(p) => p,
        Err(e) if ctx.options.restart_on_failure => return ctx.after_failure(e).await,
        Err(e) => return Err(ctx.job_error(e)),
    };
    let previous = ctx
        .restore
        .as_ref()
        .map(|r| r.holders.clone())
        .unwrap_or_default();
    ctx.partitions = assignment::to_schedule(&listed, &previous);
    if ctx.partitions.len() > listed.len() {
        tracing::warn!(job = %ctx.job.name, ?listed, scheduled = ?ctx.partitions, "the topic's listing misses partitions the restore point holds; they keep their positions");
    }
    let names: Vec<String> = members.iter().map(|w| w.name().to_owned()).collect();
    let plan = assignment::spread(&ctx.partitions, &names, &previous);
    let epoch = ctx.committer.epoch();
    ctx.assigned = members
        .iter()
        .map(|w| (w.clone(), plan.get(w.name()).cloned().unwrap_or_default()))
        .collect();
    let starts = ctx.assigned.iter().map(|(w, partitions)| {
        let assignment = ctx.assignment(w.name(), partitions.clone(), epoch);
        let w = w.clone();
        async move { w.assign(assignment).await }
    });
    let results = futures::future::join_all(starts).await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return ctx.after_failure(e).await;
    }
    tracing::info!(job = %ctx.job.name, assignment = ?plan, "partitions assigned");
    ctx.progress.epoch = epoch;
    ctx.progress.assignment = plan;
    ctx.progress_tx.send_replace(ctx.progress.clone());
    Ok(State::Running)
}

/// The current members, once there is at least one; `None` when the job is asked to stop first.
async fn wait_for_members(ctx: &mut JobContext) -> Option<Vec<Arc<dyn WorkerService>>> {
    loop {
        let members = ctx.members.borrow_and_update().clone();
        if !members.is_empty() {
            return Some(members);
        }
        tracing::info!(job = %ctx.job.name, "waiting for workers");
        tokio::select! {
            changed = ctx.members.changed() => if changed.is_err() { return None },
            _ = ctx.stop.cancelled() => return None,
        }
    }
}

/// The members not set aside; all of them when every one is (the job cannot run on none).
pub(super) fn without_quarantined(
    ctx: &mut JobContext,
    members: Vec<Arc<dyn WorkerService>>,
) -> Vec<Arc<dyn WorkerService>> {
    let now = tokio::time::Instant::now();
    ctx.quarantine.take_back(now);
    ctx.progress.quarantined = ctx.quarantine.listing(now);
    let usable: Vec<_> = members
        .iter()
        .filter(|w| !ctx.quarantine.is_aside(w.name(), now))
        .cloned()
        .collect();
    if usable.is_empty() {
        tracing::warn!(job = %ctx.job.name, "every member is set aside; scheduling on all of them");
        return members;
    }
    if usable.len() < members.len() {
        tracing::warn!(job = %ctx.job.name, quarantined = ?ctx.progress.quarantined, "scheduling without the members set aside");
    }
    usable
}

/// The topic's partitions: scheduling cannot go on without them.
async fn list_partitions(ctx: &mut JobContext) -> Result<Vec<i32>, WorkerServiceError> {
    ctx.topic_listing
        .list_waiting()
        .await
        .map_err(|message| WorkerServiceError::Failed {
            worker: "coordinator".into(),
            message,
        })
}
