//! A merge-on-read CDC job's compactions through the committer: written beside the stream,
//! committed between two checkpoints with the deletes added meanwhile carried over, the key
//! index following the rows.

use std::collections::BTreeMap;

use floe_common::config::SinkRole;
use floe_common::maintenance::MaintenancePolicy;
use floe_table::position_deletes::LiveFiles;

use super::cdc_tests::{cdc_job, change, checkpoint, committer, committer_of, dimension, job_of};
use super::*;

#[tokio::test]
async fn compaction_folds_the_position_deletes_and_the_next_change_finds_its_row() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let c = committer(&dir).await;
    let job = cdc_job();
    let creates: Vec<Option<String>> = (0..20)
        .map(|k| Some(change("c", &format!("v{k:02}"), "new", k, false)))
        .collect();
    checkpoint(&c, &job, 1, 0, &creates).await;
    for (id, k) in [(2, 3), (3, 5), (4, 7)] {
        let update = change("u", &format!("v{k:02}"), "updated", 100 + k, false);
        checkpoint(&c, &job, id, 20 + id as i64, &[Some(update)]).await;
    }
    let delete = change("d", "v09", "new", 200, false);
    checkpoint(&c, &job, 5, 30, &[Some(delete)]).await;
    let before = dimension(&c).await;
    assert_eq!(before.len(), 19);

    let (_, table) = c
        .tables
        .iter()
        .find(|(role, _)| *role == floe_common::config::SinkRole::Dimension)
        .expect("a dimension table");
    let files = |base: iceberg::table::Table| async move {
        floe_table::position_deletes::LiveFiles::of(&base)
            .await
            .expect("live files")
    };
    let before_files = files(table.reload().await.expect("reload")).await;
    assert_eq!(before_files.deletes.len(), 4, "one delete file per change");
    let policy = floe_common::maintenance::MaintenancePolicy {
        compact_min_files: 4,
        ..Default::default()
    };
    let done = table
        .compact_with_deletes(
            &policy,
            c.snapshot_commits.as_deref().expect("commits"),
            false,
        )
        .await
        .expect("compaction")
        .expect("something to compact");
    assert_eq!(done.files_rewritten, before_files.data.len());
    let after_files = files(table.reload().await.expect("reload")).await;
    assert!(after_files.deletes.is_empty(), "every delete folded in");
    assert_eq!(dimension(&c).await, before, "the same rows");

    // The key index is out of step with the compacted table: the next plan builds it again
    // and its delete points into the compacted file.
    checkpoint(
        &c,
        &job,
        6,
        40,
        &[Some(change("u", "v03", "again", 300, false))],
    )
    .await;
    let rows = dimension(&c).await;
    assert_eq!(rows.len(), 19);
    assert_eq!(rows["v03"].0, "again");
    assert_eq!(rows["v05"].0, "updated");
}

