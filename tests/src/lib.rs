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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde_json::{json, Value};

pub mod broker;
pub mod bronze;
pub mod browser;
pub mod cdc;
pub mod cluster;
pub mod container;
mod example_jobs;
pub mod input_files;
pub mod pki;
mod ports;

pub use ports::free_local_addr;

/// Window size of the gold job.
pub const WINDOW_MS: i64 = 60_000;
/// Watermark delay written into every test config.
pub const WATERMARK_DELAY_MS: i64 = 10_000;
/// Allowed lateness written into every test config.
pub const ALLOWED_LATENESS_MS: i64 = 0;
/// 2026-01-01T00:00:00Z: event times of the tests start near here.
pub const BASE_TS: i64 = 1_767_225_600_000;
/// The gold job's name (= `floe.job-id` in snapshot summaries).
pub const JOB_NAME: &str = "video_stats_1min";
/// Largest disorder the generator makes within a partition: strictly below the watermark delay,
/// so an "ok" event can never be late whatever the engine reads first.
pub const MAX_DISORDER_MS: i64 = WATERMARK_DELAY_MS - 1_000;

const HOW_TO_RUN: &str = "Run the end-to-end tests with scripts/test.sh, or start the services \
yourself and export their addresses:\n  set -a; eval \"$(scripts/services.sh /tmp/floe-e2e start \
--s3 --pg)\"; set +a\n  cargo build --release -p floe-cli && cargo test --release -p floe-tests\n\
(the tests fail rather than skip when the services are missing, so a green run always means \
they ran)";

/// The body of `GET http://{addr}{path}` when it answers 200, else `None` (HTTP/1.0, so the
/// server closes the connection after the body).
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")).then(|| body.to_owned())
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
pub fn metric_value(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

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

    fn env(&self) -> Vec<(&'static str, String)> {
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

/// A topic name unique to this test run: `floe-e2e-<name>-<random>`.
pub fn unique_topic(name: &str) -> String {
    format!("floe-e2e-{name}-{:08x}", rand::rng().random::<u32>())
}

/// A seed for the random choices of a test: `$FLOE_E2E_SEED` or a fresh one, printed.
pub fn seed(label: &str) -> u64 {
    let s = match std::env::var("FLOE_E2E_SEED") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("FLOE_E2E_SEED={v} is not an integer")),
        Err(_) => rand::rng().random::<u64>() >> 12,
    };
    eprintln!("[{label}] random seed {s} (replay with FLOE_E2E_SEED={s})");
    s
}

/// `[start, end)` of the window `ts` falls in.
pub fn window_of(ts: i64) -> (i64, i64) {
    let s = ts.div_euclid(WINDOW_MS) * WINDOW_MS;
    (s, s + WINDOW_MS)
}

// ------------------------------------------------------------------------------------ records

/// What the engine must do with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    /// counted in its window of the gold table
    Ok,
    /// its window had closed: a row of the late table, not counted
    Late,
    /// undecodable: a row of the dead-letter table
    Bad,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Ok => "ok",
            Expect::Late => "late",
            Expect::Bad => "bad",
        }
    }
}

/// A record to produce.
#[derive(Clone, Debug)]
pub struct Record {
    pub partition: i32,
    pub key: Option<String>,
    /// `None`: a null value (tombstone).
    pub value: Option<String>,
    pub expect: Expect,
    /// The event time in the value (for "ok" and "late" records).
    pub event_ts: Option<i64>,
}

/// A produced record with the offset the broker gave it.
#[derive(Clone, Debug)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
    pub expect: Expect,
    pub value: Option<String>,
    pub event_ts: Option<i64>,
}

/// Everything produced to a topic, in production order.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub records: Vec<Produced>,
}

impl EventLog {
    pub fn extend(&mut self, produced: Vec<Produced>) {
        self.records.extend(produced);
    }

    pub fn count(&self, e: Expect) -> usize {
        self.records.iter().filter(|r| r.expect == e).count()
    }

    /// (partition, offset) of the records labelled `e`.
    pub fn offsets(&self, e: Expect) -> BTreeSet<(i32, i64)> {
        self.records
            .iter()
            .filter(|r| r.expect == e)
            .map(|r| (r.partition, r.offset))
            .collect()
    }

    /// Largest event time per partition (over decodable records).
    pub fn max_ts_per_partition(&self) -> BTreeMap<i32, i64> {
        let mut m = BTreeMap::new();
        for r in &self.records {
            if let (Some(ts), Expect::Ok | Expect::Late) = (r.event_ts, r.expect) {
                let e = m.entry(r.partition).or_insert(i64::MIN);
                *e = (*e).max(ts);
            }
        }
        m
    }

    /// The global watermark once every record of `partitions` has been read and none is idle:
    /// min over the partitions of (max event time − delay).
    pub fn watermark_over(&self, partitions: &[i32]) -> i64 {
        let m = self.max_ts_per_partition();
        partitions
            .iter()
            .map(|p| {
                m.get(p)
                    .copied()
                    .unwrap_or_else(|| panic!("no event on partition {p}"))
                    - WATERMARK_DELAY_MS
            })
            .min()
            .expect("at least one partition")
    }

    /// Writes the events file of `tests/py/check_gold.py`.
    pub fn write_jsonl(&self, path: &Path) {
        // write then rename: a reader never sees a half-written file
        let tmp = path.with_extension("jsonl.tmp");
        let mut w = BufWriter::new(File::create(&tmp).expect("create events file"));
        for r in &self.records {
            let line = json!({
                "partition": r.partition,
                "offset": r.offset,
                "expect": r.expect.as_str(),
                "value": r.value,
            });
            writeln!(w, "{line}").expect("write events file");
        }
        w.flush().expect("flush events file");
        drop(w);
        fs::rename(&tmp, path).expect("rename events file");
    }

    /// Checks that every label holds for every order in which the engine may interleave the
    /// partitions (panics on a harness bug, before any engine is blamed):
    /// - "ok": its window ends after the watermark of its own partition just before it (the
    ///   global watermark is never above a non-idle partition's), so it cannot be late;
    /// - "late": its window ends at or before a watermark the engine has certainly passed:
    ///   `global_floor` (a watermark proven reached before these records were produced, e.g. by
    ///   committed windows of an earlier run), or — single-partition topic only — the
    ///   partition's own watermark just before it.
    pub fn validate_labels(&self, single_partition: bool, global_floor: Option<i64>) {
        let mut by_partition: BTreeMap<i32, Vec<&Produced>> = BTreeMap::new();
        for r in &self.records {
            by_partition.entry(r.partition).or_default().push(r);
        }
        for (p, mut recs) in by_partition {
            recs.sort_by_key(|r| r.offset);
            let mut max_prev = i64::MIN;
            for r in recs {
                let Some(ts) = r.event_ts else {
                    assert_eq!(r.expect, Expect::Bad, "{r:?} has no event time");
                    continue;
                };
                let end = window_of(ts).1;
                let own_wm = max_prev.saturating_sub(WATERMARK_DELAY_MS);
                match r.expect {
                    Expect::Ok => assert!(
                        end + ALLOWED_LATENESS_MS > own_wm,
                        "harness bug: partition {p} offset {} (ts {ts}) is labelled ok but its \
                         window ends at {end}, not after the partition's watermark {own_wm}",
                        r.offset
                    ),
                    Expect::Late => {
                        let mut bound = global_floor.unwrap_or(i64::MIN);
                        if single_partition {
                            bound = bound.max(own_wm);
                        }
                        assert!(
                            end + ALLOWED_LATENESS_MS <= bound,
                            "harness bug: partition {p} offset {} (ts {ts}, window end {end}) is \
                             labelled late but the engine is not certain to have passed {end} \
                             (proven watermark {bound})",
                            r.offset
                        );
                    }
                    Expect::Bad => {}
                }
                max_prev = max_prev.max(ts);
            }
        }
    }
}

