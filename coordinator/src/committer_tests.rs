//! The committer against a real SQLite catalog and a local checkpoint store: half-committed
//! checkpoints, fencing, a replaced store, a changed job.

use std::sync::Arc;

/// Indexes of the example (aggregate) job's sinks in commit order.
const LATE: usize = 0;
const DEAD_LETTERS: usize = 1;
const AGGREGATES: usize = 2;

use floe_common::config::JobSpec;
use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::records::{DeadLetter, LateEvent};
use floe_common::watermark::{LocalWatermark, WATERMARK_END};
use floe_common::window::RecordOutput;
use floe_common::window::WindowOperator;
use floe_proto::CheckpointAck;
use floe_storage::{open_location, CheckpointStore};
use floe_worker::worker_tables::WorkerTables;

use super::*;
use crate::table_maintenance::TableStatus;
use floe_table::test_support::{scan_rows, sqlite_catalog};

use floe_common::config::example_job as job;

struct Fixture {
    dir: tempfile::TempDir,
    catalog: Arc<dyn Catalog>,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        Self { dir, catalog }
    }

    fn store(&self, name: &str) -> CheckpointStore {
        let path = self.dir.path().join(name);
        CheckpointStore::new(
            open_location(path.to_str().expect("utf-8 path")).expect("store"),
            "video_stats_1min",
        )
    }

    async fn committer(&self, job: JobSpec, store: &str) -> IcebergCommitter {
        IcebergCommitter::open(
            Arc::new(job),
            self.catalog.clone(),
            None,
            self.store(store),
            3,
        )
        .await
        .expect("open committer")
    }

    /// The example job's committer on store `store`, with checkpoint 1 complete (one ack)
    /// and not committed.
    async fn completed_first(&self, store: &str) -> (IcebergCommitter, CheckpointManifest) {
        let first = self.committer(job(), store).await;
        let manifest = first
            .complete(1, vec![ack(&first, &job(), 1, 1).await], 70_000)
            .await
            .expect("complete");
        (first, manifest)
    }
}

/// An ack with one closed window (two keys), and one late event and one dead letter written as
/// data files by a worker's side-output writer into `committer`'s tables.
async fn ack(committer: &IcebergCommitter, job: &JobSpec, id: u64, epoch: u64) -> CheckpointAck {
    let decoder = Decoder::new(job).expect("decoder");
    let mut batch = DecodedBatch::default();
    for (o, video) in ["a", "b"].iter().enumerate() {
        let e = format!(
            r#"{{"header":{{"event_type":"like","event_ts":{}}},"body":{{"video_id":"{video}","watch_ms":5}}}}"#,
            1_000 + o
        );
        decoder.decode_into(0, o as i64, Some(e.as_bytes()), &mut batch);
    }
    let mut op = WindowOperator::new(job.window, &job.aggregates);
    op.assign(0, 0);
    op.apply(&batch, 0);
    op.finish_partition(0);
    let late = [LateEvent {
        partition: 0,
        offset: 7,
        event_time_ms: 5,
        window_start_ms: 0,
        watermark_ms: 70_000,
        reason: "window already closed".into(),
        raw: b"{}".to_vec(),
    }];
    let dead = [DeadLetter {
        partition: 0,
        offset: 8,
        reason: "invalid JSON".into(),
        raw: Some(b"x".to_vec()),
    }];
    let rows = RecordOutput {
        late: late.to_vec(),
        dead_letters: dead.to_vec(),
        appended: None,
    };
    let files = WorkerTables::from_targets(job, committer.worker_targets())
        .expect("worker tables")
        .write(&rows)
        .await
        .expect("side output files");
    CheckpointAck {
        worker_id: "0".into(),
        checkpoint_id: id,
        epoch,
        partitions: vec![0],
        closed_windows: op.take_closed(WATERMARK_END),
        files,
        watermark: LocalWatermark::Finished,
        stats: op.stats(),
        input_finished: true,
        state_bytes: 0,
    }
}

async fn rows(c: &IcebergCommitter) -> [usize; 3] {
    [
        scan_rows(&c.tables[LATE].1).await,
        scan_rows(&c.tables[DEAD_LETTERS].1).await,
        scan_rows(&c.tables[AGGREGATES].1).await,
    ]
}