/// Many checkpoints of creates, updates and deletes over a few keys, with the table
/// maintenance the job runs beside them (expiry, manifest merges, compaction folding the
/// deletes in) every other checkpoint: the dimension table stays the source's rows.
#[tokio::test]
async fn merge_on_read_stays_exact_through_maintenance() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let job = job_of(&format!(
        "{}\n[job.sink.maintenance]\nevery_checkpoints = 7\nretain_last = 2\nmax_snapshots = 4\n\
         max_manifests = 3\ncompact_min_files = 5\n",
        include_str!("../../examples/dim_videos.toml").replace(
            "table = \"dims.dim_videos\"",
            "table = \"dims.dim_videos\"\nhistory_table = \"dims.dim_videos_history\"",
        )
    ));
    let c = committer_of(&dir, job.clone()).await;
    let mut source: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut seed = 7u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let (mut lsn, mut offset) = (0i64, 0i64);
    for id in 1..=60u64 {
        let mut records = Vec::new();
        for _ in 0..1 + next(60) {
            lsn += 1;
            let key = format!("v{}", next(300));
            let op = match (source.contains_key(&key), next(4)) {
                (false, _) => "c",
                (true, 0) => "d",
                (true, _) => "u",
            };
            let title = format!("t{lsn}");
            if op == "d" {
                let (old, _) = source.remove(&key).expect("a live key");
                records.push(Some(change(op, &key, &old, lsn, false)));
            } else {
                source.insert(key.clone(), (title.clone(), lsn));
                records.push(Some(change(op, &key, &title, lsn, false)));
            }
        }
        let n = records.len() as i64;
        checkpoint(&c, &job, id, offset, &records).await;
        offset += n;
        // Maintenance runs beside the next checkpoints.
        c.maintain().await;
        let rows: BTreeMap<String, (String, i64)> = dimension(&c)
            .await
            .into_iter()
            .map(|(k, (title, duration, _))| (k, (title, duration)))
            .collect();
        assert_eq!(rows, source, "after checkpoint {id}");
    }
    let statuses = c.maintenance_finished().await;
    assert!(
        statuses.iter().all(|s| s.last_error.is_none()),
        "{statuses:?}"
    );
}

/// The dimension table of `c` and its live files.
async fn dimension_files(c: &IcebergCommitter) -> (&IcebergTable, LiveFiles) {
    let (_, table) = c
        .tables
        .iter()
        .find(|(role, _)| *role == SinkRole::Dimension)
        .expect("a dimension table");
    let live = LiveFiles::of(&table.reload().await.expect("reload"))
        .await
        .expect("live files");
    (table, live)
}

#[tokio::test]
async fn deletes_added_while_a_compaction_is_written_are_carried_into_its_files() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let c = committer(&dir).await;
    let job = cdc_job();
    let creates: Vec<Option<String>> = (0..20)
        .map(|k| Some(change("c", &format!("v{k:02}"), "new", k, false)))
        .collect();
    checkpoint(&c, &job, 1, 0, &creates).await;
    for (id, k) in [(2, 3), (3, 5), (4, 7), (5, 9)] {
        let update = change("u", &format!("v{k:02}"), "updated", 100 + k, false);
        checkpoint(&c, &job, id, 20 + id as i64, &[Some(update)]).await;
    }
    let policy = MaintenancePolicy {
        compact_min_files: 4,
        ..Default::default()
    };
    let (table, before) = dimension_files(&c).await;
    let prepared = table
        .prepare_delete_compaction(&policy, false)
        .await
        .expect("prepare")
        .expect("something to compact");
    assert_eq!(prepared.done().files_rewritten, before.data.len());

    // The stream goes on: changes of rows in the files being rewritten, and a new key.
    let more = [
        change("u", "v01", "later", 301, false),
        change("d", "v13", "new", 302, false),
        change("u", "v03", "again", 303, false),
        change("c", "v20", "new", 304, false),
    ];
    for (i, record) in more.iter().enumerate() {
        let id = 6 + i as u64;
        checkpoint(&c, &job, id, 30 + id as i64, &[Some(record.clone())]).await;
    }
    let expected = dimension(&c).await;
    assert_eq!(expected.len(), 20);

    let committed = table
        .commit_delete_compaction(prepared, c.snapshot_commits.as_deref().expect("commits"))
        .await
        .expect("the compaction commits over the newer deletes");
    assert_eq!(
        committed.deletes_carried, 3,
        "v01, v13 and v03's rows moved"
    );
    assert_eq!(dimension(&c).await, expected, "the same rows");
    let (_, after) = dimension_files(&c).await;
    assert_eq!(after.deletes.len(), 1, "one delete file, in the new files");
    let mut index = c.key_index.lock().await;
    let index = index.as_mut().expect("the stream built the index");
    assert!(index.follow_compaction(&committed));
    assert!(
        index.is_current_for(&after.paths()),
        "the next plan uses it as it is"
    );
}