// ------------------------------------------------------------------------------------ generator

/// How stream records are spread over partitions.
#[derive(Clone, Copy, Debug)]
pub enum Placement {
    /// by a hash of the video id (as the real topic is partitioned)
    ByKey,
    /// each record to a random partition (the same video on every partition)
    Random,
    /// all to one partition
    Fixed(i32),
}

/// A stream of content events.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// event time of the first event (before jitter)
    pub start_ms: i64,
    /// event times spread evenly over [start, start + duration)
    pub duration_ms: i64,
    pub count: usize,
    pub partitions: i32,
    pub placement: Placement,
    /// each event time moved by a uniform ±jitter, then clamped so that the disorder within a
    /// partition stays ≤ MAX_DISORDER_MS (< watermark delay)
    pub jitter_ms: i64,
}

/// Kinds of undecodable records [`ContentGen::bad_record`] makes.
pub const BAD_KINDS: usize = 11;

/// Deterministic generator of content events (formats.md §1), seeded.
pub struct ContentGen {
    rng: StdRng,
    videos: Vec<String>,
    next_id: u64,
    part_max: HashMap<i32, i64>,
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl ContentGen {
    pub fn new(seed: u64, videos: usize) -> ContentGen {
        let mut rng = StdRng::seed_from_u64(seed);
        let videos = (0..videos)
            .map(|_| format!("v_{}", rng.random_range(1000..100_000)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        ContentGen {
            rng,
            videos,
            next_id: 0,
            part_max: HashMap::new(),
        }
    }

    pub fn videos(&self) -> &[String] {
        &self.videos
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Largest event time generated so far on `partition`.
    pub fn partition_max(&self, partition: i32) -> Option<i64> {
        self.part_max.get(&partition).copied()
    }

    fn note(&mut self, partition: i32, ts: i64) {
        let e = self.part_max.entry(partition).or_insert(i64::MIN);
        *e = (*e).max(ts);
    }

    /// The JSON value of one content event, with some schema drift.
    pub fn content_event(&mut self, ts: i64, video: &str) -> String {
        self.next_id += 1;
        let r = self.rng.random_range(0..100);
        let event_type = match r {
            0..55 => "impression",
            55..70 => "like",
            70..75 => "share",
            75..90 => "completion",
            90..97 => "comment",
            _ => "view_start",
        };
        let mut body = serde_json::Map::new();
        body.insert("video_id".into(), json!(video));
        body.insert(
            "user_id".into(),
            json!(format!("u_{}", self.rng.random_range(1..5000))),
        );
        match self.rng.random_range(0..100) {
            0..10 => {} // watch_ms missing: counts as 0
            10..13 => {
                body.insert("watch_ms".into(), Value::Null);
            }
            _ => {
                body.insert(
                    "watch_ms".into(),
                    json!(self.rng.random_range(0..120_000i64)),
                );
            }
        }
        let mut schema_version = 1;
        if self.rng.random_range(0..100) < 15 {
            // drift: newer producers add fields
            schema_version = 2;
            body.insert(
                "device".into(),
                json!(["ios", "android", "web"][self.rng.random_range(0..3)]),
            );
            body.insert(
                "extra".into(),
                json!({"ab": self.rng.random_range(0..4), "tags": ["x", "y"]}),
            );
        }
        json!({
            "header": {
                "event_id": format!("e-{:09}", self.next_id),
                "event_type": event_type,
                "event_ts": ts,
                "schema_version": schema_version,
            },
            "body": Value::Object(body),
        })
        .to_string()
    }

    fn partition_for(&mut self, video: &str, partitions: i32, placement: Placement) -> i32 {
        match placement {
            Placement::ByKey => (fnv1a(video) % partitions as u64) as i32,
            Placement::Random => self.rng.random_range(0..partitions),
            Placement::Fixed(p) => p,
        }
    }

    /// A stream of "ok" events (see [`StreamSpec`]).
    pub fn stream(&mut self, spec: &StreamSpec) -> Vec<Record> {
        assert!(spec.count > 0 && spec.duration_ms > 0);
        let mut out = Vec::with_capacity(spec.count);
        for i in 0..spec.count {
            let base = spec.start_ms + (i as i64 * spec.duration_ms) / spec.count as i64;
            let video = self.videos[self.rng.random_range(0..self.videos.len())].clone();
            let partition = self.partition_for(&video, spec.partitions, spec.placement);
            let mut ts = base;
            if spec.jitter_ms > 0 {
                ts += self.rng.random_range(-spec.jitter_ms..=spec.jitter_ms);
            }
            if let Some(max) = self.partition_max(partition) {
                let floor = max - MAX_DISORDER_MS;
                if ts < floor {
                    ts = floor + self.rng.random_range(0..1000);
                }
            }
            self.note(partition, ts);
            let value = self.content_event(ts, &video);
            out.push(Record {
                partition,
                key: Some(video),
                value: Some(value),
                expect: Expect::Ok,
                event_ts: Some(ts),
            });
        }
        out
    }

    /// A well-formed event labelled late (the caller knows its window has closed).
    pub fn late_event(&mut self, partition: i32, ts: i64) -> Record {
        let video = self.videos[self.rng.random_range(0..self.videos.len())].clone();
        let value = self.content_event(ts, &video);
        self.note(partition, ts);
        Record {
            partition,
            key: Some(video),
            value: Some(value),
            expect: Expect::Late,
            event_ts: Some(ts),
        }
    }

    /// An undecodable record of kind `kind % BAD_KINDS`: not JSON, truncated JSON, no
    /// header.event_ts, string / null / boolean event_ts, no body.video_id, no body, empty
    /// value, null value (tombstone), a JSON array.
    pub fn bad_record(&mut self, partition: i32, kind: usize) -> Record {
        let ts = BASE_TS + self.rng.random_range(0..3_600_000);
        let video = self.videos[self.rng.random_range(0..self.videos.len())].clone();
        let value = match kind % BAD_KINDS {
            0 => Some(format!("this is not json {}", self.rng.random_range(0..1000))),
            1 => Some(format!(
                "{{\"header\": {{\"event_id\": \"e-x\", \"event_type\": \"like\", \"event_ts\": {}",
                ts
            )),
            2 => Some(
                json!({"header": {"event_id": "e-no-ts", "event_type": "like", "schema_version": 1},
                       "body": {"video_id": video, "watch_ms": 5}})
                .to_string(),
            ),
            3 => Some(
                json!({"header": {"event_id": "e-str-ts", "event_type": "like", "event_ts": ts.to_string()},
                       "body": {"video_id": video, "watch_ms": 5}})
                .to_string(),
            ),
            4 => Some(
                json!({"header": {"event_id": "e-no-video", "event_type": "share", "event_ts": ts},
                       "body": {"user_id": "u_1", "watch_ms": 5}})
                .to_string(),
            ),
            5 => Some(String::new()),
            6 => None,
            7 => Some(
                json!({"header": {"event_id": "e-null-ts", "event_type": "like", "event_ts": null},
                       "body": {"video_id": video}})
                .to_string(),
            ),
            8 => Some("[1, 2, 3]".to_string()),
            9 => Some(
                json!({"header": {"event_id": "e-no-body", "event_type": "impression", "event_ts": ts}})
                    .to_string(),
            ),
            _ => Some(
                json!({"header": {"event_id": "e-bool-ts", "event_type": "like", "event_ts": true},
                       "body": {"video_id": video}})
                .to_string(),
            ),
        };
        Record {
            partition,
            key: Some(format!("bad-{kind}")),
            value,
            expect: Expect::Bad,
            event_ts: None,
        }
    }

    /// `n` bad records of every kind in turn, on random partitions of `0..partitions`.
    pub fn bad_records(&mut self, n: usize, partitions: i32) -> Vec<Record> {
        (0..n)
            .map(|k| {
                let p = self.rng.random_range(0..partitions);
                self.bad_record(p, k)
            })
            .collect()
    }

    /// Inserts `extra` at random positions of `into` at or after index `min_index`, keeping the
    /// order of `extra`.
    pub fn insert_randomly(
        &mut self,
        into: &mut Vec<Record>,
        extra: Vec<Record>,
        min_index: usize,
    ) {
        let min_index = min_index.min(into.len());
        let mut positions: Vec<usize> = (0..extra.len())
            .map(|_| self.rng.random_range(min_index..=into.len()))
            .collect();
        positions.sort_unstable();
        // insert from the back so earlier positions stay valid
        for (pos, rec) in positions.into_iter().zip(extra).rev() {
            into.insert(pos, rec);
        }
    }
}

// ------------------------------------------------------------------------------------ kafka

/// Admin + producer client of the test broker.
pub struct Kafka {
    brokers: String,
    rt: tokio::runtime::Runtime,
    producer: FutureProducer,
}

impl Kafka {
    pub fn connect(brokers: &str) -> Kafka {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("message.timeout.ms", "60000")
            .set("linger.ms", "5")
            .set("acks", "all")
            // offsets are recorded from the deliveries; one request in flight keeps the
            // per-partition order equal to the send order even on retries (checked below)
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .unwrap_or_else(|e| panic!("Kafka producer for {brokers}: {e}"));
        Kafka {
            brokers: brokers.to_string(),
            rt,
            producer,
        }
    }

    /// Creates `topic` with `partitions` partitions and waits until the broker's metadata shows
    /// them all.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("Kafka admin client");
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let res = self
            .rt
            .block_on(admin.create_topics([&new], &opts))
            .unwrap_or_else(|e| panic!("CreateTopics {topic} on {}: {e}", self.brokers));
        for r in res {
            if let Err((name, code)) = r {
                panic!(
                    "CreateTopics {name} ({partitions} partitions) on {}: {code:?}",
                    self.brokers
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last;
        loop {
            match self
                .producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
            {
                Ok(md) => {
                    if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                        if t.error().is_none() && t.partitions().len() == partitions as usize {
                            return;
                        }
                        last =
                            format!("error {:?}, {} partitions", t.error(), t.partitions().len());
                    } else {
                        last = "topic not in metadata".into();
                    }
                }
                Err(e) => last = e.to_string(),
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} not ready after 30 s: {last}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Produces `records` in order to their partitions; returns them with their offsets.
    pub fn produce(&self, topic: &str, records: &[Record]) -> Vec<Produced> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(5000) {
            let mut futures = Vec::with_capacity(chunk.len());
            for r in chunk {
                let mut fr = FutureRecord::<str, str>::to(topic).partition(r.partition);
                if let Some(k) = &r.key {
                    fr = fr.key(k.as_str());
                }
                if let Some(v) = &r.value {
                    fr = fr.payload(v.as_str());
                }
                loop {
                    match self.producer.send_result(fr) {
                        Ok(f) => {
                            futures.push(f);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            fr = back;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err((e, _)) => panic!("produce to {topic}/{}: {e}", r.partition),
                    }
                }
            }
            let results = self.rt.block_on(async {
                let mut v = Vec::with_capacity(futures.len());
                for f in futures {
                    v.push(f.await);
                }
                v
            });
            for (r, res) in chunk.iter().zip(results) {
                match res {
                    Ok(Ok(d)) => {
                        assert_eq!(d.partition, r.partition, "delivered to another partition");
                        out.push(Produced {
                            partition: d.partition,
                            offset: d.offset,
                            expect: r.expect,
                            value: r.value.clone(),
                            event_ts: r.event_ts,
                        });
                    }
                    Ok(Err((e, _))) => panic!("delivery to {topic}/{} failed: {e}", r.partition),
                    Err(_) => panic!("delivery to {topic}/{} canceled", r.partition),
                }
            }
        }
        // the labels assume the broker kept the send order within each partition
        let mut last: HashMap<i32, i64> = HashMap::new();
        for p in &out {
            if let Some(prev) = last.insert(p.partition, p.offset) {
                assert!(
                    p.offset > prev,
                    "broker reordered records of {topic}/{}: offset {} after {prev}",
                    p.partition,
                    p.offset
                );
            }
        }
        out
    }
}

// ------------------------------------------------------------------------------------ processes

/// A child process whose output goes to a log file.
pub struct FloeProcess {
    child: Child,
    /// The container it runs in, when the job runs floe's image.
    container: Option<String>,
    pub label: String,
    pub log: PathBuf,
    started: Instant,
    status: Option<ExitStatus>,
}

/// Last `max_lines` lines (at most ~16 KiB) of a file.
pub fn tail_file(path: &Path, max_lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(16 * 1024);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = strip_ansi(&String::from_utf8_lossy(&buf));
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(max_lines);
    lines[from..].join("\n")
}

/// Lines of a log with ERROR / WARN / panic (the first `max`), ANSI colours removed.
pub fn problems_in_file(path: &Path, max: usize) -> Vec<String> {
    let text = fs::read(path)
        .map(|b| strip_ansi(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.contains("ERROR")
                || l.contains("WARN")
                || l.contains("panicked")
                || l.contains("failpoint")
        })
        .take(max)
        .map(|l| l.chars().take(600).collect())
        .collect()
}

/// Removes ANSI escape sequences (colours) from log text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

impl FloeProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status, if it has exited.
    pub fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.poll() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!(
                "[{}] kill -{sig} {} failed (already exited?)",
                self.label,
                self.pid()
            );
        }
    }

    /// Sends SIGTERM (graceful stop).
    pub fn terminate(&mut self) {
        if self.poll().is_none() {
            self.signal("TERM");
        }
    }

    /// Sends SIGINT.
    pub fn interrupt(&mut self) {
        if self.poll().is_none() {
            self.signal("INT");
        }
    }

    /// SIGKILL (a crash at an arbitrary moment) and reap.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.poll() {
            return s;
        }
        let _ = self.child.kill();
        let s = self.child.wait().expect("wait after kill");
        if let Some(name) = &self.container {
            // Killing `podman run` leaves its container running: kill that too.
            container::remove(name);
        }
        self.status = Some(s);
        s
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log, lines)
    }

    /// The ids of the checkpoints the log says were committed, in log order.
    pub fn committed_in_log(&self) -> Vec<u64> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(committed_checkpoint).collect()
    }

