//! The `floe.toml` file: what users write, and its validation into [`JobSpec`]s.
//!
//! Every check happens here, before anything starts, and a failure names the key it is about.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::aggregate::{AggregateFunction, AggregateSpec, ValueType};
use crate::duration::parse_duration;
use crate::filter::Filter;
use crate::generator_source::{GeneratorConfig, GeneratorSpec};
use crate::path::FieldPath;
use crate::schema::{Column, ColumnType, PartitionField, PartitionTransform, TableSchema};

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

/// The whole file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloeConfig {
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub catalog: CatalogSection,
    #[serde(default, rename = "job")]
    pub jobs: Vec<JobConfig>,
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
    pub source: SourceConfig,
    #[serde(default)]
    pub format: FormatConfig,
    pub event_time: EventTimeConfig,
    #[serde(default)]
    pub group_by: Vec<GroupByConfig>,
    pub window: WindowConfig,
    #[serde(default, rename = "aggregate")]
    pub aggregates: Vec<AggregateConfig>,
    pub sink: SinkConfig,
}

/// `[job.source]`: a Kafka topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `kafka` (default) or `generator` (events made in the worker, `[job.source.generator]`).
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
    pub field: String,
}

/// `[job.window]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    #[serde(rename = "type", default = "default_window_type")]
    pub kind: String,
    pub size: String,
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
    pub field: Option<String>,
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
}

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

/// A validated source: a Kafka topic, or the built-in generator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceSpec {
    pub brokers: String,
    /// The Kafka topic (`generator` for the generator: late and dead-letter rows name it).
    pub topic: String,
    pub start: StartPosition,
    pub on_out_of_range: OutOfRangePolicy,
    pub properties: BTreeMap<String, String>,
    /// `Some` for `type = "generator"`.
    pub generator: Option<GeneratorSpec>,
}

/// Validated windowing: sizes in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSpec {
    pub size_ms: i64,
    pub watermark_delay_ms: i64,
    pub allowed_lateness_ms: i64,
    pub idle_timeout_ms: u64,
    /// How far event time may run ahead of the wall clock before a record is taken as broken
    /// (a dead letter) rather than lifting its partition's watermark into the future.
    pub max_ahead_ms: i64,
}

impl WindowSpec {
    /// Start of the tumbling window holding `event_ms`.
    pub fn start_of(&self, event_ms: i64) -> i64 {
        event_ms.div_euclid(self.size_ms) * self.size_ms
    }

    /// Whether the window starting at `start_ms` is closed at `watermark`: its end plus the
    /// allowed lateness has been reached.
    pub fn is_closed(&self, start_ms: i64, watermark: i64) -> bool {
        self.closes_at(start_ms) <= watermark
    }

    /// The watermark at which the window starting at `start_ms` closes.
    pub fn closes_at(&self, start_ms: i64) -> i64 {
        start_ms
            .saturating_add(self.size_ms)
            .saturating_add(self.allowed_lateness_ms)
    }
}

/// The job of `examples/video_stats.toml`: the fixture of unit tests across the crates.
#[doc(hidden)]
pub fn example_job() -> JobSpec {
    FloeConfig::parse(include_str!("../../examples/video_stats.toml"))
        .and_then(|c| c.validate())
        .map(|mut c| c.jobs.remove(0))
        .unwrap_or_else(|e| panic!("examples/video_stats.toml: {e}"))
}

/// A validated job, ready to run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobSpec {
    pub name: String,
    pub source: SourceSpec,
    pub event_time: FieldPath,
    pub event_time_unit: TimeUnit,
    pub group_by: Vec<(String, FieldPath)>,
    pub window: WindowSpec,
    pub aggregates: Vec<AggregateSpec>,
    pub table: TableSchema,
    pub late_table: TableSchema,
    pub dead_letter_table: TableSchema,
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

