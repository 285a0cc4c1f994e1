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
use crate::table_metrics::TableMetrics;

/// `job_name`, as Flink names it: Prometheus gives `job` to the scrape target.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    job_name: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LateLabels {
    job_name: String,
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
    quarantined: Family<JobLabel, Gauge>,
    open_keys: Family<JobLabel, Gauge>,
    last_checkpoint: Family<JobLabel, Gauge>,
    committed_window_end: Family<JobLabel, FloatGauge>,
    checkpoint_duration: Family<JobLabel, Histogram>,
    watermark_delay: Family<JobLabel, FloatGauge>,
    partition_events: Family<PartitionLabels, Counter>,
    consumer_lag: Family<PartitionLabels, Gauge>,
    partition_watermark: Family<PartitionLabels, FloatGauge>,
    rebalances: Family<JobLabel, Counter>,
    restarts: Family<JobLabel, Counter>,
    leader: Gauge,
    leadership_acquired: Counter,
    state_bytes: Family<JobLabel, Gauge>,
    commit_duration: Family<JobLabel, Histogram>,
    commit_retries: Family<JobLabel, Counter>,
    tables: TableMetrics,
    /// The totals already turned into counter increments, per job.
    seen: Mutex<HashMap<String, Seen>>,
}

/// Moves `counter` up to a total `now` the job reports, from the highest total `seen` before:
/// totals never go down within a process, and a stale snapshot adds nothing.
fn follow(counter: &Counter, now: u64, seen: &mut u64) {
    counter.inc_by(now.saturating_sub(*seen));
    *seen = (*seen).max(now);
}

