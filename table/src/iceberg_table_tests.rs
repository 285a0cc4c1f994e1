//! Unit tests of `iceberg_table.rs`.

use super::*;
use crate::commit_marker::{ancestry, CHECKPOINT_ID_PROPERTY, JOB_ID_PROPERTY};
use crate::pinned_catalog::PinnedCatalog;
use crate::table_creation::PARQUET_COMPRESSION_PROPERTY;
use crate::test_support::{owner, scan_rows, sqlite_catalog, test_schema, two_day_batch};
use arrow_array::{Float64Array, Int64Array, TimestampMicrosecondArray};
use arrow_array::{LargeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use floe_common::schema::ColumnType;
use iceberg::spec::DataFile;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::ErrorKind;
use parquet::basic::Compression;
use std::collections::HashMap;

#[tokio::test]
async fn interleaved_days_land_in_the_right_partitions() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let catalog = sqlite_catalog(&dir).await;
    let table = IcebergTable::open_or_create(catalog, &test_schema("gold.interleaved"))
        .await
        .expect("create");
    // Runs of one, two and one rows per day: each run's key must match its rows.
    let rows = two_day_batch();
    let order = arrow_array::UInt32Array::from(vec![0, 2, 3, 1]);
    let columns = rows
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &order, None).expect("take"))
        .collect();
    let batch = RecordBatch::try_new(rows.schema(), columns).expect("batch");
    let files = table.layout().write_data_files(batch).await.expect("write");
    let mut per_day: Vec<(String, u64)> = files
        .iter()
        .map(|f| {
            let day = f
                .file_path()
                .split('/')
                .find_map(|s| s.strip_prefix("window_start_day="))
                .expect("a day partition directory")
                .to_owned();
            (day, f.record_count())
        })
        .collect();
    per_day.sort();
    assert_eq!(
        per_day,
        [("2024-01-01".to_owned(), 2), ("2024-01-02".to_owned(), 2)]
    );
}

