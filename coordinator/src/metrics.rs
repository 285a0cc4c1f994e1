//! `JobMetrics`: the Prometheus metrics of the jobs this process runs.
//!
//! Fed from what the job loop already publishes (its [`JobProgress`] and [`CommitNotice`]s), so
//! the engine's hot path never touches a metric. Counters follow the job's cumulative totals by
//! delta; the names follow Prometheus conventions (`_total`, `_seconds`).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::job::{CommitNotice, JobProgress};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LateLabels {
    job: String,
    /// `accepted`: within allowed lateness, counted in its window; `rejected`: written to the
    /// late-events table.
    outcome: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The registry and metric families of every job of this process.
pub struct JobMetrics {
    registry: Registry,
    events: Family<JobLabel, Counter>,
    late: Family<LateLabels, Counter>,
    dead_letters: Family<JobLabel, Counter>,
    offsets_skipped: Family<JobLabel, Counter>,
    checkpoints: Family<JobLabel, Counter>,
    rows: Family<JobLabel, Counter>,
    watermark: Family<JobLabel, FloatGauge>,
    open_windows: Family<JobLabel, Gauge>,
    open_keys: Family<JobLabel, Gauge>,
    last_checkpoint: Family<JobLabel, Gauge>,
    committed_window_end: Family<JobLabel, FloatGauge>,
    checkpoint_duration: Family<JobLabel, Histogram>,
    /// The totals already turned into counter increments, per job.
    seen: Mutex<HashMap<String, JobProgress>>,
}

