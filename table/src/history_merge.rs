//! A CDC job's history table (SCD type 2) after one checkpoint, by merge-on-read: each changed
//! key's current version is ended by a position delete of its row and an appended copy with
//! `valid_to` set and `is_current` false; the checkpoint's versions are appended, as the
//! copy-on-write plan (`history_rewrite.rs`) makes them. The current versions are found
//! through a [`KeyIndex`] of the rows with `is_current`, and only those rows are read back.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use floe_common::cdc::CdcSpec;
use floe_common::checkpoint::TableFiles;
use iceberg::table::Table;

use crate::dimension_merge::{build_key_index, live_files, write_deletes, write_merge, MergePlan};
use crate::dimension_rewrite::{arrow_error, key_columns, sorted_by, RewriteError};
use crate::history_rewrite::{end_current_versions, new_versions, versions_by_key, HistoryColumns};
use crate::key_index::{key_hash, KeyHash, KeyIndex};
use crate::TableLayout;

/// The versions of the changelog rows `changes` merged into `base` (the history table, written
/// through `layout`); `None` when they hold no change. `index` holds where each key's current
/// version is: built when missing or out of step with `base`, moved past the plan once its
/// files are written.
pub async fn merge_history(
    spec: &CdcSpec,
    base: &Table,
    layout: &TableLayout,
    changes: &[RecordBatch],
    index: &mut Option<KeyIndex>,
) -> Result<Option<TableFiles>, RewriteError> {
    let keys = key_columns(spec, layout)?;
    let by_key = versions_by_key(layout, &keys, changes)?;
    if by_key.is_empty() {
        return Ok(None);
    }
    let columns = HistoryColumns::of(layout)?;
    let live = live_files(base, layout).await?;
    let live_paths = live.paths();
    let index = match index {
        Some(index) if index.is_current_for(&live_paths) => index,
        _ => index.insert(build_key_index(layout, &keys, Some(columns.is_current), &live).await?),
    };

    let replaced: Vec<KeyHash> = by_key.keys().map(|k| key_hash(k)).collect();
    let mut ended: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for key in &replaced {
        if let Some((path, row)) = index.position(*key) {
            ended.entry(path).or_default().push(row as u32);
        }
    }
    let arrow_error = arrow_error(layout);
    let mut rows: Vec<RecordBatch> = Vec::new();
    let mut deleted: Vec<(&str, i64)> = Vec::new();
    for (path, positions) in &mut ended {
        positions.sort_unstable();
        deleted.extend(positions.iter().map(|r| (*path, i64::from(*r))));
        for batch in layout.read_rows(path, positions).await? {
            rows.push(
                end_current_versions(&batch, &keys, columns.is_current, columns.valid_to, &by_key)
                    .map_err(&arrow_error)?,
            );
        }
    }
    rows.extend(new_versions(spec, layout, changes, by_key).map_err(&arrow_error)?);
    let all = arrow_select::concat::concat_batches(&layout.arrow_schema(), &rows)
        .map_err(&arrow_error)?;
    let mut sort = keys.clone();
    sort.push(columns.valid_from);
    let plan = MergePlan {
        replaced,
        deletes: write_deletes(layout, deleted).await?,
        rows: sorted_by(&all, &sort).map_err(&arrow_error)?,
        keys,
        indexed: Some(columns.is_current),
    };
    write_merge(layout, index, live_paths, plan).await.map(Some)
}
