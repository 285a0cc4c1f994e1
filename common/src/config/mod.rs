//! The `floe.toml` file: what users write, and its validation into [`JobSpec`]s.
//!
//! Every check happens here, before anything starts, and a failure names the key it is about.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::file_source::FilesConfig;
use crate::generator_source::GeneratorConfig;

mod job_spec;
mod validate_append;
pub(crate) use validate_append::byte_size;
mod validate_cdc;
mod validate_job;
mod validate_source;
mod validate_window;
mod window_spec;

pub use job_spec::*;
use validate_job::{check_location, duration};
#[cfg(test)]
pub(crate) use window_spec::windows_by_definition;
pub use window_spec::{WindowKind, WindowSpec};

/// A config problem, with the dotted key it is about.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("config error at `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The whole file as written; its default is local files under `./.floe`, a SQLite catalog and
/// no jobs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloeConfig {
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub catalog: CatalogSection,
    #[serde(default, rename = "job")]
    pub jobs: Vec<JobConfig>,
    /// Jobs in streaming SQL (`sql = """ … """`), which the CLI lowers into `jobs` (floe-sql)
    /// before validating.
    #[serde(default)]
    pub sql: Option<String>,
}

/// `[checkpoint]`: where and how often state is saved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    #[serde(default = "default_checkpoint_store")]
    pub store: String,
    #[serde(default = "default_checkpoint_interval")]
    pub interval: String,
    /// How many completed checkpoints to keep.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// A window the watermark has closed is checkpointed (made visible) right away, but never
    /// sooner than this after the previous checkpoint; `interval` stays the upper bound.
    #[serde(default = "default_min_pause")]
    pub min_pause: String,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            store: default_checkpoint_store(),
            interval: default_checkpoint_interval(),
            keep: default_keep(),
            min_pause: default_min_pause(),
        }
    }
}

fn default_checkpoint_store() -> String {
    "./.floe/checkpoints".into()
}
fn default_checkpoint_interval() -> String {
    "10s".into()
}
fn default_keep() -> usize {
    3
}
fn default_min_pause() -> String {
    "1s".into()
}

/// `[catalog]`: the Iceberg catalog and warehouse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    #[serde(default = "default_catalog_uri")]
    pub uri: String,
    #[serde(default = "default_catalog_name")]
    pub name: String,
    #[serde(default = "default_warehouse")]
    pub warehouse: String,
    /// Passed to the catalog and its file IO (`s3.endpoint`, `credential`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl Default for CatalogSection {
    fn default() -> Self {
        Self {
            uri: default_catalog_uri(),
            name: default_catalog_name(),
            warehouse: default_warehouse(),
            properties: BTreeMap::new(),
        }
    }
}

fn default_catalog_uri() -> String {
    "sqlite://./.floe/catalog.db".into()
}
fn default_catalog_name() -> String {
    "floe".into()
}
fn default_warehouse() -> String {
    "./.floe/warehouse".into()
}

/// `[[job]]`: one streaming job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub name: String,
    /// `aggregate` (default: windowed aggregates), `append` (every record as a row) or `cdc`
    /// (Debezium changes kept as a dimension table).
    #[serde(default = "default_kind")]
    pub kind: String,
    pub source: SourceConfig,
    #[serde(default)]
    pub format: FormatConfig,
    /// Required by aggregate and append jobs; a CDC job's event time is each change's `ts_ms`.
    pub event_time: Option<EventTimeConfig>,
    #[serde(default)]
    pub group_by: Vec<GroupByConfig>,
    /// Required by aggregate jobs; an append job may set its watermark here (no `size`).
    pub window: Option<WindowConfig>,
    #[serde(default, rename = "aggregate")]
    pub aggregates: Vec<AggregateConfig>,
    /// An aggregate job's records that enter its windows, such as
    /// `header.event_type != 'heartbeat'` (SQL's `WHERE`); the others only move its watermark.
    pub filter: Option<String>,
    /// Conditions on an aggregate job's aggregate columns, such as `events >= 10`, that a row
    /// must hold to be written (SQL's `HAVING`).
    pub having: Option<String>,
    /// An append or CDC job's columns.
    #[serde(default, rename = "column")]
    pub columns: Vec<ColumnConfig>,
    /// A CDC job's primary key and change columns.
    pub cdc: Option<CdcConfig>,
    /// An append job's deduplication: the first record of each key is kept.
    pub dedup: Option<DedupConfig>,
    pub sink: SinkConfig,
}

/// `[job.dedup]`: an append job keeps the first record of each key (SQL's
/// `ROW_NUMBER() OVER (PARTITION BY key ORDER BY ts) = 1`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// The fields whose values are the key.
    pub key: Vec<String>,
    /// How long a key is remembered after its first record's event time, on the watermark:
    /// what bounds the state.
    pub within: String,
}

