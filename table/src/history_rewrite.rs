//! A CDC job's history table (SCD type 2) after one checkpoint: every change of the checkpoint
//! becomes a version of its row, in source order. A version lasts from its change until the
//! next change of its key (`valid_to` null and `is_current` while it is the last); a delete is
//! a version of its own (`op = d`, the row before it, valid only at its instant) that ends the
//! one before. The files holding a changed key's current version are rewritten with that
//! version ended, by copy-on-write like the dimension table (`dimension_rewrite.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::TableLayout;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use floe_common::cdc::{CdcSpec, ChangeOrder, CHANGED_AT, IS_CURRENT, OP, VALID_FROM, VALID_TO};
use floe_common::checkpoint::TableFiles;
use iceberg::table::Table;

use crate::dimension_rewrite::{
    arrow_error, change_order, files_to_rewrite, key_columns, row_key, write_rewrite, RewriteError,
};

/// One change of a key: where it stands in the source, its changelog row and whether it
/// deletes.
pub(crate) struct Version {
    order: ChangeOrder,
    batch: usize,
    row: usize,
    deletes: bool,
}

/// The rewrite of `base` (the history table, written through `layout`) that adds the versions
/// of the changelog rows `changes`; `None` when they hold no change.
pub async fn rewrite_history(
    spec: &CdcSpec,
    base: &Table,
    layout: &TableLayout,
    changes: &[RecordBatch],
) -> Result<Option<TableFiles>, RewriteError> {
    let keys = key_columns(spec, layout)?;
    let by_key = versions_by_key(layout, &keys, changes)?;
    if by_key.is_empty() {
        return Ok(None);
    }
    let HistoryColumns {
        is_current,
        valid_to,
        valid_from,
    } = HistoryColumns::of(layout)?;
    // The key's columns, then is_current: a file needs a rewrite when it holds a changed key's
    // current version.
    let mut read = keys.clone();
    read.push(is_current);
    let current_of_changed = |columns: &[ArrayRef], r: usize| {
        let current = columns[keys.len()].as_boolean();
        current.is_valid(r)
            && current.value(r)
            && by_key.contains_key(&row_key(&columns[..keys.len()], r))
    };
    let replaced = files_to_rewrite(base, layout, &read, current_of_changed).await?;
    let arrow_error = arrow_error(layout);
    let mut rows: Vec<RecordBatch> = Vec::new();
    for file in &replaced {
        for batch in layout.read_data_file(file.file_path(), None).await? {
            rows.push(
                end_current_versions(&batch, &keys, is_current, valid_to, &by_key)
                    .map_err(&arrow_error)?,
            );
        }
    }
    rows.extend(new_versions(spec, layout, changes, by_key).map_err(&arrow_error)?);
    let mut sort = keys;
    sort.push(valid_from);
    write_rewrite(layout, &rows, &sort, &replaced)
        .await
        .map(Some)
}

/// Where the history table's own columns are.
pub(crate) struct HistoryColumns {
    pub is_current: usize,
    pub valid_to: usize,
    pub valid_from: usize,
}

impl HistoryColumns {
    pub(crate) fn of(layout: &TableLayout) -> Result<Self, RewriteError> {
        let schema = layout.arrow_schema();
        let index = |name: &str| {
            schema.index_of(name).map_err(|_| RewriteError::Changelog {
                table: layout.name().to_owned(),
                reason: format!("the history table has no column {name}"),
            })
        };
        Ok(Self {
            is_current: index(IS_CURRENT)?,
            valid_to: index(VALID_TO)?,
            valid_from: index(VALID_FROM)?,
        })
    }
}

/// The changes of `changes` (changelog rows) by key (the columns at `keys`), each key's in
/// source order.
pub(crate) fn versions_by_key(
    layout: &TableLayout,
    keys: &[usize],
    changes: &[RecordBatch],
) -> Result<HashMap<Vec<u8>, Vec<Version>>, RewriteError> {
    let mut by_key: HashMap<Vec<u8>, Vec<Version>> = HashMap::new();
    for (b, batch) in changes.iter().enumerate() {
        let key_values: Vec<ArrayRef> = keys.iter().map(|i| batch.column(*i).clone()).collect();
        let orders = change_order(layout.name(), batch)?;
        for (r, (order, deletes)) in orders.into_iter().enumerate() {
            by_key
                .entry(row_key(&key_values, r))
                .or_default()
                .push(Version {
                    order,
                    batch: b,
                    row: r,
                    deletes,
                });
        }
    }
    for versions in by_key.values_mut() {
        versions.sort_by_key(|v| v.order);
    }
    Ok(by_key)
}

