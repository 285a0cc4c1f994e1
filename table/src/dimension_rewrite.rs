//! A CDC job's dimension table after one checkpoint: the last change per primary key among the
//! checkpoint's changelog rows, applied by copy-on-write. The live files holding a changed key
//! (and small files, so inserts do not pile up as tiny files) are rewritten without the changed
//! keys' old rows; the upserted rows join them, sorted by key. The result is the files to add
//! and the paths they replace, which the checkpoint manifest keeps until the overwrite commits.
//!
//! The rewrite is planned on the table as the previous checkpoint left it: checkpoints are
//! completed and committed one after another, and the overwrite's commit refuses a table whose
//! replaced files are no longer live.

use crate::{DataFileError, TableLayout};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow_schema::DataType;
use floe_common::append::{KAFKA_OFFSET, KAFKA_PARTITION};
use floe_common::cdc::{CdcSpec, ChangeOrder, LatestChanges, CHANGED_AT, OP, SOURCE_LSN};
use floe_common::checkpoint::TableFiles;
use iceberg::spec::DataFile;
use iceberg::table::Table;

/// Why a checkpoint's changes could not be turned into a rewrite of the dimension table.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(transparent)]
    Sink(#[from] DataFileError),
    #[error("listing the live files of {table}: {source}")]
    Listing {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("{table} has position delete files (a merge-on-read table): copy-on-write needs them applied first; run `floe maintain` to compact them, or keep sink.cdc_mode = \"merge-on-read\"")]
    HasDeletes { table: String },
    #[error("changelog rows of {table} do not fit its job: {reason}")]
    Changelog { table: String, reason: String },
    #[error("building the rows of {table}: {source}")]
    Arrow {
        table: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// Files below this share of the target size are rewritten with any change, so that the
/// inserts of many checkpoints merge instead of piling up as small files.
const SMALL_FILE_SHARE: u64 = 4;

/// A checkpoint's changelog rows ([`CdcSpec::changelog`]), read back from its files.
pub async fn read_changelog(
    changelog: &TableLayout,
    changes: &TableFiles,
) -> Result<Vec<RecordBatch>, RewriteError> {
    let mut batches = Vec::new();
    for file in changelog.data_files_from_json(&changes.data_files)? {
        batches.extend(changelog.read_data_file(file.file_path(), None).await?);
    }
    Ok(batches)
}

/// The rewrite of `base` (the dimension table, written through `layout`) that applies the
/// changelog rows `changes`; `None` when they hold no change.
pub async fn rewrite_dimension(
    spec: &CdcSpec,
    base: &Table,
    layout: &TableLayout,
    changes: &[RecordBatch],
) -> Result<Option<TableFiles>, RewriteError> {
    let key_columns = key_columns(spec, layout)?;
    let latest = latest_changes(layout.name(), &key_columns, changes)?;
    if latest.is_empty() {
        return Ok(None);
    }
    let replaced = files_to_rewrite(base, layout, &key_columns, |keys, r| {
        latest.contains(&row_key(keys, r))
    })
    .await?;
    let arrow_error = arrow_error(layout);
    let mut rows: Vec<RecordBatch> = Vec::new();
    for file in &replaced {
        for batch in layout.read_data_file(file.file_path(), None).await? {
            let keys: Vec<ArrayRef> = key_columns
                .iter()
                .map(|i| batch.column(*i).clone())
                .collect();
            let kept: BooleanArray = (0..batch.num_rows())
                .map(|r| Some(!latest.contains(&row_key(&keys, r))))
                .collect();
            rows.push(
                arrow_select::filter::filter_record_batch(&batch, &kept).map_err(&arrow_error)?,
            );
        }
    }
    let upserts = latest.into_rows().map(|(_, change)| change);
    rows.extend(upserted_rows(spec, layout, changes, upserts).map_err(&arrow_error)?);
    write_rewrite(layout, &rows, &key_columns, &replaced)
        .await
        .map(Some)
}

/// Arrow's errors while rewriting the table of `layout`.
pub(crate) fn arrow_error(
    layout: &TableLayout,
) -> impl Fn(arrow_schema::ArrowError) -> RewriteError + '_ {
    |source| RewriteError::Arrow {
        table: layout.name().to_owned(),
        source,
    }
}

/// The key's columns, in the table's column order (which a read of the key columns alone
/// keeps). The declared columns come first in every table of a CDC job, so an index means the
/// same column in the changelog, the dimension and the history.
pub(crate) fn key_columns(
    spec: &CdcSpec,
    layout: &TableLayout,
) -> Result<Vec<usize>, RewriteError> {
    let mut columns = column_indexes(layout, &spec.key)?;
    columns.sort_unstable();
    Ok(columns)
}

/// The live files of `base` a rewrite replaces: the small ones, and those holding a row for
/// which `touched(columns, row)` says yes (`columns` being the table's columns at `read`).
pub(crate) async fn files_to_rewrite(
    base: &Table,
    layout: &TableLayout,
    read: &[usize],
    touched: impl Fn(&[ArrayRef], usize) -> bool,
) -> Result<Vec<DataFile>, RewriteError> {
    let target = layout.target_file_bytes() as u64;
    let live = crate::position_deletes::LiveFiles::of(base)
        .await
        .map_err(|source| RewriteError::Listing {
            table: layout.name().to_owned(),
            source,
        })?;
    if !live.deletes.is_empty() {
        return Err(RewriteError::HasDeletes {
            table: layout.name().to_owned(),
        });
    }
    let live = live.data;
    let mut replaced = Vec::new();
    for file in live {
        if file.file_size_in_bytes() < target / SMALL_FILE_SHARE {
            replaced.push(file);
            continue;
        }
        let batches = layout.read_data_file(file.file_path(), Some(read)).await?;
        let hit = batches.iter().any(|b| {
            let columns: Vec<ArrayRef> = b.columns().to_vec();
            (0..b.num_rows()).any(|r| touched(&columns, r))
        });
        if hit {
            replaced.push(file);
        }
    }
    Ok(replaced)
}

/// Writes `rows` sorted by the columns at `sort` as the files replacing `replaced`.
pub(crate) async fn write_rewrite(
    layout: &TableLayout,
    rows: &[RecordBatch],
    sort: &[usize],
    replaced: &[DataFile],
) -> Result<TableFiles, RewriteError> {
    let arrow_error = arrow_error(layout);
    let all =
        arrow_select::concat::concat_batches(&layout.arrow_schema(), rows).map_err(&arrow_error)?;
    let sorted = sorted_by(&all, sort).map_err(&arrow_error)?;
    let mut files = layout
        .write_table_files(sorted)
        .await?
        .unwrap_or(TableFiles {
            table: layout.name().to_owned(),
            ..TableFiles::default()
        });
    files.removed = replaced.iter().map(|f| f.file_path().to_owned()).collect();
    Ok(files)
}

/// Where a change's row is: its batch and row among the changelog batches, and whether it
/// deletes its key.
pub(crate) type ChangeRow = (usize, usize, bool);

/// The last change per key among `batches` (changelog rows, [`CdcSpec::changelog`]), keyed by
/// the columns at `key_columns`.
pub(crate) fn latest_changes(
    table: &str,
    key_columns: &[usize],
    batches: &[RecordBatch],
) -> Result<LatestChanges<Vec<u8>, ChangeRow>, RewriteError> {
    let mut latest = LatestChanges::default();
    for (b, batch) in batches.iter().enumerate() {
        let keys: Vec<ArrayRef> = key_columns
            .iter()
            .map(|i| batch.column(*i).clone())
            .collect();
        for (r, (order, deletes)) in change_order(table, batch)?.into_iter().enumerate() {
            latest.add(row_key(&keys, r), order, (b, r, deletes));
        }
    }
    Ok(latest)
}

/// Where each changelog row of `batch` stands in its source, and whether it deletes its key.
pub(crate) fn change_order(
    table: &str,
    batch: &RecordBatch,
) -> Result<Vec<(ChangeOrder, bool)>, RewriteError> {
    let bad = |reason: String| RewriteError::Changelog {
        table: table.to_owned(),
        reason,
    };
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| bad(format!("no column {name}")))
    };
    let op = column(OP)?
        .as_string_opt::<i32>()
        .ok_or_else(|| bad(format!("{OP} is not a string")))?;
    let changed_at = column(CHANGED_AT)?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| bad(format!("{CHANGED_AT} is not a timestamp")))?;
    let lsn = column(SOURCE_LSN)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad(format!("{SOURCE_LSN} is not a long")))?;
    let partition = column(KAFKA_PARTITION)?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| bad(format!("{KAFKA_PARTITION} is not an int")))?;
    let offset = column(KAFKA_OFFSET)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad(format!("{KAFKA_OFFSET} is not a long")))?;
    Ok((0..batch.num_rows())
        .map(|r| {
            let order = ChangeOrder {
                source_position: lsn.is_valid(r).then(|| lsn.value(r)),
                changed_at: changed_at.value(r),
                partition: partition.value(r),
                offset: offset.value(r),
            };
            (order, op.is_valid(r) && op.value(r) == "d")
        })
        .collect())
}

