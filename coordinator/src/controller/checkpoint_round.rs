//! One checkpoint across every assigned worker: a barrier carrying the job's watermark, the
//! acks, the manifest that completes it, and its commits.

use std::time::Instant;

use floe_common::clock::wall_clock_ms;
use floe_common::watermark::WATERMARK_END;
use floe_proto::{Barrier, WorkerServiceError};

use super::worker_calls::call_assigned;
use super::JobContext;
use crate::ack_check::check_acks;
use crate::committer::{restore_point, CommitterError};
use crate::job::{CommitNotice, CommitSummary, RECENT_COMMITS};

/// Why a checkpoint did not complete.
pub enum RoundError {
    /// A worker did not acknowledge: the job restarts from the last complete checkpoint.
    Worker(WorkerServiceError),
    Committer(Box<CommitterError>),
}

pub struct RoundOutcome {
    /// Every worker's bounded input is read and committed.
    pub finished: bool,
}

pub async fn run(ctx: &mut JobContext) -> Result<RoundOutcome, RoundError> {
    let started = Instant::now();
    let id = ctx.next_id;
    // Taken whether or not the checkpoint completes: a late upload of this attempt can never
    // collide with a later one.
    ctx.next_id += 1;
    let barrier = Barrier {
        checkpoint_id: id,
        epoch: ctx.committer.epoch(),
        watermark_ms: ctx.watermark.current(),
    };
    let acks = call_assigned(
        &ctx.assigned,
        &ctx.members,
        Some(ctx.options.round_deadline),
        &format!("checkpoint {id}"),
        |w| async move { w.checkpoint(barrier).await },
    )
    .await
    .map_err(RoundError::Worker)?;
    let expected: Vec<(String, Vec<i32>)> = ctx
        .assigned
        .iter()
        .map(|(w, ps)| (w.name().to_owned(), ps.clone()))
        .collect();
    check_acks(&expected, &barrier, &acks).map_err(|e| {
        RoundError::Worker(WorkerServiceError::Failed {
            worker: e.worker,
            message: format!("its ack was refused: {}", e.reason),
        })
    })?;

    // Finished once a barrier at the end of time has closed every window after the input ended.
    let finished = !acks.is_empty()
        && acks.iter().all(|a| a.input_finished)
        && barrier.watermark_ms == WATERMARK_END;
    let mut window_ends: Vec<i64> = acks
        .iter()
        .flat_map(|a| a.closed_windows.iter().map(|w| w.end_ms))
        .collect();
    window_ends.sort_unstable();
    window_ends.dedup();
    if let Some(last) = window_ends.last() {
        ctx.watermark.written(*last);
    }
    // The acks' reports raise the job's watermark for the next barrier; the checkpoint keeps
    // the one this barrier closed its windows at.
    ctx.watermark.update(acks.iter().map(|a| a.watermark));
    let kept_watermark = ctx.watermark.checkpoint_value(barrier.watermark_ms);
    let stats = acks.iter().map(|a| &a.stats).sum();
    let state_bytes = acks.iter().map(|a| a.state_bytes).sum();

    let manifest = ctx
        .committer
        .complete(id, acks, kept_watermark)
        .await
        .map_err(|e| RoundError::Committer(Box::new(e)))?;
    let committing = Instant::now();
    // With a commit interval, a checkpoint between two commits hands its files to the next
    // (`deferred_commits.rs`); the last one of a run is always committed.
    if !(finished || ctx.stop_requested() || ctx.commit_due()) {
        ctx.committer.start_cleanup();
        ctx.restore = Some(restore_point(&manifest));
        ctx.failures_in_row = 0;
        ctx.summary.checkpoint_durations.push(started.elapsed());
        let p = &mut ctx.progress;
        p.record(stats, ctx.watermark.current());
        p.last_checkpoint_id = id;
        ctx.progress_tx.send_replace(p.clone());
        tracing::debug!(job = %ctx.job.name, checkpoint = id, "checkpoint complete; its files wait for the next commit");
        return Ok(RoundOutcome { finished });
    }
    let report = ctx
        .committer
        .commit(&manifest)
        .await
        .map_err(|e| RoundError::Committer(Box::new(e)))?;
    ctx.last_commit = Some(tokio::time::Instant::now());
    ctx.quarantine
        .worked(ctx.assigned.iter().map(|(w, _)| w.name()));
    ctx.committer.start_cleanup();
    ctx.committer.maintain().await;
    ctx.progress.tables = ctx.committer.table_status();
    ctx.restore = Some(restore_point(&manifest));
    ctx.failures_in_row = 0;

    let commit_duration = committing.elapsed();
    let duration = started.elapsed();
    ctx.summary.checkpoint_durations.push(duration);
    if let Some(tx) = &ctx.options.commit_notices {
        let _ = tx.send(CommitNotice {
            checkpoint_id: id,
            visible_at_ms: wall_clock_ms(),
            window_ends_ms: window_ends,
            rows: report.rows_committed,
            duration,
            commit_duration,
            state_bytes,
        });
    }
    let p = &mut ctx.progress;
    p.record(stats, ctx.watermark.current());
    p.checkpoints_committed += 1;
    p.last_checkpoint_id = id;
    p.rows_committed += report.rows_committed;
    p.last_commit_at_ms = wall_clock_ms();
    p.input_finished = finished;
    p.commit_retries = ctx.committer.commit_retries();
    p.recent_commits.push_back(CommitSummary {
        checkpoint_id: id,
        rows: report.rows_committed,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        state_bytes,
        at_ms: p.last_commit_at_ms,
    });
    while p.recent_commits.len() > RECENT_COMMITS {
        p.recent_commits.pop_front();
    }
    ctx.progress_tx.send_replace(p.clone());
    tracing::info!(
        job = %ctx.job.name,
        checkpoint = id,
        rows = report.rows_committed,
        watermark = ctx.watermark.current(),
        workers = ctx.assigned.len(),
        ms = duration.as_millis() as u64,
        "checkpoint committed"
    );
    Ok(RoundOutcome { finished })
}
