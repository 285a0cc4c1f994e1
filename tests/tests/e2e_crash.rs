//! Exactly once across crashes: SIGKILL at random moments and the engine's failpoints
//! (`FLOE_CRASH_AT`), then one run to completion; the tables must equal what one failure-free
//! run gives (design invariants 1, 2, 3, 4, 5, 6).
//!
//! Plan (~20k events, ~20 minutes of event time, 4 partitions, some late and bad records):
//! - phase A: a background thread produces minutes 0–10 (+ bad records) slowly, for ~30 s, while
//!   runs crash at the failpoints after-state-upload, after-data-files, after-manifest and
//!   after-commit, each aimed at a checkpoint a few past the newest in the store (each must
//!   exit non-zero and name the failpoint; being live, the checkpoints have new data); the
//!   last three fire only at a checkpoint with files for two or more tables, which the test
//!   checks (in the manifest, and for after-commit in the tables: committed to the side table
//!   only), then
//!   runs are SIGKILLed after a random 0.3–3 s until the producer is done;
//!   then a run commits every window up to the watermark of phase A and is stopped with SIGTERM:
//!   that proves a watermark the engine has passed (runs without --until-end here, because an
//!   --until-end run that completes closes every window, and later data would then be late);
//! - phase B: minutes 10–20, bad records, and late events (older than the committed windows, on
//!   every partition, mixed in) are produced at once; 5 `--until-end` runs are SIGKILLed after a
//!   random 0.2–1.5 s (a whole run takes about a second); a last `--until-end` run completes;
//! - gold exact (pyiceberg + DuckDB), late and dead-letter tables exact by (partition, offset),
//!   no checkpoint id committed twice.
//!
//! The random choices come from a printed seed (`FLOE_E2E_SEED` replays them).

use std::time::{Duration, Instant};

use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 4;
const MINUTE: i64 = 60_000;

/// `(checkpoint, tables)` from the line a failpoint prints when it fires.
fn failpoint_reached(line: &str, point: &str) -> Option<(u64, usize)> {
    let rest = line.split(&format!("failpoint {point}:")).nth(1)?;
    let (id, rest) = rest.split_once(" reached with files for ")?;
    let (tables, _) = rest.split_once(' ')?;
    Some((id.parse().ok()?, tables.parse().ok()?))
}

fn random_kill_delay(rng: &mut StdRng) -> Duration {
    Duration::from_millis(rng.random_range(300..=3000))
}

