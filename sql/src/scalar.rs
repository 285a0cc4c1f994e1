//! A query's scalar expressions (`WHERE`, computed columns and keys, aggregate arguments,
//! `HAVING`) read into Floe's expressions: names resolved against the source table's
//! declaration, types checked, so a mistake is refused before the job starts.

use floe_common::expr::{from_sql, CastType, Expr, ExprOf, ExprType, Names};
use floe_common::path::FieldPath;
use sqlparser::ast::{self, Ident};

use crate::error::SqlError;
use crate::source::Source;
use crate::sql_type::SqlType;

/// An expression and the type of its values.
pub(crate) struct Typed {
    pub expr: Expr,
    pub ty: ExprType,
}

impl Typed {
    /// The job config's keys for this value: `field` for a bare field a path can name, `expr`
    /// otherwise.
    pub fn config_key(&self) -> (&'static str, String) {
        match self.expr.as_field() {
            Some(path) if FieldPath::parse(&path.to_string()).as_ref() == Ok(path) => {
                ("field", path.to_string())
            }
            _ => ("expr", self.expr.to_string()),
        }
    }
}

/// The names a query over `source` may use: its declared columns and their fields, and its
/// computed columns (the watermark column among them).
#[derive(Clone, Copy)]
struct SourceNames<'a> {
    source: &'a Source,
    /// Whether computed columns are names here (not inside a computed column's own
    /// expression, so that none can stand for itself).
    computed: bool,
    /// Whether a `DOUBLE` field reads as `CAST(field AS DOUBLE)`: JSON writes `1.0` as `1`,
    /// which arithmetic would otherwise take for an integer.
    doubles: bool,
}

impl Names for SourceNames<'_> {
    fn name(&self, idents: &[Ident]) -> Result<Expr, String> {
        let path: Vec<String> = idents.iter().map(|i| i.value.clone()).collect();
        if let ([only], true) = (path.as_slice(), self.computed) {
            if let Some(e) = self.source.decl.computed(only) {
                let physical = SourceNames {
                    computed: false,
                    ..*self
                };
                return from_sql(e, &physical);
            }
        }
        match self.source.decl.field_type(&path) {
            None => {
                return Err(format!(
                    "{} is not a column of {}",
                    path.join("."),
                    self.source.decl.name
                ))
            }
            Some(SqlType::Timestamp) => {
                return Err(format!(
                    "the TIMESTAMP field {} is not supported: declare it as the BIGINT it holds \
                     and read it with TO_TIMESTAMP_LTZ",
                    path.join(".")
                ))
            }
            Some(SqlType::Floating) if self.doubles => {
                let field = FieldPath::from_segments(path).map(Expr::Field)?;
                return Ok(ExprOf::Cast {
                    expr: Box::new(field),
                    to: CastType::Double,
                    lenient: false,
                });
            }
            Some(_) => {}
        }
        FieldPath::from_segments(path).map(Expr::Field)
    }
}

/// `e`, over the records of `source`. A bare field stays one (the decoder reads it as it is);
/// inside an expression a `DOUBLE` field is cast to one.
pub(crate) fn scalar(e: &ast::Expr, source: &Source) -> Result<Typed, SqlError> {
    let names = SourceNames {
        source,
        computed: true,
        doubles: false,
    };
    let mut expr = from_sql(e, &names).map_err(|m| SqlError::Invalid(m).at(e))?;
    if expr.as_field().is_none() {
        let names = SourceNames {
            doubles: true,
            ..names
        };
        expr = from_sql(e, &names).map_err(|m| SqlError::Invalid(m).at(e))?;
    }
    let ty = expr
        .infer_type(&|path| field_type(source, path))
        .map_err(|m| SqlError::Invalid(m).at(e))?;
    Ok(Typed { expr, ty })
}

/// `e` as a condition (of `WHERE` or `FILTER`, named by `clause`): its text for the job.
pub(crate) fn condition(e: &ast::Expr, clause: &str, source: &Source) -> Result<String, SqlError> {
    let typed = scalar(e, source)?;
    if !matches!(typed.ty, ExprType::Boolean | ExprType::Any) {
        return Err(
            SqlError::Invalid(format!("{clause} `{e}` is {}, not a condition", typed.ty)).at(e),
        );
    }
    Ok(typed.expr.to_string())
}

fn field_type(source: &Source, path: &FieldPath) -> ExprType {
    match source.decl.field_type(path.segments()) {
        Some(SqlType::Integer) => ExprType::Long,
        Some(SqlType::Floating) => ExprType::Double,
        Some(SqlType::Boolean) => ExprType::Boolean,
        Some(SqlType::String) => ExprType::String,
        Some(SqlType::Timestamp) => ExprType::Timestamp,
        Some(SqlType::Row(_)) => ExprType::Json,
        None => ExprType::Any,
    }
}
