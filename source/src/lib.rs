//! Where a job's events come from: the Kafka client settings every part of Floe shares, the
//! partitions of a job's topic (or of the built-in generator), where each partition's reading
//! starts, and the content events the generator, `floe gen` and the benchmarks make. The
//! coordinator lists partitions with it; workers read them.

pub mod content_events;
pub mod kafka;
pub mod start_position;

pub use kafka::{
    available, consumer_config, create_consumer, partition_source, topic_partitions, FloeConsumer,
    FloeConsumerContext, GeneratorPartitions, KafkaPartitions, PartitionSource,
};

/// Why a source could not be read or listed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Topic(String),
}
