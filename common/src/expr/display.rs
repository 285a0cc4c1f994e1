//! Expressions printed back as SQL that parses to the same expression: what error messages
//! quote and what a job's fingerprint reads.

use std::fmt::{self, Display, Formatter};

use super::{BinaryOp, CastType, CmpOp, ExprOf, Function, Literal};
use crate::config::TimeUnit;
use crate::path::FieldPath;

/// A leaf as SQL writes it.
pub trait Leaf {
    fn write_sql(&self, f: &mut Formatter<'_>) -> fmt::Result;
}

/// A field path, each name that is not a plain identifier in double quotes (`body."video-id"`).
impl Leaf for FieldPath {
    fn write_sql(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, name) in self.segments().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            if plain {
                f.write_str(name)?;
            } else {
                write!(f, "\"{}\"", name.replace('"', "\"\""))?;
            }
        }
        Ok(())
    }
}

/// A slot, as `$n`.
impl Leaf for usize {
    fn write_sql(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "${self}")
    }
}

impl Display for CmpOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

impl BinaryOp {
    fn symbol(self) -> String {
        match self {
            BinaryOp::Cmp(op) => op.to_string(),
            BinaryOp::And => "AND".into(),
            BinaryOp::Or => "OR".into(),
            BinaryOp::Add => "+".into(),
            BinaryOp::Subtract => "-".into(),
            BinaryOp::Multiply => "*".into(),
            BinaryOp::Divide => "/".into(),
            BinaryOp::Modulo => "%".into(),
            BinaryOp::Concat => "||".into(),
        }
    }

    /// Binding strength, as SQL parses it: a child binding less tightly is parenthesised.
    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Cmp(_) => 4,
            BinaryOp::Concat => 5,
            BinaryOp::Add | BinaryOp::Subtract => 6,
            BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Modulo => 7,
        }
    }
}

fn precedence<L>(e: &ExprOf<L>) -> u8 {
    match e {
        ExprOf::Binary { op, .. } => op.precedence(),
        ExprOf::Not(_) => 3,
        ExprOf::IsNull { .. } | ExprOf::Like { .. } | ExprOf::InList { .. } => 4,
        _ => 9,
    }
}

/// `e`, in parentheses when it binds less tightly than `than` (or as tightly, on the right of
/// an operator that does not associate).
struct Operand<'a, L>(&'a ExprOf<L>, u8);

impl<L: Leaf> Display for Operand<'_, L> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if precedence(self.0) < self.1 {
            write!(f, "({})", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Float(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => {
                write!(f, "{v:.1}")
            }
            Literal::Float(v) => write!(f, "{v}"),
            Literal::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

impl Display for CastType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CastType::Long => "BIGINT",
            CastType::Double => "DOUBLE",
            CastType::String => "STRING",
            CastType::Boolean => "BOOLEAN",
        })
    }
}

fn list<L: Leaf>(f: &mut Formatter<'_>, items: &[ExprOf<L>]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl<L: Leaf> Display for ExprOf<L> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ExprOf::Field(l) => l.write_sql(f),
            ExprOf::Literal(v) => write!(f, "{v}"),
            ExprOf::Not(e) => write!(f, "NOT {}", Operand(e, 3)),
            ExprOf::Negate(e) => write!(f, "-{}", Operand(e, 9)),
            ExprOf::Binary { op, left, right } => {
                let p = op.precedence();
                write!(
                    f,
                    "{} {} {}",
                    Operand(left, p),
                    op.symbol(),
                    Operand(right, p + 1)
                )
            }
            ExprOf::IsNull { expr, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{} IS {not}NULL", Operand(expr, 5))
            }
            ExprOf::Like {
                expr,
                pattern,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                let pattern = Literal::Str(pattern.text().to_owned());
                write!(f, "{} {not}LIKE {pattern}", Operand(expr, 5))
            }
            ExprOf::InList {
                expr,
                list: items,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{} {not}IN (", Operand(expr, 5))?;
                list(f, items)?;
                f.write_str(")")
            }
            ExprOf::Case {
                operand,
                whens,
                otherwise,
            } => {
                f.write_str("CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            ExprOf::Cast { expr, to, lenient } => {
                let cast = if *lenient { "TRY_CAST" } else { "CAST" };
                write!(f, "{cast}({expr} AS {to})")
            }
            ExprOf::Call { function, args } => match function {
                Function::Extract(part) => match args.first() {
                    Some(a) => write!(f, "EXTRACT({part} FROM {a})"),
                    None => write!(f, "EXTRACT({part})"),
                },
                _ => {
                    write!(f, "{}(", function.name())?;
                    list(f, args)?;
                    match function {
                        Function::ToTimestamp(unit) => write!(
                            f,
                            ", {}",
                            match unit {
                                TimeUnit::Seconds => 0,
                                TimeUnit::Millis => 3,
                                TimeUnit::Micros => 6,
                            }
                        )?,
                        Function::DateFormat(p) => {
                            write!(f, ", {}", Literal::Str(p.text().to_owned()))?
                        }
                        _ => {}
                    }
                    f.write_str(")")
                }
            },
        }
    }
}

impl Function {
    /// The name it is called by.
    pub fn name(&self) -> &'static str {
        match self {
            Function::Coalesce => "COALESCE",
            Function::Lower => "LOWER",
            Function::Upper => "UPPER",
            Function::Substring => "SUBSTRING",
            Function::Concat => "CONCAT",
            Function::CharLength => "CHAR_LENGTH",
            Function::Trim => "TRIM",
            Function::Abs => "ABS",
            Function::Floor => "FLOOR",
            Function::Ceil => "CEIL",
            Function::ToTimestamp(_) => "TO_TIMESTAMP_LTZ",
            Function::DateFormat(_) => "DATE_FORMAT",
            Function::Extract(_) => "EXTRACT",
        }
    }
}