/// Command-line overrides applied to a one-job file before validation.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub brokers: Option<String>,
    pub topic: Option<String>,
    pub warehouse: Option<String>,
    pub catalog: Option<String>,
    pub checkpoints: Option<String>,
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

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
        Self::parse(&text)
    }

    /// Applies command-line overrides; the job-level ones need exactly one job.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        if o.brokers.is_some() || o.topic.is_some() {
            if self.jobs.len() != 1 {
                return Err(ConfigError::new(
                    "job",
                    format!(
                        "--brokers/--topic need a file with exactly one job, this one has {}",
                        self.jobs.len()
                    ),
                ));
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
        if self.jobs.is_empty() {
            return Err(ConfigError::new("job", "the file declares no [[job]]"));
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

fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    parse_duration(text).map_err(|m| ConfigError::new(key, m))
}

fn millis(key: &str, text: &str) -> Result<i64, ConfigError> {
    let d = duration(key, text)?;
    i64::try_from(d.as_millis()).map_err(|_| ConfigError::new(key, "too large"))
}

fn check_location(key: &str, location: &str) -> Result<(), ConfigError> {
    if let Some((scheme, _)) = location.split_once("://") {
        if !matches!(scheme, "file" | "s3" | "s3a") {
            return Err(ConfigError::new(
                key,
                format!("unsupported scheme `{scheme}://` (use a path, file://, or s3://)"),
            ));
        }
    }
    if location.trim().is_empty() {
        return Err(ConfigError::new(key, "is empty"));
    }
    Ok(())
}

fn field_path(key: &str, text: &str) -> Result<FieldPath, ConfigError> {
    FieldPath::parse(text).map_err(|m| ConfigError::new(key, m))
}

fn column_name(key: &str, name: &str, taken: &mut Vec<String>) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return Err(ConfigError::new(
            key,
            format!("`{name}` is not a valid column name (letters, digits, _)"),
        ));
    }
    if taken.iter().any(|t| t == name) {
        return Err(ConfigError::new(
            key,
            format!("column `{name}` is defined twice"),
        ));
    }
    taken.push(name.to_owned());
    Ok(())
}

fn table_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::new(
            key,
            format!("`{name}` must be namespace.table, e.g. gold.video_stats_1min"),
        ));
    }
    Ok(())
}

