//! Checks of the harness's own assumptions about the broker (no floe involved): topics are
//! created with the asked partitions, the offsets recorded from the deliveries are where the
//! records really are, values (empty, null, JSON) come back unchanged and in order. If one of
//! these fails, the other end-to-end tests would blame the engine for a broker or harness fault.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use floe_tests::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

#[test]
fn produced_offsets_and_values_read_back_exactly() {
    let _serial = serial();
    let services = Services::from_env();
    let topic = unique_topic("harness");
    let kafka = Kafka::connect(&services.brokers);
    kafka.create_topic(&topic, 3);

    let mut gen = ContentGen::new(99, 10);
    let mut recs = gen.stream(&StreamSpec {
        start_ms: BASE_TS,
        duration_ms: 120_000,
        count: 3000,
        partitions: 3,
        placement: Placement::Random,
        jitter_ms: 8_000,
    });
    let bad = gen.bad_records(3 * BAD_KINDS, 3);
    gen.insert_randomly(&mut recs, bad, 0);
    // two batches: offsets must continue across them
    let (a, b) = recs.split_at(1700);
    let mut log = EventLog::default();
    log.extend(kafka.produce(&topic, a));
    log.extend(kafka.produce(&topic, b));
    assert_eq!(log.records.len(), recs.len());

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &services.brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");

    let want: HashMap<(i32, i64), Option<String>> = log
        .records
        .iter()
        .map(|r| ((r.partition, r.offset), r.value.clone()))
        .collect();
    let mut seen: HashMap<(i32, i64), Option<String>> = HashMap::new();
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "read back only {} of {} records in 60 s",
            seen.len(),
            want.len()
        );
        let Some(m) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.expect("consume");
        let key = (m.partition(), m.offset());
        if let Some(prev) = last_offset.insert(m.partition(), m.offset()) {
            assert!(
                m.offset() > prev,
                "partition {} went back from {prev} to {}",
                m.partition(),
                m.offset()
            );
        }
        let value = m
            .payload()
            .map(|v| String::from_utf8(v.to_vec()).expect("utf-8 value"));
        assert!(seen.insert(key, value).is_none(), "{key:?} read twice");
    }
    let mut null_as_empty = 0;
    for (k, v) in &want {
        let got = seen.get(k).unwrap_or_else(|| panic!("{k:?} not read back"));
        match (v, got) {
            // librdkafka may hand an empty value over as no payload and vice versa; both are
            // dead letters for the engine, so only note it
            (Some(e), None) | (None, Some(e)) if e.is_empty() => null_as_empty += 1,
            _ => assert_eq!(got, v, "value at {k:?}"),
        }
    }
    eprintln!(
        "[harness] {} records on {topic} read back exactly ({null_as_empty} empty/null values swapped)",
        want.len()
    );
}
