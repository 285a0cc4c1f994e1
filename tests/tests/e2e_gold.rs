//! End-to-end tests of the gold job (`gold.video_stats_1min`) against the real broker, checked by
//! independent readers. Each test has its own topic and temp dir (see floe_tests docs for how to
//! run them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use floe_tests::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const COMMIT_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A gold test's job: the default options on `partitions` partitions.
fn gold_job(label: &str, partitions: i32) -> Job {
    Job::from_env(label, JobOptions::with_partitions(partitions))
}

/// The events of a test of late events on one partition: `count` events over 4 minutes from
/// `start`, then `more` events over `more_minutes` with `late` events mixed in, each in a
/// window that ended at least 2 minutes before the newest event of the first part.
fn late_on_one_partition(
    gen: &mut ContentGen,
    start: i64,
    count: usize,
    late: usize,
    more_minutes: i64,
    more: usize,
) -> (Vec<Record>, Vec<Record>) {
    let spec = StreamSpec::minutes(start, 4, count, 1, Placement::Fixed(0), 4_000);
    let first = gen.stream(&spec);
    let newest = gen.partition_max(0).unwrap();
    // windows ending at least 2 minutes before the newest event
    let late_max = newest - 2 * WINDOW_MS - WINDOW_MS;
    let late = gen.late_events(late, 1, start..=late_max);
    let next = start + 4 * 60_000;
    let spec = StreamSpec::minutes(next, more_minutes, more, 1, Placement::Fixed(0), 4_000);
    let mut second = gen.stream(&spec);
    gen.insert_randomly(&mut second, late, 0);
    (first, second)
}

