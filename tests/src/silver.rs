//! The Silver job of `examples/content_events_silver.sql` in end-to-end tests: what its table
//! must hold, computed from the produced records by a rule of its own (serde_json, not Floe's
//! decoder), and the table read by both independent readers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::job::KeyedRows;
use crate::{EventLog, Job};

/// A record's (partition, offset).
pub type At = (i32, i64);

/// What the Silver job makes of one record value.
#[derive(Debug, Clone, PartialEq)]
pub enum SilverRow {
    /// Its row as the readers print it (timestamps as epoch milliseconds).
    Kept(Value),
    /// The WHERE refused it: no row, and not a dead letter.
    Refused,
    /// A dead letter.
    Bad,
}

/// The rule of `examples/content_events_silver.sql` for one record: a JSON object whose
/// `header.event_ts` is a non-negative integer; kept when `header.event_type` is a string other
/// than `impression` (a comparison with a missing or null field is false); then it needs its
/// `header.event_id` (the dedup key), and its selected fields must be of their declared type, or
/// absent or null. Its `watch_class` is `long` for a watch of 1000 ms or more, else `short`. Which copy of an event id is kept is [`expected_silver_rows`]' business.
pub fn expected_silver_row(value: Option<&str>) -> SilverRow {
    let Some(record) = value.and_then(|v| serde_json::from_str::<Value>(v).ok()) else {
        return SilverRow::Bad;
    };
    let Some(record) = record.as_object() else {
        return SilverRow::Bad;
    };
    let field = |object: &str, name: &str| {
        record
            .get(object)
            .and_then(Value::as_object)
            .and_then(|o| o.get(name))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let Some(event_ts) = field("header", "event_ts")
        .and_then(|v| v.as_i64())
        .filter(|ts| *ts >= 0)
    else {
        return SilverRow::Bad;
    };
    match field("header", "event_type") {
        Some(Value::String(kind)) if kind != "impression" => {}
        None | Some(Value::String(_)) => return SilverRow::Refused,
        Some(other) => panic!("the tests produce no event_type of {other}"),
    }
    let typed = |v: Option<Value>, ok: fn(&Value) -> bool| match v {
        None => Some(Value::Null),
        Some(v) if ok(&v) => Some(v),
        Some(_) => None,
    };
    if field("header", "event_id").is_none() {
        return SilverRow::Bad;
    }
    let row = (|| {
        Some(serde_json::json!({
            "event_id": typed(field("header", "event_id"), Value::is_string)?,
            "event_type": field("header", "event_type"),
            "event_ts": event_ts,
            "video_id": typed(field("body", "video_id"), Value::is_string)?,
            "watch_ms": typed(field("body", "watch_ms"), Value::is_i64)?,
            "watch_class": match field("body", "watch_ms").and_then(|w| w.as_i64()) {
                Some(ms) if ms >= 1000 => "long",
                _ => "short",
            },
        }))
    })();
    row.map_or(SilverRow::Bad, SilverRow::Kept)
}

/// What the Silver job makes of `log`: the rows kept by `(partition, offset)`, and the bad
/// records. Of the records of one event id on one partition, the first (by offset) is kept.
pub fn expected_silver_rows(log: &EventLog) -> (BTreeMap<At, Value>, BTreeSet<At>) {
    let mut records: Vec<_> = log.records.iter().collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    let (mut want, mut bad, mut seen) = (BTreeMap::new(), BTreeSet::new(), BTreeSet::new());
    for r in records {
        match expected_silver_row(r.value.as_deref()) {
            SilverRow::Kept(row) => {
                if seen.insert((r.partition, row["event_id"].to_string())) {
                    want.insert((r.partition, r.offset), row);
                }
            }
            SilverRow::Refused => {}
            SilverRow::Bad => {
                bad.insert((r.partition, r.offset));
            }
        }
    }
    (want, bad)
}

impl Job {
    /// Runs this job as the Silver SQL job, writing `table` (its dead letters to
    /// `{table}_dead_letters`).
    pub fn switch_to_silver_sql(&mut self) -> String {
        let table = format!("{}.content_events", self.namespace());
        self.switch_to_sql_example(
            "content_events_silver.sql",
            &[("silver.content_events", &table)],
        );
        table
    }

    /// `table` holds exactly one row per record the rule keeps ([`expected_silver_rows`]), for
    /// both readers, and its dead-letter table exactly the records the rule finds bad.
    pub fn assert_silver_exact(&mut self, log: &EventLog, table: &str) {
        let (want, bad) = expected_silver_rows(log);
        for reader in ["pyiceberg", "duckdb"] {
            let rows = self.read_rows(table, reader);
            let rows = KeyedRows::new(rows.into_iter().map(|row| {
                let at = (
                    row["kafka_partition"].as_i64().expect("kafka_partition") as i32,
                    row["kafka_offset"].as_i64().expect("kafka_offset"),
                );
                let shaped = serde_json::json!({
                    "event_id": row["event_id"], "event_type": row["event_type"],
                    "event_ts": row["event_ts"], "video_id": row["video_id"],
                    "watch_ms": row["watch_ms"], "watch_class": row["watch_class"],
                });
                (at, shaped)
            }));
            assert!(
                rows.is_exact(&want),
                "[{}] {reader} reads {} rows of {table}, expected {}.\n{}\n{}",
                self.label,
                rows.got.len() + rows.duplicated.len(),
                want.len(),
                rows.report(&want, "at"),
                self.last_log_tail()
            );
            eprintln!(
                "[{}] {reader}: {table} holds each of the {} expected rows once",
                self.label,
                want.len()
            );
        }
        let dead_letters = format!("{table}_dead_letters");
        let dead: Vec<(i32, i64)> = self.read_offsets(&dead_letters).unwrap_or_default();
        let dead_set: BTreeSet<_> = dead.iter().copied().collect();
        assert!(
            dead.len() == dead_set.len() && dead_set == bad,
            "[{}] {dead_letters}: {} rows, expected the {} records the rule finds bad",
            self.label,
            dead.len(),
            bad.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_keeps_what_the_where_keeps_and_finds_bad_what_cannot_be_read() {
        let kept = expected_silver_row(Some(
            r#"{"header":{"event_id":"e","event_type":"like","event_ts":5},"body":{}}"#,
        ));
        let SilverRow::Kept(row) = kept else {
            panic!("{kept:?}")
        };
        assert_eq!(
            (
                row["event_ts"].as_i64(),
                &row["video_id"],
                &row["watch_class"]
            ),
            (Some(5), &Value::Null, &Value::from("short"))
        );
        for (value, want) in [
            (
                r#"{"header":{"event_type":"impression","event_ts":5}}"#,
                SilverRow::Refused,
            ),
            (
                r#"{"header":{"event_ts":5,"event_id":7}}"#,
                SilverRow::Refused,
            ),
            (
                r#"{"header":{"event_type":"like","event_ts":5,"event_id":7}}"#,
                SilverRow::Bad,
            ),
            (
                r#"{"header":{"event_type":"like","event_ts":5}}"#,
                SilverRow::Bad,
            ),
            (
                r#"{"header":{"event_type":"like","event_ts":"5"}}"#,
                SilverRow::Bad,
            ),
            ("[1]", SilverRow::Bad),
        ] {
            assert_eq!(expected_silver_row(Some(value)), want, "{value}");
        }
    }
}
