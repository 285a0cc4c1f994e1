//! Reading a table as it was: `FROM ns.t FOR SYSTEM_VERSION AS OF <snapshot id>` or
//! `FROM ns.t FOR SYSTEM_TIME AS OF '<timestamp>'` (Flink's and Trino's spelling).
//!
//! DataFusion's parser does not take these clauses, so they are cut from the tokens before it
//! parses, and each table that had one is renamed to a table of its own that the engine pins
//! to the snapshot (`floe_as_of.tables.tN`, aliased to its own name so columns still qualify).

use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, TableAlias, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::QueryError;

/// The catalog and schema under which pinned tables are registered.
pub const PINNED_CATALOG: &str = "floe_as_of";
pub const PINNED_SCHEMA: &str = "tables";

/// Which state of a table a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The snapshot with this id.
    Snapshot(i64),
    /// The snapshot that was current at this time (epoch milliseconds, UTC).
    Time(i64),
}

/// A table the query reads at an older state, and the name the rewritten query reads it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The table as written: namespace parts, then its name.
    pub table: Vec<String>,
    pub as_of: AsOf,
    /// Its table name under [`PINNED_CATALOG`].[`PINNED_SCHEMA`].
    pub name: String,
}

/// One statement, parsed, with the tables it reads as of an older state.
#[derive(Debug)]
pub struct ParsedQuery {
    pub statement: Statement,
    pub pins: Vec<Pin>,
}

/// Parses one SQL statement, taking out its time-travel clauses.
pub fn parse(sql: &str) -> Result<ParsedQuery, QueryError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| QueryError::Sql(e.to_string()))?;
    let (tokens, clauses) = cut_as_of_clauses(tokens)?;
    let mut statements = DFParserBuilder::new(tokens)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| QueryError::Sql(e.strip_backtrace()))?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (None, _) => return Err(QueryError::Sql("no SQL statement given".into())),
        (Some(_), false) => {
            return Err(QueryError::Sql(
                "one statement at a time: the query holds more than one".into(),
            ))
        }
    };
    let mut pinning = Pinning {
        clauses,
        pins: Vec::new(),
    };
    let mut statement = statement;
    visit_statement(&mut statement, &mut pinning);
    if let Some(clause) = pinning.clauses.first() {
        return Err(QueryError::Sql(format!(
            "at line {}, column {}: FOR SYSTEM_VERSION / SYSTEM_TIME AS OF must follow a table \
             name in FROM or JOIN",
            clause.at.line, clause.at.column
        )));
    }
    Ok(ParsedQuery {
        statement,
        pins: pinning.pins,
    })
}

/// The snapshot current at `at_ms`, from a table's snapshot log (`(timestamp_ms, snapshot_id)`
/// in commit order): the last one committed at or before it.
pub fn snapshot_at(log: impl IntoIterator<Item = (i64, i64)>, at_ms: i64) -> Option<i64> {
    log.into_iter()
        .take_while(|(ts, _)| *ts <= at_ms)
        .last()
        .map(|(_, id)| id)
}

/// `2026-12-07 14:00:00[.fff]`, with a `T`, with an offset or `Z`, or a bare date: UTC unless
/// it says otherwise.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// A time-travel clause cut from the tokens, and where the table name before it ended.
#[derive(Debug)]
struct Clause {
    after: Location,
    at: Location,
    as_of: AsOf,
}

