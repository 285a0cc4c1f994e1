//! `PartitionReader`: the one reader actor. It reads a range of a job's partitions through its
//! source kind's [`SourceReader`] and hands what it read to the window actor.
//!
//! A bounded semaphore between readers and the window actor is the backpressure: a reader waits
//! for a credit before it reads again, and the credit goes back once its batch is processed.
//! A reader whose source fails with an error that cannot heal stops with it, which fails the
//! job through its supervisor, the window actor.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use floe_source::batch_pool::BatchPool;
use floe_source::reader::{Next, ReadEvent, SourceReader};

use crate::window_actor::WindowMsg;

/// Messages of a reader.
pub enum ReaderMsg {
    /// Read the next batch (a reader sends it itself).
    Read,
    /// Stop reading these partitions; the reply comes once no record of theirs can follow.
    Remove(Vec<i32>, RpcReplyPort<Result<(), String>>),
}

/// Everything a reader needs to start.
pub struct ReaderArgs {
    pub source: Box<dyn SourceReader>,
    pub window: ActorRef<WindowMsg>,
    pub credits: Arc<Semaphore>,
    pub pool: BatchPool,
}

/// Reads a range of partitions of one source.
pub struct PartitionReader;

impl Actor for PartitionReader {
    type Msg = ReaderMsg;
    type State = ReaderArgs;
    type Arguments = ReaderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ReaderMsg>,
        mut state: ReaderArgs,
    ) -> Result<ReaderArgs, ActorProcessingErr> {
        let mut events = Vec::new();
        let next = state.source.start(&mut events).await?;
        hand_on(&state, events, None)?;
        schedule(&myself, next).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<ReaderMsg>,
        msg: ReaderMsg,
        state: &mut ReaderArgs,
    ) -> Result<(), ActorProcessingErr> {
        if let ReaderMsg::Remove(partitions, reply) = msg {
            let removed = state.source.remove(&partitions).await;
            let _ = reply.send(removed.map_err(|e| e.to_string()));
            return Ok(());
        }
        let credit = state.credits.clone().acquire_owned().await?;
        let mut events = Vec::new();
        let next = state.source.read(&mut events).await?;
        hand_on(state, events, Some(credit))?;
        schedule(&myself, next).await
    }
}

/// Sends `events` to the window actor in order; the first batch carries the credit.
fn hand_on(
    state: &ReaderArgs,
    events: Vec<ReadEvent>,
    mut credit: Option<OwnedSemaphorePermit>,
) -> Result<(), ActorProcessingErr> {
    for event in events {
        let msg = match event {
            ReadEvent::Opened(p, offset) => WindowMsg::PartitionOpened(p, offset),
            ReadEvent::Batch(batch) if batch.is_empty() => {
                state.pool.give(batch);
                continue;
            }
            ReadEvent::Batch(batch) => WindowMsg::Batch(batch, credit.take()),
            ReadEvent::Repositioned(p, offset) => WindowMsg::Reposition(p, offset),
            ReadEvent::Finished(p) => WindowMsg::PartitionFinished(p),
        };
        state.window.send_message(msg)?;
    }
    Ok(())
}

async fn schedule(myself: &ActorRef<ReaderMsg>, next: Next) -> Result<(), ActorProcessingErr> {
    match next {
        Next::Now => myself.send_message(ReaderMsg::Read)?,
        Next::After(wait) => {
            tokio::time::sleep(wait).await;
            myself.send_message(ReaderMsg::Read)?;
        }
        Next::Never => {}
    }
    Ok(())
}