/// What a job's counters have been increased to, so increments are deltas.
#[derive(Default)]
struct Seen {
    progress: JobProgress,
    partition_events: HashMap<i32, u64>,
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
        let mut registry = Registry::with_prefix("floe");
        let tables = TableMetrics::register(&mut registry);
        let mut m = Self {
            registry,
            events: Family::default(),
            late: Family::default(),
            dead_letters: Family::default(),
            offsets_skipped: Family::default(),
            checkpoints: Family::default(),
            rows: Family::default(),
            watermark: Family::default(),
            open_windows: Family::default(),
            quarantined: Family::default(),
            open_keys: Family::default(),
            last_checkpoint: Family::default(),
            committed_window_end: Family::default(),
            checkpoint_duration: Family::new_with_constructor(checkpoint_histogram),
            watermark_delay: Family::default(),
            partition_events: Family::default(),
            consumer_lag: Family::default(),
            partition_watermark: Family::default(),
            rebalances: Family::default(),
            restarts: Family::default(),
            leader: Gauge::default(),
            leadership_acquired: Counter::default(),
            state_bytes: Family::default(),
            commit_duration: Family::new_with_constructor(checkpoint_histogram),
            commit_retries: Family::default(),
            tables,
            seen: Mutex::new(HashMap::new()),
        };
        m.registry.register(
            "watermark_delay_seconds",
            "How far the job's watermark is behind the wall clock",
            m.watermark_delay.clone(),
        );
        m.registry.register(
            "partition_events",
            "Records read and decoded, per source partition",
            m.partition_events.clone(),
        );
        m.registry.register(
            "consumer_lag",
            "Records between a partition's read position and its end (Kafka's high watermark)",
            m.consumer_lag.clone(),
        );
        m.registry.register(
            "partition_watermark_seconds",
            "A partition's own event-time watermark (Unix time)",
            m.partition_watermark.clone(),
        );
        m.registry.register(
            "rebalances",
            "Assignments of the job's partitions to workers (start, scale, failure)",
            m.rebalances.clone(),
        );
        m.registry.register(
            "job_restarts",
            "Restarts from the last complete checkpoint after a failure",
            m.restarts.clone(),
        );
        m.registry.register(
            "checkpoint_state_bytes",
            "Size of the newest checkpoint's state objects, all workers together",
            m.state_bytes.clone(),
        );
        m.registry.register(
            "commit_duration_seconds",
            "Time to commit one checkpoint's files to every table (retries included)",
            m.commit_duration.clone(),
        );
        m.registry.register(
            "commit_retries",
            "Table commits tried again after a failure (catalog errors, lost answers, conflicts)",
            m.commit_retries.clone(),
        );
        m.registry.register(
            "leader",
            "1 while this coordinator leads the cluster",
            m.leader.clone(),
        );
        m.registry.register(
            "leadership_acquired",
            "Times this coordinator became the leader",
            m.leadership_acquired.clone(),
        );
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
            "quarantined_members",
            "Workers set aside after failing their assignment or barriers again and again",
            m.quarantined.clone(),
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
        let label = JobLabel {
            job_name: job.into(),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.entry(job.to_owned()).or_default();
        self.observe_partitions(job, p, &mut seen.partition_events);
        self.tables.observe(job, &p.tables);
        let before = &mut seen.progress;
        let late = |outcome: &str| LateLabels {
            job_name: job.into(),
            outcome: outcome.into(),
        };
        follow(
            &self.events.get_or_create(&label),
            p.events,
            &mut before.events,
        );
        follow(
            &self.late.get_or_create(&late("accepted")),
            p.late_accepted,
            &mut before.late_accepted,
        );
        follow(
            &self.late.get_or_create(&late("rejected")),
            p.late_rejected,
            &mut before.late_rejected,
        );
        follow(
            &self.dead_letters.get_or_create(&label),
            p.dead_letters,
            &mut before.dead_letters,
        );
        follow(
            &self.offsets_skipped.get_or_create(&label),
            p.offsets_skipped,
            &mut before.offsets_skipped,
        );
        follow(
            &self.checkpoints.get_or_create(&label),
            p.checkpoints_committed,
            &mut before.checkpoints_committed,
        );
        follow(
            &self.rows.get_or_create(&label),
            p.rows_committed,
            &mut before.rows_committed,
        );
        follow(
            &self.restarts.get_or_create(&label),
            p.restarts,
            &mut before.restarts,
        );
        follow(
            &self.commit_retries.get_or_create(&label),
            p.commit_retries,
            &mut before.commit_retries,
        );
        // Watermarks only move forward; a stale snapshot must not move the gauge back.
        let watermark = self.watermark.get_or_create(&label);
        if p.watermark_ms > i64::MIN && p.watermark_ms as f64 / 1000.0 > watermark.get() {
            watermark.set(p.watermark_ms as f64 / 1000.0);
        }
        if p.watermark_ms > i64::MIN && p.watermark_ms < i64::MAX {
            let behind = floe_common::clock::wall_clock_ms().saturating_sub(p.watermark_ms);
            self.watermark_delay
                .get_or_create(&label)
                .set(behind.max(0) as f64 / 1000.0);
        }
        if !p.assignment.is_empty() && p.assignment != before.assignment {
            self.rebalances.get_or_create(&label).inc();
            before.assignment = p.assignment.clone();
        }
        self.open_windows
            .get_or_create(&label)
            .set(p.open_windows as i64);
        self.quarantined
            .get_or_create(&label)
            .set(p.quarantined.len() as i64);
        self.open_keys
            .get_or_create(&label)
            .set(p.open_entries as i64);
        self.last_checkpoint
            .get_or_create(&label)
            .set(p.last_checkpoint_id as i64);
    }

    /// Per-partition figures: events by delta (a partition's count moves with it between
    /// workers and may go back to a checkpoint's), lag and watermark as they are.
    fn observe_partitions(&self, job: &str, p: &JobProgress, seen: &mut HashMap<i32, u64>) {
        for part in &p.partitions {
            let label = PartitionLabels {
                job_name: job.into(),
                partition: part.progress.partition,
            };
            follow(
                &self.partition_events.get_or_create(&label),
                part.progress.events,
                seen.entry(part.progress.partition).or_default(),
            );
            if let Some(lag) = part.lag {
                self.consumer_lag.get_or_create(&label).set(lag);
            }
            if let Some(w) = part.progress.watermark_ms {
                self.partition_watermark
                    .get_or_create(&label)
                    .set(w as f64 / 1000.0);
            }
        }
    }

