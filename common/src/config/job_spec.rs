//! The validated form of a job: what the engine runs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::aggregate::AggregateSpec;
use crate::append::AppendSpec;
use crate::cdc::CdcSpec;
use crate::expr::Expr;
use crate::file_source::FilesSpec;
use crate::generator_source::GeneratorSpec;
use crate::path::FieldPath;
use crate::schema::TableSchema;

use super::{CatalogSection, FloeConfig, WindowSpec};

/// Unit of an integer event-time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeUnit {
    Seconds,
    Millis,
    Micros,
}

impl TimeUnit {
    /// Converts a raw value to epoch milliseconds.
    pub fn to_millis(self, raw: i64) -> Option<i64> {
        match self {
            TimeUnit::Seconds => raw.checked_mul(1000),
            TimeUnit::Millis => Some(raw),
            TimeUnit::Micros => Some(raw.div_euclid(1000)),
        }
    }

    /// Converts a raw value to epoch microseconds.
    pub fn to_micros(self, raw: i64) -> Option<i64> {
        match self {
            TimeUnit::Seconds => raw.checked_mul(1_000_000),
            TimeUnit::Millis => raw.checked_mul(1000),
            TimeUnit::Micros => Some(raw),
        }
    }
}

/// Where a job with no checkpoint starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StartPosition {
    Earliest,
    Latest,
}

/// What a source does when a position it must resume from is no longer in the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OutOfRangePolicy {
    /// Stop the job with an error naming the partition, the offset and what is available.
    Fail,
    /// Go on from the first (`Earliest`) or next (`Latest`) offset there is, counting the
    /// offsets skipped.
    Skip(StartPosition),
}

/// A validated source: a Kafka topic, the built-in generator, or files.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceSpec {
    pub brokers: String,
    /// The Kafka topic (`generator` for the generator, the location for files: late and
    /// dead-letter rows name it).
    pub topic: String,
    pub start: StartPosition,
    pub on_out_of_range: OutOfRangePolicy,
    pub properties: BTreeMap<String, String>,
    /// `Some` for `type = "generator"`.
    pub generator: Option<GeneratorSpec>,
    /// `Some` for `type = "files"`.
    #[serde(default)]
    pub files: Option<FilesSpec>,
}

/// The job of `examples/video_stats.toml`: the fixture of unit tests across the crates.
#[doc(hidden)]
pub fn example_job() -> JobSpec {
    FloeConfig::parse(include_str!("../../../examples/video_stats.toml"))
        .and_then(|c| c.validate())
        .map(|mut c| c.jobs.remove(0))
        .unwrap_or_else(|e| panic!("examples/video_stats.toml: {e}"))
}

/// [`example_job`] reading the generator source, configured by `generator`, instead of Kafka.
#[doc(hidden)]
pub fn example_generator_job(generator: crate::generator_source::GeneratorConfig) -> JobSpec {
    let mut file = FloeConfig::parse(include_str!("../../../examples/video_stats.toml"))
        .unwrap_or_else(|e| panic!("examples/video_stats.toml: {e}"));
    file.jobs[0].source.kind = "generator".into();
    file.jobs[0].source.generator = Some(generator);
    file.validate()
        .map(|mut c| c.jobs.remove(0))
        .unwrap_or_else(|e| panic!("examples/video_stats.toml on the generator: {e}"))
}

/// What a job makes of its records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum JobKind {
    /// Windowed aggregates per key (the Gold flow): `group_by`, `window` and `aggregates`.
    Aggregate,
    /// Every record as one row (the Bronze flow).
    Append(AppendSpec),
    /// Debezium changes: every change in a changelog, the last per key applied to a dimension
    /// table.
    Cdc(Box<CdcSpec>),
}

/// What a sink's rows are, which decides who writes its data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkRole {
    /// Events whose window had closed.
    LateEvents,
    /// Records that could not be used, with the reason.
    DeadLetters,
    /// Closed windows' rows, merged across workers by the committer.
    Windows,
    /// One row per record (an append job's table, a CDC job's changelog).
    Records,
    /// A table kept equal to a source table by applying its changes (copy-on-write), by the
    /// committer.
    Dimension,
    /// Every version of a source table's rows (SCD type 2), kept by the committer like a
    /// dimension table.
    History,
}

