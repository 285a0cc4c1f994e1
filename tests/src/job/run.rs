//! Starting and stopping floe for a test's job: runs to the end, streaming runs stopped by a
//! signal, runs killed at random, and what they leave in the local checkpoint store.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{CheckOptions, Job, RunOptions, Stop};
use crate::container;
use crate::env::floe_bin;
use crate::process::FloeProcess;
use crate::records::{EventLog, Record, JOB_NAME, WINDOW_MS};

impl Job {
    /// Starts `floe run --config <this job's config> [--sql <its SQL>] ...` in the background.
    pub fn start(&mut self, opts: &RunOptions) -> FloeProcess {
        let mut args: Vec<String> = vec!["run".into()];
        args.extend(self.job_args());
        if opts.until_end {
            args.push("--until-end".into());
        }
        if let Some(i) = &opts.checkpoint_interval {
            args.extend(["--checkpoint-interval".into(), i.clone()]);
        }
        if let Some(a) = &opts.metrics_addr {
            args.extend(["--metrics-addr".into(), a.clone()]);
        }
        args.extend(opts.args.iter().cloned());
        let desc = format!(
            "floe run{}{}{}{}",
            if opts.until_end { " --until-end" } else { "" },
            opts.args
                .iter()
                .map(|a| format!(" {a}"))
                .collect::<String>(),
            opts.checkpoint_interval
                .as_ref()
                .map(|i| format!(" --checkpoint-interval {i}"))
                .unwrap_or_default(),
            opts.env
                .iter()
                .map(|(k, v)| format!(" [{k}={v}]"))
                .collect::<String>()
        );
        self.spawn(&args, &opts.env, &desc)
    }

