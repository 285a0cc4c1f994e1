//! Kafka as a [`SourceReader`]: polls a range of partitions (assigned at the positions a
//! checkpoint gave, never the group's offsets) and decodes them in batches.
//!
//! Polling and decoding run on a blocking thread, so several readers decode in parallel while
//! the window actor aggregates. Errors that heal (a broker away, a timeout) are logged and
//! polling goes on; errors that cannot heal (unknown topic, authorization, a fatal client
//! error, a position gone under the `fail` policy) stop the reader with the error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use floe_common::config::SourceSpec;
use floe_common::decode::{DecodedBatch, Decoder};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use crate::batch_pool::BatchPool;
use crate::kafka::record_batches::{Polled, RecordBatches};
use crate::kafka::start_position::plan_start;
use crate::kafka::{available, FloeConsumer};
use crate::reader::{Next, ReadError, ReadEvent, SourceReader};

/// Everything a Kafka reader needs to start.
pub struct KafkaReaderArgs {
    pub consumer: Arc<FloeConsumer>,
    pub source: SourceSpec,
    /// Partition → the offset to start at.
    pub partitions: Vec<(i32, i64)>,
    /// For bounded reads: partition → end offset (exclusive).
    pub end_offsets: Option<Arc<BTreeMap<i32, i64>>>,
    pub decoder: Arc<Decoder>,
    pub max_batch: usize,
    /// How long a batch that has records waits for more before it goes (up to `max_batch`).
    pub linger: Duration,
    pub pool: BatchPool,
    /// Offsets jumped over because a position was gone (shared by the worker's readers).
    pub skipped: Arc<AtomicU64>,
}

/// Reads a partition range of one topic.
pub struct KafkaReader {
    args: KafkaReaderArgs,
    /// The records of this reader's partitions, once started.
    records: Option<Arc<RecordBatches>>,
    /// Partitions still being read.
    active: Vec<i32>,
    next: BTreeMap<i32, i64>,
    /// librdkafka reported a lost position that is not re-planned yet.
    position_lost: bool,
    /// Partitions taken away: a record of theirs still queued is dropped, never handed on.
    removed: Arc<Vec<i32>>,
}

impl KafkaReader {
    pub fn new(args: KafkaReaderArgs) -> Self {
        Self {
            records: None,
            active: args.partitions.iter().map(|(p, _)| *p).collect(),
            next: args.partitions.iter().copied().collect(),
            position_lost: false,
            removed: Arc::new(Vec::new()),
            args,
        }
    }

    /// In a bounded read, reports partitions that reached their end offset.
    fn finish_done_partitions(&mut self, events: &mut Vec<ReadEvent>) {
        let Some(ends) = &self.args.end_offsets else {
            return;
        };
        let next = &self.next;
        self.active.retain(|p| {
            let end = ends.get(p).copied().unwrap_or(0);
            let at = next.get(p).copied().unwrap_or(0);
            let done = at >= end;
            if done {
                events.push(ReadEvent::Finished(*p));
            }
            !done
        });
    }

    fn next_step(&self) -> Next {
        if self.active.is_empty() {
            Next::Never
        } else {
            Next::Now
        }
    }
}

