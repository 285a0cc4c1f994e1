//! Bronze (append) jobs in end-to-end tests: the job of `examples/bronze.toml` added to a test's
//! config, what its table must hold computed from the produced records by a rule of its own
//! (serde_json, not Floe's decoder), and the table read by both independent readers.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::job::KeyedRows;
use crate::{EventLog, Job};

/// The Bronze job's name in test configs.
pub const BRONZE_JOB: &str = "content_events_bronze";

/// Where a test's Bronze job writes.
#[derive(Clone, Debug)]
pub struct BronzeTables {
    pub table: String,
    pub dead_letters: String,
}

/// What the Bronze job must make of one record value: its row as the readers print it (the
/// declared columns; body as parsed JSON), or `None` for a dead letter. The rule of
/// `examples/bronze.toml`: a JSON object whose `header.event_ts` is an integer in a sane
/// range; header fields of their declared type or absent/null; any body.
pub fn expected_bronze_row(value: Option<&str>) -> Option<Value> {
    let record: Value = serde_json::from_str(value?).ok()?;
    let record = record.as_object()?;
    let header = record.get("header").and_then(Value::as_object);
    let field = |name: &str| header.and_then(|h| h.get(name)).filter(|v| !v.is_null());
    let event_ts = field("event_ts")?.as_i64().filter(|ts| *ts >= 0)?;
    let text = |name: &str| match field(name) {
        None => Some(Value::Null),
        Some(Value::String(s)) => Some(Value::String(s.clone())),
        Some(_) => None,
    };
    let schema_version = match field("schema_version") {
        None => Value::Null,
        Some(v) => Value::from(v.as_i64()?),
    };
    Some(serde_json::json!({
        "event_id": text("event_id")?,
        "event_type": text("event_type")?,
        "event_ts": event_ts,
        "schema_version": schema_version,
        "body": record.get("body").cloned().unwrap_or(Value::Null),
    }))
}

impl Job {
    /// Adds the job of `examples/bronze.toml` to this test's config: reading this test's topic,
    /// writing into this test's namespace.
    pub fn add_bronze_job(&self) -> BronzeTables {
        let namespace = self.namespace();
        let tables = BronzeTables {
            table: format!("{namespace}.content_events"),
            dead_letters: format!("{namespace}.content_events_dead_letters"),
        };
        self.add_example_job(
            "bronze.toml",
            BRONZE_JOB,
            &self.topic,
            &[
                ("table", &tables.table),
                ("dead_letter_table", &tables.dead_letters),
            ],
        );
        tables
    }

    /// Every row of `table` as `reader` (`pyiceberg` or `duckdb`) reads it.
    pub fn read_rows(&mut self, table: &str, reader: &str) -> Vec<Value> {
        let mut args = self.catalog_args();
        args.extend([
            "--table".into(),
            table.to_owned(),
            "--reader".into(),
            reader.to_owned(),
        ]);
        self.read_table_lines(&args)
            .unwrap_or_else(|| panic!("[{}] table {table} does not exist", self.label))
    }

    /// The Bronze table holds exactly one row per record the rule keeps, with its header
    /// fields and body, for both readers; the dead-letter table exactly the others.
    pub fn assert_bronze_exact(&mut self, log: &EventLog, tables: &BronzeTables) {
        let mut want = BTreeMap::new();
        let mut bad = std::collections::BTreeSet::new();
        for r in &log.records {
            match expected_bronze_row(r.value.as_deref()) {
                Some(row) => want.insert((r.partition, r.offset), row),
                None => {
                    bad.insert((r.partition, r.offset));
                    None
                }
            };
        }
        for reader in ["pyiceberg", "duckdb"] {
            let rows = self.read_rows(&tables.table, reader);
            let rows = KeyedRows::new(rows.into_iter().map(|row| {
                let at = (
                    row["kafka_partition"].as_i64().expect("kafka_partition") as i32,
                    row["kafka_offset"].as_i64().expect("kafka_offset"),
                );
                let body = match &row["body"] {
                    Value::String(s) => serde_json::from_str(s)
                        .unwrap_or_else(|e| panic!("body of {at:?} is not JSON ({e}): {s}")),
                    other => other.clone(),
                };
                let shaped = serde_json::json!({
                    "event_id": row["event_id"], "event_type": row["event_type"],
                    "event_ts": row["event_ts"], "schema_version": row["schema_version"],
                    "body": body,
                });
                (at, shaped)
            }));
            assert!(
                rows.is_exact(&want),
                "[{}] {reader} reads {} from {}: {} rows, expected {}.\n{}\n{}",
                self.label,
                rows.got.len(),
                tables.table,
                rows.got.len() + rows.duplicated.len(),
                want.len(),
                rows.report(&want, "at"),
                self.last_log_tail()
            );
            eprintln!(
                "[{}] {reader}: {} holds each of the {} expected rows once",
                self.label,
                tables.table,
                want.len()
            );
        }
        let dead: Vec<(i32, i64)> = self.read_offsets(&tables.dead_letters).unwrap_or_default();
        let dead_set: std::collections::BTreeSet<_> = dead.iter().copied().collect();
        assert!(
            dead.len() == dead_set.len() && dead_set == bad,
            "[{}] {}: {} rows ({} distinct), expected the {} records the rule refuses; \
             missing {:?}, unexpected {:?}",
            self.label,
            tables.dead_letters,
            dead.len(),
            dead_set.len(),
            bad.len(),
            bad.difference(&dead_set).take(10).collect::<Vec<_>>(),
            dead_set.difference(&bad).take(10).collect::<Vec<_>>(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_keeps_drifted_bodies_and_refuses_unreadable_headers() {
        let kept = expected_bronze_row(Some(
            r#"{"header":{"event_id":"e","event_ts":5},"body":{"any":[1]}}"#,
        ))
        .expect("kept");
        assert_eq!(kept["body"], serde_json::json!({"any": [1]}));
        assert_eq!(kept["event_type"], Value::Null);
        assert!(expected_bronze_row(Some(r#"{"header":{"event_ts":5}}"#)).is_some());
        for refused in [
            None,
            Some("not json"),
            Some("[1]"),
            Some(r#"{"header":{"event_ts":"5"}}"#),
            Some(r#"{"header":{"event_ts":5.5}}"#),
            Some(r#"{"header":{"event_ts":5,"event_id":7}}"#),
            Some(r#"{"header":{"event_ts":5,"schema_version":"2"}}"#),
            Some(r#"{"body":{}}"#),
        ] {
            assert_eq!(expected_bronze_row(refused), None, "{refused:?}");
        }
    }
}
