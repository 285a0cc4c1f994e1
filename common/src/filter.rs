//! Row filters for conditional aggregates: `header.event_type = 'like'`,
//! `body.watch_ms >= 1000 and header.event_type != 'share'`.
//!
//! SQL semantics for absent values: a comparison with a missing or null field is false.

use crate::bytes_eq::bytes_eq;
use crate::path::FieldPath;
use crate::value::Scalar;

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// `path op literal`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub path: FieldPath,
    pub op: CmpOp,
    pub literal: Literal,
}

/// A conjunction of comparisons.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    pub clauses: Vec<Comparison>,
}

impl Filter {
    /// Parses `cmp [and cmp]*`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut clauses = Vec::new();
        let mut rest = text.trim();
        loop {
            let (cmp, after) = parse_comparison(rest).map_err(|m| format!("`{text}`: {m}"))?;
            clauses.push(cmp);
            let after = after.trim_start();
            if after.is_empty() {
                break;
            }
            let lower = after.get(..4).map(str::to_ascii_lowercase);
            if lower.as_deref() == Some("and ") {
                rest = after[4..].trim_start();
            } else {
                return Err(format!("`{text}`: expected `and` before `{after}`"));
            }
        }
        Ok(Self { clauses })
    }
}

fn parse_comparison(text: &str) -> Result<(Comparison, &str), String> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let path = FieldPath::parse(&text[..end])?;
    let rest = text[end..].trim_start();
    let (op, rest) = [
        ("!=", CmpOp::Ne),
        ("<>", CmpOp::Ne),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("=", CmpOp::Eq),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ]
    .iter()
    .find_map(|(s, op)| rest.strip_prefix(s).map(|r| (*op, r.trim_start())))
    .ok_or_else(|| format!("expected =, !=, <, <=, > or >= after `{path}`"))?;
    if let Some(body) = rest.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if body[i + 1..].starts_with('\'') {
                    value.push('\'');
                    chars.next();
                    continue;
                }
                let cmp = Comparison {
                    path,
                    op,
                    literal: Literal::Str(value),
                };
                return Ok((cmp, &body[i + 1..]));
            }
            value.push(c);
        }
        return Err("unterminated string literal".into());
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let word = &rest[..end];
    let literal = match word {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        w => Literal::Num(w.parse().map_err(|_| {
            format!("`{w}` is not a literal (quote strings: 'like'; numbers; true/false)")
        })?),
    };
    Ok((Comparison { path, op, literal }, &rest[end..]))
}

impl Comparison {
    /// Evaluates against the decoded value of `path`.
    #[inline]
    pub fn matches(&self, value: &Scalar<'_>) -> bool {
        use std::cmp::Ordering;
        // Equality on strings, the common filter, without a full ordering compare.
        if let (Literal::Str(l), Scalar::Str(v)) = (&self.literal, value) {
            match self.op {
                CmpOp::Eq => return bytes_eq(v.as_bytes(), l.as_bytes()),
                CmpOp::Ne => return !bytes_eq(v.as_bytes(), l.as_bytes()),
                _ => {}
            }
        }
        let ord: Option<Ordering> = match (&self.literal, value) {
            (Literal::Str(l), Scalar::Str(v)) => Some(v.as_ref().cmp(l.as_str())),
            (Literal::Num(l), v) => v.as_f64().and_then(|v| v.partial_cmp(l)),
            (Literal::Bool(l), Scalar::Bool(v)) => Some(v.cmp(l)),
            _ => None,
        };
        match ord {
            None => false,
            Some(o) => match self.op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn parses_a_conjunction() {
        let f = Filter::parse("header.event_type = 'it''s' AND body.watch_ms >= 10").unwrap();
        assert_eq!(f.clauses.len(), 2);
        assert_eq!(f.clauses[0].literal, Literal::Str("it's".into()));
        assert_eq!(f.clauses[1].op, CmpOp::Ge);
        assert_eq!(f.clauses[1].literal, Literal::Num(10.0));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Filter::parse("header.event_type = like").is_err());
        assert!(Filter::parse("header.event_type 'like'").is_err());
        assert!(Filter::parse("a = 'x' or b = 'y'").is_err());
        assert!(Filter::parse("a = 'x").is_err());
    }

    #[test]
    fn evaluates_with_sql_null_semantics() {
        let f = Filter::parse("t = 'like'").unwrap();
        let c = &f.clauses[0];
        assert!(c.matches(&Scalar::Str(Cow::Borrowed("like"))));
        assert!(!c.matches(&Scalar::Str(Cow::Borrowed("share"))));
        assert!(!c.matches(&Scalar::Missing));
        let ne = &Filter::parse("t != 'like'").unwrap().clauses[0];
        assert!(!ne.matches(&Scalar::Missing));
        assert!(ne.matches(&Scalar::Str(Cow::Borrowed("share"))));
        let gt = &Filter::parse("n > 2.5").unwrap().clauses[0];
        assert!(gt.matches(&Scalar::I64(3)));
        assert!(!gt.matches(&Scalar::F64(2.5)));
        assert!(!gt.matches(&Scalar::Str(Cow::Borrowed("9"))));
    }
}
