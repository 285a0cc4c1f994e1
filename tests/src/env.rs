//! Where the tests find their services, the floe binary and the repository: environment
//! variables read once per test, with instructions when one is missing.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const HOW_TO_RUN: &str = "Run the end-to-end tests with scripts/test.sh, or start the services \
yourself and export their addresses:\n  set -a; eval \"$(scripts/services.sh /tmp/floe-e2e start \
--s3 --pg)\"; set +a\n  cargo build --release -p floe-cli && cargo test --release -p floe-tests\n\
(the tests fail rather than skip when the services are missing, so a green run always means \
they ran)";

/// Root of the cargo workspace.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Tests of one binary run one at a time (2 cores; timing-sensitive polls). Hold the guard for
/// the whole test.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn required_env(name: &str, what: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("\n\n{name} is not set ({what}).\n{HOW_TO_RUN}\n\n"),
    }
}

/// The services every end-to-end test needs.
#[derive(Clone, Debug)]
pub struct Services {
    /// `FLOE_KAFKA_BROKERS`: the tansu broker.
    pub brokers: String,
    /// `FLOE_PYTHON`: a python with pyiceberg and duckdb (the venv of scripts/python-env.sh).
    pub python: PathBuf,
}

impl Services {
    /// Reads the environment; panics with instructions when something is missing.
    pub fn from_env() -> Services {
        let brokers = required_env(
            "FLOE_KAFKA_BROKERS",
            "host:port of the Kafka-protocol broker the tests produce to",
        );
        let python = PathBuf::from(required_env(
            "FLOE_PYTHON",
            "python of the venv with pyiceberg + duckdb that runs tests/py/check_gold.py",
        ));
        assert!(
            python.exists(),
            "FLOE_PYTHON={} does not exist.\n{HOW_TO_RUN}",
            python.display()
        );
        let checker = repo_root().join("tests/py/check_gold.py");
        assert!(checker.exists(), "{} is missing", checker.display());
        Services { brokers, python }
    }
}

/// PostgreSQL for the SQL catalog, for `e2e_postgres`.
#[derive(Clone, Debug)]
pub struct PgServices {
    /// `FLOE_POSTGRES_URL`, as Floe takes it: `postgres://user@host:port/db`.
    pub url: String,
}

impl PgServices {
    /// Reads the environment; panics with instructions when something is missing.
    pub fn from_env() -> PgServices {
        PgServices {
            url: required_env(
                "FLOE_POSTGRES_URL",
                "set by `scripts/services.sh DIR start --pg` (PostgreSQL for the SQL catalog)",
            ),
        }
    }

    /// The same database as SQLAlchemy (pyiceberg's SQL catalog) spells it.
    pub fn reader_url(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        format!("postgresql+psycopg2://{rest}")
    }
}

/// S3 (SeaweedFS) and the Iceberg REST catalog, for `e2e_s3`.
#[derive(Clone, Debug)]
pub struct S3Services {
    pub endpoint: String,
    pub rest_uri: String,
    pub rest_credential: String,
    pub rest_warehouse: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

impl S3Services {
    /// Reads the environment; panics with instructions when something is missing.
    pub fn from_env() -> S3Services {
        let what = "set by `scripts/services.sh DIR start --s3` (SeaweedFS S3 + Iceberg REST)";
        S3Services {
            endpoint: required_env("FLOE_S3_ENDPOINT", what),
            rest_uri: required_env("FLOE_REST_URI", what),
            rest_credential: required_env("FLOE_REST_CREDENTIAL", what),
            rest_warehouse: required_env("FLOE_REST_WAREHOUSE", what),
            access_key_id: required_env("AWS_ACCESS_KEY_ID", what),
            secret_access_key: required_env("AWS_SECRET_ACCESS_KEY", what),
            region: std::env::var("AWS_REGION")
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".into()),
        }
    }

    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", self.region.clone()),
            ("FLOE_S3_ENDPOINT", self.endpoint.clone()),
            ("FLOE_REST_URI", self.rest_uri.clone()),
            ("FLOE_REST_CREDENTIAL", self.rest_credential.clone()),
            ("FLOE_REST_WAREHOUSE", self.rest_warehouse.clone()),
        ]
    }
}

/// The `floe` binary: `$FLOE_BIN`, else `<dir of this test executable>/../floe`.
pub fn floe_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FLOE_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.exists(), "FLOE_BIN={} does not exist", p.display());
        return p;
    }
    let exe = std::env::current_exe().expect("current test executable");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("floe"))
        .expect("test executable has a grandparent dir");
    assert!(
        bin.exists(),
        "the floe binary {} does not exist: build it first with \
         `cargo build --release -p floe-cli` (same CARGO_TARGET_DIR), or set FLOE_BIN",
        bin.display()
    );
    bin
}

/// The build's target directory (`<target>/<profile>/deps/<test>` is where tests run from):
/// where test artifacts such as screenshots are kept.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .expect("test executable under <target>/<profile>/deps")
}
