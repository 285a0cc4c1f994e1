//! The job's watermark: the one value that closes windows on every worker at the same
//! checkpoint, so that the partials of a (window, key) spread over several workers become one
//! row.
//!
//! It is the minimum over the workers' watermarks, leaving out workers whose partitions are all
//! idle; it never moves back, and stays where it is while every worker is idle. It reaches the
//! end of time only when every worker's input is finished (bounded reads).

use crate::config::WindowSpec;
use crate::watermark::{LocalWatermark, WATERMARK_END, WATERMARK_START};

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
        let mut active_min: Option<i64> = None;
        let mut all_finished = true;
        let mut any = false;
        for report in reports {
            any = true;
            match report {
                LocalWatermark::Active(w) => {
                    all_finished = false;
                    active_min = Some(active_min.map_or(w, |m| m.min(w)));
                }
                LocalWatermark::Idle => all_finished = false,
                LocalWatermark::Finished => {}
            }
        }
        if any && all_finished {
            self.current = WATERMARK_END;
        } else if let Some(w) = active_min {
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

    /// The watermark a checkpoint keeps. At the end of a bounded input the live value is the end
    /// of time (every window closes); a job that goes on streaming from the checkpoint resumes
    /// at its real event-time progress instead, raised so that every window already written
    /// counts as closed (its later events are late, never a second row).
    pub fn checkpoint_value(&self) -> i64 {
        if self.current != WATERMARK_END {
            return self.current;
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
    use LocalWatermark::*;

    fn job_watermark() -> JobWatermark {
        JobWatermark::new(example_job().window, None)
    }

    #[test]
    fn is_the_minimum_over_active_workers_and_never_moves_back() {
        let mut w = job_watermark();
        assert_eq!(w.update([Active(50), Active(30), Idle]), 30);
        assert_eq!(w.update([Active(50), Active(20)]), 30, "never back");
        assert_eq!(w.update([Idle, Idle]), 30, "all idle: stays");
        assert_eq!(w.update([Active(70), Finished]), 70);
        assert_eq!(w.update([]), 70, "no workers: stays");
    }

    #[test]
    fn reaches_the_end_only_when_every_worker_is_finished() {
        let mut w = job_watermark();
        w.update([Active(120_000)]);
        assert_eq!(w.update([Finished, Idle]), 120_000);
        assert_eq!(w.update([Finished, Finished]), WATERMARK_END);
        assert!(w.closes(i64::MAX - 1));
    }

    #[test]
    fn a_checkpoint_keeps_real_progress_raised_over_every_written_window() {
        let mut w = job_watermark();
        w.update([Active(100_000)]);
        assert_eq!(w.checkpoint_value(), 100_000);
        w.update([Finished]);
        w.written(240_000);
        let lateness = example_job().window.allowed_lateness_ms;
        assert_eq!(w.checkpoint_value(), 240_000 + lateness);
        let resumed = JobWatermark::new(example_job().window, Some(w.checkpoint_value()));
        assert_eq!(resumed.current(), 240_000 + lateness);
    }
}
