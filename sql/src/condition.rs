//! Conditions Floe runs: comparisons of an operand with a constant, joined by `AND`, lowered to
//! the text of a job's filters (`filter`, an aggregate's `filter`, `having`).

use sqlparser::ast::{BinaryOperator, Expr, Value};

use crate::error::SqlError;
use crate::expr::literal;

/// What a clause's conditions compare, for the errors that refuse others.
pub(crate) struct Clause<'a> {
    /// `WHERE`, `FILTER` or `HAVING`.
    pub name: &'a str,
    /// What its operands are: "a field", "a selected aggregate (or its name)".
    pub operands: &'a str,
}

impl Clause<'_> {
    /// The error refusing `what` in this clause.
    pub fn refuses(&self, what: String) -> SqlError {
        SqlError::unsupported_with(
            what,
            format!(
                "{} takes comparisons of {} with a constant, joined by AND",
                self.name, self.operands
            ),
        )
    }
}

/// `expr` as `operand op constant [AND …]`, each operand named by `operand`: `None` for an
/// expression that is not one of the clause's operands.
pub(crate) fn conjunction(
    expr: &Expr,
    clause: &Clause<'_>,
    operand: &dyn Fn(&Expr) -> Result<Option<String>, SqlError>,
) -> Result<String, SqlError> {
    let refused = || clause.refuses(format!("the condition `{expr}`")).at(expr);
    let Expr::BinaryOp { left, op, right } = expr else {
        return Err(refused());
    };
    if *op == BinaryOperator::And {
        return Ok(format!(
            "{} AND {}",
            conjunction(left, clause, operand)?,
            conjunction(right, clause, operand)?
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
    let name = operand(left)
        .and_then(|name| name.ok_or_else(|| clause.refuses(format!("`{left}` in {}", clause.name))))
        .map_err(|e| e.at(left.as_ref()))?;
    Ok(format!("{name} {op} {right}"))
}