fn checkpoint_histogram() -> Histogram {
    // 10 ms … ~41 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl JobMetrics {
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("floe"),
            events: Family::default(),
            late: Family::default(),
            dead_letters: Family::default(),
            offsets_skipped: Family::default(),
            checkpoints: Family::default(),
            rows: Family::default(),
            watermark: Family::default(),
            open_windows: Family::default(),
            open_keys: Family::default(),
            last_checkpoint: Family::default(),
            committed_window_end: Family::default(),
            checkpoint_duration: Family::new_with_constructor(checkpoint_histogram),
            seen: Mutex::new(HashMap::new()),
        };
        m.registry.register(
            "events",
            "Records read and decoded, late ones included",
            m.events.clone(),
        );
        m.registry.register(
            "late_events",
            "Events behind the watermark, by outcome (accepted within allowed lateness, or rejected to the late-events table)",
            m.late.clone(),
        );
        m.registry.register(
            "dead_letters",
            "Records that could not be decoded, written to the dead-letter table",
            m.dead_letters.clone(),
        );
        m.registry.register(
            "source_offsets_skipped",
            "Source offsets jumped over because a checkpointed position was gone (source.on_offset_out_of_range)",
            m.offsets_skipped.clone(),
        );
        m.registry.register(
            "checkpoints_committed",
            "Checkpoints committed to the job's Iceberg tables",
            m.checkpoints.clone(),
        );
        m.registry.register(
            "rows_committed",
            "Rows committed to the job's Iceberg tables",
            m.rows.clone(),
        );
        m.registry.register(
            "watermark_seconds",
            "The job's event-time watermark (Unix time)",
            m.watermark.clone(),
        );
        m.registry.register(
            "open_windows",
            "Windows held open in state",
            m.open_windows.clone(),
        );
        m.registry.register(
            "open_window_keys",
            "(window, key) entries held open in state",
            m.open_keys.clone(),
        );
        m.registry.register(
            "last_checkpoint_id",
            "Id of the newest committed checkpoint",
            m.last_checkpoint.clone(),
        );
        m.registry.register(
            "committed_window_end_seconds",
            "End (event time, Unix time) of the newest window whose rows are visible in the table",
            m.committed_window_end.clone(),
        );
        m.registry.register(
            "checkpoint_duration_seconds",
            "Time from a checkpoint's barrier to its last Iceberg commit",
            m.checkpoint_duration.clone(),
        );
        m
    }

    /// Takes a job's latest progress.
    pub fn observe_progress(&self, job: &str, p: &JobProgress) {
        let label = JobLabel { job: job.into() };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let before = seen.entry(job.to_owned()).or_default();
        let late = |outcome: &str| LateLabels {
            job: job.into(),
            outcome: outcome.into(),
        };
        let delta = |now: u64, then: u64| now.saturating_sub(then);
        self.events
            .get_or_create(&label)
            .inc_by(delta(p.events, before.events));
        self.late
            .get_or_create(&late("accepted"))
            .inc_by(delta(p.late_accepted, before.late_accepted));
        self.late
            .get_or_create(&late("rejected"))
            .inc_by(delta(p.late_rejected, before.late_rejected));
        self.dead_letters
            .get_or_create(&label)
            .inc_by(delta(p.dead_letters, before.dead_letters));
        self.offsets_skipped
            .get_or_create(&label)
            .inc_by(delta(p.offsets_skipped, before.offsets_skipped));
        self.checkpoints
            .get_or_create(&label)
            .inc_by(delta(p.checkpoints_committed, before.checkpoints_committed));
        self.rows
            .get_or_create(&label)
            .inc_by(delta(p.rows_committed, before.rows_committed));
        // Watermarks only move forward; a stale snapshot must not move the gauge back.
        let watermark = self.watermark.get_or_create(&label);
        if p.watermark_ms > i64::MIN && p.watermark_ms as f64 / 1000.0 > watermark.get() {
            watermark.set(p.watermark_ms as f64 / 1000.0);
        }
        self.open_windows
            .get_or_create(&label)
            .set(p.open_windows as i64);
        self.open_keys
            .get_or_create(&label)
            .set(p.open_entries as i64);
        self.last_checkpoint
            .get_or_create(&label)
            .set(p.last_checkpoint_id as i64);
        // Totals never go down within a process; keep the highest seen.
        before.events = before.events.max(p.events);
        before.late_accepted = before.late_accepted.max(p.late_accepted);
        before.late_rejected = before.late_rejected.max(p.late_rejected);
        before.dead_letters = before.dead_letters.max(p.dead_letters);
        before.offsets_skipped = before.offsets_skipped.max(p.offsets_skipped);
        before.checkpoints_committed = before.checkpoints_committed.max(p.checkpoints_committed);
        before.rows_committed = before.rows_committed.max(p.rows_committed);
    }

    /// Takes one committed checkpoint.
    pub fn observe_commit(&self, job: &str, n: &CommitNotice) {
        let label = JobLabel { job: job.into() };
        self.checkpoint_duration
            .get_or_create(&label)
            .observe(n.duration.as_secs_f64());
        if let Some(end) = n.window_ends_ms.last() {
            let gauge = self.committed_window_end.get_or_create(&label);
            let end = *end as f64 / 1000.0;
            if end > gauge.get() {
                gauge.set(end);
            }
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn counters_follow_totals_by_delta_and_never_go_back() {
        let m = JobMetrics::new();
        let mut p = JobProgress {
            events: 100,
            late_accepted: 2,
            late_rejected: 3,
            dead_letters: 1,
            watermark_ms: 1_767_225_660_000,
            open_windows: 2,
            open_entries: 40,
            ..Default::default()
        };
        m.observe_progress("gold", &p);
        p.events = 250;
        p.checkpoints_committed = 1;
        p.last_checkpoint_id = 7;
        p.rows_committed = 30;
        m.observe_progress("gold", &p);
        // A stale snapshot of the totals must not move a counter back or twice.
        m.observe_progress("gold", &JobProgress::default());
        let text = m.encode();
        assert_eq!(
            line(&text, "floe_events_total{"),
            Some(r#"floe_events_total{job="gold"} 250"#)
        );
        assert!(text.contains(r#"floe_late_events_total{job="gold",outcome="rejected"} 3"#));
        assert!(text.contains(r#"floe_late_events_total{job="gold",outcome="accepted"} 2"#));
        assert!(text.contains(r#"floe_dead_letters_total{job="gold"} 1"#));
        assert!(text.contains(r#"floe_rows_committed_total{job="gold"} 30"#));
        assert!(text.contains(r#"floe_checkpoints_committed_total{job="gold"} 1"#));
        assert!(text.contains(r#"floe_watermark_seconds{job="gold"} 1767225660.0"#));
        assert!(text.contains(r#"floe_open_window_keys{job="gold"} 0"#));
    }

    #[test]
    fn commits_feed_the_duration_histogram_and_the_freshness_gauge() {
        let m = JobMetrics::new();
        let notice = |end: i64, ms: u64| CommitNotice {
            checkpoint_id: 1,
            visible_at_ms: 0,
            window_ends_ms: vec![end - 60_000, end],
            rows: 10,
            duration: Duration::from_millis(ms),
        };
        m.observe_commit("gold", &notice(1_767_225_720_000, 120));
        m.observe_commit("gold", &notice(1_767_225_660_000, 30));
        let text = m.encode();
        assert!(text.contains(r#"floe_checkpoint_duration_seconds_count{job="gold"} 2"#));
        assert!(text.contains(r#"floe_committed_window_end_seconds{job="gold"} 1767225720.0"#));
    }
}
