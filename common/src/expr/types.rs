//! What type an expression yields, checked before a job starts: arithmetic on a string or
//! `LIKE` on a number is refused with the expression that does it.

use std::fmt;

use super::{BinaryOp, CastType, Expr, ExprOf, Function, Literal};
use crate::path::FieldPath;

/// The type of an expression's values. Records are JSON, so a field a TOML job names has no
/// declared type ([`ExprType::Any`]) and is checked per record instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprType {
    Boolean,
    Long,
    Double,
    String,
    /// Epoch milliseconds.
    Timestamp,
    /// An object or array, as JSON text.
    Json,
    /// Not known before the record: a field without a declared type, or `NULL`.
    Any,
}

impl ExprType {
    fn numeric(self) -> bool {
        matches!(self, ExprType::Long | ExprType::Double | ExprType::Any)
    }

    fn is(self, other: ExprType) -> bool {
        self == other || self == ExprType::Any
    }

    /// The type two branches (of `CASE`, `COALESCE`) share.
    fn unify(self, other: ExprType) -> Option<ExprType> {
        match (self, other) {
            (a, b) if a == b => Some(a),
            (ExprType::Any, t) | (t, ExprType::Any) => Some(t),
            (ExprType::Long, ExprType::Double) | (ExprType::Double, ExprType::Long) => {
                Some(ExprType::Double)
            }
            _ => None,
        }
    }

    /// Whether values of the types can be compared.
    fn comparable(self, other: ExprType) -> bool {
        self.unify(other).is_some()
    }
}

impl fmt::Display for ExprType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExprType::Boolean => "BOOLEAN",
            ExprType::Long => "BIGINT",
            ExprType::Double => "DOUBLE",
            ExprType::String => "STRING",
            ExprType::Timestamp => "TIMESTAMP",
            ExprType::Json => "ROW",
            ExprType::Any => "an untyped value",
        })
    }
}

impl Expr {
    /// The type of the expression's values, each field's type given by `field_type`; an
    /// error names the part of the expression whose operands do not fit.
    pub fn infer_type(
        &self,
        field_type: &dyn Fn(&FieldPath) -> ExprType,
    ) -> Result<ExprType, String> {
        infer(self, field_type)
    }
}

