//! Compaction: a partition's small data files are rewritten into files of the target size, in
//! a `replace` snapshot that keeps every row. Planning is pure ([`plan_bins`]); rewriting reads
//! and writes Parquet and can run away from the checkpoints; the commit is cheap and pinned to
//! the table as it is when it lands: a file another writer removed meanwhile (a CDC rewrite,
//! another engine's compaction) makes it conflict, and the next run plans again.

use std::collections::{BTreeMap, HashMap};

use floe_common::maintenance::MaintenancePolicy;
use iceberg::spec::{DataFile, ManifestContentType, Operation};

use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{stage_change, CommitStaged, Overwrite};

/// Files at least this share of the target size are left as they are.
const SMALL_SHARE: f64 = 0.75;

/// Summary property naming what made a snapshot that keeps the rows.
pub const MAINTENANCE_PROPERTY: &str = "floe.maintenance";

/// What compaction did, or in a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    pub files_rewritten: usize,
    pub bytes_rewritten: u64,
    pub files_written: usize,
}

/// A data file as planning sees it.
#[derive(Debug, Clone)]
pub struct Candidate<T> {
    /// Files of one partition share a key.
    pub partition: String,
    pub bytes: u64,
    pub file: T,
}

/// Which small files to rewrite together: per partition with at least `min_files` small files
/// (under 3/4 of `target` bytes), bins of up to `target` bytes, smallest files first, until
/// `max_bytes` in all. A bin of one file is not worth rewriting.
pub fn plan_bins<T>(
    files: Vec<Candidate<T>>,
    target: u64,
    min_files: usize,
    max_bytes: u64,
) -> Vec<Vec<T>> {
    let small_below = (target as f64 * SMALL_SHARE) as u64;
    let mut by_partition: BTreeMap<String, Vec<Candidate<T>>> = BTreeMap::new();
    for f in files.into_iter().filter(|f| f.bytes < small_below) {
        by_partition.entry(f.partition.clone()).or_default().push(f);
    }
    let mut bins = Vec::new();
    let mut budget = max_bytes;
    for (_, mut small) in by_partition {
        if small.len() < min_files {
            continue;
        }
        small.sort_by_key(|f| f.bytes);
        let mut bin: Vec<T> = Vec::new();
        let mut bin_bytes = 0u64;
        for f in small {
            if f.bytes > budget {
                break;
            }
            if bin_bytes + f.bytes > target && bin.len() > 1 {
                bins.push(std::mem::take(&mut bin));
                bin_bytes = 0;
            }
            budget -= f.bytes;
            bin_bytes += f.bytes;
            bin.push(f.file);
        }
        if bin.len() > 1 {
            bins.push(bin);
        }
    }
    bins
}

impl IcebergTable {
    /// The bins of small files compaction would rewrite now. A table with delete files is
    /// left alone: its rewrite would have to apply them ([`Self::compact_with_deletes`]).
    pub async fn plan_compaction(
        &self,
        policy: &MaintenancePolicy,
    ) -> Result<Vec<Vec<DataFile>>, TableError> {
        Ok(self
            .plan_bins_unless_deletes(policy)
            .await?
            .unwrap_or_default())
    }

