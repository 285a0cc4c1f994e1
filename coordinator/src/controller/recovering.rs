//! Recovering: where the job resumes. The newest complete checkpoint is committed to every
//! table (again, if a crash came between its manifest and its commits) and becomes the restore
//! point; the job's watermark resumes from it.

use floe_common::job_watermark::JobWatermark;

use super::{JobContext, State};
use crate::job::JobError;

pub async fn run(ctx: &mut JobContext) -> Result<State, JobError> {
    let recovery = ctx
        .committer
        .recover(ctx.options.start_over.is_some())
        .await
        .map_err(|e| ctx.job_error(e))?;
    ctx.next_id = ctx.next_id.max(recovery.next_id);
    ctx.watermark = JobWatermark::new(
        ctx.job.window,
        recovery.restore.as_ref().and_then(|r| r.watermark_ms),
    );
    tracing::info!(job = %ctx.job.name, restore_from = ?recovery.restore_from(), next_checkpoint = ctx.next_id, epoch = ctx.committer.epoch(), "recovered");
    ctx.restore = recovery.restore;
    Ok(State::Scheduling)
}
