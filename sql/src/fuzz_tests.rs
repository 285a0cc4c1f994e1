//! The SQL front end never panics: scripts mutated at random from the examples (tokens
//! dropped, repeated, swapped or replaced by others Flink SQL uses) are each lowered and the
//! jobs validated; every one must end in jobs or an error. A job that validates decodes a few
//! records, so that its expressions are evaluated too.

use std::panic::{catch_unwind, AssertUnwindSafe};

use floe_common::config::FloeConfig;
use floe_common::decode::{DecodedBatch, Decoder};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::jobs_from_sql;

const GOLD_SQL: &str = include_str!("../../examples/video_stats.sql");
const SILVER_SQL: &str = include_str!("../../examples/content_events_silver.sql");
const NEXMARK_SQL: &str = include_str!("../../examples/nexmark_bids.sql");

/// Records the validated jobs decode: content events, odd values, a Nexmark bid.
const RECORDS: &[&str] = &[
    r#"{"header":{"event_id":"e1","event_type":"like","event_ts":1767225600123},"body":{"video_id":"v_7","watch_ms":0}}"#,
    r#"{"header":{"event_type":7,"event_ts":-5},"body":{"video_id":null,"watch_ms":"x"}}"#,
    r#"{"event_type":2,"dateTime":1767225600000,"bid":{"auction":1000,"bidder":9,"price":0,"extra":""}}"#,
];

/// Pieces of Flink SQL (and of broken SQL) that mutations put in.
const VOCABULARY: &[&str] = &[
    "(",
    ")",
    ",",
    ";",
    "<",
    ">",
    ">>",
    "=",
    "'",
    "''",
    ".",
    "*",
    "-",
    "TABLE",
    "ROW<",
    "ROW",
    "INTERVAL",
    "'0'",
    "'-5'",
    "'99999999999999999999'",
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "TUMBLE",
    "HOP",
    "CUMULATE",
    "SESSION",
    "DESCRIPTOR",
    "WATERMARK",
    "FOR",
    "AS",
    "WITH",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "CAST",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "LIKE",
    "IN",
    "IS",
    "BETWEEN",
    "'%7'",
    "COALESCE",
    "LOWER",
    "SUBSTRING",
    "DATE_FORMAT",
    "'yyyy-MM-dd'",
    "EXTRACT",
    "HOUR",
    "MOD",
    "/",
    "%",
    "||",
    "APPROX_COUNT_DISTINCT",
    "'datagen'",
    "ROW_NUMBER",
    "OVER",
    "DOUBLE",
    "BIGINT",
    "STRING",
    "TIMESTAMP(3)",
    "COUNT",
    "SUM",
    "AVG",
    "DISTINCT",
    "FILTER",
    "TO_TIMESTAMP_LTZ",
    "0",
    "3",
    "7",
    "-1",
    "1e308",
    "9223372036854775808",
    "window_start",
    "window_end",
    "ts",
    "header.event_ts",
    "body",
    "body.video_id",
    "'connector'",
    "'kafka'",
    "'filesystem'",
    "'iceberg'",
    "'topic'",
    "'partitioning'",
    "'day(window_start)'",
    "SET",
    "'pipeline.name'",
    "INSERT",
    "INTO",
    "CREATE",
    "gold.t",
    "PARTITION",
    "\u{fffd}",
    "\"x\"",
];

/// Words, quoted strings and single punctuation marks.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if quoted || c == '\'' {
            word.push(c);
            quoted = if c == '\'' { !quoted } else { quoted };
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '.' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn mutate(rng: &mut SmallRng, mut tokens: Vec<String>) -> String {
    for _ in 0..rng.random_range(1..=4) {
        if tokens.is_empty() {
            break;
        }
        let at = rng.random_range(0..tokens.len());
        match rng.random_range(0..4) {
            0 => {
                tokens.remove(at);
            }
            1 => {
                let copy = tokens[at].clone();
                tokens.insert(at, copy);
            }
            2 => {
                let other = rng.random_range(0..tokens.len());
                tokens.swap(at, other);
            }
            _ => tokens[at] = VOCABULARY[rng.random_range(0..VOCABULARY.len())].to_owned(),
        }
    }
    tokens.join(" ")
}

#[test]
fn mutated_scripts_give_jobs_or_errors_never_a_panic() {
    let corpus: Vec<Vec<String>> = [
        GOLD_SQL.to_owned(),
        GOLD_SQL.replace(
            "TUMBLE(TABLE content_events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
            "HOP(TABLE content_events, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE)",
        ),
        GOLD_SQL.replace(
            "GROUP BY window_start",
            "WHERE header.event_type <> 'ad' AND body.watch_ms >= 10 GROUP BY window_start",
        ),
        GOLD_SQL.replace(
            "COUNT(*) FILTER (WHERE header.event_type = 'share') AS shares",
            "COUNT(DISTINCT body.video_id) FILTER (WHERE header.event_type IN ('share', 'like') \
             OR body.watch_ms / 1000 > 3) AS shares",
        ),
        SILVER_SQL.to_owned(),
        NEXMARK_SQL.to_owned(),
    ]
    .iter()
    .map(|s| {
        let code: Vec<&str> = s.lines().filter(|l| !l.starts_with("--")).collect();
        tokens(&code.join("\n"))
    })
    .collect();
    let mut rng = SmallRng::seed_from_u64(25);
    let (mut lowered, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let source = corpus[rng.random_range(0..corpus.len())].clone();
        let script = mutate(&mut rng, source);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            jobs_from_sql(&script).map(|jobs| {
                let valid = FloeConfig {
                    jobs,
                    ..FloeConfig::default()
                }
                .validate();
                for job in valid.iter().flat_map(|v| &v.jobs) {
                    if let Ok(decoder) = Decoder::new(job) {
                        let mut batch = DecodedBatch::default();
                        for (i, r) in RECORDS.iter().enumerate() {
                            decoder.decode_into(0, i as i64, Some(r.as_bytes()), &mut batch);
                        }
                    }
                }
                valid.is_ok()
            })
        }));
        match outcome {
            Ok(Ok(_)) => lowered += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty(), "an empty error for {script}");
                refused += 1;
            }
            Err(_) => panic!("the SQL front end panicked on:\n{script}"),
        }
    }
    assert!(
        lowered > 0 && refused > 0,
        "{lowered} lowered, {refused} refused"
    );
}
