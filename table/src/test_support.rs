//! Shared fixtures of the coordinator's table tests: a SQLite catalog in a temp dir, a small
//! schema and rows to write.

use std::sync::Arc;

use arrow_array::{
    BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use floe_common::schema::{Column, ColumnType, PartitionField, PartitionTransform, TableSchema};
use futures::TryStreamExt;
use iceberg::Catalog;

use crate::catalog::{connect_catalog, CatalogConfig};
use crate::iceberg_table::IcebergTable;
use crate::table_commit::JobOwner;

/// The owner of `job` at epoch 0 (no fencing).
pub fn owner(job: &str) -> JobOwner {
    JobOwner {
        job: job.to_owned(),
        epoch: 0,
    }
}

pub fn test_schema(name: &str) -> TableSchema {
    TableSchema {
        name: name.to_owned(),
        columns: vec![
            Column::new("window_start", ColumnType::TimestampTz, true),
            Column::new("video_id", ColumnType::String, true),
            Column::new("views", ColumnType::Long, true),
            Column::new("avg_watch", ColumnType::Double, false),
            Column::new("sketch", ColumnType::Binary, false),
        ],
        partition: vec![PartitionField {
            column: "window_start".into(),
            transform: PartitionTransform::Day,
        }],
    }
}

const DAY_MICROS: i64 = 86_400_000_000;

/// Rows spanning two days (2024-01-01 and 2024-01-02), built with plain Arrow types (no
/// field ids, `Binary`, naive timestamps) to exercise batch conforming too.
pub fn two_day_batch() -> RecordBatch {
    let day0 = 19_723 * DAY_MICROS; // 2024-01-01T00:00:00Z
    let ts = vec![
        day0,
        day0 + 60_000_000,
        day0 + DAY_MICROS,
        day0 + DAY_MICROS + 1,
    ];
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        arrow_schema::Field::new("video_id", DataType::Utf8, false),
        arrow_schema::Field::new("views", DataType::Int64, false),
        arrow_schema::Field::new("avg_watch", DataType::Float64, true),
        arrow_schema::Field::new("sketch", DataType::Binary, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts)),
            Arc::new(StringArray::from(vec!["a", "b", "a", "c"])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(2.0),
                Some(0.0),
            ])),
            Arc::new(BinaryArray::from_opt_vec(vec![
                Some(b"x".as_slice()),
                None,
                Some(b"yz".as_slice()),
                Some(b"".as_slice()),
            ])),
        ],
    )
    .expect("batch")
}

pub async fn sqlite_catalog(dir: &tempfile::TempDir) -> Arc<dyn Catalog> {
    let cfg = CatalogConfig::new(
        format!("sqlite://{}/catalog.db", dir.path().display()),
        format!("file://{}/warehouse", dir.path().display()),
    );
    connect_catalog(&cfg).await.expect("connect sqlite catalog")
}

pub async fn scan_rows(table: &IcebergTable) -> usize {
    scan_batches(table)
        .await
        .iter()
        .map(RecordBatch::num_rows)
        .sum()
}

/// The table's current rows as iceberg's own scan reads them.
pub async fn scan_batches(table: &IcebergTable) -> Vec<RecordBatch> {
    table
        .reload()
        .await
        .expect("reload")
        .scan()
        .build()
        .expect("scan")
        .to_arrow()
        .await
        .expect("to_arrow")
        .try_collect()
        .await
        .expect("read")
}
