//! When the coordinator takes a checkpoint before its interval's timer: what the workers'
//! statuses ask for. The interval stays the upper bound between checkpoints.

use std::time::Duration;

use floe_common::job_watermark::JobWatermark;
use floe_proto::WorkerStatus;

/// What the workers' latest statuses say, for the checkpoint decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobSignals {
    /// Every worker has fully read its part of a bounded input.
    pub input_finished: bool,
    /// Some worker's output waiting for a checkpoint is over budget (its readers wait).
    pub backpressured: bool,
    /// The job's watermark has closed a window some worker holds: its rows could be visible.
    pub window_closed: bool,
}

impl JobSignals {
    pub fn new<'a>(
        statuses: impl IntoIterator<Item = &'a WorkerStatus>,
        watermark: &JobWatermark,
    ) -> Self {
        let mut signals = Self {
            input_finished: true,
            ..Self::default()
        };
        let mut any = false;
        for s in statuses {
            any = true;
            signals.input_finished &= s.input_finished;
            signals.backpressured |= s.backpressured;
            signals.window_closed |= s.next_close_ms.is_some_and(|at| watermark.closes(at));
        }
        signals.input_finished &= any;
        signals
    }
}

/// Whether `signals` call for a checkpoint now, `since_last` after the previous one:
/// - a bounded input is fully read (commit and finish);
/// - the output waiting for a checkpoint is over budget (the readers wait for it);
/// - a window has closed (make its rows visible), but not sooner than `min_pause` after the
///   previous checkpoint, so that a stream of closing windows cannot become a checkpoint storm.
pub fn checkpoint_now(signals: &JobSignals, since_last: Duration, min_pause: Duration) -> bool {
    signals.input_finished
        || signals.backpressured
        || (signals.window_closed && since_last >= min_pause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::config::example_job;
    use floe_common::watermark::LocalWatermark;
    use floe_common::window::OperatorStats;

    const PAUSE: Duration = Duration::from_secs(1);

    fn status(finished: bool, backpressured: bool, next_close_ms: Option<i64>) -> WorkerStatus {
        WorkerStatus {
            stats: OperatorStats::default(),
            watermark: LocalWatermark::Active(0),
            next_close_ms,
            open_windows: 0,
            open_entries: 0,
            input_finished: finished,
            offsets_skipped: 0,
            backpressured,
            failure: None,
            partitions: Vec::new(),
            bytes_read: 0,
        }
    }

    fn watermark_at(ms: i64) -> JobWatermark {
        let mut w = JobWatermark::new(example_job().window, None);
        w.update([LocalWatermark::Active(ms)]);
        w
    }

    #[test]
    fn a_window_the_job_watermark_closed_is_checkpointed_after_the_minimum_pause() {
        let w = watermark_at(60_000);
        let closed = JobSignals::new(&[status(false, false, Some(60_000))], &w);
        assert!(closed.window_closed);
        assert!(!checkpoint_now(&closed, Duration::from_millis(400), PAUSE));
        assert!(checkpoint_now(&closed, PAUSE, PAUSE));
        let open = JobSignals::new(&[status(false, false, Some(60_001))], &w);
        assert!(!checkpoint_now(&open, Duration::from_secs(60), PAUSE));
    }

    #[test]
    fn a_finished_input_needs_every_worker_and_backpressure_any() {
        let w = watermark_at(0);
        let soon = Duration::ZERO;
        let one_done = [status(true, false, None), status(false, false, None)];
        assert!(!checkpoint_now(
            &JobSignals::new(&one_done, &w),
            soon,
            PAUSE
        ));
        let all_done = [status(true, false, None), status(true, false, None)];
        assert!(checkpoint_now(&JobSignals::new(&all_done, &w), soon, PAUSE));
        let pressed = [status(false, true, None), status(false, false, None)];
        assert!(checkpoint_now(&JobSignals::new(&pressed, &w), soon, PAUSE));
        assert!(!JobSignals::new(&[], &w).input_finished);
    }
}
