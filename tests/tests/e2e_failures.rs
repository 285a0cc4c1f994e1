//! Failures are loud: a failing job stops the process (and the other jobs in it) with a
//! non-zero exit, and a job whose shape changed refuses the state it cannot use.

use std::time::Duration;

use floe_tests::*;

/// Two jobs in one process; the second reads a topic that does not exist. Its failure is
/// reported at once, the first job stops cleanly, and the process exits non-zero so that its
/// supervisor restarts it.
#[test]
fn the_first_failing_job_stops_the_others_and_the_process() {
    let _g = serial();
    let mut job = Job::from_env("two-jobs", JobOptions::default());
    let mut gen = ContentGen::new(21, 20);
    job.produce_checked(&gen.stream(&StreamSpec {
        start_ms: BASE_TS,
        duration_ms: 2 * WINDOW_MS,
        count: 500,
        partitions: 3,
        placement: Placement::Random,
        jitter_ms: 0,
    }));
    let text = std::fs::read_to_string(&job.config).expect("config");
    let mut doc: toml::Table = text.parse().expect("toml");
    let jobs = doc["job"].as_array_mut().expect("[[job]]");
    let mut second = jobs[0].clone();
    let t = second.as_table_mut().expect("table");
    t.insert("name".into(), "broken".into());
    t["source"]
        .as_table_mut()
        .expect("source")
        .insert("topic".into(), unique_topic("never-created").into());
    let sink = t["sink"].as_table_mut().expect("sink");
    for key in ["table", "late_table", "dead_letter_table"] {
        let name = format!("{}_broken", sink[key].as_str().expect("name"));
        sink.insert(key.into(), name.into());
    }
    jobs.push(second);
    std::fs::write(&job.config, toml::to_string(&doc).expect("toml")).expect("write");

    let mut run = job.start(&RunOptions::streaming());
    let status = run.wait_for(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "the process went on without its failed job:\n{}",
            run.describe()
        )
    });
    assert!(!status.success(), "{}", run.describe());
    let log = run.log_tail(40);
    assert!(
        log.contains("job=broken") && log.contains("does not exist"),
        "the failure names the job and why:\n{log}"
    );
    assert!(
        log.contains("job finished"),
        "the healthy job stopped cleanly:\n{log}"
    );
}

/// State written by a job of another shape (here: another window size) is refused with a
/// clear message; `--start-over` runs the changed job with empty state.
#[test]
fn a_changed_job_refuses_its_old_state() {
    let _g = serial();
    let mut job = Job::from_env("changed-job", JobOptions::default());
    let mut gen = ContentGen::new(22, 20);
    let log = job.produce_checked(&gen.stream(&StreamSpec {
        start_ms: BASE_TS,
        duration_ms: 3 * WINDOW_MS,
        count: 900,
        partitions: 3,
        placement: Placement::Random,
        jitter_ms: 0,
    }));
    job.run_until_end(Duration::from_secs(120));

    job.edit_job_config(|j| {
        j["window"]
            .as_table_mut()
            .expect("window")
            .insert("size".into(), "2m".into());
    });
    let mut refused = job.start(&RunOptions::until_end());
    refused.expect_crash(Duration::from_secs(60), "a changed job");
    let tail = refused.log_tail(20);
    assert!(
        tail.contains("another shape") && tail.contains("--start-over"),
        "{tail}"
    );

    let mut fresh = job.start(&RunOptions::until_end().arg("--start-over").arg("latest"));
    fresh.expect_success(Duration::from_secs(120));
    job.assert_exact(&log);
}