/// `batch` with the current versions of changed keys ended at their key's first change.
pub(crate) fn end_current_versions(
    batch: &RecordBatch,
    keys: &[usize],
    is_current: usize,
    valid_to: usize,
    by_key: &HashMap<Vec<u8>, Vec<Version>>,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let key_values: Vec<ArrayRef> = keys.iter().map(|i| batch.column(*i).clone()).collect();
    let current = batch.column(is_current).as_boolean();
    let until = batch
        .column(valid_to)
        .as_primitive::<TimestampMicrosecondType>();
    let mut new_until: Vec<Option<i64>> = Vec::with_capacity(batch.num_rows());
    let mut new_current: Vec<bool> = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let ended = (current.is_valid(r) && current.value(r))
            .then(|| by_key.get(&row_key(&key_values, r)))
            .flatten()
            .and_then(|versions| versions.first());
        match ended {
            Some(first) => {
                new_until.push(Some(first.order.changed_at));
                new_current.push(false);
            }
            None => {
                new_until.push(until.is_valid(r).then(|| until.value(r)));
                new_current.push(current.is_valid(r) && current.value(r));
            }
        }
    }
    let mut columns = batch.columns().to_vec();
    columns[valid_to] = Arc::new(
        TimestampMicrosecondArray::from(new_until).with_timezone_opt(timezone(batch, valid_to)),
    );
    columns[is_current] = Arc::new(BooleanArray::from(new_current));
    RecordBatch::try_new(batch.schema(), columns)
}

/// The versions taken from one changelog batch: its rows, each with its end and currency.
#[derive(Default)]
struct Picks {
    rows: Vec<u32>,
    until: Vec<Option<i64>>,
    current: Vec<bool>,
}

/// The history rows of the checkpoint's versions, in the history table's schema.
pub(crate) fn new_versions(
    spec: &CdcSpec,
    layout: &TableLayout,
    changes: &[RecordBatch],
    by_key: HashMap<Vec<u8>, Vec<Version>>,
) -> Result<Vec<RecordBatch>, arrow_schema::ArrowError> {
    let mut picks: Vec<Picks> = (0..changes.len()).map(|_| Picks::default()).collect();
    for versions in by_key.values() {
        for (i, v) in versions.iter().enumerate() {
            let next = versions.get(i + 1);
            let (until, current) = match (v.deletes, next) {
                (true, _) => (Some(v.order.changed_at), false),
                (false, Some(next)) => (Some(next.order.changed_at), false),
                (false, None) => (None, true),
            };
            let pick = &mut picks[v.batch];
            pick.rows.push(v.row as u32);
            pick.until.push(until);
            pick.current.push(current);
        }
    }
    let schema = layout.arrow_schema();
    let declared = spec.columns.len();
    let mut out = Vec::new();
    for (batch, pick) in changes.iter().zip(picks) {
        if pick.rows.is_empty() {
            continue;
        }
        let indices = arrow_array::UInt32Array::from(pick.rows);
        let take = |column: &ArrayRef| arrow_select::take::take(column, &indices, None);
        let named = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                arrow_schema::ArrowError::SchemaError(format!("no changelog column {name}"))
            })
        };
        let mut columns: Vec<ArrayRef> = (0..declared)
            .map(|i| take(batch.column(i)))
            .collect::<Result<_, _>>()?;
        columns.push(take(named(OP)?)?);
        columns.push(take(named(CHANGED_AT)?)?);
        let tz = timezone(batch, batch.schema().index_of(CHANGED_AT)?);
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(pick.until).with_timezone_opt(tz),
        ));
        columns.push(Arc::new(BooleanArray::from(pick.current)));
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(out)
}

/// The time zone of the timestamp column `i` of `batch`.
fn timezone(batch: &RecordBatch, i: usize) -> Option<Arc<str>> {
    match batch.schema().field(i).data_type() {
        arrow_schema::DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    }
}
