//! Maintenance of a SQLite-catalogued table on local disk: what is deleted, what is kept, and
//! that rows, time travel and the exactly-once markers survive.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use floe_common::maintenance::MaintenancePolicy;
use futures::TryStreamExt;

use crate::iceberg_table::{CommitOutcome, IcebergTable};
use crate::overwrite_commit::{Overwrite, SnapshotCommits, SqlCommits};
use crate::table_commit::TableChange;
use crate::test_support::{owner, scan_rows, sqlite_catalog, test_schema, two_day_batch};

pub(super) async fn setup(dir: &tempfile::TempDir) -> (IcebergTable, SnapshotCommits) {
    let mut spec = test_schema("db.aging");
    spec.partition.clear();
    let table = IcebergTable::open_or_create(sqlite_catalog(dir).await, &spec)
        .await
        .expect("create");
    let sql = SqlCommits::connect(
        &format!("sqlite://{}/catalog.db", dir.path().display()),
        crate::catalog::DEFAULT_CATALOG_NAME,
    )
    .await
    .expect("connect");
    (table, SnapshotCommits::Sql(sql))
}

pub(super) async fn append(table: &IcebergTable, checkpoint: u64) {
    let files = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    let outcome = table
        .commit(&owner("j"), checkpoint, files)
        .await
        .expect("commit");
    assert!(matches!(outcome, CommitOutcome::Committed { .. }));
}

/// Appends `checkpoint`, and checks that committing it again changes nothing.
pub(super) async fn append_exactly_once(table: &IcebergTable, checkpoint: u64) {
    append(table, checkpoint).await;
    assert_eq!(
        table
            .commit(&owner("j"), checkpoint, Vec::new())
            .await
            .expect("again"),
        CommitOutcome::AlreadyCommitted { last: checkpoint }
    );
}

/// Every file under `dir`, as `file:` paths the way the table names them.
pub(super) fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.display().to_string());
            }
        }
    }
    out
}

fn table_dir(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("warehouse/db/aging")
}

pub(super) fn local(path: &str) -> String {
    path.trim_start_matches("file://").to_owned()
}

/// Rows of the snapshot `id`, read by iceberg's scan.
async fn rows_at(table: &IcebergTable, id: i64) -> usize {
    let batches: Vec<_> = table
        .reload()
        .await
        .expect("reload")
        .scan()
        .snapshot_id(id)
        .build()
        .expect("scan")
        .to_arrow()
        .await
        .expect("to_arrow")
        .try_collect()
        .await
        .expect("read");
    batches.iter().map(|b| b.num_rows()).sum()
}

fn keep(retain_last: usize, max_snapshots: usize) -> MaintenancePolicy {
    MaintenancePolicy {
        retain_last,
        max_snapshots,
        expire_after: Duration::from_secs(3600),
        ..Default::default()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test]
async fn expiry_deletes_what_only_expired_snapshots_referenced() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, via) = setup(&dir).await;
    for id in 1..=3 {
        append(&table, id).await;
    }
    // Checkpoint 4 rewrites every file of checkpoint 1 (copy-on-write, keeping one row).
    let base = table.reload().await.expect("reload");
    let first = base
        .metadata()
        .snapshots()
        .find(|s| {
            s.summary().additional_properties.get("floe.checkpoint-id") == Some(&"1".to_owned())
        })
        .expect("checkpoint 1")
        .clone();
    let first_files: Vec<String> = {
        let list = base
            .manifest_list_reader(&first)
            .load()
            .await
            .expect("list")
            .consume_entries();
        let mut files = Vec::new();
        for m in list {
            let manifest = m.load_manifest(base.file_io()).await.expect("manifest");
            files.extend(manifest.entries().iter().map(|e| e.file_path().to_owned()));
        }
        files
    };
    let rewrite = table
        .layout()
        .write_data_files(two_day_batch().slice(0, 1))
        .await
        .expect("write");
    table
        .commit_change(
            &owner("j"),
            4,
            TableChange::Overwrite {
                change: Overwrite {
                    removed: first_files.iter().cloned().collect(),
                    added: rewrite,
                    ..Default::default()
                },
                via: &via,
            },
        )
        .await
        .expect("overwrite");
    let rows = scan_rows(&table).await;
    assert_eq!(rows, 4 * 2 + 1);
    let before = files_under(&table_dir(&dir));
    let snapshots_before: Vec<i64> = table
        .reload()
        .await
        .expect("reload")
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .collect();

    // A dry run lists and changes nothing. Only the overwrite's snapshot is kept: the files it
    // replaced are read by no kept snapshot.
    let policy = keep(1, 1);
    let dry = table
        .expire_snapshots(&policy, &HashSet::new(), now_ms(), true)
        .await
        .expect("dry run");
    assert!(!dry.snapshots.is_empty());
    for f in &first_files {
        assert!(dry.files.contains(f), "{f} is only in expired snapshots");
    }
    assert_eq!(files_under(&table_dir(&dir)), before);

    let done = table
        .expire_snapshots(&policy, &HashSet::new(), now_ms(), false)
        .await
        .expect("expire");
    assert_eq!(done.snapshots, dry.snapshots);
    let after_table = table.reload().await.expect("reload");
    let kept: Vec<i64> = after_table
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .collect();
    assert_eq!(kept.len(), 1, "max_snapshots");
    assert_eq!(kept.len() + done.snapshots.len(), snapshots_before.len());
    let after = files_under(&table_dir(&dir));
    for f in &first_files {
        assert!(!after.contains(&local(f)), "{f} was deleted");
    }
    for f in &done.files {
        assert!(!after.contains(&local(f)), "{f} was deleted");
    }
    // Nothing a kept snapshot reads is gone: every kept snapshot still scans.
    assert_eq!(scan_rows(&table).await, rows);
    for id in &kept {
        assert!(rows_at(&table, *id).await > 0);
    }
    // Nothing else was deleted.
    let gone: HashSet<String> = before.difference(&after).cloned().collect();
    let listed: HashSet<String> = done.files.iter().map(|f| local(f)).collect();
    assert_eq!(gone, listed);
    // The markers survive: checkpoint 4 is known, re-committing it is a no-op.
    assert_eq!(
        table.last_committed_checkpoint("j").await.expect("last"),
        Some(4)
    );
    assert_eq!(
        table
            .commit(&owner("j"), 4, Vec::new())
            .await
            .expect("again"),
        CommitOutcome::AlreadyCommitted { last: 4 }
    );
}

