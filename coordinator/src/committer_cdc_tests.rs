//! A CDC job's checkpoints through the committer, against a real SQLite catalog: changelog
//! files written as a worker writes them, the dimension table rewritten and committed as an
//! overwrite, read back by iceberg's own scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, Int64Array, StringArray};
use floe_common::config::{FloeConfig, JobSpec};
use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::watermark::LocalWatermark;
use floe_common::window::WindowOperator;
use floe_proto::CheckpointAck;
use floe_storage::{open_location, CheckpointStore};
use floe_worker::worker_tables::WorkerTables;

use super::*;
use floe_table::catalog::CatalogConfig;
use floe_table::overwrite_commit::SnapshotCommits;
use floe_table::test_support::{scan_batches, scan_rows};

pub(super) fn cdc_job() -> JobSpec {
    job_of(include_str!("../../examples/dim_videos.toml"))
}

/// The example job keeping a history table too, applying changes by `mode`.
fn cdc_job_with_history(mode: &str) -> JobSpec {
    job_of(&include_str!("../../examples/dim_videos.toml").replace(
        "table = \"dims.dim_videos\"",
        &format!(
            "table = \"dims.dim_videos\"\nhistory_table = \"dims.dim_videos_history\"\ncdc_mode = \"{mode}\""
        ),
    ))
}

pub(super) fn job_of(text: &str) -> JobSpec {
    FloeConfig::parse(text)
        .and_then(|c| c.validate())
        .map(|mut c| c.jobs.remove(0))
        .expect("dim_videos example")
}

pub(super) async fn committer(dir: &tempfile::TempDir) -> IcebergCommitter {
    committer_of(dir, cdc_job()).await
}

pub(super) async fn committer_of(dir: &tempfile::TempDir, job: JobSpec) -> IcebergCommitter {
    let cfg = CatalogConfig::new(
        format!("sqlite://{}/catalog.db", dir.path().display()),
        format!("file://{}/warehouse", dir.path().display()),
    );
    let catalog = floe_table::catalog::connect_catalog(&cfg)
        .await
        .expect("catalog");
    let commits = SnapshotCommits::connect(&cfg)
        .await
        .expect("overwrite commits");
    let store = CheckpointStore::new(
        open_location(dir.path().join("store").to_str().expect("utf-8")).expect("store"),
        "dim_videos",
    );
    IcebergCommitter::open(Arc::new(job), catalog, Some(Arc::new(commits)), store, 3)
        .await
        .expect("open committer")
}

