//! Soak: the gold, Bronze and CDC jobs in one process on SeaweedFS S3 through the REST catalog,
//! checkpointing every 250 ms for at least 2,000 checkpoints each, with table maintenance at its
//! defaults (no settings), while records and changes keep arriving. Halfway the stream is
//! stopped and every table checked against the oracle; at the end again. From the exported
//! metrics: each table's snapshots, data and delete files and `metadata.json` stay under
//! bounds the defaults promise. The commit p99 of the first and the last minute is printed
//! (timing targets belong to `floe bench`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_tests::cdc::{CdcGen, ChangeCounts, CDC_JOB};
use floe_tests::*;

const PARTITIONS: i32 = 3;
/// Checkpoints each job commits per half of the soak.
const HALF: f64 = 1_000.0;
const JOBS: [&str; 3] = [
    floe_tests::records::JOB_NAME,
    floe_tests::bronze::BRONZE_JOB,
    CDC_JOB,
];

/// The metrics exposition at a moment of the run.
struct Scrape {
    at: Instant,
    text: String,
}

/// The `q` quantile of job `job`'s commit durations between two scrapes, interpolated within
/// the histogram's buckets as Prometheus' `histogram_quantile` does.
fn commit_quantile(from: &Scrape, to: &Scrape, job: &str, q: f64) -> Option<f64> {
    let job_label = format!("job_name=\"{job}\"");
    let buckets = |s: &Scrape| -> Vec<(f64, f64)> {
        let mut found: Vec<(f64, f64)> = s
            .text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("floe_commit_duration_seconds_bucket{")?;
                let (labels, value) = rest.split_once("} ")?;
                let labels: Vec<&str> = labels.split(',').collect();
                if !labels.contains(&job_label.as_str()) {
                    return None;
                }
                let le = labels
                    .iter()
                    .find_map(|l| l.strip_prefix("le=\""))?
                    .trim_end_matches('"');
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, value.trim().parse().ok()?))
            })
            .collect();
        found.sort_by(|a, b| a.0.total_cmp(&b.0));
        found
    };
    let (a, b) = (buckets(from), buckets(to));
    let counts: Vec<(f64, f64)> = b
        .iter()
        .map(|(le, n)| {
            let before = a.iter().find(|(l, _)| l == le).map_or(0.0, |(_, n)| *n);
            (*le, n - before)
        })
        .collect();
    let total = counts.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for (le, n) in counts {
        if n >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let share = (rank - lower.1) / (n - lower.1).max(1e-9);
            return Some(lower.0 + (le - lower.0) * share);
        }
        lower = (le, n);
    }
    None
}

/// Checkpoints job `job` committed, from a scrape.
fn committed(text: &str, job: &str) -> f64 {
    metric_value(
        text,
        &format!("floe_checkpoints_committed_total{{job_name=\"{job}\"}}"),
    )
    .unwrap_or(0.0)
}

/// Streams until every job committed `checkpoints`, scraping the metrics every 2 s.
fn stream_for(job: &mut Job, metrics: &str, checkpoints: f64) -> Vec<Scrape> {
    let mut run = job.start(&RunOptions::streaming().interval("250ms").metrics(metrics));
    let mut scrapes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1_200);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            run.poll().is_none(),
            "the soak run exited:\n{}",
            job.last_log_tail()
        );
        let Some(text) = http_get(metrics, "/metrics") else {
            continue;
        };
        let done = JOBS.iter().all(|j| committed(&text, j) >= checkpoints);
        scrapes.push(Scrape {
            at: Instant::now(),
            text,
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {checkpoints} checkpoints in 20 minutes"
        );
    }
    run.terminate();
    run.wait_for(Duration::from_secs(120))
        .expect("the soak run stops on SIGTERM");
    scrapes
}