/// The dimension rows of the latest changes that keep their key: the declared columns as the
/// changelog holds them, and `updated_at` from the change's time.
pub(crate) fn upserted_rows(
    spec: &CdcSpec,
    layout: &TableLayout,
    batches: &[RecordBatch],
    latest: impl IntoIterator<Item = ChangeRow>,
) -> Result<Vec<RecordBatch>, arrow_schema::ArrowError> {
    let mut picks: Vec<Vec<u32>> = vec![Vec::new(); batches.len()];
    for (b, r, deletes) in latest {
        if !deletes {
            picks[b].push(r as u32);
        }
    }
    let schema = layout.arrow_schema();
    let declared = spec.columns.len();
    let mut out = Vec::new();
    for (batch, rows) in batches.iter().zip(picks) {
        if rows.is_empty() {
            continue;
        }
        let indices = UInt32Array::from(rows);
        let mut columns = Vec::with_capacity(declared + 1);
        for i in 0..declared {
            columns.push(arrow_select::take::take(batch.column(i), &indices, None)?);
        }
        let changed_at = batch.column_by_name(CHANGED_AT).ok_or_else(|| {
            arrow_schema::ArrowError::SchemaError(format!("no column {CHANGED_AT}"))
        })?;
        columns.push(arrow_select::take::take(changed_at, &indices, None)?);
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(out)
}

/// `batch` sorted by the columns at `by` (so each rewritten file covers a narrow key range).
pub(crate) fn sorted_by(
    batch: &RecordBatch,
    by: &[usize],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let columns: Vec<arrow_ord::sort::SortColumn> = by
        .iter()
        .map(|i| arrow_ord::sort::SortColumn {
            values: batch.column(*i).clone(),
            options: None,
        })
        .collect();
    let indices = arrow_ord::sort::lexsort_to_indices(&columns, None)?;
    arrow_select::take::take_record_batch(batch, &indices)
}

/// The indexes of `names` among the table's columns.
fn column_indexes(layout: &TableLayout, names: &[String]) -> Result<Vec<usize>, RewriteError> {
    let schema = layout.arrow_schema();
    names
        .iter()
        .map(|n| {
            schema.index_of(n).map_err(|_| RewriteError::Changelog {
                table: layout.name().to_owned(),
                reason: format!("the table has no key column {n}"),
            })
        })
        .collect()
}

/// The key of row `r` of `columns` as bytes that are equal exactly when the values are: a tag
/// per column (null, or the value's kind) then the value, strings with their length.
pub(crate) fn row_key(columns: &[ArrayRef], r: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(24);
    for column in columns {
        if column.is_null(r) {
            key.push(0);
            continue;
        }
        match column.data_type() {
            DataType::Utf8 => {
                let s = column.as_string::<i32>().value(r);
                key.push(1);
                key.extend_from_slice(&(s.len() as u64).to_le_bytes());
                key.extend_from_slice(s.as_bytes());
            }
            DataType::Int64 => {
                key.push(2);
                key.extend_from_slice(&column.as_primitive::<Int64Type>().value(r).to_le_bytes());
            }
            DataType::Timestamp(..) => {
                key.push(3);
                let v = column.as_primitive::<TimestampMicrosecondType>().value(r);
                key.extend_from_slice(&v.to_le_bytes());
            }
            DataType::Boolean => {
                key.push(4);
                key.push(u8::from(column.as_boolean().value(r)));
            }
            other => {
                // Keys are validated to strings, longs, timestamps and booleans.
                key.push(5);
                key.extend_from_slice(format!("{other:?}").as_bytes());
            }
        }
    }
    key
}

/// The data files live in `table`'s current snapshot.
pub async fn live_data_files(table: &Table) -> Result<Vec<DataFile>, iceberg::Error> {
    Ok(crate::position_deletes::LiveFiles::of(table).await?.data)
}

#[cfg(test)]
#[path = "dimension_rewrite_tests.rs"]
mod tests;
