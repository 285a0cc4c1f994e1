use std::borrow::Cow;

use super::*;
use crate::value::Scalar;

/// The fields the tests' records have, in slot order.
const FIELDS: [&str; 5] = ["s", "n", "f", "b", "ts"];

fn compile(text: &str) -> Compiled {
    let expr = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    expr.compile(&mut |p| {
        FIELDS
            .iter()
            .position(|f| *f == p.to_string())
            .unwrap_or_else(|| panic!("unknown field {p}"))
    })
}

/// `s` = "Video_7", `n` = 7, `f` = 2.5, `b` missing, `ts` = 2026-01-02 03:04:05.006 UTC.
fn record() -> Vec<Scalar<'static>> {
    vec![
        Scalar::Str(Cow::Borrowed("Video_7")),
        Scalar::I64(7),
        Scalar::F64(2.5),
        Scalar::Missing,
        Scalar::I64(1_767_323_045_006),
    ]
}

fn value(text: &str) -> Result<Scalar<'static>, String> {
    let slots = record();
    let c = compile(text);
    c.eval(&slots).map(|v| match v.as_ref() {
        Scalar::Str(s) => Scalar::Str(Cow::Owned(s.to_string())),
        other => match other {
            Scalar::I64(i) => Scalar::I64(*i),
            Scalar::F64(f) => Scalar::F64(*f),
            Scalar::Bool(b) => Scalar::Bool(*b),
            _ => Scalar::Null,
        },
    })
}

fn s(v: &str) -> Scalar<'static> {
    Scalar::Str(Cow::Owned(v.into()))
}

#[test]
fn evaluates_what_flink_sql_computes() {
    let cases: Vec<(&str, Scalar<'static>)> = vec![
        ("n * 2 + 1", Scalar::I64(15)),
        ("n / 2", Scalar::I64(3)),
        ("n % 4", Scalar::I64(3)),
        ("MOD(n, 4)", Scalar::I64(3)),
        ("n * f", Scalar::F64(17.5)),
        ("-n", Scalar::I64(-7)),
        ("n > 5 AND s = 'Video_7'", Scalar::Bool(true)),
        ("n > 10 OR s LIKE 'Vid%'", Scalar::Bool(true)),
        ("NOT s LIKE '%7'", Scalar::Bool(false)),
        ("s NOT LIKE 'x%'", Scalar::Bool(true)),
        ("n IN (1, 7)", Scalar::Bool(true)),
        ("n NOT IN (1, 2)", Scalar::Bool(true)),
        ("n BETWEEN 7 AND 8", Scalar::Bool(true)),
        ("b IS NULL", Scalar::Bool(true)),
        ("b IS NOT NULL", Scalar::Bool(false)),
        ("b = 1", Scalar::Null),
        ("b = 1 OR n = 7", Scalar::Bool(true)),
        ("b = 1 AND n = 8", Scalar::Bool(false)),
        ("b = 1 AND n = 7", Scalar::Null),
        ("n IN (1, b)", Scalar::Null),
        (
            "CASE WHEN n > 10 THEN 'big' WHEN n > 5 THEN 'mid' ELSE 'small' END",
            s("mid"),
        ),
        ("CASE n WHEN 7 THEN 'seven' END", s("seven")),
        ("CASE n WHEN 8 THEN 'eight' END", Scalar::Null),
        ("COALESCE(b, n, 0)", Scalar::I64(7)),
        ("CAST(n AS DOUBLE)", Scalar::F64(7.0)),
        ("CAST(f AS BIGINT)", Scalar::I64(2)),
        ("CAST(n AS STRING)", s("7")),
        ("CAST(f * 2 AS STRING)", s("5.0")),
        ("CAST('12' AS INT) + 1", Scalar::I64(13)),
        ("TRY_CAST(s AS BIGINT)", Scalar::Null),
        ("LOWER(s)", s("video_7")),
        ("UPPER(s)", s("VIDEO_7")),
        ("SUBSTRING(s, 1, 5)", s("Video")),
        ("SUBSTRING(s FROM 7)", s("7")),
        ("SUBSTRING(s, 0, 2)", s("V")),
        ("CONCAT(s, '-', n)", s("Video_7-7")),
        ("CONCAT(s, b)", Scalar::Null),
        ("s || '!'", s("Video_7!")),
        ("CHAR_LENGTH(s)", Scalar::I64(7)),
        ("TRIM('  a ')", s("a")),
        ("ABS(0 - n)", Scalar::I64(7)),
        ("FLOOR(f)", Scalar::F64(2.0)),
        ("CEIL(f)", Scalar::F64(3.0)),
        ("TO_TIMESTAMP_LTZ(n, 0)", Scalar::I64(7000)),
        (
            "DATE_FORMAT(TO_TIMESTAMP_LTZ(ts, 3), 'yyyy-MM-dd HH:mm')",
            s("2026-01-02 03:04"),
        ),
        ("EXTRACT(HOUR FROM TO_TIMESTAMP_LTZ(ts, 3))", Scalar::I64(3)),
        (
            "HOUR(TO_TIMESTAMP_LTZ(ts, 3)) + MINUTE(TO_TIMESTAMP_LTZ(ts, 3))",
            Scalar::I64(7),
        ),
        ("s = 7", Scalar::Null),
    ];
    for (text, expected) in cases {
        assert_eq!(value(text), Ok(expected), "{text}");
    }
}

#[test]
fn a_value_that_cannot_be_computed_is_an_error_naming_the_expression() {
    for (text, why) in [
        ("n / 0", "division by zero"),
        ("n % (n - 7)", "division by zero"),
        ("CAST(s AS BIGINT)", "cannot cast 'Video_7' to BIGINT"),
        ("SUBSTRING(s, 1, 0 - 1)", "a negative length (-1)"),
    ] {
        let e = value(text).expect_err(text);
        assert!(e.contains(why) && e.starts_with('`'), "{text}: {e}");
    }
}

