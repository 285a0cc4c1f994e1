//! Committing a merge-on-read compaction written beside the stream. The stream went on while
//! its files were written, so the table may have position deletes the compaction did not
//! apply: each of their rows in a rewritten file is found in the new files ([`RowMoves`]) and
//! deleted there, in a delete file committed in the same `replace` snapshot. A delete file
//! pointing only into rewritten files is then dropped. Without the moves (a partitioned
//! table), such deletes make the commit refused, and it is planned again.

use std::collections::{BTreeSet, HashMap, HashSet};

use iceberg::spec::Operation;

use super::delete_compaction::PreparedDeleteCompaction;
use super::row_moves::RowMoves;
use super::MAINTENANCE_PROPERTY;
use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{stage_change, CommitStaged, Overwrite};
use crate::position_deletes::LiveFiles;

/// What a merge-on-read compaction committed.
#[derive(Debug)]
pub struct DeleteCompactionCommitted {
    /// The table's live files (data and deletes) before and after the commit.
    pub live_before: HashSet<String>,
    pub live_after: HashSet<String>,
    /// Where the kept rows went, when that is known.
    pub moves: Option<RowMoves>,
    /// Rows deleted in the new files for deletes added while the compaction ran.
    pub deletes_carried: usize,
}

impl IcebergTable {
    /// Commits `prepared` on the table as this process's last commit left it, carrying over
    /// the deletes added since it was planned. If it surely did not land, its files are deleted.
    pub async fn commit_delete_compaction(
        &self,
        prepared: PreparedDeleteCompaction,
        via: &dyn CommitStaged,
    ) -> Result<DeleteCompactionCommitted, TableError> {
        let what = "committing a compaction";
        floe_common::failpoint::hit_counted("compaction-before-commit");
        let mut written: Vec<String> = prepared
            .rewrite
            .added
            .iter()
            .map(|f| f.file_path().to_owned())
            .collect();
        let result = self
            .commit_delete_compaction_in_turn(what, prepared, via, &mut written)
            .await;
        if result.as_ref().is_err_and(TableError::commit_surely_failed) {
            self.delete_files(what, &self.layout().file_io, written)
                .await;
        }
        result
    }

    async fn commit_delete_compaction_in_turn(
        &self,
        what: &str,
        prepared: PreparedDeleteCompaction,
        via: &dyn CommitStaged,
        written: &mut Vec<String>,
    ) -> Result<DeleteCompactionCommitted, TableError> {
        let conflict = |why: &str| {
            self.maintenance_failed(
                what,
                iceberg::Error::new(iceberg::ErrorKind::CatalogCommitConflicts, why.to_owned()),
            )
        };
        let _turn = self.commit_turn.lock().await;
        let base = self.base_for_commit().await?;
        let live = LiveFiles::of(&base)
            .await
            .map_err(|e| self.maintenance_failed(what, e))?;
        let live_before = live.paths();
        let PreparedDeleteCompaction {
            rewrite,
            known,
            moves,
            ..
        } = prepared;
        if !rewrite.removed.iter().all(|p| live_before.contains(p)) {
            self.forget_base();
            return Err(conflict(
                "files it rewrites are gone since it was planned; it is planned again",
            ));
        }
        let fresh: Vec<_> = live
            .deletes
            .iter()
            .filter(|d| !known.contains(d.file_path()))
            .cloned()
            .collect();
        let mut change = rewrite;
        let mut deletes_carried = 0;
        if !fresh.is_empty() {
            let Some(moves) = &moves else {
                return Err(conflict(
                    "position deletes were added since it was planned; it is planned again",
                ));
            };
            let carried = self.carry_deletes(&fresh, moves).await?;
            deletes_carried = carried.rows.len();
            change.removed.extend(carried.dropped);
            let rows = carried
                .rows
                .iter()
                .map(|(to, pos)| (moves.new_path(*to), *pos))
                .collect();
            if let Some(file) = self.layout().write_position_deletes(rows).await? {
                written.push(file.file_path().to_owned());
                change.added.push(file);
            }
        }
        let summary = HashMap::from([(MAINTENANCE_PROPERTY.to_owned(), "compaction".to_owned())]);
        let staged = stage_change(&base, &change, Operation::Replace, summary, Vec::new())
            .await
            .map_err(|e| self.maintenance_failed(what, e))?;
        self.commit_staged_pinned(what, &base, via, staged).await?;
        let live_after = live_after(&live_before, &change);
        Ok(DeleteCompactionCommitted {
            live_before,
            live_after,
            moves,
            deletes_carried,
        })
    }

    /// The rows the delete files `fresh` delete in files `moves` rewrote, at their new places,
    /// and those of `fresh` that point only into rewritten files.
    async fn carry_deletes(
        &self,
        fresh: &[iceberg::spec::DataFile],
        moves: &RowMoves,
    ) -> Result<CarriedDeletes, TableError> {
        let mut carried = CarriedDeletes::default();
        for file in fresh {
            let rows = self
                .layout()
                .read_position_deletes(std::slice::from_ref(file))
                .await?;
            let mut elsewhere = false;
            for (path, positions) in rows {
                let Some(from) = moves.rewritten_index(&path) else {
                    elsewhere = true;
                    continue;
                };
                carried
                    .rows
                    .extend(positions.into_iter().filter_map(|p| moves.moved(from, p)));
            }
            if !elsewhere {
                carried.dropped.insert(file.file_path().to_owned());
            }
        }
        Ok(carried)
    }
}

/// Deletes carried over to a compaction's new files.
#[derive(Default)]
struct CarriedDeletes {
    /// New file number and position.
    rows: Vec<(usize, i64)>,
    /// Delete files all of whose rows are carried over.
    dropped: BTreeSet<String>,
}

fn live_after(before: &HashSet<String>, change: &Overwrite) -> HashSet<String> {
    before
        .iter()
        .filter(|p| !change.removed.contains(*p))
        .cloned()
        .chain(change.added.iter().map(|f| f.file_path().to_owned()))
        .collect()
}
