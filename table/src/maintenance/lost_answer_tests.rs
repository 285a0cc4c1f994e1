//! Maintenance commits whose answers are lost (a cut connection, a 502 after the catalog took
//! the commit): one that landed counts as done and keeps its files; one the table does not
//! settle keeps its files for orphan cleanup. The table never names a file that is gone.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use iceberg::table::Table;
use iceberg::{Error, ErrorKind};

use super::tests::{
    append, append_exactly_once, compacting, files_under, local, partitioned, setup,
};
use crate::dimension_rewrite::live_data_files;
use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{CommitStaged, SnapshotCommits, StagedSnapshot};
use crate::test_support::scan_rows;

/// Commits through the catalog when `lands`, or not at all; either way answers as if the
/// connection broke before the answer came.
struct LostAnswer {
    catalog: SnapshotCommits,
    lands: bool,
    calls: AtomicUsize,
}

impl LostAnswer {
    fn new(catalog: &SnapshotCommits, lands: bool) -> Self {
        LostAnswer {
            catalog: catalog.clone(),
            lands,
            calls: AtomicUsize::new(0),
        }
    }
}

#[async_trait::async_trait]
impl CommitStaged for LostAnswer {
    async fn commit(&self, base: &Table, staged: StagedSnapshot) -> iceberg::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.lands {
            self.catalog.commit(base, staged).await?;
        }
        Err(Error::new(
            ErrorKind::Unexpected,
            "connection reset before the answer",
        ))
    }
}

/// Every live data file of the current snapshot, which must all be on disk.
async fn assert_live_files_exist(table: &IcebergTable) {
    let current = table.reload().await.expect("reload");
    let live = live_data_files(&current).await.expect("live files");
    assert!(!live.is_empty());
    for f in live {
        let path = local(f.file_path());
        assert!(Path::new(&path).exists(), "{path} is live but gone");
    }
}

#[tokio::test]
async fn a_compaction_that_landed_behind_a_lost_answer_keeps_its_files() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, catalog) = partitioned(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let lost = LostAnswer::new(&catalog, true);
    let done = table
        .compact(&compacting(), &lost, false)
        .await
        .expect("the table shows the commit landed");
    assert_eq!((done.files_rewritten, done.files_written), (12, 2));
    assert_eq!(lost.calls.load(Ordering::SeqCst), 2, "one commit per day");
    assert_eq!(table.health().await.expect("health").data_files, 2);
    assert_live_files_exist(&table).await;
    assert_eq!(scan_rows(&table).await, 24);
    // The stream's next commit builds on it, exactly once.
    append_exactly_once(&table, 7).await;
    assert_eq!(scan_rows(&table).await, 28);
}

#[tokio::test]
async fn a_compaction_whose_outcome_is_unknown_leaves_its_files_to_orphan_cleanup() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, catalog) = partitioned(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let data = dir.path().join("warehouse/db/small/data");
    let before = files_under(&data);
    let err = table
        .compact(&compacting(), &LostAnswer::new(&catalog, false), false)
        .await
        .expect_err("not in the table");
    assert!(
        matches!(err, TableError::MaintenanceOutcomeUnknown { .. }),
        "{err}"
    );
    let kept: HashSet<String> = files_under(&data).difference(&before).cloned().collect();
    assert_eq!(kept.len(), 1, "the first day's rewrite stays: {kept:?}");
    assert_eq!(table.health().await.expect("health").data_files, 12);
    assert_eq!(scan_rows(&table).await, 24);

    let later = SystemTime::now() + Duration::from_secs(5);
    let orphans = table
        .remove_orphans(&HashSet::new(), Duration::ZERO, later, false)
        .await
        .expect("orphans");
    let taken: HashSet<String> = orphans.files.iter().map(|f| local(f)).collect();
    assert!(kept.is_subset(&taken), "orphan cleanup takes the rewrite");
    assert_eq!(files_under(&data), before, "and no data file of the table");
    let done = table
        .compact(&compacting(), &catalog, false)
        .await
        .expect("compact");
    assert_eq!(done.files_written, 2);
    assert_live_files_exist(&table).await;
    assert_eq!(scan_rows(&table).await, 24);
}

#[tokio::test]
async fn a_manifest_merge_that_landed_behind_a_lost_answer_keeps_its_manifest() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, catalog) = setup(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let merged = table
        .merge_manifests(3, &LostAnswer::new(&catalog, true), false)
        .await
        .expect("the table shows the merge landed");
    assert_eq!((merged.before, merged.after), (6, 1));
    assert_eq!(table.health().await.expect("health").data_manifests, 1);
    assert_eq!(scan_rows(&table).await, 24, "the merged manifest is read");
    append(&table, 7).await;
    assert_eq!(scan_rows(&table).await, 28);
}
