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
use floe_tests::faulty_store::{FaultyStore, HTTP_FAULTS};
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 6;
const FAULTS_FOR: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(180);
const STOP: Duration = Duration::from_secs(120);

#[test]
fn cut_and_dark_store_and_catalog_connections_lose_and_double_nothing() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("cluster-store-faults");
    let mut rng = StdRng::seed_from_u64(seed);
    let faulty = FaultyStore::in_front_of(S3Services::from_env());
    let options = JobOptions {
        storage: Storage::S3(faulty.services.clone()),
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
            faulty.arm(steps / 2, rng.random_range(1..=3));
        } else {
            faulty.fail_a_link(&mut rng);
        }
    }
    eprintln!(
        "[store faults] seed {seed}: faults over; waiting for the cluster to read everything"
    );
    finish(cluster, job, producer, WAIT, STOP);
    for ((proxy, fault, requests), hits) in HTTP_FAULTS.iter().zip(faulty.hits()) {
        assert!(
            hits > 0,
            "{fault:?} never hit the {proxy:?}'s {requests:?}: armed faults must fire"
        );
    }
}
