//! A source table's declaration lowered to a job's `[job.source]`, `[job.format]` and
//! `[job.event_time]`, and the watermark settings of its `[job.window]`.

use sqlparser::ast::{BinaryOperator, Expr};
use toml::{Table, Value};

use crate::error::SqlError;
use crate::expr::{field_path, function_name, interval_ms, is_column, literal, plain_args};
use crate::sql_type::SqlType;
use crate::table_decl::TableDecl;

/// What a source table gives the jobs that read it.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub decl: TableDecl,
    pub source: Table,
    pub format: Table,
    pub event_time: Table,
    /// The column the watermark is declared for: the table's event time.
    pub time_column: String,
    /// `[job.window]` keys the source sets: `watermark_delay`, perhaps `idle_timeout`.
    pub window: Table,
}

/// Lowers a declared source table.
pub(crate) fn lower_source(mut decl: TableDecl) -> Result<Source, SqlError> {
    let name = decl.name.clone();
    let connector = decl.require_option("connector")?;
    let mut source = Table::new();
    match connector.as_str() {
        "kafka" => kafka(&mut decl, &mut source)?,
        "filesystem" => filesystem(&mut decl, &mut source)?,
        "datagen" => datagen(&mut decl, &mut source)?,
        other => {
            return Err(SqlError::unsupported_with(
                format!("the connector '{other}' of {name}"),
                "a source is 'kafka', 'filesystem' or 'datagen'",
            ))
        }
    }
    let mut format = Table::new();
    match decl.take_option("format").as_deref() {
        None | Some("json") => format.insert("type".into(), "json".into()),
        Some(other) => {
            return Err(SqlError::unsupported_with(
                format!("the format '{other}' of {name}"),
                "sources are JSON",
            ))
        }
    };
    let (time_column, watermark) = decl.watermark.clone().ok_or_else(|| {
        SqlError::Invalid(format!(
            "table {name} declares no WATERMARK FOR: windows need its event time"
        ))
    })?;
    let mut event_time = event_time(&decl, &time_column)?;
    if let Some(max_ahead) = decl.take_option("floe.max-ahead") {
        event_time.insert("max_ahead".into(), max_ahead.into());
    }
    let mut window = Table::new();
    let delay = watermark_delay(&watermark, &time_column)?;
    window.insert("watermark_delay".into(), format!("{delay}ms").into());
    if let Some(idle) = decl.take_option("scan.watermark.idle-timeout") {
        window.insert("idle_timeout".into(), idle.into());
    }
    if let Some(key) = decl.options.keys().next() {
        return Err(SqlError::unsupported(format!(
            "the option '{key}' of {name}"
        )));
    }
    Ok(Source {
        decl,
        source,
        format,
        event_time,
        time_column,
        window,
    })
}

/// `topic`, `properties.bootstrap.servers`, `scan.startup.mode` and `properties.*`, as Flink's
/// Kafka connector names them.
fn kafka(decl: &mut TableDecl, source: &mut Table) -> Result<(), SqlError> {
    let name = decl.name.clone();
    source.insert("type".into(), "kafka".into());
    let topic = decl.require_option("topic")?;
    source.insert("topic".into(), topic.into());
    if let Some(brokers) = decl.take_option("properties.bootstrap.servers") {
        source.insert("brokers".into(), brokers.into());
    }
    if let Some(mode) = decl.take_option("scan.startup.mode") {
        let start = match mode.as_str() {
            "earliest-offset" => "earliest",
            "latest-offset" => "latest",
            other => {
                return Err(SqlError::unsupported_with(
                    format!("'scan.startup.mode' = '{other}' of {name}"),
                    "earliest-offset or latest-offset (a restart resumes from the checkpoint)",
                ))
            }
        };
        source.insert("start".into(), start.into());
    }
    if let Some(policy) = decl.take_option("floe.on-offset-out-of-range") {
        source.insert("on_offset_out_of_range".into(), policy.into());
    }
    let properties: Vec<String> = (decl.options.keys())
        .filter(|k| k.starts_with("properties."))
        .cloned()
        .collect();
    let mut passed = Table::new();
    for key in properties {
        let value = decl.take_option(&key).unwrap_or_default();
        passed.insert(key["properties.".len()..].to_owned(), value.into());
    }
    if !passed.is_empty() {
        source.insert("properties".into(), Value::Table(passed));
    }
    Ok(())
}

/// `path` (a directory or a file, local or `s3://`) and `glob`.
fn filesystem(decl: &mut TableDecl, source: &mut Table) -> Result<(), SqlError> {
    source.insert("type".into(), "files".into());
    let path = decl.require_option("path")?;
    let mut files = Table::new();
    files.insert("location".into(), path.into());
    if let Some(glob) = decl.take_option("glob") {
        files.insert("glob".into(), glob.into());
    }
    source.insert("files".into(), Value::Table(files));
    Ok(())
}

