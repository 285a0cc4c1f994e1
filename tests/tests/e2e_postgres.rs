//! The gold job with its Iceberg SQL catalog on PostgreSQL (`--catalog postgres://…`), read back
//! by pyiceberg / DuckDB through the same database. Needs `scripts/services.sh DIR start --pg`
//! (FLOE_POSTGRES_URL): fails, never skips, without it.
//!
//! The database outlives test runs, so the tables live in a namespace of the test's own.

use floe_tests::*;

/// A streaming run commits its first windows and is killed with SIGKILL; more data arrives; an
/// --until-end run recovers from the checkpoint and the ancestry kept in Postgres: exact tables.
#[test]
fn gold_with_postgres_catalog_survives_a_kill() {
    let _serial = serial();
    let services = Services::from_env();
    let storage = Storage::Postgres(PgServices::from_env());
    let mut job = Job::new(
        &services,
        "postgres",
        JobOptions {
            storage,
            ..JobOptions::with_partitions(3)
        },
    );
    let mut gen = ContentGen::new(13, 20);
    let spec = |start_ms| StreamSpec::minutes(start_ms, 3, 1000, 3, Placement::ByKey, 8_000);
    let first = gen.stream_with_bad(&spec(BASE_TS + 4_000), BAD_KINDS);
    let second = gen.stream(&spec(BASE_TS + 4_000 + 3 * 60_000));
    let log = job.restart_between(&first, Stop::Kill, &second);
    job.assert_exact(&log);
}
