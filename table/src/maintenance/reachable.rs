//! The files snapshots reference: their manifest lists, manifests, and data and delete files.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use iceberg::spec::{ManifestFile, ManifestStatus, SnapshotRef};
use iceberg::table::Table;
use iceberg::Result;

/// Manifests read at once when files are collected.
const PARALLEL_READS: usize = 8;

/// The manifests `snapshots` list, by path.
pub(crate) async fn manifests_of(
    table: &Table,
    snapshots: &[SnapshotRef],
) -> Result<HashMap<String, ManifestFile>> {
    let mut manifests = HashMap::new();
    for snapshot in snapshots {
        let list = table.manifest_list_reader(snapshot).load().await?;
        for manifest in list.consume_entries() {
            manifests
                .entry(manifest.manifest_path.clone())
                .or_insert(manifest);
        }
    }
    Ok(manifests)
}

/// The data and delete files the manifests name: with `live_only`, those their snapshots hold
/// (added or existing entries); otherwise every entry, deletions too.
pub(crate) async fn files_of<'a>(
    table: &Table,
    manifests: impl Iterator<Item = &'a ManifestFile>,
    live_only: bool,
) -> Result<HashSet<String>> {
    // Owned per read: the reads run in tasks, which borrowed streams cannot be sent to.
    let reads: Vec<(ManifestFile, iceberg::io::FileIO)> = manifests
        .map(|m| (m.clone(), table.file_io().clone()))
        .collect();
    let per_manifest: Vec<Vec<String>> = futures::stream::iter(reads)
        .map(|(m, io)| async move {
            let manifest = crate::manifest_cache::load_manifest(&m, &io).await?;
            Ok::<_, iceberg::Error>(
                manifest
                    .entries()
                    .iter()
                    .filter(|e| !live_only || e.status() != ManifestStatus::Deleted)
                    .map(|e| e.file_path().to_owned())
                    .collect(),
            )
        })
        .buffer_unordered(PARALLEL_READS)
        .try_collect()
        .await?;
    Ok(per_manifest.into_iter().flatten().collect())
}

/// What deleting the snapshots `expired` of `table` leaves unreferenced: their manifest lists,
/// the manifests no kept snapshot lists, and the files of those manifests no kept manifest
/// holds. Files no snapshot ever named (those of an uncommitted checkpoint) are never among
/// them.
pub(crate) async fn unreferenced_after_expiry(
    table: &Table,
    expired: &HashSet<i64>,
) -> Result<Vec<String>> {
    let (gone, kept): (Vec<SnapshotRef>, Vec<SnapshotRef>) = table
        .metadata()
        .snapshots()
        .cloned()
        .partition(|s| expired.contains(&s.snapshot_id()));
    let kept_manifests = manifests_of(table, &kept).await?;
    let gone_manifests = manifests_of(table, &gone).await?;
    let dropped: Vec<&ManifestFile> = gone_manifests
        .iter()
        .filter(|(path, _)| !kept_manifests.contains_key(*path))
        .map(|(_, m)| m)
        .collect();
    let mut unreferenced: Vec<String> = gone
        .iter()
        .map(|s| s.manifest_list().to_owned())
        .filter(|list| !list.is_empty())
        .collect();
    if !dropped.is_empty() {
        let candidates = files_of(table, dropped.iter().copied(), false).await?;
        let kept_files = files_of(table, kept_manifests.values(), true).await?;
        unreferenced.extend(candidates.into_iter().filter(|f| !kept_files.contains(f)));
        unreferenced.extend(dropped.iter().map(|m| m.manifest_path.clone()));
    }
    unreferenced.sort();
    unreferenced.dedup();
    Ok(unreferenced)
}
