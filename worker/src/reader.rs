//! `PartitionReader`: polls a range of Kafka partitions and hands decoded batches on.
//!
//! Polling and decoding run on a blocking thread, so several readers decode in parallel while
//! the window actor aggregates. A bounded semaphore between readers and the window actor is the
//! backpressure: a reader waits for a permit before it polls again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_common::decode::{DecodedBatch, Decoder};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Semaphore;

use crate::batch_pool::BatchPool;
use crate::window_actor::WindowMsg;

/// Messages a reader sends itself.
pub enum ReaderMsg {
    Poll,
}

/// Everything a reader needs to start.
pub struct ReaderArgs {
    pub consumer: Arc<BaseConsumer>,
    pub topic: String,
    /// Partition → where to start (`None`: the job's start position).
    pub partitions: Vec<(i32, Offset)>,
    /// For bounded reads: partition → end offset (exclusive).
    pub end_offsets: Option<BTreeMap<i32, i64>>,
    pub decoder: Arc<Decoder>,
    pub window: ActorRef<WindowMsg>,
    pub credits: Arc<Semaphore>,
    pub max_batch: usize,
    pub pool: BatchPool,
}

/// A reader's state between polls.
pub struct ReaderState {
    args: ReaderArgs,
    /// Partitions still being read.
    active: Vec<i32>,
    next: BTreeMap<i32, i64>,
}

/// Reads a partition range of one topic.
pub struct PartitionReader;

fn poll_batch(
    consumer: &BaseConsumer,
    decoder: &Decoder,
    max: usize,
    wait: Duration,
    ends: Option<&BTreeMap<i32, i64>>,
    mut batch: Box<DecodedBatch>,
) -> Box<DecodedBatch> {
    let deadline = Instant::now() + wait;
    let mut seen = 0;
    while seen < max {
        let timeout = if seen == 0 {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        match consumer.poll(timeout) {
            None => {
                if seen > 0 || Instant::now() >= deadline {
                    break;
                }
            }
            Some(Ok(m)) => {
                seen += 1;
                let (p, o) = (m.partition(), m.offset());
                if ends.and_then(|e| e.get(&p)).is_some_and(|end| o >= *end) {
                    continue;
                }
                decoder.decode_into(p, o, m.payload(), &mut batch);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka poll error");
                break;
            }
        }
    }
    batch
}

impl Actor for PartitionReader {
    type Msg = ReaderMsg;
    type State = ReaderState;
    type Arguments = ReaderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ReaderMsg>,
        args: ReaderArgs,
    ) -> Result<ReaderState, ActorProcessingErr> {
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in &args.partitions {
            tpl.add_partition_offset(&args.topic, *p, *offset)?;
        }
        args.consumer.assign(&tpl)?;
        let mut next = BTreeMap::new();
        for (p, offset) in &args.partitions {
            if let Offset::Offset(o) = offset {
                next.insert(*p, *o);
            }
        }
        let mut state = ReaderState {
            active: args.partitions.iter().map(|(p, _)| *p).collect(),
            next,
            args,
        };
        finish_done_partitions(&mut state)?;
        if !state.active.is_empty() {
            myself.send_message(ReaderMsg::Poll)?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<ReaderMsg>,
        _msg: ReaderMsg,
        state: &mut ReaderState,
    ) -> Result<(), ActorProcessingErr> {
        let permit = state.args.credits.clone().acquire_owned().await?;
        let consumer = state.args.consumer.clone();
        let decoder = state.args.decoder.clone();
        let ends = state.args.end_offsets.clone();
        let max = state.args.max_batch;
        let empty = state.args.pool.take();
        let batch = tokio::task::spawn_blocking(move || {
            poll_batch(
                &consumer,
                &decoder,
                max,
                Duration::from_millis(100),
                ends.as_ref(),
                empty,
            )
        })
        .await?;
        for (p, n) in &batch.positions {
            state.next.insert(*p, *n);
        }
        if batch.is_empty() {
            state.args.pool.give(batch);
        } else {
            state
                .args
                .window
                .send_message(WindowMsg::Batch(batch, Some(permit)))?;
        }
        finish_done_partitions(state)?;
        if !state.active.is_empty() {
            myself.send_message(ReaderMsg::Poll)?;
        }
        Ok(())
    }
}

/// In a bounded read, tells the window actor about partitions that reached their end offset.
fn finish_done_partitions(state: &mut ReaderState) -> Result<(), ActorProcessingErr> {
    let Some(ends) = &state.args.end_offsets else {
        return Ok(());
    };
    let mut still = Vec::with_capacity(state.active.len());
    for p in std::mem::take(&mut state.active) {
        let end = ends.get(&p).copied().unwrap_or(0);
        let at = state.next.get(&p).copied().unwrap_or(0);
        if at >= end {
            state
                .args
                .window
                .send_message(WindowMsg::PartitionFinished(p))?;
        } else {
            still.push(p);
        }
    }
    state.active = still;
    Ok(())
}
