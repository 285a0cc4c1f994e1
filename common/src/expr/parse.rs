//! SQL expression text (or sqlparser's tree of it) to an [`Expr`]: what is supported is read,
//! anything else is refused with what to write instead.

use sqlparser::ast::{
    self, BinaryOperator, CastKind, CeilFloorKind, DataType, DateTimeField, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, UnaryOperator, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::{BinaryOp, CastType, CmpOp, DatePattern, Expr, ExprOf, Function, LikePattern};
use super::{Literal, TimePart};
use crate::config::TimeUnit;
use crate::path::FieldPath;

/// What the expressions support, for the errors refusing something else.
const SUPPORTED: &str = "expressions take fields, constants, + - * / %, comparisons, AND, OR, \
NOT, IS [NOT] NULL, [NOT] LIKE, [NOT] IN (…), BETWEEN, CASE, CAST, TRY_CAST, COALESCE, LOWER, \
UPPER, SUBSTRING, CONCAT, ||, CHAR_LENGTH, TRIM, ABS, FLOOR, CEIL, MOD, TO_TIMESTAMP_LTZ, \
DATE_FORMAT, EXTRACT, YEAR, MONTH, DAYOFMONTH, HOUR, MINUTE and SECOND";

/// Parses expression text. A bare dotted path is a field even if a part of it is an SQL
/// keyword (`body.type`).
pub(super) fn parse(text: &str) -> Result<Expr, String> {
    let simple = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    let trimmed = text.trim();
    if trimmed.split('.').all(simple) && !is_constant_word(trimmed) {
        return FieldPath::parse(trimmed).map(Expr::Field);
    }
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| format!("`{text}`: {e}"))?;
    let expr = parser.parse_expr().map_err(|e| format!("`{text}`: {e}"))?;
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(format!(
            "`{text}`: unexpected `{}` after the expression",
            parser.peek_token().token
        ));
    }
    from_sql(&expr, &Paths)
}

