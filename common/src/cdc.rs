//! CDC jobs (Debezium into a dimension table): every change record becomes one row of the
//! job's changelog table (written by the workers like an append job's rows), and at each
//! checkpoint the committer applies the last change per primary key to the dimension table
//! (SCD type 1: the source table's current rows).
//!
//! [`CdcSpec`] is the one definition of both tables' columns; [`ChangeDecoder`] fills the
//! changelog's. The envelope is read with and without Debezium's `schema`/`payload` wrapper:
//! the paths of both forms go into one [`PathTree`], so a record is scanned once either way.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::append::{AppendColumn, AppendRows, AppendSpec, AppendType};
use crate::config::TimeUnit;
use crate::expr::Expr;
use crate::json_scan::PathTree;
use crate::path::FieldPath;
use crate::schema::{Column, ColumnType, TableSchema};
use crate::value::Scalar;

/// The changelog column holding the change's operation (`c`, `u`, `d` or `r`).
pub const OP: &str = "op";
/// The changelog column holding the change's time (Debezium's top-level `ts_ms`).
pub const CHANGED_AT: &str = "changed_at";
/// The changelog column holding the source database's position (`source.lsn`), if sent.
pub const SOURCE_LSN: &str = "source_lsn";
/// History columns (SCD type 2): when a version of a row began and ended, and whether it is
/// the row's current version.
pub const VALID_FROM: &str = "valid_from";
pub const VALID_TO: &str = "valid_to";
pub const IS_CURRENT: &str = "is_current";

/// What a CDC job writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdcSpec {
    /// The declared columns; their fields are paths inside the row image (`after`, or
    /// `before` for a delete).
    pub columns: Vec<AppendColumn>,
    /// Names of the primary key's columns, among `columns`.
    pub key: Vec<String>,
    /// The dimension column holding when its row last changed (the change's `ts_ms`).
    pub updated_at: String,
    /// The changelog table's columns: the declared ones, the change's operation, time and
    /// source position; then where each record came from ([`AppendSpec::table_columns`]).
    pub changelog: AppendSpec,
    /// The changelog table: every change as received.
    pub changes_table: TableSchema,
    /// The history table (SCD type 2), if the job keeps one: every version of every row.
    pub history_table: Option<TableSchema>,
    /// How the dimension table takes each checkpoint's changes.
    #[serde(default)]
    pub mode: CdcMode,
}

/// How a CDC job applies a checkpoint's changes to its dimension table (`sink.cdc_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CdcMode {
    /// A changed row's old version is marked deleted (Iceberg v2 position deletes, found
    /// through the committer's key index) and its new version appended: the cost follows the
    /// changes, not the table. Compaction folds the deletes into the files.
    #[default]
    MergeOnRead,
    /// The files holding a changed row are rewritten: no delete files for readers to apply,
    /// at a cost that follows the table's size. For small tables.
    CopyOnWrite,
}

impl CdcMode {
    /// The mode `sink.cdc_mode` names.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "merge-on-read" => Ok(Self::MergeOnRead),
            "copy-on-write" => Ok(Self::CopyOnWrite),
            other => Err(format!(
                "`{other}` is not a CDC mode: `merge-on-read` (the default) or `copy-on-write`"
            )),
        }
    }
}

