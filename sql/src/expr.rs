//! Reading the few expression shapes a job's declaration is made of: field paths, string and
//! number literals, intervals.

use sqlparser::ast::{DateTimeField, Expr, Value};

use crate::error::SqlError;

/// `a`, `a.b.c`: the path of a field, or `None` for any other expression.
pub(crate) fn field_path(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Identifier(id) => Some(vec![id.value.clone()]),
        Expr::CompoundIdentifier(ids) => Some(ids.iter().map(|i| i.value.clone()).collect()),
        Expr::Nested(inner) => field_path(inner),
        _ => None,
    }
}

/// Whether `expr` is the bare column `name` (any case).
pub(crate) fn is_column(expr: &Expr, name: &str) -> bool {
    field_path(expr).is_some_and(|p| p.len() == 1 && p[0].eq_ignore_ascii_case(name))
}

/// A string or number literal, as text.
pub(crate) fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `INTERVAL '10' SECOND` and the like, in milliseconds.
pub(crate) fn interval_ms(expr: &Expr) -> Result<i64, SqlError> {
    let Expr::Interval(interval) = expr else {
        return Err(SqlError::Syntax(format!(
            "expected an INTERVAL, found `{expr}`"
        )));
    };
    let value = literal(&interval.value).ok_or_else(|| {
        SqlError::Syntax(format!("`{expr}`: the interval's value must be a literal"))
    })?;
    let unit_ms: f64 = match &interval.leading_field {
        Some(DateTimeField::Millisecond | DateTimeField::Milliseconds) => 1.0,
        Some(DateTimeField::Second | DateTimeField::Seconds) => 1_000.0,
        Some(DateTimeField::Minute | DateTimeField::Minutes) => 60_000.0,
        Some(DateTimeField::Hour | DateTimeField::Hours) => 3_600_000.0,
        Some(DateTimeField::Day | DateTimeField::Days) => 86_400_000.0,
        other => {
            return Err(SqlError::unsupported_with(
                format!(
                    "the interval `{expr}`{}",
                    if other.is_none() { " (no unit)" } else { "" }
                ),
                "write INTERVAL 'n' MILLISECOND, SECOND, MINUTE, HOUR or DAY",
            ))
        }
    };
    let n: f64 = value
        .trim()
        .parse()
        .map_err(|_| SqlError::Syntax(format!("`{expr}`: `{value}` is not a number")))?;
    let ms = n * unit_ms;
    if !ms.is_finite() || ms < 0.0 || ms.fract() != 0.0 {
        return Err(SqlError::Invalid(format!(
            "`{expr}` is not a whole number of milliseconds"
        )));
    }
    Ok(ms as i64)
}

/// The lower-case name of a function call (`COUNT` → `count`), its last name part.
pub(crate) fn function_name(f: &sqlparser::ast::Function) -> String {
    f.name
        .0
        .last()
        .map(|p| p.to_string().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The plain (unnamed, non-wildcard) arguments of a call; `None` if it has other kinds.
pub(crate) fn plain_args(f: &sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    match &f.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        FunctionArguments::Subquery(_) => None,
    }
}
