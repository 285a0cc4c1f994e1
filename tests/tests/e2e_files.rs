//! End-to-end tests of the gold job over files (`source.type = "files"`): positions in files
//! survive SIGKILLs, new files and lines appended to read files are picked up while watching, a
//! job without `watch` ends by itself, and the tables equal what one failure-free run over the
//! same input gives, read by pyiceberg and DuckDB.

use std::time::{Duration, Instant};

use floe_tests::input_files::InputFiles;
use floe_tests::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const READ_TIMEOUT: Duration = Duration::from_secs(90);

/// `count` in-order events from `start_minute` on for `minutes`, with some undecodable lines.
fn records(gen: &mut ContentGen, start_minute: i64, minutes: i64, count: usize) -> Vec<Record> {
    let mut recs = gen.stream(&StreamSpec {
        start_ms: BASE_TS + start_minute * 60_000,
        duration_ms: minutes * 60_000,
        count,
        partitions: 1,
        placement: Placement::ByKey,
        jitter_ms: 3_000,
    });
    // Empty and null values have no line of their own.
    let bad: Vec<Record> = (0..12)
        .map(|k| gen.bad_record(0, k))
        .filter(|r| r.value.as_deref().is_some_and(|v| !v.trim().is_empty()))
        .collect();
    gen.insert_randomly(&mut recs, bad, 0);
    recs
}

/// Points the job at `dir`'s `*.jsonl` files.
fn read_files(job: &Job, dir: &std::path::Path, watch: bool) {
    read_files_with(job, dir, watch, &[]);
}

/// [`read_files`] with more `[job.source.files]` settings.
fn read_files_with(job: &Job, dir: &std::path::Path, watch: bool, more: &[(&str, toml::Value)]) {
    job.edit_job_config(|j| {
        let source = j
            .get_mut("source")
            .and_then(|s| s.as_table_mut())
            .expect("[job.source]");
        source.insert("type".into(), "files".into());
        let mut files = toml::Table::new();
        files.insert("location".into(), dir.display().to_string().into());
        files.insert("glob".into(), "*.jsonl".into());
        files.insert("watch".into(), watch.into());
        for (k, v) in more {
            files.insert((*k).into(), v.clone());
        }
        source.insert("files".into(), files.into());
    });
}

/// Waits until the job's metrics show every split of `ids` read to the end of its file.
fn wait_until_read(p: &mut FloeProcess, metrics: &str, ids: &[i32]) {
    wait_for_metrics(p, metrics, ids, |text| {
        ids.iter().all(|id| {
            let sample = format!("floe_consumer_lag{{job_name=\"{JOB_NAME}\",partition=\"{id}\"}}");
            metric_value(text, &sample) == Some(0.0)
        })
    });
}

/// Waits until split `id` has counted every good record `log` has in its file.
fn wait_until_counted(p: &mut FloeProcess, metrics: &str, id: i32, log: &EventLog) {
    let good = log
        .records
        .iter()
        .filter(|r| r.partition == id && r.expect == Expect::Ok)
        .count();
    wait_for_metrics(p, metrics, &[id], |text| {
        let sample =
            format!("floe_partition_events_total{{job_name=\"{JOB_NAME}\",partition=\"{id}\"}}");
        metric_value(text, &sample) == Some(good as f64)
    });
}

