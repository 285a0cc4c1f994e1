//! Compaction of a merge-on-read table: data files that lost enough of their rows to position
//! deletes are rewritten without them, and small files with them; delete files whose every
//! target is rewritten (or gone) leave the table in the same `replace` snapshot. Once delete
//! files pile up, every file they point into is rewritten, so that readers apply a bounded
//! number of them.
//!
//! Planning is pure ([`plan_delete_compaction`]). The files are written beside the stream and
//! committed at a quiet point of the committer (`delete_compaction_commit.rs`), carrying over
//! the deletes added meanwhile.

use std::collections::{HashMap, HashSet};

use arrow_array::BooleanArray;
use floe_common::maintenance::MaintenancePolicy;
use iceberg::spec::DataFile;

use super::compaction::Compaction;
use super::row_moves::RowMoves;
use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{CommitStaged, Overwrite};
use crate::position_deletes::{DeletedRows, LiveFiles};

/// A data file whose deleted share reaches this is rewritten without its deleted rows.
const DELETED_SHARE: f64 = 0.2;
/// Files under this share of the target size count as small.
const SMALL_SHARE: f64 = 0.75;

/// A live data file as planning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileFacts {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// Its rows the live position deletes remove.
    pub deleted: u64,
}

/// What to rewrite and which delete files then go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletePlan {
    pub rewrite: Vec<String>,
    pub drop_deletes: Vec<String>,
}

/// The plan for a table of `data` files and `deletes` (each delete file's path and the data
/// files it points into). Rewritten: files at [`DELETED_SHARE`] deleted, small files when at
/// least `min_files` are (up to `max_bytes`), and every file a delete points into once there
/// are `min_files` delete files. Dropped: delete files pointing only into rewritten or gone
/// files.
pub fn plan_delete_compaction(
    data: &[DataFileFacts],
    deletes: &[(String, HashSet<String>)],
    target: u64,
    min_files: usize,
    max_bytes: u64,
) -> DeletePlan {
    let mut rewrite: HashSet<&str> = data
        .iter()
        .filter(|f| f.rows > 0 && f.deleted as f64 >= f.rows as f64 * DELETED_SHARE)
        .map(|f| f.path.as_str())
        .collect();
    let small: Vec<&DataFileFacts> = data
        .iter()
        .filter(|f| (f.bytes as f64) < target as f64 * SMALL_SHARE)
        .collect();
    if small.len() >= min_files {
        let mut budget = max_bytes;
        for f in small {
            if f.bytes > budget {
                break;
            }
            budget -= f.bytes;
            rewrite.insert(&f.path);
        }
    }
    let live: HashSet<&str> = data.iter().map(|f| f.path.as_str()).collect();
    if deletes.len() >= min_files {
        for (_, targets) in deletes {
            rewrite.extend(
                targets
                    .iter()
                    .map(String::as_str)
                    .filter(|t| live.contains(t)),
            );
        }
    }
    let drop_deletes = deletes
        .iter()
        .filter(|(_, targets)| {
            targets
                .iter()
                .all(|t| rewrite.contains(t.as_str()) || !live.contains(t.as_str()))
        })
        .map(|(path, _)| path.clone())
        .collect();
    let mut rewrite: Vec<String> = rewrite.into_iter().map(str::to_owned).collect();
    rewrite.sort();
    // A lone small file with nothing deleted in it is not worth a rewrite.
    if rewrite.len() == 1 && data.iter().any(|f| f.path == rewrite[0] && f.deleted == 0) {
        rewrite.clear();
    }
    DeletePlan {
        rewrite,
        drop_deletes,
    }
}

/// A merge-on-read compaction whose files are written, not committed yet.
#[derive(Debug)]
pub struct PreparedDeleteCompaction {
    /// The rewritten data files and the dropped delete files, and the files written.
    pub(crate) rewrite: Overwrite,
    /// The delete files live when it was planned (all applied).
    pub(crate) known: HashSet<String>,
    /// Where the kept rows went; `None` when that cannot be told (a partitioned table).
    pub(crate) moves: Option<RowMoves>,
    pub(crate) done: Compaction,
}

impl PreparedDeleteCompaction {
    /// What it rewrites and writes.
    pub fn done(&self) -> Compaction {
        self.done.clone()
    }
}

impl IcebergTable {
    /// Compacts the table as a merge-on-read table (see the module) now; `None` when there is
    /// nothing to do. With `dry_run`, only plans.
    pub async fn compact_with_deletes(
        &self,
        policy: &MaintenancePolicy,
        via: &dyn CommitStaged,
        dry_run: bool,
    ) -> Result<Option<Compaction>, TableError> {
        let Some(prepared) = self.prepare_delete_compaction(policy, dry_run).await? else {
            return Ok(None);
        };
        let done = prepared.done();
        if !dry_run {
            self.commit_delete_compaction(prepared, via).await?;
        }
        Ok(Some(done))
    }

