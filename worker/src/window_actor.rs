//! `WindowActor`: owns one job's window state and source positions on this worker.
//!
//! Because positions advance in the same place the state changes, a snapshot taken between two
//! messages is always consistent: no barrier alignment across readers is needed.
//!
//! Backpressure: while the output waiting for the next checkpoint (late events, dead letters,
//! an append job's records) is over its budget, the actor keeps the credits of the batches it processes
//! instead of returning them, so the readers stop; the next barrier takes the output and gives
//! the credits back. A checkpoint that hangs (a stalled store or catalog) therefore stops the
//! readers instead of letting memory grow.
//!
//! The window actor supervises the readers: a reader that fails (an error that cannot heal, a
//! panic) makes every later status and barrier answer with that failure, which fails the job.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floe_common::decode::DecodedBatch;
use floe_common::window::WindowOperator;
use floe_proto::{Barrier, CheckpointAck, WorkerStatus};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::OwnedSemaphorePermit;

use crate::barrier::{take_barrier, BarrierTaker};
use crate::uploader::UploadMsg;
use floe_common::clock::now_ms;
use floe_source::batch_pool::BatchPool;

/// Messages of the window actor.
pub enum WindowMsg {
    /// A decoded batch; the permit returns a credit to the readers once processed.
    Batch(Box<DecodedBatch>, Option<OwnedSemaphorePermit>),
    /// A bounded partition has been read to its end.
    PartitionFinished(i32),
    /// A reader starts reading a partition it held back until now (a file split waiting its
    /// turn), from this offset: from now on it holds the watermark back.
    PartitionOpened(i32, i64),
    /// The reader went on from another offset: the partition's position was gone.
    Reposition(i32, i64),
    /// Take a checkpoint; the reply comes once the state is durable.
    Barrier(Barrier, RpcReplyPort<Result<CheckpointAck, String>>),
    Status(RpcReplyPort<WorkerStatus>),
    /// These partitions are no longer read (a rescale moves them): their state goes into the
    /// next checkpoint, as every partition's does, and leaves this worker after it.
    Leave(Vec<i32>),
    /// Partitions moved here, restored from a checkpoint: their state joins this worker's
    /// before their readers start.
    Absorb(Box<WindowOperator>, Vec<i32>, RpcReplyPort<()>),
}

/// Start-up arguments.
pub struct WindowArgs {
    pub worker_id: String,
    pub operator: WindowOperator,
    pub partitions: Vec<i32>,
    pub uploader: ActorRef<UploadMsg>,
    pub pool: BatchPool,
    /// Offsets the readers jumped over (shown in the status).
    pub skipped: Arc<AtomicU64>,
    /// Output bytes waiting for a checkpoint above which the readers are held back.
    pub max_pending_bytes: usize,
    /// Record bytes read by this process's workers.
    pub bytes_read: Arc<AtomicU64>,
}

/// The actor's state.
pub struct WindowState {
    worker_id: String,
    operator: WindowOperator,
    partitions: Vec<i32>,
    finished: BTreeSet<i32>,
    uploader: ActorRef<UploadMsg>,
    pool: BatchPool,
    skipped: Arc<AtomicU64>,
    max_pending_bytes: usize,
    /// Credits kept back while the pending output is over budget.
    held: Vec<OwnedSemaphorePermit>,
    /// Why a reader stopped, once one has failed.
    failure: Option<String>,
    bytes_read: Arc<AtomicU64>,
    /// Partitions no longer read, whose state leaves after the next barrier.
    leaving: Vec<i32>,
}

impl WindowState {
    fn input_finished(&self) -> bool {
        self.partitions.iter().all(|p| self.finished.contains(p))
    }
}

/// Aggregates batches into windows; closes them and snapshots on barriers.
pub struct WindowActor;

