//! Table maintenance beside the stream, checked by the independent readers: the Bronze and
//! gold jobs in one config, committing every third checkpoint, with maintenance every few
//! checkpoints (expiry down to a handful of snapshots, manifest merges, compaction), SIGKILLed at random moments while the producer is live (so
//! during maintenance too), another engine rewriting and expiring the Bronze table while Floe
//! streams, then a run to the end and `floe maintain`. Both tables must be exact for both
//! readers, stay within the policy's bounds, read the same in both readers as of every snapshot
//! they keep, and lose only the orphan old enough to go.
//!
//! The random choices come from a printed seed (`FLOE_E2E_SEED` replays them).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const PARTITIONS: i32 = 3;
const MAX_SNAPSHOTS: i64 = 4;

/// Rows as a set of canonical JSON texts.
fn row_set(rows: &[Value]) -> BTreeSet<String> {
    rows.iter().map(Value::to_string).collect()
}

#[test]
fn maintained_tables_stay_bounded_exact_and_readable_in_time() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("maintenance");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut job = Job::new(
        &services,
        "maintenance",
        JobOptions::with_partitions(PARTITIONS).interval("200ms"),
    );
    let bronze = job.add_bronze_job();
    job.set_maintenance(&[
        ("interval", "2s".into()),
        ("every_checkpoints", toml::Value::Integer(4)),
        ("retain_last", toml::Value::Integer(2)),
        ("max_snapshots", toml::Value::Integer(MAX_SNAPSHOTS)),
        ("max_manifests", toml::Value::Integer(3)),
        ("compact_min_files", toml::Value::Integer(4)),
    ]);
    // Three checkpoints per commit: the ones between hand their files on.
    job.set_sink_of_every_job("commit_interval", "600ms".into());
    let mut gen = ContentGen::new(seed, 30);
    let start = BASE_TS + 5_000;
    let spec = StreamSpec::minutes(start, 8, 12_000, PARTITIONS, Placement::ByKey, 5_000);
    let records = gen.stream_with_bad(&spec, 4 * BAD_KINDS);
    let producer = job.produce_in_background(records, 200, Duration::from_millis(300));
    let kills = job.kill_streaming_runs_until(
        || Duration::from_millis(rng.random_range(1_000..=4_000)),
        || producer.is_finished(),
    );
    let mut log = EventLog::default();
    log.extend(producer.join().expect("producer thread"));
    eprintln!(
        "[maintenance] produced {} records; {kills} kills while producing",
        log.records.len()
    );

    // Another engine rewrites the Bronze table and expires its history while Floe streams new
    // records into it.
    let spec = StreamSpec::minutes(
        start + 8 * 60_000,
        2,
        6_000,
        PARTITIONS,
        Placement::ByKey,
        5_000,
    );
    let producer = job.produce_in_background(gen.stream(&spec), 100, Duration::from_millis(300));
    let mut streaming = job.start(&RunOptions::streaming().interval("200ms"));
    std::thread::sleep(Duration::from_secs(3));
    job.rewrite_and_expire(&bronze.table);
    std::thread::sleep(Duration::from_secs(3));
    streaming.kill();
    log.extend(producer.join().expect("producer thread"));
    let maintained_runs = job
        .logs()
        .iter()
        .filter(|(_, text)| text.contains("table maintained"))
        .count();
    assert!(maintained_runs > 0, "maintenance ran beside the stream");

    job.run_until_end(Duration::from_secs(240));
    // Exact, but a table's kept snapshots may all be maintenance snapshots without a Floe
    // checkpoint id: ids are checked below, over the snapshots that have one.
    let checked = job.check(
        &log,
        &CheckOptions {
            until: None,
            side_tables: true,
            unique_checkpoint_ids: false,
        },
    );
    match checked {
        Ok(out) => eprintln!("[maintenance] {out}"),
        Err(e) => panic!(
            "[maintenance] the tables are not exact:\n{e}\n{}",
            job.last_log_tail()
        ),
    }
    job.assert_side_table(&log, Expect::Late);
    job.assert_side_table(&log, Expect::Bad);
    job.assert_bronze_exact(&log, &bronze);
    job.assert_each_checkpoint_once(&bronze.table, floe_tests::bronze::BRONZE_JOB);
    job.assert_each_checkpoint_once(&job.gold_table.clone(), JOB_NAME);

    // An orphan old enough to go, and one too young.
    let data_dir = job
        .root
        .join("warehouse")
        .join(bronze.table.replace('.', "/"))
        .join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let old = data_dir.join("orphan-old.parquet");
    let young = data_dir.join("orphan-young.parquet");
    for f in [&old, &young] {
        std::fs::write(f, b"PAR1").expect("orphan");
    }
    std::fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400)))
        .expect("age the orphan");

    let dry = job.maintain(&["--dry-run", "--table", &bronze.table]);
    assert!(dry.contains("would delete"), "{dry}");
    assert!(
        dry.contains(&format!("would delete {}", old_url(&old))),
        "{dry}"
    );
    assert!(old.exists(), "a dry run deletes nothing");
    let done = job.maintain(&[]);
    assert!(!done.contains("failed"), "{done}");
    assert!(!old.exists(), "the old orphan is deleted");
    assert!(young.exists(), "a young file is never an orphan");
    // With every job stopped, a young orphan may go too.
    let now = job.maintain(&[
        "--table",
        &bronze.table,
        "--orphan-min-age",
        "0s",
        "--jobs-stopped",
    ]);
    assert!(
        !young.exists(),
        "--orphan-min-age 0s takes the young orphan:\n{now}"
    );

    // Bounded, and every kept snapshot reads the same in both readers.
    for table in [bronze.table.clone(), job.gold_table.clone()] {
        let summaries = job.summaries(&table).expect("table exists");
        assert!(
            summaries.len() as i64 <= MAX_SNAPSHOTS,
            "{table} keeps {} snapshots",
            summaries.len()
        );
        let current = row_set(&job.read_rows(&table, "pyiceberg"));
        let mut seen = 0;
        for s in &summaries {
            let id = s["snapshot_id"].as_i64().expect("snapshot id");
            let py = row_set(&job.read_rows_at(&table, id, "pyiceberg"));
            let duck = row_set(&job.read_rows_at(&table, id, "duckdb"));
            assert_eq!(py, duck, "{table} as of {id}: the readers differ");
            if table == bronze.table {
                assert!(
                    py.is_subset(&current),
                    "{table} as of {id} has rows it lost since"
                );
                assert!(py.len() >= seen, "{table} shrank at {id}");
                seen = py.len();
            }
        }
        eprintln!(
            "[maintenance] {table}: {} snapshots, each read alike by both readers",
            summaries.len()
        );
    }
    let metadata_files = std::fs::read_dir(data_dir.with_file_name("metadata"))
        .expect("metadata dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
        .count();
    assert!(metadata_files <= 11, "{metadata_files} metadata files kept");
    job.assert_bronze_exact(&log, &bronze);
}

