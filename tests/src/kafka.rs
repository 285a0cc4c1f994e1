//! The harness's client of the test broker: topics, and producing records with the offsets
//! the broker gave them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::records::{Produced, Record};

/// A topic name unique to this test run: `floe-e2e-<name>-<random>`.
pub fn unique_topic(name: &str) -> String {
    format!("floe-e2e-{name}-{:08x}", rand::rng().random::<u32>())
}

/// Admin + producer client of the test broker.
pub struct Kafka {
    brokers: String,
    rt: tokio::runtime::Runtime,
    producer: FutureProducer,
}

impl Kafka {
    pub fn connect(brokers: &str) -> Kafka {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("message.timeout.ms", "60000")
            .set("linger.ms", "5")
            .set("acks", "all")
            // offsets are recorded from the deliveries; one request in flight keeps the
            // per-partition order equal to the send order even on retries (checked below)
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .unwrap_or_else(|e| panic!("Kafka producer for {brokers}: {e}"));
        Kafka {
            brokers: brokers.to_string(),
            rt,
            producer,
        }
    }

    /// Creates `topic` with `partitions` partitions and waits until the broker's metadata shows
    /// them all.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("Kafka admin client");
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let res = self
            .rt
            .block_on(admin.create_topics([&new], &opts))
            .unwrap_or_else(|e| panic!("CreateTopics {topic} on {}: {e}", self.brokers));
        for r in res {
            if let Err((name, code)) = r {
                panic!(
                    "CreateTopics {name} ({partitions} partitions) on {}: {code:?}",
                    self.brokers
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last;
        loop {
            match self
                .producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
            {
                Ok(md) => {
                    if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                        if t.error().is_none() && t.partitions().len() == partitions as usize {
                            return;
                        }
                        last =
                            format!("error {:?}, {} partitions", t.error(), t.partitions().len());
                    } else {
                        last = "topic not in metadata".into();
                    }
                }
                Err(e) => last = e.to_string(),
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} not ready after 30 s: {last}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Produces `records` in order to their partitions; returns them with their offsets.
    pub fn produce(&self, topic: &str, records: &[Record]) -> Vec<Produced> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(5000) {
            let mut futures = Vec::with_capacity(chunk.len());
            for r in chunk {
                let mut fr = FutureRecord::<str, str>::to(topic).partition(r.partition);
                if let Some(k) = &r.key {
                    fr = fr.key(k.as_str());
                }
                if let Some(v) = &r.value {
                    fr = fr.payload(v.as_str());
                }
                loop {
                    match self.producer.send_result(fr) {
                        Ok(f) => {
                            futures.push(f);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            fr = back;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err((e, _)) => panic!("produce to {topic}/{}: {e}", r.partition),
                    }
                }
            }
            let results = self.rt.block_on(async {
                let mut v = Vec::with_capacity(futures.len());
                for f in futures {
                    v.push(f.await);
                }
                v
            });
            for (r, res) in chunk.iter().zip(results) {
                match res {
                    Ok(Ok(d)) => {
                        assert_eq!(d.partition, r.partition, "delivered to another partition");
                        out.push(Produced {
                            partition: d.partition,
                            offset: d.offset,
                            expect: r.expect,
                            value: r.value.clone(),
                            event_ts: r.event_ts,
                        });
                    }
                    Ok(Err((e, _))) => panic!("delivery to {topic}/{} failed: {e}", r.partition),
                    Err(_) => panic!("delivery to {topic}/{} canceled", r.partition),
                }
            }
        }
        // the labels assume the broker kept the send order within each partition
        let mut last: HashMap<i32, i64> = HashMap::new();
        for p in &out {
            if let Some(prev) = last.insert(p.partition, p.offset) {
                assert!(
                    p.offset > prev,
                    "broker reordered records of {topic}/{}: offset {} after {prev}",
                    p.partition,
                    p.offset
                );
            }
        }
        out
    }
}
