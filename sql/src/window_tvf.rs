//! `FROM TABLE(TUMBLE | HOP | CUMULATE (TABLE src, DESCRIPTOR(ts), …))` and
//! `FROM TABLE(SESSION(TABLE src PARTITION BY k, DESCRIPTOR(ts), gap))`: Flink's window
//! table-valued functions, read into the source they window and the `[job.window]` keys.

use sqlparser::ast::{Expr, Function, Select, TableFactor};
use toml::{Table, Value};

use crate::error::SqlError;
use crate::expr::{field_path, function_name, interval_ms, plain_args};
use crate::insert::Declared;
use crate::script::SESSION_KEYS;
use crate::source::Source;

/// What the supported window functions are, for the errors that name them.
const SUPPORTED: &str = "TUMBLE(TABLE src, DESCRIPTOR(ts), size), HOP(TABLE src, DESCRIPTOR(ts), \
                         slide, size), CUMULATE(TABLE src, DESCRIPTOR(ts), step, size) and \
                         SESSION(TABLE src PARTITION BY k, DESCRIPTOR(ts), gap)";

/// A window function's source and the windows it makes.
pub(crate) struct WindowTvf<'a> {
    pub source: &'a Source,
    /// `type`, and `size` and `slide` or `step`, or `gap`, of `[job.window]`.
    pub window: Table,
    /// A session window's `PARTITION BY` keys, as field paths.
    pub session_keys: Option<Vec<Vec<String>>>,
}

/// The window function the SELECT reads from.
pub(crate) fn window_tvf<'a>(
    select: &Select,
    declared: &'a Declared,
) -> Result<WindowTvf<'a>, SqlError> {
    let [from] = select.from.as_slice() else {
        return Err(SqlError::unsupported(
            "a query over several tables (a join)",
        ));
    };
    if !from.joins.is_empty() {
        return Err(SqlError::unsupported("a join"));
    }
    let TableFactor::TableFunction {
        expr: Expr::Function(f),
        ..
    } = &from.relation
    else {
        return Err(SqlError::unsupported_with(
            format!("reading `{}` without a window", from.relation),
            format!("read FROM TABLE(…) of {SUPPORTED}"),
        ));
    };
    let name = function_name(f);
    let (kind, every) = match name.as_str() {
        "tumble" => ("tumbling", None),
        "hop" => ("hopping", Some("slide")),
        "cumulate" => ("cumulating", Some("step")),
        "session" => return session_tvf(f, declared),
        _ => {
            return Err(SqlError::unsupported_with(
                format!("the window function {}", name.to_ascii_uppercase()),
                format!("Floe's SQL runs {SUPPORTED}"),
            ))
        }
    };
    let shape = || SqlError::Syntax(format!("`{f}`: expected one of {SUPPORTED}"));
    let args = plain_args(f).ok_or_else(shape)?;
    let (table, descriptor, sizes) = match args.as_slice() {
        [table, descriptor, sizes @ ..] if sizes.len() == 1 + usize::from(every.is_some()) => {
            (table, descriptor, sizes)
        }
        _ => return Err(shape()),
    };
    let source = windowed_source(declared, table, descriptor).ok_or_else(shape)??;
    let mut window = Table::new();
    window.insert("type".into(), kind.into());
    let size_ms = positive_interval(f, "size", sizes.last().ok_or_else(shape)?)?;
    window.insert("size".into(), format!("{size_ms}ms").into());
    if let (Some(key), [every_ms, _]) = (every, sizes) {
        let every_ms = positive_interval(f, key, every_ms)?;
        if size_ms % every_ms != 0 {
            return Err(SqlError::Invalid(format!(
                "`{f}`: the window's size must be a whole multiple of its {key}"
            )));
        }
        window.insert(key.into(), Value::String(format!("{every_ms}ms")));
    }
    Ok(WindowTvf {
        source,
        window,
        session_keys: None,
    })
}

/// `SESSION(src, SESSION_KEYS(k, …), DESCRIPTOR(ts), gap)`, as the script's rewrite left it.
fn session_tvf<'a>(f: &Function, declared: &'a Declared) -> Result<WindowTvf<'a>, SqlError> {
    let shape = || SqlError::Syntax(format!("`{f}`: expected one of {SUPPORTED}"));
    let args = plain_args(f).ok_or_else(shape)?;
    let (table, keys, descriptor, gap) =
        match args.as_slice() {
            [table, Expr::Function(keys), descriptor, gap]
                if function_name(keys).eq_ignore_ascii_case(SESSION_KEYS) =>
            {
                (table, keys, descriptor, gap)
            }
            [_, _, _] => return Err(SqlError::unsupported_with(
                "a SESSION window without PARTITION BY",
                "sessions are per key: SESSION(TABLE src PARTITION BY k, DESCRIPTOR(ts), gap), \
                 k being the query's GROUP BY keys",
            )),
            _ => return Err(shape()),
        };
    let source = windowed_source(declared, table, descriptor).ok_or_else(shape)??;
    let session_keys = plain_args(keys)
        .ok_or_else(shape)?
        .into_iter()
        .flat_map(|k| match k {
            Expr::Tuple(ks) => ks.iter().collect(),
            k => vec![k],
        })
        .map(|k| field_path(k).ok_or_else(shape))
        .collect::<Result<Vec<_>, _>>()?;
    let mut window = Table::new();
    window.insert("type".into(), "session".into());
    let gap_ms = positive_interval(f, "gap", gap)?;
    window.insert("gap".into(), format!("{gap_ms}ms").into());
    Ok(WindowTvf {
        source,
        window,
        session_keys: Some(session_keys),
    })
}

/// The declared source `table` names, windowed by its watermark column as `descriptor` must
/// say; `None` when either is not a name.
fn windowed_source<'a>(
    declared: &'a Declared,
    table: &Expr,
    descriptor: &Expr,
) -> Option<Result<&'a Source, SqlError>> {
    let table = field_path(table)?.join(".");
    let column = descriptor_column(descriptor)?;
    let Some(source) = declared.sources.get(&table) else {
        return Some(Err(SqlError::Invalid(format!(
            "{table} is not a declared source table"
        ))));
    };
    if !column.eq_ignore_ascii_case(&source.time_column) {
        return Some(Err(SqlError::Invalid(format!(
            "DESCRIPTOR({column}): the windows of {table} follow its watermark column {}",
            source.time_column
        ))));
    }
    Some(Ok(source))
}

fn descriptor_column(descriptor: &Expr) -> Option<String> {
    let Expr::Function(d) = descriptor else {
        return None;
    };
    match (function_name(d).as_str(), plain_args(d).as_deref()) {
        ("descriptor", Some([c])) => Some(field_path(c)?.join(".")),
        _ => None,
    }
}

fn positive_interval(f: &Function, what: &str, e: &Expr) -> Result<i64, SqlError> {
    let ms = interval_ms(e)?;
    if ms <= 0 {
        return Err(SqlError::Invalid(format!(
            "`{f}`: the window's {what} must be > 0"
        )));
    }
    Ok(ms)
}
