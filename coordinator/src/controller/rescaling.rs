//! Rescaling: the members changed (a worker joined or is leaving). One checkpoint with the
//! workers that run the job now makes every partition's state durable; then they are released
//! and the partitions spread over the new members, each restored from that checkpoint. No
//! event is read twice into the tables or skipped: positions move with the state.

use super::checkpoint_round::{self, RoundError};
use super::{JobContext, State};
use crate::job::JobError;

pub async fn run(ctx: &mut JobContext, why: &str) -> Result<State, JobError> {
    tracing::info!(job = %ctx.job.name, why, "rescaling through a checkpoint");
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
