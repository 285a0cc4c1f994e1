//! When the job loop takes a checkpoint before its interval's timer: what a worker's status
//! asks for. The interval stays the upper bound between checkpoints.

use std::time::Duration;

use floe_proto::WorkerStatus;

/// Whether `status` calls for a checkpoint now, `since_last` after the previous one:
/// - a bounded input is fully read (commit and finish);
/// - the output waiting for a checkpoint is over budget (the readers wait for it);
/// - a window has closed (make its rows visible), but not sooner than `min_pause` after the
///   previous checkpoint, so that a stream of closing windows cannot become a checkpoint storm.
pub fn checkpoint_now(status: &WorkerStatus, since_last: Duration, min_pause: Duration) -> bool {
    status.input_finished
        || status.backpressured
        || (status.window_closed && since_last >= min_pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Duration = Duration::from_secs(1);

    fn status(finished: bool, backpressured: bool, window_closed: bool) -> WorkerStatus {
        WorkerStatus {
            input_finished: finished,
            backpressured,
            window_closed,
            ..WorkerStatus::default()
        }
    }

    #[test]
    fn a_closed_window_is_checkpointed_after_the_minimum_pause() {
        let closed = status(false, false, true);
        assert!(!checkpoint_now(&closed, Duration::from_millis(400), PAUSE));
        assert!(checkpoint_now(&closed, PAUSE, PAUSE));
        assert!(!checkpoint_now(
            &status(false, false, false),
            Duration::from_secs(60),
            PAUSE
        ));
    }

    #[test]
    fn a_finished_input_or_output_over_budget_does_not_wait() {
        let soon = Duration::ZERO;
        assert!(checkpoint_now(&status(true, false, false), soon, PAUSE));
        assert!(checkpoint_now(&status(false, true, false), soon, PAUSE));
    }
}
