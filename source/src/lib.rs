//! Where a job's events come from: the Kafka client settings every part of Floe shares, the
//! partitions of a job's topic (or of the built-in generator, or its files), where each partition's reading
//! starts, and the content events the generator, `floe gen` and the benchmarks make. The
//! coordinator lists partitions with it; workers read them.

pub mod content_events;
pub mod files;
pub mod kafka;
pub mod record_batches;
pub mod start_position;

use std::sync::Arc;

use files::FilePartitions;
use floe_common::config::JobSpec;
use floe_storage::CheckpointStore;

pub use kafka::{
    available, consumer_config, create_consumer, topic_partitions, FloeConsumer,
    FloeConsumerContext, GeneratorPartitions, KafkaPartitions, PartitionSource,
};
pub use record_batches::{Polled, RecordBatches};

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
