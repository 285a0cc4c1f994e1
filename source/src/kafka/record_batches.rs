//! `RecordBatches`: a consumer's records, many per call.
//!
//! rust-rdkafka's `poll` takes one record per call: each costs an event from librdkafka's queue,
//! two clock reads on each side and an allocation, which together were a fifth of a reader's CPU.
//! librdkafka's batch call (`rd_kafka_consume_batch_queue`) takes up to a batch under one timeout.
//! It reads one queue, so the partitions of a reader are routed to a queue of their own;
//! everything else the consumer reports (client errors, logs) stays on the consumer's queue and
//! is served between batches.

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::FloeConsumer;

/// One thing a batch brought, in the order the partition had it.
#[derive(Debug)]
pub enum Polled<'a> {
    Record {
        partition: i32,
        offset: i64,
        payload: Option<&'a [u8]>,
    },
    /// The reader is at the end of what `partition` holds now.
    PartitionEnd(i32),
    Error(KafkaError),
}

/// The records of some partitions of one consumer, read a batch at a time.
pub struct RecordBatches {
    queue: NonNull<rd::rd_kafka_queue_t>,
    consumer: Arc<FloeConsumer>,
}

// SAFETY: librdkafka's queues may be used from any thread, and by several at once; the queue
// handle is only given back (destroyed) on drop.
unsafe impl Send for RecordBatches {}
unsafe impl Sync for RecordBatches {}

impl RecordBatches {
    /// Routes the records of `partitions` of `topic` to a queue of their own. Call it before the
    /// partitions are assigned, so no record goes to the consumer's queue first.
    pub fn new(
        consumer: Arc<FloeConsumer>,
        topic: &str,
        partitions: impl IntoIterator<Item = i32>,
    ) -> Result<Self, KafkaError> {
        let rk = consumer.client().native_ptr();
        let topic_c = std::ffi::CString::new(topic)
            .map_err(|_| KafkaError::Global(RDKafkaErrorCode::InvalidArgument))?;
        // SAFETY: `rk` is the live client `consumer` owns; every handle librdkafka gives here is
        // given back once used, but the forwarding it sets up stays.
        let queue = NonNull::new(unsafe { rd::rd_kafka_queue_new(rk) })
            .ok_or(KafkaError::Global(RDKafkaErrorCode::Fail))?;
        let batches = RecordBatches { queue, consumer };
        for p in partitions {
            let pq = unsafe { rd::rd_kafka_queue_get_partition(rk, topic_c.as_ptr(), p) };
            let pq =
                NonNull::new(pq).ok_or(KafkaError::Global(RDKafkaErrorCode::UnknownPartition))?;
            unsafe {
                rd::rd_kafka_queue_forward(pq.as_ptr(), batches.queue.as_ptr());
                rd::rd_kafka_queue_destroy(pq.as_ptr());
            }
        }
        Ok(batches)
    }

    /// The consumer the records come from.
    pub fn consumer(&self) -> &FloeConsumer {
        &self.consumer
    }

    /// Serves one of the consumer's own events without waiting, then waits up to `timeout`
    /// (librdkafka counts whole milliseconds) until `max` records or partition events are
    /// there, and hands each to `each` in order. Returns how many were handed.
    pub fn poll(&self, timeout: Duration, max: usize, mut each: impl FnMut(Polled<'_>)) -> usize {
        let mut handed = 0;
        match self.consumer.poll(Duration::ZERO) {
            None => {}
            Some(Ok(m)) => {
                handed += 1;
                each(Polled::Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    payload: m.payload(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                handed += 1;
                each(Polled::PartitionEnd(p));
            }
            Some(Err(e)) => {
                handed += 1;
                each(Polled::Error(e));
            }
        }
        let mut slots: Vec<*mut rd::rd_kafka_message_t> = vec![std::ptr::null_mut(); max];
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `slots` has room for `max` messages; librdkafka fills the first `got`.
        let got = unsafe {
            rd::rd_kafka_consume_batch_queue(self.queue.as_ptr(), ms, slots.as_mut_ptr(), max)
        };
        let Ok(got) = usize::try_from(got) else {
            // Only an invalid queue fails the call as a whole, and this one is valid.
            return handed;
        };
        let taken = Taken(&slots[..got]);
        for &m in taken.0 {
            // SAFETY: librdkafka handed out `m` and it lives until `taken` is dropped.
            each(unsafe { polled(&*m) });
        }
        handed + got
    }
}

/// What librdkafka's message `m` says.
///
/// # Safety
/// `m` must be a message librdkafka handed out and not yet destroyed; the payload borrows it.
unsafe fn polled(m: &rd::rd_kafka_message_t) -> Polled<'_> {
    use rd::rd_kafka_resp_err_t as E;
    match m.err {
        E::RD_KAFKA_RESP_ERR_NO_ERROR => Polled::Record {
            partition: m.partition,
            offset: m.offset,
            payload: (!m.payload.is_null())
                .then(|| std::slice::from_raw_parts(m.payload as *const u8, m.len)),
        },
        E::RD_KAFKA_RESP_ERR__PARTITION_EOF => Polled::PartitionEnd(m.partition),
        E::RD_KAFKA_RESP_ERR__FATAL => {
            Polled::Error(KafkaError::MessageConsumptionFatal(m.err.into()))
        }
        err => Polled::Error(KafkaError::MessageConsumption(err.into())),
    }
}

/// Messages taken from librdkafka, given back when dropped (even if a handler panics).
struct Taken<'a>(&'a [*mut rd::rd_kafka_message_t]);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        for &m in self.0 {
            // SAFETY: each was handed out by `rd_kafka_consume_batch_queue` and is given back once.
            unsafe { rd::rd_kafka_message_destroy(m) };
        }
    }
}

