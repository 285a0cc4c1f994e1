//! `SourceReader`: how a worker reads a source kind. Each kind (Kafka partitions, file splits,
//! the built-in generator) reads its share of a job's partitions from the positions a
//! checkpoint gave, and says what happened in the order the window actor must hear it; the
//! worker's one reader actor (`floe_worker::reader::PartitionReader`) does the rest: credits,
//! messages, pacing. The coordinator lists a kind's partitions and their ends through
//! [`crate::PartitionSource`].

use std::time::Duration;

use async_trait::async_trait;
use floe_common::decode::DecodedBatch;

/// What a read brought, for the window actor, in order.
#[derive(Debug)]
pub enum ReadEvent {
    /// Reading starts on a partition held back until now (a file split waiting its turn), from
    /// this offset: from now on it holds the watermark back.
    Opened(i32, i64),
    /// Records read and decoded (an empty batch goes back to the pool).
    Batch(Box<DecodedBatch>),
    /// Reading went on from another offset: the partition's position was gone.
    Repositioned(i32, i64),
    /// A bounded partition has been read to its end.
    Finished(i32),
}

/// When to read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Now,
    After(Duration),
    /// Every partition is read to its end: this reader is done.
    Never,
}

/// Why a reader stopped; it fails the job through the window actor.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// One source kind, reading a range of a job's partitions.
#[async_trait]
pub trait SourceReader: Send + 'static {
    /// Starts reading at the planned positions; partitions already at their end are reported.
    async fn start(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError>;

    /// Reads the next batch (holding one credit of the window actor's).
    async fn read(&mut self, events: &mut Vec<ReadEvent>) -> Result<Next, ReadError>;

    /// Stops reading `partitions` (those it does not read are ignored): no later read brings
    /// a record of them. The others read on from where they are.
    async fn remove(&mut self, partitions: &[i32]) -> Result<(), ReadError>;
}
