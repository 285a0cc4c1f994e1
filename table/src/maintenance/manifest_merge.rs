//! Manifest merging: once the current snapshot has too many data manifests (one per fast
//! append), the manifests appended since the last merge are rewritten into one per partition
//! spec, or, when the merged ones are too many too, every small manifest is; so planning a scan
//! reads a few manifests, not one per commit. The rows do not change: the merge commits a
//! `replace` snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};

use iceberg::spec::{ManifestContentType, ManifestFile, ManifestWriterBuilder, Operation};
use iceberg::{Error, ErrorKind};

use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{fresh_snapshot_id, stage_snapshot, CommitStaged, NewSnapshot};

/// Manifests at least this large are left as they are.
const MERGED_MANIFEST_BYTES: i64 = 8 * 1024 * 1024;

/// The summary totals a snapshot that changes no rows carries over from its parent.
const CARRIED_TOTALS: [&str; 6] = [
    "total-data-files",
    "total-records",
    "total-files-size",
    "total-delete-files",
    "total-position-deletes",
    "total-equality-deletes",
];

/// What a manifest merge did, or in a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestMerge {
    /// Data manifests of the current snapshot before and after.
    pub before: usize,
    pub after: usize,
    /// Bytes of the manifests written.
    pub bytes_written: u64,
}

/// The manifests a merge wrote, not committed yet.
#[derive(Debug)]
pub(crate) struct MergeWritten {
    snapshot_id: i64,
    commit: uuid::Uuid,
    /// The manifests the written ones replace.
    replaced: HashSet<String>,
    pub(crate) written: Vec<ManifestFile>,
}

/// Plans of one merge before a run gives up on it until its next run.
const MERGE_ATTEMPTS: usize = 3;

