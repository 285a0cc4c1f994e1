//! Flink's deduplication: `FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS rn
//! FROM src [WHERE …]) WHERE rn = 1` keeps the first record of each key, read into an append
//! job's `[job.dedup]`.

use sqlparser::ast::{BinaryOperator, Expr, Query, SelectItem, SetExpr, TableFactor, WindowType};
use toml::{Table, Value};

use crate::error::SqlError;
use crate::expr::{field_path, function_name, is_column, literal};
use crate::insert::Declared;
use crate::source::Source;

/// How long a key is remembered, as Flink's idle state retention names it.
const STATE_TTL: &str = "table.exec.state.ttl";

const SHAPE: &str = "deduplicate as FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY key ORDER BY \
                     ts) AS row_num FROM src [WHERE …]) WHERE row_num = 1";

/// The deduplicating subquery a query reads from.
pub(crate) struct Dedup<'a> {
    pub source: &'a Source,
    /// The subquery's `WHERE`: which records are deduplicated and kept.
    pub selection: Option<&'a Expr>,
    /// `[job.dedup]`.
    pub dedup: Table,
    /// The row number's column, which the outer `WHERE` must keep at 1.
    row_number: String,
}

/// The deduplication of `FROM (subquery)`.
pub(crate) fn dedup_subquery<'a>(
    subquery: &'a Query,
    declared: &'a Declared,
) -> Result<Dedup<'a>, SqlError> {
    let shape = || SqlError::unsupported_with(format!("the subquery `{subquery}`"), SHAPE);
    let SetExpr::Select(select) = subquery.body.as_ref() else {
        return Err(shape().at(subquery));
    };
    let [from] = select.from.as_slice() else {
        return Err(shape().at(select.as_ref()));
    };
    let TableFactor::Table {
        name, args: None, ..
    } = &from.relation
    else {
        return Err(shape().at(&from.relation));
    };
    let source = declared.sources.get(&name.to_string()).ok_or_else(|| {
        SqlError::Invalid(format!("{name} is not a declared source table")).at(name)
    })?;
    let [SelectItem::Wildcard(_), SelectItem::ExprWithAlias { expr, alias }] =
        select.projection.as_slice()
    else {
        return Err(shape().at(select.as_ref()));
    };
    let Expr::Function(f) = expr else {
        return Err(shape().at(expr));
    };
    let Some(WindowType::WindowSpec(over)) = &f.over else {
        return Err(shape().at(expr));
    };
    if function_name(f) != "row_number" || over.partition_by.is_empty() {
        return Err(shape().at(expr));
    }
    match over.order_by.as_slice() {
        [o] if is_column(&o.expr, &source.time_column) && o.options.asc != Some(false) => {}
        _ => {
            return Err(SqlError::unsupported_with(
                format!("`{expr}`"),
                format!(
                    "the first record of each key is kept: ORDER BY {} (ascending); keeping the \
                     last would rewrite rows already written",
                    source.time_column
                ),
            )
            .at(expr))
        }
    }
    let key = over
        .partition_by
        .iter()
        .map(|k| {
            let path = field_path(k).ok_or_else(|| shape().at(k))?;
            source.decl.field_type(&path).ok_or_else(|| {
                SqlError::Invalid(format!("{} is not a column of {}", path.join("."), name)).at(k)
            })?;
            Ok(Value::String(path.join(".")))
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    let within = declared.settings.get(STATE_TTL).ok_or_else(|| {
        SqlError::Invalid(format!(
            "deduplication keeps each key until the watermark passes it by a bound: set it \
             with SET '{STATE_TTL}' = '1h'"
        ))
    })?;
    let mut dedup = Table::new();
    dedup.insert("key".into(), Value::Array(key));
    dedup.insert("within".into(), within.clone().into());
    Ok(Dedup {
        source,
        selection: select.selection.as_ref(),
        dedup,
        row_number: alias.value.clone(),
    })
}

impl Dedup<'_> {
    /// Checks that the outer `WHERE` is `row_num = 1` (or `<= 1`), and nothing else: a
    /// condition after deduplication would go inside the subquery.
    pub fn check_outer(&self, selection: Option<&Expr>) -> Result<(), SqlError> {
        let first_only = selection.is_some_and(|e| match e {
            Expr::BinaryOp { left, op, right } => {
                is_column(left, &self.row_number)
                    && matches!(op, BinaryOperator::Eq | BinaryOperator::LtEq)
                    && literal(right).as_deref() == Some("1")
            }
            _ => false,
        });
        if first_only {
            return Ok(());
        }
        let error = SqlError::unsupported_with(
            format!(
                "the outer WHERE {}",
                selection.map_or("(none)".to_owned(), ToString::to_string)
            ),
            format!(
                "write WHERE {} = 1, with any other condition inside the subquery",
                self.row_number
            ),
        );
        Err(match selection {
            Some(e) => error.at(e),
            None => error,
        })
    }
}
