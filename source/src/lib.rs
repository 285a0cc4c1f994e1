//! Where a job's events come from, one module per source kind: Kafka ([`kafka`]: client
//! settings, partitions and their ends, where a partition's reading starts, the reader), file
//! splits ([`files`]) and the built-in generator ([`generator`], whose content events `floe gen`
//! and the benchmarks make too). The coordinator lists a kind's partitions through
//! [`PartitionSource`]; workers read them through [`reader::SourceReader`].

pub mod batch_pool;
pub mod files;
pub mod generator;
pub mod kafka;
pub mod reader;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use files::FilePartitions;
use floe_common::config::JobSpec;
use floe_storage::CheckpointStore;

pub use generator::{content_events, GeneratorPartitions};
pub use kafka::record_batches::{Polled, RecordBatches};
pub use kafka::{
    available, consumer_config, create_consumer, record_batches, start_position, topic_partitions,
    FloeConsumer, FloeConsumerContext, KafkaPartitions,
};

/// Where a job learns its topic's partitions, asked again at every checkpoint so that a topic
/// that grows is read whole. Kafka's metadata in production; tests can script it (librdkafka's
/// mock cluster cannot add partitions to a topic).
pub trait PartitionSource: Send + Sync + Debug {
    /// The topic's partition ids, sorted. Blocking.
    fn partitions(&self) -> Result<Vec<i32>, SourceError>;

    /// Where each partition ends now: the offset its next record will get (Kafka's high
    /// watermark). A partition without an end (an unbounded generator) is left out. Blocking;
    /// asked every few seconds, so it keeps its client.
    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError>;
}

/// Why a source could not be read or listed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Topic(String),
    #[error("files: {0}")]
    Files(String),
}

/// Where `job` learns its partitions: Kafka's metadata, the generator's settings, or the files
/// under its location (registered as splits beside the job's checkpoints in `store`).
pub async fn partition_source(
    job: Arc<JobSpec>,
    store: &CheckpointStore,
) -> Result<Arc<dyn PartitionSource>, SourceError> {
    if job.source.files.is_some() {
        return Ok(Arc::new(FilePartitions::open(&job, store.clone()).await?));
    }
    Ok(match job.source.generator {
        Some(g) => Arc::new(GeneratorPartitions(g)),
        None => Arc::new(KafkaPartitions::new(job)),
    })
}
