//! Evaluating an expression over one record's decoded fields, with SQL's null semantics: an
//! absent field is null, an operation on null is null, and a condition holds only when it is
//! true.
//!
//! A value the expression cannot compute from this record (a division by zero, a `CAST` of
//! `'abc'` to a number) is an error naming the expression: the decoder makes the record a dead
//! letter with it.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::functions::{call, cast};
use super::{BinaryOp, CmpOp, ExprOf, Literal};
use crate::bytes_eq::bytes_eq;
use crate::value::Scalar;

/// An expression compiled to read a decoder's slots.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub(super) expr: ExprOf<usize>,
    /// The expression as written, for the errors of records it cannot be computed for.
    text: String,
    /// The usual shapes, evaluated without walking the tree: a job's filters are mostly a
    /// field compared with a constant.
    pub(super) shape: Shape,
}

/// A compiled expression's shape, when it is one evaluated directly.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    /// A bare field.
    Slot(usize),
    /// `field op constant [AND …]`.
    Comparisons(Vec<(usize, CmpOp, Scalar<'static>)>),
    Tree,
}

impl Shape {
    fn of(expr: &ExprOf<usize>) -> Shape {
        fn comparisons(e: &ExprOf<usize>, out: &mut Vec<(usize, CmpOp, Scalar<'static>)>) -> bool {
            match e {
                ExprOf::Binary {
                    op: BinaryOp::And,
                    left,
                    right,
                } => comparisons(left, out) && comparisons(right, out),
                ExprOf::Binary {
                    op: BinaryOp::Cmp(op),
                    left,
                    right,
                } => match (left.as_ref(), right.as_ref()) {
                    (ExprOf::Field(slot), ExprOf::Literal(v)) => {
                        out.push((*slot, *op, constant(v)));
                        true
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        if let ExprOf::Field(slot) = expr {
            return Shape::Slot(*slot);
        }
        let mut out = Vec::new();
        if comparisons(expr, &mut out) {
            Shape::Comparisons(out)
        } else {
            Shape::Tree
        }
    }
}

/// `v` as a value holding its own text, kept beside a compiled condition.
fn constant(v: &Literal) -> Scalar<'static> {
    match literal(v) {
        Scalar::Str(s) => Scalar::Str(Cow::Owned(s.into_owned())),
        Scalar::Bool(b) => Scalar::Bool(b),
        Scalar::I64(i) => Scalar::I64(i),
        Scalar::F64(f) => Scalar::F64(f),
        _ => Scalar::Null,
    }
}

/// A value an expression yields: a borrowed field where it can be, computed otherwise.
pub type Value<'a> = Cow<'a, Scalar<'a>>;

impl Compiled {
    pub(super) fn new(expr: ExprOf<usize>, text: String) -> Self {
        let shape = Shape::of(&expr);
        Self { expr, text, shape }
    }

    /// The expression's value for the record decoded into `slots`.
    #[inline]
    pub fn eval<'a>(&'a self, slots: &'a [Scalar<'a>]) -> Result<Value<'a>, String> {
        if let Shape::Slot(slot) = self.shape {
            return Ok(Cow::Borrowed(&slots[slot]));
        }
        eval(&self.expr, slots).map_err(|why| format!("`{}`: {why}", self.text))
    }

    /// Whether the condition is true for the record (null and false are not).
    #[inline]
    pub fn holds(&self, slots: &[Scalar<'_>]) -> Result<bool, String> {
        if let Shape::Comparisons(comparisons) = &self.shape {
            return Ok(comparisons
                .iter()
                .all(|(slot, op, v)| compare(&slots[*slot], v, *op) == Some(true)));
        }
        Ok(matches!(self.eval(slots)?.as_ref(), Scalar::Bool(true)))
    }
}

impl std::fmt::Display for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

pub(super) fn is_null(v: &Scalar<'_>) -> bool {
    matches!(v, Scalar::Missing | Scalar::Null)
}

fn own<'a>(v: Scalar<'a>) -> Result<Value<'a>, String> {
    Ok(Cow::Owned(v))
}

fn boolean<'a>(v: Option<bool>) -> Result<Value<'a>, String> {
    own(v.map_or(Scalar::Null, Scalar::Bool))
}

/// A value as a three-valued truth: `None` for null (or a non-boolean, which typing refuses
/// where types are declared).
fn truth(v: &Scalar<'_>) -> Option<bool> {
    match v {
        Scalar::Bool(b) => Some(*b),
        _ => None,
    }
}

fn literal(v: &Literal) -> Scalar<'_> {
    match v {
        Literal::Null => Scalar::Null,
        Literal::Bool(b) => Scalar::Bool(*b),
        Literal::Int(i) => Scalar::I64(*i),
        Literal::Float(f) => Scalar::F64(*f),
        Literal::Str(s) => Scalar::Str(Cow::Borrowed(s.as_str())),
    }
}

