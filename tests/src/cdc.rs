//! CDC jobs in end-to-end tests: the job of `examples/dim_videos.toml` added to a test's config
//! on a topic of its own, a generator of Debezium change streams that keeps the source table
//! it describes (so the expected dimension table is the generator's own state, never Floe's
//! reading of the records), and the table checked with both independent readers.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::job::KeyedRows;
use crate::{Expect, Job, Kafka, Produced, Record, BASE_TS};

/// The CDC job's name in test configs.
pub const CDC_JOB: &str = "dim_videos";

/// Where a test's CDC job reads and writes.
#[derive(Clone, Debug)]
pub struct CdcTables {
    pub topic: String,
    pub table: String,
    pub changes: String,
    pub history: String,
    pub dead_letters: String,
}

/// What a CDC topic was given: change records (tombstones aside) and bad records, which the
/// changelog and the dead-letter table must hold one row each of.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChangeCounts {
    pub changes: usize,
    pub bad: usize,
}

impl ChangeCounts {
    pub fn add(&mut self, produced: &[Produced]) {
        let count = |e: Expect| {
            produced
                .iter()
                .filter(|r| r.expect == e && r.value.is_some())
                .count()
        };
        self.changes += count(Expect::Ok);
        self.bad += count(Expect::Bad);
    }
}

/// One row of the source table: the columns of formats.md §2 (`updated_at` in ms).
pub type SourceRow = Value;

/// Generates the change stream of a `videos` table of `keys` rows: creates, updates, deletes
/// (each followed by its tombstone) and snapshot reads, in both envelope forms, with a hot set
/// of keys so that one key changes several times within a checkpoint; and keeps the table's
/// current rows.
pub struct CdcGen {
    rng: StdRng,
    keys: usize,
    partitions: i32,
    lsn: i64,
    /// The source table now: video_id → row.
    pub table: BTreeMap<String, SourceRow>,
    /// Every version of every row (SCD type 2): (video_id, valid_from) → version.
    pub history: BTreeMap<(String, i64), Value>,
}

const CATEGORIES: [&str; 5] = ["Music", "Beauty", "Gaming", "News", "Sports"];
const STATUSES: [&str; 3] = ["active", "hidden", "review"];

impl CdcGen {
    pub fn new(seed: u64, keys: usize, partitions: i32) -> CdcGen {
        CdcGen {
            rng: StdRng::seed_from_u64(seed ^ 0xcdc),
            keys,
            partitions,
            lsn: 1_000,
            table: BTreeMap::new(),
            history: BTreeMap::new(),
        }
    }

    /// Debezium keys its topics by primary key: one key, one partition.
    fn partition_of(&self, key: &str) -> i32 {
        let h = key
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        (h % self.partitions as u32) as i32
    }

    fn random_row(&mut self, id: &str, ts_ms: i64) -> Value {
        let mut row = json!({
            "video_id": id,
            "title": format!("title {}", self.rng.random_range(0..1_000_000)),
            "category": CATEGORIES[self.rng.random_range(0..CATEGORIES.len())],
            "status": STATUSES[self.rng.random_range(0..STATUSES.len())],
            "duration_s": self.rng.random_range(1..4_000),
            "updated_at": ts_ms,
        });
        if self.rng.random_bool(0.05) {
            // A declared field missing from `after` is null.
            row["category"] = Value::Null;
        }
        row
    }

    /// The envelope of one change, in either form; `after` gets a field no job declares.
    fn envelope(&mut self, op: &str, before: &Value, after: &Value, ts_ms: i64) -> String {
        let image = |row: &Value| -> Value {
            if row.is_null() {
                return Value::Null;
            }
            let mut image = row.clone();
            let fields = image.as_object_mut().expect("a row is an object");
            fields.remove("updated_at");
            fields.retain(|_, v| !v.is_null());
            fields.insert("undeclared".into(), json!({"nested": [1, 2]}));
            image
        };
        let change = json!({
            "op": op,
            "ts_ms": ts_ms,
            "before": image(before),
            "after": image(after),
            "source": {"connector": "postgresql", "db": "app", "schema": "public",
                       "table": "videos", "lsn": self.lsn, "ts_ms": ts_ms - 7},
        });
        if self.rng.random_bool(0.5) {
            json!({"schema": {"type": "struct", "optional": false}, "payload": change}).to_string()
        } else {
            change.to_string()
        }
    }