/// Removes every `FOR SYSTEM_VERSION AS OF n` and `FOR SYSTEM_TIME AS OF [TIMESTAMP] 's'`.
fn cut_as_of_clauses(
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Vec<Clause>), QueryError> {
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let keyword = |k: usize, want: &str| {
        words.get(k).is_some_and(
            |&i| matches!(&tokens[i].token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(want)),
        )
    };
    let mut cut = vec![false; tokens.len()];
    let mut clauses = Vec::new();
    let mut k = 1;
    while k < words.len() {
        let system = if keyword(k + 1, "SYSTEM_VERSION") {
            Some(true)
        } else if keyword(k + 1, "SYSTEM_TIME") {
            Some(false)
        } else {
            None
        };
        let (true, Some(by_version), true, true) = (
            keyword(k, "FOR"),
            system,
            keyword(k + 2, "AS"),
            keyword(k + 3, "OF"),
        ) else {
            k += 1;
            continue;
        };
        let at = tokens[words[k]].span.start;
        let mut value = k + 4;
        if !by_version && keyword(value, "TIMESTAMP") {
            value += 1;
        }
        let Some(&v) = words.get(value) else {
            return Err(as_of_error(at, by_version));
        };
        let as_of = match (&tokens[v].token, by_version) {
            (Token::Number(n, _), true) => n.parse().ok().map(AsOf::Snapshot),
            (Token::SingleQuotedString(s), false) => parse_timestamp_ms(s).map(AsOf::Time),
            _ => None,
        }
        .ok_or_else(|| as_of_error(at, by_version))?;
        clauses.push(Clause {
            after: tokens[words[k - 1]].span.end,
            at,
            as_of,
        });
        for &i in &words[k..=value] {
            cut[i] = true;
        }
        k = value + 1;
    }
    let kept = tokens
        .into_iter()
        .zip(cut)
        .filter_map(|(t, cut)| (!cut).then_some(t))
        .collect();
    Ok((kept, clauses))
}

fn as_of_error(at: Location, by_version: bool) -> QueryError {
    let want = if by_version {
        "FOR SYSTEM_VERSION AS OF <snapshot id>"
    } else {
        "FOR SYSTEM_TIME AS OF '<timestamp>' (for example '2026-12-07 14:00:00' or \
         '2026-12-07T14:00:00+01:00')"
    };
    QueryError::Sql(format!(
        "at line {}, column {}: expected {want}",
        at.line, at.column
    ))
}

fn visit_statement(statement: &mut Statement, pinning: &mut Pinning) {
    match statement {
        Statement::Statement(statement) => {
            let _ = statement.visit(pinning);
        }
        Statement::Explain(explain) => visit_statement(&mut explain.statement, pinning),
        _ => {}
    }
}

/// Renames each table a clause followed to its pinned name.
struct Pinning {
    clauses: Vec<Clause>,
    pins: Vec<Pin>,
}

impl VisitorMut for Pinning {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let parts: Vec<&Ident> = name
            .0
            .iter()
            .filter_map(|p| match p {
                ObjectNamePart::Identifier(ident) => Some(ident),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        let Some(last) = parts.last() else {
            return ControlFlow::Continue(());
        };
        let Some(found) = self.clauses.iter().position(|c| c.after == last.span.end) else {
            return ControlFlow::Continue(());
        };
        let clause = self.clauses.remove(found);
        let pinned = format!("t{}", self.pins.len());
        self.pins.push(Pin {
            table: parts.iter().map(|p| p.value.clone()).collect(),
            as_of: clause.as_of,
            name: pinned.clone(),
        });
        if alias.is_none() {
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::new(last.value.clone()),
                columns: Vec::new(),
            });
        }
        *name = ObjectName::from(vec![
            Ident::new(PINNED_CATALOG),
            Ident::new(PINNED_SCHEMA),
            Ident::new(pinned),
        ]);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(sql: &str) -> (String, Vec<Pin>) {
        let parsed = parse(sql).expect("parses");
        (parsed.statement.to_string(), parsed.pins)
    }

    #[test]
    fn a_query_without_clauses_is_untouched() {
        let (sql, pins) = pins("SELECT count(*) FROM gold.stats WHERE views > 3");
        assert_eq!(sql, "SELECT count(*) FROM gold.stats WHERE views > 3");
        assert!(pins.is_empty());
    }