    /// [`Self::plan_compaction`]'s bins; `None` for a table with delete manifests.
    async fn plan_bins_unless_deletes(
        &self,
        policy: &MaintenancePolicy,
    ) -> Result<Option<Vec<Vec<DataFile>>>, TableError> {
        let fail = |e| self.maintenance_failed("planning compaction", e);
        let table = self.reload().await?;
        let md = table.metadata();
        let Some(current) = md.current_snapshot() else {
            return Ok(Some(Vec::new()));
        };
        let manifests: Vec<_> = table
            .manifest_list_reader(current)
            .load()
            .await
            .map_err(fail)?
            .consume_entries()
            .into_iter()
            .collect();
        if manifests
            .iter()
            .any(|m| m.content == ManifestContentType::Deletes)
        {
            return Ok(None);
        }
        let spec_id = md.default_partition_spec_id();
        let mut candidates = Vec::new();
        for listed in manifests.iter().filter(|m| m.partition_spec_id == spec_id) {
            let manifest = crate::manifest_cache::load_manifest(listed, table.file_io())
                .await
                .map_err(fail)?;
            for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                let file = e.data_file();
                candidates.push(Candidate {
                    partition: format!("{:?}", file.partition()),
                    bytes: file.file_size_in_bytes(),
                    file: file.clone(),
                });
            }
        }
        Ok(Some(plan_bins(
            candidates,
            policy.target_file_bytes,
            policy.compact_min_files,
            policy.compact_max_bytes,
        )))
    }

    /// Reads the files of `bin` (one partition) and writes their rows again as files of the
    /// layout's target size: the change that replaces them.
    pub async fn rewrite_files(
        &self,
        bin: &[DataFile],
        target_file_bytes: u64,
    ) -> Result<Overwrite, TableError> {
        let layout = self
            .layout()
            .clone()
            .with_target_file_bytes(target_file_bytes);
        let mut batches = Vec::new();
        for file in bin {
            batches.extend(layout.read_data_file(file.file_path(), None).await?);
        }
        let schema = layout.arrow_schema();
        let rows = arrow_select::concat::concat_batches(&schema, &batches)
            .map_err(|e| TableError::InvalidArgument(format!("compacting {}: {e}", self.ident)))?;
        Ok(Overwrite {
            removed: bin.iter().map(|f| f.file_path().to_owned()).collect(),
            added: layout.write_data_files(rows).await?,
            ..Default::default()
        })
    }

    /// Commits `rewrite` as a `replace` snapshot through `via`, on the table as this process's
    /// last commit left it. If it surely did not land, its new files are deleted again.
    pub async fn commit_rewrite(
        &self,
        rewrite: &Overwrite,
        via: &dyn CommitStaged,
    ) -> Result<(), TableError> {
        let what = "committing a compaction";
        floe_common::failpoint::hit_counted("compaction-before-commit");
        let result = async {
            let _turn = self.commit_turn.lock().await;
            let base = self.base_for_commit().await?;
            let summary =
                HashMap::from([(MAINTENANCE_PROPERTY.to_owned(), "compaction".to_owned())]);
            let staged = stage_change(&base, rewrite, Operation::Replace, summary, Vec::new())
                .await
                .map_err(|e| self.maintenance_failed(what, e))?;
            self.commit_staged_pinned(what, &base, via, staged).await
        }
        .await;
        if result.as_ref().is_err_and(TableError::commit_surely_failed) {
            let io = self.layout().file_io.clone();
            let added = rewrite
                .added
                .iter()
                .map(|f| f.file_path().to_owned())
                .collect();
            self.delete_files(what, &io, added).await;
        }
        result
    }

    /// Plans, rewrites and commits a compaction now; with `dry_run`, only plans it.
    pub async fn compact(
        &self,
        policy: &MaintenancePolicy,
        via: &dyn CommitStaged,
        dry_run: bool,
    ) -> Result<Compaction, TableError> {
        let Some(bins) = self.plan_bins_unless_deletes(policy).await? else {
            return Ok(self
                .compact_with_deletes(policy, via, dry_run)
                .await?
                .unwrap_or_default());
        };
        let mut done = Compaction::default();
        for bin in &bins {
            done.files_rewritten += bin.len();
            done.bytes_rewritten += bin.iter().map(|f| f.file_size_in_bytes()).sum::<u64>();
            if dry_run {
                continue;
            }
            let rewrite = self.rewrite_files(bin, policy.target_file_bytes).await?;
            done.files_written += rewrite.added.len();
            self.commit_rewrite(&rewrite, via).await?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(partition: &str, bytes: u64) -> Candidate<(String, u64)> {
        Candidate {
            partition: partition.into(),
            bytes,
            file: (partition.into(), bytes),
        }
    }

    #[test]
    fn small_files_of_busy_partitions_are_binned_up_to_the_target() {
        let files = vec![
            file("a", 10),
            file("a", 20),
            file("a", 30),
            file("a", 90), // large: 90 >= 0.75 * 100
            file("b", 10),
            file("b", 10), // b has 2 small files: below min_files
            file("c", 60),
            file("c", 50),
            file("c", 40),
        ];
        let bins = plan_bins(files, 100, 3, 1_000);
        assert_eq!(
            bins,
            vec![
                vec![("a".into(), 10), ("a".into(), 20), ("a".into(), 30)],
                vec![("c".into(), 40), ("c".into(), 50)],
            ],
            "c's 60 would overflow the bin and stays alone"
        );
        let capped = plan_bins(
            vec![file("a", 10), file("a", 20), file("a", 30)],
            100,
            3,
            35,
        );
        assert_eq!(
            capped,
            vec![vec![("a".into(), 10), ("a".into(), 20)]],
            "max_bytes"
        );
    }
}