impl Drop for RecordBatches {
    fn drop(&mut self) {
        // SAFETY: the handle came from `rd_kafka_queue_new` and is given back once; partitions
        // forwarding to it keep the queue itself alive as long as they need it.
        unsafe { rd::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rdkafka::config::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{Offset, TopicPartitionList};

    use super::*;
    use crate::kafka::FloeConsumerContext;

    const TOPIC: &str = "t";

    fn consumer(servers: &str) -> Arc<FloeConsumer> {
        let c = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", "record-batches-test")
            .set("auto.offset.reset", "error")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create_with_context(FloeConsumerContext)
            .expect("consumer");
        Arc::new(c)
    }

    fn assign(c: &FloeConsumer, from: &[(i32, i64)]) {
        let mut tpl = TopicPartitionList::new();
        for (p, o) in from {
            tpl.add_partition_offset(TOPIC, *p, Offset::Offset(*o))
                .expect("partition");
        }
        c.assign(&tpl).expect("assign");
    }

    /// Everything the batches hand out until each of `parts` has reported its end (or 30 s).
    fn read_to_ends(batches: &RecordBatches, parts: &[i32]) -> Vec<String> {
        let mut seen = Vec::new();
        let mut ended = BTreeMap::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while ended.len() < parts.len() && std::time::Instant::now() < deadline {
            batches.poll(Duration::from_millis(100), 7, |p| match p {
                Polled::Record {
                    partition,
                    offset,
                    payload,
                } => seen.push(format!(
                    "{partition}@{offset}={}",
                    String::from_utf8_lossy(payload.unwrap_or_default())
                )),
                Polled::PartitionEnd(p) => {
                    ended.insert(p, ());
                }
                Polled::Error(e) => seen.push(format!("error {e}")),
            });
        }
        seen
    }

    #[test]
    fn hands_out_every_record_of_its_partitions_in_order_then_their_ends() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, 3, 1).expect("topic");
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("producer");
        for i in 0..20 {
            let payload = format!("r{i}");
            let record = BaseRecord::<(), _>::to(TOPIC)
                .partition(i % 3)
                .payload(&payload);
            producer.send(record).map_err(|(e, _)| e).expect("send");
        }
        producer.flush(Duration::from_secs(10)).expect("flush");

        let c = consumer(&cluster.bootstrap_servers());
        let batches = RecordBatches::new(c.clone(), TOPIC, [0, 2]).expect("batches");
        assign(&c, &[(0, 0), (2, 1)]);
        let seen = read_to_ends(&batches, &[0, 2]);

        let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for s in &seen {
            let p = s
                .split('@')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1);
            by_partition.entry(p).or_default().push(s.clone());
        }
        let expected = |p: i32, from: i64| -> Vec<String> {
            (0..20)
                .filter(|i| i % 3 == p)
                .enumerate()
                .skip(from as usize)
                .map(|(offset, i)| format!("{p}@{offset}=r{i}"))
                .collect()
        };
        assert_eq!(by_partition.remove(&0), Some(expected(0, 0)));
        assert_eq!(by_partition.remove(&2), Some(expected(2, 1)));
        assert!(by_partition.is_empty(), "unexpected: {seen:?}");
    }

    #[test]
    fn a_lost_position_is_reported_not_reset() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, 1, 1).expect("topic");
        let c = consumer(&cluster.bootstrap_servers());
        let batches = RecordBatches::new(c.clone(), TOPIC, [0]).expect("batches");
        assign(&c, &[(0, 500)]);
        let mut lost = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while lost.is_none() && std::time::Instant::now() < deadline {
            batches.poll(Duration::from_millis(100), 10, |p| {
                if let Polled::Error(e) = p {
                    lost = e.rdkafka_error_code();
                }
            });
        }
        assert_eq!(lost, Some(RDKafkaErrorCode::AutoOffsetReset));
    }
}