fn is_constant_word(s: &str) -> bool {
    ["true", "false", "null"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// What the names in an expression stand for.
pub trait Names {
    /// The expression an identifier (`a` or `a.b.c`) stands for.
    fn name(&self, idents: &[Ident]) -> Result<Expr, String>;

    /// What `e` stands for when it is something computed elsewhere (an aggregate in `HAVING`):
    /// `None` reads it as an expression.
    fn computed(&self, _e: &ast::Expr) -> Result<Option<Expr>, String> {
        Ok(None)
    }
}

/// Names that are field paths as written.
struct Paths;

impl Names for Paths {
    fn name(&self, idents: &[Ident]) -> Result<Expr, String> {
        FieldPath::from_segments(idents.iter().map(|i| i.value.clone()).collect()).map(Expr::Field)
    }
}

/// sqlparser's expression as an [`Expr`], its names read by `names`.
pub fn from_sql(e: &ast::Expr, names: &dyn Names) -> Result<Expr, String> {
    if let Some(computed) = names.computed(e)? {
        return Ok(computed);
    }
    let resolve = names;
    let sub = |e: &ast::Expr| from_sql(e, resolve).map(Box::new);
    let refuse = |what: String| Err(format!("{what} is not supported: {SUPPORTED}"));
    Ok(match e {
        ast::Expr::Identifier(id) => names.name(std::slice::from_ref(id))?,
        ast::Expr::CompoundIdentifier(ids) => names.name(ids)?,
        ast::Expr::Nested(inner) => from_sql(inner, resolve)?,
        ast::Expr::Value(v) => ExprOf::Literal(literal(&v.value)?),
        ast::Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Not => ExprOf::Not(sub(expr)?),
            UnaryOperator::Minus => match from_sql(expr, resolve)? {
                ExprOf::Literal(Literal::Int(v)) => ExprOf::Literal(Literal::Int(-v)),
                ExprOf::Literal(Literal::Float(v)) => ExprOf::Literal(Literal::Float(-v)),
                other => ExprOf::Negate(Box::new(other)),
            },
            UnaryOperator::Plus => from_sql(expr, resolve)?,
            _ => return refuse(format!("`{e}`")),
        },
        ast::Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Eq => BinaryOp::Cmp(CmpOp::Eq),
                BinaryOperator::NotEq => BinaryOp::Cmp(CmpOp::Ne),
                BinaryOperator::Lt => BinaryOp::Cmp(CmpOp::Lt),
                BinaryOperator::LtEq => BinaryOp::Cmp(CmpOp::Le),
                BinaryOperator::Gt => BinaryOp::Cmp(CmpOp::Gt),
                BinaryOperator::GtEq => BinaryOp::Cmp(CmpOp::Ge),
                BinaryOperator::And => BinaryOp::And,
                BinaryOperator::Or => BinaryOp::Or,
                BinaryOperator::Plus => BinaryOp::Add,
                BinaryOperator::Minus => BinaryOp::Subtract,
                BinaryOperator::Multiply => BinaryOp::Multiply,
                BinaryOperator::Divide => BinaryOp::Divide,
                BinaryOperator::Modulo => BinaryOp::Modulo,
                BinaryOperator::StringConcat => BinaryOp::Concat,
                other => return refuse(format!("the operator `{other}`")),
            };
            ExprOf::Binary {
                op,
                left: sub(left)?,
                right: sub(right)?,
            }
        }
        ast::Expr::IsNull(inner) => ExprOf::IsNull {
            expr: sub(inner)?,
            negated: false,
        },
        ast::Expr::IsNotNull(inner) => ExprOf::IsNull {
            expr: sub(inner)?,
            negated: true,
        },
        ast::Expr::IsTrue(inner) => ExprOf::Binary {
            op: BinaryOp::Cmp(CmpOp::Eq),
            left: sub(inner)?,
            right: Box::new(ExprOf::Literal(Literal::Bool(true))),
        },
        ast::Expr::IsFalse(inner) => ExprOf::Binary {
            op: BinaryOp::Cmp(CmpOp::Eq),
            left: sub(inner)?,
            right: Box::new(ExprOf::Literal(Literal::Bool(false))),
        },
        ast::Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } => match from_sql(pattern, resolve)? {
            ExprOf::Literal(Literal::Str(p)) => ExprOf::Like {
                expr: sub(expr)?,
                pattern: LikePattern::new(&p),
                negated: *negated,
            },
            _ => {
                return refuse(format!(
                    "`{e}`: a LIKE pattern other than a string constant"
                ))
            }
        },
        ast::Expr::InList {
            expr,
            list,
            negated,
        } => ExprOf::InList {
            expr: sub(expr)?,
            list: list
                .iter()
                .map(|i| from_sql(i, resolve))
                .collect::<Result<_, _>>()?,
            negated: *negated,
        },
        ast::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let value = from_sql(expr, resolve)?;
            let cmp = |op, bound: &ast::Expr| -> Result<Expr, String> {
                Ok(ExprOf::Binary {
                    op: BinaryOp::Cmp(op),
                    left: Box::new(value.clone()),
                    right: sub(bound)?,
                })
            };
            let between = ExprOf::Binary {
                op: BinaryOp::And,
                left: Box::new(cmp(CmpOp::Ge, low)?),
                right: Box::new(cmp(CmpOp::Le, high)?),
            };
            if *negated {
                ExprOf::Not(Box::new(between))
            } else {
                between
            }
        }
        ast::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => ExprOf::Case {
            operand: operand.as_deref().map(sub).transpose()?,
            whens: conditions
                .iter()
                .map(|c| {
                    Ok((
                        from_sql(&c.condition, resolve)?,
                        from_sql(&c.result, resolve)?,
                    ))
                })
                .collect::<Result<_, String>>()?,
            otherwise: else_result.as_deref().map(sub).transpose()?,
        },
        ast::Expr::Cast {
            kind,
            expr,
            data_type,
            format: None,
            ..
        } => ExprOf::Cast {
            expr: sub(expr)?,
            to: cast_type(data_type)?,
            lenient: match kind {
                CastKind::Cast => false,
                CastKind::TryCast | CastKind::SafeCast => true,
                CastKind::DoubleColon => false,
            },
        },
        ast::Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![from_sql(expr, resolve)?];
            let from = substring_from
                .as_deref()
                .map(|f| from_sql(f, resolve))
                .unwrap_or(Ok(ExprOf::Literal(Literal::Int(1))))?;
            args.push(from);
            if let Some(len) = substring_for {
                args.push(from_sql(len, resolve)?);
            }
            call(Function::Substring, args)
        }
        ast::Expr::Trim {
            expr,
            trim_where: None,
            trim_what: None,
            trim_characters: None,
        } => call(Function::Trim, vec![from_sql(expr, resolve)?]),
        ast::Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime),
        } => call(Function::Floor, vec![from_sql(expr, resolve)?]),
        ast::Expr::Ceil {
            expr,
            field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime),
        } => call(Function::Ceil, vec![from_sql(expr, resolve)?]),
        ast::Expr::Extract { field, expr, .. } => call(
            Function::Extract(time_part(field)?),
            vec![from_sql(expr, resolve)?],
        ),
        ast::Expr::Function(f) => function(f, resolve)?,
        other => return refuse(format!("`{other}`")),
    })
}

