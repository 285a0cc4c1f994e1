//! `INSERT INTO sink SELECT … FROM TABLE(TUMBLE | HOP | CUMULATE | SESSION(…)) GROUP BY window_start,
//! window_end, …` lowered to one job: its window, group keys and aggregates, read off the SELECT.
//! A query `FROM` a source table without a window appends instead (`append_select.rs`).

use std::collections::BTreeMap;

use floe_common::config::JobConfig;
use floe_common::expr::ExprType;
use sqlparser::ast::{Expr, GroupByExpr, Query, Select, SelectItem, SetExpr};
use toml::{Table, Value};

use crate::aggregate_call::{aggregate, having};
use crate::append_select::{lower_append, plain_source};
use crate::error::SqlError;
use crate::expr::{field_path, is_column};
use crate::scalar::{condition, scalar, Typed};
use crate::source::Source;
use crate::table_decl::TableDecl;
use crate::window_tvf::{window_tvf, WindowTvf};

/// The tables and settings a script declared, by name.
#[derive(Default)]
pub(crate) struct Declared {
    pub sources: BTreeMap<String, Source>,
    pub sinks: BTreeMap<String, TableDecl>,
    pub settings: BTreeMap<String, String>,
}

impl Declared {
    pub fn knows(&self, name: &str) -> bool {
        self.sources.contains_key(name) || self.sinks.contains_key(name)
    }
}

/// The columns every windowed table starts with.
const WINDOW_COLUMNS: [&str; 2] = ["window_start", "window_end"];

/// Lowers `INSERT INTO target <query>` to a job named `name` (default: the table's name).
pub(crate) fn lower_insert(
    target: &str,
    query: &Query,
    declared: &Declared,
    name: Option<String>,
) -> Result<JobConfig, SqlError> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(
            SqlError::unsupported(format!("the query of INSERT INTO {target}: `{query}`"))
                .at(query),
        );
    };
    if query.to_string() != select.to_string() {
        return Err(SqlError::unsupported_with(
            format!("WITH, ORDER BY, LIMIT or FETCH in the query of INSERT INTO {target}"),
            "a streaming job's query is one SELECT",
        )
        .at(query));
    }
    if select.distinct.is_some() {
        return Err(SqlError::unsupported(format!(
            "DISTINCT in the query of INSERT INTO {target}"
        ))
        .at(select.as_ref()));
    }
    let default_name = target.rsplit('.').next().unwrap_or(target).to_owned();
    let name = name.unwrap_or(default_name);
    if let Some(read) = plain_source(select, declared)? {
        let mut job = lower_append(target, select, read, declared)?;
        job.insert("name".into(), name.into());
        return to_job(target, job);
    }
    let WindowTvf {
        source,
        window: sizes,
        session_keys,
    } = window_tvf(select, declared).map_err(|e| match select.from.first() {
        Some(from) => e.at(&from.relation),
        None => e.at(select.as_ref()),
    })?;
    let keys = group_keys(select, source)?;
    if let Some(session_keys) = session_keys {
        let key_paths: Vec<Vec<String>> = keys
            .iter()
            .map(|k| k.path().unwrap_or_else(|| vec![k.text.clone()]))
            .collect();
        let sorted = |mut ks: Vec<Vec<String>>| {
            ks.sort();
            ks
        };
        if sorted(session_keys.clone()) != sorted(key_paths.clone()) {
            return Err(SqlError::unsupported_with(
                format!(
                    "SESSION(… PARTITION BY {}, …) with GROUP BY window_start, window_end, {}",
                    dotted(&session_keys),
                    dotted(&key_paths)
                ),
                "sessions are per group key: partition by the keys the query groups by",
            )
            .at(&select.group_by));
        }
    }
    let mut job = Table::new();
    job.insert("name".into(), name.into());
    job.insert("source".into(), Value::Table(source.source.clone()));
    job.insert("format".into(), Value::Table(source.format.clone()));
    if let Some(selection) = &select.selection {
        job.insert(
            "filter".into(),
            condition(selection, "WHERE", source)?.into(),
        );
    }
    job.insert("event_time".into(), Value::Table(source.event_time.clone()));
    let mut window = source.window.clone();
    window.extend(sizes);
    if let Some(lateness) = declared.settings.get("table.exec.emit.allow-lateness") {
        window.insert("allowed_lateness".into(), lateness.clone().into());
    }
    job.insert("window".into(), Value::Table(window));
    let projection = projection(select, source, &keys)?;
    if let Some(condition) = &select.having {
        job.insert(
            "having".into(),
            having(condition, &projection.aggregate_exprs)?.into(),
        );
    }
    let sink = sink(target, declared, &projection.columns)?;
    job.insert("group_by".into(), Value::Array(projection.group_by));
    job.insert("aggregate".into(), Value::Array(projection.aggregates));
    job.insert("sink".into(), Value::Table(sink));
    to_job(target, job)
}

