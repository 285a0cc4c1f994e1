//! Scalar expressions over a record's fields: what a job's `WHERE`, computed columns, group
//! keys, aggregate inputs and `HAVING` are made of.
//!
//! An expression is written in SQL (`body.watch_ms * 2`, `CASE WHEN … END`,
//! `LOWER(header.event_type) LIKE 'vid%'`), parsed once ([`parse`]), typed ([`types`]) and
//! compiled to read the decoder's slots ([`eval`]). A plain field compiles to the slot itself,
//! so a job that names fields only costs what it did before expressions.

mod display;
pub mod eval;
mod functions;
mod like;
mod parse;
mod time;
pub mod types;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::config::TimeUnit;
use crate::path::FieldPath;

pub use eval::Compiled;
pub use like::LikePattern;
pub use parse::{from_sql, Names};
pub use time::{DatePattern, TimePart};
pub use types::ExprType;

/// An expression whose leaves are `L`: field paths as written ([`Expr`]) or the slots a
/// decoder reads them into ([`Compiled`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExprOf<L> {
    Field(L),
    Literal(Literal),
    Not(Box<ExprOf<L>>),
    Negate(Box<ExprOf<L>>),
    Binary {
        op: BinaryOp,
        left: Box<ExprOf<L>>,
        right: Box<ExprOf<L>>,
    },
    IsNull {
        expr: Box<ExprOf<L>>,
        negated: bool,
    },
    Like {
        expr: Box<ExprOf<L>>,
        pattern: LikePattern,
        negated: bool,
    },
    InList {
        expr: Box<ExprOf<L>>,
        list: Vec<ExprOf<L>>,
        negated: bool,
    },
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`; with an operand, each `WHEN` is a value
    /// compared with it.
    Case {
        operand: Option<Box<ExprOf<L>>>,
        whens: Vec<(ExprOf<L>, ExprOf<L>)>,
        otherwise: Option<Box<ExprOf<L>>>,
    },
    Cast {
        expr: Box<ExprOf<L>>,
        to: CastType,
        /// `TRY_CAST`: a value that does not convert is null rather than a dead letter.
        lenient: bool,
    },
    Call {
        function: Function,
        args: Vec<ExprOf<L>>,
    },
}

/// An expression as configured: its leaves are field paths.
pub type Expr = ExprOf<FieldPath>;

/// A constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    Cmp(CmpOp),
    And,
    Or,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    /// `||`
    Concat,
}

/// What `CAST` converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CastType {
    Long,
    Double,
    String,
    Boolean,
}

/// The functions an expression may call. Constant arguments that shape the call (a time unit,
/// a date pattern) are read when the expression is parsed, so they are checked before the job
/// starts and never re-read per record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Function {
    Coalesce,
    Lower,
    Upper,
    /// `SUBSTRING(s FROM start [FOR length])`, 1-based, in characters.
    Substring,
    /// `CONCAT(a, b, …)`: null if any argument is.
    Concat,
    CharLength,
    Trim,
    Abs,
    Floor,
    Ceil,
    /// `TO_TIMESTAMP_LTZ(n, precision)`: an integer in the unit to a timestamp.
    ToTimestamp(TimeUnit),
    /// `DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')`, in UTC.
    DateFormat(DatePattern),
    /// `EXTRACT(HOUR FROM ts)`, in UTC.
    Extract(TimePart),
}

impl<L> ExprOf<L> {
    /// The same expression with each leaf mapped.
    pub fn map_fields<M>(&self, f: &mut impl FnMut(&L) -> M) -> ExprOf<M> {
        let mut b = |e: &ExprOf<L>| Box::new(e.map_fields(f));
        match self {
            ExprOf::Field(l) => ExprOf::Field(f(l)),
            ExprOf::Literal(v) => ExprOf::Literal(v.clone()),
            ExprOf::Not(e) => ExprOf::Not(b(e)),
            ExprOf::Negate(e) => ExprOf::Negate(b(e)),
            ExprOf::Binary { op, left, right } => ExprOf::Binary {
                op: *op,
                left: b(left),
                right: b(right),
            },
            ExprOf::IsNull { expr, negated } => ExprOf::IsNull {
                expr: b(expr),
                negated: *negated,
            },
            ExprOf::Like {
                expr,
                pattern,
                negated,
            } => ExprOf::Like {
                expr: b(expr),
                pattern: pattern.clone(),
                negated: *negated,
            },
            ExprOf::InList {
                expr,
                list,
                negated,
            } => ExprOf::InList {
                expr: b(expr),
                list: list.iter().map(|e| e.map_fields(f)).collect(),
                negated: *negated,
            },
            ExprOf::Case {
                operand,
                whens,
                otherwise,
            } => ExprOf::Case {
                operand: operand.as_ref().map(|e| Box::new(e.map_fields(f))),
                whens: whens
                    .iter()
                    .map(|(w, t)| (w.map_fields(f), t.map_fields(f)))
                    .collect(),
                otherwise: otherwise.as_ref().map(|e| Box::new(e.map_fields(f))),
            },
            ExprOf::Cast { expr, to, lenient } => ExprOf::Cast {
                expr: b(expr),
                to: *to,
                lenient: *lenient,
            },
            ExprOf::Call { function, args } => ExprOf::Call {
                function: function.clone(),
                args: args.iter().map(|e| e.map_fields(f)).collect(),
            },
        }
    }

    /// Every leaf, in the order written.
    pub fn fields(&self) -> Vec<&L> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let ExprOf::Field(l) = e {
                out.push(l);
            }
        });
        out
    }

    /// The leaf, if the expression is a bare field.
    pub fn as_field(&self) -> Option<&L> {
        match self {
            ExprOf::Field(l) => Some(l),
            _ => None,
        }
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a ExprOf<L>)) {
        f(self);
        match self {
            ExprOf::Field(_) | ExprOf::Literal(_) => {}
            ExprOf::Not(e)
            | ExprOf::Negate(e)
            | ExprOf::IsNull { expr: e, .. }
            | ExprOf::Like { expr: e, .. }
            | ExprOf::Cast { expr: e, .. } => e.visit(f),
            ExprOf::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            ExprOf::InList { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|e| e.visit(f));
            }
            ExprOf::Case {
                operand,
                whens,
                otherwise,
            } => {
                operand.iter().for_each(|e| e.visit(f));
                for (w, t) in whens {
                    w.visit(f);
                    t.visit(f);
                }
                otherwise.iter().for_each(|e| e.visit(f));
            }
            ExprOf::Call { args, .. } => args.iter().for_each(|e| e.visit(f)),
        }
    }
}

impl Expr {
    /// A bare field.
    pub fn field(path: FieldPath) -> Self {
        ExprOf::Field(path)
    }

    /// Parses SQL expression text, such as `header.event_type <> 'impression' AND body.watch_ms > 0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse::parse(text)
    }

    /// Compiled to read slots, each field's slot given by `slot_of`.
    pub fn compile(&self, slot_of: &mut impl FnMut(&FieldPath) -> usize) -> Compiled {
        Compiled::new(self.map_fields(slot_of), self.to_string())
    }
}