impl JobConfig {
    fn validate(&self, at: &str) -> Result<JobSpec, ConfigError> {
        let k = |s: &str| format!("{at}.{s}");
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(
                k("name"),
                format!("`{}`: use letters, digits, _ and -", self.name),
            ));
        }
        let generator = match self.source.kind.as_str() {
            "kafka" => {
                if self.source.generator.is_some() {
                    return Err(ConfigError::new(
                        k("source.generator"),
                        "is for source.type = \"generator\"",
                    ));
                }
                if self.source.brokers.trim().is_empty() {
                    return Err(ConfigError::new(k("source.brokers"), "is empty"));
                }
                if self.source.topic.trim().is_empty() {
                    return Err(ConfigError::new(k("source.topic"), "is empty"));
                }
                None
            }
            "generator" => Some(
                self.source
                    .generator
                    .clone()
                    .unwrap_or_default()
                    .validate(&k("source.generator"))?,
            ),
            other => {
                return Err(ConfigError::new(
                    k("source.type"),
                    format!("`{other}`: expected kafka or generator"),
                ))
            }
        };
        let start = match self.source.start.as_str() {
            "earliest" => StartPosition::Earliest,
            "latest" => StartPosition::Latest,
            other => {
                return Err(ConfigError::new(
                    k("source.start"),
                    format!("`{other}`: expected earliest or latest"),
                ))
            }
        };
        let on_out_of_range = match self.source.on_offset_out_of_range.as_str() {
            "fail" => OutOfRangePolicy::Fail,
            "earliest" => OutOfRangePolicy::Skip(StartPosition::Earliest),
            "latest" => OutOfRangePolicy::Skip(StartPosition::Latest),
            other => {
                return Err(ConfigError::new(
                    k("source.on_offset_out_of_range"),
                    format!("`{other}`: expected fail, earliest or latest"),
                ))
            }
        };
        for reserved in [
            "enable.auto.commit",
            "bootstrap.servers",
            "auto.offset.reset",
            "enable.partition.eof",
        ] {
            if self.source.properties.contains_key(reserved) {
                return Err(ConfigError::new(
                    k(&format!("source.properties.{reserved}")),
                    "is set by Floe (from source.brokers, source.start and \
                     source.on_offset_out_of_range; offsets live in checkpoints); remove it",
                ));
            }
        }
        if self.format.kind != "json" {
            return Err(ConfigError::new(
                k("format.type"),
                format!("`{}`: only json is supported", self.format.kind),
            ));
        }
        let event_time = field_path(&k("event_time.field"), &self.event_time.field)?;
        let unit = match self.event_time.unit.as_str() {
            "s" | "seconds" => TimeUnit::Seconds,
            "ms" | "millis" | "milliseconds" => TimeUnit::Millis,
            "us" | "micros" | "microseconds" => TimeUnit::Micros,
            other => {
                return Err(ConfigError::new(
                    k("event_time.unit"),
                    format!("`{other}`: expected s, ms or us"),
                ))
            }
        };
        if self.window.kind != "tumbling" {
            return Err(ConfigError::new(
                k("window.type"),
                format!(
                    "`{}`: only tumbling windows are supported",
                    self.window.kind
                ),
            ));
        }
        let window = WindowSpec {
            size_ms: millis(&k("window.size"), &self.window.size)?,
            watermark_delay_ms: millis(&k("window.watermark_delay"), &self.window.watermark_delay)?,
            allowed_lateness_ms: millis(
                &k("window.allowed_lateness"),
                &self.window.allowed_lateness,
            )?,
            idle_timeout_ms: millis(&k("window.idle_timeout"), &self.window.idle_timeout)? as u64,
            max_ahead_ms: millis(&k("event_time.max_ahead"), &self.event_time.max_ahead)?,
        };
        if window.size_ms <= 0 {
            return Err(ConfigError::new(k("window.size"), "must be > 0"));
        }
        if window.idle_timeout_ms == 0 {
            return Err(ConfigError::new(k("window.idle_timeout"), "must be > 0"));
        }

        let mut columns = vec![
            Column::new("window_start", ColumnType::TimestampTz, true),
            Column::new("window_end", ColumnType::TimestampTz, true),
        ];
        let mut taken = vec!["window_start".to_owned(), "window_end".to_owned()];
        let mut group_by = Vec::new();
        for (i, g) in self.group_by.iter().enumerate() {
            let gk = k(&format!("group_by[{i}]"));
            column_name(&format!("{gk}.column"), &g.column, &mut taken)?;
            group_by.push((
                g.column.clone(),
                field_path(&format!("{gk}.field"), &g.field)?,
            ));
            columns.push(Column::new(&g.column, ColumnType::String, true));
        }
        if self.aggregates.is_empty() {
            return Err(ConfigError::new(
                k("aggregate"),
                "declare at least one [[job.aggregate]]",
            ));
        }
        let mut aggregates = Vec::new();
        for (i, a) in self.aggregates.iter().enumerate() {
            let ak = k(&format!("aggregate[{i}]"));
            column_name(&format!("{ak}.column"), &a.column, &mut taken)?;
            let function = match a.function.as_str() {
                "count" => AggregateFunction::Count,
                "sum" => AggregateFunction::Sum,
                "min" => AggregateFunction::Min,
                "max" => AggregateFunction::Max,
                "avg" => AggregateFunction::Avg,
                other => {
                    return Err(ConfigError::new(
                        format!("{ak}.function"),
                        format!("`{other}`: expected count, sum, min, max or avg"),
                    ))
                }
            };
            let field = match (&a.field, function) {
                (Some(f), _) => Some(field_path(&format!("{ak}.field"), f)?),
                (None, AggregateFunction::Count) => None,
                (None, _) => {
                    return Err(ConfigError::new(
                        format!("{ak}.field"),
                        format!("`{}` needs a field", a.function),
                    ))
                }
            };
            let value_type = match a.value_type.as_deref() {
                None | Some("long") => ValueType::Long,
                Some("double") => ValueType::Double,
                Some(other) => {
                    return Err(ConfigError::new(
                        format!("{ak}.type"),
                        format!("`{other}`: expected long or double"),
                    ))
                }
            };
            let filter = match &a.filter {
                Some(f) => Some(
                    Filter::parse(f).map_err(|m| ConfigError::new(format!("{ak}.filter"), m))?,
                ),
                None => None,
            };
            let spec = AggregateSpec {
                column: a.column.clone(),
                function,
                field,
                filter,
                value_type,
            };
            columns.push(Column::new(
                &a.column,
                spec.output_type(),
                spec.output_required(),
            ));
            aggregates.push(spec);
        }

        table_name(&k("sink.table"), &self.sink.table)?;
        let mut partition = Vec::new();
        for (i, p) in self.sink.partition_by.iter().enumerate() {
            let pk = k(&format!("sink.partition_by[{i}]"));
            let field = parse_partition(&pk, p)?;
            let col = columns
                .iter()
                .find(|c| c.name == field.column)
                .ok_or_else(|| {
                    ConfigError::new(&pk, format!("no output column `{}`", field.column))
                })?;
            if field.transform != PartitionTransform::Identity && col.ty != ColumnType::TimestampTz
            {
                return Err(ConfigError::new(
                    &pk,
                    format!("`{}` is not a timestamp column", field.column),
                ));
            }
            partition.push(field);
        }
        let late_name = self
            .sink
            .late_table
            .clone()
            .unwrap_or_else(|| format!("{}_late", self.sink.table));
        table_name(&k("sink.late_table"), &late_name)?;
        let dlq_name = self
            .sink
            .dead_letter_table
            .clone()
            .unwrap_or_else(|| format!("{}_dead_letters", self.sink.table));
        table_name(&k("sink.dead_letter_table"), &dlq_name)?;
        if late_name == self.sink.table || dlq_name == self.sink.table || late_name == dlq_name {
            return Err(ConfigError::new(
                k("sink"),
                "table, late_table and dead_letter_table must differ",
            ));
        }

        Ok(JobSpec {
            name: self.name.clone(),
            source: SourceSpec {
                brokers: self.source.brokers.clone(),
                topic: match (&generator, self.source.topic.trim()) {
                    (Some(_), "") => "generator".into(),
                    _ => self.source.topic.clone(),
                },
                start,
                on_out_of_range,
                properties: self.source.properties.clone(),
                generator,
            },
            event_time,
            event_time_unit: unit,
            group_by,
            window,
            aggregates,
            table: TableSchema {
                name: self.sink.table.clone(),
                columns,
                partition,
            },
            late_table: crate::records::late_table_schema(late_name),
            dead_letter_table: crate::records::dead_letter_table_schema(dlq_name),
        })
    }
}

