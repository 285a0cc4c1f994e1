//! One test's job: its topic, temp dir, config, and the floe runs and checks over them.
//! `config` writes the config, `run` starts and stops floe, `check` compares the tables with
//! the oracle.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::env::{PgServices, S3Services, Services};
use crate::kafka::Kafka;
use crate::records::{EventLog, Produced, Record};

mod check;
mod config;
mod run;

pub(crate) use check::KeyedRows;

/// Where the job keeps its tables and checkpoints.
#[derive(Clone, Debug)]
pub enum Storage {
    /// SQLite catalog, warehouse and checkpoints in the test's temp dir.
    Local,
    /// REST catalog + warehouse of SeaweedFS, checkpoints in `s3://checkpoints/<unique>`; the
    /// tables in a namespace unique to the test (the catalog outlives test runs).
    S3(S3Services),
    /// The SQL catalog on PostgreSQL, warehouse and checkpoints in the temp dir; the tables in
    /// a namespace unique to the test (the database outlives test runs).
    Postgres(PgServices),
}

/// Per-job settings written into the config file.
#[derive(Clone, Debug)]
pub struct JobOptions {
    pub partitions: i32,
    pub checkpoint_interval: String,
    pub idle_timeout: String,
    pub storage: Storage,
}

impl JobOptions {
    /// The default options on `partitions` partitions.
    pub fn with_partitions(partitions: i32) -> Self {
        JobOptions {
            partitions,
            ..Default::default()
        }
    }

    /// These options with checkpoints every `interval`.
    pub fn interval(mut self, interval: &str) -> Self {
        self.checkpoint_interval = interval.into();
        self
    }
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            partitions: 3,
            checkpoint_interval: "500ms".into(),
            idle_timeout: "30s".into(),
            storage: Storage::Local,
        }
    }
}

/// How to start `floe run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub until_end: bool,
    /// `--checkpoint-interval`
    pub checkpoint_interval: Option<String>,
    pub env: Vec<(String, String)>,
    /// `--metrics-addr`
    pub metrics_addr: Option<String>,
    /// More arguments (`--topic`, `--start-over`, ...).
    pub args: Vec<String>,
}

impl RunOptions {
    /// `floe run --until-end`
    pub fn until_end() -> Self {
        RunOptions {
            until_end: true,
            ..Default::default()
        }
    }

    /// `floe run` (until a signal)
    pub fn streaming() -> Self {
        RunOptions::default()
    }

    pub fn interval(mut self, d: &str) -> Self {
        self.checkpoint_interval = Some(d.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn metrics(mut self, addr: &str) -> Self {
        self.metrics_addr = Some(addr.into());
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
}

/// How a test stops a streaming `floe run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: finish the current checkpoint, exit 0.
    Terminate,
    /// SIGINT (Ctrl-C): the same.
    Interrupt,
    /// SIGKILL: no goodbye.
    Kill,
}

/// What [`Job::check`] asks of `check_gold.py` beyond the gold rows.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// compare only windows with window_end <= MS (a job still running)
    pub until: Option<i64>,
    /// pass the late and dead-letter tables with the expected counts
    pub side_tables: bool,
    pub unique_checkpoint_ids: bool,
}

/// One test's job: a topic, a temp dir with config, catalog, warehouse, checkpoints, logs, and
/// the events file. The dir is kept (and its path printed) when the test panics.
pub struct Job {
    dir: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub label: String,
    pub topic: String,
    pub partitions: i32,
    pub services: Services,
    pub config: PathBuf,
    pub events: PathBuf,
    /// catalog URI as the readers (pyiceberg / SQLAlchemy) spell it
    pub reader_catalog_uri: String,
    pub reader_warehouse: String,
    pub gold_table: String,
    pub late_table: String,
    pub dlq_table: String,
    pub(crate) s3: Option<S3Services>,
    /// the checkpoint store URI
    pub checkpoints: String,
    local_checkpoints: Option<PathBuf>,
    runs: usize,
    last_run_log: Option<PathBuf>,
    /// Run floe from this container image (see [`container`]) instead of the binary.
    pub image: Option<String>,
    /// The job is this SQL file's, not the config's `[[job]]` ([`Job::switch_to_sql`]).
    pub sql: Option<PathBuf>,
    /// What check_gold.py is told about the SQL job's windows, `WHERE` and `HAVING`.
    pub oracle_args: Vec<String>,
}

impl Job {
    /// `--config FILE`, and `--sql FILE` once the job is in SQL: what every command that runs
    /// the job takes.
    pub fn job_args(&self) -> Vec<String> {
        let mut args = vec!["--config".to_owned(), self.config.display().to_string()];
        if let Some(sql) = &self.sql {
            args.extend(["--sql".to_owned(), sql.display().to_string()]);
        }
        args
    }

    /// Every floe log of this job so far: (file name, text).
    pub fn logs(&self) -> Vec<(String, String)> {
        (1..=self.runs)
            .map(|n| {
                let log = self.root.join(format!("floe-run-{n:02}.log"));
                let text = fs::read(&log)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                (log.display().to_string(), text)
            })
            .collect()
    }

    /// The local checkpoint store's directory (`Storage::Local` only).
    pub fn local_checkpoints(&self) -> &Path {
        self.local_checkpoints
            .as_deref()
            .expect("a job with Storage::Local")
    }

    /// A producer client for this job's topic.
    pub fn kafka(&self) -> Kafka {
        Kafka::connect(&self.services.brokers)
    }

    /// Produces `records` into a fresh log and checks their labels hold whatever order the
    /// engine reads partitions in.
    pub fn produce_checked(&self, records: &[Record]) -> EventLog {
        let kafka = self.kafka();
        let mut log = EventLog::default();
        self.produce(&kafka, &mut log, records);
        log.validate_labels(false, None);
        log
    }

    /// Produces `records` to the job's topic from a thread of its own, `chunk` records at a time
    /// with `pause` after each; the thread returns them with their offsets.
    pub fn produce_in_background(
        &self,
        records: Vec<Record>,
        chunk: usize,
        pause: Duration,
    ) -> JoinHandle<Vec<Produced>> {
        self.produce_to_in_background(&self.topic, records, chunk, pause)
    }

    /// [`Self::produce_in_background`] to another `topic` of the test's broker.
    pub fn produce_to_in_background(
        &self,
        topic: &str,
        records: Vec<Record>,
        chunk: usize,
        pause: Duration,
    ) -> JoinHandle<Vec<Produced>> {
        let (topic, brokers) = (topic.to_owned(), self.services.brokers.clone());
        std::thread::spawn(move || {
            let kafka = Kafka::connect(&brokers);
            let mut out = Vec::new();
            for chunk in records.chunks(chunk) {
                out.extend(kafka.produce(&topic, chunk));
                std::thread::sleep(pause);
            }
            out
        })
    }

    /// Produces `records` to the job's topic, appends them to `log` and rewrites the events
    /// file (kept with the test dir for a failed test).
    pub fn produce(&self, kafka: &Kafka, log: &mut EventLog, records: &[Record]) {
        let produced = kafka.produce(&self.topic, records);
        log.extend(produced);
        log.write_jsonl(&self.events);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let keep = std::thread::panicking()
            || std::env::var("FLOE_E2E_KEEP")
                .map(|v| v == "1")
                .unwrap_or(false);
        if let Some(dir) = self.dir.take() {
            if keep {
                let path = dir.keep();
                eprintln!(
                    "[{}] kept the test directory {} (config, floe logs, events.jsonl, catalog, \
                     warehouse, checkpoints); topic {}",
                    self.label,
                    path.display(),
                    self.topic
                );
            }
        }
    }
}