    /// The initial snapshot (`r`) of `rows` keys.
    pub fn snapshot(&mut self, rows: usize) -> Vec<Record> {
        let mut out = Vec::new();
        for k in 0..rows.min(self.keys) {
            let id = format!("v_{k}");
            out.extend(self.change_of(&id, Some("r")));
        }
        out
    }

    /// `n` changes (and the tombstones after deletes), and a bad record now and then.
    pub fn changes(&mut self, n: usize) -> Vec<Record> {
        let mut out = Vec::new();
        for _ in 0..n {
            let k = if self.rng.random_bool(0.3) {
                self.rng.random_range(0..20)
            } else {
                self.rng.random_range(0..self.keys)
            };
            let id = format!("v_{k}");
            out.extend(self.change_of(&id, None));
            if self.rng.random_bool(0.01) {
                out.push(self.bad_record());
            }
        }
        out
    }

    /// The next change of `id` (a create if absent, else an update or a delete), or `op`.
    fn change_of(&mut self, id: &str, op: Option<&str>) -> Vec<Record> {
        self.lsn += self.rng.random_range(1..4);
        let ts_ms = BASE_TS + self.lsn * 10;
        let before = self.table.get(id).cloned().unwrap_or(Value::Null);
        let op = op.unwrap_or(match (&before, self.rng.random_bool(0.25)) {
            (Value::Null, _) => "c",
            (_, true) => "d",
            (_, false) => "u",
        });
        let after = if op == "d" {
            self.table.remove(id);
            Value::Null
        } else {
            let row = self.random_row(id, ts_ms);
            self.table.insert(id.to_owned(), row.clone());
            row
        };
        self.add_version(id, op, &before, &after, ts_ms);
        let partition = self.partition_of(id);
        let value = self.envelope(op, &before, &after, ts_ms);
        let mut out = vec![Record {
            partition,
            key: Some(id.to_owned()),
            value: Some(value),
            expect: Expect::Ok,
            event_ts: Some(ts_ms),
        }];
        if op == "d" {
            out.push(Record {
                partition,
                key: Some(id.to_owned()),
                value: None,
                expect: Expect::Ok,
                event_ts: None,
            });
        }
        out
    }

    /// Ends `id`'s current version at `ts_ms` and adds the version `op` makes: the row after it
    /// (current), or for a delete the row before it, valid only at that instant.
    fn add_version(&mut self, id: &str, op: &str, before: &Value, after: &Value, ts_ms: i64) {
        if let Some(current) = self
            .history
            .range_mut((id.to_owned(), i64::MIN)..=(id.to_owned(), i64::MAX))
            .map(|(_, v)| v)
            .find(|v| v["is_current"] == json!(true))
        {
            current["valid_to"] = json!(ts_ms);
            current["is_current"] = json!(false);
        }
        let (row, until, current) = match op {
            "d" => (before, json!(ts_ms), false),
            _ => (after, Value::Null, true),
        };
        let mut version = row.clone();
        let fields = version.as_object_mut().expect("a row is an object");
        fields.remove("updated_at");
        fields.insert("op".into(), json!(op));
        fields.insert("valid_from".into(), json!(ts_ms));
        fields.insert("valid_to".into(), until);
        fields.insert("is_current".into(), json!(current));
        self.history.insert((id.to_owned(), ts_ms), version);
    }

