//! Harness of Floe's end-to-end tests (`tests/tests/*.rs`).
//!
//! The tests drive the real `floe` binary against real services and check the Iceberg tables it
//! writes with readers that share no code with Floe (`tests/py/check_gold.py`: pyiceberg and
//! DuckDB, expected rows computed with DuckDB SQL from the events file this harness writes).
//!
//! Running them:
//! ```text
//! scripts/test.sh                                   # starts the services, builds, runs everything
//! # or by hand:
//! set -a; eval "$(scripts/services.sh /tmp/floe-e2e start --s3 --pg)"; set +a
//! export CARGO_TARGET_DIR=$HOME/.cache/floe/target
//! cargo build --release -p floe-cli && cargo test --release -p floe-tests
//! scripts/services.sh /tmp/floe-e2e stop
//! ```
//! Environment: `FLOE_KAFKA_BROKERS` and `FLOE_PYTHON` are required (a test FAILS without them,
//! it never skips); `e2e_s3` also needs `FLOE_S3_ENDPOINT`, `FLOE_REST_URI`,
//! `FLOE_REST_CREDENTIAL`, `FLOE_REST_WAREHOUSE`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`.
//! Optional: `FLOE_BIN` (the floe binary; default `<test exe dir>/../floe`), `FLOE_E2E_SEED`
//! (replays the random choices of a failed run: the seed is printed), `FLOE_E2E_KEEP=1` (keep
//! every test directory; a failing test always keeps its own and prints the path).
//!
//! Event-time semantics the expectations rely on (the gold job with the window settings this
//! harness writes into every config): 1-minute tumbling windows, watermark per partition = max
//! event time seen − 10 s, global watermark = min over non-idle partitions, a window [s, e)
//! closes when the global watermark ≥ e, an event whose window has closed is late.
//! Every label the generator gives ("ok" / "late") is checked by [`EventLog::validate_labels`]
//! to hold for EVERY interleaving of partitions the engine may read, so a failure is never the
//! harness's guess about read order.

pub mod broker;
pub mod bronze;
pub mod browser;
pub mod cdc;
pub mod cluster;
pub mod container;
pub mod env;
pub mod etcd;
mod example_jobs;
pub mod faulty_http;
pub mod faulty_link;
pub mod faulty_store;
pub mod generator;
pub mod http;
pub mod ingest;
pub mod input_files;
pub mod job;
pub mod kafka;
pub mod maintenance;
pub mod pki;
mod ports;
pub mod process;
mod query;
pub mod records;
pub mod silver;
pub mod sql_job;

pub use env::{floe_bin, repo_root, serial, target_dir, PgServices, S3Services, Services};
pub use generator::{seed, ContentGen, Placement, StreamSpec, BAD_KINDS};
pub use http::{http_get, metric_value};
pub use job::{CheckOptions, Job, JobOptions, RunOptions, Stop, Storage};
pub use kafka::{unique_topic, Kafka};
pub use ports::free_local_addr;
pub use process::{
    committed_checkpoint, output_ok, problems_in_file, strip_ansi, tail_file, FloeProcess,
};
pub use records::{
    window_of, EventLog, Expect, Produced, Record, ALLOWED_LATENESS_MS, BASE_TS, JOB_NAME,
    MAX_DISORDER_MS, WATERMARK_DELAY_MS, WINDOW_MS,
};
pub use sql_job::GoldWindows;
