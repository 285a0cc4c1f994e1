//! Stopping: the last checkpoint is committed (Running takes it before coming here); the
//! workers stop reading.

use super::{JobContext, State};
use crate::job::JobError;

pub async fn run(ctx: &mut JobContext) -> Result<State, JobError> {
    ctx.release_all().await;
    tracing::info!(job = %ctx.job.name, checkpoint = ctx.progress.last_checkpoint_id, "stopped");
    Ok(State::Done)
}
