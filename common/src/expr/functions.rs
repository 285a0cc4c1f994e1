//! `CAST` and the functions an expression may call. Each is null on a null argument (but
//! `COALESCE`, whose point is not to be).

use std::borrow::Cow;

use super::eval::{eval, is_null, Value};
use super::{CastType, ExprOf, Function};
use crate::value::Scalar;

fn own(v: Scalar<'_>) -> Result<Value<'_>, String> {
    Ok(Cow::Owned(v))
}

fn text<'a>(s: String) -> Result<Value<'a>, String> {
    own(Scalar::Str(Cow::Owned(s)))
}

/// A double as text: whole numbers keep a `.0`, as Flink prints them.
fn double_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

/// `v` converted to `to`; an error says why it does not convert.
pub(super) fn cast(v: Value<'_>, to: CastType) -> Result<Value<'_>, String> {
    if is_null(&v) {
        return own(Scalar::Null);
    }
    let refuse = |v: &Scalar<'_>| -> String {
        let shown = match v {
            Scalar::Str(s) => format!("'{s}'"),
            Scalar::Nested(_) => "an object or array".into(),
            other => other.type_name().into(),
        };
        format!("cannot cast {shown} to {to}")
    };
    match to {
        CastType::Long => own(Scalar::I64(match v.as_ref() {
            Scalar::I64(i) => *i,
            Scalar::F64(f) if f.is_finite() && f.abs() < 9.2e18 => f.trunc() as i64,
            Scalar::Str(s) => s.trim().parse().map_err(|_| refuse(&v))?,
            Scalar::Bool(b) => i64::from(*b),
            other => return Err(refuse(other)),
        })),
        CastType::Double => own(Scalar::F64(match v.as_ref() {
            Scalar::I64(i) => *i as f64,
            Scalar::F64(f) => *f,
            Scalar::Str(s) => s.trim().parse().map_err(|_| refuse(&v))?,
            Scalar::Bool(b) => f64::from(u8::from(*b)),
            other => return Err(refuse(other)),
        })),
        CastType::Boolean => own(Scalar::Bool(match v.as_ref() {
            Scalar::Bool(b) => *b,
            Scalar::I64(i) => *i != 0,
            Scalar::Str(s) if s.trim().eq_ignore_ascii_case("true") => true,
            Scalar::Str(s) if s.trim().eq_ignore_ascii_case("false") => false,
            other => return Err(refuse(other)),
        })),
        CastType::String => match v {
            Cow::Borrowed(Scalar::Str(s)) => own(Scalar::Str(Cow::Borrowed(s.as_ref()))),
            Cow::Owned(Scalar::Str(s)) => own(Scalar::Str(s)),
            other => match other.as_ref() {
                Scalar::I64(i) => text(i.to_string()),
                Scalar::F64(f) => text(double_text(*f)),
                Scalar::Bool(b) => text(if *b { "TRUE" } else { "FALSE" }.into()),
                Scalar::Nested(raw) => match std::str::from_utf8(raw) {
                    Ok(s) => text(s.to_owned()),
                    Err(_) => Err("the JSON value is not valid UTF-8".into()),
                },
                _ => own(Scalar::Null),
            },
        },
    }
}

/// `function(args…)` for the record in `slots`.
pub(super) fn call<'a>(
    function: &Function,
    args: &'a [ExprOf<usize>],
    slots: &'a [Scalar<'a>],
) -> Result<Value<'a>, String> {
    if let Function::Coalesce = function {
        for a in args {
            let v = eval(a, slots)?;
            if !is_null(&v) {
                return Ok(v);
            }
        }
        return own(Scalar::Null);
    }
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        let v = eval(a, slots)?;
        if is_null(&v) {
            return own(Scalar::Null);
        }
        values.push(v);
    }
    let first = values[0].as_ref();
    match function {
        Function::Coalesce => own(Scalar::Null),
        Function::Lower | Function::Upper | Function::Trim | Function::CharLength => {
            let Scalar::Str(s) = first else {
                return own(Scalar::Null);
            };
            match function {
                Function::Lower => text(s.to_lowercase()),
                Function::Upper => text(s.to_uppercase()),
                Function::Trim => text(s.trim_matches(' ').to_owned()),
                _ => own(Scalar::I64(s.chars().count() as i64)),
            }
        }
        Function::Substring => {
            let (Scalar::Str(s), Some(Scalar::I64(from))) =
                (first, values.get(1).map(|v| v.as_ref()))
            else {
                return own(Scalar::Null);
            };
            let end = match values.get(2).map(|v| v.as_ref()) {
                Some(Scalar::I64(len)) if *len < 0 => {
                    return Err(format!("a negative length ({len})"))
                }
                Some(Scalar::I64(len)) => from.saturating_add(*len),
                Some(_) => return own(Scalar::Null),
                None => i64::MAX,
            };
            let begin = (*from).max(1);
            let taken: String = s
                .chars()
                .enumerate()
                .filter(|(i, _)| {
                    let at = *i as i64 + 1;
                    at >= begin && at < end
                })
                .map(|(_, c)| c)
                .collect();
            text(taken)
        }
        Function::Concat => {
            let mut out = String::new();
            for v in values {
                match cast(v, CastType::String)?.as_ref() {
                    Scalar::Str(s) => out.push_str(s),
                    _ => return own(Scalar::Null),
                }
            }
            text(out)
        }
        Function::Abs => own(match first {
            Scalar::I64(i) => Scalar::I64(i.wrapping_abs()),
            Scalar::F64(f) => Scalar::F64(f.abs()),
            _ => Scalar::Null,
        }),
        Function::Floor | Function::Ceil => own(match first {
            Scalar::I64(i) => Scalar::I64(*i),
            Scalar::F64(f) if matches!(function, Function::Floor) => Scalar::F64(f.floor()),
            Scalar::F64(f) => Scalar::F64(f.ceil()),
            _ => Scalar::Null,
        }),
        Function::ToTimestamp(unit) => match first {
            Scalar::I64(raw) => match unit.to_millis(*raw) {
                Some(ms) => own(Scalar::I64(ms)),
                None => Err(format!("{raw} is out of range")),
            },
            other => Err(format!("{} is not an integer", other.type_name())),
        },
        Function::DateFormat(pattern) => match first {
            Scalar::I64(ms) => match pattern.format(*ms) {
                Some(s) => text(s),
                None => Err(format!("{ms} ms is out of range")),
            },
            _ => own(Scalar::Null),
        },
        Function::Extract(part) => match first {
            Scalar::I64(ms) => match part.of(*ms) {
                Some(v) => own(Scalar::I64(v)),
                None => Err(format!("{ms} ms is out of range")),
            },
            _ => own(Scalar::Null),
        },
    }
}