pub(super) fn eval<'a>(e: &'a ExprOf<usize>, slots: &'a [Scalar<'a>]) -> Result<Value<'a>, String> {
    match e {
        ExprOf::Field(slot) => Ok(Cow::Borrowed(&slots[*slot])),
        ExprOf::Literal(v) => own(literal(v)),
        ExprOf::Not(inner) => boolean(truth(&*eval(inner, slots)?).map(|b| !b)),
        ExprOf::Negate(inner) => own(match eval(inner, slots)?.as_ref() {
            Scalar::I64(v) => Scalar::I64(v.wrapping_neg()),
            Scalar::F64(v) => Scalar::F64(-v),
            _ => Scalar::Null,
        }),
        ExprOf::Binary { op, left, right } => binary(*op, left, right, slots),
        ExprOf::IsNull { expr, negated } => {
            boolean(Some(is_null(&*eval(expr, slots)?) != *negated))
        }
        ExprOf::Like {
            expr,
            pattern,
            negated,
        } => boolean(match eval(expr, slots)?.as_ref() {
            Scalar::Str(s) => Some(pattern.matches(s) != *negated),
            _ => None,
        }),
        ExprOf::InList {
            expr,
            list,
            negated,
        } => {
            let value = eval(expr, slots)?;
            if is_null(&value) {
                return boolean(None);
            }
            let mut unknown = false;
            for item in list {
                match compare(&value, &*eval(item, slots)?, CmpOp::Eq) {
                    Some(true) => return boolean(Some(!negated)),
                    Some(false) => {}
                    None => unknown = true,
                }
            }
            boolean((!unknown).then_some(*negated))
        }
        ExprOf::Case {
            operand,
            whens,
            otherwise,
        } => {
            let operand = operand.as_deref().map(|o| eval(o, slots)).transpose()?;
            for (when, then) in whens {
                let w = eval(when, slots)?;
                let taken = match &operand {
                    Some(o) => compare(o, &w, CmpOp::Eq) == Some(true),
                    None => truth(&w) == Some(true),
                };
                if taken {
                    return eval(then, slots);
                }
            }
            match otherwise {
                Some(o) => eval(o, slots),
                None => own(Scalar::Null),
            }
        }
        ExprOf::Cast { expr, to, lenient } => {
            let v = eval(expr, slots)?;
            match cast(v, *to) {
                Ok(v) => Ok(v),
                Err(_) if *lenient => own(Scalar::Null),
                Err(why) => Err(why),
            }
        }
        ExprOf::Call { function, args } => call(function, args, slots),
    }
}

fn binary<'a>(
    op: BinaryOp,
    left: &'a ExprOf<usize>,
    right: &'a ExprOf<usize>,
    slots: &'a [Scalar<'a>],
) -> Result<Value<'a>, String> {
    match op {
        BinaryOp::And => {
            let l = truth(&*eval(left, slots)?);
            if l == Some(false) {
                return boolean(Some(false));
            }
            let r = truth(&*eval(right, slots)?);
            boolean(match (l, r) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            })
        }
        BinaryOp::Or => {
            let l = truth(&*eval(left, slots)?);
            if l == Some(true) {
                return boolean(Some(true));
            }
            let r = truth(&*eval(right, slots)?);
            boolean(match (l, r) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            })
        }
        BinaryOp::Cmp(cmp) => boolean(compare(&*eval(left, slots)?, &*eval(right, slots)?, cmp)),
        BinaryOp::Concat => {
            let (l, r) = (eval(left, slots)?, eval(right, slots)?);
            if is_null(&l) || is_null(&r) {
                return own(Scalar::Null);
            }
            let text = |v: Value<'a>| cast(v, super::CastType::String);
            match (text(l), text(r)) {
                (Ok(l), Ok(r)) => match (l.as_ref(), r.as_ref()) {
                    (Scalar::Str(l), Scalar::Str(r)) => {
                        own(Scalar::Str(Cow::Owned(format!("{l}{r}"))))
                    }
                    _ => own(Scalar::Null),
                },
                (Err(why), _) | (_, Err(why)) => Err(why),
            }
        }
        _ => arithmetic(op, &*eval(left, slots)?, &*eval(right, slots)?),
    }
}

fn arithmetic<'a>(op: BinaryOp, l: &Scalar<'_>, r: &Scalar<'_>) -> Result<Value<'a>, String> {
    let divided_by_zero = || Err("division by zero".to_owned());
    let v = match (l, r) {
        (Scalar::I64(a), Scalar::I64(b)) => Scalar::I64(match op {
            BinaryOp::Add => a.wrapping_add(*b),
            BinaryOp::Subtract => a.wrapping_sub(*b),
            BinaryOp::Multiply => a.wrapping_mul(*b),
            BinaryOp::Divide if *b == 0 => return divided_by_zero(),
            BinaryOp::Divide => a.wrapping_div(*b),
            BinaryOp::Modulo if *b == 0 => return divided_by_zero(),
            BinaryOp::Modulo => a.wrapping_rem(*b),
            _ => return own(Scalar::Null),
        }),
        _ => match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) => Scalar::F64(match op {
                BinaryOp::Add => a + b,
                BinaryOp::Subtract => a - b,
                BinaryOp::Multiply => a * b,
                BinaryOp::Divide => a / b,
                BinaryOp::Modulo => a % b,
                _ => return own(Scalar::Null),
            }),
            _ => Scalar::Null,
        },
    };
    own(v)
}

/// `l op r`, or `None` when either is null or they cannot be compared.
pub(super) fn compare(l: &Scalar<'_>, r: &Scalar<'_>, op: CmpOp) -> Option<bool> {
    let ord = match (l, r) {
        (Scalar::Str(a), Scalar::Str(b)) => match op {
            CmpOp::Eq => return Some(bytes_eq(a.as_bytes(), b.as_bytes())),
            CmpOp::Ne => return Some(!bytes_eq(a.as_bytes(), b.as_bytes())),
            _ => a.as_ref().cmp(b.as_ref()),
        },
        (Scalar::I64(a), Scalar::I64(b)) => a.cmp(b),
        (Scalar::Bool(a), Scalar::Bool(b)) => a.cmp(b),
        _ => l.as_f64()?.partial_cmp(&r.as_f64()?)?,
    };
    Some(match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    })
}
