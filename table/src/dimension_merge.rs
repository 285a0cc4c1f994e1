//! A CDC job's dimension table after one checkpoint, by merge-on-read: the rows the
//! checkpoint's last change per key replaces are marked in a position delete file (found
//! through the [`KeyIndex`], not by reading the table), and the upserted rows are appended,
//! sorted by key. The result is the files to add and the data files their deletes point into,
//! which the checkpoint manifest keeps until the commit.
//!
//! Like the copy-on-write plan (`dimension_rewrite.rs`), it is made on the table as the
//! previous checkpoint left it, and its commit refuses a table in which the files its deletes
//! point into are no longer live.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use arrow_array::cast::AsArray;
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
    let live_paths = live.paths();
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

    let arrow_error = arrow_error(layout);
    let rows = upserted_rows(spec, layout, changes, upserts).map_err(&arrow_error)?;
    let all = arrow_select::concat::concat_batches(&layout.arrow_schema(), &rows)
        .map_err(&arrow_error)?;
    let sorted = sorted_by(&all, &keys).map_err(&arrow_error)?;
    let plan = MergePlan {
        replaced,
        deletes: write_deletes(layout, deleted).await?,
        rows: sorted,
        keys,
        indexed: None,
    };
    write_merge(layout, index, live_paths, plan).await.map(Some)
}

/// A merge's plan, ready to write: the keys whose indexed rows it replaces, the position
/// delete file removing those rows (with the data files it points into), and the new rows
/// sorted, whose keys (the columns at `keys`) the index takes (with `indexed`, the rows of that
/// boolean column only).
pub(crate) struct MergePlan {
    pub replaced: Vec<KeyHash>,
    pub deletes: (Option<DataFile>, Vec<String>),
    pub rows: RecordBatch,
    pub keys: Vec<usize>,
    pub indexed: Option<usize>,
}

/// Writes the position delete file removing `deleted` (data file, position); with the data
/// files it points into.
pub(crate) async fn write_deletes(
    layout: &TableLayout,
    deleted: Vec<(&str, i64)>,
) -> Result<(Option<DataFile>, Vec<String>), RewriteError> {
    let deletes_in: BTreeSet<String> = deleted.iter().map(|(p, _)| (*p).to_owned()).collect();
    let file = layout.write_position_deletes(deleted).await?;
    Ok((file, deletes_in.into_iter().collect()))
}

/// Writes `plan`'s new rows, moves `index` past them (the table's live
/// files then being `live` and the new ones) and describes the files as the manifest keeps them.
pub(crate) async fn write_merge(
    layout: &TableLayout,
    index: &mut KeyIndex,
    mut live: HashSet<String>,
    plan: MergePlan,
) -> Result<TableFiles, RewriteError> {
    let (deletes, deletes_in) = plan.deletes;
    let data = layout.write_data_files(plan.rows.clone()).await?;
    let only = plan.indexed.map(|i| plan.rows.column(i).as_boolean());
    let added = positions_in_files(layout, &data, &plan.rows, &plan.keys, only)?;
    let mut files = data;
    files.extend(deletes);
    live.extend(files.iter().map(|f| f.file_path().to_owned()));
    index.apply(&plan.replaced, &added, live);
    Ok(TableFiles {
        table: layout.name().to_owned(),
        data_files: layout.data_files_to_json(&files)?,
        rows: plan.rows.num_rows() as u64,
        removed: Vec::new(),
        deletes_in,
    })
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
fn positions_in_files(
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