#[tokio::test]
async fn uncommitted_files_are_never_expired() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, _) = setup(&dir).await;
    for id in 1..=4 {
        append(&table, id).await;
    }
    // A complete checkpoint's files, written but not yet committed (a crash before commit).
    let pending = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    let report = table
        .expire_snapshots(&keep(1, 1), &HashSet::new(), now_ms(), false)
        .await
        .expect("expire");
    assert_eq!(
        report.snapshots.len(),
        3,
        "every snapshot but the current one"
    );
    for f in &pending {
        assert!(
            Path::new(&local(f.file_path())).exists(),
            "an uncommitted file is never deleted"
        );
    }
    // An append table's data stays live: only manifest lists go.
    assert!(report.files.iter().all(|f| f.contains("/metadata/snap-")));
    table.commit(&owner("j"), 5, pending).await.expect("commit");
    assert_eq!(scan_rows(&table).await, 5 * 4);
}

#[tokio::test]
async fn merged_manifests_keep_the_rows_and_the_markers() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, via) = setup(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    assert_eq!(table.health().await.expect("health").data_manifests, 6);
    let unchanged = table.merge_manifests(10, &via, false).await.expect("below");
    assert_eq!(unchanged.after, 6);
    let merged = table.merge_manifests(3, &via, false).await.expect("merge");
    assert_eq!((merged.before, merged.after), (6, 1));
    let health = table.health().await.expect("health");
    assert_eq!(health.data_manifests, 1);
    assert_eq!(health.records, 24, "totals carried over");
    assert_eq!(health.data_files, 6);
    assert_eq!(scan_rows(&table).await, 24);
    // Later appends are merged on their own: the merged manifest is not rewritten.
    for id in 7..=9 {
        append(&table, id).await;
    }
    let merged = table.merge_manifests(3, &via, false).await.expect("merge");
    assert_eq!((merged.before, merged.after), (4, 2));
    // Past the limit with merged manifests alone, everything small is merged again.
    for id in 10..=11 {
        append(&table, id).await;
    }
    let merged = table.merge_manifests(2, &via, false).await.expect("merge");
    assert_eq!((merged.before, merged.after), (4, 1));
    assert_eq!(scan_rows(&table).await, 44);
    append_exactly_once(&table, 12).await;
    assert_eq!(scan_rows(&table).await, 48);
}

