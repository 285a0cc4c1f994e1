//! Hopping, cumulating and session windows written in SQL (`HOP`, `CUMULATE`, `SESSION`), and
//! conditions of expressions, against the real broker:
//! the gold table must be what DuckDB computes by the windows' definition over the same events
//! (tests/py/expected_gold.py), as pyiceberg and DuckDB read it, through random SIGKILLs of one
//! process and through a rescale of a cluster.

use std::time::Duration;

use floe_tests::cluster::*;
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(60);

/// One-minute windows every 10 s of the events a `WHERE` keeps, through random kills.
#[test]
fn hopping_windows_of_a_where_through_random_kills_are_duckdbs() {
    let _serial = serial();
    let mut job = Job::from_env("sql-hop", JobOptions::with_partitions(3));
    job.switch_to_sql_with(GoldWindows::Hopping { slide_s: 10 });
    // The bad records lacking a key are shares and impressions: the WHERE keeps them, so they
    // are still dead letters.
    job.sql_where(
        "header.event_type <> 'completion'",
        "event_type <> 'completion'",
    );
    through_random_kills(job, seed("sql-hop"));
}

/// One-minute windows of the events a WHERE of expressions keeps (`IN`, `OR`, `NOT LIKE` of a
/// function's value, `COALESCE`, arithmetic, `IS NULL`), of the rows a HAVING with `OR` keeps,
/// through random kills. The bad records lacking a key (a share, an impression) pass the WHERE,
/// so they are still dead letters.
#[test]
fn windows_of_a_where_and_a_having_of_expressions_through_random_kills_are_duckdbs() {
    let _serial = serial();
    let mut job = Job::from_env("sql-expr", JobOptions::with_partitions(3));
    job.switch_to_sql();
    job.sql_where(
        "(header.event_type IN ('share', 'impression', 'like') OR body.watch_ms > 60000) \
         AND COALESCE(LOWER(body.video_id), 'none') NOT LIKE '%7' \
         AND (body.watch_ms IS NULL OR body.watch_ms % 7 <> 3)",
        // expected_gold.py's watch_ms is 0 when missing or null.
        "(event_type IN ('share', 'impression', 'like') OR watch_ms > 60000) \
         AND coalesce(lower(video_id), 'none') NOT LIKE '%7' AND watch_ms % 7 <> 3",
    );
    job.sql_having("COUNT(*) >= 3 OR likes > 0", "events >= 3 OR likes > 0");
    through_random_kills(job, seed("sql-expr"));
}

/// One-minute windows every 20 s of the distinct users who shared each video
/// (`COUNT(DISTINCT …) FILTER`), through random kills: a window's rows are kept per video and
/// user in its slices, merged, and collapsed to one per video when it is written.
#[test]
fn distinct_sharers_of_hopping_windows_through_random_kills_are_duckdbs() {
    let _serial = serial();
    let mut job = Job::from_env("sql-distinct", JobOptions::with_partitions(3));
    job.switch_to_sql_with(GoldWindows::Hopping { slide_s: 20 });
    job.sql_shares(
        "COUNT(DISTINCT body.user_id) FILTER (WHERE header.event_type = 'share')",
        "count(DISTINCT user_id) FILTER (WHERE event_type = 'share')",
    );
    through_random_kills(job, seed("sql-distinct"));
}

/// One-minute windows' sketches of each of two videos' events other than impressions
/// (`APPROX_COUNT_DISTINCT(header.event_id) FILTER`, thousands a window), through random kills:
/// each estimate is HyperLogLog's of the event ids DuckDB lists for the window, computed by
/// expected_gold.py from the paper. A window's registers are rows per video and register,
/// merged across runs and collapsed when it is written.
#[test]
fn sketches_of_distinct_events_through_random_kills_are_the_estimates_of_duckdbs_events() {
    let _serial = serial();
    let mut job = Job::from_env("sql-sketch", JobOptions::with_partitions(3));
    job.switch_to_sql();
    job.sql_sketched_shares(
        "APPROX_COUNT_DISTINCT(header.event_id) FILTER (WHERE header.event_type <> 'impression')",
        "list(DISTINCT event_id) FILTER (WHERE event_type <> 'impression')",
    );
    through_random_kills_of(job, seed("sql-sketch"), 30_000, 2);
}