    /// Starts `floe ARGS` in the job's directory with the job's storage environment, its output
    /// in a numbered log file; `desc` names the run in messages.
    pub fn spawn(&mut self, args: &[String], env: &[(String, String)], desc: &str) -> FloeProcess {
        self.runs += 1;
        let log = self.root.join(format!("floe-run-{:02}.log", self.runs));
        let f = File::create(&log).expect("create run log");
        let f2 = f.try_clone().expect("clone log handle");
        let mut env_all: Vec<(String, String)> = vec![("NO_COLOR".into(), "1".into())];
        if let Some(s3) = &self.s3 {
            env_all.extend(
                s3.env()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        env_all.extend(env.iter().cloned());
        let container = self
            .image
            .as_ref()
            .map(|_| format!("{}-{:02}", self.topic, self.runs));
        let mut cmd = match (&self.image, &container) {
            (Some(image), Some(name)) => {
                container::run_command(image, name, &self.root, &env_all, args)
            }
            _ => {
                let mut cmd = Command::new(floe_bin());
                // A crash aimed by the test's own environment must not reach every run; one
                // aimed through `env` does.
                cmd.env_remove("FLOE_CRASH_AT")
                    .args(args)
                    .envs(env_all.iter().map(|(k, v)| (k, v)));
                cmd
            }
        };
        cmd.current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", floe_bin().display()));
        let label = format!("{} run #{} `{desc}`", self.label, self.runs);
        eprintln!("[{label}] pid {}, log {}", child.id(), log.display());
        self.last_run_log = Some(log.clone());
        FloeProcess {
            child,
            container,
            label,
            log,
            started: Instant::now(),
            status: None,
        }
    }

    /// Streaming runs, each SIGKILLed after `delay()`, one after another until `done()`;
    /// returns how many were killed. A run that exits by itself fails the test.
    pub fn kill_streaming_runs_until(
        &mut self,
        mut delay: impl FnMut() -> Duration,
        done: impl Fn() -> bool,
    ) -> usize {
        let mut kills = 0;
        while !done() {
            let delay = delay();
            self.kill_streaming_run_after(delay);
            kills += 1;
            eprintln!("[{}] SIGKILL after {:.2}s", self.label, delay.as_secs_f64());
        }
        kills
    }

    /// A streaming run (checkpoints every 300 ms) SIGKILLed after `delay`; one that exits by
    /// itself before fails the test.
    pub fn kill_streaming_run_after(&mut self, delay: Duration) {
        let mut p = self.start(&RunOptions::streaming().interval("300ms"));
        if let Some(s) = p.wait_for(delay) {
            panic!("a streaming run exited by itself ({s}):\n{}", p.describe());
        }
        p.kill();
    }

    /// An `--until-end` run (checkpoints every 300 ms) with `FLOE_CRASH_AT=fp`, which must crash
    /// there within 120 s.
    pub fn crash_at(&mut self, fp: &str) {
        let mut p = self.start(
            &RunOptions::until_end()
                .interval("300ms")
                .env("FLOE_CRASH_AT", fp),
        );
        let crashed = p.expect_crash(Duration::from_secs(120), fp);
        eprintln!("[{}] FLOE_CRASH_AT={fp}: exited with {crashed}", self.label);
    }

    /// The final run and check of most tests: `floe run --until-end` to exit 0 within
    /// `timeout`, then [`Job::assert_exact`].
    pub fn run_until_end_exact(&mut self, log: &EventLog, timeout: Duration) {
        self.run_until_end(timeout);
        self.assert_exact(log);
    }

    /// `floe run --until-end` to exit 0 within `timeout`.
    pub fn run_until_end(&mut self, timeout: Duration) {
        let mut p = self.start(&RunOptions::until_end());
        p.expect_success(timeout);
        eprintln!(
            "[{}] finished in {:.1}s",
            p.label,
            p.elapsed().as_secs_f64()
        );
    }

    /// Runs `floe run` (no --until-end) until every window ending at or before the watermark
    /// of the data produced so far is committed, then stops it with `stop` (a signal it must
    /// answer with exit 0, or SIGKILL). Returns a watermark the engine has certainly reached
    /// (the end of the last of those windows, which has rows: the data is dense).
    pub fn stream_until_committed(&mut self, log: &EventLog, opts: &RunOptions, stop: Stop) -> i64 {
        let partitions: Vec<i32> = (0..self.partitions).collect();
        let until = log.watermark_over(&partitions);
        let mut p = self.start(opts);
        self.wait_for_windows(log, until, Duration::from_secs(120), &mut p);
        match stop {
            Stop::Terminate => p.terminate(),
            Stop::Interrupt => p.interrupt(),
            Stop::Kill => {
                p.kill();
            }
        }
        if stop != Stop::Kill {
            p.expect_success(Duration::from_secs(60));
        }
        eprintln!(
            "[{}] stopped ({stop:?}) after {:.1}s",
            p.label,
            p.elapsed().as_secs_f64()
        );
        until.div_euclid(WINDOW_MS) * WINDOW_MS
    }

    /// A restart in the middle: produces `first`, streams until its windows are committed and
    /// stops the run with `stop`, produces `second`, and finishes with an --until-end run that
    /// resumes from the checkpoint. Returns the log of everything produced.
    pub fn restart_between(&mut self, first: &[Record], stop: Stop, second: &[Record]) -> EventLog {
        let kafka = self.kafka();
        let mut log = EventLog::default();
        self.produce(&kafka, &mut log, first);
        log.validate_labels(false, None);
        self.stream_until_committed(&log, &RunOptions::streaming().interval("500ms"), stop);
        self.produce(&kafka, &mut log, second);
        log.validate_labels(false, None);
        self.run_until_end(Duration::from_secs(240));
        log
    }

    /// Polls check_gold.py (windows ending at or before `until`) while `proc` runs, until it
    /// passes; panics after `timeout` or if `proc` exits.
    pub fn wait_for_windows(
        &mut self,
        log: &EventLog,
        until: i64,
        timeout: Duration,
        proc: &mut FloeProcess,
    ) {
        let start = Instant::now();
        let opts = CheckOptions {
            until: Some(until),
            side_tables: false,
            unique_checkpoint_ids: true,
        };
        let mut last;
        loop {
            if let Some(s) = proc.poll() {
                panic!(
                    "[{}] floe exited ({s}) while the test waited for the windows ending <= {until}:\n{}",
                    self.label,
                    proc.describe()
                );
            }
            match self.check(log, &opts) {
                Ok(out) => {
                    eprintln!(
                        "[{}] windows ending <= {until} committed after {:.1}s: {out}",
                        self.label,
                        start.elapsed().as_secs_f64()
                    );
                    return;
                }
                Err(e) => last = e,
            }
            if start.elapsed() >= timeout {
                panic!(
                    "[{}] the windows ending <= {until} were not all committed within {}s.\n\
                     last check:\n{last}\n{}",
                    self.label,
                    timeout.as_secs(),
                    proc.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The largest checkpoint id in the local checkpoint store (any directory whose name is a
    /// number, at any depth: design.md's `checkpoints/<job>/<N>/...`), complete or not. Used to
    /// aim `FLOE_CRASH_AT` at a checkpoint a few ahead of the current one.
    pub fn latest_checkpoint_id_on_disk(&self) -> Option<u64> {
        fn walk(dir: &Path, depth: usize, max: &mut Option<u64>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(n) = name.parse::<u64>() {
                        *max = Some(max.map_or(n, |m| m.max(n)));
                    }
                } else if depth < 3 {
                    walk(&e.path(), depth + 1, max);
                }
            }
        }
        let dir = self
            .local_checkpoints
            .as_ref()
            .expect("latest_checkpoint_id_on_disk needs Storage::Local");
        let mut max = None;
        walk(dir, 0, &mut max);
        max
    }

    /// The tables named by the manifest of checkpoint `id` in the local store (any epoch's).
    pub fn manifest_tables_on_disk(&self, id: u64) -> Vec<String> {
        let dir = self
            .local_checkpoints()
            .join(JOB_NAME)
            .join(format!("{id:020}"));
        let mut tables = Vec::new();
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let manifest = entry.path().join("_manifest.json");
            let Ok(text) = fs::read_to_string(&manifest) else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).expect("manifest JSON");
            for t in v["tables"].as_array().into_iter().flatten() {
                tables.push(t["table"].as_str().expect("table name").to_owned());
            }
        }
        tables
    }
}