    /// Waits until a line of the log satisfies `pred`; panics after `timeout` or if the process
    /// exits first.
    pub fn wait_for_log(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            if text.lines().any(|l| pred(&strip_ansi(l))) {
                return;
            }
            if let Some(s) = self.poll() {
                panic!("exited ({s}) before {what}:\n{}", self.describe());
            }
            if Instant::now() >= deadline {
                panic!("no {what} within {timeout:?}:\n{}", self.describe());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Label, pid, exit status, log path and the log's tail, for failure messages.
    pub fn describe(&mut self) -> String {
        let status = match self.poll() {
            Some(s) => format!("exited with {s}"),
            None => "still running".into(),
        };
        let problems = problems_in_file(&self.log, 20);
        let problems = if problems.is_empty() {
            String::new()
        } else {
            format!(
                "--- ERROR/WARN lines of the log (first {}) ---\n{}\n",
                problems.len(),
                problems.join("\n")
            )
        };
        format!(
            "{} (pid {}, {:.1}s, {status})\n{problems}--- log {} (tail) ---\n{}\n--- end of log ---",
            self.label,
            self.pid(),
            self.elapsed().as_secs_f64(),
            self.log.display(),
            self.log_tail(40)
        )
    }

    /// Waits for exit 0; on timeout kills it. Panics with the log tail otherwise.
    pub fn expect_success(&mut self, timeout: Duration) {
        match self.wait_for(timeout) {
            Some(s) if s.success() => {}
            Some(_) => panic!("floe failed:\n{}", self.describe()),
            None => {
                self.kill();
                panic!(
                    "floe did not finish within {}s (killed):\n{}",
                    timeout.as_secs(),
                    self.describe()
                )
            }
        }
    }

    /// Waits for a non-zero exit (a failpoint crash); panics with the log tail otherwise.
    pub fn expect_crash(&mut self, timeout: Duration, what: &str) -> ExitStatus {
        match self.wait_for(timeout) {
            Some(s) if !s.success() => s,
            Some(_) => panic!(
                "expected a crash ({what}) but floe exited 0:\n{}",
                self.describe()
            ),
            None => {
                self.kill();
                panic!(
                    "expected a crash ({what}) within {}s, floe was still running (killed):\n{}",
                    timeout.as_secs(),
                    self.describe()
                )
            }
        }
    }
}

/// The id of the checkpoint a log line says was committed.
pub fn committed_checkpoint(line: &str) -> Option<u64> {
    let line = strip_ansi(line);
    if !line.contains("checkpoint committed") {
        return None;
    }
    let (_, rest) = line.split_once(" checkpoint=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl Drop for FloeProcess {
    fn drop(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(name) = &self.container {
            container::remove(name);
        }
    }
}

/// Runs a command with output to `log`; kills it after `timeout`. Returns (success, output).
fn run_logged(mut cmd: Command, log: &Path, timeout: Duration) -> (bool, String) {
    let f = File::create(log).expect("create log");
    let f2 = f.try_clone().expect("clone log handle");
    cmd.stdin(Stdio::null()).stdout(f).stderr(f2);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let ok = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s.success();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut out = fs::read_to_string(log).unwrap_or_default();
            out.push_str(&format!("\n(killed after {}s)", timeout.as_secs()));
            return (false, out);
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    (ok, fs::read_to_string(log).unwrap_or_default())
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

// ------------------------------------------------------------------------------------ jobs

/// Where the job keeps its tables and checkpoints.
#[derive(Clone, Debug)]
pub enum Storage {
    /// SQLite catalog, warehouse and checkpoints in the test's temp dir.
    Local,
    /// REST catalog + warehouse of SeaweedFS, checkpoints in `s3://checkpoints/<unique>`; the
    /// tables in a namespace unique to the test (the catalog outlives test runs).
    S3(S3Services),
    /// The SQL catalog on PostgreSQL, warehouse and checkpoints in the temp dir; the tables in
    /// a namespace unique to the test (the database outlives test runs).
    Postgres(PgServices),
}

/// Per-job settings written into the config file.
#[derive(Clone, Debug)]
pub struct JobOptions {
    pub partitions: i32,
    pub checkpoint_interval: String,
    pub idle_timeout: String,
    pub storage: Storage,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            partitions: 3,
            checkpoint_interval: "500ms".into(),
            idle_timeout: "30s".into(),
            storage: Storage::Local,
        }
    }
}

/// How to start `floe run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub until_end: bool,
    /// `--checkpoint-interval`
    pub checkpoint_interval: Option<String>,
    pub env: Vec<(String, String)>,
    /// `--metrics-addr`
    pub metrics_addr: Option<String>,
    /// More arguments (`--topic`, `--start-over`, ...).
    pub args: Vec<String>,
}

impl RunOptions {
    /// `floe run --until-end`
    pub fn until_end() -> Self {
        RunOptions {
            until_end: true,
            ..Default::default()
        }
    }

