//! The gold job with its warehouse and checkpoints on S3 (SeaweedFS) and the Iceberg REST
//! catalog; the checker reads the tables through the same REST catalog. Needs the services of
//! `scripts/services.sh DIR start --s3` (FLOE_S3_ENDPOINT, FLOE_REST_URI, FLOE_REST_CREDENTIAL,
//! FLOE_REST_WAREHOUSE, AWS_*): fails, never skips, without them.
//!
//! The REST catalog outlives test runs, so each test writes its tables into a namespace of its
//! own (`e2e_<test>_<random>.video_stats_1min`) and its checkpoints under a fresh S3 prefix.

use std::time::Duration;

use floe_tests::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(240);

fn s3_job(label: &str) -> (Services, Job) {
    let services = Services::from_env();
    let s3 = S3Services::from_env();
    let job = Job::new(
        &services,
        label,
        JobOptions {
            storage: Storage::S3(s3),
            ..JobOptions::with_partitions(3)
        },
    );
    (services, job)
}

/// One --until-end run: exact gold and dead letters, read through the REST catalog, and
/// `floe query` over S3 and the REST catalog answers as DuckDB does.
#[test]
fn gold_on_s3_with_rest_catalog() {
    let _serial = serial();
    let (_services, mut job) = s3_job("s3-gold");
    let mut gen = ContentGen::new(11, 20);
    let spec = StreamSpec::minutes(BASE_TS + 7_000, 5, 2000, 3, Placement::ByKey, 8_000);
    let recs = gen.stream_with_bad(&spec, 2 * BAD_KINDS);
    let log = job.produce_checked(&recs);

    job.run_until_end_exact(&log, RUN_TIMEOUT);
    job.assert_checkpoints_on_s3();
    let gold = job.gold_table.clone();
    let totals = format!(
        "SELECT count(*) AS n, CAST(sum(events) AS BIGINT) AS events, min(video_id) AS first \
         FROM {gold}"
    );
    job.assert_query_is_duckdbs(&totals, &[&gold], &totals);
}

/// `floe ingest s3://…` into the REST catalog's warehouse on S3: the table equals DuckDB's
/// `read_csv` of the same object.
#[test]
fn ingest_from_s3_into_the_rest_catalog() {
    let _serial = serial();
    let (_services, mut job) = s3_job("s3-ingest");
    let file = job.root.join("people.csv");
    std::fs::write(
        &file,
        "id,name,joined,balance\n1,\"Ann, A.\",2024-03-31,10.50\n2,Bob,2024-04-01,-3\n3,NA,,0.25\n",
    )
    .expect("write the file");
    let url = job.put_on_s3(&file);
    let (namespace, _) = job.gold_table.split_once('.').expect("ns.table");
    let table = format!("{namespace}.people");
    let printed = job.assert_ingest_is_duckdbs(&url, &table);
    assert!(
        printed.contains("balance decimal(4,2)") && printed.contains("joined date"),
        "{printed}"
    );
}

/// Restart from a checkpoint on S3: a streaming run commits its first windows and is stopped
/// with SIGTERM; more data arrives; an --until-end run resumes from the S3 checkpoint.
#[test]
fn restart_from_s3_checkpoint() {
    let _serial = serial();
    let (_services, mut job) = s3_job("s3-restart");
    let mut gen = ContentGen::new(12, 20);
    let spec = |start_ms| StreamSpec::minutes(start_ms, 3, 1000, 3, Placement::ByKey, 8_000);
    let first = gen.stream(&spec(BASE_TS + 2_000));
    let second = gen.stream(&spec(BASE_TS + 2_000 + 3 * 60_000));
    let log = job.restart_between(&first, Stop::Terminate, &second);
    job.assert_exact(&log);
    job.assert_checkpoints_on_s3();
}

/// A CDC job beside the gold job on S3 and the REST catalog: its dimension and history tables
/// are rewritten through the REST protocol's commit (Floe's overwrite, which iceberg 0.10
/// cannot make), across a SIGKILL, and both readers see exactly the source table.
#[test]
fn cdc_on_s3_with_rest_catalog() {
    let _serial = serial();
    let (_services, mut job) = s3_job("s3-cdc");
    let kafka = job.kafka();
    let cdc = job.add_cdc_job(&kafka, 3);
    let mut gen = ContentGen::new(13, 20);
    let events = gen.stream(&StreamSpec::minutes(
        BASE_TS + 7_000,
        3,
        600,
        3,
        Placement::ByKey,
        8_000,
    ));
    let log = job.produce_checked(&events);
    let mut changes = floe_tests::cdc::CdcGen::new(13, 500, 3);
    let mut records = changes.snapshot(250);
    records.extend(changes.changes(1_500));
    let mut counts = floe_tests::cdc::ChangeCounts::default();
    counts.add(&kafka.produce(&cdc.topic, &records));
    job.kill_streaming_run_after(Duration::from_secs(4));
    job.run_until_end(RUN_TIMEOUT);
    job.assert_cdc_exact(&cdc, &changes, counts);
    job.assert_exact(&log);
}