/// The built-in generator: `floe.events` (`content`, the default, or `nexmark`),
/// `rows-per-second` and `number-of-rows` as Flink's datagen names them (both over all
/// partitions), and `floe.partitions`, `floe.seed`, `floe.videos`, `floe.start-ms`,
/// `floe.step` and `floe.disorder` as `[job.source.generator]` has them.
fn datagen(decl: &mut TableDecl, source: &mut Table) -> Result<(), SqlError> {
    source.insert("type".into(), "generator".into());
    let mut generator = Table::new();
    let name = decl.name.clone();
    let number = |option: &str, value: String| -> Result<Value, SqlError> {
        value
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| {
                SqlError::Invalid(format!(
                    "table {name}: '{option}' = '{value}' is not a whole number"
                ))
            })
    };
    let partitions = match decl.take_option("floe.partitions") {
        Some(p) => number("floe.partitions", p)?,
        None => Value::Integer(1),
    };
    let per_partition = partitions.as_integer().unwrap_or(1).max(1);
    generator.insert("partitions".into(), partitions);
    if let Some(kind) = decl.take_option("floe.events") {
        generator.insert("kind".into(), kind.into());
    }
    if let Some(rate) = decl.take_option("rows-per-second") {
        generator.insert("rate".into(), number("rows-per-second", rate)?);
    }
    if let Some(rows) = decl.take_option("number-of-rows") {
        let rows = number("number-of-rows", rows)?.as_integer().unwrap_or(0);
        if rows % per_partition != 0 {
            return Err(SqlError::Invalid(format!(
                "table {}: 'number-of-rows' = '{rows}' is not a multiple of                  'floe.partitions' = '{per_partition}'",
                decl.name
            )));
        }
        generator.insert("events".into(), Value::Integer(rows / per_partition));
    }
    for (option, key) in [
        ("floe.seed", "seed"),
        ("floe.videos", "videos"),
        ("floe.start-ms", "start_ms"),
    ] {
        if let Some(v) = decl.take_option(option) {
            generator.insert(key.into(), number(option, v)?);
        }
    }
    for (option, key) in [("floe.step", "step"), ("floe.disorder", "disorder")] {
        if let Some(v) = decl.take_option(option) {
            generator.insert(key.into(), v.into());
        }
    }
    source.insert("generator".into(), Value::Table(generator));
    Ok(())
}

/// `ts AS TO_TIMESTAMP_LTZ(header.event_ts, 3)`: the integer field the event time is read from,
/// and its unit.
fn event_time(decl: &TableDecl, column: &str) -> Result<Table, SqlError> {
    let name = &decl.name;
    let shape = || {
        SqlError::unsupported_with(
            format!("the event time `{column}` of {name}"),
            format!(
                "declare it as `{column} AS TO_TIMESTAMP_LTZ(field, 0 | 3 | 6)` over an integer \
                 field of epoch seconds, milliseconds or microseconds"
            ),
        )
    };
    let expr = decl.computed(column).ok_or_else(shape)?;
    let Expr::Function(f) = expr else {
        return Err(shape());
    };
    let args = plain_args(f).ok_or_else(shape)?;
    if function_name(f) != "to_timestamp_ltz" || args.len() != 2 {
        return Err(shape());
    }
    let path = field_path(args[0]).ok_or_else(shape)?;
    match decl.field_type(&path) {
        Some(SqlType::Integer) => {}
        Some(other) => {
            return Err(SqlError::Invalid(format!(
                "table {name}: {} is {other:?}, but TO_TIMESTAMP_LTZ reads an integer",
                path.join(".")
            )))
        }
        None => {
            return Err(SqlError::Invalid(format!(
                "table {name}: {} is not a declared column",
                path.join(".")
            )))
        }
    }
    let unit = match literal(args[1]).as_deref() {
        Some("0") => "s",
        Some("3") => "ms",
        Some("6") => "us",
        _ => return Err(shape()),
    };
    let mut event_time = Table::new();
    event_time.insert("field".into(), path.join(".").into());
    event_time.insert("unit".into(), unit.into());
    Ok(event_time)
}

/// `ts` or `ts - INTERVAL …`: how far the watermark trails the event time, in milliseconds.
fn watermark_delay(expr: &Expr, column: &str) -> Result<i64, SqlError> {
    if is_column(expr, column) {
        return Ok(0);
    }
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if is_column(left, column) => interval_ms(right),
        other => Err(SqlError::unsupported_with(
            format!("the watermark `{other}`"),
            format!("write `WATERMARK FOR {column} AS {column} - INTERVAL 'n' SECOND`"),
        )),
    }
}
