//! `StatusHistory`: the last minutes of a job's progress, one sample a second, for the live
//! plots of the admin page (`/history`).

use std::collections::VecDeque;

use floe_coordinator::job::JobProgress;
use serde::Serialize;

/// How many samples are kept: ten minutes at one a second.
const KEEP: usize = 600;

/// One second of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at_ms: i64,
    /// Events read so far (throughput is the slope).
    pub events: u64,
    /// Records behind the source's end, summed over partitions (`None`: no end known).
    pub lag: Option<i64>,
    /// Wall clock minus the job's watermark (`None`: no watermark yet, or the end of input).
    pub watermark_delay_s: Option<f64>,
    /// Barrier to last commit of the newest checkpoint.
    pub checkpoint_ms: Option<u64>,
}

impl Sample {
    pub fn of(progress: &JobProgress, at_ms: i64) -> Self {
        let lags: Vec<i64> = progress.partitions.iter().filter_map(|p| p.lag).collect();
        let w = progress.watermark_ms;
        Self {
            at_ms,
            events: progress.events,
            lag: (!lags.is_empty()).then(|| lags.iter().sum()),
            watermark_delay_s: (w > i64::MIN && w < i64::MAX)
                .then(|| at_ms.saturating_sub(w) as f64 / 1000.0),
            checkpoint_ms: progress.recent_commits.back().map(|c| c.duration_ms),
        }
    }
}

/// The samples of the last minutes, oldest first.
#[derive(Debug, Default)]
pub struct StatusHistory {
    samples: VecDeque<Sample>,
}

impl StatusHistory {
    pub fn push(&mut self, sample: Sample) {
        self.samples.push_back(sample);
        while self.samples.len() > KEEP {
            self.samples.pop_front();
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.samples).unwrap_or_else(|_| "[]".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::window::PartitionProgress;
    use floe_coordinator::job::PartitionStatus;

    #[test]
    fn a_sample_sums_lag_and_measures_the_watermark_delay() {
        let part = |partition, next, end| {
            PartitionStatus::new(
                PartitionProgress {
                    partition,
                    next_offset: Some(next),
                    watermark_ms: None,
                    events: 0,
                },
                end,
            )
        };
        let progress = JobProgress {
            events: 42,
            watermark_ms: 10_000,
            partitions: vec![part(0, 5, Some(10)), part(1, 3, Some(4)), part(2, 1, None)],
            ..Default::default()
        };
        let s = Sample::of(&progress, 12_500);
        assert_eq!(s.lag, Some(6));
        assert_eq!(s.watermark_delay_s, Some(2.5));
        assert_eq!(s.checkpoint_ms, None);
        let idle = Sample::of(&JobProgress::default(), 1);
        assert_eq!((idle.lag, idle.watermark_delay_s), (None, None));

        let mut h = StatusHistory::default();
        for at in 0..(KEEP as i64 + 5) {
            h.push(Sample::of(&progress, at));
        }
        assert_eq!(h.samples.len(), KEEP);
        assert_eq!(h.samples.front().map(|s| s.at_ms), Some(5));
    }
}
