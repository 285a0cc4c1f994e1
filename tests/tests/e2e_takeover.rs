//! Two processes of one job (a rolling update, a zombie): the newer one takes the job over,
//! the older one stops with a clear error at its next manifest or commit, and whichever of them
//! is killed, the tables end exact.

use std::time::Duration;

use floe_tests::*;
use rand::{Rng, SeedableRng};

#[test]
fn a_second_process_takes_the_job_over_and_nothing_is_doubled() {
    let _g = serial();
    let mut job = Job::from_env("takeover", JobOptions::default());
    let seed = seed("takeover");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gen = ContentGen::new(seed, 100);
    let spec = |start_ms: i64, count: usize| StreamSpec {
        start_ms,
        duration_ms: 6 * WINDOW_MS,
        count,
        partitions: 3,
        placement: Placement::Random,
        jitter_ms: 2_000,
    };
    let kafka = job.kafka();
    let mut log = EventLog::default();
    job.produce(&kafka, &mut log, &gen.stream(&spec(BASE_TS, 40_000)));

    let mut old = job.start(&RunOptions::streaming().interval("200ms"));
    old.wait_for_log("a first commit with rows", Duration::from_secs(60), |l| {
        l.contains("checkpoint committed") && !l.contains("rows=0")
    });
    let mut new = job.start(&RunOptions::streaming().interval("200ms"));
    new.wait_for_log("the take-over", Duration::from_secs(60), |l| {
        l.contains("took over the job's tables")
    });
    // More input while both run.
    job.produce(
        &kafka,
        &mut log,
        &gen.stream(&spec(BASE_TS + 6 * WINDOW_MS + 3_000, 20_000)),
    );
    log.validate_labels(false, None);

    if rng.random_bool(0.5) {
        eprintln!("[takeover] the old process stops by itself; SIGKILL the new one");
        let status = old
            .wait_for(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("the replaced process went on:\n{}", old.describe()));
        assert!(!status.success(), "{}", old.describe());
        let tail = old.log_tail(30);
        assert!(tail.contains("newer process"), "a clear reason:\n{tail}");
        std::thread::sleep(Duration::from_millis(rng.random_range(0..1500)));
        new.kill();
    } else {
        eprintln!("[takeover] SIGKILL the old process; the new one streams on");
        old.kill();
        let until = log.watermark_over(&[0, 1, 2]);
        job.wait_for_windows(&log, until, Duration::from_secs(120), &mut new);
        new.terminate();
        new.expect_success(Duration::from_secs(60));
    }
    job.run_until_end_exact(&log, Duration::from_secs(120));
}
