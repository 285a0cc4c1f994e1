//! A CDC job's dimension table after one checkpoint, by merge-on-read: the rows the
//! checkpoint's last change per key replaces are marked in a position delete file (found
//! through the [`KeyIndex`], not by reading the table), and the upserted rows are appended,
//! sorted by key. The result is the files to add and the data files their deletes point into,
//! which the checkpoint manifest keeps until the commit.
//!
//! Like the copy-on-write plan (`dimension_rewrite.rs`), it is made on the table as the
//! previous checkpoint left it, and its commit refuses a table in which the files its deletes
//! point into are no longer live.

use std::collections::BTreeSet;
use std::time::Instant;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use floe_common::cdc::CdcSpec;
use floe_common::checkpoint::TableFiles;
use iceberg::spec::DataFile;
use iceberg::table::Table;

use crate::dimension_rewrite::{
    arrow_error, key_columns, latest_changes, row_key, sorted_by, upserted_rows, RewriteError,
};
use crate::key_index::{key_hash, FileRows, KeyHash, KeyIndex};
use crate::position_deletes::LiveFiles;
use crate::TableLayout;

/// The merge of the changelog rows `changes` into `base` (the dimension table, written through
/// `layout`); `None` when they hold no change. `index` is the table's key index: built here
/// when missing or out of step with `base`, and moved past the plan once its files are
/// written.
pub async fn merge_dimension(
    spec: &CdcSpec,
    base: &Table,
    layout: &TableLayout,
    changes: &[RecordBatch],
    index: &mut Option<KeyIndex>,
) -> Result<Option<TableFiles>, RewriteError> {
    let keys = key_columns(spec, layout)?;
    let latest = latest_changes(layout.name(), &keys, changes)?;
    if latest.is_empty() {
        return Ok(None);
    }
    let live = live_files(base, layout).await?;
    let mut live_paths = live.paths();
    let index = match index {
        Some(index) if index.is_current_for(&live_paths) => index,
        _ => index.insert(build_key_index(layout, &keys, None, &live).await?),
    };

    let mut replaced: Vec<KeyHash> = Vec::with_capacity(latest.len());
    let mut upserts = Vec::with_capacity(latest.len());
    for (key, change) in latest.into_rows() {
        replaced.push(key_hash(&key));
        upserts.push(change);
    }
    let deleted: Vec<(&str, i64)> = replaced.iter().filter_map(|k| index.position(*k)).collect();
    let deletes_in: BTreeSet<String> = deleted.iter().map(|(p, _)| (*p).to_owned()).collect();

    let arrow_error = arrow_error(layout);
    let rows = upserted_rows(spec, layout, changes, upserts).map_err(&arrow_error)?;
    let all = arrow_select::concat::concat_batches(&layout.arrow_schema(), &rows)
        .map_err(&arrow_error)?;
    let sorted = sorted_by(&all, &keys).map_err(&arrow_error)?;
    let data = layout.write_data_files(sorted.clone()).await?;
    let deletes = layout.write_position_deletes(deleted).await?;

    let added = positions_in_files(layout, &data, &sorted, &keys, None)?;
    let mut files: Vec<_> = data;
    files.extend(deletes);
    live_paths.extend(files.iter().map(|f| f.file_path().to_owned()));
    index.apply(&replaced, &added, live_paths);
    Ok(Some(TableFiles {
        table: layout.name().to_owned(),
        data_files: layout.data_files_to_json(&files)?,
        rows: sorted.num_rows() as u64,
        removed: Vec::new(),
        deletes_in: deletes_in.into_iter().collect(),
    }))
}

/// The key index of `base` (the dimension table of `spec`, written through `layout`), built
/// from its live files: what a restarted job does before its first merge.
pub async fn key_index_of(
    spec: &CdcSpec,
    base: &Table,
    layout: &TableLayout,
) -> Result<KeyIndex, RewriteError> {
    let keys = key_columns(spec, layout)?;
    build_key_index(layout, &keys, None, &live_files(base, layout).await?).await
}

/// Where the rows of `sorted` went among `data`, the files written from it: per file, each
/// row's key (the columns at `keys`) and position; with `only`, the rows it marks true alone.
/// The rolling writer fills its files in the rows' order, so file by file they are the rows.
pub(crate) fn positions_in_files(
    layout: &TableLayout,
    data: &[DataFile],
    sorted: &RecordBatch,
    keys: &[usize],
    only: Option<&BooleanArray>,
) -> Result<Vec<FileRows>, RewriteError> {
    let key_values: Vec<ArrayRef> = keys.iter().map(|i| sorted.column(*i).clone()).collect();
    let mut added = Vec::with_capacity(data.len());
    let mut next = 0usize;
    for file in data {
        let n = file.record_count() as usize;
        let file_keys = (next..(next + n).min(sorted.num_rows()))
            .filter(|r| only.is_none_or(|o| o.is_valid(*r) && o.value(*r)))
            .map(|r| (key_hash(&row_key(&key_values, r)), (r - next) as u32))
            .collect();
        added.push((file.file_path().to_owned(), file_keys));
        next += n;
    }
    if next != sorted.num_rows() {
        return Err(RewriteError::Changelog {
            table: layout.name().to_owned(),
            reason: format!(
                "the new data files hold {next} rows of the {} written",
                sorted.num_rows()
            ),
        });
    }
    Ok(added)
}

pub(crate) async fn live_files(
    base: &Table,
    layout: &TableLayout,
) -> Result<LiveFiles, RewriteError> {
    LiveFiles::of(base)
        .await
        .map_err(|source| RewriteError::Listing {
            table: layout.name().to_owned(),
            source,
        })
}

pub(crate) async fn build_key_index(
    layout: &TableLayout,
    keys: &[usize],
    current: Option<usize>,
    live: &LiveFiles,
) -> Result<KeyIndex, RewriteError> {
    let started = Instant::now();
    let built = KeyIndex::build(layout, keys, current, live, row_key).await?;
    tracing::info!(
        table = layout.name(),
        keys = built.len(),
        data_files = live.data.len(),
        delete_files = live.deletes.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "built the key index of the dimension table"
    );
    Ok(built)
}