#[tokio::test]
async fn old_metadata_files_are_deleted_after_each_commit() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, _) = setup(&dir).await;
    for id in 1..=25 {
        append(&table, id).await;
    }
    let metadata_files = files_under(&table_dir(&dir).join("metadata"))
        .into_iter()
        .filter(|f| f.ends_with(".metadata.json"))
        .count();
    assert_eq!(
        metadata_files,
        crate::maintenance::metadata_files::PREVIOUS_VERSIONS_KEPT + 1
    );
    let health = table.health().await.expect("health");
    assert_eq!(
        health.metadata_log_entries,
        crate::maintenance::metadata_files::PREVIOUS_VERSIONS_KEPT
    );
    assert_eq!(scan_rows(&table).await, 100);
}

/// A table whose owner turned the deletion off keeps every metadata file.
#[tokio::test]
async fn a_tables_own_setting_is_kept() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, _) = setup(&dir).await;
    let base = table.reload().await.expect("reload");
    let tx = iceberg::transaction::Transaction::new(&base);
    let tx = iceberg::transaction::ApplyTransactionAction::apply(
        tx.update_table_properties().set(
            crate::maintenance::metadata_files::DELETE_AFTER_COMMIT_PROPERTY.into(),
            "false".into(),
        ),
        tx,
    )
    .expect("apply");
    tx.commit(table.catalog.as_ref()).await.expect("set");
    let table = IcebergTable::open_or_create(table.catalog.clone(), &{
        let mut spec = test_schema("db.aging");
        spec.partition.clear();
        spec
    })
    .await
    .expect("reopen");
    for id in 1..=15 {
        append(&table, id).await;
    }
    let metadata_files = files_under(&table_dir(&dir).join("metadata"))
        .into_iter()
        .filter(|f| f.ends_with(".metadata.json"))
        .count();
    assert!(metadata_files > 15, "{metadata_files}");
}

/// The commit starts from what its last commit wrote; another writer in between makes it
/// conflict, reload and still land exactly once.
#[tokio::test]
async fn a_foreign_commit_between_two_checkpoints_is_kept() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, _) = setup(&dir).await;
    append(&table, 1).await;
    let files = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    let base = table.reload().await.expect("reload");
    let tx = iceberg::transaction::Transaction::new(&base);
    let tx = iceberg::transaction::ApplyTransactionAction::apply(
        tx.fast_append().add_data_files(files),
        tx,
    )
    .expect("apply");
    tx.commit(table.catalog.as_ref()).await.expect("foreign");
    append(&table, 2).await;
    assert_eq!(scan_rows(&table).await, 12);
    assert_eq!(
        table.last_committed_checkpoint("j").await.expect("last"),
        Some(2)
    );
}

#[tokio::test]
async fn orphan_cleanup_spares_referenced_protected_young_and_foreign_files() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, _) = setup(&dir).await;
    for id in 1..=3 {
        append(&table, id).await;
    }
    let write = || async {
        table
            .layout()
            .write_data_files(two_day_batch())
            .await
            .expect("write")
    };
    // Files of a complete checkpoint not yet committed, and of one that never will be.
    let pending = write().await;
    let abandoned = write().await;
    let notes = table_dir(&dir).join("data/README.txt");
    std::fs::write(&notes, "not Iceberg's").expect("foreign file");
    let protected: HashSet<String> = pending.iter().map(|f| f.file_path().to_owned()).collect();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);

    let young = table
        .remove_orphans(&protected, Duration::from_secs(86_400), later, false)
        .await
        .expect("young");
    assert!(young.files.is_empty(), "nothing is old enough: {young:?}");
    let dry = table
        .remove_orphans(&protected, Duration::ZERO, later, true)
        .await
        .expect("dry run");
    let expected: Vec<String> = abandoned.iter().map(|f| f.file_path().to_owned()).collect();
    assert_eq!(dry.files, expected);
    assert!(dry.bytes > 0);
    assert!(
        Path::new(&local(&expected[0])).exists(),
        "a dry run deletes nothing"
    );
    let done = table
        .remove_orphans(&protected, Duration::ZERO, later, false)
        .await
        .expect("clean");
    assert_eq!(done, dry);
    assert!(!Path::new(&local(&expected[0])).exists());
    assert!(notes.exists());
    for f in &pending {
        assert!(Path::new(&local(f.file_path())).exists());
    }
    table.commit(&owner("j"), 4, pending).await.expect("commit");
    assert_eq!(scan_rows(&table).await, 16);
}

pub(super) async fn partitioned(dir: &tempfile::TempDir) -> (IcebergTable, SnapshotCommits) {
    let table = IcebergTable::open_or_create(sqlite_catalog(dir).await, &test_schema("db.small"))
        .await
        .expect("create");
    let sql = SqlCommits::connect(
        &format!("sqlite://{}/catalog.db", dir.path().display()),
        crate::catalog::DEFAULT_CATALOG_NAME,
    )
    .await
    .expect("connect");
    (table, SnapshotCommits::Sql(sql))
}