impl CdcSpec {
    /// A CDC job of `columns` keyed by `key`, whose changelog is `changes_table` and whose data
    /// files roll at `target_file_bytes`.
    pub fn new(
        columns: Vec<AppendColumn>,
        key: Vec<String>,
        updated_at: String,
        changes_table: String,
        target_file_bytes: u64,
    ) -> Result<Self, String> {
        if key.is_empty() {
            return Err("a CDC job needs a primary key".into());
        }
        for (i, k) in key.iter().enumerate() {
            if key[..i].contains(k) {
                return Err(format!("key column `{k}` is named twice"));
            }
            match columns.iter().find(|c| c.column == *k) {
                None => return Err(format!("key column `{k}` is not a declared column")),
                Some(c) if matches!(c.ty, AppendType::Json | AppendType::Double) => {
                    return Err(format!("key column `{k}` cannot be {:?}", c.ty))
                }
                Some(_) => {}
            }
        }
        let meta = |column: &str, ty| AppendColumn {
            column: column.into(),
            field: Expr::field(
                FieldPath::parse(column).unwrap_or_else(|_| unreachable!("a plain name")),
            ),
            ty,
            required: column == OP || column == CHANGED_AT,
        };
        let mut changelog: Vec<AppendColumn> = columns
            .iter()
            .map(|c| AppendColumn {
                required: key.contains(&c.column),
                ..c.clone()
            })
            .collect();
        changelog.push(meta(OP, AppendType::String));
        changelog.push(meta(CHANGED_AT, AppendType::Timestamp(TimeUnit::Millis)));
        changelog.push(meta(SOURCE_LSN, AppendType::Long));
        let changelog = AppendSpec {
            columns: changelog,
            target_file_bytes,
            dedup: None,
        };
        Ok(Self {
            columns,
            key,
            updated_at,
            changes_table: TableSchema {
                name: changes_table,
                columns: changelog.table_columns(),
                partition: Vec::new(),
            },
            changelog,
            history_table: None,
            mode: CdcMode::default(),
        })
    }

    /// The same job keeping every version of its rows in the table `name` as well.
    pub fn with_history(mut self, name: String) -> Self {
        self.history_table = Some(TableSchema {
            name,
            columns: self.history_columns(),
            partition: Vec::new(),
        });
        self
    }

    /// The history table's columns: the declared ones, the operation that made the version,
    /// and when it was valid (`valid_to` null while current).
    pub fn history_columns(&self) -> Vec<Column> {
        let mut columns: Vec<Column> = self.table_columns();
        columns.pop();
        columns.extend([
            Column::new(OP, ColumnType::String, true),
            Column::new(VALID_FROM, ColumnType::TimestampTz, true),
            Column::new(VALID_TO, ColumnType::TimestampTz, false),
            Column::new(IS_CURRENT, ColumnType::Boolean, true),
        ]);
        columns
    }

    /// Names the job may not give a declared column.
    pub fn reserved_columns(updated_at: &str) -> Vec<String> {
        let mut names: Vec<String> = [OP, CHANGED_AT, SOURCE_LSN, VALID_FROM, VALID_TO, IS_CURRENT]
            .iter()
            .chain(AppendSpec::reserved_columns().iter())
            .map(|s| s.to_string())
            .collect();
        names.push(updated_at.to_owned());
        names
    }

    /// The dimension table's columns: the declared ones (the key's required), then
    /// `updated_at`.
    pub fn table_columns(&self) -> Vec<Column> {
        let mut columns: Vec<Column> = self.changelog.columns[..self.columns.len()]
            .iter()
            .map(|c| Column::new(&c.column, c.ty.column_type(), c.required))
            .collect();
        columns.push(Column::new(&self.updated_at, ColumnType::TimestampTz, true));
        columns
    }
}

/// What a change did to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
    /// A row of the connector's initial snapshot.
    Read,
}

impl ChangeOp {
    /// The operation Debezium writes as `op`.
    pub fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "c" => ChangeOp::Create,
            "u" => ChangeOp::Update,
            "d" => ChangeOp::Delete,
            "r" => ChangeOp::Read,
            _ => return None,
        })
    }
}

/// The slots of one envelope form's fields.
struct EnvelopeSlots {
    op: usize,
    /// The changelog's columns read from `after` (creates, updates, reads).
    upsert: Vec<usize>,
    /// The changelog's columns read from `before` (deletes).
    delete: Vec<usize>,
}

/// Reads Debezium envelopes into changelog rows ([`CdcSpec::changelog`]).
pub struct ChangeDecoder {
    tree: PathTree,
    slots: usize,
    plain: EnvelopeSlots,
    wrapped: EnvelopeSlots,
    changelog: AppendSpec,
}