fn call(function: Function, args: Vec<Expr>) -> Expr {
    ExprOf::Call { function, args }
}

fn literal(v: &Value) -> Result<Literal, String> {
    Ok(match v {
        Value::Null => Literal::Null,
        Value::Boolean(b) => Literal::Bool(*b),
        Value::SingleQuotedString(s) => Literal::Str(s.clone()),
        Value::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Literal::Int(i),
            Err(_) => Literal::Float(n.parse().map_err(|_| format!("`{n}` is not a number"))?),
        },
        other => {
            return Err(format!(
                "the constant `{other}` is not supported: quote strings"
            ))
        }
    })
}

fn cast_type(t: &DataType) -> Result<CastType, String> {
    let name = t.to_string().to_ascii_uppercase();
    let base = name.split('(').next().unwrap_or("").trim();
    Ok(match base {
        "TINYINT" | "SMALLINT" | "INT" | "INTEGER" | "BIGINT" => CastType::Long,
        "FLOAT" | "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "DECIMAL" | "NUMERIC" => {
            CastType::Double
        }
        "STRING" | "VARCHAR" | "CHAR" | "TEXT" => CastType::String,
        "BOOLEAN" | "BOOL" => CastType::Boolean,
        _ => {
            return Err(format!(
                "CAST to {t} is not supported: cast to BIGINT, INT, DOUBLE, DECIMAL, STRING, \
                 VARCHAR or BOOLEAN"
            ))
        }
    })
}

fn time_part(field: &DateTimeField) -> Result<TimePart, String> {
    Ok(match field {
        DateTimeField::Year => TimePart::Year,
        DateTimeField::Month => TimePart::Month,
        DateTimeField::Day => TimePart::Day,
        DateTimeField::Hour => TimePart::Hour,
        DateTimeField::Minute => TimePart::Minute,
        DateTimeField::Second => TimePart::Second,
        DateTimeField::Dow | DateTimeField::DayOfWeek => TimePart::DayOfWeek,
        DateTimeField::Doy | DateTimeField::DayOfYear => TimePart::DayOfYear,
        other => {
            return Err(format!(
                "EXTRACT({other} …) is not supported: extract YEAR, MONTH, DAY, HOUR, MINUTE, \
                 SECOND, DOW or DOY"
            ))
        }
    })
}