/// How the table names a local file.
fn old_url(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// The same on SeaweedFS S3 through the REST catalog, with a CDC job beside gold and Bronze:
/// merges, compactions and expiries commit through the REST protocol, deletions and the orphan
/// listing go to S3, and the dimension table stays equal to its source.
#[test]
fn maintenance_on_s3_through_the_rest_catalog_with_cdc() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = Job::new(
        &services,
        "maintenance-s3",
        JobOptions {
            storage: Storage::S3(S3Services::from_env()),
            ..JobOptions::with_partitions(PARTITIONS).interval("150ms")
        },
    );
    let kafka = job.kafka();
    let bronze = job.add_bronze_job();
    let cdc = job.add_cdc_job(&kafka, PARTITIONS);
    job.set_maintenance(&[
        ("every_checkpoints", toml::Value::Integer(3)),
        ("retain_last", toml::Value::Integer(2)),
        ("max_snapshots", toml::Value::Integer(MAX_SNAPSHOTS)),
        ("max_manifests", toml::Value::Integer(3)),
        ("compact_min_files", toml::Value::Integer(3)),
    ]);
    let mut gen = ContentGen::new(21, 20);
    let spec = StreamSpec::minutes(
        BASE_TS + 7_000,
        4,
        4_000,
        PARTITIONS,
        Placement::ByKey,
        5_000,
    );
    let log = job.produce_checked(&gen.stream_with_bad(&spec, 2 * BAD_KINDS));
    let mut changes = floe_tests::cdc::CdcGen::new(21, 300, PARTITIONS);
    let mut counts = floe_tests::cdc::ChangeCounts::default();
    counts.add(&kafka.produce(&cdc.topic, &changes.snapshot(300)));
    let mut streaming = job.start(&RunOptions::streaming().interval("150ms"));
    for _ in 0..6 {
        counts.add(&kafka.produce(&cdc.topic, &changes.changes(200)));
        std::thread::sleep(Duration::from_millis(700));
    }
    streaming.kill();
    job.run_until_end(Duration::from_secs(240));
    job.assert_cdc_exact(&cdc, &changes, counts);
    job.assert_bronze_exact(&log, &bronze);
    let done = job.maintain(&[]);
    assert!(!done.contains("failed"), "{done}");
    for table in [&bronze.table, &cdc.table, &job.gold_table.clone()] {
        let kept = job.summaries(table).expect("table exists").len() as i64;
        assert!(kept <= MAX_SNAPSHOTS, "{table} keeps {kept} snapshots");
    }
    let maintained = job
        .logs()
        .iter()
        .filter(|(_, text)| text.contains("table maintained"))
        .count();
    assert!(maintained > 0, "maintenance ran beside the stream");
    job.assert_cdc_exact(&cdc, &changes, counts);
    job.assert_bronze_exact(&log, &bronze);
}