impl ChangeDecoder {
    pub fn new(spec: &CdcSpec) -> Result<Self, String> {
        let mut tree = PathTree::default();
        let mut slots = 0;
        let mut add = |segments: Vec<String>| -> Result<usize, String> {
            let slot = slots;
            slots += 1;
            tree.insert(&segments, slot, &segments.join("."))?;
            Ok(slot)
        };
        let mut envelope = |prefix: &[&str]| -> Result<EnvelopeSlots, String> {
            let at = |path: &[&str], field: Option<&FieldPath>| {
                let mut segments: Vec<String> =
                    prefix.iter().chain(path).map(|s| s.to_string()).collect();
                segments.extend(field.iter().flat_map(|f| f.segments().iter().cloned()));
                segments
            };
            let op = add(at(&["op"], None))?;
            let ts_ms = add(at(&["ts_ms"], None))?;
            let lsn = add(at(&["source", "lsn"], None))?;
            let mut image = |name: &str| -> Result<Vec<usize>, String> {
                let mut image: Vec<usize> = spec
                    .columns
                    .iter()
                    .map(|c| match c.field.as_field() {
                        Some(path) => add(at(&[name], Some(path))),
                        None => Err(format!("CDC column {} is not a field", c.column)),
                    })
                    .collect::<Result<_, _>>()?;
                image.extend([op, ts_ms, lsn]);
                Ok(image)
            };
            Ok(EnvelopeSlots {
                op,
                upsert: image("after")?,
                delete: image("before")?,
            })
        };
        let plain = envelope(&[])?;
        let wrapped = envelope(&["payload"])?;
        Ok(Self {
            tree,
            slots,
            plain,
            wrapped,
            changelog: spec.changelog.clone(),
        })
    }

    /// Reads one change record (not a tombstone) into a changelog row of `rows` and returns
    /// the change's time in epoch milliseconds.
    pub fn decode(&self, bytes: &[u8], rows: &mut AppendRows) -> Result<i64, String> {
        let mut slots = vec![Scalar::Missing; self.slots];
        let is_object = self
            .tree
            .scan(bytes, &mut slots)
            .map_err(|e| format!("invalid JSON: {e}"))?;
        if !is_object {
            return Err("record is not a JSON object".into());
        }
        let form = if matches!(slots[self.wrapped.op], Scalar::Missing) {
            &self.plain
        } else {
            &self.wrapped
        };
        let op = match &slots[form.op] {
            Scalar::Str(op) => ChangeOp::parse(op).ok_or_else(|| format!("unknown op `{op}`"))?,
            Scalar::Missing => return Err("not a Debezium change: no op".into()),
            other => return Err(format!("op is {}, expected a string", other.type_name())),
        };
        let (image, row) = match op {
            ChangeOp::Delete => ("before", &form.delete),
            _ => ("after", &form.upsert),
        };
        let ts_slot = row[row.len() - 2];
        let ts_ms = match &slots[ts_slot] {
            Scalar::I64(ts) => *ts,
            other => {
                return Err(format!(
                    "ts_ms is {}, expected an integer",
                    other.type_name()
                ))
            }
        };
        rows.push_decoded(&self.changelog, row, &slots)
            .map_err(|e| format!("{image}.{e}"))?;
        Ok(ts_ms)
    }
}

/// Where a change stands in its source, to order two changes of one key: the source
/// database's position (`source.lsn`) when the record has one, then the change's time, then
/// where Floe read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChangeOrder {
    pub source_position: Option<i64>,
    pub changed_at: i64,
    pub partition: i32,
    pub offset: i64,
}

/// A checkpoint's changes reduced to the last one per key: what the table must show after it.
/// `R` says where the change's row is.
#[derive(Debug)]
pub struct LatestChanges<K, R> {
    by_key: HashMap<K, (ChangeOrder, R)>,
}

impl<K: Hash + Eq, R> Default for LatestChanges<K, R> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, R> LatestChanges<K, R> {
    /// Keeps the change at `row` if it is the latest of its key so far.
    pub fn add(&mut self, key: K, order: ChangeOrder, row: R) {
        match self.by_key.get_mut(&key) {
            Some(kept) if kept.0 < order => *kept = (order, row),
            Some(_) => {}
            None => {
                self.by_key.insert(key, (order, row));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    /// The latest change of each key: its key and row.
    pub fn into_rows(self) -> impl Iterator<Item = (K, R)> {
        self.by_key.into_iter().map(|(k, (_, row))| (k, row))
    }
}

#[cfg(test)]
#[path = "cdc_tests.rs"]
mod tests;