/// A Debezium change of `id` at `lsn` (its ts_ms too): an upsert titled `title`, or a delete.
pub(super) fn change(op: &str, id: &str, title: &str, lsn: i64, wrapped: bool) -> String {
    let row = format!(r#"{{"video_id":"{id}","title":"{title}","duration_s":{lsn}}}"#);
    let (before, after) = match op {
        "d" => (row.as_str(), "null"),
        _ => ("null", row.as_str()),
    };
    let envelope = format!(
        r#"{{"op":"{op}","ts_ms":{},"before":{before},"after":{after},"source":{{"lsn":{lsn}}}}}"#,
        1_000 + lsn
    );
    if wrapped {
        format!(r#"{{"schema":{{}},"payload":{envelope}}}"#)
    } else {
        envelope
    }
}

/// Runs `records` (values, `None` for a tombstone) of partition 0 from `offset` through a
/// worker's decoding and changelog files, completes and commits them as checkpoint `id`.
pub(super) async fn checkpoint(
    c: &IcebergCommitter,
    job: &JobSpec,
    id: u64,
    offset: i64,
    records: &[Option<String>],
) -> CommitReport {
    let manifest = complete(c, job, id, offset, records).await;
    c.commit(&manifest).await.expect("commit")
}

/// [`checkpoint`] up to its manifest: complete, not committed.
async fn complete(
    c: &IcebergCommitter,
    job: &JobSpec,
    id: u64,
    offset: i64,
    records: &[Option<String>],
) -> floe_common::checkpoint::CheckpointManifest {
    let decoder = Decoder::new(job).expect("decoder");
    let mut batch = DecodedBatch::default();
    for (i, r) in records.iter().enumerate() {
        decoder.decode_into(
            0,
            offset + i as i64,
            r.as_deref().map(str::as_bytes),
            &mut batch,
        );
    }
    let mut op = WindowOperator::for_job(job);
    op.assign(0, 0);
    op.apply(&batch, 0);
    let files = WorkerTables::from_targets(job, c.worker_targets())
        .expect("worker tables")
        .write(&op.take_record_output())
        .await
        .expect("changelog files");
    let ack = CheckpointAck {
        worker_id: "0".into(),
        checkpoint_id: id,
        epoch: c.epoch(),
        partitions: vec![0],
        closed_windows: Vec::new(),
        files,
        watermark: LocalWatermark::Finished,
        stats: op.stats(),
        input_finished: false,
        state_bytes: 0,
    };
    c.complete(id, vec![ack], 0).await.expect("complete")
}

/// The dimension table as iceberg's scan reads it: video_id → (title, duration_s, updated_at).
pub(super) async fn dimension(c: &IcebergCommitter) -> BTreeMap<String, (String, i64, i64)> {
    let (_, table) = c
        .tables
        .iter()
        .find(|(role, _)| *role == floe_common::config::SinkRole::Dimension)
        .expect("a dimension table");
    let batches = scan_batches(table).await;
    let mut rows = BTreeMap::new();
    for b in batches {
        let id: &StringArray = b.column(0).as_string();
        let title: &StringArray = b.column(1).as_string();
        let duration: &Int64Array = b.column(4).as_primitive::<Int64Type>();
        let updated = b.column(5).as_primitive::<TimestampMicrosecondType>();
        for r in 0..b.num_rows() {
            let old = rows.insert(
                id.value(r).to_owned(),
                (
                    title.value(r).to_owned(),
                    duration.value(r),
                    updated.value(r),
                ),
            );
            assert!(old.is_none(), "key {} twice", id.value(r));
        }
    }
    rows
}

/// The example job applying its changes by `mode` (`sink.cdc_mode`).
fn cdc_job_in(mode: &str) -> JobSpec {
    job_of(&include_str!("../../examples/dim_videos.toml").replace(
        "table = \"dims.dim_videos\"",
        &format!("table = \"dims.dim_videos\"\ncdc_mode = \"{mode}\""),
    ))
}

#[tokio::test]
async fn changes_become_the_current_rows_by_merge_on_read() {
    current_rows_checkpoint_after_checkpoint(cdc_job_in("merge-on-read")).await;
}

#[tokio::test]
async fn changes_become_the_current_rows_by_copy_on_write() {
    current_rows_checkpoint_after_checkpoint(cdc_job_in("copy-on-write")).await;
}

async fn current_rows_checkpoint_after_checkpoint(job: JobSpec) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let c = committer_of(&dir, job.clone()).await;
    let first: Vec<Option<String>> = vec![
        Some(change("r", "v1", "one", 1, false)),
        Some(change("r", "v2", "two", 2, true)),
        Some(change("c", "v3", "three", 3, false)),
        Some(change("u", "v1", "one again", 5, true)),
        // An older change of v1 read later: its source position loses.
        Some(change("u", "v1", "stale", 4, false)),
        Some(change("d", "v3", "three", 6, false)),
        None,
    ];
    let report = checkpoint(&c, &job, 1, 0, &first).await;
    assert_eq!(report.tables_committed, 2, "changelog and dimension");
    let rows = dimension(&c).await;
    assert_eq!(
        rows,
        BTreeMap::from([
            ("v1".to_owned(), ("one again".to_owned(), 5, 1_005_000)),
            ("v2".to_owned(), ("two".to_owned(), 2, 1_002_000)),
        ])
    );

    let second: Vec<Option<String>> = vec![
        Some(change("d", "v2", "two", 7, true)),
        None,
        Some(change("c", "v3", "three is back", 8, false)),
        Some(change("c", "v4", "four", 9, false)),
        Some("not json".into()),
    ];
    checkpoint(&c, &job, 2, 7, &second).await;
    let rows = dimension(&c).await;
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        ["v1", "v3", "v4"],
        "v2 deleted, v3 created again"
    );
    assert_eq!(rows["v3"].0, "three is back");
    assert_eq!(rows["v1"].0, "one again", "an untouched row is kept");

    let changelog = scan_rows(&c.tables[1].1).await;
    assert_eq!(
        changelog,
        6 + 3,
        "every change, tombstones and bad records aside"
    );
    let dead = scan_rows(&c.tables[0].1).await;
    assert_eq!(dead, 1);
}