impl Actor for WindowActor {
    type Msg = WindowMsg;
    type State = WindowState;
    type Arguments = WindowArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<WindowMsg>,
        args: WindowArgs,
    ) -> Result<WindowState, ActorProcessingErr> {
        Ok(WindowState {
            worker_id: args.worker_id,
            operator: args.operator,
            partitions: args.partitions,
            finished: BTreeSet::new(),
            uploader: args.uploader,
            pool: args.pool,
            skipped: args.skipped,
            max_pending_bytes: args.max_pending_bytes,
            held: Vec::new(),
            failure: None,
            bytes_read: args.bytes_read,
            leaving: Vec::new(),
        })
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<WindowMsg>,
        event: SupervisionEvent,
        state: &mut WindowState,
    ) -> Result<(), ActorProcessingErr> {
        // A reader stopping normally (the worker is shutting down) is no failure.
        if let SupervisionEvent::ActorFailed(who, error) = event {
            let why = format!("reader {} failed: {error}", who.get_id());
            tracing::error!(reason = %why, "a reader stopped");
            state.failure.get_or_insert(why);
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<WindowMsg>,
        msg: WindowMsg,
        state: &mut WindowState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WindowMsg::Batch(batch, permit) => {
                state.bytes_read.fetch_add(batch.bytes, Ordering::Relaxed);
                state.operator.apply(&batch, now_ms());
                state.pool.give(batch);
                if state.operator.pending_output_bytes() >= state.max_pending_bytes {
                    if state.held.is_empty() {
                        // The readers stop: records may pile up unseen.
                        state.operator.forget_caught_up();
                    }
                    state.held.extend(permit);
                }
            }
            WindowMsg::PartitionFinished(p) => {
                state.operator.finish_partition(p);
                state.finished.insert(p);
            }
            WindowMsg::Reposition(p, offset) => state.operator.set_position(p, offset),
            WindowMsg::PartitionOpened(p, offset) => {
                state.operator.assign(p, now_ms());
                state.operator.set_position(p, offset);
            }
            WindowMsg::Barrier(_, reply) if state.failure.is_some() => {
                let _ = reply.send(Err(state.failure.clone().unwrap_or_default()));
            }
            WindowMsg::Barrier(barrier, reply) => {
                let taker = BarrierTaker {
                    worker_id: &state.worker_id,
                    partitions: &state.partitions,
                    input_finished: state.input_finished(),
                    now_ms: now_ms(),
                };
                let taken = take_barrier(&mut state.operator, &barrier, &taker);
                // The output that held the readers back leaves with this checkpoint.
                state.held.clear();
                match taken {
                    Ok(output) => state.uploader.send_message(UploadMsg { output, reply })?,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                // Their state is in this checkpoint: from here on it is the new holder's.
                let leaving = std::mem::take(&mut state.leaving);
                state.operator.remove_partitions(&leaving);
                state.partitions.retain(|p| !leaving.contains(p));
                state.finished.retain(|p| !leaving.contains(p));
            }
            WindowMsg::Leave(partitions) => state.leaving.extend(partitions),
            WindowMsg::Absorb(moved_in, partitions, reply) => {
                state.operator.absorb(*moved_in, now_ms());
                state.partitions.extend(partitions);
                state.partitions.sort_unstable();
                let _ = reply.send(());
            }
            WindowMsg::Status(reply) => {
                let (open_windows, open_entries) = state.operator.open_state();
                let _ = reply.send(WorkerStatus {
                    stats: state.operator.stats(),
                    watermark: state.operator.local_watermark(now_ms()),
                    next_close_ms: state.operator.next_close_ms(),
                    open_windows,
                    open_entries,
                    input_finished: state.input_finished(),
                    offsets_skipped: state.skipped.load(Ordering::Relaxed),
                    backpressured: !state.held.is_empty(),
                    partitions: state.operator.partition_progress(),
                    failure: state.failure.clone(),
                    bytes_read: state.bytes_read.load(Ordering::Relaxed),
                });
            }
        }
        Ok(())
    }
}
