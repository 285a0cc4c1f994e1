//! Unit tests of `reader.rs`, against librdkafka's mock cluster.

use std::collections::BTreeSet;

use floe_common::config::example_job;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::*;
use crate::create_consumer;

const TOPIC: &str = "events";

fn produce(producer: &BaseProducer, partition: i32, n: usize) {
    for i in 0..n {
        let payload = format!(
            r#"{{"header":{{"event_type":"like","event_ts":{}}},"body":{{"video_id":"v","watch_ms":1}}}}"#,
            1_000 + i
        );
        let record = BaseRecord::<(), _>::to(TOPIC)
            .partition(partition)
            .payload(&payload);
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// Reads until each partition of `until` has been read up to its offset there; the
/// partitions each batch brought.
async fn read_until(reader: &mut KafkaReader, until: &[(i32, i64)]) -> Vec<BTreeSet<i32>> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let behind =
        |r: &KafkaReader| (until.iter()).any(|(p, at)| r.next.get(p).copied().unwrap_or(0) < *at);
    while behind(reader) && Instant::now() < deadline {
        let mut events = Vec::new();
        reader.read(&mut events).await.expect("read");
        for e in events {
            if let ReadEvent::Batch(b) = e {
                seen.push(b.partitions.iter().copied().collect());
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_partition_brings_no_more_records_and_the_others_read_on() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 2, 1).expect("topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    produce(&producer, 0, 50);
    produce(&producer, 1, 50);
    let mut job = example_job();
    job.source.topic = TOPIC.into();
    job.source.brokers = cluster.bootstrap_servers();
    let decoder = Arc::new(Decoder::new(&job).expect("decoder"));
    let mut reader = KafkaReader::new(KafkaReaderArgs {
        consumer: Arc::new(create_consumer(&job).expect("consumer")),
        source: job.source.clone(),
        partitions: vec![(0, 0), (1, 0)],
        end_offsets: None,
        decoder,
        max_batch: 10,
        linger: Duration::from_millis(1),
        pool: BatchPool::new(4),
        skipped: Arc::default(),
    });
    reader.start(&mut Vec::new()).await.expect("start");
    read_until(&mut reader, &[(0, 30), (1, 30)]).await;
    reader.remove(&[1]).await.expect("remove");
    produce(&producer, 0, 50);
    produce(&producer, 1, 50);
    let after = read_until(&mut reader, &[(0, 100)]).await;
    assert_eq!(reader.next.get(&0), Some(&100), "partition 0 reads on");
    assert!(
        after.iter().all(|ps| !ps.contains(&1)),
        "no record of partition 1 after its removal: {after:?}"
    );
}
