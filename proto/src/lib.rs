//! The messages between the coordinator and workers.
//!
//! In embedded mode they travel between actors in one process; cluster mode will carry the same
//! messages over gRPC, so everything here is plain data.

use floe_common::checkpoint::CheckpointRef;
use floe_common::records::{DeadLetter, LateEvent};
use floe_common::window::{ClosedWindow, OperatorStats};

/// Coordinator → worker: take checkpoint `checkpoint_id` now, as part of `epoch` (the
/// coordinator's term as owner of the job: state objects are written under it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    pub checkpoint_id: u64,
    pub epoch: u64,
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
    pub closed_windows: Vec<ClosedWindow>,
    pub late_events: Vec<LateEvent>,
    pub dead_letters: Vec<DeadLetter>,
    pub watermark_ms: i64,
    pub stats: OperatorStats,
    /// True when every assigned partition of a bounded read has been fully processed.
    pub input_finished: bool,
}

/// Coordinator → worker: the partitions of a job's topic this worker owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub job: String,
    pub worker_id: String,
    pub partitions: Vec<i32>,
    /// The checkpoint to restore state from, if any.
    pub restore_from: Option<CheckpointRef>,
}

/// A worker's live numbers, for progress views and metrics.
#[derive(Debug, Clone, Default)]
pub struct WorkerStatus {
    pub stats: OperatorStats,
    pub watermark_ms: i64,
    pub open_windows: usize,
    pub open_entries: usize,
    /// True when every assigned partition of a bounded read has been fully processed.
    pub input_finished: bool,
    /// Source offsets jumped over because a position was gone (`on_offset_out_of_range`).
    pub offsets_skipped: u64,
    /// The readers are held back until the next checkpoint takes the pending output.
    pub backpressured: bool,
    /// The watermark has closed a window that waits for a checkpoint to become visible.
    pub window_closed: bool,
    /// Why the worker cannot go on (a reader failed), once it cannot.
    pub failure: Option<String>,
}
