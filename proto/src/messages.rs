//! The messages between the coordinator and workers: plain data, the same in one process and
//! over gRPC.

use std::collections::BTreeMap;
use std::sync::Arc;

use floe_common::checkpoint::{CheckpointRef, TableFiles};
use floe_common::config::JobSpec;
use floe_common::table_target::TableTarget;
use floe_common::watermark::LocalWatermark;
use floe_common::window::{ClosedWindow, OperatorStats, PartitionProgress};

/// Coordinator → worker: take checkpoint `checkpoint_id` now, as part of `epoch` (the
/// coordinator's term as owner of the job: state objects are written under it), closing the
/// windows the job's watermark `watermark_ms` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    pub checkpoint_id: u64,
    pub epoch: u64,
    pub watermark_ms: i64,
}

impl Barrier {
    pub fn at(&self) -> CheckpointRef {
        CheckpointRef {
            id: self.checkpoint_id,
            epoch: self.epoch,
        }
    }
}

/// Worker → coordinator: the worker's state for the checkpoint is durable, and this is
/// everything it produced since the previous one.
#[derive(Debug, Clone)]
pub struct CheckpointAck {
    pub worker_id: String,
    pub checkpoint_id: u64,
    pub epoch: u64,
    /// The partitions whose state is in this worker's object of the checkpoint.
    pub partitions: Vec<i32>,
    /// Partial aggregates, merged with other workers' by the committer.
    pub closed_windows: Vec<ClosedWindow>,
    /// Uncommitted data files the worker wrote for its row-per-record outputs (late events,
    /// dead letters), one entry per table with rows.
    pub files: Vec<TableFiles>,
    pub watermark: LocalWatermark,
    /// Counters of the worker's partitions since the job's start.
    pub stats: OperatorStats,
    /// True when every assigned partition of a bounded read has been fully processed.
    pub input_finished: bool,
    /// Size of the worker's state object of this checkpoint.
    pub state_bytes: u64,
}

/// Coordinator → worker: run these partitions of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub job: Arc<JobSpec>,
    /// Where the job's checkpoints are (the `[checkpoint] store` location).
    pub checkpoint_store: String,
    /// The coordinator's epoch: a worker obeys no older one after this.
    pub epoch: u64,
    pub worker_id: String,
    pub partitions: Vec<i32>,
    /// The checkpoint to restore state from, if any.
    pub restore: Option<RestorePoint>,
    /// Read each partition only up to its end offset at start (a bounded run).
    pub bounded: bool,
    /// The tables the worker writes data files for (late events, dead letters).
    pub tables: Vec<TableTarget>,
}

/// Coordinator → worker: add these partitions to the work assigned at `epoch` (a rescale
/// hands them over from other workers), each restored from the checkpoint's holder of it.
#[derive(Debug, Clone, PartialEq)]
pub struct AddPartitions {
    pub epoch: u64,
    pub partitions: Vec<i32>,
    /// The checkpoint the partitions' state comes from (`None`: the job has none yet).
    pub restore: Option<RestorePoint>,
}

/// Where an assignment's state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePoint {
    pub at: CheckpointRef,
    /// The worker whose state object holds each partition; a partition missing here is new to
    /// the job and read from its first offset.
    pub holders: BTreeMap<i32, String>,
    /// Checkpoints written before partitions could move name no holders: every one of these
    /// objects may hold any partition.
    pub legacy_workers: Vec<String>,
    /// The job's watermark kept by the checkpoint (`None` in old checkpoints: their objects
    /// keep it).
    pub watermark_ms: Option<i64>,
}

/// A worker's live numbers, for progress views, metrics and the job's watermark.
#[derive(Debug, Clone)]
pub struct WorkerStatus {
    pub stats: OperatorStats,
    pub watermark: LocalWatermark,
    /// The smallest job watermark at which one of the worker's open windows closes.
    pub next_close_ms: Option<i64>,
    pub open_windows: usize,
    pub open_entries: usize,
    /// True when every assigned partition of a bounded read has been fully processed.
    pub input_finished: bool,
    /// Source offsets jumped over because a position was gone (`on_offset_out_of_range`).
    pub offsets_skipped: u64,
    /// The readers are held back until the next checkpoint takes the pending output.
    pub backpressured: bool,
    /// Why the worker cannot go on (a reader failed), once it cannot.
    pub failure: Option<String>,
    /// Where each of its partitions is.
    pub partitions: Vec<PartitionProgress>,
    /// Bytes of record values this worker's process has read since it started.
    pub bytes_read: u64,
}