fn function(f: &ast::Function, resolve: &dyn Names) -> Result<Expr, String> {
    let name = f
        .name
        .0
        .last()
        .map(|p| p.to_string().to_ascii_uppercase())
        .unwrap_or_default();
    let plain: Option<Vec<&ast::Expr>> = match &f.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list)
            if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
        {
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    };
    let args = match plain {
        Some(args) if f.filter.is_none() && f.over.is_none() && f.within_group.is_empty() => args,
        _ => return Err(format!("`{f}`: a function takes plain arguments here")),
    };
    let arity = |n: std::ops::RangeInclusive<usize>| -> Result<(), String> {
        if n.contains(&args.len()) {
            Ok(())
        } else if n.start() == n.end() {
            Err(format!("`{f}`: {name} takes {} argument(s)", n.start()))
        } else {
            Err(format!(
                "`{f}`: {name} takes {} to {} arguments",
                n.start(),
                n.end()
            ))
        }
    };
    let exprs = |from: usize, to: usize| -> Result<Vec<Expr>, String> {
        args[from..to]
            .iter()
            .map(|a| from_sql(a, resolve))
            .collect()
    };
    let constant = |at: usize| -> Result<Literal, String> {
        match from_sql(args[at], resolve)? {
            ExprOf::Literal(l) => Ok(l),
            other => Err(format!("`{f}`: `{other}` must be a constant")),
        }
    };
    let function = match name.as_str() {
        "COALESCE" | "IFNULL" => {
            if args.is_empty() {
                return Err(format!("`{f}`: COALESCE takes at least one argument"));
            }
            Function::Coalesce
        }
        "LOWER" => one(arity(1..=1), Function::Lower)?,
        "UPPER" => one(arity(1..=1), Function::Upper)?,
        "CHAR_LENGTH" | "CHARACTER_LENGTH" => one(arity(1..=1), Function::CharLength)?,
        "TRIM" => one(arity(1..=1), Function::Trim)?,
        "ABS" => one(arity(1..=1), Function::Abs)?,
        "FLOOR" => one(arity(1..=1), Function::Floor)?,
        "CEIL" | "CEILING" => one(arity(1..=1), Function::Ceil)?,
        "SUBSTRING" | "SUBSTR" => one(arity(2..=3), Function::Substring)?,
        "CONCAT" => {
            if args.is_empty() {
                return Err(format!("`{f}`: CONCAT takes at least one argument"));
            }
            Function::Concat
        }
        "MOD" => {
            arity(2..=2)?;
            let mut e = exprs(0, 2)?.into_iter();
            let (Some(left), Some(right)) = (e.next(), e.next()) else {
                return Err(format!("`{f}`: MOD takes 2 arguments"));
            };
            return Ok(ExprOf::Binary {
                op: BinaryOp::Modulo,
                left: Box::new(left),
                right: Box::new(right),
            });
        }
        "TO_TIMESTAMP_LTZ" => {
            arity(2..=2)?;
            let unit = match constant(1)? {
                Literal::Int(0) => TimeUnit::Seconds,
                Literal::Int(3) => TimeUnit::Millis,
                Literal::Int(6) => TimeUnit::Micros,
                other => {
                    return Err(format!(
                        "`{f}`: the precision {other} is not supported: 0 (seconds), 3 (milliseconds) or 6 (microseconds)"
                    ))
                }
            };
            return Ok(call(Function::ToTimestamp(unit), exprs(0, 1)?));
        }
        "YEAR" | "MONTH" | "DAYOFMONTH" | "HOUR" | "MINUTE" | "SECOND" => {
            arity(1..=1)?;
            let part = match name.as_str() {
                "YEAR" => TimePart::Year,
                "MONTH" => TimePart::Month,
                "DAYOFMONTH" => TimePart::Day,
                "HOUR" => TimePart::Hour,
                "MINUTE" => TimePart::Minute,
                _ => TimePart::Second,
            };
            return Ok(call(Function::Extract(part), exprs(0, 1)?));
        }
        "DATE_FORMAT" => {
            arity(2..=2)?;
            let Literal::Str(pattern) = constant(1)? else {
                return Err(format!("`{f}`: the pattern must be a string"));
            };
            return Ok(call(
                Function::DateFormat(DatePattern::parse(&pattern)?),
                exprs(0, 1)?,
            ));
        }
        _ => {
            return Err(format!(
                "the function `{name}` is not supported: {SUPPORTED}"
            ))
        }
    };
    Ok(call(function, exprs(0, args.len())?))
}

fn one(arity: Result<(), String>, function: Function) -> Result<Function, String> {
    arity.map(|()| function)
}