#[tokio::test]
async fn a_recommitted_rewrite_changes_nothing() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let c = committer(&dir).await;
    let job = cdc_job();
    checkpoint(&c, &job, 1, 0, &[Some(change("c", "v1", "one", 1, false))]).await;
    checkpoint(&c, &job, 2, 1, &[Some(change("u", "v1", "uno", 2, false))]).await;
    let before = dimension(&c).await;
    let manifest = c
        .store()
        .get_manifest(
            c.store()
                .list()
                .await
                .expect("list")
                .newest_complete()
                .expect("complete"),
        )
        .await
        .expect("manifest");
    let rewrite = manifest
        .tables
        .iter()
        .find(|t| t.table == "dims.dim_videos")
        .expect("a rewrite of the dimension table");
    assert!(rewrite.removed.is_empty(), "merge-on-read removes no file");
    assert_eq!(
        rewrite.deletes_in.len(),
        1,
        "the update's position delete points into the first checkpoint's file"
    );
    let again = c.commit(&manifest).await.expect("recommit");
    assert_eq!(
        (again.tables_committed, again.tables_already_committed),
        (0, 2),
        "changelog and dimension were committed already"
    );
    assert_eq!(dimension(&c).await, before);
    assert_eq!(before["v1"].0, "uno");
}

/// The history table as iceberg's scan reads it: (video_id, valid_from) → (op, title,
/// valid_to, is_current), all times in microseconds.
async fn history(
    c: &IcebergCommitter,
) -> BTreeMap<(String, i64), (String, String, Option<i64>, bool)> {
    let (_, table) = c
        .tables
        .iter()
        .find(|(role, _)| *role == floe_common::config::SinkRole::History)
        .expect("a history table");
    let batches = scan_batches(table).await;
    let mut rows = BTreeMap::new();
    for b in batches {
        let column = |name: &str| b.column_by_name(name).expect(name).clone();
        let (id, title, op) = (column("video_id"), column("title"), column("op"));
        let (from, to) = (column("valid_from"), column("valid_to"));
        let current = column("is_current");
        let from = from.as_primitive::<TimestampMicrosecondType>();
        let to = to.as_primitive::<TimestampMicrosecondType>();
        for r in 0..b.num_rows() {
            rows.insert(
                (id.as_string::<i32>().value(r).to_owned(), from.value(r)),
                (
                    op.as_string::<i32>().value(r).to_owned(),
                    title.as_string::<i32>().value(r).to_owned(),
                    to.is_valid(r).then(|| to.value(r)),
                    current.as_boolean().value(r),
                ),
            );
        }
    }
    rows
}

#[tokio::test]
async fn the_history_keeps_every_version_and_ends_the_replaced_ones_by_merge_on_read() {
    history_of_every_version(cdc_job_with_history("merge-on-read")).await;
}

#[tokio::test]
async fn the_history_keeps_every_version_and_ends_the_replaced_ones_by_copy_on_write() {
    history_of_every_version(cdc_job_with_history("copy-on-write")).await;
}

