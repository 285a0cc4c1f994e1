//! The Kafka client settings and metadata every part of Floe shares: how a job's consumers are
//! configured, and where a job learns its topic's partitions.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_common::config::JobSpec;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;

pub mod reader;
pub mod record_batches;
pub mod start_position;

use start_position::Available;

use crate::{PartitionSource, SourceError};

/// The Kafka client settings every reader of `job` uses: the job's pass-through properties,
/// with offsets never committed to Kafka (they live in Floe's checkpoints), a lost position
/// reported to Floe rather than reset by the client (the job's `on_offset_out_of_range`
/// decides), and an event at the end of each partition (only a reader that reached the end
/// may call its partition idle).
pub fn consumer_config(job: &JobSpec) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("group.id", format!("floe-{}", job.name));
    for (k, v) in &job.source.properties {
        cfg.set(k, v);
    }
    cfg.set("bootstrap.servers", &job.source.brokers)
        .set("auto.offset.reset", "error")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    cfg
}

/// The client callbacks of Floe's consumers: the end-of-partition events Floe asks for are
/// expected, not errors worth a log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct FloeConsumerContext;

impl ClientContext for FloeConsumerContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            return;
        }
        tracing::error!(target: "librdkafka", "librdkafka: {error}: {reason}");
    }
}

impl ConsumerContext for FloeConsumerContext {}

/// A consumer with Floe's client callbacks.
pub type FloeConsumer = BaseConsumer<FloeConsumerContext>;

/// A consumer of `job`'s topic with [`consumer_config`].
pub fn create_consumer(job: &JobSpec) -> Result<FloeConsumer, KafkaError> {
    consumer_config(job).create_with_context(FloeConsumerContext)
}

/// The offsets `partition` of `topic` holds now. Blocking.
pub fn available(
    consumer: &FloeConsumer,
    topic: &str,
    partition: i32,
) -> Result<Available, KafkaError> {
    let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
    Ok(Available { low, high })
}

/// The partition ids of a topic, sorted.
pub fn topic_partitions(job: &JobSpec, timeout: Duration) -> Result<Vec<i32>, SourceError> {
    partition_ids(&create_consumer(job)?, job, timeout)
}

/// The partition ids of `job`'s topic as `c` sees them, sorted.
fn partition_ids(
    c: &FloeConsumer,
    job: &JobSpec,
    timeout: Duration,
) -> Result<Vec<i32>, SourceError> {
    let md = c.fetch_metadata(Some(&job.source.topic), timeout)?;
    let topic = md
        .topics()
        .iter()
        .find(|t| t.name() == job.source.topic)
        .ok_or_else(|| SourceError::Topic(format!("topic {} not found", job.source.topic)))?;
    if let Some(e) = topic.error() {
        let why = match e {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART => "does not exist".to_owned(),
            other => format!("{other:?}"),
        };
        return Err(SourceError::Topic(format!(
            "topic {} on {}: {why}",
            job.source.topic, job.source.brokers
        )));
    }
    let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(SourceError::Topic(format!(
            "topic {} has no partitions",
            job.source.topic
        )));
    }
    Ok(ids)
}

/// The partitions Kafka's metadata lists.
pub struct KafkaPartitions {
    job: Arc<JobSpec>,
    /// Made at the first question about end offsets, then kept.
    consumer: Mutex<Option<FloeConsumer>>,
}

impl Debug for KafkaPartitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPartitions")
            .field("topic", &self.job.source.topic)
            .finish()
    }
}

impl KafkaPartitions {
    pub fn new(job: Arc<JobSpec>) -> Self {
        Self {
            job,
            consumer: Mutex::new(None),
        }
    }
}

impl PartitionSource for KafkaPartitions {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        topic_partitions(&self.job, Duration::from_secs(30))
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        let mut consumer = self
            .consumer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let consumer = match &mut *consumer {
            Some(c) => c,
            empty => empty.insert(create_consumer(&self.job)?),
        };
        let topic = &self.job.source.topic;
        partition_ids(consumer, &self.job, Duration::from_secs(5))?
            .into_iter()
            .map(|p| Ok((p, available(consumer, topic, p)?.high)))
            .collect()
    }
}