/// Case 1: In-order events on 3 partitions (partitioned by video id), ~5 minutes of event time.
#[test]
fn in_order_three_partitions() {
    let _serial = serial();
    let mut job = gold_job("in-order", 3);
    let mut gen = ContentGen::new(1, 20);
    let spec = StreamSpec::minutes(BASE_TS + 17_300, 5, 2000, 3, Placement::ByKey, 0);
    let recs = gen.stream(&spec);
    let log = job.produce_checked(&recs);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 2: Out-of-order events: times jittered by up to ±8 s (disorder within a partition kept below
/// the 10 s watermark delay), so nothing is late and the table is exact.
#[test]
fn out_of_order_within_watermark_delay() {
    let _serial = serial();
    let mut job = gold_job("out-of-order", 3);
    let mut gen = ContentGen::new(2, 20);
    let spec = StreamSpec::minutes(BASE_TS + 3_100, 5, 2000, 3, Placement::ByKey, 8_000);
    let recs = gen.stream(&spec);
    let log = job.produce_checked(&recs);
    let disordered = recs
        .windows(2)
        .filter(|w| w[0].partition == w[1].partition && w[1].event_ts < w[0].event_ts)
        .count();
    assert!(
        disordered > 50,
        "the generator should make disorder ({disordered})"
    );

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 3: Late beyond the allowed lateness, on one partition: after the stream has advanced 4
/// minutes, events 2+ minutes older than the newest one go to the late table (exact partition /
/// offset), not to gold. (One partition: there the engine's watermark at each record is fixed by
/// the offsets, whatever the read timing.)
#[test]
fn late_events_go_to_the_late_table() {
    let _serial = serial();
    let mut job = gold_job("late", 1);
    let mut gen = ContentGen::new(3, 20);
    let kafka = job.kafka();
    let mut log = EventLog::default();

    let (first, second) = late_on_one_partition(&mut gen, BASE_TS + 9_000, 1000, 30, 3, 750);
    job.produce(&kafka, &mut log, &first);
    job.produce(&kafka, &mut log, &second);
    log.validate_labels(true, None);
    assert_eq!(log.count(Expect::Late), 30);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 3b: Late events on several partitions, after a restart: a first run commits the windows up
/// to the watermark and is stopped with SIGINT; events older than those windows then arrive on
/// every partition among new in-order data. Their windows are closed for certain (the global
/// watermark is restored and monotonic), so they are late, whichever partition the engine reads
/// first; and gold gets no second row for an already committed window.
#[test]
fn late_events_after_restart_on_several_partitions() {
    let _serial = serial();
    let mut job = gold_job("late-restart", 3);
    let mut gen = ContentGen::new(33, 20);
    let kafka = job.kafka();
    let mut log = EventLog::default();

    let spec = StreamSpec::minutes(BASE_TS + 1_000, 4, 1200, 3, Placement::ByKey, 8_000);
    let first = gen.stream(&spec);
    job.produce(&kafka, &mut log, &first);
    log.validate_labels(false, None);
    let floor = job.stream_until_committed(&log, &RunOptions::streaming(), Stop::Interrupt);

    let late = gen.late_events(30, 3, BASE_TS + 1_000..=floor - 2 * WINDOW_MS);
    let spec = StreamSpec::minutes(
        BASE_TS + 1_000 + 4 * 60_000,
        3,
        900,
        3,
        Placement::ByKey,
        8_000,
    );
    let mut second = gen.stream(&spec);
    gen.insert_randomly(&mut second, late, 0);
    job.produce(&kafka, &mut log, &second);
    log.validate_labels(false, Some(floor));

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 4: Malformed records mixed in (not JSON, truncated, no / string / null / boolean event_ts,
/// no video_id, no body, empty value, null value, a JSON array): exact dead-letter table by
/// partition and offset, exact gold.
#[test]
fn malformed_records_go_to_dead_letters() {
    let _serial = serial();
    let mut job = gold_job("malformed", 3);
    let mut gen = ContentGen::new(4, 20);
    let spec = StreamSpec::minutes(BASE_TS + 45_000, 5, 1500, 3, Placement::ByKey, 8_000);
    let recs = gen.stream_with_bad(&spec, 4 * BAD_KINDS);
    let log = job.produce_checked(&recs);
    assert_eq!(log.count(Expect::Bad), 4 * BAD_KINDS);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 5: Idleness: 2 partitions, only partition 0 has data. Without --until-end, with a 1 s idle
/// timeout, partition 1 must stop holding the watermark back: every window ending at or before
/// (newest event − 10 s) gets committed. SIGTERM then exits 0, and a final --until-end run
/// commits the rest from the saved state (exact).
#[test]
fn idle_partition_does_not_hold_back_the_watermark() {
    let _serial = serial();
    let mut job = Job::from_env(
        "idle",
        JobOptions {
            partitions: 2,
            idle_timeout: "1s".into(),
            checkpoint_interval: "500ms".into(),
            ..Default::default()
        },
    );
    let mut gen = ContentGen::new(5, 20);
    let spec = StreamSpec::minutes(BASE_TS + 30_000, 5, 1000, 2, Placement::Fixed(0), 8_000);
    let recs = gen.stream(&spec);
    let log = job.produce_checked(&recs);

    let until = log.watermark_over(&[0]);
    let mut p = job.start(&RunOptions::streaming().interval("500ms"));
    job.wait_for_windows(&log, until, Duration::from_secs(60), &mut p);
    p.terminate();
    p.expect_success(STOP_TIMEOUT);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 6: The same videos on 4 partitions (each record to a random partition): the partial
/// aggregates of a (window, video) from every partition must end in exactly one row.
#[test]
fn same_key_on_several_partitions() {
    let _serial = serial();
    let mut job = gold_job("same-key", 4);
    let mut gen = ContentGen::new(6, 20);
    let spec = StreamSpec::minutes(BASE_TS + 12_000, 5, 2000, 4, Placement::Random, 8_000);
    let recs = gen.stream(&spec);
    let mut spread: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for r in &recs {
        spread
            .entry(r.key.as_deref().unwrap())
            .or_default()
            .insert(r.partition);
    }
    assert!(
        spread.values().all(|ps| ps.len() == 4),
        "every video should be on all 4 partitions"
    );
    let log = job.produce_checked(&recs);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Case 7: Restart: a run without --until-end is stopped with SIGTERM after its first commits; more
/// data arrives; a run with --until-end resumes from the checkpoint (offsets and open windows)
/// and the table is exact, with no checkpoint id committed twice.
#[test]
fn restart_after_sigterm_resumes_exactly() {
    let _serial = serial();
    let mut job = gold_job("restart", 3);
    let mut gen = ContentGen::new(7, 20);
    let spec = StreamSpec::minutes(BASE_TS + 20_000, 3, 1200, 3, Placement::ByKey, 8_000);
    let first = gen.stream(&spec);
    let spec = StreamSpec::minutes(
        BASE_TS + 20_000 + 3 * 60_000,
        3,
        1200,
        3,
        Placement::ByKey,
        8_000,
    );
    let second = gen.stream(&spec);
    let log = job.restart_between(&first, Stop::Terminate, &second);
    job.assert_exact(&log);
}

/// Case 9: `--metrics-addr` serves Prometheus metrics that agree with the input: every good and
/// late event counted, late ones rejected, bad records as dead letters, the watermark where the
/// data puts it, and committed checkpoints with their durations. The tables stay exact.
#[test]
fn metrics_endpoint_counts_what_the_job_saw() {
    let _serial = serial();
    let mut job = gold_job("metrics", 1);
    let mut gen = ContentGen::new(9, 20);
    // late: in windows that closed during the first four minutes, sent after them
    let (mut recs, second) = late_on_one_partition(&mut gen, BASE_TS + 5_000, 800, 12, 2, 400);
    recs.extend(second);
    let bad = gen.bad_records(BAD_KINDS, 1);
    gen.insert_randomly(&mut recs, bad, 0);
    let mut log = EventLog::default();
    job.produce(&job.kafka(), &mut log, &recs);
    log.validate_labels(true, None);
    let (ok, late, bad) = (
        log.count(Expect::Ok),
        log.count(Expect::Late),
        log.count(Expect::Bad),
    );
    assert_eq!((late, bad), (12, BAD_KINDS));

    let addr = free_local_addr();
    let mut p = job.start(&RunOptions::streaming().interval("500ms").metrics(&addr));
    let label = format!("{{job_name=\"{JOB_NAME}\"}}");
    let value = |text: &str, name: &str| metric_value(text, &format!("{name}{label}"));
    let deadline = std::time::Instant::now() + COMMIT_TIMEOUT;
    let mut all_read_at = None;
    let text = loop {
        assert!(p.poll().is_none(), "floe run exited: {}", p.describe());
        let text = http_get(&addr, "/metrics").unwrap_or_default();
        let events = value(&text, "floe_events_total").unwrap_or(0.0);
        let committed = value(&text, "floe_checkpoints_committed_total").unwrap_or(0.0);
        let timed = value(&text, "floe_checkpoint_duration_seconds_count").unwrap_or(0.0);
        // all input read, then a checkpoint committed after that (and at least two timed)
        if events as usize == ok + late {
            match all_read_at {
                None => all_read_at = Some(committed),
                Some(before) if committed > before && timed >= 2.0 => break text,
                Some(_) => {}
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics never showed {} events:\n{text}\n{}",
            ok + late,
            p.describe()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    p.terminate();
    p.expect_success(STOP_TIMEOUT);

    let late_rejected =
        format!("floe_late_events_total{{job_name=\"{JOB_NAME}\",outcome=\"rejected\"}}");
    assert_eq!(
        metric_value(&text, &late_rejected),
        Some(late as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "floe_dead_letters_total"),
        Some(bad as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "floe_watermark_seconds"),
        Some(log.watermark_over(&[0]) as f64 / 1000.0),
        "{text}"
    );
    let durations = value(&text, "floe_checkpoint_duration_seconds_count").unwrap_or(0.0);
    assert!(durations >= 2.0, "{text}");
    assert!(
        value(&text, "floe_rows_committed_total").unwrap_or(0.0) > 0.0,
        "{text}"
    );

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Event times outside a sane range (microseconds sent as milliseconds, before 1970) are dead
/// letters with their reason, and do not lift their partition's watermark: the on-time events
/// after them on the same partitions stay on time.
#[test]
fn wild_event_times_are_dead_letters() {
    let _serial = serial();
    let mut job = gold_job("wild-times", 3);
    let mut gen = ContentGen::new(11, 20);
    let spec = StreamSpec::minutes(BASE_TS, 4, 1200, 3, Placement::Random, 2_000);
    let mut recs = gen.stream(&spec);
    let wild: Vec<Record> = (0..6)
        .map(|i| {
            let ts = if i % 2 == 0 {
                BASE_TS * 1000
            } else {
                -86_400_000
            };
            Record {
                partition: i % 3,
                key: None,
                value: Some(gen.content_event(ts, "v_wild")),
                expect: Expect::Bad,
                event_ts: None,
            }
        })
        .collect();
    // Early in the stream, so most on-time events of each partition come after them.
    gen.insert_randomly(&mut recs, wild, 0);
    let log = job.produce_checked(&recs);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// Group keys holding the separator character of composite keys stay distinct, whole values.
#[test]
fn keys_holding_the_separator_stay_distinct() {
    let _serial = serial();
    let mut job = gold_job("separator-keys", 3);
    let mut gen = ContentGen::new(12, 20);
    let spec = StreamSpec::minutes(BASE_TS, 3, 600, 3, Placement::Random, 0);
    let mut recs = gen.stream(&spec);
    let odd = ["a", "a\u{1f}b", "a\u{1f}", "\u{1b}a\u{1f}b", "b"];
    let extra: Vec<Record> = (0..60)
        .map(|i| {
            let ts = BASE_TS + 1_000 * i as i64;
            Record {
                partition: 0,
                key: None,
                value: Some(gen.content_event(ts, odd[i % odd.len()])),
                expect: Expect::Ok,
                event_ts: Some(ts),
            }
        })
        .collect();
    recs.splice(0..0, extra);
    let log = job.produce_checked(&recs);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
}

/// A window the watermark has closed becomes visible without waiting for the checkpoint
/// interval (here an hour): the job checkpoints early, at most once per `min_pause`.
#[test]
fn closed_windows_are_committed_without_waiting_for_the_interval() {
    let _serial = serial();
    let mut job = gold_job("early-commit", 3);
    let mut gen = ContentGen::new(13, 20);
    let spec = StreamSpec::minutes(BASE_TS, 4, 1200, 3, Placement::Random, 2_000);
    let log = job.produce_checked(&gen.stream(&spec));
    job.stream_until_committed(
        &log,
        &RunOptions::streaming().interval("1h"),
        Stop::Terminate,
    );
    job.run_until_end_exact(&log, RUN_TIMEOUT);
}