/// Five minutes of disordered events of 20 videos with bad records on 3 partitions keyed by
/// video, produced while streaming runs are SIGKILLed after random moments; then the last run,
/// and the tables checked against DuckDB's windows.
fn through_random_kills(job: Job, seed: u64) {
    through_random_kills_of(job, seed, 900, 20);
}

/// [`through_random_kills`] of `events` events of `videos` videos.
fn through_random_kills_of(mut job: Job, seed: u64, events: usize, videos: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let spec = StreamSpec::minutes(BASE_TS + 2_000, 5, events, 3, Placement::ByKey, 8_000);
    let records = ContentGen::new(seed, videos).stream_with_bad(&spec, BAD_KINDS);
    let producer = produce_slowly(&job, records, Duration::from_secs(12));
    let kills = job.kill_streaming_runs_until(
        || Duration::from_millis(rng.random_range(700..=2_500)),
        || producer.is_finished(),
    );
    let (log, _) = produced(&job, producer);
    log.validate_labels(false, None);
    assert!(kills > 0 && log.count(Expect::Bad) > 0);
    job.run_until_end_exact(&log, WAIT);
}

/// Windows growing by 20 s up to a minute, of the keys with two events or more, on a cluster of
/// two workers that a third joins and one of the first two leaves, its partitions moving with
/// their slices. The HAVING holds for keys whose events are spread over workers only once their
/// parts are merged.
#[test]
fn cumulating_windows_having_two_events_on_a_cluster_through_a_rescale_are_duckdbs() {
    let _serial = serial();
    let mut job = cluster_job(&Services::from_env(), "sql-cumulate", 6);
    job.switch_to_sql_with(GoldWindows::Cumulating { step_s: 20 });
    job.sql_having("COUNT(*) >= 2", "events >= 2");
    let producer = produce_slowly(
        &job,
        mixed_records(6, seed("sql-cumulate"), 6, 6_000),
        Duration::from_secs(20),
    );
    let mut cluster = Cluster::new("sql-cumulate", "1s");
    rescale(&mut cluster, &mut job);
    finish(cluster, job, producer, WAIT, STOP);
}

/// Each video's sessions of a 3 s gap, through random kills (the topic is keyed by video, as
/// sessions need).
#[test]
fn sessions_of_each_video_through_random_kills_are_duckdbs() {
    let _serial = serial();
    let mut job = Job::from_env("sql-session", JobOptions::with_partitions(3));
    job.switch_to_sql_with(GoldWindows::Session { gap_s: 3 });
    through_random_kills(job, seed("sql-session"));
}

/// Sessions on a cluster of two workers that a third joins and one of the first two leaves:
/// open sessions move with their partitions.
#[test]
fn sessions_on_a_cluster_through_a_rescale_are_duckdbs() {
    let _serial = serial();
    let mut job = cluster_job(&Services::from_env(), "sql-session-cluster", 6);
    job.switch_to_sql_with(GoldWindows::Session { gap_s: 4 });
    let spec = StreamSpec::minutes(BASE_TS + 5_000, 6, 6_000, 6, Placement::ByKey, 5_000);
    let records =
        ContentGen::new(seed("sql-session-cluster"), 40).stream_with_bad(&spec, BAD_KINDS);
    let producer = produce_slowly(&job, records, Duration::from_secs(20));
    let mut cluster = Cluster::new("sql-session-cluster", "1s");
    rescale(&mut cluster, &mut job);
    finish(cluster, job, producer, WAIT, STOP);
}

/// Starts a coordinator and two workers, then a third, then makes one of the first two leave,
/// each step once the partitions are assigned.
fn rescale(cluster: &mut Cluster, job: &mut Job) {
    cluster.start_coordinator(job, "c1");
    cluster.wait_for("a leader", WAIT, |s| leader(s) == Some("c1"));
    for w in ["w1", "w2"] {
        cluster.start_worker(job, w);
    }
    let two = cluster.workers();
    cluster.wait_for("both workers assigned", WAIT, |s| {
        assigned_workers(s) == two && last_checkpoint(s) >= 2
    });
    cluster.start_worker(job, "w3");
    let three = cluster.workers();
    cluster.wait_for("w3 owns its share", WAIT, |s| assigned_workers(s) == three);
    cluster.leave("w1", STOP);
    let rest = cluster.workers();
    cluster.wait_for("w1's partitions on the others", WAIT, |s| {
        assigned_workers(s) == rest
    });
}