    /// Plans a merge-on-read compaction on the table as it is and writes its files, beside
    /// the stream; [`Self::commit_delete_compaction`] commits them. With `dry_run`, only plans
    /// (and the result is not to be committed).
    pub async fn prepare_delete_compaction(
        &self,
        policy: &MaintenancePolicy,
        dry_run: bool,
    ) -> Result<Option<PreparedDeleteCompaction>, TableError> {
        let base = self.reload().await?;
        let fail = |e| self.maintenance_failed("planning a compaction with deletes", e);
        let live = LiveFiles::of(&base).await.map_err(fail)?;
        let layout = self
            .layout()
            .clone()
            .with_target_file_bytes(policy.target_file_bytes);
        let mut targets: Vec<(String, HashSet<String>)> = Vec::new();
        let mut deleted = DeletedRows::new();
        for file in &live.deletes {
            let rows = layout
                .read_position_deletes(std::slice::from_ref(file))
                .await?;
            targets.push((file.file_path().to_owned(), rows.keys().cloned().collect()));
            for (path, positions) in rows {
                deleted.entry(path).or_default().extend(positions);
            }
        }
        let facts: Vec<DataFileFacts> = live
            .data
            .iter()
            .map(|f| DataFileFacts {
                path: f.file_path().to_owned(),
                rows: f.record_count(),
                bytes: f.file_size_in_bytes(),
                deleted: deleted.get(f.file_path()).map_or(0, |d| d.len() as u64),
            })
            .collect();
        let plan = plan_delete_compaction(
            &facts,
            &targets,
            policy.target_file_bytes,
            policy.compact_min_files,
            policy.compact_max_bytes,
        );
        if plan.rewrite.is_empty() && plan.drop_deletes.is_empty() {
            return Ok(None);
        }
        let by_path: HashMap<&str, &DataFile> =
            live.data.iter().map(|f| (f.file_path(), f)).collect();
        let mut done = Compaction {
            files_rewritten: plan.rewrite.len(),
            bytes_rewritten: plan
                .rewrite
                .iter()
                .filter_map(|p| by_path.get(p.as_str()))
                .map(|f| f.file_size_in_bytes())
                .sum(),
            files_written: 0,
        };
        let known: HashSet<String> = targets.into_iter().map(|(path, _)| path).collect();
        if dry_run {
            return Ok(Some(PreparedDeleteCompaction {
                rewrite: Overwrite::default(),
                known,
                moves: None,
                done,
            }));
        }
        let fail = |e: arrow_schema::ArrowError| {
            TableError::InvalidArgument(format!("compacting {}: {e}", self.ident))
        };
        let mut batches = Vec::new();
        let mut read = Vec::new();
        for path in &plan.rewrite {
            let gone = deleted.get(path);
            let mut row = 0i64;
            for batch in layout.read_data_file(path, None).await? {
                let kept: BooleanArray = (row..row + batch.num_rows() as i64)
                    .map(|r| Some(!gone.is_some_and(|g| g.contains(&r))))
                    .collect();
                row += batch.num_rows() as i64;
                batches
                    .push(arrow_select::filter::filter_record_batch(&batch, &kept).map_err(fail)?);
            }
            let gone: Vec<i64> = gone
                .map(|g| g.iter().copied().collect())
                .unwrap_or_default();
            read.push((path.clone(), u64::try_from(row).unwrap_or(0), gone));
        }
        let rows =
            arrow_select::concat::concat_batches(&layout.arrow_schema(), &batches).map_err(fail)?;
        let rewrite = Overwrite {
            removed: plan
                .rewrite
                .iter()
                .chain(&plan.drop_deletes)
                .cloned()
                .collect(),
            added: layout.write_data_files(rows).await?,
            ..Default::default()
        };
        done.files_written = rewrite.added.len();
        let moves = base
            .metadata()
            .default_partition_spec()
            .is_unpartitioned()
            .then(|| {
                let written = rewrite
                    .added
                    .iter()
                    .map(|f| (f.file_path().to_owned(), f.record_count()))
                    .collect();
                RowMoves::new(read, written)
            })
            .flatten();
        Ok(Some(PreparedDeleteCompaction {
            rewrite,
            known,
            moves,
            done,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, rows: u64, bytes: u64, deleted: u64) -> DataFileFacts {
        DataFileFacts {
            path: path.into(),
            rows,
            bytes,
            deleted,
        }
    }

    fn targets(path: &str, into: &[&str]) -> (String, HashSet<String>) {
        (path.into(), into.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn files_mostly_deleted_are_rewritten_and_deletes_pointing_only_there_dropped() {
        let data = [
            file("a", 100, 1000, 30),
            file("b", 100, 1000, 5),
            file("c", 100, 1000, 0),
        ];
        let deletes = [targets("d1", &["a"]), targets("d2", &["a", "b"])];
        let plan = plan_delete_compaction(&data, &deletes, 1000, 10, u64::MAX);
        assert_eq!(plan.rewrite, vec!["a".to_string()]);
        assert_eq!(plan.drop_deletes, vec!["d1".to_string()]);
    }

    #[test]
    fn many_delete_files_fold_into_every_file_they_point_into() {
        let data = [
            file("a", 100, 1000, 1),
            file("b", 100, 1000, 1),
            file("c", 100, 1000, 0),
        ];
        let deletes = [
            targets("d1", &["a"]),
            targets("d2", &["b", "gone"]),
            targets("d3", &["gone"]),
        ];
        let plan = plan_delete_compaction(&data, &deletes, 1000, 3, u64::MAX);
        assert_eq!(plan.rewrite, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(plan.drop_deletes.len(), 3);
        let few = plan_delete_compaction(&data, &deletes, 1000, 4, u64::MAX);
        assert_eq!(few.rewrite, Vec::<String>::new());
        assert_eq!(few.drop_deletes, vec!["d3".to_string()], "dangling only");
    }

    #[test]
    fn small_files_join_once_there_are_enough() {
        let data = [
            file("s1", 10, 10, 0),
            file("s2", 10, 10, 0),
            file("big", 100, 1000, 0),
        ];
        assert_eq!(
            plan_delete_compaction(&data, &[], 1000, 2, u64::MAX).rewrite,
            vec!["s1".to_string(), "s2".to_string()]
        );
        assert_eq!(
            plan_delete_compaction(&data, &[], 1000, 3, u64::MAX),
            DeletePlan::default()
        );
    }
}
