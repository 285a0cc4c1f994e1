//! Validating one `[[job]]` into a [`JobSpec`]; every failure names its key.

use std::time::Duration;

use crate::aggregate::{AggregateFunction, AggregateSpec, ValueType};
use crate::duration::parse_duration;
use crate::expr::Expr;
use crate::path::FieldPath;
use crate::schema::{Column, ColumnType, PartitionField, PartitionTransform, TableSchema};

use super::validate_source::validate_source_kind;
use super::*;

pub(super) fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    parse_duration(text).map_err(|m| ConfigError::new(key, m))
}

pub(super) fn millis(key: &str, text: &str) -> Result<i64, ConfigError> {
    let d = duration(key, text)?;
    i64::try_from(d.as_millis()).map_err(|_| ConfigError::new(key, "too large"))
}

pub(super) fn check_location(key: &str, location: &str) -> Result<(), ConfigError> {
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

pub(super) fn field_path(key: &str, text: &str) -> Result<FieldPath, ConfigError> {
    FieldPath::parse(text).map_err(|m| ConfigError::new(key, m))
}

/// What a value is read from: `field` (at `{at}.field`, a path) or `expr` (at `{at}.expr`, an
/// expression), at most one of them; `None` for neither.
pub(super) fn value_of(
    at: &str,
    field: Option<&str>,
    expr: Option<&str>,
) -> Result<Option<Expr>, ConfigError> {
    match (field, expr) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            format!("{at}.expr"),
            "give `field` or `expr`, not both",
        )),
        (Some(f), None) => Ok(Some(Expr::field(field_path(&format!("{at}.field"), f)?))),
        (None, Some(e)) => Expr::parse(e)
            .map(Some)
            .map_err(|m| ConfigError::new(format!("{at}.expr"), m)),
        (None, None) => Ok(None),
    }
}

/// A condition, at `key`.
pub(super) fn condition(key: &str, text: &str) -> Result<Expr, ConfigError> {
    Expr::parse(text).map_err(|m| ConfigError::new(key, m))
}