/// Crashes inside maintenance: after an expiry's commit, before its deletions; and after a
/// compaction's rewrite, before its commit. Records keep arriving meanwhile. The tables stay
/// exact for both readers; what the crashes left behind is only unreferenced files.
#[test]
fn crashes_inside_maintenance_leave_the_tables_exact() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = Job::new(
        &services,
        "maintenance-crash",
        JobOptions::with_partitions(PARTITIONS).interval("200ms"),
    );
    let bronze = job.add_bronze_job();
    job.set_maintenance(&[
        ("every_checkpoints", toml::Value::Integer(2)),
        ("retain_last", toml::Value::Integer(1)),
        ("max_snapshots", toml::Value::Integer(2)),
        ("max_manifests", toml::Value::Integer(2)),
        ("compact_min_files", toml::Value::Integer(3)),
    ]);
    let mut gen = ContentGen::new(31, 30);
    let spec = StreamSpec::minutes(
        BASE_TS + 5_000,
        6,
        9_000,
        PARTITIONS,
        Placement::ByKey,
        5_000,
    );
    let records = gen.stream_with_bad(&spec, 2 * BAD_KINDS);
    let producer = job.produce_in_background(records, 100, Duration::from_millis(250));
    job.crash_streaming_at("expiry-before-deletes:1");
    job.crash_streaming_at("compaction-before-commit:1");
    let mut log = EventLog::default();
    log.extend(producer.join().expect("producer thread"));
    job.run_until_end(Duration::from_secs(240));
    let checked = job.check(
        &log,
        &CheckOptions {
            until: None,
            side_tables: true,
            unique_checkpoint_ids: false,
        },
    );
    if let Err(e) = checked {
        panic!("[maintenance-crash] the tables are not exact:\n{e}");
    }
    job.assert_side_table(&log, Expect::Bad);
    job.assert_bronze_exact(&log, &bronze);
    job.assert_each_checkpoint_once(&bronze.table, floe_tests::bronze::BRONZE_JOB);
}