    /// `floe run` (until a signal)
    pub fn streaming() -> Self {
        RunOptions::default()
    }

    pub fn interval(mut self, d: &str) -> Self {
        self.checkpoint_interval = Some(d.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn metrics(mut self, addr: &str) -> Self {
        self.metrics_addr = Some(addr.into());
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
}

/// How a test stops a streaming `floe run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: finish the current checkpoint, exit 0.
    Terminate,
    /// SIGINT (Ctrl-C): the same.
    Interrupt,
    /// SIGKILL: no goodbye.
    Kill,
}

/// What [`Job::check`] asks of `check_gold.py` beyond the gold rows.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// compare only windows with window_end <= MS (a job still running)
    pub until: Option<i64>,
    /// pass the late and dead-letter tables with the expected counts
    pub side_tables: bool,
    pub unique_checkpoint_ids: bool,
}

/// One test's job: a topic, a temp dir with config, catalog, warehouse, checkpoints, logs, and
/// the events file. The dir is kept (and its path printed) when the test panics.
pub struct Job {
    dir: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub label: String,
    pub topic: String,
    pub partitions: i32,
    pub services: Services,
    pub config: PathBuf,
    pub events: PathBuf,
    /// catalog URI as the readers (pyiceberg / SQLAlchemy) spell it
    pub reader_catalog_uri: String,
    pub reader_warehouse: String,
    pub gold_table: String,
    pub late_table: String,
    pub dlq_table: String,
    s3: Option<S3Services>,
    /// the checkpoint store URI
    pub checkpoints: String,
    local_checkpoints: Option<PathBuf>,
    runs: usize,
    last_run_log: Option<PathBuf>,
    /// Run floe from this container image (see [`container`]) instead of the binary.
    pub image: Option<String>,
}

fn sub_table<'a>(t: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    t.entry(key)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap_or_else(|| panic!("`{key}` of examples/video_stats.toml is not a table"))
}

impl Job {
    /// Creates the topic and the temp dir, and writes the config (from examples/video_stats.toml
    /// with storage, source and window settings replaced).
    pub fn new(services: &Services, label: &str, opts: JobOptions) -> Job {
        floe_bin(); // fail before producing anything when the binary is missing
        let topic = unique_topic(label);
        let kafka = Kafka::connect(&services.brokers);
        kafka.create_topic(&topic, opts.partitions);

        let dir = tempfile::Builder::new()
            .prefix(&format!("floe-e2e-{label}-"))
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        let abs = |p: &str| root.join(p).to_string_lossy().into_owned();

        let example = repo_root().join("examples/video_stats.toml");
        let text = fs::read_to_string(&example)
            .unwrap_or_else(|e| panic!("read {}: {e}", example.display()));
        let mut doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("parse {}: {e}", example.display()));