fn parse_partition(key: &str, text: &str) -> Result<PartitionField, ConfigError> {
    let text = text.trim();
    let (transform, column) = match text.split_once('(') {
        Some((t, rest)) => {
            let col = rest.strip_suffix(')').ok_or_else(|| {
                ConfigError::new(key, format!("`{text}`: expected transform(column)"))
            })?;
            let t = match t.trim() {
                "identity" => PartitionTransform::Identity,
                "hour" => PartitionTransform::Hour,
                "day" => PartitionTransform::Day,
                "month" => PartitionTransform::Month,
                "year" => PartitionTransform::Year,
                other => {
                    return Err(ConfigError::new(
                        key,
                        format!("unknown transform `{other}` (identity, hour, day, month, year)"),
                    ))
                }
            };
            (t, col.trim())
        }
        None => (PartitionTransform::Identity, text),
    };
    Ok(PartitionField {
        column: column.to_owned(),
        transform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const VIDEO_STATS: &str = include_str!("../../examples/video_stats.toml");

    #[test]
    fn example_file_validates_to_the_gold_table() {
        let cfg = FloeConfig::parse(VIDEO_STATS).unwrap().validate().unwrap();
        let job = &cfg.jobs[0];
        assert_eq!(job.table.name, "gold.video_stats_1min");
        let names: Vec<&str> = job.table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "window_start",
                "window_end",
                "video_id",
                "events",
                "impressions",
                "likes",
                "shares",
                "completions",
                "watch_ms_sum"
            ]
        );
        assert_eq!(job.window.size_ms, 60_000);
        assert_eq!(job.window.watermark_delay_ms, 10_000);
        assert_eq!(job.table.partition[0].transform, PartitionTransform::Day);
        assert_eq!(job.late_table.name, "gold.video_stats_1min_late");
        assert_eq!(cfg.checkpoint_interval, Duration::from_secs(10));
    }

    fn error_of(text: &str) -> ConfigError {
        FloeConfig::parse(text)
            .and_then(|c| c.validate())
            .expect_err("config should be rejected")
    }

    #[test]
    fn errors_name_the_key() {
        let bad = VIDEO_STATS.replace("size = \"1m\"", "size = \"1 fortnight\"");
        assert_eq!(error_of(&bad).key, "job[0].window.size");
        let bad = VIDEO_STATS.replace("function = \"sum\"", "function = \"median\"");
        assert_eq!(error_of(&bad).key, "job[0].aggregate[5].function");
        let bad = VIDEO_STATS.replace("header.event_type = 'like'", "header.event_type = like");
        assert_eq!(error_of(&bad).key, "job[0].aggregate[2].filter");
        let bad = VIDEO_STATS.replace("day(window_start)", "day(video_id)");
        assert_eq!(error_of(&bad).key, "job[0].sink.partition_by[0]");
        let bad = VIDEO_STATS.replace("gold.video_stats_1min\"", "video_stats\"");
        assert_eq!(error_of(&bad).key, "job[0].sink.table");
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_the_line() {
        let bad = VIDEO_STATS.replace("[job.window]", "[job.window]\nsizee = 3");
        let e = error_of(&bad);
        assert!(e.key.starts_with("line "), "{e}");
        assert!(e.message.contains("sizee"), "{e}");
    }

    #[test]
    fn overrides_replace_source_and_storage() {
        let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
        cfg.apply(&Overrides {
            brokers: Some("b:1".into()),
            topic: Some("t".into()),
            warehouse: Some("s3://w/x".into()),
            catalog: Some("http://rest:8181".into()),
            checkpoints: Some("s3://c/y".into()),
        })
        .unwrap();
        let v = cfg.validate().unwrap();
        assert_eq!(v.jobs[0].source.brokers, "b:1");
        assert_eq!(v.jobs[0].source.topic, "t");
        assert_eq!(v.catalog.warehouse, "s3://w/x");
        assert_eq!(v.catalog.uri, "http://rest:8181");
        assert_eq!(v.checkpoint_store, "s3://c/y");
    }

    #[test]
    fn rejects_unsupported_storage_and_catalog() {
        let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
        cfg.catalog.uri = "mysql://x".into();
        assert_eq!(cfg.validate().unwrap_err().key, "catalog.uri");
        let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
        cfg.checkpoint.store = "gs://bucket".into();
        assert_eq!(cfg.validate().unwrap_err().key, "checkpoint.store");
    }
}
