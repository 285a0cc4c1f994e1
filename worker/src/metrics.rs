//! `WorkerMetrics`: what a worker process exports on its admin port, from its own status (the
//! job-wide figures, per partition included, come from the leading coordinator).

use std::sync::atomic::{AtomicU64, Ordering};

use floe_proto::WorkerStatus;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A worker's gauges, refreshed from its status.
pub struct WorkerMetrics {
    registry: Registry,
    partitions: Gauge,
    open_windows: Gauge,
    open_keys: Gauge,
    backpressured: Gauge,
    events: Gauge<u64, AtomicU64>,
    bytes: Counter,
    /// The status's byte count already counted.
    bytes_seen: AtomicU64,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerMetrics {
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("floe_worker"),
            partitions: Gauge::default(),
            open_windows: Gauge::default(),
            open_keys: Gauge::default(),
            backpressured: Gauge::default(),
            events: Gauge::default(),
            bytes: Counter::default(),
            bytes_seen: AtomicU64::new(0),
        };
        m.registry.register(
            "source_bytes",
            "Bytes of record values this worker has read",
            m.bytes.clone(),
        );
        m.registry.register(
            "assigned_partitions",
            "Source partitions this worker reads",
            m.partitions.clone(),
        );
        m.registry.register(
            "open_windows",
            "Windows this worker holds open",
            m.open_windows.clone(),
        );
        m.registry.register(
            "open_window_keys",
            "(window, key) entries this worker holds open",
            m.open_keys.clone(),
        );
        m.registry.register(
            "backpressured",
            "1 while the readers are held back until the next checkpoint takes the pending output",
            m.backpressured.clone(),
        );
        m.registry.register(
            "partition_events",
            "Events of the partitions this worker holds now, since the job started (they move with their partitions)",
            m.events.clone(),
        );
        m
    }

    /// Takes the worker's status; `None` when it runs nothing.
    pub fn observe(&self, status: Option<&WorkerStatus>) {
        let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.partitions
            .set(to_i64(status.map_or(0, |s| s.partitions.len())));
        self.open_windows
            .set(to_i64(status.map_or(0, |s| s.open_windows)));
        self.open_keys
            .set(to_i64(status.map_or(0, |s| s.open_entries)));
        self.backpressured
            .set(i64::from(status.is_some_and(|s| s.backpressured)));
        self.events.set(status.map_or(0, |s| s.stats.events));
        if let Some(s) = status {
            let before = self.bytes_seen.fetch_max(s.bytes_read, Ordering::Relaxed);
            self.bytes.inc_by(s.bytes_read.saturating_sub(before));
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::watermark::LocalWatermark;
    use floe_common::window::{OperatorStats, PartitionProgress};

    #[test]
    fn a_status_becomes_gauges_and_no_work_zeroes_them() {
        let m = WorkerMetrics::new();
        let part = |partition| PartitionProgress {
            partition,
            next_offset: Some(10),
            watermark_ms: None,
            events: 5,
        };
        m.observe(Some(&WorkerStatus {
            stats: OperatorStats {
                events: 10,
                ..OperatorStats::default()
            },
            watermark: LocalWatermark::Idle(0),
            next_close_ms: None,
            open_windows: 2,
            open_entries: 7,
            input_finished: false,
            offsets_skipped: 0,
            backpressured: true,
            failure: None,
            partitions: vec![part(0), part(3)],
            bytes_read: 300,
        }));
        let text = m.encode();
        assert!(text.contains("floe_worker_assigned_partitions 2"), "{text}");
        assert!(text.contains("floe_worker_open_window_keys 7"), "{text}");
        assert!(text.contains("floe_worker_backpressured 1"), "{text}");
        assert!(text.contains("floe_worker_partition_events 10"), "{text}");
        assert!(
            text.contains("floe_worker_source_bytes_total 300"),
            "{text}"
        );
        m.observe(None);
        assert!(m.encode().contains("floe_worker_assigned_partitions 0"));
    }
}
