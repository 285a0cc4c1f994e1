//! Floe's image as a cluster: `scripts/build-image.sh` builds it from the binary under test;
//! a coordinator and two workers run as containers (podman, host network) on the test
//! services' etcd and broker, with the warehouse and checkpoints on S3 and the REST catalog.
//! The tables must equal the oracle's; a worker container stopped with SIGTERM (through tini,
//! PID 1 of the image) must leave gracefully, exit 0 and lose nothing.

use std::time::Duration;

use floe_tests::cluster::*;
use floe_tests::container::build_image;
use floe_tests::*;

const PARTITIONS: i32 = 6;
const WAIT: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(150);

#[test]
fn a_cluster_of_containers_matches_the_oracle_and_a_stopped_worker_loses_nothing() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = Job::new(
        &services,
        "container",
        JobOptions {
            partitions: PARTITIONS,
            checkpoint_interval: "1s".into(),
            storage: Storage::S3(S3Services::from_env()),
            ..Default::default()
        },
    );
    job.image = Some(build_image("localhost/floe:e2e"));
    let producer = produce_slowly(
        &job,
        mixed_records(PARTITIONS, seed("container"), 6, 6_000),
        Duration::from_secs(20),
    );
    let mut cluster = Cluster::new("container", "1s");
    cluster.start_coordinator(&mut job, "c1");
    cluster.start_worker(&mut job, "w1");
    cluster.start_worker(&mut job, "w2");
    let both = cluster.workers();
    let running = cluster.wait_for("both worker containers assigned", WAIT, |s| {
        assigned_workers(s) == both && last_checkpoint(s) >= 2
    });
    cluster.leave("w2", STOP);
    let before = last_checkpoint(&running);
    cluster.wait_for("w2's partitions on w1", WAIT, |s| {
        assigned_workers(s) == ["w1".to_owned()].into() && last_checkpoint(s) > before
    });
    finish(cluster, job, producer, WAIT, STOP);
}