#[async_trait]
impl SourceReader for KafkaReader {
    async fn start(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError> {
        let args = &self.args;
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in &args.partitions {
            tpl.add_partition_offset(&args.source.topic, *p, Offset::Offset(*offset))?;
        }
        let records = RecordBatches::new(
            args.consumer.clone(),
            &args.source.topic,
            args.partitions.iter().map(|(p, _)| *p),
        )?;
        args.consumer.assign(&tpl)?;
        self.records = Some(Arc::new(records));
        self.finish_done_partitions(events);
        Ok(self.next_step())
    }

    async fn read(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError> {
        let Some(records) = self.records.clone() else {
            return Err("the Kafka reader reads before it started".into());
        };
        let decoder = self.args.decoder.clone();
        let ends = self.args.end_offsets.clone();
        let removed = self.removed.clone();
        let max = self.args.max_batch;
        let empty = self.args.pool.take();
        let waits = PollWaits {
            first: Duration::from_millis(100),
            linger: self.args.linger,
        };
        let polled = tokio::task::spawn_blocking(move || {
            let only = Wanted {
                ends: ends.as_deref(),
                removed: &removed,
            };
            poll_batch(&records, &decoder, max, waits, only, empty)
        })
        .await??;
        let batch = polled.batch;
        for (p, n) in &batch.positions {
            self.next.insert(*p, *n);
        }
        events.push(ReadEvent::Batch(batch));
        self.position_lost |= polled.position_lost;
        if self.position_lost {
            let consumer = self.args.consumer.clone();
            let source = self.args.source.clone();
            let next = self.next.clone();
            let skipped = self.args.skipped.clone();
            let replanned = tokio::task::spawn_blocking(move || {
                replan_lost_positions(&consumer, &source, &next, &skipped)
            })
            .await?;
            match replanned {
                Ok(moved) => {
                    self.position_lost = false;
                    for (p, offset) in moved {
                        self.next.insert(p, offset);
                        events.push(ReadEvent::Repositioned(p, offset));
                    }
                }
                // The broker may be away for a moment: try again after the next poll.
                Err(ReaderError::Kafka(e)) if !is_fatal(&e) => {
                    tracing::warn!(error = %e, "cannot check positions yet; retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.finish_done_partitions(events);
        Ok(self.next_step())
    }

    async fn remove(&mut self, partitions: &[i32]) -> Result<(), ReadError> {
        let mine: Vec<i32> = (partitions.iter())
            .filter(|p| self.next.contains_key(p))
            .copied()
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for p in &mine {
            tpl.add_partition(&self.args.source.topic, *p);
        }
        self.args.consumer.incremental_unassign(&tpl)?;
        self.active.retain(|p| !mine.contains(p));
        self.next.retain(|p, _| !mine.contains(p));
        let mut removed = self.removed.to_vec();
        removed.extend(mine);
        self.removed = Arc::new(removed);
        Ok(())
    }
}

/// Why a reader stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error("kafka error that cannot heal: {0}")]
    Fatal(KafkaError),
    #[error("{0}")]
    OutOfRange(#[from] crate::kafka::start_position::OffsetOutOfRange),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

/// What one poll brought.
struct PolledBatch {
    batch: Box<DecodedBatch>,
    /// librdkafka lost a position (its `auto.offset.reset` is `error`): find which and re-plan.
    position_lost: bool,
}

/// Errors after which polling again cannot help.
fn is_fatal(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(e, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            e.rdkafka_error_code(),
            Some(
                C::UnknownTopicOrPartition
                    | C::UnknownTopic
                    | C::UnknownPartition
                    | C::TopicAuthorizationFailed
                    | C::GroupAuthorizationFailed
                    | C::ClusterAuthorizationFailed
                    | C::SaslAuthenticationFailed
                    | C::Authentication
                    | C::Fatal
            )
        )
}

/// How long a poll waits for a first record; and how long a batch that has records waits for
/// more.
#[derive(Debug, Clone, Copy)]
struct PollWaits {
    first: Duration,
    linger: Duration,
}

/// Which records a poll hands on.
#[derive(Clone, Copy)]
struct Wanted<'a> {
    /// For bounded reads: partition → end offset (exclusive).
    ends: Option<&'a BTreeMap<i32, i64>>,
    /// Partitions no longer read.
    removed: &'a [i32],
}

impl Wanted<'_> {
    fn wants(&self, partition: i32, offset: i64) -> bool {
        let past_end = (self.ends)
            .and_then(|e| e.get(&partition))
            .is_some_and(|end| offset >= *end);
        !past_end && !self.removed.contains(&partition)
    }
}

/// Polls up to `max` records into `batch`. Records come from librdkafka's queue in the
/// fetches' sizes; waiting `linger` for more once a record is there makes batches of many
/// records, so the per-batch costs (a blocking-pool hop, an actor message, a window pass) are
/// paid per thousand records rather than per handful when the broker hands out small fetches.
fn poll_batch(
    records: &RecordBatches,
    decoder: &Decoder,
    max: usize,
    waits: PollWaits,
    only: Wanted,
    mut batch: Box<DecodedBatch>,
) -> Result<PolledBatch, ReaderError> {
    let started = Instant::now();
    batch.read_at_ms = floe_common::clock::wall_clock_ms();
    let mut seen = 0;
    let mut first_record_at = None;
    let mut position_lost = false;
    let mut fatal = None;
    let mut retry = false;
    while seen < max && !position_lost && fatal.is_none() && !retry {
        // Wait for one record first, then for the rest of the batch until the linger is over.
        let (deadline, want) = match first_record_at {
            None => (started + waits.first, 1),
            Some(at) => (at + waits.linger, max - seen),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let handed = records.poll(left, want, |polled| match polled {
            Polled::Record {
                partition,
                offset,
                payload,
            } => {
                first_record_at.get_or_insert_with(Instant::now);
                seen += 1;
                if !only.wants(partition, offset) {
                    return;
                }
                decoder.decode_into(partition, offset, payload, &mut batch);
            }
            Polled::PartitionEnd(p) => batch.note_caught_up(p),
            Polled::Error(e)
                if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) =>
            {
                position_lost = true;
            }
            Polled::Error(e) if is_fatal(&e) => fatal = Some(e),
            Polled::Error(e) => {
                tracing::warn!(error = %e, "kafka poll error; retrying");
                retry = true;
            }
        });
        // librdkafka waits in whole milliseconds: with less than one left, the wait is over.
        if handed == 0 && left < Duration::from_millis(1) {
            break;
        }
    }
    if let Some(e) = fatal {
        return Err(ReaderError::Fatal(e));
    }
    Ok(PolledBatch {
        batch,
        position_lost,
    })
}

/// After librdkafka lost a position: finds the partitions whose next offset is gone and moves
/// them as the job's policy says (or fails under `fail`). Returns the new positions.
fn replan_lost_positions(
    consumer: &FloeConsumer,
    source: &SourceSpec,
    next: &BTreeMap<i32, i64>,
    skipped: &AtomicU64,
) -> Result<Vec<(i32, i64)>, ReaderError> {
    let mut moved = Vec::new();
    for (p, at) in next {
        let available = available(consumer, &source.topic, *p)?;
        let planned = plan_start(
            &source.topic,
            *p,
            Some(*at),
            available,
            source.start,
            source.on_out_of_range,
        )?;
        // Fetching stopped where the position was lost: seek every partition, moved or not.
        consumer.seek(
            &source.topic,
            *p,
            Offset::Offset(planned.offset),
            Duration::from_secs(10),
        )?;
        planned.warn_if_moved(*p, Some(*at), available);
        if planned.offset != *at {
            skipped.fetch_add(planned.skipped, Ordering::Relaxed);
            moved.push((*p, planned.offset));
        }
    }
    Ok(moved)
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
