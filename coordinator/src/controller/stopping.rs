//! Stopping: the last checkpoint is committed (Running takes it before coming here); the
//! workers stop reading, and a table maintenance run and a checkpoint cleanup in progress end.

use super::{JobContext, State};
use crate::job::JobError;

pub async fn run(ctx: &mut JobContext) -> Result<State, JobError> {
    ctx.release_all().await;
    ctx.progress.tables = ctx.committer.maintenance_finished().await;
    ctx.committer.cleanup_finished().await;
    ctx.progress_tx.send_replace(ctx.progress.clone());
    tracing::info!(job = %ctx.job.name, checkpoint = ctx.progress.last_checkpoint_id, "stopped");
    Ok(State::Done)
}
