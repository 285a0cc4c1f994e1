//! The operator state of older checkpoint format versions, read into today's.

use serde::Deserialize;

use crate::checkpoint::DecodedState;
use crate::window::{OperatorSnapshot, OperatorStats, PartitionSnapshot, WindowSnapshot};

/// Version 2: a partition's state before sessions.
#[derive(Deserialize)]
pub(crate) struct OperatorSnapshotV2 {
    partitions: Vec<PartitionSnapshotV2>,
}

#[derive(Deserialize)]
struct PartitionSnapshotV2 {
    partition: i32,
    next_offset: Option<i64>,
    max_event_ms: Option<i64>,
    windows: Vec<WindowSnapshot>,
    stats: OperatorStats,
}

impl OperatorSnapshotV2 {
    pub(crate) fn upgrade(self) -> DecodedState {
        let partitions = self
            .partitions
            .into_iter()
            .map(|p| PartitionSnapshot {
                partition: p.partition,
                next_offset: p.next_offset,
                max_event_ms: p.max_event_ms,
                windows: p.windows,
                sessions: Vec::new(),
                first_seen: Vec::new(),
                stats: p.stats,
            })
            .collect();
        DecodedState {
            snapshot: OperatorSnapshot { partitions },
            legacy_watermark: None,
        }
    }
}

/// Version 1: one worker's counters and watermark beside its partitions.
#[derive(Deserialize)]
pub(crate) struct OperatorSnapshotV1 {
    global_watermark: i64,
    stats: OperatorStats,
    partitions: Vec<PartitionSnapshotV1>,
}

#[derive(Deserialize)]
struct PartitionSnapshotV1 {
    partition: i32,
    next_offset: Option<i64>,
    max_event_ms: Option<i64>,
    windows: Vec<WindowSnapshot>,
}

impl OperatorSnapshotV1 {
    /// The worker's counters go to its first partition: the job's totals stay right.
    pub(crate) fn upgrade(self) -> DecodedState {
        let stats = self.stats;
        let partitions = self
            .partitions
            .into_iter()
            .enumerate()
            .map(|(i, p)| PartitionSnapshotV2 {
                partition: p.partition,
                next_offset: p.next_offset,
                max_event_ms: p.max_event_ms,
                windows: p.windows,
                stats: if i == 0 {
                    stats
                } else {
                    OperatorStats::default()
                },
            })
            .collect();
        DecodedState {
            legacy_watermark: Some(self.global_watermark),
            ..OperatorSnapshotV2 { partitions }.upgrade()
        }
    }
}
