//! `CREATE TABLE name (columns, computed columns, WATERMARK FOR …) WITH (options)`: the
//! declaration of a source or a sink, read with sqlparser's expression and identifier parsers
//! (sqlparser's own CREATE TABLE knows neither computed columns nor watermarks).

use std::collections::BTreeMap;

use sqlparser::ast::Expr;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::error::SqlError;
use crate::sql_type::{is_word, parse_type, SqlType};

/// A declared table.
#[derive(Debug, Clone)]
pub(crate) struct TableDecl {
    /// As written, dotted (`gold.video_stats_1min`).
    pub name: String,
    /// Physical columns: the record's top-level JSON fields.
    pub columns: Vec<(String, SqlType)>,
    /// `name AS expr`.
    pub computed: Vec<(String, Expr)>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<(String, Expr)>,
    /// `WITH ('key' = 'value', …)`, keys as written.
    pub options: BTreeMap<String, String>,
}

impl TableDecl {
    /// The declared type of the field at `path` (a column, or a member of a `ROW` column).
    pub fn field_type(&self, path: &[String]) -> Option<&SqlType> {
        let (first, rest) = path.split_first()?;
        self.columns
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(first))
            .and_then(|(_, t)| t.field(rest))
    }

    /// The expression of the computed column `name`.
    pub fn computed(&self, name: &str) -> Option<&Expr> {
        self.computed
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, e)| e)
    }

    /// The option `key`, which is then taken: what is left at the end was not understood.
    pub fn take_option(&mut self, key: &str) -> Option<String> {
        self.options.remove(key)
    }

    /// [`Self::take_option`] for an option the table cannot do without.
    pub fn require_option(&mut self, key: &str) -> Result<String, SqlError> {
        self.take_option(key).ok_or_else(|| {
            SqlError::Invalid(format!(
                "table {}: WITH ('{key}' = …) is missing",
                self.name
            ))
        })
    }
}

/// Parses the rest of a `CREATE TABLE` statement, after `CREATE TABLE`.
pub(crate) fn parse_create_table(parser: &mut Parser) -> Result<TableDecl, SqlError> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?.to_string();
    let mut decl = TableDecl {
        name,
        columns: Vec::new(),
        computed: Vec::new(),
        watermark: None,
        options: BTreeMap::new(),
    };
    if parser.consume_token(&Token::LParen) {
        loop {
            parse_element(parser, &mut decl)?;
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    if parser.parse_keyword(Keyword::WITH) {
        parser.expect_token(&Token::LParen)?;
        loop {
            let key = parser.parse_literal_string()?;
            parser.expect_token(&Token::Eq)?;
            let value = parser.parse_literal_string()?;
            if decl.options.insert(key.clone(), value).is_some() {
                return Err(SqlError::Invalid(format!(
                    "table {}: option '{key}' is given twice",
                    decl.name
                )));
            }
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    }
    Ok(decl)
}

/// One column, computed column or watermark.
fn parse_element(parser: &mut Parser, decl: &mut TableDecl) -> Result<(), SqlError> {
    let at = parser.peek_token();
    if is_word(&at.token, "WATERMARK") {
        parser.next_token();
        parser.expect_keyword(Keyword::FOR)?;
        let column = parser.parse_identifier()?.value;
        parser.expect_keyword(Keyword::AS)?;
        let expr = parser.parse_expr()?;
        if decl.watermark.replace((column, expr)).is_some() {
            return Err(SqlError::Invalid(format!(
                "table {}: one WATERMARK per table",
                decl.name
            )));
        }
        return Ok(());
    }
    if is_word(&at.token, "PRIMARY") || is_word(&at.token, "CONSTRAINT") {
        return Err(SqlError::unsupported_with(
            format!("a primary key on {}{}", decl.name, at.span.start),
            "CDC tables are declared in TOML for now",
        ));
    }
    let name = parser.parse_identifier()?.value;
    if decl.field_type(std::slice::from_ref(&name)).is_some() || decl.computed(&name).is_some() {
        return Err(SqlError::Invalid(format!(
            "table {}: column {name} is declared twice",
            decl.name
        )));
    }
    if parser.parse_keyword(Keyword::AS) {
        decl.computed.push((name, parser.parse_expr()?));
        return Ok(());
    }
    let ty = parse_type(parser)?;
    if parser.parse_keyword(Keyword::NOT) {
        parser.expect_keyword(Keyword::NULL)?;
    }
    if is_word(&parser.peek_token().token, "METADATA") {
        return Err(SqlError::unsupported(format!(
            "the METADATA column {name} of {}",
            decl.name
        )));
    }
    decl.columns.push((name, ty));
    Ok(())
}

/// `'key' = 'value'` pairs of a `SET` statement, after `SET`.
pub(crate) fn parse_set(parser: &mut Parser) -> Result<(String, String), SqlError> {
    let key = parser.parse_literal_string()?;
    parser.expect_token(&Token::Eq)?;
    let value = parser.parse_literal_string()?;
    Ok((key, value))
}