fn to_job(target: &str, job: Table) -> Result<JobConfig, SqlError> {
    Value::Table(job)
        .try_into()
        .map_err(|e: toml::de::Error| SqlError::Invalid(format!("INSERT INTO {target}: {e}")))
}

/// Field paths as written, joined by commas.
fn dotted(paths: &[Vec<String>]) -> String {
    paths
        .iter()
        .map(|p| p.join("."))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A GROUP BY key besides `window_start` and `window_end`.
struct Key {
    /// As written, to find it in the SELECT.
    text: String,
    value: Typed,
}

impl Key {
    /// The field path, for a key that is a bare field.
    fn path(&self) -> Option<Vec<String>> {
        self.value.expr.as_field().map(|p| p.segments().to_vec())
    }
}

/// The GROUP BY keys besides `window_start` and `window_end`.
fn group_keys(select: &Select, source: &Source) -> Result<Vec<Key>, SqlError> {
    let GroupByExpr::Expressions(exprs, modifiers) = &select.group_by else {
        return Err(SqlError::unsupported("GROUP BY ALL"));
    };
    if !modifiers.is_empty() {
        return Err(SqlError::unsupported("ROLLUP, CUBE and GROUPING SETS"));
    }
    let mut windows = 0;
    let mut keys = Vec::new();
    for e in exprs {
        if WINDOW_COLUMNS.iter().any(|w| is_column(e, w)) {
            windows += 1;
            continue;
        }
        let value = scalar(e, source)?;
        if matches!(value.ty, ExprType::Json | ExprType::Any) {
            return Err(SqlError::Invalid(format!(
                "the GROUP BY key `{e}` is {}: group by a value",
                value.ty
            ))
            .at(e));
        }
        keys.push(Key {
            text: unparenthesised(e).to_string(),
            value,
        });
    }
    if windows != 2 {
        return Err(SqlError::Invalid(
            "a windowed query groups by window_start and window_end".into(),
        ));
    }
    Ok(keys)
}

/// `e` without the parentheses around it.
fn unparenthesised(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => unparenthesised(inner),
        other => other,
    }
}

/// What a windowed SELECT's items lower to.
struct Projection {
    /// `[[job.group_by]]`.
    group_by: Vec<Value>,
    /// `[[job.aggregate]]`.
    aggregates: Vec<Value>,
    /// The output columns' names, in order.
    columns: Vec<String>,
    /// Each aggregate's expression, as written, and its column.
    aggregate_exprs: Vec<(String, String)>,
}