    #[test]
    fn a_version_clause_pins_its_table_and_keeps_its_name_as_alias() {
        let (sql, pins) = pins(
            "SELECT stats.video_id FROM gold.stats FOR SYSTEM_VERSION AS OF 42 \
             JOIN dim.videos FOR SYSTEM_TIME AS OF '2026-12-07 10:00:00' AS v ON v.id = stats.video_id",
        );
        assert_eq!(
            sql,
            "SELECT stats.video_id FROM floe_as_of.tables.t0 AS stats \
             JOIN floe_as_of.tables.t1 AS v ON v.id = stats.video_id"
        );
        assert_eq!(
            pins,
            vec![
                Pin {
                    table: vec!["gold".into(), "stats".into()],
                    as_of: AsOf::Snapshot(42),
                    name: "t0".into(),
                },
                Pin {
                    table: vec!["dim".into(), "videos".into()],
                    as_of: AsOf::Time(1_796_637_600_000),
                    name: "t1".into(),
                },
            ]
        );
    }

    #[test]
    fn clauses_in_subqueries_and_explain_are_pinned_too() {
        let (sql, pins) = pins(
            "EXPLAIN SELECT * FROM (SELECT * FROM \"gold\".\"stats\" FOR SYSTEM_TIME AS OF \
             TIMESTAMP '2026-12-07T10:00:00Z') s",
        );
        assert!(sql.contains("FROM floe_as_of.tables.t0 AS stats"), "{sql}");
        assert_eq!(pins[0].as_of, AsOf::Time(1_796_637_600_000));
    }

    #[test]
    fn the_word_for_elsewhere_is_left_alone() {
        let (sql, pins) = pins("SELECT substring(name FROM 1 FOR 2) FROM dim.videos");
        assert!(sql.contains("FOR 2"), "{sql}");
        assert!(pins.is_empty());
    }

    #[test]
    fn a_bad_clause_is_an_error_with_its_position() {
        for (sql, want) in [
            (
                "SELECT * FROM t\n  FOR SYSTEM_VERSION AS OF 'x'",
                "at line 2, column 3: expected FOR SYSTEM_VERSION AS OF <snapshot id>",
            ),
            (
                "SELECT * FROM t FOR SYSTEM_TIME AS OF 'yesterday'",
                "at line 1, column 17: expected FOR SYSTEM_TIME AS OF '<timestamp>'",
            ),
            (
                "SELECT 1 FOR SYSTEM_VERSION AS OF 3",
                "at line 1, column 10: FOR SYSTEM_VERSION / SYSTEM_TIME AS OF must follow a table",
            ),
        ] {
            let err = parse(sql).expect_err(sql).to_string();
            assert!(err.contains(want), "{sql}: {err}");
        }
    }

    #[test]
    fn one_statement_at_a_time() {
        let err = parse("SELECT 1; SELECT 2").expect_err("two").to_string();
        assert!(err.contains("one statement at a time"), "{err}");
    }

    #[test]
    fn the_snapshot_at_a_time_is_the_last_committed_by_then() {
        let log = [(1_000, 11), (2_000, 12), (3_000, 13)];
        assert_eq!(snapshot_at(log, 999), None);
        assert_eq!(snapshot_at(log, 1_000), Some(11));
        assert_eq!(snapshot_at(log, 2_999), Some(12));
        assert_eq!(snapshot_at(log, 10_000), Some(13));
    }

    #[test]
    fn timestamps_are_utc_unless_they_say_otherwise() {
        let utc = Some(1_796_637_600_000);
        for text in [
            "2026-12-07 10:00:00",
            "2026-12-07T10:00:00",
            "2026-12-07T10:00:00Z",
            "2026-12-07 11:00:00+01:00",
            "2026-12-07T11:00:00.000+01:00",
        ] {
            assert_eq!(parse_timestamp_ms(text), utc, "{text}");
        }
        assert_eq!(parse_timestamp_ms("2026-12-07"), Some(1_796_601_600_000));
        assert_eq!(parse_timestamp_ms("07.12.2026"), None);
    }
}
