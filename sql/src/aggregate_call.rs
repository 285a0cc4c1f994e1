//! A windowed query's aggregates (`COUNT(*)`, `SUM(expr) FILTER (WHERE …)`, …) lowered to
//! `[[job.aggregate]]`s, and its `HAVING` to a condition on their columns.

use floe_common::expr::{from_sql, Expr as FloeExpr, ExprType, Names};
use floe_common::path::FieldPath;
use sqlparser::ast::{
    CastKind, DataType, DuplicateTreatment, Expr, FunctionArgExpr, FunctionArguments, Ident,
};
use toml::Table;

use crate::error::SqlError;
use crate::expr::{field_path, function_name};
use crate::scalar::{condition, scalar};
use crate::source::Source;

/// The aggregate functions, as [`function_name`] gives them.
const AGGREGATES: [&str; 6] = ["count", "sum", "min", "max", "avg", "approx_count_distinct"];

/// One aggregate: `COUNT(*)`, `COUNT(x)`, `COUNT(DISTINCT x)`, `SUM|MIN|MAX|AVG(x)`, `x` any
/// expression of the source's fields, each perhaps with `FILTER (WHERE …)`.
/// `APPROX_COUNT_DISTINCT(x)` is a sketch ([`floe_common::approx_distinct`]).
pub(crate) fn aggregate(expr: &Expr, column: &str, source: &Source) -> Result<Table, SqlError> {
    let Expr::Function(f) = expr else {
        return Err(SqlError::unsupported_with(
            format!("the expression `{expr}`"),
            "a windowed query selects its keys and aggregates",
        ));
    };
    let function = function_name(f);
    if !AGGREGATES.contains(&function.as_str()) {
        return Err(SqlError::unsupported_with(
            format!("the function {}", function.to_ascii_uppercase()),
            "the aggregates are COUNT, COUNT(DISTINCT …), APPROX_COUNT_DISTINCT, SUM, MIN, MAX \
             and AVG",
        ));
    }
    if f.over.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
        return Err(SqlError::unsupported(format!("`{expr}`")));
    }
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::Syntax(format!("`{expr}`: expected one argument")));
    };
    if !list.clauses.is_empty() {
        return Err(SqlError::unsupported(format!(
            "`{expr}` (ORDER BY or LIMIT in an aggregate)"
        )));
    }
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct))
        || function == "approx_count_distinct";
    if distinct && !matches!(function.as_str(), "count" | "approx_count_distinct") {
        return Err(SqlError::unsupported_with(
            format!("`{expr}`"),
            "DISTINCT is for COUNT: the other aggregates of distinct values are not supported",
        ));
    }
    let function = match function.as_str() {
        "count" if distinct => "count_distinct".to_owned(),
        _ => function,
    };
    let mut out = Table::new();
    out.insert("column".into(), column.into());
    out.insert("function".into(), function.clone().into());
    let arg = match list.args.as_slice() {
        [sqlparser::ast::FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]
            if function == "count" && !distinct =>
        {
            None
        }
        [sqlparser::ast::FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e),
        _ => return Err(SqlError::Syntax(format!("`{expr}`: expected one argument"))),
    };
    if let Some(arg) = arg {
        let (key, value, ty) = argument(arg, source)?;
        out.insert(key.into(), value.into());
        if !matches!(
            function.as_str(),
            "count" | "count_distinct" | "approx_count_distinct"
        ) {
            if !matches!(ty, ExprType::Long | ExprType::Double) {
                return Err(SqlError::Invalid(format!(
                    "`{expr}`: `{arg}` is {ty}, not a number"
                )));
            }
            if function != "avg" {
                let double = ty == ExprType::Double;
                out.insert("type".into(), if double { "double" } else { "long" }.into());
            }
        }
    }
    if let Some(filter) = &f.filter {
        out.insert("filter".into(), condition(filter, "FILTER", source)?.into());
    }
    Ok(out)
}

/// An aggregate's argument: its config key (`field` or `expr`), value and type. A field cast to
/// a number stays a field read as that number, as it was before expressions, so that the
/// jobs written so keep their fingerprint.
fn argument(arg: &Expr, source: &Source) -> Result<(&'static str, String, ExprType), SqlError> {
    if let Expr::Cast {
        kind: CastKind::Cast,
        expr,
        data_type,
        ..
    } = arg
    {
        let ty = match data_type {
            DataType::Double(_) | DataType::DoublePrecision | DataType::Float(_) => {
                Some(ExprType::Double)
            }
            DataType::Real | DataType::Decimal(_) | DataType::Numeric(_) => Some(ExprType::Double),
            DataType::BigInt(_) | DataType::Int(_) | DataType::Integer(_) => Some(ExprType::Long),
            _ => None,
        };
        if let (Some(ty), Some(path)) = (ty, field_path(expr)) {
            let typed = scalar(expr, source)?;
            if matches!(typed.ty, ExprType::Long | ExprType::Double) {
                return Ok(("field", path.join("."), ty));
            }
        }
    }
    let typed = scalar(arg, source)?;
    let (key, value) = typed.config_key();
    Ok((key, value, typed.ty))
}

/// `HAVING`: a condition on the selected aggregates, named by their expression (`COUNT(*)`) or
/// their column (`events`).
pub(crate) fn having(expr: &Expr, aggregates: &[(String, String)]) -> Result<String, SqlError> {
    struct Aggregates<'a>(&'a [(String, String)]);
    impl Names for Aggregates<'_> {
        fn name(&self, idents: &[Ident]) -> Result<FloeExpr, String> {
            let name: Vec<&str> = idents.iter().map(|i| i.value.as_str()).collect();
            let name = name.join(".");
            match self.0.iter().find(|(_, c)| c.eq_ignore_ascii_case(&name)) {
                Some((_, column)) => FieldPath::parse(column).map(FloeExpr::Field),
                None => Err(format!(
                    "`{name}` in HAVING is not one of the selected aggregates"
                )),
            }
        }

        fn computed(&self, e: &Expr) -> Result<Option<FloeExpr>, String> {
            let text = e.to_string();
            if let Some((_, column)) = self.0.iter().find(|(expr, _)| *expr == text) {
                return FieldPath::parse(column).map(|p| Some(FloeExpr::Field(p)));
            }
            match e {
                Expr::Function(f) if AGGREGATES.contains(&function_name(f).as_str()) => Err(
                    format!("`{e}` in HAVING is not one of the selected aggregates: select it"),
                ),
                _ => Ok(None),
            }
        }
    }
    from_sql(expr, &Aggregates(aggregates))
        .map(|e| e.to_string())
        .map_err(|m| SqlError::Invalid(m).at(expr))
}
