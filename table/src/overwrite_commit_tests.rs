//! Unit tests of `overwrite_commit.rs` against a SQLite catalog.

use std::collections::{BTreeSet, HashMap};

use iceberg::spec::Operation;
use iceberg::ErrorKind;

use super::*;
use crate::commit_marker::checkpoint_table_property;
use crate::iceberg_table::{CommitOutcome, IcebergTable};
use crate::table_commit::TableChange;
use crate::test_support::{owner, scan_rows, sqlite_catalog, test_schema, two_day_batch};

async fn setup(dir: &tempfile::TempDir) -> (IcebergTable, SqlCommits) {
    let table = IcebergTable::open_or_create(sqlite_catalog(dir).await, &test_schema("db.dim"))
        .await
        .expect("create");
    let files = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    assert_eq!(files.len(), 2, "one file per day");
    table.commit(&owner("j"), 1, files).await.expect("append");
    let sql = SqlCommits::connect(
        &format!("sqlite://{}/catalog.db", dir.path().display()),
        crate::catalog::DEFAULT_CATALOG_NAME,
    )
    .await
    .expect("connect");
    (table, sql)
}

/// The file of the first day, and a rewrite of it keeping its first row only.
async fn rewrite_first_day(table: &IcebergTable, base: &iceberg::table::Table) -> Overwrite {
    let first_day = two_day_batch().slice(0, 2);
    let files = table
        .layout()
        .write_data_files(first_day.slice(0, 1))
        .await
        .expect("write");
    let mut paths = Vec::new();
    let current = base.metadata().current_snapshot().expect("snapshot");
    for listed in base
        .manifest_list_reader(current)
        .load()
        .await
        .expect("list")
        .consume_entries()
    {
        let manifest = listed
            .load_manifest(base.file_io())
            .await
            .expect("manifest");
        for e in manifest.entries() {
            if e.file_path().contains("window_start_day=2024-01-01/") {
                paths.push(e.file_path().to_owned());
            }
        }
    }
    Overwrite {
        removed: paths.into_iter().collect::<BTreeSet<_>>(),
        added: files,
        ..Default::default()
    }
}

/// Through the table's checkpoint commit: the same idempotence check, marker and re-check as
/// an append.
#[tokio::test]
async fn an_overwrite_checkpoint_replaces_a_file_exactly_once() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, sql) = setup(&dir).await;
    let via = SnapshotCommits::Sql(sql);
    assert_eq!(scan_rows(&table).await, 4);
    let base = table.reload().await.expect("reload");
    let change = rewrite_first_day(&table, &base).await;
    assert_eq!(change.removed.len(), 1);
    let overwrite = || TableChange::Overwrite {
        change: change.clone(),
        via: &via,
    };
    let outcome = table
        .commit_change(&owner("j"), 2, overwrite())
        .await
        .expect("commit");
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        scan_rows(&table).await,
        3,
        "2 rows of day 1, 1 of day 0 kept"
    );
    let after = table.reload().await.expect("reload");
    let snapshot = after.metadata().current_snapshot().expect("snapshot");
    assert_eq!(snapshot.summary().operation, Operation::Overwrite);
    let props = &snapshot.summary().additional_properties;
    assert_eq!(
        props.get("deleted-data-files").map(String::as_str),
        Some("1")
    );
    assert_eq!(props.get("added-data-files").map(String::as_str), Some("1"));
    assert_eq!(props.get("total-records").map(String::as_str), Some("3"));
    assert_eq!(
        after
            .metadata()
            .properties()
            .get(&checkpoint_table_property("j"))
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        table
            .commit_change(&owner("j"), 2, overwrite())
            .await
            .expect("again"),
        CommitOutcome::AlreadyCommitted { last: 2 },
        "a retried checkpoint stages nothing (its file is gone: staging would conflict)"
    );
    // Appends go on on top of it.
    let more = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    table.commit(&owner("j"), 3, more).await.expect("append");
    assert_eq!(scan_rows(&table).await, 7);
}

#[tokio::test]
async fn an_overwrite_staged_on_a_stale_table_conflicts() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, sql) = setup(&dir).await;
    let stale = table.reload().await.expect("reload");
    let change = rewrite_first_day(&table, &stale).await;
    // Someone commits in between.
    let more = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    table
        .commit(&owner("other"), 1, more)
        .await
        .expect("append");

    let staged = stage_overwrite(&stale, &change, HashMap::new(), Vec::new())
        .await
        .expect("stage");
    let err = sql.commit(&stale, staged).await.expect_err("stale");
    assert_eq!(err.kind(), ErrorKind::CatalogCommitConflicts, "{err}");
    assert_eq!(scan_rows(&table).await, 8, "nothing changed");

    // Once the file is gone, an overwrite removing it again cannot even be staged.
    let fresh = table.reload().await.expect("reload");
    let staged = stage_overwrite(&fresh, &change, HashMap::new(), Vec::new())
        .await
        .expect("stage");
    sql.commit(&fresh, staged).await.expect("commit");
    let now = table.reload().await.expect("reload");
    let err = stage_overwrite(&now, &change, HashMap::new(), Vec::new())
        .await
        .expect_err("already removed");
    assert_eq!(err.kind(), ErrorKind::CatalogCommitConflicts, "{err}");
}

/// A manifest whose entries were all deleted by an earlier snapshot says nothing about the
/// table any more: carrying it would make every reader open one more manifest per overwrite.
#[tokio::test]
async fn manifests_without_live_files_are_not_carried_on() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, sql) = setup(&dir).await;
    let via = SnapshotCommits::Sql(sql);
    for checkpoint in 2..=5 {
        let base = table.reload().await.expect("reload");
        let live = crate::dimension_rewrite::live_data_files(&base)
            .await
            .expect("live files");
        let day_one = live
            .iter()
            .find(|f| f.file_path().contains("window_start_day=2024-01-01/"))
            .expect("a live file of day one");
        let added = table
            .layout()
            .write_data_files(two_day_batch().slice(0, 1))
            .await
            .expect("write");
        let change = Overwrite {
            removed: BTreeSet::from([day_one.file_path().to_owned()]),
            added,
            ..Default::default()
        };
        table
            .commit_change(
                &owner("j"),
                checkpoint,
                TableChange::Overwrite { change, via: &via },
            )
            .await
            .expect("commit");
        let after = table.reload().await.expect("reload");
        let current = after.metadata().current_snapshot().expect("snapshot");
        let listed = after
            .manifest_list_reader(current)
            .load()
            .await
            .expect("list")
            .consume_entries();
        for manifest in listed {
            let manifest = manifest
                .load_manifest(after.file_io())
                .await
                .expect("manifest");
            assert!(
                manifest
                    .entries()
                    .iter()
                    .any(|e| e.is_alive() || e.snapshot_id() == Some(current.snapshot_id())),
                "checkpoint {checkpoint}: a manifest with neither live files nor this \
                 snapshot's deletions"
            );
        }
    }
    assert_eq!(scan_rows(&table).await, 3);
}