fn infer(e: &Expr, field_type: &dyn Fn(&FieldPath) -> ExprType) -> Result<ExprType, String> {
    let ty = |e: &Expr| infer(e, field_type);
    let refuse = |what: String| Err(format!("`{e}`: {what}"));
    let want = |sub: &Expr, t: ExprType, role: &str| -> Result<(), String> {
        let got = infer(sub, field_type)?;
        if got.is(t) {
            Ok(())
        } else {
            Err(format!("`{e}`: {role} `{sub}` is {got}, expected {t}"))
        }
    };
    Ok(match e {
        ExprOf::Field(path) => field_type(path),
        ExprOf::Literal(v) => match v {
            Literal::Null => ExprType::Any,
            Literal::Bool(_) => ExprType::Boolean,
            Literal::Int(_) => ExprType::Long,
            Literal::Float(_) => ExprType::Double,
            Literal::Str(_) => ExprType::String,
        },
        ExprOf::Not(inner) => {
            want(inner, ExprType::Boolean, "the operand")?;
            ExprType::Boolean
        }
        ExprOf::Negate(inner) => {
            let t = ty(inner)?;
            if !t.numeric() {
                return refuse(format!("`{inner}` is {t}, not a number"));
            }
            t
        }
        ExprOf::Binary { op, left, right } => {
            let (l, r) = (ty(left)?, ty(right)?);
            match op {
                BinaryOp::And | BinaryOp::Or => {
                    want(left, ExprType::Boolean, "the operand")?;
                    want(right, ExprType::Boolean, "the operand")?;
                    ExprType::Boolean
                }
                BinaryOp::Cmp(_) => {
                    if !l.comparable(r) {
                        return refuse(format!("cannot compare {l} with {r}"));
                    }
                    ExprType::Boolean
                }
                BinaryOp::Concat => ExprType::String,
                _ => {
                    for (side, t) in [(left, l), (right, r)] {
                        if !t.numeric() {
                            return refuse(format!("`{side}` is {t}, not a number"));
                        }
                    }
                    match (l, r) {
                        (ExprType::Long, ExprType::Long) => ExprType::Long,
                        (ExprType::Any, _) | (_, ExprType::Any) => ExprType::Any,
                        _ => ExprType::Double,
                    }
                }
            }
        }
        ExprOf::IsNull { expr, .. } => {
            ty(expr)?;
            ExprType::Boolean
        }
        ExprOf::Like { expr, .. } => {
            want(expr, ExprType::String, "the operand")?;
            ExprType::Boolean
        }
        ExprOf::InList { expr, list, .. } => {
            let t = ty(expr)?;
            for item in list {
                let i = ty(item)?;
                if !t.comparable(i) {
                    return refuse(format!("cannot compare {t} with {i} (`{item}`)"));
                }
            }
            ExprType::Boolean
        }
        ExprOf::Case {
            operand,
            whens,
            otherwise,
        } => {
            let operand_type = operand.as_deref().map(ty).transpose()?;
            let mut result = ExprType::Any;
            for (when, then) in whens {
                match operand_type {
                    Some(o) => {
                        let w = ty(when)?;
                        if !o.comparable(w) {
                            return refuse(format!("cannot compare {o} with {w} (`{when}`)"));
                        }
                    }
                    None => want(when, ExprType::Boolean, "the condition")?,
                }
                result = branch(e, result, ty(then)?)?;
            }
            if let Some(o) = otherwise {
                result = branch(e, result, ty(o)?)?;
            }
            result
        }
        ExprOf::Cast { expr, to, .. } => {
            ty(expr)?;
            match to {
                CastType::Long => ExprType::Long,
                CastType::Double => ExprType::Double,
                CastType::String => ExprType::String,
                CastType::Boolean => ExprType::Boolean,
            }
        }
        ExprOf::Call { function, args } => match function {
            Function::Coalesce => {
                let mut result = ExprType::Any;
                for a in args {
                    result = branch(e, result, ty(a)?)?;
                }
                result
            }
            Function::Lower | Function::Upper | Function::Trim => {
                want(&args[0], ExprType::String, "the argument")?;
                ExprType::String
            }
            Function::CharLength => {
                want(&args[0], ExprType::String, "the argument")?;
                ExprType::Long
            }
            Function::Substring => {
                want(&args[0], ExprType::String, "the argument")?;
                for a in &args[1..] {
                    want(a, ExprType::Long, "the position")?;
                }
                ExprType::String
            }
            Function::Concat => {
                for a in args {
                    ty(a)?;
                }
                ExprType::String
            }
            Function::Abs | Function::Floor | Function::Ceil => {
                let t = ty(&args[0])?;
                if !t.numeric() {
                    return refuse(format!("`{}` is {t}, not a number", args[0]));
                }
                t
            }
            Function::ToTimestamp(_) => {
                want(&args[0], ExprType::Long, "the argument")?;
                ExprType::Timestamp
            }
            Function::DateFormat(_) => {
                want(&args[0], ExprType::Timestamp, "the argument")?;
                ExprType::String
            }
            Function::Extract(_) => {
                want(&args[0], ExprType::Timestamp, "the argument")?;
                ExprType::Long
            }
        },
    })
}

/// The type a `CASE` or `COALESCE` has once another branch of type `next` is seen.
fn branch(e: &Expr, so_far: ExprType, next: ExprType) -> Result<ExprType, String> {
    so_far
        .unify(next)
        .ok_or_else(|| format!("`{e}`: its values are {so_far} and {next}"))
}