#[tokio::test]
async fn write_commit_idempotent_and_readable() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let catalog = sqlite_catalog(&dir).await;
    let spec = test_schema("gold.stats.video_1min");
    let table = IcebergTable::open_or_create(catalog.clone(), &spec)
        .await
        .expect("create");
    let fields = table.layout().arrow_schema();
    assert_eq!(fields.fields().len(), 5);
    assert!(fields.field(0).metadata().contains_key("PARQUET:field_id"));
    assert_eq!(
        table
            .reload()
            .await
            .expect("reload")
            .metadata()
            .properties()[PARQUET_COMPRESSION_PROPERTY],
        "zstd"
    );

    // Empty batch: nothing written.
    let empty = RecordBatch::new_empty(table.layout().arrow_schema());
    assert!(table
        .layout()
        .write_data_files(empty)
        .await
        .expect("empty")
        .is_empty());

    let files = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    assert!(files.len() >= 2, "one file per day, got {}", files.len());
    assert_eq!(files.iter().map(DataFile::record_count).sum::<u64>(), 4);
    for f in &files {
        assert!(
            f.file_path().contains("window_start_day="),
            "{}",
            f.file_path()
        );
        assert!(f.file_path().contains("/floe-"), "{}", f.file_path());
        let local = f.file_path().trim_start_matches("file://");
        let reader = parquet::file::reader::SerializedFileReader::new(
            std::fs::File::open(local).expect("open parquet"),
        )
        .expect("parquet");
        use parquet::file::reader::FileReader;
        let codec = reader.metadata().row_group(0).column(0).compression();
        assert!(matches!(codec, Compression::ZSTD(_)), "{codec:?}");
    }

    // JSON round trip (what workers ship to the coordinator).
    let json = table.layout().data_files_to_json(&files).expect("to json");
    let back = table
        .layout()
        .data_files_from_json(&json)
        .expect("from json");
    assert_eq!(back, files);

    assert_eq!(
        table
            .last_committed_checkpoint("job-1")
            .await
            .expect("last"),
        None
    );
    let first = table
        .commit(&owner("job-1"), 1, back)
        .await
        .expect("commit 1");
    assert!(
        matches!(first, CommitOutcome::Committed { .. }),
        "{first:?}"
    );
    let again = table
        .commit(&owner("job-1"), 1, files.clone())
        .await
        .expect("re-commit 1");
    assert_eq!(again, CommitOutcome::AlreadyCommitted { last: 1 });
    assert_eq!(
        scan_rows(&table).await,
        4,
        "re-commit must not duplicate rows"
    );

    let more = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write 2");
    let second = table
        .commit(&owner("job-1"), 2, more)
        .await
        .expect("commit 2");
    let CommitOutcome::Committed { snapshot_id } = second else {
        panic!("expected Committed, got {second:?}");
    };
    let current = table.reload().await.expect("reload");
    assert_eq!(current.metadata().current_snapshot_id(), Some(snapshot_id));
    assert_eq!(
        table
            .last_committed_checkpoint("job-1")
            .await
            .expect("last"),
        Some(2)
    );
    assert_eq!(scan_rows(&table).await, 8);

    // Older checkpoints are refused too.
    assert_eq!(
        table
            .commit(&owner("job-1"), 1, Vec::new())
            .await
            .expect("old"),
        CommitOutcome::AlreadyCommitted { last: 2 }
    );

    // Another job commits on top (with data); job-1's checkpoint must still be found
    // through the ancestry, and job-2 has its own sequence.
    let other = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write other");
    let o = table
        .commit(&owner("other"), 7, other)
        .await
        .expect("other job");
    assert!(matches!(o, CommitOutcome::Committed { .. }));
    // An empty commit is recorded as its own snapshot.
    let e = table
        .commit(&owner("other"), 8, Vec::new())
        .await
        .expect("empty commit");
    let CommitOutcome::Committed {
        snapshot_id: empty_snap,
    } = e
    else {
        panic!("expected Committed, got {e:?}");
    };
    let current = table.reload().await.expect("reload");
    assert_eq!(current.metadata().current_snapshot_id(), Some(empty_snap));
    assert_eq!(
        table
            .last_committed_checkpoint("job-1")
            .await
            .expect("last"),
        Some(2)
    );
    assert_eq!(
        table
            .last_committed_checkpoint("other")
            .await
            .expect("last"),
        Some(8)
    );
    assert_eq!(
        table
            .commit(&owner("job-1"), 2, Vec::new())
            .await
            .expect("dup"),
        CommitOutcome::AlreadyCommitted { last: 2 }
    );
    assert_eq!(scan_rows(&table).await, 12);
    let ancestry_len = ancestry(current.metadata()).len();
    assert_eq!(ancestry_len, 4);

    // A second connection to the same SQLite file sees the same table.
    let catalog2 = sqlite_catalog(&dir).await;
    let reopened = IcebergTable::open_or_create(catalog2.clone(), &spec)
        .await
        .expect("reopen");
    assert_eq!(
        reopened
            .last_committed_checkpoint("job-1")
            .await
            .expect("last"),
        Some(2)
    );
    assert_eq!(scan_rows(&reopened).await, 12);
    let loaded = catalog2
        .load_table(&TableIdent::from_strs(["gold", "stats", "video_1min"]).expect("ident"))
        .await
        .expect("load via second connection");
    assert_eq!(loaded.metadata().current_snapshot_id(), Some(empty_snap));
}

