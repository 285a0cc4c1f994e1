//! Conditions Floe runs: comparisons of an operand with a constant, joined by `AND`, lowered to
//! the text of a job's filters (`filter`, an aggregate's `filter`, `having`).

use sqlparser::ast::{BinaryOperator, Expr, Value};

use crate::error::SqlError;
use crate::expr::literal;

/// `expr` as `operand op constant [AND …]`, each operand named by `operand` (which refuses
/// what it cannot name). `what` is the clause, for errors.
pub(crate) fn conjunction(
    expr: &Expr,
    what: &str,
    operand: &dyn Fn(&Expr) -> Result<String, SqlError>,
) -> Result<String, SqlError> {
    let refused = || {
        SqlError::unsupported_with(
            format!("the condition `{expr}`"),
            format!("{what} takes comparisons of {}", supported(what)),
        )
        .at(expr)
    };
    let Expr::BinaryOp { left, op, right } = expr else {
        return Err(refused());
    };
    if *op == BinaryOperator::And {
        return Ok(format!(
            "{} AND {}",
            conjunction(left, what, operand)?,
            conjunction(right, what, operand)?
        ));
    }
    let comparison = matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    );
    let constant = literal(right).is_some()
        || matches!(&**right, Expr::Value(v) if matches!(v.value, Value::Boolean(_)));
    if !(comparison && constant) {
        return Err(refused());
    }
    let name = operand(left).map_err(|e| e.at(left.as_ref()))?;
    Ok(format!("{name} {op} {right}"))
}

fn supported(what: &str) -> &'static str {
    if what == "HAVING" {
        "a selected aggregate (or its name) with a constant, joined by AND"
    } else {
        "a field with a constant, joined by AND"
    }
}