    fn bad_record(&mut self) -> Record {
        let values = [
            "not json".to_owned(),
            json!({"ts_ms": BASE_TS, "after": {"video_id": "v_0"}}).to_string(),
            json!({"op": "x", "ts_ms": BASE_TS}).to_string(),
            json!({"op": "c", "ts_ms": BASE_TS, "after": {"video_id": "v_0", "duration_s": "long"}})
                .to_string(),
            json!({"op": "u", "ts_ms": BASE_TS, "after": {"title": "no key"}}).to_string(),
        ];
        let value = values[self.rng.random_range(0..values.len())].clone();
        Record {
            partition: self.rng.random_range(0..self.partitions),
            key: None,
            value: Some(value),
            expect: Expect::Bad,
            event_ts: None,
        }
    }
}

impl Job {
    /// Adds the job of `examples/dim_videos.toml` to this test's config, reading a new topic of
    /// `partitions` partitions and writing into this test's namespace, with a history table.
    pub fn add_cdc_job(&self, kafka: &Kafka, partitions: i32) -> CdcTables {
        let namespace = self.namespace();
        let tables = CdcTables {
            topic: crate::unique_topic("cdc"),
            table: format!("{namespace}.dim_videos"),
            changes: format!("{namespace}.dim_videos_changes"),
            history: format!("{namespace}.dim_videos_history"),
            dead_letters: format!("{namespace}.dim_videos_dead_letters"),
        };
        kafka.create_topic(&tables.topic, partitions);
        self.add_example_job(
            "dim_videos.toml",
            CDC_JOB,
            &tables.topic,
            &[
                ("table", &tables.table),
                ("history_table", &tables.history),
                ("dead_letter_table", &tables.dead_letters),
            ],
        );
        tables
    }

    /// The dimension table holds exactly the source table's rows, and the history table
    /// exactly its versions, for both readers; the changelog one row per change record, the
    /// dead-letter table one per bad record.
    pub fn assert_cdc_exact(&mut self, tables: &CdcTables, source: &CdcGen, counts: ChangeCounts) {
        let ChangeCounts { changes, bad } = counts;
        self.assert_rows_exact(&tables.table, &source.table, |row| {
            row["video_id"].as_str().expect("video_id").to_owned()
        });
        self.assert_rows_exact(&tables.history, &source.history, |row| {
            (
                row["video_id"].as_str().expect("video_id").to_owned(),
                row["valid_from"].as_i64().expect("valid_from"),
            )
        });
        let logged = self.read_offsets(&tables.changes).unwrap_or_default();
        let distinct: std::collections::BTreeSet<_> = logged.iter().collect();
        assert_eq!(
            (logged.len(), distinct.len()),
            (changes, changes),
            "[{}] {}: one row per change record",
            self.label,
            tables.changes
        );
        let dead = self.read_offsets(&tables.dead_letters).unwrap_or_default();
        assert_eq!(
            dead.len(),
            bad,
            "[{}] {}: one row per bad record",
            self.label,
            tables.dead_letters
        );
    }

    /// `table` holds exactly the rows of `want` (by the key `key_of` reads from a row), each
    /// once, for both readers.
    fn assert_rows_exact<K: Ord + Clone + std::fmt::Debug>(
        &mut self,
        table: &str,
        want: &BTreeMap<K, Value>,
        key_of: impl Fn(&Value) -> K,
    ) {
        for reader in ["pyiceberg", "duckdb"] {
            let rows = self.read_rows(table, reader);
            let rows = KeyedRows::new(rows.into_iter().map(|row| (key_of(&row), row)));
            assert!(
                rows.is_exact(want),
                "[{}] {reader} reads {} rows of {table}, the source has {}.\n{}\n{}",
                self.label,
                rows.got.len() + rows.duplicated.len(),
                want.len(),
                rows.report(want, "key"),
                self.last_log_tail()
            );
            eprintln!(
                "[{}] {reader}: {table} equals the source ({} rows)",
                self.label,
                want.len()
            );
        }
    }
}