/// `[job.cdc]`: what a CDC job needs beyond its columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdcConfig {
    /// The declared columns forming the source table's primary key.
    pub primary_key: Vec<String>,
    /// The dimension column holding when its row last changed.
    #[serde(default = "default_updated_at")]
    pub updated_at: String,
}

fn default_updated_at() -> String {
    "updated_at".into()
}

fn default_kind() -> String {
    "aggregate".into()
}

/// `[[job.column]]`: one column of an append or CDC job (a CDC job's fields are paths inside
/// the row image).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    pub column: String,
    /// The field whose value the column holds, or `expr`.
    pub field: Option<String>,
    /// An expression whose value the column holds (not in a CDC job).
    pub expr: Option<String>,
    /// `string`, `long`, `double`, `boolean`, `timestamp` or `json` (the value whole).
    #[serde(rename = "type")]
    pub value_type: String,
    /// For `timestamp`: `s`, `ms` (default) or `us`.
    pub unit: Option<String>,
    /// A record without the field is a dead letter (otherwise the column is null).
    #[serde(default)]
    pub required: bool,
}

/// `[job.source]`: a Kafka topic, the built-in generator or files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `kafka` (default), `generator` (events made in the worker, `[job.source.generator]`) or
    /// `files` (newline-delimited JSON files, `[job.source.files]`).
    #[serde(rename = "type", default = "default_source_type")]
    pub kind: String,
    #[serde(default)]
    pub brokers: String,
    #[serde(default)]
    pub topic: String,
    /// `earliest` or `latest`: where a job with no checkpoint starts.
    #[serde(default = "default_start")]
    pub start: String,
    /// `fail`, `earliest` or `latest`: what to do when a checkpointed offset no longer exists
    /// in the partition (retention deleted it, or the topic was recreated).
    #[serde(default = "default_out_of_range")]
    pub on_offset_out_of_range: String,
    /// librdkafka properties, passed through unchanged.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub generator: Option<GeneratorConfig>,
    /// `[job.source.files]`, for `type = "files"`.
    #[serde(default)]
    pub files: Option<FilesConfig>,
}

fn default_source_type() -> String {
    "kafka".into()
}

fn default_start() -> String {
    "earliest".into()
}

fn default_out_of_range() -> String {
    "fail".into()
}

/// `[job.format]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatConfig {
    #[serde(rename = "type", default = "default_format")]
    pub kind: String,
}

impl Default for FormatConfig {
    fn default() -> Self {
        Self {
            kind: default_format(),
        }
    }
}

fn default_format() -> String {
    "json".into()
}

/// `[job.event_time]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTimeConfig {
    pub field: String,
    /// `s`, `ms` or `us`: the unit of the integer in `field`.
    #[serde(default = "default_unit")]
    pub unit: String,
    /// Records whose event time is further ahead of the wall clock than this, or before
    /// 1970, go to the dead-letter table.
    #[serde(default = "default_max_ahead")]
    pub max_ahead: String,
}

fn default_max_ahead() -> String {
    "1d".into()
}

fn default_unit() -> String {
    "ms".into()
}

/// `[[job.group_by]]`: one key column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupByConfig {
    pub column: String,
    /// The field whose value is the key, or `expr`.
    pub field: Option<String>,
    /// An expression whose value is the key, such as `LOWER(header.event_type)`.
    pub expr: Option<String>,
}

/// `[job.window]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    #[serde(rename = "type", default = "default_window_type")]
    pub kind: String,
    pub size: Option<String>,
    /// A hopping window's slide.
    pub slide: Option<String>,
    /// A cumulating window's step.
    pub step: Option<String>,
    /// A session window's gap (it has no size).
    pub gap: Option<String>,
    #[serde(default = "default_delay")]
    pub watermark_delay: String,
    #[serde(default = "default_lateness")]
    pub allowed_lateness: String,
    #[serde(default = "default_idle")]
    pub idle_timeout: String,
}

fn default_window_type() -> String {
    "tumbling".into()
}
fn default_delay() -> String {
    "10s".into()
}
fn default_lateness() -> String {
    "0s".into()
}
fn default_idle() -> String {
    "30s".into()
}

/// `[[job.aggregate]]`: one output column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    pub column: String,
    pub function: String,
    /// The field aggregated, or `expr`.
    pub field: Option<String>,
    /// An expression aggregated, such as `body.price * 0.9`.
    pub expr: Option<String>,
    pub filter: Option<String>,
    /// `long` (default) or `double`, for sum, min and max.
    #[serde(rename = "type")]
    pub value_type: Option<String>,
}