async fn history_of_every_version(job: JobSpec) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let c = committer_of(&dir, job.clone()).await;
    let first: Vec<Option<String>> = vec![
        Some(change("c", "v1", "one", 1, false)),
        Some(change("c", "v2", "two", 2, true)),
        Some(change("u", "v1", "one again", 3, false)),
    ];
    checkpoint(&c, &job, 1, 0, &first).await;
    let second: Vec<Option<String>> = vec![
        Some(change("u", "v2", "two again", 4, false)),
        Some(change("d", "v1", "one again", 5, false)),
        None,
    ];
    checkpoint(&c, &job, 2, 3, &second).await;
    // The current versions the second checkpoint wrote are ended in turn; a deleted key comes
    // back.
    let third: Vec<Option<String>> = vec![
        Some(change("u", "v2", "two thrice", 6, false)),
        Some(change("c", "v1", "one reborn", 7, false)),
    ];
    checkpoint(&c, &job, 3, 6, &third).await;
    let us = |lsn: i64| (1_000 + lsn) * 1_000;
    let version = |op: &str, title: &str, to: Option<i64>, current: bool| {
        (op.to_owned(), title.to_owned(), to, current)
    };
    assert_eq!(
        history(&c).await,
        BTreeMap::from([
            (
                ("v1".into(), us(1)),
                version("c", "one", Some(us(3)), false)
            ),
            (
                ("v1".into(), us(3)),
                version("u", "one again", Some(us(5)), false)
            ),
            (
                ("v1".into(), us(5)),
                version("d", "one again", Some(us(5)), false)
            ),
            (
                ("v2".into(), us(2)),
                version("c", "two", Some(us(4)), false)
            ),
            (
                ("v2".into(), us(4)),
                version("u", "two again", Some(us(6)), false)
            ),
            (("v2".into(), us(6)), version("u", "two thrice", None, true)),
            (("v1".into(), us(7)), version("c", "one reborn", None, true)),
        ])
    );
    assert_eq!(
        dimension(&c).await.keys().collect::<Vec<_>>(),
        ["v1", "v2"],
        "the dimension table beside it"
    );
}

/// Another writer (a compaction while the job was down) rewrites the dimension table between a
/// checkpoint's manifest and its commit: the planned rewrite replaces files that are gone, so
/// the commit plans it again on the table as it is, and the table ends up as the changes say.
#[tokio::test]
async fn a_rewrite_planned_on_a_table_compacted_since_is_planned_again() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let c = committer(&dir).await;
    let job = cdc_job();
    checkpoint(
        &c,
        &job,
        1,
        0,
        &[
            Some(change("c", "v1", "one", 1, false)),
            Some(change("c", "v2", "two", 2, false)),
        ],
    )
    .await;
    // Checkpoint 2 completes (its manifest plans the rewrite) but is not committed yet.
    let update = change("u", "v1", "uno", 3, false);
    let manifest = complete(&c, &job, 2, 2, &[Some(update)]).await;

    // The compaction: every live file of the dimension rewritten into a new one.
    let (_, table) = c
        .tables
        .iter()
        .find(|(role, _)| *role == floe_common::config::SinkRole::Dimension)
        .expect("a dimension table");
    let base = table.reload().await.expect("reload");
    let live = floe_table::dimension_rewrite::live_data_files(&base)
        .await
        .expect("live files");
    let mut rows = Vec::new();
    for f in &live {
        rows.extend(
            table
                .layout()
                .read_data_file(f.file_path(), None)
                .await
                .expect("read"),
        );
    }
    let all = arrow_select::concat::concat_batches(&table.layout().arrow_schema(), &rows)
        .expect("concat");
    let compacted = table.layout().write_data_files(all).await.expect("write");
    let compactor = floe_table::table_commit::JobOwner {
        job: "compactor".into(),
        epoch: 0,
    };
    let change = floe_table::overwrite_commit::Overwrite {
        removed: live.iter().map(|f| f.file_path().to_owned()).collect(),
        added: compacted,
        ..Default::default()
    };
    table
        .commit_change(
            &compactor,
            1,
            floe_table::table_commit::TableChange::Overwrite {
                change,
                via: c.snapshot_commits.as_deref().expect("overwrite commits"),
            },
        )
        .await
        .expect("the compaction commits");

    let report = c
        .commit(&manifest)
        .await
        .expect("commit after the compaction");
    assert_eq!(report.tables_committed, 2, "changelog and dimension");
    let rows = dimension(&c).await;
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["v1", "v2"]);
    assert_eq!(rows["v1"].0, "uno");
}
