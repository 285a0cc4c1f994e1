//! `INSERT INTO ns.t SELECT <columns> FROM src [WHERE …]`: a query without a window, lowered to
//! an append job (the Silver layer). Every record the WHERE keeps becomes one row of the
//! selected columns, followed by where it came from (`kafka_partition`, `kafka_offset`,
//! `ingested_at`), as in a Bronze table. Reading from Flink's deduplicating subquery keeps the
//! first record of each key (`dedup_select.rs`).

use floe_common::expr::ExprType;
use sqlparser::ast::{Expr, GroupByExpr, Select, SelectItem, TableFactor};
use toml::{Table, Value};

use crate::dedup_select::dedup_subquery;
use crate::error::SqlError;
use crate::expr::field_path;
use crate::insert::{sink, Declared};
use crate::scalar::{condition, scalar};
use crate::source::Source;
use crate::sql_type::SqlType;

/// What a query without a window reads.
pub(crate) struct PlainRead<'a> {
    source: &'a Source,
    /// Which records are kept.
    selection: Option<&'a Expr>,
    /// `[job.dedup]`, when only the first record of each key is kept.
    dedup: Option<Table>,
}

/// What a query without a window reads: `FROM src`, or `FROM (deduplicating subquery)`; `None`
/// when the query reads from something else (a window function).
pub(crate) fn plain_source<'a>(
    select: &'a Select,
    declared: &'a Declared,
) -> Result<Option<PlainRead<'a>>, SqlError> {
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    if !from.joins.is_empty() {
        return Ok(None);
    }
    match &from.relation {
        TableFactor::Table {
            name, args: None, ..
        } => {
            let table = name.to_string();
            let source = declared.sources.get(&table).ok_or_else(|| {
                SqlError::Invalid(format!("{table} is not a declared source table")).at(name)
            })?;
            Ok(Some(PlainRead {
                source,
                selection: select.selection.as_ref(),
                dedup: None,
            }))
        }
        TableFactor::Derived { subquery, .. } => {
            let dedup = dedup_subquery(subquery, declared)?;
            dedup.check_outer(select.selection.as_ref())?;
            Ok(Some(PlainRead {
                source: dedup.source,
                selection: dedup.selection,
                dedup: Some(dedup.dedup),
            }))
        }
        _ => Ok(None),
    }
}

/// The job appending the rows `select` makes of `source`'s records into `target`.
pub(crate) fn lower_append(
    target: &str,
    select: &Select,
    read: PlainRead<'_>,
    declared: &Declared,
) -> Result<Table, SqlError> {
    let source = read.source;
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || select.having.is_some() {
        return Err(SqlError::unsupported_with(
            "GROUP BY or HAVING in a query without a window",
            "aggregate over TABLE(TUMBLE | HOP | CUMULATE | SESSION(…)); a query FROM a table \
             appends one row per record",
        )
        .at(select));
    }
    let mut columns = Vec::new();
    for item in &select.projection {
        let at = |e: SqlError| e.at(item);
        match item {
            SelectItem::Wildcard(_) => {
                for (name, _) in &source.decl.columns {
                    columns.push(column(source, name, std::slice::from_ref(name)).map_err(at)?);
                }
                if source.decl.computed(&source.time_column).is_some() {
                    let time = &source.time_column;
                    columns.push(column(source, time, std::slice::from_ref(time)).map_err(at)?);
                }
            }
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                let alias = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                    _ => None,
                };
                match field_path(e) {
                    Some(path) => {
                        let name =
                            alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
                        columns.push(column(source, &name, &path).map_err(at)?);
                    }
                    None => {
                        let name = alias.ok_or_else(|| {
                            at(SqlError::Invalid(format!(
                                "`{e}` needs a column name: `{e} AS name`"
                            )))
                        })?;
                        columns.push(computed_column(source, &name, e)?);
                    }
                }
            }
            other => {
                return Err(at(SqlError::unsupported(format!(
                    "the select item `{other}`"
                ))))
            }
        }
    }
    let names: Vec<String> = columns
        .iter()
        .filter_map(|c| c.get("column").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut job = Table::new();
    job.insert("kind".into(), "append".into());
    job.insert("source".into(), Value::Table(source.source.clone()));
    job.insert("format".into(), Value::Table(source.format.clone()));
    job.insert("event_time".into(), Value::Table(source.event_time.clone()));
    job.insert("window".into(), Value::Table(source.window.clone()));
    if let Some(selection) = read.selection {
        job.insert(
            "filter".into(),
            condition(selection, "WHERE", source)?.into(),
        );
    }
    if let Some(dedup) = read.dedup {
        job.insert("dedup".into(), Value::Table(dedup));
    }
    job.insert(
        "column".into(),
        Value::Array(columns.into_iter().map(Value::Table).collect()),
    );
    job.insert("sink".into(), Value::Table(sink(target, declared, &names)?));
    Ok(job)
}

/// `[[job.column]]` named `name`, holding the value of the expression `e`.
fn computed_column(source: &Source, name: &str, e: &Expr) -> Result<Table, SqlError> {
    let typed = scalar(e, source)?;
    let ty = match typed.ty {
        ExprType::Long => "long",
        ExprType::Double => "double",
        ExprType::Boolean => "boolean",
        ExprType::String => "string",
        ExprType::Json => "json",
        ExprType::Timestamp => "timestamp",
        ExprType::Any => {
            return Err(SqlError::Invalid(format!(
                "the type of `{e}` is not known: CAST it to the type of {name}"
            ))
            .at(e))
        }
    };
    let mut c = Table::new();
    c.insert("column".into(), name.into());
    c.insert("expr".into(), typed.expr.to_string().into());
    c.insert("type".into(), ty.into());
    if typed.ty == ExprType::Timestamp {
        c.insert("unit".into(), "ms".into());
    }
    Ok(c)
}

/// `[[job.column]]` named `name`, of the source's column or field at `path`: the watermark
/// column is the event time as a timestamp; a `ROW` is kept whole as JSON text.
fn column(source: &Source, name: &str, path: &[String]) -> Result<Table, SqlError> {
    let mut c = Table::new();
    c.insert("column".into(), name.into());
    if let [only] = path {
        if only.eq_ignore_ascii_case(&source.time_column) {
            for key in ["field", "unit"] {
                if let Some(v) = source.event_time.get(key) {
                    c.insert(key.into(), v.clone());
                }
            }
            c.insert("type".into(), "timestamp".into());
            c.insert("required".into(), true.into());
            return Ok(c);
        }
    }
    let ty = source.decl.field_type(path).ok_or_else(|| {
        SqlError::Invalid(format!(
            "{} is not a column of {}",
            path.join("."),
            source.decl.name
        ))
    })?;
    let ty = match ty {
        SqlType::Integer => "long",
        SqlType::Floating => "double",
        SqlType::Boolean => "boolean",
        SqlType::String => "string",
        SqlType::Row(_) => "json",
        SqlType::Timestamp => {
            return Err(SqlError::unsupported_with(
                format!("the TIMESTAMP field {}", path.join(".")),
                format!(
                    "select the watermark column {}, or declare the field as the BIGINT it holds",
                    source.time_column
                ),
            ))
        }
    };
    c.insert("field".into(), path.join(".").into());
    c.insert("type".into(), ty.into());
    Ok(c)
}
