//! A SQL script: its statements read one by one, the tables they declare collected, and each
//! `INSERT INTO` lowered to one job.

use floe_common::config::JobConfig;
use sqlparser::ast::Query;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::SqlError;
use crate::insert::{lower_insert, Declared};
use crate::source::lower_source;
use crate::sql_type::is_word;
use crate::table_decl::{parse_create_table, parse_set};

/// The window table-valued functions, whose first argument is `TABLE name`.
const WINDOW_FUNCTIONS: [&str; 4] = ["TUMBLE", "HOP", "SESSION", "CUMULATE"];

/// The jobs of a script: one per `INSERT INTO`, in order.
pub fn jobs_from_sql(script: &str) -> Result<Vec<JobConfig>, SqlError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, script).tokenize_with_location()?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(rewrite(tokens)?);
    let mut declared = Declared::default();
    let mut inserts: Vec<(String, Box<Query>)> = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let at = parser.peek_token();
        if at.token == Token::EOF {
            break;
        }
        if parser.parse_keywords(&[Keyword::CREATE, Keyword::TABLE]) {
            let mut decl = parse_create_table(&mut parser)?;
            let name = decl.name.clone();
            if declared.knows(&name) {
                return Err(SqlError::Invalid(format!("table {name} is declared twice")));
            }
            if decl.options.get("connector").map(String::as_str) == Some("iceberg") {
                decl.take_option("connector");
                declared.sinks.insert(name, decl);
            } else {
                declared.sources.insert(name, lower_source(decl)?);
            }
        } else if parser.parse_keyword(Keyword::SET) {
            let (key, value) = parse_set(&mut parser)?;
            declared.settings.insert(key, value);
        } else if parser.parse_keywords(&[Keyword::INSERT, Keyword::INTO]) {
            let target = parser.parse_object_name(false)?.to_string();
            inserts.push((target, parser.parse_query()?));
        } else {
            return Err(SqlError::unsupported_with(
                format!(
                    "the statement starting with `{}`{}",
                    at.token, at.span.start
                ),
                "a script holds CREATE TABLE, SET and INSERT INTO",
            ));
        }
        let end = parser.peek_token();
        if !matches!(end.token, Token::SemiColon | Token::EOF) {
            return Err(SqlError::Syntax(format!(
                "expected `;`, found `{}`{}",
                end.token, end.span.start
            )));
        }
    }
    if inserts.is_empty() {
        return Err(SqlError::Invalid(
            "the script has no INSERT INTO: nothing to run".into(),
        ));
    }
    let name = declared.settings.get("pipeline.name");
    if name.is_some() && inserts.len() > 1 {
        return Err(SqlError::Invalid(
            "'pipeline.name' names one job, but the script has several INSERT INTO".into(),
        ));
    }
    inserts
        .iter()
        .map(|(target, query)| lower_insert(target, query, &declared, name.cloned()))
        .collect()
}

/// The name `PARTITION BY` inside `SESSION(…)` is rewritten to, as a function call sqlparser
/// reads: `SESSION(src, SESSION_KEYS(k, …), DESCRIPTOR(ts), gap)`.
pub(crate) const SESSION_KEYS: &str = "SESSION_KEYS";

/// Where the rewrite is inside `SESSION(…)`'s arguments.
struct SessionArgs {
    /// Parentheses open inside `SESSION(`.
    depth: usize,
    /// `SESSION_KEYS(` was opened and waits for the comma ending the keys.
    keys_open: bool,
    /// `PARTITION` was read and its `BY` is to be dropped.
    dropping_by: bool,
}

/// What sqlparser does not read as Flink writes it:
/// - `TABLE src` as a window function's first argument becomes `src`;
/// - `SESSION(TABLE src PARTITION BY k, …)` becomes `SESSION(src, SESSION_KEYS(k), …)`;
/// - `>>` closing two nested `ROW<` becomes `> >`.
fn rewrite(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>, SqlError> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut session: Option<SessionArgs> = None;
    for t in tokens {
        if t.token == Token::ShiftRight {
            out.push(TokenWithSpan::new(Token::Gt, t.span));
            out.push(TokenWithSpan::new(Token::Gt, t.span));
            continue;
        }
        if let Some(args) = &mut session {
            match &t.token {
                Token::LParen => args.depth += 1,
                Token::RParen => args.depth -= 1,
                Token::Whitespace(_) => {}
                token if args.dropping_by => {
                    if !is_word(token, "BY") {
                        return Err(SqlError::Syntax(format!(
                            "expected BY after PARTITION, found `{token}`{}",
                            t.span.start
                        )));
                    }
                    args.dropping_by = false;
                    continue;
                }
                token if args.depth == 1 && is_word(token, "PARTITION") => {
                    for token in [
                        Token::Comma,
                        Token::make_word(SESSION_KEYS, None),
                        Token::LParen,
                    ] {
                        out.push(TokenWithSpan::new(token, t.span));
                    }
                    args.keys_open = true;
                    args.dropping_by = true;
                    continue;
                }
                Token::Comma if args.depth == 1 && args.keys_open => {
                    out.push(TokenWithSpan::new(Token::RParen, t.span));
                    args.keys_open = false;
                }
                _ => {}
            }
            if args.depth == 0 {
                if args.keys_open {
                    out.push(TokenWithSpan::new(Token::RParen, t.span));
                }
                session = None;
            }
        }
        if is_word(&t.token, "TABLE") {
            let mut before = out
                .iter()
                .rev()
                .filter(|t| !matches!(t.token, Token::Whitespace(_)));
            let paren = before.next().map(|t| &t.token);
            let function = before.next().map(|t| &t.token);
            if paren == Some(&Token::LParen)
                && function.is_some_and(|f| WINDOW_FUNCTIONS.iter().any(|w| is_word(f, w)))
            {
                if function.is_some_and(|f| is_word(f, "SESSION")) {
                    session = Some(SessionArgs {
                        depth: 1,
                        keys_open: false,
                        dropping_by: false,
                    });
                }
                continue;
            }
        }
        out.push(t);
    }
    Ok(out)
}