        let suffix = format!("{:08x}", rand::rng().random::<u32>());
        let (
            catalog_uri,
            reader_catalog_uri,
            warehouse,
            reader_warehouse,
            checkpoints,
            namespace,
            props,
        ) = match &opts.storage {
            Storage::Local => {
                let db = abs("catalog.db");
                fs::create_dir_all(root.join("warehouse")).unwrap();
                fs::create_dir_all(root.join("checkpoints")).unwrap();
                (
                    format!("sqlite://{db}"),
                    format!("sqlite:///{db}"),
                    abs("warehouse"),
                    format!("file://{}", abs("warehouse")),
                    abs("checkpoints"),
                    "gold".to_string(),
                    BTreeMap::new(),
                )
            }
            Storage::Postgres(pg) => {
                fs::create_dir_all(root.join("warehouse")).unwrap();
                fs::create_dir_all(root.join("checkpoints")).unwrap();
                (
                    pg.url.clone(),
                    pg.reader_url(),
                    abs("warehouse"),
                    format!("file://{}", abs("warehouse")),
                    abs("checkpoints"),
                    format!("e2e_{}_{suffix}", label.replace('-', "_")),
                    BTreeMap::new(),
                )
            }
            Storage::S3(s3) => {
                let mut props = BTreeMap::new();
                props.insert("credential".to_string(), s3.rest_credential.clone());
                props.insert("s3.endpoint".to_string(), s3.endpoint.clone());
                props.insert("s3.access-key-id".to_string(), s3.access_key_id.clone());
                props.insert(
                    "s3.secret-access-key".to_string(),
                    s3.secret_access_key.clone(),
                );
                props.insert("s3.region".to_string(), s3.region.clone());
                props.insert("s3.path-style-access".to_string(), "true".to_string());
                (
                    s3.rest_uri.clone(),
                    s3.rest_uri.clone(),
                    s3.rest_warehouse.clone(),
                    s3.rest_warehouse.clone(),
                    format!("s3://checkpoints/floe-e2e-{label}-{suffix}"),
                    format!("e2e_{}_{suffix}", label.replace('-', "_")),
                    props,
                )
            }
        };
        let gold_table = format!("{namespace}.video_stats_1min");
        let late_table = format!("{gold_table}_late");
        let dlq_table = format!("{gold_table}_dead_letters");

        {
            let cp = sub_table(&mut doc, "checkpoint");
            cp.insert("store".into(), checkpoints.clone().into());
            cp.insert("interval".into(), opts.checkpoint_interval.clone().into());
        }
        {
            let cat = sub_table(&mut doc, "catalog");
            cat.insert("uri".into(), catalog_uri.clone().into());
            cat.insert("name".into(), "floe".into());
            cat.insert("warehouse".into(), warehouse.clone().into());
            if !props.is_empty() {
                let p = sub_table(cat, "properties");
                for (k, v) in props {
                    p.insert(k, v.into());
                }
            }
        }
        {
            let jobs = doc
                .get_mut("job")
                .and_then(|j| j.as_array_mut())
                .expect("examples/video_stats.toml has [[job]]");
            assert_eq!(
                jobs.len(),
                1,
                "examples/video_stats.toml should have exactly one job"
            );
            let job = jobs[0].as_table_mut().expect("[[job]] is a table");
            assert_eq!(
                job.get("name").and_then(|n| n.as_str()),
                Some(JOB_NAME),
                "the example job's name changed: update JOB_NAME"
            );
            let src = sub_table(job, "source");
            src.insert("brokers".into(), services.brokers.clone().into());
            src.insert("topic".into(), topic.clone().into());
            src.insert("start".into(), "earliest".into());
            let win = sub_table(job, "window");
            win.insert("size".into(), "1m".into());
            win.insert("watermark_delay".into(), "10s".into());
            win.insert("allowed_lateness".into(), "0s".into());
            win.insert("idle_timeout".into(), opts.idle_timeout.clone().into());
            let sink = sub_table(job, "sink");
            sink.insert("table".into(), gold_table.clone().into());
            sink.insert("late_table".into(), late_table.clone().into());
            sink.insert("dead_letter_table".into(), dlq_table.clone().into());
        }
        let config = root.join("floe.toml");
        fs::write(
            &config,
            format!(
                "# written by floe-tests from examples/video_stats.toml\n{}",
                toml::to_string(&doc).expect("serialize config")
            ),
        )
        .expect("write config");
        eprintln!(
            "[{label}] topic {topic} ({} partitions), dir {}",
            opts.partitions,
            root.display()
        );
        Job {
            dir: Some(dir),
            events: root.join("events.jsonl"),
            root,
            label: label.to_string(),
            topic,
            partitions: opts.partitions,
            services: services.clone(),
            config,
            reader_catalog_uri,
            reader_warehouse,
            gold_table,
            late_table,
            dlq_table,
            checkpoints: checkpoints.clone(),
            local_checkpoints: match opts.storage {
                Storage::Local | Storage::Postgres(_) => Some(PathBuf::from(&checkpoints)),
                Storage::S3(_) => None,
            },
            s3: match opts.storage {
                Storage::S3(s) => Some(s),
                Storage::Local | Storage::Postgres(_) => None,
            },
            runs: 0,
            last_run_log: None,
            image: None,
        }
    }

    /// Changes the job's `[[job]]` table in the config file (e.g. its source settings).
    pub fn edit_job_config(&self, edit: impl FnOnce(&mut toml::Table)) {
        let text = fs::read_to_string(&self.config).expect("read config");
        let mut doc: toml::Table = text.parse().expect("parse config");
        let job = doc
            .get_mut("job")
            .and_then(|j| j.as_array_mut())
            .and_then(|jobs| jobs.first_mut())
            .and_then(|j| j.as_table_mut())
            .expect("the config has a [[job]]");
        edit(job);
        fs::write(
            &self.config,
            toml::to_string(&doc).expect("serialize config"),
        )
        .expect("write config");
    }

    /// Sets `[job.source] key = value` in the config file.
    pub fn set_source(&self, key: &str, value: &str) {
        self.edit_job_config(|job| {
            sub_table(job, "source").insert(key.into(), value.into());
        });
    }

    /// Every floe log of this job so far: (file name, text).
    pub fn logs(&self) -> Vec<(String, String)> {
        (1..=self.runs)
            .map(|n| {
                let log = self.root.join(format!("floe-run-{n:02}.log"));
                let text = fs::read(&log)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                (log.display().to_string(), text)
            })
            .collect()
    }

    /// Sets `[job.source.properties] key = value` (a librdkafka property) in the config file.
    pub fn set_source_property(&self, key: &str, value: &str) {
        self.edit_job_config(|job| {
            sub_table(sub_table(job, "source"), "properties").insert(key.into(), value.into());
        });
    }

    /// The local checkpoint store's directory (`Storage::Local` only).
    pub fn local_checkpoints(&self) -> &Path {
        self.local_checkpoints
            .as_deref()
            .expect("a job with Storage::Local")
    }

    /// A producer client for this job's topic.
    pub fn kafka(&self) -> Kafka {
        Kafka::connect(&self.services.brokers)
    }

    /// Produces `records` into a fresh log and checks their labels hold whatever order the
    /// engine reads partitions in.
    pub fn produce_checked(&self, records: &[Record]) -> EventLog {
        let kafka = self.kafka();
        let mut log = EventLog::default();
        self.produce(&kafka, &mut log, records);
        log.validate_labels(false, None);
        log
    }

    /// Produces `records` to the job's topic, appends them to `log` and rewrites the events
    /// file (kept with the test dir for a failed test).
    pub fn produce(&self, kafka: &Kafka, log: &mut EventLog, records: &[Record]) {
        let produced = kafka.produce(&self.topic, records);
        log.extend(produced);
        log.write_jsonl(&self.events);
    }

