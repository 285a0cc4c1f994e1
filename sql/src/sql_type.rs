//! Column types as Flink SQL writes them: what a JSON field of the source holds.

use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::error::SqlError;

/// A declared column type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlType {
    /// `TINYINT`, `SMALLINT`, `INT`, `INTEGER`, `BIGINT`.
    Integer,
    /// `FLOAT`, `REAL`, `DOUBLE [PRECISION]`, `DECIMAL(p, s)`.
    Floating,
    Boolean,
    /// `STRING`, `VARCHAR(n)`, `CHAR(n)`.
    String,
    /// `TIMESTAMP(p)`, `TIMESTAMP_LTZ(p)`, `TIMESTAMP(p) WITH LOCAL TIME ZONE`.
    Timestamp,
    /// `ROW<name type, …>`: a JSON object.
    Row(Vec<(String, SqlType)>),
}

impl SqlType {
    /// The type of the field at `path` below this one (`Row` members by name, any case).
    pub fn field(&self, path: &[String]) -> Option<&SqlType> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        match self {
            SqlType::Row(fields) => fields
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(first))
                .and_then(|(_, t)| t.field(rest)),
            _ => None,
        }
    }
}

/// Parses a type. `>>` closing two `ROW<` must have been split into two `>` tokens.
pub(crate) fn parse_type(parser: &mut Parser) -> Result<SqlType, SqlError> {
    let token = parser.next_token();
    let Token::Word(word) = &token.token else {
        return Err(SqlError::Syntax(format!(
            "expected a type, found `{}`{}",
            token.token, token.span.start
        )));
    };
    let name = word.value.to_ascii_uppercase();
    let ty =
        match name.as_str() {
            "TINYINT" | "SMALLINT" | "INT" | "INTEGER" | "BIGINT" => SqlType::Integer,
            "FLOAT" | "REAL" | "DECIMAL" | "NUMERIC" | "DEC" => SqlType::Floating,
            "DOUBLE" => {
                parse_word(parser, "PRECISION");
                SqlType::Floating
            }
            "BOOLEAN" | "BOOL" => SqlType::Boolean,
            "STRING" | "VARCHAR" | "CHAR" => SqlType::String,
            "TIMESTAMP" | "TIMESTAMP_LTZ" => SqlType::Timestamp,
            "ROW" => return parse_row(parser),
            other => return Err(SqlError::unsupported_with(
                format!("the type `{other}`{}", token.span.start),
                "Floe reads INT, BIGINT, DOUBLE, DECIMAL, BOOLEAN, STRING, TIMESTAMP and ROW<…>",
            )),
        };
    skip_precision(parser)?;
    if ty == SqlType::Timestamp {
        if parse_word(parser, "WITH") {
            parse_word(parser, "LOCAL");
            expect_word(parser, "TIME")?;
            expect_word(parser, "ZONE")?;
        } else if parse_word(parser, "WITHOUT") {
            expect_word(parser, "TIME")?;
            expect_word(parser, "ZONE")?;
        }
    }
    Ok(ty)
}

/// `ROW<a INT, b STRING>` or `ROW(a INT, b STRING)`, after `ROW`.
fn parse_row(parser: &mut Parser) -> Result<SqlType, SqlError> {
    let close = if parser.consume_token(&Token::Lt) {
        Token::Gt
    } else {
        parser.expect_token(&Token::LParen)?;
        Token::RParen
    };
    let mut fields = Vec::new();
    loop {
        let name = parser.parse_identifier()?.value;
        let ty = parse_type(parser)?;
        fields.push((name, ty));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&close)?;
    Ok(SqlType::Row(fields))
}

/// `(n)` or `(p, s)` after a type name.
fn skip_precision(parser: &mut Parser) -> Result<(), SqlError> {
    if parser.consume_token(&Token::LParen) {
        loop {
            parser.next_token();
            if parser.consume_token(&Token::RParen) {
                return Ok(());
            }
            parser.expect_token(&Token::Comma)?;
        }
    }
    Ok(())
}

/// Consumes the next token if it is the word `word` (any case).
pub(crate) fn parse_word(parser: &mut Parser, word: &str) -> bool {
    if is_word(&parser.peek_token().token, word) {
        parser.next_token();
        true
    } else {
        false
    }
}

pub(crate) fn expect_word(parser: &mut Parser, word: &str) -> Result<(), SqlError> {
    if parse_word(parser, word) {
        return Ok(());
    }
    let found = parser.peek_token();
    Err(SqlError::Syntax(format!(
        "expected {word}, found `{}`{}",
        found.token, found.span.start
    )))
}

pub(crate) fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}
