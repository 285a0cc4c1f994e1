//! The gold job written in streaming SQL (`examples/video_stats.sql`) against the real broker:
//! its gold, late and dead-letter tables must be what the TOML job's are, row for row, as the
//! independent readers see them, on one process through a restart and on a cluster. A query
//! without a window (`examples/content_events_silver.sql`) appends what its WHERE keeps.

use std::time::Duration;

use floe_tests::cluster::*;
use floe_tests::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(60);

/// Disordered events with bad records on 3 partitions, a first run stopped with SIGINT, then
/// events late for windows it committed among new ones.
#[test]
fn the_sql_gold_job_writes_the_gold_late_and_dead_letter_tables_through_a_restart() {
    let _serial = serial();
    let mut job = Job::from_env("sql-gold", JobOptions::with_partitions(3));
    job.switch_to_sql();
    let mut gen = ContentGen::new(41, 20);
    let kafka = job.kafka();
    let mut log = EventLog::default();

    let spec = StreamSpec::minutes(BASE_TS + 2_000, 4, 1200, 3, Placement::ByKey, 8_000);
    let first = gen.stream_with_bad(&spec, BAD_KINDS);
    job.produce(&kafka, &mut log, &first);
    log.validate_labels(false, None);
    let floor = job.stream_until_committed(&log, &RunOptions::streaming(), Stop::Interrupt);

    let late = gen.late_events(30, 3, BASE_TS + 2_000..=floor - 2 * WINDOW_MS);
    let spec = StreamSpec::minutes(
        BASE_TS + 2_000 + 4 * 60_000,
        3,
        900,
        3,
        Placement::ByKey,
        8_000,
    );
    let mut second = gen.stream_with_bad(&spec, BAD_KINDS);
    gen.insert_randomly(&mut second, late, 0);
    job.produce(&kafka, &mut log, &second);
    log.validate_labels(false, Some(floor));
    assert!(log.count(Expect::Late) >= 30 && log.count(Expect::Bad) > 0);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// A coordinator started with `--sql` runs the SQL job on two workers.
#[test]
fn a_cluster_runs_the_sql_gold_job() {
    let _serial = serial();
    let mut job = cluster_job(&Services::from_env(), "sql-cluster", 6);
    job.switch_to_sql();
    let seed = seed("sql-cluster");
    let producer = produce_slowly(
        &job,
        mixed_records(6, seed, 6, 6_000),
        Duration::from_secs(10),
    );
    let mut cluster = Cluster::new("sql-cluster", "1s");
    cluster.start_coordinator(&mut job, "c1");
    cluster.wait_for("a leader", WAIT, |s| leader(s) == Some("c1"));
    for w in ["w1", "w2"] {
        cluster.start_worker(&mut job, w);
    }
    finish(cluster, job, producer, WAIT, STOP);
}

/// The Silver job: disordered events with bad records and copies of some records (as a
/// producer's retries) on 3 partitions, produced while streaming runs are SIGKILLed; the first
/// record of each event id its WHERE keeps is one row, once.
#[test]
fn a_silver_sql_job_appends_the_records_its_where_keeps_once_through_kills() {
    use rand::{Rng, SeedableRng};
    let _serial = serial();
    let seed = seed("sql-silver");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut job = Job::from_env("sql-silver", JobOptions::with_partitions(3));
    let table = job.switch_to_silver_sql();
    let spec = StreamSpec::minutes(BASE_TS + 2_000, 3, 1_500, 3, Placement::Random, 8_000);
    let mut gen = ContentGen::new(seed, 20);
    let mut records = gen.stream_with_bad(&spec, 2 * BAD_KINDS);
    let copies: Vec<Record> = records
        .iter()
        .filter(|_| rng.random_bool(0.1))
        .cloned()
        .collect();
    assert!(!copies.is_empty());
    gen.insert_randomly(&mut records, copies, 0);
    let producer = produce_slowly(&job, records, Duration::from_secs(10));
    let kills = job.kill_streaming_runs_until(
        || Duration::from_millis(rng.random_range(700..=2_500)),
        || producer.is_finished(),
    );
    let (log, _) = produced(&job, producer);
    assert!(kills > 0);
    job.run_until_end(RUN_TIMEOUT);
    job.assert_silver_exact(&log, &table);
    job.assert_each_checkpoint_once(&table, "content_events");
}
