//! Cluster mode end to end: `floe coordinator` and `floe worker` processes on loopback, etcd,
//! the tansu broker, and the tables checked against the oracle by pyiceberg and DuckDB.
//!
//! Every test produces a 12-partition topic **without keying by the group key** (random
//! partitions), so the same (window, key) is spread over partitions that different workers
//! hold: a window closed at different checkpoints on two workers would show as two rows.
//! Events are produced while the cluster runs; failures and scale changes happen mid-stream.
//! At the end the cluster stops gracefully and one `floe run --until-end` closes the last
//! windows from the cluster's checkpoint (any worker, or this single process, restores any
//! partition); the tables must then equal what one failure-free run makes.
//!
//! `e2e_cluster_chaos` runs random kills, restarts and scale changes; `FLOE_CHAOS_SECS` (default
//! 40) makes it longer, `FLOE_E2E_SEED` replays one.

use std::thread::JoinHandle;
use std::time::Duration;

use floe_tests::cluster::*;
use floe_tests::*;

const PARTITIONS: i32 = 12;
const MINUTE: i64 = 60_000;
const WAIT: Duration = Duration::from_secs(90);
const STOP: Duration = Duration::from_secs(120);

/// A job on a fresh 12-partition topic, checkpointing every second.
fn new_job(services: &Services, label: &str) -> Job {
    Job::new(
        services,
        label,
        JobOptions {
            partitions: PARTITIONS,
            checkpoint_interval: "1s".into(),
            ..Default::default()
        },
    )
}

/// `count` events over `minutes` of event time on random partitions, plus bad records.
fn records(seed: u64, minutes: i64, count: usize) -> Vec<Record> {
    let mut gen = ContentGen::new(seed, 40);
    let mut recs = gen.stream(&StreamSpec {
        start_ms: BASE_TS + 5_000,
        duration_ms: minutes * MINUTE,
        count,
        partitions: PARTITIONS,
        placement: Placement::Random,
        jitter_ms: 5_000,
    });
    let bad = gen.bad_records(2 * BAD_KINDS, PARTITIONS);
    gen.insert_randomly(&mut recs, bad, 0);
    recs
}

/// Produces `records` in chunks over about `over`, in the background.
fn produce_slowly(job: &Job, records: Vec<Record>, over: Duration) -> JoinHandle<Vec<Produced>> {
    let (topic, brokers) = (job.topic.clone(), job.services.brokers.clone());
    let chunks = 40usize;
    let pause = over / chunks as u32;
    std::thread::spawn(move || {
        let kafka = Kafka::connect(&brokers);
        let mut out = Vec::new();
        for chunk in records.chunks(records.len().div_ceil(chunks).max(1)) {
            out.extend(kafka.produce(&topic, chunk));
            std::thread::sleep(pause);
        }
        out
    })
}

/// Waits for the producer and for the cluster to have read everything, stops the cluster, closes
/// the last windows with one bounded run and checks the tables.
fn finish(mut cluster: Cluster, mut job: Job, producer: JoinHandle<Vec<Produced>>) {
    let mut log = EventLog::default();
    log.extend(producer.join().expect("producer thread"));
    log.write_jsonl(&job.events);
    log.validate_labels(false, None);
    let expected = (log.count(Expect::Ok) + log.count(Expect::Late)) as u64;
    let read = cluster.wait_for("every event read", WAIT, |s| events(s) >= expected);
    let after = last_checkpoint(&read);
    let done = cluster.wait_for("a checkpoint after the last event", WAIT, |s| {
        last_checkpoint(s) > after
    });
    assert_eq!(events(&done), expected, "no event counted twice: {done:#}");
    cluster.stop(STOP);
    job.run_until_end(STOP);
    job.assert_exact(&log);
}

