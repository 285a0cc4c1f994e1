//! Where a job resumes: `start = "latest"` kept from the first start, a checkpointed offset the
//! topic no longer holds, a bounded run followed by streaming, a replaced checkpoint store.

use std::time::Duration;

use floe_tests::*;

fn stream(gen: &mut ContentGen, start_ms: i64, windows: i64, count: usize) -> Vec<Record> {
    gen.stream(&StreamSpec {
        start_ms,
        duration_ms: windows * WINDOW_MS,
        count,
        partitions: 3,
        placement: Placement::Random,
        jitter_ms: 2_000,
    })
}

/// A restart must not skip what was produced while the job was down, even when the job had
/// read nothing yet: "latest" is resolved at the first start and kept in the checkpoint.
#[test]
fn latest_means_latest_at_the_first_start() {
    let _g = serial();
    let mut job = Job::from_env("start-latest", JobOptions::default());
    job.set_source("start", "latest");
    let mut gen = ContentGen::new(seed("start-latest"), 50);
    // Before the first start: skipped by "latest" (a day earlier, so they would show as rows).
    let kafka = job.kafka();
    let mut before = EventLog::default();
    job.produce(
        &kafka,
        &mut before,
        &stream(&mut gen, BASE_TS - 86_400_000, 2, 300),
    );

    let mut first = job.start(&RunOptions::streaming().interval("300ms"));
    first.wait_for_log("a committed checkpoint", Duration::from_secs(60), |l| {
        l.contains("checkpoint committed")
    });
    first.kill();

    let log = job.produce_checked(&stream(&mut gen, BASE_TS, 4, 3_000));
    job.run_until_end_exact(&log, Duration::from_secs(120));
}

/// A checkpointed offset the partition no longer holds (here: the topic was recreated with
/// fewer records) stops the job by default, with the partition, the offset and what there is;
/// with `on_offset_out_of_range = "earliest"` the job goes on from the first offset.
#[test]
fn a_lost_position_fails_loudly_or_moves_as_configured() {
    let _g = serial();
    let mut job = Job::from_env("lost-position", JobOptions::default());
    let mut gen = ContentGen::new(seed("lost-position"), 50);
    let mut log = job.produce_checked(&stream(&mut gen, BASE_TS, 3, 3_000));
    job.run_until_end(Duration::from_secs(120));

    // "Recreate" the topic: same job and checkpoints, a new topic with a few records.
    let recreated = unique_topic("lost-position-recreated");
    let kafka = job.kafka();
    kafka.create_topic(&recreated, 3);
    let records = stream(&mut gen, BASE_TS + 5 * WINDOW_MS, 2, 30);
    log.extend(kafka.produce(&recreated, &records));
    let mut failing = job.start(&RunOptions::until_end().arg("--topic").arg(&recreated));
    failing.expect_crash(Duration::from_secs(60), "offset out of range");
    let tail = failing.log_tail(20);
    assert!(
        tail.contains("the checkpoint resumes at offset") && tail.contains("holds offsets 0.."),
        "the error names the partition, the offset and what is available:\n{tail}"
    );

    job.set_source("on_offset_out_of_range", "earliest");
    let mut moved = job.start(&RunOptions::until_end().arg("--topic").arg(&recreated));
    moved.expect_success(Duration::from_secs(120));
    job.assert_exact(&log);
}

/// A bounded run closes every window; the job then goes on streaming from its checkpoint, and
/// its later events land in their windows (not in the late table).
#[test]
fn a_bounded_run_leaves_a_job_that_can_go_on_streaming() {
    let _g = serial();
    let mut job = Job::from_env("bounded-then-stream", JobOptions::default());
    let mut gen = ContentGen::new(seed("bounded-then-stream"), 50);
    let kafka = job.kafka();
    let mut log = EventLog::default();
    job.produce(&kafka, &mut log, &stream(&mut gen, BASE_TS, 4, 2_000));
    job.run_until_end(Duration::from_secs(120));

    // Windows after the last one the bounded run wrote (jitter stays inside the gap).
    job.produce(
        &kafka,
        &mut log,
        &stream(&mut gen, BASE_TS + 5 * WINDOW_MS + 3_000, 4, 2_000),
    );
    log.validate_labels(false, None);
    job.stream_until_committed(
        &log,
        &RunOptions::streaming().interval("300ms"),
        Stop::Terminate,
    );
    job.run_until_end_exact(&log, Duration::from_secs(120));
}

/// A job whose checkpoint store was emptied (or replaced) while its tables hold its commits
/// refuses to start, instead of writing its windows a second time; `--start-over latest`
/// starts it again with nothing doubled.
#[test]
fn an_emptied_checkpoint_store_is_refused() {
    let _g = serial();
    let mut job = Job::from_env("emptied-store", JobOptions::default());
    let mut gen = ContentGen::new(seed("emptied-store"), 50);
    let log = job.produce_checked(&stream(&mut gen, BASE_TS, 3, 2_000));
    job.run_until_end(Duration::from_secs(120));

    let store = job.local_checkpoints().to_path_buf();
    std::fs::remove_dir_all(&store).expect("empty the store");
    std::fs::create_dir_all(&store).expect("recreate the store dir");
    let mut refused = job.start(&RunOptions::until_end());
    refused.expect_crash(Duration::from_secs(60), "a store behind the tables");
    let tail = refused.log_tail(20);
    assert!(
        tail.contains("was the store replaced or emptied") && tail.contains("--start-over"),
        "{tail}"
    );

    let mut over = job.start(&RunOptions::until_end().arg("--start-over").arg("latest"));
    over.expect_success(Duration::from_secs(120));
    job.assert_exact(&log);
}

/// Another engine rewrites the tables and expires the snapshots Floe wrote: the job's last
/// committed checkpoint must still be known (a table property written in the same commit), or
/// the next start would commit that checkpoint's rows a second time.
#[test]
fn the_last_checkpoint_survives_table_maintenance() {
    let _g = serial();
    let mut job = Job::from_env("maintenance", JobOptions::default());
    let mut gen = ContentGen::new(seed("maintenance"), 50);
    let kafka = job.kafka();
    let mut log = EventLog::default();
    job.produce(&kafka, &mut log, &stream(&mut gen, BASE_TS, 3, 1_500));
    job.run_until_end(Duration::from_secs(120));

    for table in [
        job.gold_table.clone(),
        job.late_table.clone(),
        job.dlq_table.clone(),
    ] {
        if job.summaries(&table).is_some_and(|s| !s.is_empty()) {
            job.rewrite_and_expire(&table);
            assert!(job.committed_checkpoint_ids(&table).is_empty(), "{table}");
        }
    }
    // The restart re-commits its newest complete checkpoint where it is missing: nowhere.
    job.produce(
        &kafka,
        &mut log,
        &stream(&mut gen, BASE_TS + 4 * WINDOW_MS + 3_000, 2, 800),
    );
    job.run_until_end_exact(&log, Duration::from_secs(120));
}