    /// Whether this process leads the cluster now.
    pub fn observe_leadership(&self, leading: bool) {
        if leading && self.leader.get() == 0 {
            self.leadership_acquired.inc();
        }
        self.leader.set(i64::from(leading));
    }

    /// Takes one committed checkpoint.
    pub fn observe_commit(&self, job: &str, n: &CommitNotice) {
        let label = JobLabel {
            job_name: job.into(),
        };
        self.checkpoint_duration
            .get_or_create(&label)
            .observe(n.duration.as_secs_f64());
        self.commit_duration
            .get_or_create(&label)
            .observe(n.commit_duration.as_secs_f64());
        self.state_bytes
            .get_or_create(&label)
            .set(i64::try_from(n.state_bytes).unwrap_or(i64::MAX));
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
            Some(r#"floe_events_total{job_name="gold"} 250"#)
        );
        assert!(text.contains(r#"floe_late_events_total{job_name="gold",outcome="rejected"} 3"#));
        assert!(text.contains(r#"floe_late_events_total{job_name="gold",outcome="accepted"} 2"#));
        assert!(text.contains(r#"floe_dead_letters_total{job_name="gold"} 1"#));
        assert!(text.contains(r#"floe_rows_committed_total{job_name="gold"} 30"#));
        assert!(text.contains(r#"floe_checkpoints_committed_total{job_name="gold"} 1"#));
        assert!(text.contains(r#"floe_watermark_seconds{job_name="gold"} 1767225660.0"#));
        assert!(text.contains(r#"floe_open_window_keys{job_name="gold"} 0"#));
        assert!(text.contains(r#"floe_quarantined_members{job_name="gold"} 0"#));
    }

    #[test]
    fn partitions_lag_rebalances_restarts_and_leadership() {
        use crate::job::PartitionStatus;
        use floe_common::window::PartitionProgress;
        let m = JobMetrics::new();
        let part = |partition, events, next: i64, end| {
            PartitionStatus::new(
                PartitionProgress {
                    partition,
                    next_offset: Some(next),
                    watermark_ms: Some(1_767_225_600_000),
                    events,
                },
                Some(end),
            )
        };
        let mut p = JobProgress {
            assignment: [("w1".to_owned(), vec![0, 1])].into(),
            partitions: vec![part(0, 10, 10, 25), part(1, 4, 4, 4)],
            ..Default::default()
        };
        m.observe_progress("gold", &p);
        // The same assignment is no rebalance; partition 0 moved back to a checkpoint's count.
        p.partitions = vec![part(0, 8, 8, 30), part(1, 9, 9, 9)];
        m.observe_progress("gold", &p);
        p.assignment = [("w1".to_owned(), vec![0]), ("w2".to_owned(), vec![1])].into();
        p.restarts = 1;
        m.observe_progress("gold", &p);
        m.observe_leadership(false);
        m.observe_leadership(true);
        m.observe_leadership(true);
        let text = m.encode();
        assert!(text.contains(r#"floe_partition_events_total{job_name="gold",partition="0"} 10"#));
        assert!(text.contains(r#"floe_partition_events_total{job_name="gold",partition="1"} 9"#));
        assert!(text.contains(r#"floe_consumer_lag{job_name="gold",partition="0"} 22"#));
        assert!(text.contains(
            r#"floe_partition_watermark_seconds{job_name="gold",partition="1"} 1767225600.0"#
        ));
        assert!(
            text.contains(r#"floe_rebalances_total{job_name="gold"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"floe_job_restarts_total{job_name="gold"} 1"#));
        assert!(text.contains("floe_leader 1"));
        assert!(text.contains("floe_leadership_acquired_total 1"));
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
            commit_duration: Duration::ZERO,
            state_bytes: 0,
        };
        m.observe_commit("gold", &notice(1_767_225_720_000, 120));
        m.observe_commit("gold", &notice(1_767_225_660_000, 30));
        let text = m.encode();
        assert!(text.contains(r#"floe_checkpoint_duration_seconds_count{job_name="gold"} 2"#));
        assert!(text.contains(r#"floe_committed_window_end_seconds{job_name="gold"} 1767225720.0"#));
    }
}