/// The SELECT's items: `window_start, window_end`, then every key, then the aggregates, in
/// the order of the table Floe writes.
fn projection(select: &Select, source: &Source, keys: &[Key]) -> Result<Projection, SqlError> {
    let mut group_by = Vec::new();
    let mut aggregates = Vec::new();
    let mut columns = Vec::new();
    let mut aggregate_exprs = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let at = |e: SqlError| e.at(item);
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => {
                return Err(at(SqlError::unsupported(format!(
                    "the select item `{other}`"
                ))))
            }
        };
        if i < WINDOW_COLUMNS.len() {
            if !is_column(expr, WINDOW_COLUMNS[i]) || alias.is_some() {
                return Err(at(SqlError::unsupported_with(
                    format!("the select item `{item}`"),
                    "a windowed query selects window_start, window_end first, then its keys, \
                     then its aggregates",
                )));
            }
            columns.push(WINDOW_COLUMNS[i].to_owned());
            continue;
        }
        let text = unparenthesised(expr).to_string();
        if let Some(key) = keys.iter().find(|k| k.text == text) {
            if !aggregates.is_empty() {
                return Err(at(SqlError::unsupported_with(
                    format!("the key `{item}` after an aggregate"),
                    "select the keys before the aggregates",
                )));
            }
            let column = match (alias, key.path()) {
                (Some(alias), _) => alias,
                (None, Some(path)) => path.last().cloned().unwrap_or_default(),
                (None, None) => {
                    return Err(at(SqlError::Invalid(format!(
                        "`{expr}` needs a column name: `{expr} AS name`"
                    ))))
                }
            };
            let (from, value) = key.value.config_key();
            let mut g = Table::new();
            g.insert("column".into(), column.clone().into());
            g.insert(from.into(), value.into());
            group_by.push(Value::Table(g));
            columns.push(column);
            continue;
        }
        if field_path(expr).is_some() {
            return Err(at(SqlError::Invalid(format!(
                "`{expr}` is selected but not in GROUP BY"
            ))));
        }
        let Some(column) = alias else {
            return Err(at(SqlError::Invalid(format!(
                "`{expr}` needs a column name: `{expr} AS name`"
            ))));
        };
        aggregates.push(Value::Table(aggregate(expr, &column, source).map_err(at)?));
        aggregate_exprs.push((expr.to_string(), column.clone()));
        columns.push(column);
    }
    if group_by.len() != keys.len() {
        return Err(SqlError::unsupported_with(
            "a GROUP BY key that is not selected",
            "Floe's table has a column per key",
        ));
    }
    Ok(Projection {
        group_by,
        aggregates,
        columns,
        aggregate_exprs,
    })
}

/// `[job.sink]`: the target, with what its `CREATE TABLE … WITH ('connector' = 'iceberg')`
/// declares, whose columns (if any) must be the query's.
pub(crate) fn sink(
    target: &str,
    declared: &Declared,
    columns: &[String],
) -> Result<Table, SqlError> {
    let mut sink = Table::new();
    sink.insert("table".into(), target.into());
    let Some(decl) = declared.sinks.get(target) else {
        return Ok(sink);
    };
    let names: Vec<&str> = decl.columns.iter().map(|(n, _)| n.as_str()).collect();
    if !names.is_empty() && !names.iter().copied().eq(columns.iter().map(String::as_str)) {
        return Err(SqlError::Invalid(format!(
            "INSERT INTO {target}: the table declares the columns {names:?}, the query gives \
             {columns:?}"
        )));
    }
    let mut options = decl.options.clone();
    if let Some(partitioning) = options.remove("partitioning") {
        let transforms: Vec<Value> = partitioning
            .split(',')
            .map(|t| Value::String(t.trim().to_owned()))
            .filter(|t| t.as_str() != Some(""))
            .collect();
        sink.insert("partition_by".into(), Value::Array(transforms));
    }
    for (option, key) in [
        ("late-table", "late_table"),
        ("dead-letter-table", "dead_letter_table"),
        ("target-file-size", "target_file_size"),
        ("commit-interval", "commit_interval"),
    ] {
        if let Some(v) = options.remove(option) {
            sink.insert(key.into(), v.into());
        }
    }
    if let Some(key) = options.keys().next() {
        return Err(SqlError::unsupported(format!(
            "the option '{key}' of {target}"
        )));
    }
    Ok(sink)
}