/// `[job.sink]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub table: String,
    /// Iceberg partition transforms, e.g. `["day(window_start)"]`.
    #[serde(default)]
    pub partition_by: Vec<String>,
    pub late_table: Option<String>,
    pub dead_letter_table: Option<String>,
    /// CDC jobs: the changelog table (default: the table's name + `_changes`).
    pub changes_table: Option<String>,
    /// CDC jobs: a history table (SCD type 2) to keep every version of every row in.
    pub history_table: Option<String>,
    /// Append and CDC jobs: data files are rolled at this size (`128MB`, the default) and at every
    /// checkpoint.
    pub target_file_size: Option<String>,
    /// Aggregate and append jobs: commit to the tables at most this often (`1m`); checkpoints
    /// in between keep state and positions, and hand their files to the next commit.
    pub commit_interval: Option<String>,
    /// CDC jobs: `merge-on-read` (the default: position deletes, cost per change) or
    /// `copy-on-write` (files rewritten, for small tables).
    pub cdc_mode: Option<String>,
    /// `[job.sink.maintenance]`: expiry, manifest merging and orphan cleanup of the tables.
    #[serde(default)]
    pub maintenance: crate::maintenance::MaintenanceConfig,
}

/// Command-line overrides applied to a one-job file before validation.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub brokers: Option<String>,
    pub topic: Option<String>,
    pub warehouse: Option<String>,
    pub catalog: Option<String>,
    pub checkpoints: Option<String>,
    /// Read these files instead of the job's source: a directory (every file in it) or one file.
    pub files: Option<String>,
}

impl FloeConfig {
    /// Parses TOML text; syntax and unknown-key errors name the line.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_else(|| "file".into());
            ConfigError::new(key, e.message().to_string())
        })
    }

    /// Applies command-line overrides; the job-level ones need exactly one job.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        if o.brokers.is_some() || o.topic.is_some() || o.files.is_some() {
            if self.jobs.len() != 1 {
                return Err(ConfigError::new(
                    "job",
                    format!(
                        "--brokers/--topic/--files need a file with exactly one job, this one \
                         has {}",
                        self.jobs.len()
                    ),
                ));
            }
            if let Some(path) = &o.files {
                self.jobs[0].source.kind = "files".into();
                self.jobs[0].source.files = Some(FilesConfig::for_path(path));
            }
            if let Some(b) = &o.brokers {
                self.jobs[0].source.brokers = b.clone();
            }
            if let Some(t) = &o.topic {
                self.jobs[0].source.topic = t.clone();
            }
        }
        if let Some(w) = &o.warehouse {
            self.catalog.warehouse = w.clone();
        }
        if let Some(c) = &o.catalog {
            self.catalog.uri = c.clone();
        }
        if let Some(c) = &o.checkpoints {
            self.checkpoint.store = c.clone();
        }
        Ok(())
    }

    /// Checks everything and compiles the jobs.
    pub fn validate(&self) -> Result<ValidatedConfig, ConfigError> {
        let interval = duration("checkpoint.interval", &self.checkpoint.interval)?;
        if interval.is_zero() {
            return Err(ConfigError::new("checkpoint.interval", "must be > 0"));
        }
        if self.checkpoint.keep == 0 {
            return Err(ConfigError::new("checkpoint.keep", "must be at least 1"));
        }
        check_location("checkpoint.store", &self.checkpoint.store)?;
        check_location("catalog.warehouse", &self.catalog.warehouse)?;
        let uri = &self.catalog.uri;
        if ![
            "sqlite:",
            "postgres://",
            "postgresql://",
            "http://",
            "https://",
        ]
        .iter()
        .any(|p| uri.starts_with(p))
        {
            return Err(ConfigError::new(
                "catalog.uri",
                format!("`{uri}`: expected sqlite://PATH, postgres://..., or http(s):// for a REST catalog"),
            ));
        }
        if self.sql.is_some() {
            return Err(ConfigError::new(
                "sql",
                "the SQL jobs must be lowered into [[job]]s first (floe_sql::jobs_from_sql)",
            ));
        }
        if self.jobs.is_empty() {
            return Err(ConfigError::new(
                "job",
                "the file declares no [[job]] (and no `sql`)",
            ));
        }
        let mut jobs = Vec::with_capacity(self.jobs.len());
        for (i, job) in self.jobs.iter().enumerate() {
            let spec = job.validate(&format!("job[{i}]"))?;
            if jobs.iter().any(|j: &JobSpec| j.name == spec.name) {
                return Err(ConfigError::new(
                    format!("job[{i}].name"),
                    format!("duplicate job name `{}`", spec.name),
                ));
            }
            jobs.push(spec);
        }
        Ok(ValidatedConfig {
            checkpoint_store: self.checkpoint.store.clone(),
            checkpoint_interval: interval,
            checkpoint_min_pause: duration("checkpoint.min_pause", &self.checkpoint.min_pause)?,
            checkpoint_keep: self.checkpoint.keep,
            catalog: self.catalog.clone(),
            jobs,
        })
    }
}

#[cfg(test)]
mod tests;
