//! The job's watermark: the one value that closes windows on every worker at the same
//! checkpoint, so that the partials of a (window, key) spread over several workers become one
//! row.
//!
//! It is the minimum over the workers' watermarks, leaving out workers whose partitions are all
//! idle; when every worker is idle, the minimum over the idle workers that saw events (what it
//! would have been while they were active). It never moves back, and reaches the end of time
//! only when every worker's input is finished (bounded reads).

use crate::config::WindowSpec;
use crate::watermark::{InputsMin, LocalWatermark, WATERMARK_END, WATERMARK_START};

/// The coordinator's view of the job's event-time progress.
#[derive(Debug, Clone)]
pub struct JobWatermark {
    window: WindowSpec,
    current: i64,
    /// The last value below the end of time.
    finite: i64,
    /// The largest window end the job has written.
    written_until: i64,
}

impl JobWatermark {
    /// Starts from the value a checkpoint kept ([`Self::checkpoint_value`]).
    pub fn new(window: WindowSpec, restored: Option<i64>) -> Self {
        let start = restored.unwrap_or(WATERMARK_START);
        Self {
            window,
            current: start,
            finite: start,
            written_until: WATERMARK_START,
        }
    }

    pub fn current(&self) -> i64 {
        self.current
    }

    /// Combines the workers' latest reports and returns the job's watermark.
    pub fn update(&mut self, reports: impl IntoIterator<Item = LocalWatermark>) -> i64 {
        let mut workers = InputsMin::default();
        let mut all_finished = true;
        let mut any = false;
        for report in reports {
            any = true;
            match report {
                LocalWatermark::Active(w) => {
                    all_finished = false;
                    workers.active(w);
                }
                LocalWatermark::Idle(w) => {
                    all_finished = false;
                    workers.idle(w);
                }
                LocalWatermark::Finished => {}
            }
        }
        if any && all_finished {
            self.current = WATERMARK_END;
        } else if let Some(w) = workers.value() {
            self.current = self.current.max(w);
            if self.current != WATERMARK_END {
                self.finite = self.current;
            }
        }
        self.current
    }

    /// Records that a window ending at `end_ms` was written.
    pub fn written(&mut self, end_ms: i64) {
        self.written_until = self.written_until.max(end_ms);
    }

    /// The watermark a checkpoint whose barrier carried `barrier_ms` keeps: that value. It closed
    /// the checkpoint's windows and was every worker's floor of lateness right after it, so a
    /// restore judges lateness as the run without a failure did; the workers' reports in the
    /// acks, further on, reach the job only at the next barrier. At the end of a bounded input
    /// the barrier carries the end of time (every window closes); a job that goes on streaming
    /// from the checkpoint resumes at its real event-time progress instead, raised so that every
    /// window already written counts as closed (its later events are late, never a second row).
    pub fn checkpoint_value(&self, barrier_ms: i64) -> i64 {
        if barrier_ms != WATERMARK_END {
            return barrier_ms;
        }
        let written = self
            .written_until
            .saturating_add(self.window.allowed_lateness_ms);
        self.finite.max(written)
    }

    /// Whether a window that closes at `closes_at_ms` is closed now.
    pub fn closes(&self, closes_at_ms: i64) -> bool {
        closes_at_ms <= self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::example_job;
    use crate::watermark::WatermarkTracker;
    use LocalWatermark::*;

    fn job_watermark() -> JobWatermark {
        JobWatermark::new(example_job().window, None)
    }

    #[test]
    fn is_the_minimum_over_active_workers_and_never_moves_back() {
        let mut w = job_watermark();
        assert_eq!(w.update([Active(50), Active(30), Idle(10)]), 30);
        assert_eq!(w.update([Active(50), Active(20)]), 30, "never back");
        assert_eq!(
            w.update([Idle(20), Idle(25)]),
            30,
            "all idle, behind: stays"
        );
        assert_eq!(w.update([Active(70), Finished]), 70);
        assert_eq!(w.update([]), 70, "no workers: stays");
    }

    #[test]
    fn events_read_between_two_reports_move_the_job_though_their_worker_is_idle_by_then() {
        // A worker reads the last records of its partitions, reaches their ends, and its next
        // report comes only after the idle timeout (a checkpoint that waited on a broker away):
        // what those records moved must still reach the job, or its windows never close.
        let mut worker = WatermarkTracker::new(10_000, 2_000);
        worker.assign(0, None, 0);
        worker.assign(1, None, 0);
        let mut job = job_watermark();
        worker.observe(0, 100_000, 0);
        worker.observe(1, 50_000, 0);
        assert_eq!(job.update([worker.report(1)]), 40_000);
        worker.observe(1, 200_000, 10);
        worker.caught_up(0);
        worker.caught_up(1);
        assert_eq!(job.update([worker.report(30_000)]), 90_000);
    }

    #[test]
    fn when_every_worker_is_idle_the_job_moves_to_the_least_of_those_that_saw_events() {
        let mut w = job_watermark();
        assert_eq!(
            w.update([Active(30), Idle(20)]),
            30,
            "idle workers do not count"
        );
        assert_eq!(w.update([Idle(90), Idle(60)]), 60);
        assert_eq!(
            w.update([Idle(90), Idle(WATERMARK_START)]),
            90,
            "a worker that saw no event does not hold it"
        );
        assert_eq!(w.update([Idle(50)]), 90, "never back");
        assert_eq!(
            w.update([Active(80), Idle(200)]),
            90,
            "an active worker holds it"
        );
    }

    #[test]
    fn reaches_the_end_only_when_every_worker_is_finished() {
        let mut w = job_watermark();
        w.update([Active(120_000)]);
        assert_eq!(w.update([Finished, Idle(110_000)]), 120_000);
        assert_eq!(w.update([Finished, Finished]), WATERMARK_END);
        assert!(w.closes(i64::MAX - 1));
    }

    #[test]
    fn a_checkpoint_keeps_real_progress_raised_over_every_written_window() {
        let mut w = job_watermark();
        w.update([Active(100_000)]);
        assert_eq!(w.checkpoint_value(100_000), 100_000);
        w.update([Finished]);
        w.written(240_000);
        let lateness = example_job().window.allowed_lateness_ms;
        assert_eq!(w.checkpoint_value(WATERMARK_END), 240_000 + lateness);
        let resumed = JobWatermark::new(
            example_job().window,
            Some(w.checkpoint_value(WATERMARK_END)),
        );
        assert_eq!(resumed.current(), 240_000 + lateness);
    }

    #[test]
    fn a_checkpoint_keeps_the_watermark_its_barrier_closed_not_the_acks_reports() {
        // The barrier closed windows at 60 s; the acks report 90 s (events read since). Right
        // after the checkpoint a worker that was idle judged lateness against 60 s, so a
        // restore must too, or an event on time without a failure is late with one.
        let mut w = job_watermark();
        w.update([Active(60_000)]);
        w.update([Active(90_000), Idle(70_000)]);
        assert_eq!(w.checkpoint_value(60_000), 60_000);
    }
}
