//! `GeneratorReader`: reads partitions of the built-in generator (`source.type = "generator"`)
//! as a `PartitionReader` reads Kafka: batches through the same decoder, the same credits, the
//! same window actor. Event `offset` of a partition is always the same event, so a restore from
//! a checkpoint replays exactly what was read before.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_common::decode::Decoder;
use floe_common::generator_source::GeneratorSpec;
use floe_source::content_events::ContentEvents;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::Semaphore;

use crate::batch_pool::BatchPool;
use crate::window_actor::WindowMsg;

/// Messages a generator reader sends itself.
pub enum GeneratorMsg {
    Next,
}

/// Everything a generator reader needs to start.
pub struct GeneratorArgs {
    pub spec: GeneratorSpec,
    /// Partition → the offset to start at.
    pub partitions: Vec<(i32, i64)>,
    /// For bounded reads: partition → end offset (exclusive).
    pub end_offsets: Option<BTreeMap<i32, i64>>,
    /// This reader's share of the generator's rate (events/s; 0: unlimited).
    pub rate: f64,
    pub decoder: Arc<Decoder>,
    pub window: ActorRef<WindowMsg>,
    pub credits: Arc<Semaphore>,
    pub max_batch: usize,
    pub pool: BatchPool,
}

/// One partition being generated.
struct Generated {
    partition: i32,
    events: ContentEvents,
    next: i64,
    /// Exclusive; `i64::MAX` without end.
    end: i64,
}

pub struct GeneratorState {
    args: GeneratorArgs,
    parts: Vec<Generated>,
    started: Instant,
    produced: u64,
}

/// Generates a partition range of the built-in generator.
pub struct GeneratorReader;

impl Actor for GeneratorReader {
    type Msg = GeneratorMsg;
    type State = GeneratorState;
    type Arguments = GeneratorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<GeneratorMsg>,
        args: GeneratorArgs,
    ) -> Result<GeneratorState, ActorProcessingErr> {
        let spec = args.spec;
        let parts = args
            .partitions
            .iter()
            .map(|(p, offset)| Generated {
                partition: *p,
                events: ContentEvents::new(spec.partition_seed(*p), spec.videos, spec.disorder_ms),
                next: *offset,
                end: args
                    .end_offsets
                    .as_ref()
                    .and_then(|e| e.get(p).copied())
                    .or(spec.events.map(|n| n as i64))
                    .unwrap_or(i64::MAX),
            })
            .collect();
        let mut state = GeneratorState {
            args,
            parts,
            started: Instant::now(),
            produced: 0,
        };
        report_finished(&mut state)?;
        if !state.parts.is_empty() {
            myself.send_message(GeneratorMsg::Next)?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<GeneratorMsg>,
        _msg: GeneratorMsg,
        state: &mut GeneratorState,
    ) -> Result<(), ActorProcessingErr> {
        let permit = state.args.credits.clone().acquire_owned().await?;
        let mut batch = state.args.pool.take();
        batch.read_at_ms = floe_common::clock::wall_clock_ms();
        let per_part = (state.args.max_batch / state.parts.len().max(1)).max(1) as i64;
        let spec = state.args.spec;
        for g in &mut state.parts {
            let until = g.end.min(g.next.saturating_add(per_part));
            for offset in g.next..until {
                let e = g.events.event_at(offset as u64, spec.time_at(offset));
                state.args.decoder.decode_into(
                    g.partition,
                    offset,
                    Some(e.json.as_bytes()),
                    &mut batch,
                );
            }
            state.produced += (until - g.next) as u64;
            g.next = until;
        }
        state
            .args
            .window
            .send_message(WindowMsg::Batch(batch, Some(permit)))?;
        report_finished(state)?;
        if state.parts.is_empty() {
            return Ok(());
        }
        if state.args.rate > 0.0 {
            let due = Duration::from_secs_f64(state.produced as f64 / state.args.rate);
            if let Some(wait) = due.checked_sub(state.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        myself.send_message(GeneratorMsg::Next)?;
        Ok(())
    }
}

/// Tells the window actor about partitions generated to their end, and stops generating them.
fn report_finished(state: &mut GeneratorState) -> Result<(), ActorProcessingErr> {
    let mut still = Vec::with_capacity(state.parts.len());
    for g in std::mem::take(&mut state.parts) {
        if g.next >= g.end {
            state
                .args
                .window
                .send_message(WindowMsg::PartitionFinished(g.partition))?;
        } else {
            still.push(g);
        }
    }
    state.parts = still;
    Ok(())
}