impl IcebergTable {
    /// Merges the current snapshot's small data manifests once it has more than
    /// `max_manifests`, committing through `via`. The merge is planned and written beside the
    /// stream's commits and committed in the table's commit turn, on the state the last commit
    /// left. With `dry_run`, reports the counts and writes nothing.
    pub async fn merge_manifests(
        &self,
        max_manifests: usize,
        via: &dyn CommitStaged,
        dry_run: bool,
    ) -> Result<ManifestMerge, TableError> {
        // A commit that replaced manifests since the plan (a compaction's, another engine's)
        // makes the merge plan again on the table as it is now, a few times at most.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (report, written) = self.write_merge(max_manifests, dry_run).await?;
            let Some(written) = written else {
                return Ok(report);
            };
            match self.commit_merge(via, written).await {
                Ok(()) => return Ok(report),
                Err(TableError::CommitConflict { .. }) if attempts < MERGE_ATTEMPTS => {
                    tracing::debug!(table = %self.ident, attempts, "manifests moved under a merge; planning it again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Plans a merge on the table as it is and writes its manifests.
    pub(crate) async fn write_merge(
        &self,
        max_manifests: usize,
        dry_run: bool,
    ) -> Result<(ManifestMerge, Option<MergeWritten>), TableError> {
        let what = "merging manifests";
        let fail = |e| self.maintenance_failed(what, e);
        let base = self.reload().await?;
        let md = base.metadata();
        let Some(current) = md.current_snapshot() else {
            return Ok((ManifestMerge::default(), None));
        };
        let listed: Vec<ManifestFile> = base
            .manifest_list_reader(current)
            .load()
            .await
            .map_err(fail)?
            .consume_entries()
            .into_iter()
            .collect();
        let before = listed
            .iter()
            .filter(|m| m.content == ManifestContentType::Data)
            .count();
        if before <= max_manifests {
            let report = ManifestMerge {
                before,
                after: before,
                bytes_written: 0,
            };
            return Ok((report, None));
        }
        let small: Vec<ManifestFile> = listed
            .into_iter()
            .filter(|m| {
                m.content == ManifestContentType::Data && m.manifest_length < MERGED_MANIFEST_BYTES
            })
            .collect();
        // The manifests of single appends are merged on their own while that is enough, so
        // each run rewrites what was appended since the last one, not the whole table.
        let (fresh, merged): (Vec<ManifestFile>, Vec<ManifestFile>) = small
            .into_iter()
            .partition(|m| m.existing_files_count.unwrap_or(0) == 0);
        let to_merge = if fresh.len() >= 2 && before - fresh.len() < max_manifests {
            fresh
        } else {
            fresh.into_iter().chain(merged).collect()
        };
        let mut by_spec: BTreeMap<i32, Vec<ManifestFile>> = BTreeMap::new();
        for m in to_merge {
            by_spec.entry(m.partition_spec_id).or_default().push(m);
        }
        let after = before - by_spec.values().map(|ms| ms.len() - 1).sum::<usize>();
        if after == before || dry_run {
            let report = ManifestMerge {
                before,
                after,
                bytes_written: 0,
            };
            return Ok((report, None));
        }
        let snapshot_id = fresh_snapshot_id(&base);
        let commit = uuid::Uuid::new_v4();
        let io = base.file_io();
        let schema = md.current_schema().clone();
        let mut bytes_written = 0u64;
        let mut merged_away = Vec::new();
        let mut written = Vec::new();
        for (spec_id, group) in by_spec {
            if group.len() == 1 {
                continue;
            }
            merged_away.extend(group.iter().map(|m| m.manifest_path.clone()));
            let spec = md.partition_spec_by_id(spec_id).ok_or_else(|| {
                fail(Error::new(
                    ErrorKind::DataInvalid,
                    "a manifest names an unknown partition spec",
                ))
            })?;
            let path = format!("{}/metadata/{commit}-merged-{spec_id}.avro", md.location());
            let mut merged = ManifestWriterBuilder::new(
                io.new_output(path).map_err(fail)?,
                Some(snapshot_id),
                schema.clone(),
                spec.as_ref().clone(),
            )
            .build_v2_data();
            for listed in &group {
                let manifest = crate::manifest_cache::load_manifest(listed, io)
                    .await
                    .map_err(fail)?;
                for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                    let missing = |what: &str| {
                        fail(Error::new(
                            ErrorKind::DataInvalid,
                            format!("a live manifest entry has no {what}"),
                        ))
                    };
                    merged
                        .add_existing_file(
                            e.data_file().clone(),
                            e.snapshot_id().ok_or_else(|| missing("snapshot id"))?,
                            e.sequence_number()
                                .ok_or_else(|| missing("sequence number"))?,
                            e.file_sequence_number,
                        )
                        .map_err(fail)?;
                }
            }
            let manifest = merged.write_manifest_file().await.map_err(fail)?;
            bytes_written += u64::try_from(manifest.manifest_length).unwrap_or(0);
            written.push(manifest);
        }
        let report = ManifestMerge {
            before,
            after,
            bytes_written,
        };
        let written = MergeWritten {
            snapshot_id,
            commit,
            replaced: merged_away.into_iter().collect(),
            written,
        };
        Ok((report, Some(written)))
    }
}

impl IcebergTable {
    /// Commits a merge written on an older state of the table: the current snapshot's
    /// manifests with the replaced ones swapped for the written ones (those appended since
    /// stay as they are), in a `replace` snapshot. Refused, its manifests deleted, if a
    /// replaced manifest is no longer listed.
    pub(crate) async fn commit_merge(
        &self,
        via: &dyn CommitStaged,
        merge: MergeWritten,
    ) -> Result<(), TableError> {
        let what = "committing a manifest merge";
        let paths = merge
            .written
            .iter()
            .map(|m| m.manifest_path.clone())
            .collect();
        let result = self.commit_merge_in_turn(what, via, merge).await;
        if result.as_ref().is_err_and(TableError::commit_surely_failed) {
            self.delete_files(what, &self.layout().file_io, paths).await;
        }
        result
    }

    async fn commit_merge_in_turn(
        &self,
        what: &str,
        via: &dyn CommitStaged,
        merge: MergeWritten,
    ) -> Result<(), TableError> {
        let MergeWritten {
            snapshot_id,
            commit,
            replaced,
            written,
        } = merge;
        let fail = |e| self.maintenance_failed(what, e);
        let _turn = self.commit_turn.lock().await;
        let base = self.base_for_commit().await?;
        let Some(current) = base.metadata().current_snapshot() else {
            return Err(fail(Error::new(
                ErrorKind::CatalogCommitConflicts,
                "the table lost its snapshot since the merge was planned",
            )));
        };
        let listed: Vec<ManifestFile> = base
            .manifest_list_reader(current)
            .load()
            .await
            .map_err(fail)?
            .consume_entries()
            .into_iter()
            .collect();
        let still_listed = listed
            .iter()
            .filter(|m| replaced.contains(&m.manifest_path))
            .count();
        if still_listed != replaced.len() || base.metadata().snapshot_by_id(snapshot_id).is_some() {
            self.forget_base();
            return Err(fail(Error::new(
                ErrorKind::CatalogCommitConflicts,
                "manifests the merge replaces changed since it was planned; it is planned again",
            )));
        }
        let mut manifests: Vec<ManifestFile> = listed
            .into_iter()
            .filter(|m| !replaced.contains(&m.manifest_path))
            .collect();
        manifests.extend(written);
        let summary: HashMap<String, String> = current
            .summary()
            .additional_properties
            .iter()
            .filter(|(k, _)| CARRIED_TOTALS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let staged = stage_snapshot(
            &base,
            NewSnapshot {
                id: snapshot_id,
                commit,
                operation: Operation::Replace,
                manifests,
                summary,
            },
            Vec::new(),
        )
        .await
        .map_err(fail)?;
        self.commit_staged_pinned(what, &base, via, staged).await
    }
}
