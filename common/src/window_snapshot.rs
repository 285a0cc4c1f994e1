//! A window operator's state in a checkpoint, per partition, and the operator rebuilt from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OperatorStats, PartitionWindows, WindowOperator};
use crate::aggregate::{Acc, AggregateSpec};
use crate::config::WindowSpec;
use crate::first_seen::FirstSeen;
use crate::keyed_accs::KeyedAccs;
use crate::session::{OpenSessions, SessionSnapshot};

impl WindowOperator {
    /// The state to checkpoint, per partition: position, event-time progress, open windows
    /// and counters.
    pub fn snapshot(&self) -> OperatorSnapshot {
        OperatorSnapshot {
            partitions: self
                .partitions
                .iter()
                .map(|(p, s)| PartitionSnapshot {
                    partition: *p,
                    next_offset: s.next_offset,
                    max_event_ms: self.watermarks.max_event(*p),
                    windows: s
                        .slices
                        .iter()
                        .map(|(start, keys)| {
                            let sorted = keys.sorted();
                            WindowSnapshot {
                                start_ms: *start,
                                keys: sorted.iter().map(|(k, _)| k.to_string()).collect(),
                                accs: sorted.iter().flat_map(|(_, a)| a.iter()).collect(),
                            }
                        })
                        .collect(),
                    sessions: s.sessions.snapshot(),
                    first_seen: s.first_seen.snapshot(),
                    stats: s.stats,
                })
                .collect(),
        }
    }

    /// Rebuilds the operator from partition snapshots (of any workers), with the job's
    /// watermark from the checkpoint as the floor of lateness.
    pub fn restore(
        window: WindowSpec,
        aggregates: &[AggregateSpec],
        partitions: Vec<PartitionSnapshot>,
        job_watermark: i64,
        now_ms: u64,
    ) -> Result<Self, String> {
        let mut op = Self::new(window, aggregates);
        let n_aggs = op.template.len();
        op.watermarks.restore_global(job_watermark);
        for p in partitions {
            let mut state = PartitionWindows {
                slices: BTreeMap::new(),
                sessions: OpenSessions::restore(p.sessions, n_aggs)
                    .map_err(|e| format!("partition {}: {e}", p.partition))?,
                first_seen: FirstSeen::restore(p.first_seen),
                emitted_until: job_watermark,
                next_offset: p.next_offset,
                stats: p.stats,
            };
            for w in p.windows {
                if w.accs.len() != w.keys.len() * n_aggs {
                    return Err(format!(
                        "partition {} window {}: {} accumulators for {} keys × {} aggregates",
                        p.partition,
                        w.start_ms,
                        w.accs.len(),
                        w.keys.len(),
                        n_aggs
                    ));
                }
                let mut keyed = KeyedAccs::new(&op.template);
                for (i, key) in w.keys.iter().enumerate() {
                    keyed.merge_row(key, w.accs[i * n_aggs..(i + 1) * n_aggs].iter().copied());
                }
                state.slices.insert(w.start_ms, keyed);
            }
            op.watermarks.assign(p.partition, p.max_event_ms, now_ms);
            op.partitions.insert(p.partition, state);
        }
        Ok(op)
    }
}

/// One slice's state in a checkpoint (a tumbling window's slice is the window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    /// The slice's start.
    pub start_ms: i64,
    pub keys: Vec<String>,
    /// `keys.len() × n_aggregates` accumulators, key-major.
    pub accs: Vec<Acc>,
}

/// One partition's state in a checkpoint: what moves with the partition on a rebalance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    pub partition: i32,
    pub next_offset: Option<i64>,
    pub max_event_ms: Option<i64>,
    pub windows: Vec<WindowSnapshot>,
    /// A session job's open sessions (its `windows` are empty).
    pub sessions: Vec<SessionSnapshot>,
    /// A deduplicating append job's keys, with their first record's event time.
    pub first_seen: Vec<(String, i64)>,
    pub stats: OperatorStats,
}

/// A worker's operator state in a checkpoint: the state of each partition it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    pub partitions: Vec<PartitionSnapshot>,
}
