//! What a query may not do: name what is not there, change anything, run past its timeout or
//! its memory. Over an empty in-memory catalog; real tables are read in the end-to-end tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use floe_query::{Lake, OutputFormat, QueryError, QueryLimits, Written};
use iceberg::memory::{MemoryCatalogBuilder, MEMORY_CATALOG_WAREHOUSE};
use iceberg::CatalogBuilder;

async fn run(sql: &str, limits: QueryLimits) -> Result<String, QueryError> {
    run_limited(sql, limits, u64::MAX)
        .await
        .map(|(text, _)| text)
}

async fn run_limited(
    sql: &str,
    limits: QueryLimits,
    max_rows: u64,
) -> Result<(String, Written), QueryError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = MemoryCatalogBuilder::default()
        .load(
            "memory",
            HashMap::from([(
                MEMORY_CATALOG_WAREHOUSE.to_owned(),
                dir.path().display().to_string(),
            )]),
        )
        .await
        .expect("a memory catalog");
    let path = dir.path().join("result.jsonl");
    let out = std::fs::File::create(&path).expect("a result file");
    let mut sink = floe_query::sink(OutputFormat::Json, out);
    let written = Lake::new(Arc::new(catalog), limits)
        .run_limited(sql, sink.as_mut(), max_rows)
        .await?;
    Ok((std::fs::read_to_string(&path).expect("the result"), written))
}

#[tokio::test]
async fn a_query_answers() {
    let got = run("SELECT 1 + 1 AS two", QueryLimits::default()).await;
    assert_eq!(got.expect("answers"), "{\"two\":2}\n");
}

#[tokio::test]
async fn a_row_limit_stops_the_result_and_says_so() {
    // Far more rows than a test could wait for: the query must stop at the limit.
    let sql = "SELECT value FROM generate_series(1, 100000000000)";
    let (text, written) = run_limited(sql, QueryLimits::default(), 3)
        .await
        .expect("answers");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert_eq!(
        written,
        Written {
            rows: 3,
            truncated: true
        }
    );
    let (_, all) = run_limited("SELECT 1 AS one", QueryLimits::default(), 1)
        .await
        .expect("answers");
    assert_eq!(
        all,
        Written {
            rows: 1,
            truncated: false
        }
    );
}

#[tokio::test]
async fn a_missing_table_is_named() {
    let err = run("SELECT * FROM gold.nope", QueryLimits::default())
        .await
        .expect_err("no such table");
    assert!(
        matches!(&err, QueryError::Sql(m) if m.contains("gold.nope")),
        "{err:?}"
    );
}

#[tokio::test]
async fn only_queries_run() {
    for sql in [
        "CREATE TABLE t AS SELECT 1 AS a",
        "CREATE VIEW v AS SELECT 1 AS a",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = run(sql, QueryLimits::default()).await.expect_err(sql);
        assert!(
            matches!(&err, QueryError::Sql(m) if m.starts_with("only queries run here")),
            "{sql}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_past_its_timeout_fails() {
    let limits = QueryLimits {
        timeout: Duration::from_millis(200),
        ..QueryLimits::default()
    };
    let err = run(
        "SELECT count(*) FROM generate_series(1, 100000000000)",
        limits,
    )
    .await
    .expect_err("too long");
    assert!(matches!(err, QueryError::TimedOut(_)), "{err:?}");
    assert_eq!(err.to_string(), "the query ran past its timeout of 200ms");
}

#[tokio::test]
async fn a_query_past_its_memory_fails_saying_so() {
    let limits = QueryLimits {
        memory_bytes: 1 << 20,
        ..QueryLimits::default()
    };
    let err = run(
        "SELECT array_agg(value) FROM generate_series(1, 10000000)",
        limits,
    )
    .await
    .expect_err("too big");
    assert!(
        matches!(
            err,
            QueryError::MemoryLimit {
                limit_bytes: 1_048_576,
                ..
            }
        ),
        "{err:?}"
    );
}
