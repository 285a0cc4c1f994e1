//! Manifest merging: once the current snapshot has too many data manifests (one per fast
//! append), the manifests appended since the last merge are rewritten into one per partition
//! spec, or, when the merged ones are too many too, every small manifest is; so planning a scan
//! reads a few manifests, not one per commit. The rows do not change: the merge commits a
//! `replace` snapshot.

use std::collections::{BTreeMap, HashMap};

use iceberg::spec::{ManifestContentType, ManifestFile, ManifestWriterBuilder, Operation};
use iceberg::{Error, ErrorKind};

use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{fresh_snapshot_id, stage_snapshot, NewSnapshot, SnapshotCommits};

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

impl IcebergTable {
    /// Merges the current snapshot's small data manifests once it has more than
    /// `max_manifests`, committing through `via` pinned to the state it read. With `dry_run`,
    /// reports the counts and writes nothing.
    pub async fn merge_manifests(
        &self,
        max_manifests: usize,
        via: &SnapshotCommits,
        dry_run: bool,
    ) -> Result<ManifestMerge, TableError> {
        let what = "merging manifests";
        let fail = |e| self.maintenance_failed(what, e);
        let base = self.reload().await?;
        let md = base.metadata();
        let Some(current) = md.current_snapshot() else {
            return Ok(ManifestMerge::default());
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
            return Ok(ManifestMerge {
                before,
                after: before,
                bytes_written: 0,
            });
        }
        let (small, mut kept): (Vec<ManifestFile>, Vec<ManifestFile>) =
            listed.into_iter().partition(|m| {
                m.content == ManifestContentType::Data && m.manifest_length < MERGED_MANIFEST_BYTES
            });
        // The manifests of single appends are merged on their own while that is enough, so
        // each run rewrites what was appended since the last one, not the whole table.
        let (fresh, merged): (Vec<ManifestFile>, Vec<ManifestFile>) = small
            .into_iter()
            .partition(|m| m.existing_files_count.unwrap_or(0) == 0);
        let to_merge = if fresh.len() >= 2 && before - fresh.len() < max_manifests {
            kept.extend(merged);
            fresh
        } else {
            fresh.into_iter().chain(merged).collect()
        };
        let mut by_spec: BTreeMap<i32, Vec<ManifestFile>> = BTreeMap::new();
        for m in to_merge {
            by_spec.entry(m.partition_spec_id).or_default().push(m);
        }
        let after = before - by_spec.values().map(|ms| ms.len() - 1).sum::<usize>();
        if after == before {
            return Ok(ManifestMerge {
                before,
                after,
                bytes_written: 0,
            });
        }
        if dry_run {
            return Ok(ManifestMerge {
                before,
                after,
                bytes_written: 0,
            });
        }
        let snapshot_id = fresh_snapshot_id(&base);
        let commit = uuid::Uuid::new_v4();
        let io = base.file_io();
        let schema = md.current_schema().clone();
        let mut manifests = kept;
        let mut bytes_written = 0u64;
        for (spec_id, group) in by_spec {
            if group.len() == 1 {
                manifests.extend(group);
                continue;
            }
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
                let manifest = listed.load_manifest(io).await.map_err(fail)?;
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
            let written = merged.write_manifest_file().await.map_err(fail)?;
            bytes_written += u64::try_from(written.manifest_length).unwrap_or(0);
            manifests.push(written);
        }
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
        self.commit_staged_pinned(what, &base, via, staged).await?;
        Ok(ManifestMerge {
            before,
            after,
            bytes_written,
        })
    }
}
