//! Bronze beside Gold: the append job of `examples/bronze.toml` and the gold job of
//! `examples/video_stats.toml` in one config, one process, reading one topic through the real
//! broker. Records with drifted bodies, bad headers (bad for both jobs, or only for Bronze:
//! a header field of the wrong type), late events and tombstones; runs SIGKILLed at random
//! moments while the producer is live, a crash at the failpoint between two tables' commits,
//! then one run to the end. Both tables must be exact for both readers: every Bronze record's
//! (partition, offset) once with its header fields and body, the dead letters of each job, and
//! the gold rows.
//!
//! The random choices come from a printed seed (`FLOE_E2E_SEED` replays them).

use std::time::Duration;

use floe_tests::bronze::BRONZE_JOB;
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 3;
const MINUTE: i64 = 60_000;

/// A well-formed gold event whose header has a field of the wrong type for Bronze.
fn wrongly_typed_header(gen: &mut ContentGen, partition: i32, ts: i64) -> Record {
    let video = gen.videos()[0].clone();
    let value = serde_json::json!({
        "header": {"event_id": 12345, "event_type": "like", "event_ts": ts},
        "body": {"video_id": video, "watch_ms": 7},
    });
    Record {
        partition,
        key: Some(video),
        value: Some(value.to_string()),
        expect: Expect::Ok,
        event_ts: Some(ts),
    }
}

#[test]
fn bronze_and_gold_from_one_config_exactly_once_across_kills() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("bronze");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut job = Job::new(
        &services,
        "bronze",
        JobOptions::with_partitions(PARTITIONS).interval("300ms"),
    );
    let bronze = job.add_bronze_job();
    let mut gen = ContentGen::new(seed, 40);
    let start = BASE_TS + 5_000;
    let spec = StreamSpec::minutes(start, 6, 6_000, PARTITIONS, Placement::ByKey, 5_000);
    let mut records = gen.stream_with_bad(&spec, 6 * BAD_KINDS);
    // Placed right after an event of its partition, at that event's time: never late.
    for _ in 0..20 {
        let i = rng.random_range(0..records.len());
        if let (Expect::Ok, Some(ts)) = (records[i].expect, records[i].event_ts) {
            let odd = wrongly_typed_header(&mut gen, records[i].partition, ts);
            records.insert(i + 1, odd);
        }
    }
    let producer = job.produce_in_background(records, 250, Duration::from_millis(400));

    let kills = job.kill_streaming_runs_until(
        || Duration::from_millis(rng.random_range(500..=3000)),
        || producer.is_finished(),
    );
    let mut log = EventLog::default();
    log.extend(producer.join().expect("producer thread"));
    log.validate_labels(false, None);
    eprintln!(
        "[bronze] produced {} records; {kills} kills while producing",
        log.records.len()
    );

    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    let watermark = log.watermark_over(&partitions);
    assert!(
        watermark > start + 2 * MINUTE,
        "the late events' windows must close"
    );
    job.stream_until_committed(&log, &RunOptions::streaming().interval("300ms"), Stop::Kill);

    // More minutes, bad records, and late events for gold (their windows have closed), which
    // Bronze keeps like any other: every checkpoint of the next run has files for two or more
    // tables of each job.
    let spec = StreamSpec::minutes(
        start + 6 * MINUTE,
        2,
        1_500,
        PARTITIONS,
        Placement::ByKey,
        5_000,
    );
    let mut more = gen.stream(&spec);
    let extra = gen
        .bad_records(2 * BAD_KINDS, PARTITIONS)
        .into_iter()
        .chain((0..PARTITIONS).map(|p| gen.late_event(p, start + 1_000)))
        .collect();
    gen.insert_randomly(&mut more, extra, 0);
    let kafka = job.kafka();
    job.produce(&kafka, &mut log, &more);

    // A crash between the commits of one checkpoint's tables (whichever job gets there first).
    let id = job.latest_checkpoint_id_on_disk().unwrap_or(0) + 1;
    job.crash_at(&format!("after-commit:{id}+"));

    job.run_until_end_exact(&log, Duration::from_secs(240));
    job.assert_bronze_exact(&log, &bronze);
    job.assert_each_checkpoint_once(&bronze.table, BRONZE_JOB);
}