    /// Starts `floe run --config <this job's config> ...` in the background.
    pub fn start(&mut self, opts: &RunOptions) -> FloeProcess {
        let mut args: Vec<String> = vec!["run".into(), "--config".into()];
        args.push(self.config.display().to_string());
        if opts.until_end {
            args.push("--until-end".into());
        }
        if let Some(i) = &opts.checkpoint_interval {
            args.extend(["--checkpoint-interval".into(), i.clone()]);
        }
        if let Some(a) = &opts.metrics_addr {
            args.extend(["--metrics-addr".into(), a.clone()]);
        }
        args.extend(opts.args.iter().cloned());
        let desc = format!(
            "floe run{}{}{}{}",
            if opts.until_end { " --until-end" } else { "" },
            opts.args
                .iter()
                .map(|a| format!(" {a}"))
                .collect::<String>(),
            opts.checkpoint_interval
                .as_ref()
                .map(|i| format!(" --checkpoint-interval {i}"))
                .unwrap_or_default(),
            opts.env
                .iter()
                .map(|(k, v)| format!(" [{k}={v}]"))
                .collect::<String>()
        );
        self.spawn(&args, &opts.env, &desc)
    }

    /// Starts `floe ARGS` in the job's directory with the job's storage environment, its output
    /// in a numbered log file; `desc` names the run in messages.
    pub fn spawn(&mut self, args: &[String], env: &[(String, String)], desc: &str) -> FloeProcess {
        self.runs += 1;
        let log = self.root.join(format!("floe-run-{:02}.log", self.runs));
        let f = File::create(&log).expect("create run log");
        let f2 = f.try_clone().expect("clone log handle");
        let mut env_all: Vec<(String, String)> = vec![("NO_COLOR".into(), "1".into())];
        if let Some(s3) = &self.s3 {
            env_all.extend(
                s3.env()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        env_all.extend(env.iter().cloned());
        let container = self
            .image
            .as_ref()
            .map(|_| format!("{}-{:02}", self.topic, self.runs));
        let mut cmd = match (&self.image, &container) {
            (Some(image), Some(name)) => {
                container::run_command(image, name, &self.root, &env_all, args)
            }
            _ => {
                let mut cmd = Command::new(floe_bin());
                // A crash aimed by the test's own environment must not reach every run; one
                // aimed through `env` does.
                cmd.env_remove("FLOE_CRASH_AT")
                    .args(args)
                    .envs(env_all.iter().map(|(k, v)| (k, v)));
                cmd
            }
        };
        cmd.current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", floe_bin().display()));
        let label = format!("{} run #{} `{desc}`", self.label, self.runs);
        eprintln!("[{label}] pid {}, log {}", child.id(), log.display());
        self.last_run_log = Some(log.clone());
        FloeProcess {
            child,
            container,
            label,
            log,
            started: Instant::now(),
            status: None,
        }
    }

    /// The largest checkpoint id in the local checkpoint store (any directory whose name is a
    /// number, at any depth: design.md's `checkpoints/<job>/<N>/...`), complete or not. Used to
    /// aim `FLOE_CRASH_AT` at a checkpoint a few ahead of the current one.
    pub fn latest_checkpoint_id_on_disk(&self) -> Option<u64> {
        fn walk(dir: &Path, depth: usize, max: &mut Option<u64>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(n) = name.parse::<u64>() {
                        *max = Some(max.map_or(n, |m| m.max(n)));
                    }
                } else if depth < 3 {
                    walk(&e.path(), depth + 1, max);
                }
            }
        }
        let dir = self
            .local_checkpoints
            .as_ref()
            .expect("latest_checkpoint_id_on_disk needs Storage::Local");
        let mut max = None;
        walk(dir, 0, &mut max);
        max
    }

