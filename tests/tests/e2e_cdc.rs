//! CDC beside Gold and Bronze: the jobs of `examples/video_stats.toml`, `bronze.toml` and
//! `dim_videos.toml` in one config and one process, through the real broker. The CDC topic
//! carries a few thousand keys' creates, updates, deletes (with tombstones) and snapshot reads
//! in both envelope forms, hot keys changing several times within a checkpoint, and bad
//! records. Runs are SIGKILLed at random moments while both producers are live and after a
//! burst of changes, one crashes between the commits of a checkpoint's tables, then one runs
//! to the end: the dimension table (merge-on-read: position deletes and appended rows), read by
//! pyiceberg and by DuckDB, must equal the source table the generator kept, and the history table every version of its rows; the changelog
//! must hold each change once; the Gold and Bronze
//! tables must be exact as in their own tests.
//!
//! The random choices come from a printed seed (`FLOE_E2E_SEED` replays them).

use std::time::Duration;

use floe_tests::cdc::{CdcGen, ChangeCounts, CDC_JOB};
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 3;
const KEYS: usize = 3_000;

#[test]
fn cdc_gold_and_bronze_from_one_config_exactly_once_across_kills() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("cdc");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut job = Job::new(
        &services,
        "cdc",
        JobOptions::with_partitions(PARTITIONS).interval("300ms"),
    );
    let bronze = job.add_bronze_job();
    let kafka = job.kafka();
    let cdc = job.add_cdc_job(&kafka, PARTITIONS);

    let mut gen = ContentGen::new(seed, 40);
    let start = BASE_TS + 5_000;
    let spec = StreamSpec::minutes(start, 4, 3_000, PARTITIONS, Placement::ByKey, 5_000);
    let events = gen.stream_with_bad(&spec, 2 * BAD_KINDS);
    let mut changes = CdcGen::new(seed, KEYS, PARTITIONS);
    let mut change_records = changes.snapshot(KEYS / 2);
    change_records.extend(changes.changes(6_000));

    let (topic, cdc_topic) = (job.topic.clone(), cdc.topic.clone());
    let brokers = services.brokers.clone();
    let producer = std::thread::spawn(move || {
        let kafka = Kafka::connect(&brokers);
        let mut events_out = Vec::new();
        let mut changes_out = Vec::new();
        let chunks = 12;
        let (e, c) = (
            events.len().div_ceil(chunks),
            change_records.len().div_ceil(chunks),
        );
        for (events, changes) in events.chunks(e).zip(change_records.chunks(c)) {
            events_out.extend(kafka.produce(&topic, events));
            changes_out.extend(kafka.produce(&cdc_topic, changes));
            std::thread::sleep(Duration::from_millis(400));
        }
        (events_out, changes_out)
    });

    let kills = job.kill_streaming_runs_until(
        || Duration::from_millis(rng.random_range(500..=3000)),
        || producer.is_finished(),
    );
    let (events_out, changes_out) = producer.join().expect("producer thread");
    let mut log = EventLog::default();
    log.extend(events_out);
    let mut counts = ChangeCounts::default();
    counts.add(&changes_out);
    eprintln!(
        "[cdc] produced {} events and {} change records ({} changes, {} bad, the rest \
         tombstones) over {KEYS} keys, {} rows at the end; {kills} kills",
        log.records.len(),
        changes_out.len(),
        counts.changes,
        counts.bad,
        changes.table.len()
    );

    // A last burst of changes, then a SIGKILL in the middle of a streaming run that has
    // committed some of them.
    counts.add(&kafka.produce(&cdc.topic, &changes.changes(1_500)));
    job.kill_streaming_run_after(Duration::from_millis(rng.random_range(1500..=4000)));

    // Another burst, and a crash after the first table's commit (dead letters or changelog) of
    // the checkpoint that carries it, before its history and dimension overwrites: the restart
    // must commit the rewrite its manifest planned. (Gold and Bronze have nothing new, so only
    // the CDC job has a checkpoint with files for two or more tables.)
    counts.add(&kafka.produce(&cdc.topic, &changes.changes(800)));
    let id = std::fs::read_dir(job.local_checkpoints().join(CDC_JOB))
        .expect("the CDC job's checkpoints")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    job.crash_at(&format!("after-commit:{id}+"));
    let last_checkpoint =
        |job: &mut Job, table: &str| job.committed_checkpoint_ids(table).last().copied();
    let side_tables =
        last_checkpoint(&mut job, &cdc.dead_letters).max(last_checkpoint(&mut job, &cdc.changes));
    assert!(
        side_tables >= Some(id) && last_checkpoint(&mut job, &cdc.table) < Some(id),
        "the crash should leave a CDC checkpoint committed to its first table only"
    );

    job.run_until_end(Duration::from_secs(240));
    job.assert_cdc_exact(&cdc, &changes, counts);
    job.assert_exact(&log);
    job.assert_bronze_exact(&log, &bronze);
    let position_deletes: u64 = job
        .summaries(&cdc.table)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            s["summary"]["added-position-deletes"]
                .as_str()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        position_deletes > 0,
        "the dimension table took its changes by merge-on-read (position deletes)"
    );
    let ids = job.assert_each_checkpoint_once(&cdc.table, CDC_JOB);
    assert!(
        ids.len() >= 3,
        "the dimension table was rewritten over several checkpoints: {ids:?}"
    );
    floe_query_answers_as_duckdb_does(&mut job, &bronze.table, &cdc.table);
}