/// A cluster of one coordinator and `workers` workers, running with every worker assigned.
fn start(job: &mut Job, label: &str, coordinators: &[&str], workers: &[&str]) -> Cluster {
    let mut cluster = Cluster::new(label, "1s");
    for c in coordinators {
        cluster.start_coordinator(job, c);
        if coordinators.len() > 1 && *c == coordinators[0] {
            // The first one leads.
            cluster.wait_for("a leader", WAIT, |s| leader(s) == Some(coordinators[0]));
        }
    }
    for w in workers {
        cluster.start_worker(job, w);
    }
    let want = cluster.workers();
    cluster.wait_for("every worker assigned", WAIT, |s| {
        assigned_workers(s) == want && last_checkpoint(s) >= 2
    });
    cluster
}

#[test]
fn a_killed_worker_s_partitions_restart_from_the_last_checkpoint() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = new_job(&services, "cluster-kill");
    let producer = produce_slowly(
        &job,
        records(seed("cluster-kill"), 8, 8_000),
        Duration::from_secs(25),
    );
    let mut cluster = start(&mut job, "kill", &["c1"], &["w1", "w2", "w3"]);
    let before = last_checkpoint(&cluster.status());
    cluster.kill("w2");
    let moved = cluster.wait_for("w2's partitions on the others", WAIT, |s| {
        assigned_workers(s) == ["w1", "w3"].map(String::from).into() && last_checkpoint(s) > before
    });
    assert!(
        moved["progress"]["rows_committed"].as_u64().unwrap_or(0) > 0,
        "the cluster commits rows: {moved:#}"
    );
    finish(cluster, job, producer);
}

#[test]
fn a_worker_joins_and_another_leaves_without_a_restart() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = new_job(&services, "cluster-scale");
    let producer = produce_slowly(
        &job,
        records(seed("cluster-scale"), 8, 8_000),
        Duration::from_secs(30),
    );
    let mut cluster = start(&mut job, "scale", &["c1"], &["w1", "w2", "w3"]);
    cluster.start_worker(&mut job, "w4");
    let four = cluster.workers();
    let joined = cluster.wait_for("w4 owns its share", WAIT, |s| assigned_workers(s) == four);
    let share = joined["progress"]["assignment"]["w4"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(share, 3, "12 partitions over 4 workers: {joined:#}");
    cluster.leave("w1", STOP);
    let three = cluster.workers();
    cluster.wait_for("w1's partitions on the others", WAIT, |s| {
        assigned_workers(s) == three
    });
    finish(cluster, job, producer);
}

#[test]
fn the_standby_takes_over_when_the_leader_is_killed() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = new_job(&services, "cluster-failover");
    let producer = produce_slowly(
        &job,
        records(seed("cluster-failover"), 8, 8_000),
        Duration::from_secs(25),
    );
    let mut cluster = start(&mut job, "failover", &["c1", "c2"], &["w1", "w2", "w3"]);
    let before = last_checkpoint(&cluster.status());
    cluster.kill("c1");
    cluster.wait_for("c2 leading and committing", WAIT, |s| {
        leader(s) == Some("c2") && last_checkpoint(s) > before + 1 && state(s) == "running"
    });
    finish(cluster, job, producer);
}

#[test]
fn killing_every_process_at_once_loses_nothing() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = new_job(&services, "cluster-all");
    let producer = produce_slowly(
        &job,
        records(seed("cluster-all"), 8, 8_000),
        Duration::from_secs(25),
    );
    let mut cluster = start(&mut job, "all", &["c1"], &["w1", "w2", "w3"]);
    let before = last_checkpoint(&cluster.status());
    cluster.kill_all();
    cluster.start_coordinator(&mut job, "c1");
    for w in ["w1", "w2", "w3"] {
        cluster.start_worker(&mut job, w);
    }
    let want = cluster.workers();
    cluster.wait_for("the restarted cluster committing", WAIT, |s| {
        assigned_workers(s) == want && last_checkpoint(s) > before + 1
    });
    finish(cluster, job, producer);
}