#[test]
fn conditions_hold_only_when_true() {
    let slots = record();
    assert!(compile("n = 7").holds(&slots).expect("eval"));
    assert!(!compile("b = 1").holds(&slots).expect("eval"), "null");
    assert!(!compile("b <> 1").holds(&slots).expect("eval"), "null");
    assert!(!compile("NOT (b = 1)").holds(&slots).expect("eval"), "null");
}

#[test]
fn printed_expressions_parse_back_to_themselves() {
    for text in [
        "(n + 1) * 2 - -3",
        "n - (1 - 2)",
        "NOT (n = 1 OR s LIKE 'it''s%') AND b IS NOT NULL",
        "CASE WHEN n IN (1, 2) THEN CAST(n AS STRING) ELSE COALESCE(s, 'x') END",
        "DATE_FORMAT(TO_TIMESTAMP_LTZ(ts, 3), 'HH:mm') || SUBSTRING(s, 2, 3)",
        "EXTRACT(DOW FROM TO_TIMESTAMP_LTZ(ts, 0)) >= 2.5",
        "TRY_CAST(s AS DOUBLE) / 2.0",
        "body.type = 'x'",
        "body.\"video-id\" || body.\"a \"\"b\"\"\" = 'x'",
    ] {
        let parsed = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let again = Expr::parse(&parsed.to_string())
            .unwrap_or_else(|e| panic!("{parsed} (from {text}): {e}"));
        assert_eq!(again, parsed, "{text} printed as {parsed}");
    }
}

#[test]
fn a_bare_path_is_a_field_even_when_it_is_a_keyword() {
    let e = Expr::parse("header.timestamp").expect("path");
    assert_eq!(
        e.as_field().map(ToString::to_string).as_deref(),
        Some("header.timestamp")
    );
    assert_eq!(
        Expr::parse("TRUE"),
        Ok(ExprOf::Literal(Literal::Bool(true)))
    );
}

#[test]
fn refuses_what_is_not_supported_with_what_is() {
    for (text, why) in [
        ("n + ", "Expected"),
        ("n = 1 garbage", "unexpected"),
        ("SUM(n)", "the function `SUM` is not supported"),
        ("(SELECT 1)", "is not supported: expressions take"),
        ("s LIKE n", "a LIKE pattern other than a string constant"),
        ("CAST(n AS DATE)", "CAST to DATE is not supported"),
        ("TO_TIMESTAMP_LTZ(n, 2)", "the precision 2 is not supported"),
        ("DATE_FORMAT(n, 'EEE')", "`EEE` is not supported"),
        ("LOWER(s, s)", "LOWER takes 1 argument"),
        ("FLOOR(f, 1)", "`FLOOR(f, 1)` is not supported"),
        ("CEIL(f, 2)", "`CEIL(f, 2)` is not supported"),
    ] {
        let e = Expr::parse(text).expect_err(text);
        assert!(e.contains(why), "{text}: {e}");
    }
}

#[test]
fn types_are_checked_before_the_job_starts() {
    let typed = |p: &crate::path::FieldPath| match p.to_string().as_str() {
        "s" => ExprType::String,
        "n" => ExprType::Long,
        "f" => ExprType::Double,
        "b" => ExprType::Boolean,
        _ => ExprType::Any,
    };
    let ty = |text: &str| Expr::parse(text).expect("parses").infer_type(&typed);
    assert_eq!(ty("n * 2"), Ok(ExprType::Long));
    assert_eq!(ty("n * f"), Ok(ExprType::Double));
    assert_eq!(ty("CASE WHEN b THEN n ELSE f END"), Ok(ExprType::Double));
    assert_eq!(ty("COALESCE(s, 'x')"), Ok(ExprType::String));
    assert_eq!(ty("TO_TIMESTAMP_LTZ(n, 3)"), Ok(ExprType::Timestamp));
    assert_eq!(ty("unknown + 1"), Ok(ExprType::Any));
    for (text, why) in [
        ("s + 1", "`s` is STRING, not a number"),
        ("n LIKE 'a%'", "the operand `n` is BIGINT, expected STRING"),
        ("s = 1", "cannot compare STRING with BIGINT"),
        ("n AND b", "the operand `n` is BIGINT, expected BOOLEAN"),
        (
            "CASE WHEN b THEN s ELSE n END",
            "its values are STRING and BIGINT",
        ),
        ("EXTRACT(HOUR FROM n)", "expected TIMESTAMP"),
    ] {
        let e = ty(text).expect_err(text);
        assert!(e.contains(why), "{text}: {e}");
    }
}

#[test]
fn conditions_read_directly_hold_as_their_tree_does() {
    let records = [
        record(),
        vec![
            Scalar::Str(Cow::Borrowed("x")),
            Scalar::F64(7.0),
            Scalar::Null,
            Scalar::Bool(true),
            Scalar::Missing,
        ],
    ];
    for text in [
        "s = 'Video_7'",
        "s <> 'x' AND n >= 7",
        "n = 7.0 AND f < 3",
        "b = TRUE",
        "s > 'W'",
        "n <> 8 AND s = 'x'",
    ] {
        let compiled = compile(text);
        assert_ne!(compiled.shape, eval::Shape::Tree, "{text} is read directly");
        for slots in &records {
            let tree = matches!(
                eval::eval(&compiled.expr, slots).expect("eval").as_ref(),
                Scalar::Bool(true)
            );
            assert_eq!(compiled.holds(slots), Ok(tree), "{text} on {slots:?}");
        }
    }
}