/// `floe query` over the three jobs' tables, now and at an older snapshot of the dimension
/// table (taken by position deletes since), answers as DuckDB does.
fn floe_query_answers_as_duckdb_does(job: &mut Job, bronze: &str, dimension: &str) {
    let gold = job.gold_table.clone();
    let per_video = format!(
        "SELECT video_id, count(*) AS windows, CAST(sum(events) AS BIGINT) AS events, \
         max(watch_ms_sum) AS most \
         FROM {gold} WHERE likes >= 0 GROUP BY video_id"
    );
    job.assert_query_is_duckdbs(&per_video, &[&gold], &per_video);
    let per_partition = format!(
        "SELECT kafka_partition, count(*) AS records, min(kafka_offset) AS first, \
         max(kafka_offset) AS last FROM {bronze} GROUP BY kafka_partition"
    );
    job.assert_query_is_duckdbs(&per_partition, &[bronze], &per_partition);
    let rows = format!(
        "SELECT video_id, title, category, status, duration_s FROM {dimension} \
         WHERE duration_s >= 60"
    );
    let now = job.assert_query_is_duckdbs(&rows, &[dimension], &rows);
    let snapshots: Vec<(i64, i64)> = job
        .summaries(dimension)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Some((s["snapshot_id"].as_i64()?, s["timestamp_ms"].as_i64()?)))
        .collect();
    let (older, committed_ms) = snapshots[snapshots.len() / 2];
    let then = job.assert_query_is_duckdbs(
        &format!(
            "SELECT video_id, title, category, status, duration_s \
             FROM {dimension} FOR SYSTEM_VERSION AS OF {older} WHERE duration_s >= 60"
        ),
        &[&format!("{dimension}@{older}")],
        &rows,
    );
    assert_ne!(
        now, then,
        "snapshot {older} of {snapshots:?} held other rows"
    );
    let committed = chrono::DateTime::from_timestamp_millis(committed_ms)
        .expect("a commit time")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let by_time = job.assert_query_is_duckdbs(
        &format!(
            "SELECT video_id, title, category, status, duration_s \
             FROM {dimension} FOR SYSTEM_TIME AS OF '{committed}' WHERE duration_s >= 60"
        ),
        &[&format!("{dimension}@{older}")],
        &rows,
    );
    assert_eq!(
        by_time, then,
        "the snapshot current at {committed} is {older}"
    );
}