pub(super) fn column_name(
    key: &str,
    name: &str,
    taken: &mut Vec<String>,
) -> Result<(), ConfigError> {
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

pub(super) fn time_unit(key: &str, text: &str) -> Result<TimeUnit, ConfigError> {
    match text {
        "s" | "seconds" => Ok(TimeUnit::Seconds),
        "ms" | "millis" | "milliseconds" => Ok(TimeUnit::Millis),
        "us" | "micros" | "microseconds" => Ok(TimeUnit::Micros),
        other => Err(ConfigError::new(
            key,
            format!("`{other}`: expected s, ms or us"),
        )),
    }
}

pub(super) fn table_name(key: &str, name: &str) -> Result<(), ConfigError> {
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
    pub(super) fn validate(&self, at: &str) -> Result<JobSpec, ConfigError> {
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
        let (generator, files) = validate_source_kind(&self.source, &k)?;
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
        let (event_time, unit, max_ahead_ms) = match (&self.event_time, self.kind == "cdc") {
            (Some(_), true) => {
                return Err(ConfigError::new(
                    k("event_time"),
                    "a CDC job's event time is each change's ts_ms: remove [job.event_time]",
                ))
            }
            (None, true) => (
                field_path(&k("event_time.field"), "ts_ms")?,
                TimeUnit::Millis,
                millis(&k("event_time.max_ahead"), &default_max_ahead())?,
            ),
            (None, false) => {
                return Err(ConfigError::new(
                    k("event_time"),
                    "missing: say which field holds the event time",
                ))
            }
            (Some(e), false) => (
                field_path(&k("event_time.field"), &e.field)?,
                time_unit(&k("event_time.unit"), &e.unit)?,
                millis(&k("event_time.max_ahead"), &e.max_ahead)?,
            ),
        };
        if self.cdc.is_some() && self.kind != "cdc" {
            return Err(ConfigError::new(k("cdc"), "is for kind = \"cdc\" jobs"));
        }
        if self.dedup.is_some() && self.kind != "append" {
            return Err(ConfigError::new(
                k("dedup"),
                "is for kind = \"append\" jobs",
            ));
        }
        for (given, key) in [
            (self.sink.changes_table.is_some(), "sink.changes_table"),
            (self.sink.history_table.is_some(), "sink.history_table"),
        ] {
            if given && self.kind != "cdc" {
                return Err(ConfigError::new(k(key), "is for kind = \"cdc\" jobs"));
            }
        }
        let (kind, window, group_by, aggregates, columns) = match self.kind.as_str() {
            "aggregate" => {
                let (window, group_by, aggregates, columns) =
                    self.aggregate_parts(at, max_ahead_ms)?;
                (JobKind::Aggregate, window, group_by, aggregates, columns)
            }
            "append" => {
                let (spec, window) = self.append_parts(at, max_ahead_ms)?;
                let columns = spec.table_columns();
                (
                    JobKind::Append(spec),
                    window,
                    Vec::new(),
                    Vec::new(),
                    columns,
                )
            }
            "cdc" => {
                let (spec, window) = self.cdc_parts(at, max_ahead_ms)?;
                let columns = spec.table_columns();
                (
                    JobKind::Cdc(Box::new(spec)),
                    window,
                    Vec::new(),
                    Vec::new(),
                    columns,
                )
            }
            other => {
                return Err(ConfigError::new(
                    k("kind"),
                    format!("`{other}`: expected aggregate, append or cdc"),
                ))
            }
        };
        let filter = match &self.filter {
            Some(_) if self.kind == "cdc" => {
                return Err(ConfigError::new(
                    k("filter"),
                    "is for kind = \"aggregate\" and \"append\" jobs",
                ))
            }
            Some(f) => Some(condition(&k("filter"), f)?),
            None => None,
        };
        let having = self.having_of(at, &aggregates)?;
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
        if let JobKind::Cdc(spec) = &kind {
            let mut names = vec![&self.sink.table, &dlq_name, &spec.changes_table.name];
            names.extend(spec.history_table.as_ref().map(|h| &h.name));
            names.sort();
            names.dedup();
            if names.len() < 3 + usize::from(spec.history_table.is_some()) {
                return Err(ConfigError::new(
                    k("sink"),
                    "table, changes_table, history_table and dead_letter_table must differ",
                ));
            }
        }

        let commit_interval = match &self.sink.commit_interval {
            None => None,
            Some(_) if matches!(kind, JobKind::Cdc(_)) => {
                return Err(ConfigError::new(
                    k("sink.commit_interval"),
                    "is for aggregate and append jobs: a CDC job rewrites its tables at every checkpoint",
                ))
            }
            Some(text) => Some(
                crate::duration::parse_duration(text)
                    .map_err(|m| ConfigError::new(k("sink.commit_interval"), m))?,
            ),
        };
        if self.sink.cdc_mode.is_some() && !matches!(kind, JobKind::Cdc(_)) {
            return Err(ConfigError::new(
                k("sink.cdc_mode"),
                "is for CDC jobs (kind = \"cdc\") only",
            ));
        }
        let mut maintenance = self.sink.maintenance.validate(&k("sink.maintenance"))?;
        if self.sink.target_file_size.is_some() {
            maintenance.target_file_bytes = self.target_file_bytes(at)?;
        }
        Ok(JobSpec {
            name: self.name.clone(),
            source: SourceSpec {
                brokers: self.source.brokers.clone(),
                topic: match (&generator, &files, self.source.topic.trim()) {
                    (_, Some(f), _) => f.location.clone(),
                    (Some(_), _, "") => "generator".into(),
                    _ => self.source.topic.clone(),
                },
                start,
                on_out_of_range,
                properties: self.source.properties.clone(),
                generator,
                files,
            },
            event_time,
            event_time_unit: unit,
            group_by,
            window,
            aggregates,
            filter,
            having,
            table: TableSchema {
                name: self.sink.table.clone(),
                columns,
                partition,
            },
            late_table: crate::records::late_table_schema(late_name),
            dead_letter_table: crate::records::dead_letter_table_schema(dlq_name),
            kind,
            maintenance,
            commit_interval,
        })
    }

    /// `having`: comparisons of the job's aggregate columns with constants.
    fn having_of(
        &self,
        at: &str,
        aggregates: &[AggregateSpec],
    ) -> Result<Option<Expr>, ConfigError> {
        let key = format!("{at}.having");
        let Some(text) = &self.having else {
            return Ok(None);
        };
        if self.kind != "aggregate" {
            return Err(ConfigError::new(key, "is for kind = \"aggregate\" jobs"));
        }
        let having = condition(&key, text)?;
        for path in having.fields() {
            let name = path.to_string();
            if !aggregates.iter().any(|a| a.column == name) {
                return Err(ConfigError::new(
                    &key,
                    format!("`{name}` is not one of the job's aggregate columns"),
                ));
            }
        }
        Ok(Some(having))
    }

    /// An aggregate job's window, group keys, aggregates and output columns.
    #[allow(clippy::type_complexity)]
    fn aggregate_parts(
        &self,
        at: &str,
        max_ahead_ms: i64,
    ) -> Result<
        (
            WindowSpec,
            Vec<(String, Expr)>,
            Vec<AggregateSpec>,
            Vec<Column>,
        ),
        ConfigError,
    > {
        let k = |s: &str| format!("{at}.{s}");
        if !self.columns.is_empty() {
            return Err(ConfigError::new(
                k("column"),
                "[[job.column]] is for kind = \"append\" and \"cdc\" jobs",
            ));
        }
        if self.sink.target_file_size.is_some() {
            return Err(ConfigError::new(
                k("sink.target_file_size"),
                "is for kind = \"append\" and \"cdc\" jobs",
            ));
        }
        let Some(window_config) = &self.window else {
            return Err(ConfigError::new(
                k("window"),
                "an aggregate job needs [job.window]",
            ));
        };
        let window = window_config.validate(&k("window"), max_ahead_ms)?;

        let mut columns = vec![
            Column::new("window_start", ColumnType::TimestampTz, true),
            Column::new("window_end", ColumnType::TimestampTz, true),
        ];
        let mut taken = vec!["window_start".to_owned(), "window_end".to_owned()];
        let mut group_by = Vec::new();
        for (i, g) in self.group_by.iter().enumerate() {
            let gk = k(&format!("group_by[{i}]"));
            column_name(&format!("{gk}.column"), &g.column, &mut taken)?;
            let key = value_of(&gk, g.field.as_deref(), g.expr.as_deref())?
                .ok_or_else(|| ConfigError::new(format!("{gk}.field"), "give `field` or `expr`"))?;
            group_by.push((g.column.clone(), key));
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
                "count_distinct" => AggregateFunction::CountDistinct,
                "approx_count_distinct" => AggregateFunction::ApproxCountDistinct,
                "sum" => AggregateFunction::Sum,
                "min" => AggregateFunction::Min,
                "max" => AggregateFunction::Max,
                "avg" => AggregateFunction::Avg,
                other => {
                    return Err(ConfigError::new(
                        format!("{ak}.function"),
                        format!(
                        "`{other}`: expected count, count_distinct, approx_count_distinct, sum, \
                             min, max or avg"
                    ),
                    ))
                }
            };
            let field = match (
                value_of(&ak, a.field.as_deref(), a.expr.as_deref())?,
                function,
            ) {
                (Some(f), _) => Some(f),
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
                Some(f) => Some(condition(&format!("{ak}.filter"), f)?),
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
        crate::distinct::check(&aggregates, &window)
            .map_err(|(i, m)| ConfigError::new(k(&format!("aggregate[{i}]")), m))?;

        Ok((window, group_by, aggregates, columns))
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