/// The defaults' bounds on every table, from the last scrape.
fn assert_bounded(scrape: &Scrape) {
    let mut tables = 0;
    for line in scrape.text.lines() {
        let Some(rest) = line.strip_prefix("floe_table_snapshots{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("a sample");
        let labels = format!("{{{labels}}}");
        let of = |name: &str| metric_value(&scrape.text, &format!("{name}{labels}")).unwrap_or(0.0);
        let snapshots: f64 = value.trim().parse().expect("a number");
        tables += 1;
        eprintln!(
            "[soak] {labels}: {snapshots} snapshots, {} data files, {} delete files, metadata.json {} bytes, {} data bytes",
            of("floe_table_data_files"),
            of("floe_table_delete_files"),
            of("floe_table_metadata_file_bytes"),
            of("floe_table_data_bytes"),
        );
        // max_snapshots (100) plus what one maintenance interval (every 50 checkpoints) adds.
        assert!(snapshots <= 160.0, "{labels}: {snapshots} snapshots");
        assert!(
            of("floe_table_metadata_file_bytes") <= 1_048_576.0,
            "{labels}: metadata.json over 1 MB"
        );
        assert!(
            of("floe_table_delete_files") <= 80.0,
            "{labels}: {} delete files",
            of("floe_table_delete_files")
        );
        assert!(
            of("floe_table_data_files") <= 400.0,
            "{labels}: {} data files",
            of("floe_table_data_files")
        );
    }
    assert!(
        tables >= 5,
        "the tables' health is exported ({tables} tables)"
    );
}

/// Job `job`'s mean commit duration between two scrapes (the histogram's sum over its count).
fn commit_mean(from: &Scrape, to: &Scrape, job: &str) -> Option<f64> {
    let value = |s: &Scrape, name: &str| -> f64 {
        let prefix = format!("floe_commit_duration_seconds_{name}{{job_name=\"{job}\"}} ");
        s.text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let count = value(to, "count") - value(from, "count");
    (count > 0.0).then(|| (value(to, "sum") - value(from, "sum")) / count)
}

/// The scrape nearest after `from` + `secs` seconds.
fn scrape_after(scrapes: &[Scrape], from: Instant, secs: u64) -> Option<&Scrape> {
    scrapes
        .iter()
        .find(|s| s.at >= from + Duration::from_secs(secs))
}

/// Prints the commit p99 of each job in the first minute of the first run (`early`) and the
/// last minute of the last (`late`), and the first run's mean commit time in its second and
/// last 30 s. Figures, not checks: speed targets are the benches'.
fn report_commit_p99(early: &[Scrape], late: &[Scrape]) {
    let first = &early[0];
    let after_a_minute = early
        .iter()
        .find(|s| s.at >= first.at + Duration::from_secs(60))
        .expect("a run longer than a minute");
    let last = late.last().expect("scrapes");
    let a_minute_before = late
        .iter()
        .rev()
        .find(|s| s.at + Duration::from_secs(60) <= last.at)
        .expect("a run longer than a minute");
    for job in JOBS {
        let p99 = |from, to| commit_quantile(from, to, job, 0.99).map_or(f64::NAN, |s| s * 1e3);
        // The first minute closes no one-minute window yet: the second shows the gold job's
        // commits with rows on a table still young.
        let second_minute =
            scrape_after(early, first.at, 120).map_or(f64::NAN, |to| p99(after_a_minute, to));
        eprintln!(
            "[soak] {job}: commit p99 {:.1} ms in the first minute, {second_minute:.1} ms in the second, {:.1} ms in the last",
            p99(first, after_a_minute),
            p99(a_minute_before, last)
        );
        let (Some(second_from), Some(second_to), Some(end)) = (
            scrape_after(early, first.at, 30),
            scrape_after(early, first.at, 60),
            early.last(),
        ) else {
            continue;
        };
        let Some(last_from) = early
            .iter()
            .rev()
            .find(|s| s.at + Duration::from_secs(30) <= end.at)
        else {
            continue;
        };
        let mean = |from, to| commit_mean(from, to, job).map_or(f64::NAN, |s| s * 1e3);
        eprintln!(
            "[soak] {job}: first run ({:.0} s): mean commit {:.1} ms in its second 30 s, {:.1} ms in its last 30 s",
            (end.at - first.at).as_secs_f64(),
            mean(second_from, second_to),
            mean(last_from, end)
        );
    }
}

#[test]
fn soak_two_thousand_checkpoints_with_default_maintenance_on_s3() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = Job::new(
        &services,
        "soak",
        JobOptions {
            storage: Storage::S3(S3Services::from_env()),
            ..JobOptions::with_partitions(PARTITIONS).interval("250ms")
        },
    );
    let kafka = job.kafka();
    let bronze = job.add_bronze_job();
    let cdc = job.add_cdc_job(&kafka, PARTITIONS);
    let metrics = free_local_addr();

    let mut gen = ContentGen::new(77, 40);
    let mut changes = CdcGen::new(77, 2_000, PARTITIONS);
    let mut counts = ChangeCounts::default();
    counts.add(&kafka.produce(&cdc.topic, &changes.snapshot(2_000)));
    let mut log = EventLog::default();
    let mut start = BASE_TS + 5_000;
    let mut first_half: Vec<Scrape> = Vec::new();
    for half in 1..=2 {
        let spec = StreamSpec::minutes(start, 8, 24_000, PARTITIONS, Placement::ByKey, 5_000);
        // The next half starts a window later: the bounded run that ends this half closes the
        // window its last events fall in, which a run without that stop would keep open.
        start += 9 * 60_000;
        let events = gen.stream_with_bad(&spec, 2 * BAD_KINDS);
        let change_records = changes.changes(12_000);
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let (brokers, stop) = (services.brokers.clone(), stop.clone());
            let (topic, cdc_topic) = (job.topic.clone(), cdc.topic.clone());
            std::thread::spawn(move || {
                let kafka = Kafka::connect(&brokers);
                let (mut events_out, mut changes_out) = (Vec::new(), Vec::new());
                // Every record is produced: the two lists in as many slices each, paced to
                // outlast the run (~330 s here), so that its last minute streams as its first
                // does; what is left when it stops follows at once.
                let chunks = 400;
                let slice = |records: &[Record], i: usize| -> Vec<Record> {
                    let (from, to) = (records.len() * i / chunks, records.len() * (i + 1) / chunks);
                    records[from..to].to_vec()
                };
                for i in 0..chunks {
                    events_out.extend(kafka.produce(&topic, &slice(&events, i)));
                    changes_out.extend(kafka.produce(&cdc_topic, &slice(&change_records, i)));
                    if !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(1_000));
                    }
                }
                let outlasted_the_run = stop.load(Ordering::Relaxed);
                (events_out, changes_out, outlasted_the_run)
            })
        };
        // Each run's counters start at zero: 2 x HALF checkpoints in all.
        let scrapes = stream_for(&mut job, &metrics, HALF);
        stop.store(true, Ordering::Relaxed);
        let (events_out, changes_out, outlasted_the_run) =
            producer.join().expect("producer thread");
        if !outlasted_the_run {
            eprintln!("[soak] note: the producer ran out before the run ended; its last minute had no new records");
        }
        log.extend(events_out);
        counts.add(&changes_out);
        eprintln!(
            "[soak] half {half}: {} events, {} change records so far",
            log.records.len(),
            counts.changes
        );
        assert_bounded(scrapes.last().expect("scrapes"));
        if half == 1 {
            first_half = scrapes;
        } else {
            report_commit_p99(&first_half, &scrapes);
        }
        job.run_until_end(Duration::from_secs(300));
        job.assert_exact(&log);
        job.assert_bronze_exact(&log, &bronze);
        job.assert_cdc_exact(&cdc, &changes, counts);
    }
}