    /// The tables named by the manifest of checkpoint `id` in the local store (any epoch's).
    pub fn manifest_tables_on_disk(&self, id: u64) -> Vec<String> {
        let dir = self
            .local_checkpoints()
            .join(JOB_NAME)
            .join(format!("{id:020}"));
        let mut tables = Vec::new();
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let manifest = entry.path().join("_manifest.json");
            let Ok(text) = fs::read_to_string(&manifest) else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).expect("manifest JSON");
            for t in v["tables"].as_array().into_iter().flatten() {
                tables.push(t["table"].as_str().expect("table name").to_owned());
            }
        }
        tables
    }

    /// Plays another engine's table maintenance on `table` (tests/py/rewrite_table.py): its rows
    /// rewritten into new files and every older snapshot expired.
    pub fn rewrite_and_expire(&mut self, table: &str) {
        let mut args = self.catalog_args();
        args.extend(["--table".into(), table.to_string()]);
        let (ok, out) = self.python("rewrite_table.py", &args, Duration::from_secs(120));
        assert!(
            ok,
            "rewrite_table.py {}:\n{}",
            args.join(" "),
            clip(&out, 8000)
        );
        eprintln!("[{}] {}", self.label, out.trim());
    }

    /// The checkpoint ids recorded in `table`'s snapshot summaries.
    pub fn committed_checkpoint_ids(&mut self, table: &str) -> BTreeSet<u64> {
        self.summaries(table)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["summary"]["floe.checkpoint-id"].as_str()?.parse().ok())
            .collect()
    }

    /// For `Storage::S3`: the checkpoint prefix on S3 holds files (listed with pyarrow's S3
    /// client), and floe left no local storage in its working directory (no silent fallback).
    pub fn assert_checkpoints_on_s3(&mut self) {
        let uri = self.checkpoints.clone();
        let rest = uri
            .strip_prefix("s3://")
            .expect("an s3:// checkpoint store");
        const LIST: &str = r#"
import os, sys
from urllib.parse import urlparse
from pyarrow import fs
u = urlparse(os.environ["FLOE_S3_ENDPOINT"])
s3 = fs.S3FileSystem(endpoint_override=u.netloc, scheme=u.scheme,
                     access_key=os.environ["AWS_ACCESS_KEY_ID"],
                     secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                     region=os.environ.get("AWS_REGION", "us-east-1"))
for i in s3.get_file_info(fs.FileSelector(sys.argv[1], recursive=True, allow_not_found=True)):
    if i.type == fs.FileType.File:
        print(i.path)
"#;
        let mut cmd = Command::new(&self.services.python);
        cmd.arg("-c").arg(LIST).arg(rest);
        if let Some(s3) = &self.s3 {
            for (k, v) in s3.env() {
                cmd.env(k, v);
            }
        }
        let (ok, out) = run_logged(cmd, &self.root.join("s3-list.log"), Duration::from_secs(60));
        assert!(ok, "listing {uri} failed:\n{}", clip(&out, 4000));
        let files = out
            .lines()
            .filter(|l| l.starts_with(rest.split('/').next().unwrap()))
            .count();
        assert!(
            files > 0,
            "[{}] no checkpoint files under {uri}:\n{}",
            self.label,
            clip(&out, 4000)
        );
        for local in [".floe", "checkpoints", "warehouse", "catalog.db"] {
            assert!(
                !self.root.join(local).exists(),
                "[{}] floe wrote local storage {} although the config says S3/REST",
                self.label,
                self.root.join(local).display()
            );
        }
        eprintln!("[{}] {files} checkpoint files under {uri}", self.label);
    }

    /// Streaming runs, each SIGKILLed after `delay()`, one after another until `done()`;
    /// returns how many were killed. A run that exits by itself fails the test.
    pub fn kill_streaming_runs_until(
        &mut self,
        mut delay: impl FnMut() -> Duration,
        done: impl Fn() -> bool,
    ) -> usize {
        let mut kills = 0;
        while !done() {
            let delay = delay();
            let mut p = self.start(&RunOptions::streaming().interval("300ms"));
            if let Some(s) = p.wait_for(delay) {
                panic!("a streaming run exited by itself ({s}):\n{}", p.describe());
            }
            p.kill();
            kills += 1;
            eprintln!("[{}] SIGKILL after {:.2}s", self.label, delay.as_secs_f64());
        }
        kills
    }

    /// `floe run --until-end` to exit 0 within `timeout`.
    pub fn run_until_end(&mut self, timeout: Duration) {
        let mut p = self.start(&RunOptions::until_end());
        p.expect_success(timeout);
        eprintln!(
            "[{}] finished in {:.1}s",
            p.label,
            p.elapsed().as_secs_f64()
        );
    }

    /// For failure messages: the ERROR/WARN/failpoint lines of every run's log, and the tail
    /// of the last run's log.
    fn last_log_tail(&self) -> String {
        let Some(last) = &self.last_run_log else {
            return "(floe was never started)".into();
        };
        let mut out = String::new();
        for n in 1..=self.runs {
            let log = self.root.join(format!("floe-run-{n:02}.log"));
            let p = problems_in_file(&log, 5);
            if !p.is_empty() {
                out.push_str(&format!(
                    "--- {} (ERROR/WARN lines) ---\n{}\n",
                    log.display(),
                    p.join("\n")
                ));
            }
        }
        out.push_str(&format!(
            "--- last floe log {} (tail) ---\n{}",
            last.display(),
            tail_file(last, 40)
        ));
        out
    }

    fn python(&self, script: &str, args: &[String], timeout: Duration) -> (bool, String) {
        let mut cmd = Command::new(&self.services.python);
        cmd.arg(repo_root().join("tests/py").join(script))
            .args(args);
        if let Some(s3) = &self.s3 {
            for (k, v) in s3.env() {
                cmd.env(k, v);
            }
        }
        let log = self.root.join(format!(
            "py-{}-{}.log",
            script.trim_end_matches(".py"),
            rand::rng().random::<u32>()
        ));
        let r = run_logged(cmd, &log, timeout);
        let _ = fs::remove_file(&log);
        r
    }

    fn catalog_args(&self) -> Vec<String> {
        vec![
            "--catalog-uri".into(),
            self.reader_catalog_uri.clone(),
            "--catalog-name".into(),
            "floe".into(),
            "--warehouse".into(),
            self.reader_warehouse.clone(),
        ]
    }

    /// Writes the events file and runs check_gold.py. Ok(its output) when it exits 0.
    pub fn check(&mut self, log: &EventLog, opts: &CheckOptions) -> Result<String, String> {
        log.write_jsonl(&self.events);
        let mut args = vec![
            "--events".to_string(),
            self.events.to_string_lossy().into_owned(),
        ];
        args.extend(self.catalog_args());
        args.extend(["--table".to_string(), self.gold_table.clone()]);
        if let Some(u) = opts.until {
            args.extend(["--until-windows-end-before".to_string(), u.to_string()]);
        }
        if opts.side_tables {
            if log.count(Expect::Late) > 0 {
                args.extend([
                    "--late-table".into(),
                    self.late_table.clone(),
                    "--expect-late".into(),
                    "auto".into(),
                ]);
            }
            if log.count(Expect::Bad) > 0 {
                args.extend([
                    "--dlq-table".into(),
                    self.dlq_table.clone(),
                    "--expect-bad".into(),
                    "auto".into(),
                ]);
            }
        }
        if opts.unique_checkpoint_ids {
            args.push("--expect-checkpoint-ids-unique".into());
        }
        let (ok, out) = self.python("check_gold.py", &args, Duration::from_secs(300));
        if ok {
            Ok(out.trim().to_string())
        } else {
            Err(format!(
                "$ check_gold.py {}\n{}",
                args.join(" "),
                clip(&out, 12_000)
            ))
        }
    }

    /// (kafka_partition, kafka_offset) of every row of `table`, read with pyiceberg through
    /// tests/py/read_table.py; `None` when the table does not exist.
    pub fn read_offsets(&mut self, table: &str) -> Option<Vec<(i32, i64)>> {
        let mut args = self.catalog_args();
        args.extend([
            "--table".into(),
            table.to_string(),
            "--columns".into(),
            "kafka_partition,kafka_offset".into(),
        ]);
        Some(
            self.read_table_lines(&args)?
                .iter()
                .map(|v| {
                    (
                        v["kafka_partition"].as_i64().expect("kafka_partition") as i32,
                        v["kafka_offset"].as_i64().expect("kafka_offset"),
                    )
                })
                .collect(),
        )
    }

    /// Snapshot summaries of `table`, oldest first (`None` when it does not exist).
    pub fn summaries(&mut self, table: &str) -> Option<Vec<Value>> {
        let mut args = self.catalog_args();
        args.extend(["--table".into(), table.to_string(), "--summaries".into()]);
        self.read_table_lines(&args)
    }

    /// Runs tests/py/read_table.py and parses its JSON lines; `None` when the table does not
    /// exist, a panic with the script's output on any other failure.
    fn read_table_lines(&mut self, args: &[String]) -> Option<Vec<Value>> {
        let (ok, out) = self.python("read_table.py", args, Duration::from_secs(120));
        if !ok {
            if out.contains("NoSuchTable")
                || out.contains("not found")
                || out.contains("does not exist")
            {
                return None;
            }
            panic!("read_table.py {}:\n{}", args.join(" "), clip(&out, 8000));
        }
        Some(
            out.lines()
                .filter(|l| l.starts_with('{'))
                .map(|l| serde_json::from_str(l).expect("read_table.py line is JSON"))
                .collect(),
        )
    }

    /// The side table holds exactly the records labelled `kind`: same (partition, offset)
    /// multiset (no loss, no duplicate, nothing else). A table that does not exist counts as
    /// empty.
    pub fn assert_side_table(&mut self, log: &EventLog, kind: Expect) {
        let table = match kind {
            Expect::Late => self.late_table.clone(),
            Expect::Bad => self.dlq_table.clone(),
            Expect::Ok => unreachable!("gold is checked by check_gold.py"),
        };
        let want = log.offsets(kind);
        let got = self.read_offsets(&table).unwrap_or_default();
        let mut counts: BTreeMap<(i32, i64), usize> = BTreeMap::new();
        for k in &got {
            *counts.entry(*k).or_default() += 1;
        }
        let dups: Vec<_> = counts
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(k, c)| (*k, *c))
            .take(10)
            .collect();
        let have: BTreeSet<(i32, i64)> = counts.keys().copied().collect();
        let missing: Vec<_> = want.difference(&have).take(10).collect();
        let extra: Vec<_> = have.difference(&want).take(10).collect();
        if !dups.is_empty() || !missing.is_empty() || !extra.is_empty() || got.len() != want.len() {
            panic!(
                "[{}] {} table {table}: {} rows, expected {} (the records labelled {}).\n\
                 duplicated (partition, offset) -> count: {dups:?}\nmissing: {missing:?} ({} in all)\n\
                 unexpected: {extra:?} ({} in all)\n{}",
                self.label,
                kind.as_str(),
                got.len(),
                want.len(),
                kind.as_str(),
                want.difference(&have).count(),
                have.difference(&want).count(),
                self.last_log_tail()
            );
        }
    }

    /// The final check of a test: gold rows exact (both readers), late and dead-letter tables
    /// exact by (partition, offset), and no checkpoint id committed twice.
    pub fn assert_exact(&mut self, log: &EventLog) {
        let opts = CheckOptions {
            until: None,
            side_tables: true,
            unique_checkpoint_ids: true,
        };
        match self.check(log, &opts) {
            Ok(out) => eprintln!("[{}] {out}", self.label),
            Err(e) => panic!(
                "[{}] the tables are not what a failure-free run over the same input gives:\n{e}\n{}",
                self.label,
                self.last_log_tail()
            ),
        }
        self.assert_side_table(log, Expect::Late);
        self.assert_side_table(log, Expect::Bad);
        self.assert_job_summaries();
    }

    /// Every snapshot of the gold table that carries a checkpoint id names this job.
    pub fn assert_job_summaries(&mut self) {
        let table = self.gold_table.clone();
        let Some(snaps) = self.summaries(&table) else {
            panic!("[{}] table {table} does not exist", self.label);
        };
        for s in &snaps {
            let summ = &s["summary"];
            if summ.get("floe.checkpoint-id").is_some() {
                assert_eq!(
                    summ.get("floe.job-id").and_then(|v| v.as_str()),
                    Some(JOB_NAME),
                    "[{}] snapshot {} of {table} has floe.checkpoint-id but floe.job-id is not \
                     {JOB_NAME}: {summ}",
                    self.label,
                    s["snapshot_id"]
                );
            }
        }
    }

    /// Runs `floe run` (no --until-end) until every window ending at or before the watermark
    /// of the data produced so far is committed, then stops it with `stop` (a signal it must
    /// answer with exit 0, or SIGKILL). Returns a watermark the engine has certainly reached
    /// (the end of the last of those windows, which has rows: the data is dense).
    pub fn stream_until_committed(&mut self, log: &EventLog, opts: &RunOptions, stop: Stop) -> i64 {
        let partitions: Vec<i32> = (0..self.partitions).collect();
        let until = log.watermark_over(&partitions);
        let mut p = self.start(opts);
        self.wait_for_windows(log, until, Duration::from_secs(120), &mut p);
        match stop {
            Stop::Terminate => p.terminate(),
            Stop::Interrupt => p.interrupt(),
            Stop::Kill => {
                p.kill();
            }
        }
        if stop != Stop::Kill {
            p.expect_success(Duration::from_secs(60));
        }
        eprintln!(
            "[{}] stopped ({stop:?}) after {:.1}s",
            p.label,
            p.elapsed().as_secs_f64()
        );
        until.div_euclid(WINDOW_MS) * WINDOW_MS
    }

    /// A restart in the middle: produces `first`, streams until its windows are committed and
    /// stops the run with `stop`, produces `second`, and finishes with an --until-end run that
    /// resumes from the checkpoint. Returns the log of everything produced.
    pub fn restart_between(&mut self, first: &[Record], stop: Stop, second: &[Record]) -> EventLog {
        let kafka = self.kafka();
        let mut log = EventLog::default();
        self.produce(&kafka, &mut log, first);
        log.validate_labels(false, None);
        self.stream_until_committed(&log, &RunOptions::streaming().interval("500ms"), stop);
        self.produce(&kafka, &mut log, second);
        log.validate_labels(false, None);
        self.run_until_end(Duration::from_secs(240));
        log
    }

    /// Polls check_gold.py (windows ending at or before `until`) while `proc` runs, until it
    /// passes; panics after `timeout` or if `proc` exits.
    pub fn wait_for_windows(
        &mut self,
        log: &EventLog,
        until: i64,
        timeout: Duration,
        proc: &mut FloeProcess,
    ) {
        let start = Instant::now();
        let opts = CheckOptions {
            until: Some(until),
            side_tables: false,
            unique_checkpoint_ids: true,
        };
        let mut last;
        loop {
            if let Some(s) = proc.poll() {
                panic!(
                    "[{}] floe exited ({s}) while the test waited for the windows ending <= {until}:\n{}",
                    self.label,
                    proc.describe()
                );
            }
            match self.check(log, &opts) {
                Ok(out) => {
                    eprintln!(
                        "[{}] windows ending <= {until} committed after {:.1}s: {out}",
                        self.label,
                        start.elapsed().as_secs_f64()
                    );
                    return;
                }
                Err(e) => last = e,
            }
            if start.elapsed() >= timeout {
                panic!(
                    "[{}] the windows ending <= {until} were not all committed within {}s.\n\
                     last check:\n{last}\n{}",
                    self.label,
                    timeout.as_secs(),
                    proc.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let keep = std::thread::panicking()
            || std::env::var("FLOE_E2E_KEEP")
                .map(|v| v == "1")
                .unwrap_or(false);
        if let Some(dir) = self.dir.take() {
            if keep {
                let path = dir.keep();
                eprintln!(
                    "[{}] kept the test directory {} (config, floe logs, events.jsonl, catalog, \
                     warehouse, checkpoints); topic {}",
                    self.label,
                    path.display(),
                    self.topic
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic() {
        let spec = StreamSpec {
            start_ms: BASE_TS,
            duration_ms: 300_000,
            count: 500,
            partitions: 3,
            placement: Placement::ByKey,
            jitter_ms: 8_000,
        };
        let a = ContentGen::new(7, 20).stream(&spec);
        let b = ContentGen::new(7, 20).stream(&spec);
        assert_eq!(
            a.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
            b.iter().map(|r| r.value.clone()).collect::<Vec<_>>()
        );
    }

    fn fake_log(records: Vec<Record>) -> EventLog {
        let mut next: HashMap<i32, i64> = HashMap::new();
        EventLog {
            records: records
                .into_iter()
                .map(|r| {
                    let o = next.entry(r.partition).or_insert(0);
                    *o += 1;
                    Produced {
                        partition: r.partition,
                        offset: *o - 1,
                        expect: r.expect,
                        value: r.value,
                        event_ts: r.event_ts,
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn jittered_streams_are_never_late() {
        for seed in 0..20 {
            let mut g = ContentGen::new(seed, 20);
            let recs = g.stream(&StreamSpec {
                start_ms: BASE_TS + 17_300,
                duration_ms: 300_000,
                count: 2000,
                partitions: 3,
                placement: Placement::Random,
                jitter_ms: 8_000,
            });
            fake_log(recs).validate_labels(false, None);
        }
    }

    #[test]
    #[should_panic(expected = "labelled late")]
    fn late_labels_need_a_proof_on_several_partitions() {
        let mut g = ContentGen::new(1, 5);
        let mut recs = g.stream(&StreamSpec {
            start_ms: BASE_TS,
            duration_ms: 300_000,
            count: 300,
            partitions: 2,
            placement: Placement::Random,
            jitter_ms: 0,
        });
        recs.push(g.late_event(0, BASE_TS + 1_000));
        fake_log(recs).validate_labels(false, None);
    }

    #[test]
    fn late_labels_hold_on_one_partition() {
        let mut g = ContentGen::new(1, 5);
        let mut recs = g.stream(&StreamSpec {
            start_ms: BASE_TS,
            duration_ms: 300_000,
            count: 300,
            partitions: 1,
            placement: Placement::Fixed(0),
            jitter_ms: 0,
        });
        recs.push(g.late_event(0, BASE_TS + 1_000));
        fake_log(recs).validate_labels(true, None);
    }

    #[test]
    fn bad_records_cover_every_kind() {
        let mut g = ContentGen::new(3, 5);
        let recs = g.bad_records(BAD_KINDS, 2);
        assert!(recs.iter().any(|r| r.value.is_none()));
        assert!(recs.iter().any(|r| r.value.as_deref() == Some("")));
        assert!(recs.iter().all(|r| r.expect == Expect::Bad));
    }
}