#[tokio::test]
async fn a_half_committed_checkpoint_is_finished_once_and_side_tables_go_first() {
    let fx = Fixture::new().await;
    let first = fx.committer(job(), "store").await;
    assert_eq!(first.epoch(), 1);
    let manifest = first
        .complete(1, vec![ack(&first, &job(), 1, 1).await], 70_000)
        .await
        .expect("complete");
    assert_eq!(
        manifest
            .tables
            .iter()
            .map(|t| t.table.as_str())
            .collect::<Vec<_>>(),
        [
            "gold.video_stats_1min_late",
            "gold.video_stats_1min_dead_letters",
            "gold.video_stats_1min"
        ],
        "side tables are committed before the aggregate table"
    );
    // "Crash" after the first table's commit.
    let entry = &manifest.tables[0];
    let files = first.tables[LATE]
        .1
        .layout()
        .data_files_from_json(&entry.data_files)
        .expect("files");
    first.tables[LATE]
        .1
        .commit(&first.owner, 1, files)
        .await
        .expect("commit late");
    assert_eq!(rows(&first).await, [1, 0, 0]);

    let second = fx.committer(job(), "store").await;
    assert_eq!(second.epoch(), 2);
    let recovery = second.recover(false).await.expect("recover");
    assert_eq!(
        recovery.restore_from().map(|r| (r.id, r.epoch)),
        Some((1, 1))
    );
    assert_eq!(recovery.next_id, 2);
    assert_eq!(
        rows(&second).await,
        [1, 1, 2],
        "every table once, none twice"
    );

    // The replaced process can neither complete nor commit anything any more.
    let err = first
        .complete(2, vec![ack(&first, &job(), 2, 1).await], 70_000)
        .await
        .expect_err("superseded");
    assert!(
        matches!(
            err,
            CommitterError::Superseded {
                mine: 1,
                newer: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = first.tables[AGGREGATES]
        .1
        .commit(&first.owner, 2, Vec::new())
        .await
        .expect_err("fenced");
    assert!(
        matches!(
            err,
            TableError::Fenced {
                mine: 1,
                owner: 2,
                ..
            }
        ),
        "{err}"
    );
    let report = second
        .commit(
            &second
                .complete(2, vec![ack(&second, &job(), 2, 2).await], 70_000)
                .await
                .expect("complete 2"),
        )
        .await
        .expect("commit 2");
    assert_eq!(report.tables_committed, 3);
    assert_eq!(rows(&second).await, [2, 2, 4]);
}

#[tokio::test]
async fn a_replaced_or_emptied_store_is_refused_unless_starting_over() {
    let fx = Fixture::new().await;
    let (first, manifest) = fx.completed_first("store").await;
    first.commit(&manifest).await.expect("commit");

    let fresh = fx.committer(job(), "another-store").await;
    let err = fresh
        .recover(false)
        .await
        .expect_err("store behind the tables");
    assert!(
        matches!(err, CommitterError::StoreBehindTables { in_table: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--start-over"), "{err}");
    let recovery = fresh.recover(true).await.expect("start over");
    assert_eq!(recovery.restore_from(), None);
    assert_eq!(recovery.next_id, 2, "ids continue above the committed ones");
    // With a store that matches its tables, --start-over changes nothing.
    let again = fx.committer(job(), "store").await;
    let recovery = again.recover(true).await.expect("recover");
    assert_eq!(recovery.restore_from().map(|r| r.id), Some(1));
}

#[tokio::test]
async fn a_renamed_sink_does_not_block_recovery() {
    let fx = Fixture::new().await;
    fx.completed_first("store").await;
    let mut renamed = job();
    renamed.dead_letter_table.name = "gold.renamed_dead_letters".into();
    let second = fx.committer(renamed, "store").await;
    let recovery = second.recover(false).await.expect("recover");
    assert_eq!(recovery.restore_from().map(|r| r.id), Some(1));
    assert_eq!(
        rows(&second).await,
        [1, 0, 2],
        "the tables the job still has got their rows"
    );
}

/// A complete checkpoint whose file was deleted is refused at recovery, naming the file, and
/// no table gets a snapshot naming a file no reader can open.
#[tokio::test]
async fn recovery_refuses_a_checkpoint_whose_file_is_gone() {
    let fx = Fixture::new().await;
    let (first, manifest) = fx.completed_first("store").await;
    let dead_letters = &first.tables[DEAD_LETTERS].1;
    let entry = manifest
        .tables
        .iter()
        .find(|t| t.table == dead_letters.layout().name())
        .expect("dead letters in the manifest");
    let files = dead_letters
        .layout()
        .data_files_from_json(&entry.data_files)
        .expect("files");
    let gone = files[0].file_path().to_owned();
    std::fs::remove_file(gone.trim_start_matches("file://")).expect("delete the file");

    let second = fx.committer(job(), "store").await;
    let err = second.recover(false).await.expect_err("a file is gone");
    assert!(
        matches!(&err, CommitterError::MissingFile { checkpoint: 1, file, .. } if *file == gone),
        "{err}"
    );
    assert!(err.to_string().contains(&gone), "{err}");
    assert_eq!(
        rows(&second).await,
        [0, 0, 0],
        "no table took the checkpoint"
    );
}

#[tokio::test]
async fn state_of_a_changed_job_is_not_restored() {
    let fx = Fixture::new().await;
    let (first, manifest) = fx.completed_first("store").await;
    first.commit(&manifest).await.expect("commit");

    let mut changed = job();
    changed.window.size_ms *= 5;
    let second = fx.committer(changed.clone(), "store").await;
    let err = second.recover(false).await.expect_err("changed job");
    assert!(
        matches!(err, CommitterError::JobChanged { checkpoint: 1, .. }),
        "{err}"
    );
    assert!(second.recover(true).await.is_ok());
    // The unchanged job still restores.
    let third = fx.committer(job(), "store").await;
    assert!(third
        .recover(false)
        .await
        .expect("recover")
        .restore_from()
        .is_some());
}

#[tokio::test]
async fn worker_files_that_do_not_add_up_never_reach_a_manifest() {
    let fx = Fixture::new().await;
    let first = fx.committer(job(), "store").await;
    let mut miscounted = ack(&first, &job(), 1, 1).await;
    miscounted.files[0].rows += 1;
    let err = first
        .complete(1, vec![miscounted], 70_000)
        .await
        .expect_err("rows that do not add up");
    assert!(matches!(err, CommitterError::BadFiles { .. }), "{err}");
    let mut foreign = ack(&first, &job(), 2, 1).await;
    foreign.files[0].table = "gold.someone_elses".into();
    let err = first
        .complete(2, vec![foreign], 70_000)
        .await
        .expect_err("a table workers do not write");
    assert!(
        matches!(err, CommitterError::UnexpectedFiles { .. }),
        "{err}"
    );
    let listing = first.store().list().await.expect("list");
    assert!(
        listing.newest_complete().is_none(),
        "no manifest was written"
    );
}

/// Maintenance between checkpoints keeps each table's snapshots within the policy, merges its
/// manifests, and leaves every row and the exactly-once markers in place.
#[tokio::test]
async fn maintenance_keeps_tables_bounded_and_exact() {
    let fx = Fixture::new().await;
    let mut spec = job();
    spec.maintenance = floe_common::maintenance::MaintenancePolicy {
        interval: std::time::Duration::from_millis(1),
        retain_last: 2,
        max_snapshots: 3,
        max_manifests: 2,
        orphan_min_age: std::time::Duration::from_millis(1),
        compact_min_files: 3,
        ..Default::default()
    };
    let commits = floe_table::overwrite_commit::SqlCommits::connect(
        &format!("sqlite://{}/catalog.db", fx.dir.path().display()),
        floe_table::catalog::DEFAULT_CATALOG_NAME,
    )
    .await
    .expect("connect");
    let c = IcebergCommitter::open(
        Arc::new(spec.clone()),
        fx.catalog.clone(),
        Some(Arc::new(SnapshotCommits::Sql(commits))),
        fx.store("store"),
        3,
    )
    .await
    .expect("open");
    // A data file of an attempt that never completed.
    let abandoned = format!(
        "{}/data/abandoned.parquet",
        c.tables[AGGREGATES]
            .1
            .layout()
            .metadata()
            .location()
            .trim_start_matches("file://")
    );
    std::fs::create_dir_all(std::path::Path::new(&abandoned).parent().expect("dir"))
        .expect("mkdir");
    std::fs::write(&abandoned, b"PAR1").expect("abandoned file");
    let mut statuses = Vec::new();
    for id in 1..=8 {
        let manifest = c
            .complete(id, vec![ack(&c, &spec, id, 1).await], 70_000)
            .await
            .expect("complete");
        c.commit(&manifest).await.expect("commit");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        assert!(c.maintain().await, "due every millisecond");
        statuses = c.maintenance_finished().await;
    }
    assert_eq!(statuses.len(), 3, "every table");
    for status in &statuses {
        assert!(status.health.snapshots <= 3, "{status:?}");
        assert!(status.health.data_manifests <= 2, "{status:?}");
        assert!(status.snapshots_expired > 0, "{status:?}");
        assert_eq!(status.last_error, None);
    }
    assert_eq!(rows(&c).await, [8, 8, 16]);
    assert!(!std::path::Path::new(&abandoned).exists(), "orphan deleted");
    assert!(
        statuses.iter().map(|s| s.files_compacted).sum::<u64>() >= 3,
        "small files were compacted beside the commits: {statuses:?}"
    );
    assert_eq!(statuses.iter().map(|s| s.orphans_deleted).sum::<u64>(), 1);
    // A complete checkpoint that is not committed yet keeps its files through maintenance.
    let pending = c
        .complete(9, vec![ack(&c, &spec, 9, 1).await], 70_000)
        .await
        .expect("complete");
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let runs = |s: &[TableStatus]| s.iter().map(|s| s.maintenance_runs).sum::<u64>();
    let before = runs(&c.table_status());
    assert!(c.maintain().await, "due");
    // The run is a task of its own (this runtime has one thread, so it has not started yet):
    // the checkpoint commits beside it, not after it.
    assert_eq!(runs(&c.table_status()), before, "not run in line");
    c.commit(&pending).await.expect("commit beside maintenance");
    assert!(!c.maintain().await, "one run at a time");
    assert_eq!(runs(&c.maintenance_finished().await), before + 3);
    assert_eq!(rows(&c).await, [9, 9, 18]);
    for (_, table) in &c.tables {
        assert_eq!(
            table
                .last_committed_checkpoint(&spec.name)
                .await
                .expect("last"),
            Some(9)
        );
    }
    // Not due again before the interval.
    let mut slow = spec.clone();
    slow.maintenance.interval = std::time::Duration::from_secs(3600);
    let again = IcebergCommitter::open(
        Arc::new(slow),
        fx.catalog.clone(),
        None,
        fx.store("store"),
        3,
    )
    .await
    .expect("reopen");
    assert!(again.maintain().await, "due at start");
    again.maintenance_finished().await;
    assert!(!again.maintain().await, "then once per interval");
}

/// Checkpoints that are not committed (a commit interval) hand their files on: a restart
/// commits the newest complete checkpoint, and with it the files of those before it, once.
#[tokio::test]
async fn uncommitted_checkpoints_land_with_the_next_commit_or_the_recovery() {
    let fx = Fixture::new().await;
    let c = fx.committer(job(), "store").await;
    let first = c
        .complete(1, vec![ack(&c, &job(), 1, 1).await], 70_000)
        .await
        .expect("complete");
    c.commit(&first).await.expect("commit");
    for id in [2, 3] {
        let m = c
            .complete(id, vec![ack(&c, &job(), id, 1).await], 70_000)
            .await
            .expect("complete");
        assert_eq!(m.tables.iter().map(|t| t.rows).sum::<u64>(), 4 * (id - 1));
    }
    assert_eq!(rows(&c).await, [1, 1, 2], "only checkpoint 1 is committed");
    // "Crash": the restart commits checkpoint 3, which carries 2.
    let restarted = fx.committer(job(), "store").await;
    let recovery = restarted.recover(false).await.expect("recover");
    assert_eq!(recovery.next_id, 4);
    assert_eq!(rows(&restarted).await, [3, 3, 6]);
    // Going on: the next checkpoint carries nothing twice.
    let m = restarted
        .complete(4, vec![ack(&restarted, &job(), 4, 2).await], 70_000)
        .await
        .expect("complete");
    restarted.commit(&m).await.expect("commit");
    assert_eq!(rows(&restarted).await, [4, 4, 8]);
}