pub(super) fn compacting() -> MaintenancePolicy {
    MaintenancePolicy {
        compact_min_files: 5,
        ..Default::default()
    }
}

#[tokio::test]
async fn compaction_rewrites_small_files_per_partition_and_keeps_every_row() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, via) = partitioned(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let before = crate::test_support::scan_batches(&table).await;
    assert_eq!(table.health().await.expect("health").data_files, 12);
    let before_files = {
        let parquet: Vec<String> = files_under(&dir.path().join("warehouse/db/small/data"))
            .into_iter()
            .map(|p| format!("file://{p}"))
            .collect();
        move |_: &tempfile::TempDir| parquet.clone()
    };
    let dry = table.compact(&compacting(), &via, true).await.expect("dry");
    assert_eq!((dry.files_rewritten, dry.files_written), (12, 0));
    assert_eq!(table.health().await.expect("health").data_files, 12);

    let done = table
        .compact(&compacting(), &via, false)
        .await
        .expect("compact");
    assert_eq!(
        (done.files_rewritten, done.files_written),
        (12, 2),
        "one file per day"
    );
    let health = table.health().await.expect("health");
    assert_eq!((health.data_files, health.records), (2, 24));
    let rows = |batches: &[arrow_array::RecordBatch]| {
        let mut out: Vec<String> = Vec::new();
        for b in batches {
            let views = b
                .column_by_name("views")
                .expect("views")
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .expect("long")
                .clone();
            let videos = b
                .column_by_name("video_id")
                .expect("video")
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("string")
                .clone();
            for i in 0..b.num_rows() {
                out.push(format!("{}:{}", videos.value(i), views.value(i)));
            }
        }
        out.sort();
        out
    };
    assert_eq!(
        rows(&crate::test_support::scan_batches(&table).await),
        rows(&before)
    );
    assert!(
        table
            .compact(&compacting(), &via, false)
            .await
            .expect("again")
            .files_rewritten
            == 0,
        "nothing small is left"
    );
    // Expiry deletes the compacted files, but never one a complete checkpoint names.
    let compacted: Vec<String> = before_files(&dir);
    let protected: HashSet<String> = [compacted[0].clone()].into();
    let expiry = table
        .expire_snapshots(&keep(1, 1), &protected, now_ms(), false)
        .await
        .expect("expire");
    assert!(!expiry.files.contains(&compacted[0]));
    assert!(Path::new(&local(&compacted[0])).exists(), "protected");
    for f in &compacted[1..] {
        assert!(!Path::new(&local(f)).exists(), "{f} deleted");
    }
    append_exactly_once(&table, 7).await;
    assert_eq!(scan_rows(&table).await, 28);
}

/// Another writer removes a file the compaction rewrote: the compaction does not land, its
/// new files are deleted, and the next plan works from the table as it is.
#[tokio::test]
async fn a_compaction_raced_by_another_writer_is_planned_again() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, via) = partitioned(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let bins = table.plan_compaction(&compacting()).await.expect("plan");
    let rewrite = table
        .rewrite_files(&bins[0], compacting().target_file_bytes)
        .await
        .expect("rewrite");
    // Meanwhile: checkpoint 7 rewrites one of the files (copy-on-write, same rows).
    let victim = bins[0][0].clone();
    let again = table
        .layout()
        .read_data_file(victim.file_path(), None)
        .await
        .expect("read");
    let replaced = table
        .layout()
        .write_data_files(
            arrow_select::concat::concat_batches(&table.layout().arrow_schema(), &again)
                .expect("concat"),
        )
        .await
        .expect("write");
    table
        .commit_change(
            &owner("j"),
            7,
            TableChange::Overwrite {
                change: Overwrite {
                    removed: [victim.file_path().to_owned()].into(),
                    added: replaced,
                    ..Default::default()
                },
                via: &via,
            },
        )
        .await
        .expect("overwrite");
    let err = table
        .commit_rewrite(&rewrite, &via)
        .await
        .expect_err("raced");
    assert!(
        matches!(err, crate::iceberg_table::TableError::CommitConflict { .. }),
        "{err}"
    );
    for f in &rewrite.added {
        assert!(!Path::new(&local(f.file_path())).exists(), "discarded");
    }
    assert_eq!(scan_rows(&table).await, 24);
    let done = table
        .compact(&compacting(), &via, false)
        .await
        .expect("replanned");
    assert!(done.files_rewritten > 0);
    assert_eq!(scan_rows(&table).await, 24);
}