#[test]
fn exactly_once_across_crashes_and_restarts() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("crash");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut job = Job::new(
        &services,
        "crash",
        JobOptions::with_partitions(PARTITIONS).interval("300ms"),
    );
    let mut gen = ContentGen::new(seed, 50);
    let start = BASE_TS + 5_000;

    // ---------------------------------------------------------------- phase A (live)
    let spec = StreamSpec::minutes(start, 10, 10_000, PARTITIONS, Placement::ByKey, 8_000);
    // Enough bad records that most checkpoints have dead letters: those that also close a
    // window carry files for two tables, which the failpoints below wait for.
    let phase_a = gen.stream_with_bad(&spec, 20 * BAD_KINDS);
    // Chunks come faster than checkpoints (every 300 ms), so that the checkpoint which carries
    // a closed window's rows has read new records too, and most likely a dead letter with them:
    // the failpoints below wait for such a checkpoint of two tables. (With one chunk per ~1.5
    // checkpoints, a run of window closes could all fall between chunks until the producer was
    // done.)
    let producer = job.produce_in_background(phase_a, 60, Duration::from_millis(150));

    let t0 = Instant::now();
    // Each failpoint is aimed a few checkpoints past the newest one in the store, so that the
    // run has read live data by then (its first checkpoints are empty while it starts). The
    // ones after data files are written fire at the first checkpoint from there that has files
    // for two or more tables (`N+`): crashes then leave orphan files of several tables, an
    // uncommitted manifest of several tables, and a checkpoint committed to some tables only.
    for point in [
        "after-state-upload",
        "after-data-files",
        "after-manifest",
        "after-commit",
    ] {
        let multi_table = point != "after-state-upload";
        let mut attempt = 0;
        loop {
            attempt += 1;
            let id = job.latest_checkpoint_id_on_disk().unwrap_or(0) + 3;
            let fp = format!("{point}:{id}{}", if multi_table { "+" } else { "" });
            let mut p = job.start(
                &RunOptions::streaming()
                    .interval("300ms")
                    .env("FLOE_CRASH_AT", &fp),
            );
            let deadline = Instant::now() + Duration::from_secs(60);
            let give_up_at = id + if multi_table { 60 } else { 2 };
            let mut stopped = false;
            let status = loop {
                if let Some(s) = p.poll() {
                    break s;
                }
                if !stopped && job.latest_checkpoint_id_on_disk().unwrap_or(0) >= give_up_at {
                    p.terminate();
                    stopped = true;
                }
                assert!(
                    Instant::now() < deadline,
                    "FLOE_CRASH_AT={fp}: run neither crashed nor passed checkpoint {give_up_at} in 60 s:\n{}",
                    p.describe()
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            if status.success() {
                assert!(
                    stopped && attempt < 5,
                    "FLOE_CRASH_AT={fp} did not fire by checkpoint {give_up_at} (attempt {attempt}; \
                     live producer done: {}):\n{}",
                    producer.is_finished(),
                    p.describe()
                );
                eprintln!("[crash] FLOE_CRASH_AT={fp} did not fire; aiming again");
                continue;
            }
            let fired = problems_in_file(&p.log, 50)
                .into_iter()
                .find_map(|l| failpoint_reached(&l, point));
            let Some((crashed, tables)) = fired else {
                panic!(
                    "floe failed under FLOE_CRASH_AT={fp} but not by the failpoint (not named in \
                     its log): a real crash?\n{}",
                    p.describe()
                );
            };
            eprintln!(
                "[crash] FLOE_CRASH_AT={fp}: checkpoint {crashed} with files for {tables} tables, \
                 exited with {status} after {:.1}s",
                p.elapsed().as_secs_f64()
            );
            if multi_table {
                assert!(tables >= 2, "{fp} fired at a checkpoint of {tables} tables");
            }
            if point == "after-manifest" || point == "after-commit" {
                let in_manifest = job.manifest_tables_on_disk(crashed);
                assert!(
                    in_manifest.len() >= 2,
                    "manifest {crashed}: {in_manifest:?}"
                );
            }
            if point == "after-commit" {
                // Half committed: the first table holds the checkpoint, the aggregate table not.
                let first = job.manifest_tables_on_disk(crashed)[0].clone();
                let gold = job.gold_table.clone();
                assert_ne!(first, gold, "side tables are committed first");
                assert!(job.committed_checkpoint_ids(&first).contains(&crashed));
                assert!(!job.committed_checkpoint_ids(&gold).contains(&crashed));
            }
            break;
        }
    }
    let kills =
        job.kill_streaming_runs_until(|| random_kill_delay(&mut rng), || producer.is_finished());
    let mut log = EventLog::default();
    log.extend(producer.join().expect("producer thread"));
    log.validate_labels(false, None);
    eprintln!(
        "[crash] phase A produced {} records in {:.1}s; {kills} random kills during it",
        log.records.len(),
        t0.elapsed().as_secs_f64()
    );
    if kills == 0 {
        eprintln!("[crash] note: the failpoint runs outlasted the live producer; no random kill in phase A");
    }

    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    let until = log.watermark_over(&partitions);
    let mut p = job.start(&RunOptions::streaming().interval("300ms"));
    job.wait_for_windows(&log, until, Duration::from_secs(120), &mut p);
    p.terminate();
    p.expect_success(Duration::from_secs(60));
    let floor = until.div_euclid(WINDOW_MS) * WINDOW_MS;

    // ---------------------------------------------------------------- phase B (all at once)
    let spec = StreamSpec::minutes(
        start + 10 * MINUTE,
        10,
        10_000,
        PARTITIONS,
        Placement::ByKey,
        8_000,
    );
    let mut phase_b = gen.stream(&spec);
    let late = gen.late_events(40, PARTITIONS, start..=floor - 2 * MINUTE);
    gen.insert_randomly(&mut phase_b, late, 0);
    let bad = gen.bad_records(4 * BAD_KINDS, PARTITIONS);
    gen.insert_randomly(&mut phase_b, bad, 0);
    let kafka = job.kafka();
    job.produce(&kafka, &mut log, &phase_b);
    log.validate_labels(false, Some(floor));
    eprintln!(
        "[crash] {} records in all: {} ok, {} late, {} bad",
        log.records.len(),
        log.count(Expect::Ok),
        log.count(Expect::Late),
        log.count(Expect::Bad)
    );

    // A whole phase-B run takes about a second here, so these kills come sooner than phase
    // A's (0.3–3 s) to land while it reads and commits.
    let mut finished_alone = 0;
    for i in 0..5 {
        let delay = Duration::from_millis(rng.random_range(200..=1500));
        let mut p = job.start(&RunOptions::until_end().interval("300ms"));
        match p.wait_for(delay) {
            Some(s) if s.success() => {
                finished_alone += 1;
                eprintln!(
                    "[crash] phase B run {i}: finished by itself before the kill at {:.2}s",
                    delay.as_secs_f64()
                )
            }
            Some(_) => panic!("floe failed without being killed:\n{}", p.describe()),
            None => {
                p.kill();
                eprintln!(
                    "[crash] phase B run {i}: SIGKILL after {:.2}s",
                    delay.as_secs_f64()
                );
            }
        }
    }

    if finished_alone > 0 {
        eprintln!(
            "[crash] note: {finished_alone} of the 5 phase-B runs finished before their kill"
        );
    }
    let mut last = job.start(&RunOptions::until_end().interval("300ms"));
    last.expect_success(Duration::from_secs(300));
    eprintln!(
        "[crash] final run finished in {:.1}s",
        last.elapsed().as_secs_f64()
    );
    job.assert_exact(&log);
}
