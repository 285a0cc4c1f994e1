//! Cluster mode on SeaweedFS S3 and its Iceberg REST catalog, each reached through a faulty
//! HTTP proxy in front of a faulty link. While the job runs:
//! - the links cut every open connection (an upload, a state read or a listing fails half-way;
//!   a commit's answer is lost, perhaps after the commit landed) or go dark for a moment;
//! - the proxies answer uploads `503` half-way through their bodies, and drop or replace with a
//!   `502` the answers of uploads and catalog commits that landed.
//!
//! Nothing may be lost or doubled: the tables must equal the oracle, each checkpoint committed
//! once, and every kind of HTTP fault must have been hit. `FLOE_E2E_SEED` replays a run.

use std::time::{Duration, Instant};

use floe_tests::cluster::*;
use floe_tests::faulty_http::{FaultyHttp, HttpFault, Requests};
use floe_tests::faulty_link::{FaultyLink, LinkFault};
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 6;
const FAULTS_FOR: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(180);
const STOP: Duration = Duration::from_secs(120);
/// The HTTP faults, armed in turn: (proxy, fault, requests).
const HTTP_FAULTS: [(&str, HttpFault, Requests); 5] = [
    ("store", HttpFault::FailMidUpload, Requests::Uploads),
    ("catalog", HttpFault::LoseAnswer, Requests::Commits),
    (
        "store",
        HttpFault::BadGatewayAfterLanding,
        Requests::Uploads,
    ),
    (
        "catalog",
        HttpFault::BadGatewayAfterLanding,
        Requests::Commits,
    ),
    ("store", HttpFault::LoseAnswer, Requests::Uploads),
];

/// `http://host:port[/path]` → (`host:port`, `/path`).
fn split_uri(uri: &str) -> (&str, &str) {
    let rest = uri.trim_start_matches("http://");
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}

#[test]
fn cut_and_dark_store_and_catalog_connections_lose_and_double_nothing() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("cluster-store-faults");
    let mut rng = StdRng::seed_from_u64(seed);
    let s3 = S3Services::from_env();
    let store = FaultyLink::to(split_uri(&s3.endpoint).0);
    let store_http = FaultyHttp::to(store.address());
    let (catalog_at, catalog_path) = split_uri(&s3.rest_uri);
    let catalog = FaultyLink::to(catalog_at);
    let catalog_http = FaultyHttp::to(catalog.address());
    let s3 = S3Services {
        endpoint: format!("http://{}", store_http.address()),
        rest_uri: format!("http://{}{catalog_path}", catalog_http.address()),
        ..s3
    };
    let options = JobOptions {
        storage: Storage::S3(s3),
        ..JobOptions::with_partitions(PARTITIONS).interval("1s")
    };
    let mut job = Job::new(&services, "cluster-store-faults", options);
    let recs = mixed_records(PARTITIONS, seed, 8, 8_000);
    let producer = produce_slowly(&job, recs, FAULTS_FOR);

    let mut cluster = Cluster::new("store-faults", "1s");
    cluster.start_coordinator(&mut job, "c1");
    cluster.wait_for("a leader", WAIT, |s| leader(s) == Some("c1"));
    for w in ["w1", "w2"] {
        cluster.start_worker(&mut job, w);
    }
    let started = Instant::now();
    let mut steps = 0usize;
    while started.elapsed() < FAULTS_FOR {
        std::thread::sleep(Duration::from_millis(rng.random_range(700..=2_500)));
        steps += 1;
        if steps % 2 == 1 {
            let (proxy, fault, requests) = HTTP_FAULTS[(steps / 2) % HTTP_FAULTS.len()];
            let proxy = if proxy == "store" {
                &store_http
            } else {
                &catalog_http
            };
            proxy.arm(fault, requests, rng.random_range(1..=3));
            continue;
        }
        let (name, link) = if rng.random_bool(0.6) {
            ("the store", &store)
        } else {
            ("the catalog", &catalog)
        };
        if rng.random_bool(0.7) {
            eprintln!("[store faults] cut every connection to {name}");
            link.cut();
        } else {
            let dark = Duration::from_millis(rng.random_range(500..=3_000));
            eprintln!("[store faults] {name} dark for {dark:?}");
            link.set(LinkFault::BlackHole);
            std::thread::sleep(dark);
            link.set(LinkFault::None);
            link.cut();
        }
    }
    eprintln!(
        "[store faults] seed {seed}: faults over; waiting for the cluster to read everything"
    );
    finish(cluster, job, producer, WAIT, STOP);
    for (proxy, fault, requests) in HTTP_FAULTS {
        let hits = if proxy == "store" {
            &store_http
        } else {
            &catalog_http
        }
        .hits(fault);
        eprintln!("[store faults] {proxy}: {fault:?} on {requests:?} hit {hits} times");
        assert!(
            hits > 0,
            "{fault:?} never hit the {proxy}'s {requests:?}: armed faults must fire"
        );
    }
}
