//! The built-in generator (`source.type = "generator"`) as a [`SourceReader`]. Event `offset` of
//! a partition is always the same event, so a restore from a checkpoint replays exactly what was
//! read before.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::generator::content_events::ContentEvents;
use crate::generator::nexmark::NexmarkEvents;
use async_trait::async_trait;
use floe_common::decode::Decoder;
use floe_common::generator_source::{GeneratedEvents, GeneratorSpec};

use crate::batch_pool::BatchPool;
use crate::reader::{Next, ReadError, ReadEvent, SourceReader};

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
    pub max_batch: usize,
    pub pool: BatchPool,
}

/// The events of one partition.
enum Events {
    Content(ContentEvents),
    Nexmark(NexmarkEvents),
}

impl Events {
    fn new(spec: &GeneratorSpec, partition: i32) -> Self {
        let seed = spec.partition_seed(partition);
        match spec.kind {
            GeneratedEvents::Content => {
                Events::Content(ContentEvents::new(seed, spec.videos, spec.disorder_ms))
            }
            GeneratedEvents::Nexmark => Events::Nexmark(NexmarkEvents::new(seed)),
        }
    }

    /// The JSON of event `offset`, at `time_ms` (before disorder).
    fn json_at(&self, offset: u64, time_ms: i64) -> String {
        match self {
            Events::Content(e) => e.event_at(offset, time_ms).json,
            Events::Nexmark(e) => e.event_at(offset, time_ms).json,
        }
    }
}

/// One partition being generated.
struct Generated {
    partition: i32,
    events: Events,
    next: i64,
    /// Exclusive; `i64::MAX` without end.
    end: i64,
}

/// Generates a partition range of the built-in generator.
pub struct GeneratorReader {
    args: GeneratorArgs,
    parts: Vec<Generated>,
    started: Instant,
    produced: u64,
}

impl GeneratorReader {
    pub fn new(args: GeneratorArgs) -> Self {
        let spec = args.spec;
        let parts = args
            .partitions
            .iter()
            .map(|(p, offset)| Generated {
                partition: *p,
                events: Events::new(&spec, *p),
                next: *offset,
                end: args
                    .end_offsets
                    .as_ref()
                    .and_then(|e| e.get(p).copied())
                    .or(spec.events.map(|n| n as i64))
                    .unwrap_or(i64::MAX),
            })
            .collect();
        Self {
            args,
            parts,
            started: Instant::now(),
            produced: 0,
        }
    }

    /// Reports partitions generated to their end, and stops generating them.
    fn report_finished(&mut self, events: &mut Vec<ReadEvent>) {
        self.parts.retain(|g| {
            let done = g.next >= g.end;
            if done {
                events.push(ReadEvent::Finished(g.partition));
            }
            !done
        });
    }
}

#[async_trait]
impl SourceReader for GeneratorReader {
    async fn start(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError> {
        self.started = Instant::now();
        self.report_finished(events);
        Ok(if self.parts.is_empty() {
            Next::Never
        } else {
            Next::Now
        })
    }

    async fn read(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError> {
        let mut batch = self.args.pool.take();
        batch.read_at_ms = floe_common::clock::wall_clock_ms();
        let per_part = (self.args.max_batch / self.parts.len().max(1)).max(1) as i64;
        let spec = self.args.spec;
        for g in &mut self.parts {
            let until = g.end.min(g.next.saturating_add(per_part));
            for offset in g.next..until {
                let json = g.events.json_at(offset as u64, spec.time_at(offset));
                self.args.decoder.decode_into(
                    g.partition,
                    offset,
                    Some(json.as_bytes()),
                    &mut batch,
                );
            }
            self.produced += (until - g.next) as u64;
            g.next = until;
        }
        events.push(ReadEvent::Batch(batch));
        self.report_finished(events);
        if self.parts.is_empty() {
            return Ok(Next::Never);
        }
        if self.args.rate > 0.0 {
            let due = Duration::from_secs_f64(self.produced as f64 / self.args.rate);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                return Ok(Next::After(wait));
            }
        }
        Ok(Next::Now)
    }

    async fn remove(&mut self, partitions: &[i32]) -> Result<(), ReadError> {
        let before = self.parts.len();
        self.parts.retain(|g| !partitions.contains(&g.partition));
        // The rate was this reader's share for its partitions: the rest keep theirs.
        self.args.rate *= self.parts.len() as f64 / before.max(1) as f64;
        self.started = Instant::now();
        self.produced = 0;
        Ok(())
    }
}