#[tokio::test]
async fn schema_mismatch_and_bad_batches_are_clear_errors() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let catalog = sqlite_catalog(&dir).await;
    let spec = test_schema("db.t");
    let table = IcebergTable::open_or_create(catalog.clone(), &spec)
        .await
        .expect("create");

    let mut changed = spec.clone();
    changed.columns[2].ty = ColumnType::Double;
    changed.columns.push(floe_common::schema::Column::new(
        "extra",
        ColumnType::Int,
        false,
    ));
    let err = IcebergTable::open_or_create(catalog.clone(), &changed)
        .await
        .expect_err("mismatch");
    let msg = err.to_string();
    assert!(msg.contains("`views`") && msg.contains("`extra`"), "{msg}");

    // Same columns in another order: accepted.
    let mut reordered = spec.clone();
    reordered.columns.swap(0, 4);
    IcebergTable::open_or_create(catalog.clone(), &reordered)
        .await
        .expect("reordered columns are fine");

    // Missing column.
    let batch = two_day_batch();
    let partial = batch.project(&[0, 1, 2]).expect("project");
    let err = table
        .layout()
        .write_data_files(partial)
        .await
        .expect_err("missing");
    assert!(
        err.to_string().contains("missing column `avg_watch`"),
        "{err}"
    );

    // Null in a required column.
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        arrow_schema::Field::new("video_id", DataType::Utf8, true),
        arrow_schema::Field::new("views", DataType::Int64, true),
        arrow_schema::Field::new("avg_watch", DataType::Float64, true),
        arrow_schema::Field::new("sketch", DataType::LargeBinary, true),
    ]));
    let nulls = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMicrosecondArray::from(vec![0]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(LargeBinaryArray::from_opt_vec(vec![None])),
        ],
    )
    .expect("batch");
    let err = table
        .layout()
        .write_data_files(nulls)
        .await
        .expect_err("nulls");
    assert!(matches!(err, DataFileError::Arrow { .. }), "{err}");

    // Bad names / partitioning.
    let mut bad = spec.clone();
    bad.name = "no_namespace".into();
    assert!(matches!(
        IcebergTable::open_or_create(catalog.clone(), &bad).await,
        Err(TableError::InvalidName(_))
    ));
    let mut bad = spec.clone();
    bad.name = "db.t2".into();
    bad.partition[0].column = "views".into();
    assert!(matches!(
        IcebergTable::open_or_create(catalog.clone(), &bad).await,
        Err(TableError::Sink(DataFileError::InvalidSchema { .. }))
    ));
}

#[tokio::test]
async fn unpartitioned_table_and_first_commit_empty() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let catalog = sqlite_catalog(&dir).await;
    let mut spec = test_schema("db.flat");
    spec.partition.clear();
    let table = IcebergTable::open_or_create(catalog, &spec)
        .await
        .expect("create");
    let out = table
        .commit(&owner("j"), 1, Vec::new())
        .await
        .expect("empty first");
    assert!(matches!(out, CommitOutcome::Committed { .. }));
    assert_eq!(
        table.last_committed_checkpoint("j").await.expect("last"),
        Some(1)
    );
    assert_eq!(scan_rows(&table).await, 0);
    let files = table
        .layout()
        .write_data_files(two_day_batch())
        .await
        .expect("write");
    assert_eq!(files.len(), 1);
    table.commit(&owner("j"), 2, files).await.expect("commit");
    assert_eq!(scan_rows(&table).await, 4);
}

/// Several jobs of one process create their tables (and a shared namespace) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creation_of_a_namespace_and_table_succeeds() {
    for round in 0..5 {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        let opens = (0..6).map(|i| {
            let catalog = catalog.clone();
            let name = format!("shared.t{}", i % 2);
            tokio::spawn(
                async move { IcebergTable::open_or_create(catalog, &test_schema(&name)).await },
            )
        });
        for result in futures::future::join_all(opens).await {
            let opened = result.expect("join");
            assert!(opened.is_ok(), "round {round}: {:?}", opened.err());
        }
    }
}

/// A stale commit (built on an old snapshot) must not be rebased silently: we pin each
/// attempt to the checked snapshot, so the catalog reports a conflict.
#[tokio::test]
async fn pinned_commit_conflicts_instead_of_rebasing() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let catalog = sqlite_catalog(&dir).await;
    let mut spec = test_schema("db.pin");
    spec.partition.clear();
    let table = IcebergTable::open_or_create(catalog.clone(), &spec)
        .await
        .expect("create");
    let stale = table.reload().await.expect("reload");
    table
        .commit(&owner("j"), 1, Vec::new())
        .await
        .expect("commit 1");

    let props = HashMap::from([
        (JOB_ID_PROPERTY.to_owned(), "j".to_owned()),
        (CHECKPOINT_ID_PROPERTY.to_owned(), "1".to_owned()),
    ]);
    let tx = Transaction::new(&stale);
    let tx = tx
        .fast_append()
        .set_snapshot_properties(props)
        .apply(tx)
        .expect("apply");
    let pinned = PinnedCatalog {
        inner: catalog.clone(),
        base: stale,
    };
    let err = tx.commit(&pinned).await.expect_err("must conflict");
    assert_eq!(err.kind(), ErrorKind::CatalogCommitConflicts);
    assert_eq!(
        table.last_committed_checkpoint("j").await.expect("last"),
        Some(1)
    );
    assert_eq!(
        ancestry(table.reload().await.expect("reload").metadata()).len(),
        1
    );
}
