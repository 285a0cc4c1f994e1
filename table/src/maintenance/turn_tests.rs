//! Maintenance planned beside the stream: the stream's commits land between a plan and its
//! commit, and the commit keeps them.

use super::tests::{append, setup};
use crate::iceberg_table::CommitOutcome;
use crate::test_support::{owner, scan_rows};

#[tokio::test]
async fn a_merge_written_before_the_streams_commits_keeps_them() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, via) = setup(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let (report, written) = table.write_merge(3, false).await.expect("write");
    assert_eq!((report.before, report.after), (6, 1));
    for id in 7..=8 {
        append(&table, id).await;
    }
    table
        .commit_merge(&via, written.expect("a merge"))
        .await
        .expect("committed on the stream's last commit");
    let health = table.health().await.expect("health");
    assert_eq!(health.data_manifests, 3, "the merged one and the two since");
    assert_eq!(health.records, 32, "totals of the state it committed on");
    assert_eq!(scan_rows(&table).await, 32);
    assert_eq!(
        table
            .commit(&owner("j"), 8, Vec::new())
            .await
            .expect("again"),
        CommitOutcome::AlreadyCommitted { last: 8 },
        "the stream's markers stay"
    );
}

#[tokio::test]
async fn a_merge_whose_manifests_moved_is_refused_and_leaves_nothing() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let (table, via) = setup(&dir).await;
    for id in 1..=6 {
        append(&table, id).await;
    }
    let (_, first) = table.write_merge(3, false).await.expect("write");
    let (_, second) = table.write_merge(3, false).await.expect("write");
    table
        .commit_merge(&via, first.expect("a merge"))
        .await
        .expect("first");
    let second = second.expect("a merge");
    let left: Vec<String> = second
        .written
        .iter()
        .map(|m| m.manifest_path.clone())
        .collect();
    assert!(table.commit_merge(&via, second).await.is_err());
    for path in left {
        assert!(
            !std::path::Path::new(path.trim_start_matches("file://")).exists(),
            "{path} deleted"
        );
    }
    assert_eq!(table.health().await.expect("health").data_manifests, 1);
    assert_eq!(scan_rows(&table).await, 24);
}