fn wait_for_metrics(p: &mut FloeProcess, metrics: &str, ids: &[i32], done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        let text = http_get(metrics, "/metrics").unwrap_or_default();
        if done(&text) {
            return;
        }
        if let Some(s) = p.poll() {
            panic!(
                "floe exited ({s}) before reading {ids:?}:\n{}",
                p.describe()
            );
        }
        assert!(
            Instant::now() < deadline,
            "splits {ids:?} not read within {READ_TIMEOUT:?}:\n{text}\n{}",
            p.describe()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Watching a directory: a file read, SIGKILL; lines appended to it and a new file, read by the
/// next run; a file appearing while that run watches, and lines appended to it, SIGKILL again;
/// then a bounded run reads what is left, after the first file was moved away. Every line counts once, bad lines are dead letters at their file and offset.
#[test]
fn watched_files_are_read_once_across_kills_appends_and_new_files() {
    let _serial = serial();
    let mut job = Job::from_env("files-watch", JobOptions::with_partitions(1));
    let mut input = InputFiles::new(&job.root.join("input"));
    read_files(&job, &input.dir, true);
    let mut gen = ContentGen::new(91, 30);
    std::fs::write(input.dir.join("notes.txt"), "not an event\n").expect("write notes");

    input.write("a.jsonl", &records(&mut gen, 0, 5, 2_000));
    let metrics = free_local_addr();
    let mut p = job.start(&RunOptions::streaming().metrics(&metrics));
    wait_until_read(&mut p, &metrics, &input.ids());
    p.kill();

    input.write("a.jsonl", &records(&mut gen, 6, 1, 400));
    input.write("b.jsonl", &records(&mut gen, 8, 5, 2_000));
    let mut p = job.start(&RunOptions::streaming().metrics(&metrics));
    wait_until_read(&mut p, &metrics, &input.ids());
    input.write("c.jsonl", &records(&mut gen, 14, 3, 1_200));
    wait_until_read(&mut p, &metrics, &input.ids());
    // Lines appended to a file read to its end while the job watches it.
    input.write("c.jsonl", &records(&mut gen, 17, 1, 300));
    let c = input.id("c.jsonl");
    wait_until_counted(&mut p, &metrics, c, &input.log);
    p.kill();

    input.write("c.jsonl", &records(&mut gen, 18, 1, 300));
    // A file read and moved away: its split's open windows still count.
    std::fs::rename(input.dir.join("a.jsonl"), input.dir.join("a.jsonl.done")).expect("move a");
    job.run_until_end_exact(&input.log, RUN_TIMEOUT);
}

/// Without `watch`, `floe run` reads the files there are and ends by itself; a file without a
/// newline after its last line still counts that line.
#[test]
fn files_without_watch_end_the_job_when_read() {
    let _serial = serial();
    let mut job = Job::from_env("files-bounded", JobOptions::with_partitions(1));
    let mut input = InputFiles::new(&job.root.join("input"));
    read_files(&job, &input.dir, false);
    let mut gen = ContentGen::new(92, 30);
    input.write("2026-01-01T00.jsonl", &records(&mut gen, 0, 4, 1_500));
    input.write("2026-01-01T01.jsonl", &records(&mut gen, 5, 4, 1_500));
    let last = input.dir.join("2026-01-01T01.jsonl");
    let text = std::fs::read_to_string(&last).expect("read the last file");
    std::fs::write(&last, text.trim_end_matches('\n')).expect("drop the last newline");

    let mut p = job.start(&RunOptions::streaming());
    p.expect_success(RUN_TIMEOUT);
    job.assert_exact(&input.log);
}

/// The peak resident memory of a running process, in KiB (Linux's `VmHWM`).
fn peak_rss_kib(p: &FloeProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A line longer than `max_line_bytes` (a file that is not NDJSON, say) is a dead letter at its
/// offset, whether a newline or the end of its file ends it; the lines after it are read; and the
/// reader never holds such a line whole, so memory stays bounded.
#[test]
fn an_overlong_line_is_a_dead_letter_and_never_held_whole() {
    const MAX_LINE: i64 = 64 * 1024;
    const LONG: usize = 48 << 20;
    let _serial = serial();
    let mut job = Job::from_env("files-long-line", JobOptions::with_partitions(1));
    let mut input = InputFiles::new(&job.root.join("input"));
    read_files_with(
        &job,
        &input.dir,
        true,
        &[("max_line_bytes", MAX_LINE.into())],
    );
    let mut gen = ContentGen::new(93, 30);
    input.write("a.jsonl", &records(&mut gen, 0, 3, 1_000));
    let metrics = free_local_addr();
    let mut p = job.start(&RunOptions::streaming().metrics(&metrics));
    wait_until_read(&mut p, &metrics, &input.ids());
    let before = peak_rss_kib(&p);

    let overlong = |c: &str, len: usize| Record {
        partition: 0,
        key: None,
        value: Some(c.repeat(len)),
        expect: Expect::Bad,
        event_ts: None,
    };
    let mut b = records(&mut gen, 4, 2, 600);
    b.insert(b.len() / 2, overlong("x", LONG));
    // Longer than the limit but shorter than one read: refused all the same.
    b.insert(b.len() / 3, overlong("w", 2 * MAX_LINE as usize));
    input.write("b.jsonl", &b);
    let mut c = records(&mut gen, 6, 1, 300);
    c.push(overlong("y", LONG / 8));
    input.write("c.jsonl", &c);
    let path = input.dir.join("c.jsonl");
    let text = std::fs::read_to_string(&path).expect("read c");
    std::fs::write(&path, text.trim_end_matches('\n')).expect("drop c's last newline");
    wait_until_read(&mut p, &metrics, &input.ids());
    let grown_kib = peak_rss_kib(&p).saturating_sub(before);
    eprintln!("reading the long lines grew the peak memory by {grown_kib} KiB");
    assert!(
        grown_kib < 32 * 1024,
        "reading a {LONG}-byte line grew the peak memory by {grown_kib} KiB"
    );
    p.kill();

    job.run_until_end_exact(&input.log, RUN_TIMEOUT);
}
