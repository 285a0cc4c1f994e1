//! An overwrite committed by Floe's own commit path, read by the independent readers
//! (pyiceberg and DuckDB's iceberg extension, `tests/py/read_table.py`): the removed file's
//! rows are gone, its rewrite and the rest are there, for both.
//!
//! Needs `FLOE_PYTHON` (the venv of scripts/python-env.sh), for the PostgreSQL catalog
//! `FLOE_POSTGRES_URL`, for the REST catalog on S3 `FLOE_REST_URI`, `FLOE_REST_CREDENTIAL`,
//! `FLOE_REST_WAREHOUSE`, `FLOE_S3_ENDPOINT` and `AWS_*` (scripts/test.sh exports them all): the
//! tests fail without them rather than skip.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use floe_common::schema::{Column, ColumnType, TableSchema};
use floe_table::catalog::{connect_catalog, CatalogConfig};
use floe_table::iceberg_table::IcebergTable;
use floe_table::overwrite_commit::{stage_overwrite, Overwrite, SnapshotCommits};
use floe_table::table_commit::JobOwner;
use iceberg::ErrorKind;

fn batch(ids: &[i64], names: &[&str]) -> RecordBatch {
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("name", arrow_schema::DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names.to_vec())),
        ],
    )
    .expect("batch")
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name}: start the services with scripts/services.sh DIR start --s3 --pg")
    })
}

fn read(catalog_uri: &str, warehouse: &str, table: &str, reader: &str) -> Vec<(i64, String)> {
    let python = std::env::var("FLOE_PYTHON")
        .expect("FLOE_PYTHON: a python with pyiceberg and duckdb (scripts/python-env.sh)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/py/read_table.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--catalog-uri", catalog_uri])
        .args(["--warehouse", warehouse])
        .args(["--table", table, "--reader", reader])
        .output()
        .expect("run read_table.py");
    assert!(
        out.status.success(),
        "read_table.py --reader {reader}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows: Vec<(i64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            (
                v["id"].as_i64().expect("id"),
                v["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn both_readers_see_an_overwrite_applied_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("sqlite://{}/catalog.db", dir.path().display());
    let reader_uri = format!("sqlite:///{}/catalog.db", dir.path().display());
    let warehouse = format!("file://{}/warehouse", dir.path().display());
    let cfg = CatalogConfig::new(uri, &warehouse);
    overwrite_and_read(&cfg, &reader_uri, "dims.people").await;
}

#[tokio::test]
async fn both_readers_see_an_overwrite_applied_postgres() {
    let uri = env("FLOE_POSTGRES_URL");
    let reader_uri = format!(
        "postgresql+psycopg2://{}",
        uri.split_once("://").map_or(uri.as_str(), |(_, rest)| rest)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // The database outlives test runs: a namespace of this run's own.
    let table = format!("overwrite_{}.people", uuid::Uuid::new_v4().simple());
    let warehouse = format!("file://{}/warehouse", dir.path().display());
    let cfg = CatalogConfig::new(uri, &warehouse);
    overwrite_and_read(&cfg, &reader_uri, &table).await;
}

#[tokio::test]
async fn both_readers_see_an_overwrite_applied_rest_on_s3() {
    let uri = env("FLOE_REST_URI");
    let mut cfg = CatalogConfig::new(&uri, env("FLOE_REST_WAREHOUSE"));
    for (key, var) in [
        ("credential", "FLOE_REST_CREDENTIAL"),
        ("s3.endpoint", "FLOE_S3_ENDPOINT"),
        ("s3.access-key-id", "AWS_ACCESS_KEY_ID"),
        ("s3.secret-access-key", "AWS_SECRET_ACCESS_KEY"),
    ] {
        cfg.properties.insert(key.into(), env(var));
    }
    cfg.properties
        .insert("s3.region".into(), "us-east-1".into());
    cfg.properties
        .insert("s3.path-style-access".into(), "true".into());
    // The catalog outlives test runs: a namespace of this run's own.
    let table = format!("overwrite_{}.people", uuid::Uuid::new_v4().simple());
    overwrite_and_read(&cfg, &uri, &table).await;
}

/// Two appends, then an overwrite of the first file through Floe's own commit; both readers
/// must see exactly the rows after it.
async fn overwrite_and_read(cfg: &CatalogConfig, reader_uri: &str, table_name: &str) {
    let spec = TableSchema {
        name: table_name.into(),
        columns: vec![
            Column::new("id", ColumnType::Long, true),
            Column::new("name", ColumnType::String, true),
        ],
        partition: Vec::new(),
    };
    let table = IcebergTable::open_or_create(connect_catalog(cfg).await.expect("catalog"), &spec)
        .await
        .expect("table");
    let owner = JobOwner {
        job: "dims".into(),
        epoch: 0,
    };
    let first = table
        .layout()
        .write_data_files(batch(&[1, 2, 3], &["ann", "bob", "cy"]))
        .await
        .expect("write");
    let second = table
        .layout()
        .write_data_files(batch(&[4, 5], &["dee", "eve"]))
        .await
        .expect("write");
    let removed: BTreeSet<String> = first.iter().map(|f| f.file_path().to_owned()).collect();
    table.commit(&owner, 1, first).await.expect("append 1");
    table.commit(&owner, 2, second).await.expect("append 2");

    // Copy-on-write of the first file: bob deleted, cy renamed; a new row beside.
    let rewrite = table
        .layout()
        .write_data_files(batch(&[1, 3, 6], &["ann", "cyd", "fay"]))
        .await
        .expect("write");
    let base = table.reload().await.expect("reload");
    let change = Overwrite {
        removed,
        added: rewrite,
        ..Default::default()
    };
    let commits = SnapshotCommits::connect(cfg).await.expect("connect");
    let staged = stage_overwrite(&base, &change, HashMap::new(), Vec::new())
        .await
        .expect("stage");
    commits.commit(&base, staged).await.expect("commit");
    // The same change staged on the table as it was before: the catalog refuses it.
    let stale = stage_overwrite(&base, &change, HashMap::new(), Vec::new())
        .await
        .expect("stage");
    let err = commits.commit(&base, stale).await.expect_err("stale");
    assert_eq!(err.kind(), ErrorKind::CatalogCommitConflicts, "{err}");

    let want: Vec<(i64, String)> = [(1, "ann"), (3, "cyd"), (4, "dee"), (5, "eve"), (6, "fay")]
        .iter()
        .map(|(i, n)| (*i, n.to_string()))
        .collect();
    for reader in ["pyiceberg", "duckdb"] {
        assert_eq!(
            read(reader_uri, &cfg.warehouse, table_name, reader),
            want,
            "{reader}"
        );
    }
}
