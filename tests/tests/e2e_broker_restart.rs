//! A broker that goes away in the middle of a run and comes back on the same data: every
//! on-time event must still count in its window (none late, none lost, none doubled).
//! Runs against a tansu of its own, so stopping it disturbs no other test.

use std::time::{Duration, Instant};

use floe_tests::broker::PrivateBroker;
use floe_tests::*;

#[test]
fn a_broker_restart_keeps_on_time_events_on_time() {
    let _g = serial();
    let mut services = Services::from_env();
    let broker_dir = tempfile::tempdir().expect("broker dir");
    let mut broker = PrivateBroker::start(broker_dir.path());
    services.brokers = broker.addr.clone();
    let opts = JobOptions {
        partitions: 6,
        // Shorter than the outage: partitions with a backlog must still not count as idle.
        idle_timeout: "2s".into(),
        ..JobOptions::default()
    };
    let mut job = Job::new(&services, "broker-restart", opts);
    let mut gen = ContentGen::new(seed("broker-restart"), 300);
    let records = gen.stream(&StreamSpec {
        start_ms: BASE_TS,
        duration_ms: 30 * WINDOW_MS,
        count: 240_000,
        partitions: 6,
        placement: Placement::Random,
        jitter_ms: 3_000,
    });
    let log = job.produce_checked(&records);

    // A consumer per partition: each reconnects to the broker on its own schedule.
    let mut run = job.start(
        &RunOptions::streaming()
            .interval("500ms")
            .arg("--readers")
            .arg("6"),
    );
    // Stop the broker while most of the topic is still unread.
    run.wait_for_log("a first commit with rows", Duration::from_secs(60), |l| {
        l.contains("checkpoint committed") && !l.contains("rows=0")
    });
    broker.pause();
    let stopped = Instant::now();
    let before = run.committed_in_log().into_iter().max().unwrap_or(0);
    eprintln!("[broker-restart] broker stopped after checkpoint {before}");
    // The topic is listed in the background: checkpoints go on while the broker is away.
    run.wait_for_log(
        "checkpoint committed while the broker is away",
        Duration::from_secs(8),
        |l| committed_checkpoint(l).is_some_and(|id| id > before),
    );
    std::thread::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed()));
    broker.resume();
    eprintln!("[broker-restart] broker started again");

    let until = log.watermark_over(&[0, 1, 2, 3, 4, 5]);
    job.wait_for_windows(&log, until, Duration::from_secs(180), &mut run);
    run.terminate();
    run.expect_success(Duration::from_secs(60));
    job.run_until_end_exact(&log, Duration::from_secs(180));
}