impl SinkRole {
    /// Row-per-record tables are written by the workers; only their files' metadata travels.
    pub fn written_by_workers(self) -> bool {
        !matches!(
            self,
            SinkRole::Windows | SinkRole::Dimension | SinkRole::History
        )
    }

    /// Tables kept by rewriting their files (copy-on-write): committed as overwrites.
    pub fn rewrites(self) -> bool {
        matches!(self, SinkRole::Dimension | SinkRole::History)
    }
}

/// One output table of a job.
#[derive(Debug, Clone, Copy)]
pub struct Sink<'a> {
    pub role: SinkRole,
    pub schema: &'a TableSchema,
}

/// A validated job, ready to run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobSpec {
    pub name: String,
    pub source: SourceSpec,
    pub event_time: FieldPath,
    pub event_time_unit: TimeUnit,
    /// Each key column and the value it holds.
    pub group_by: Vec<(String, Expr)>,
    pub window: WindowSpec,
    pub aggregates: Vec<AggregateSpec>,
    /// The records that enter the windows (`None`: every record); the others only move the
    /// watermark, as a Flink source's watermark sees every record before its `WHERE`.
    #[serde(default)]
    pub filter: Option<Expr>,
    /// Conditions on the aggregate columns a row must hold to be written (SQL's `HAVING`).
    #[serde(default)]
    pub having: Option<Expr>,
    pub table: TableSchema,
    pub late_table: TableSchema,
    pub dead_letter_table: TableSchema,
    pub kind: JobKind,
    /// How the job's tables are kept healthy as they age.
    #[serde(default)]
    pub maintenance: crate::maintenance::MaintenancePolicy,
    /// Commit to the tables at most this often; `None`: at every checkpoint.
    #[serde(default)]
    pub commit_interval: Option<Duration>,
}

impl JobSpec {
    /// The job's output tables in the order a checkpoint commits them: side tables first, the
    /// main table last, so a reader never sees main rows without the side rows of the same
    /// checkpoint.
    pub fn sinks(&self) -> Vec<Sink<'_>> {
        let sink = |role, schema| Sink { role, schema };
        match &self.kind {
            JobKind::Aggregate => vec![
                sink(SinkRole::LateEvents, &self.late_table),
                sink(SinkRole::DeadLetters, &self.dead_letter_table),
                sink(SinkRole::Windows, &self.table),
            ],
            JobKind::Append(_) => vec![
                sink(SinkRole::DeadLetters, &self.dead_letter_table),
                sink(SinkRole::Records, &self.table),
            ],
            JobKind::Cdc(spec) => {
                let mut sinks = vec![
                    sink(SinkRole::DeadLetters, &self.dead_letter_table),
                    sink(SinkRole::Records, &spec.changes_table),
                ];
                sinks.extend(
                    spec.history_table
                        .as_ref()
                        .map(|h| sink(SinkRole::History, h)),
                );
                sinks.push(sink(SinkRole::Dimension, &self.table));
                sinks
            }
        }
    }

    /// The columns of the job's row-per-record table (an append job's table, a CDC job's
    /// changelog); `None` for an aggregate job.
    pub fn append(&self) -> Option<&AppendSpec> {
        match &self.kind {
            JobKind::Append(spec) => Some(spec),
            JobKind::Cdc(spec) => Some(&spec.changelog),
            JobKind::Aggregate => None,
        }
    }

    /// The CDC job's spec, for a CDC job.
    pub fn cdc(&self) -> Option<&CdcSpec> {
        match &self.kind {
            JobKind::Cdc(spec) => Some(spec),
            _ => None,
        }
    }
}

/// The validated file: global settings and jobs.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    pub checkpoint_store: String,
    pub checkpoint_interval: Duration,
    pub checkpoint_min_pause: Duration,
    pub checkpoint_keep: usize,
    pub catalog: CatalogSection,
    pub jobs: Vec<JobSpec>,
}
