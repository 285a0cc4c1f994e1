//! Mutual TLS on the gRPC links: a coordinator and two workers with certificates of one CA run
//! the job and the tables equal the oracle's; their admin ports serve HTTPS (the
//! coordinator's only to clients with a certificate of the CA). A coordinator that checks workers against
//! another CA cannot drive them, and neither can one presenting a certificate the workers'
//! CA did not sign: no partition is ever assigned to a worker it cannot verify, or that
//! cannot verify it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use floe_tests::cluster::*;
use floe_tests::pki::TestPki;
use floe_tests::*;

const PARTITIONS: i32 = 4;
const WAIT: Duration = Duration::from_secs(90);
const STOP: Duration = Duration::from_secs(120);

#[test]
fn a_cluster_over_mutual_tls_matches_the_oracle() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = cluster_job(&services, "tls", PARTITIONS);
    let pki = TestPki::create(&job.root.join("pki"));
    let tls = TestPki::args(&pki.cert, &pki.key, &pki.ca);
    let producer = produce_slowly(
        &job,
        mixed_records(PARTITIONS, seed("tls"), 4, 3_000),
        Duration::from_secs(10),
    );
    let mut cluster = Cluster::new("tls", "1s");
    // The coordinator's admin port: HTTPS for clients with a certificate of the CA; the
    // workers': HTTPS for anyone.
    let mut coordinator = tls.clone();
    coordinator.extend(["--admin-tls".into(), "--admin-client-ca".into()]);
    coordinator.push(pki.ca.display().to_string());
    let mut worker = tls.clone();
    worker.push("--admin-tls".into());
    cluster.start_coordinator_with(&mut job, "c1", &coordinator);
    cluster.start_worker_with(&mut job, "w1", &worker);
    cluster.start_worker_with(&mut job, "w2", &worker);
    let both = cluster.workers();
    cluster.wait_for("both TLS workers assigned", WAIT, |s| {
        assigned_workers(s) == both && last_checkpoint(s) >= 2
    });

    // curl, an HTTPS client that shares no code with floe's rustls; `more` its other options.
    let curl_with = |more: &[&str], url: String, extra: &[&Path]| {
        let mut cmd = Command::new("curl");
        cmd.args(["--silent", "--show-error", "--max-time", "5"])
            .args(more)
            .arg("--cacert")
            .arg(&pki.ca);
        if let [cert, key] = extra {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let out = cmd.arg(url).output().expect("run curl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let curl = |url: String, extra: &[&Path]| curl_with(&[], url, extra);
    let c1 = cluster.admin_of("c1").replace("127.0.0.1", "localhost");
    let w1 = cluster.admin_of("w1").replace("127.0.0.1", "localhost");
    let with_cert = [pki.cert.as_path(), pki.key.as_path()];
    assert_eq!(
        curl(format!("https://{c1}/healthz"), &with_cert),
        (true, "ok\n".to_owned()),
        "the coordinator's admin port answers a client with a CA-signed certificate"
    );
    assert!(
        !curl(format!("https://{c1}/healthz"), &[]).0,
        "the coordinator's admin port refuses a client without a certificate"
    );
    let rogue = [pki.rogue_cert.as_path(), pki.rogue_key.as_path()];
    assert!(
        !curl(format!("https://{c1}/healthz"), &rogue).0,
        "the coordinator's admin port refuses a certificate of another CA"
    );
    assert!(
        !curl(format!("http://{c1}/healthz"), &[]).0,
        "no plain HTTP on a TLS admin port"
    );
    let (ok, metrics) = curl(format!("https://{w1}/metrics"), &[]);
    assert!(
        ok && metrics.contains("floe_worker_assigned_partitions"),
        "{metrics}"
    );
    // The gRPC port itself: TLS with the CA's certificate, nothing in plaintext.
    let grpc = cluster.status()["workers"]["w1"]
        .as_str()
        .expect("w1's address")
        .replace("127.0.0.1", "localhost");
    let h2 = |url: String, extra: &[&Path]| curl_with(&["--http2-prior-knowledge"], url, extra).0;
    assert!(
        h2(format!("https://{grpc}/"), &with_cert),
        "the worker's gRPC port speaks TLS with the CA's certificate"
    );
    assert!(
        !h2(format!("http://{grpc}/"), &[]),
        "the worker's gRPC port refuses plaintext"
    );
    finish(cluster, job, producer, WAIT, STOP);
}

#[test]
fn a_coordinator_that_cannot_verify_or_be_verified_drives_no_worker() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = cluster_job(&services, "tls-refused", PARTITIONS);
    let pki = TestPki::create(&job.root.join("pki"));
    let worker_tls = TestPki::args(&pki.cert, &pki.key, &pki.ca);
    // Checks the worker against the wrong CA; then presents a certificate the worker's CA
    // did not sign.
    let wrong_ca = TestPki::args(&pki.cert, &pki.key, &pki.rogue_ca);
    let rogue_client = TestPki::args(&pki.rogue_cert, &pki.rogue_key, &pki.ca);
    for (label, coordinator_tls) in [("wrong-ca", wrong_ca), ("rogue-client", rogue_client)] {
        let mut cluster = Cluster::new(&format!("tls-{label}"), "1s");
        cluster.start_worker_with(&mut job, "w1", &worker_tls);
        cluster.start_coordinator_with(&mut job, "c1", &coordinator_tls);
        let deadline = Instant::now() + Duration::from_secs(12);
        let mut saw_leader = false;
        while Instant::now() < deadline {
            let s = cluster.status();
            saw_leader |= leader(&s) == Some("c1");
            assert_eq!(
                last_checkpoint(&s),
                0,
                "{label}: a checkpoint completed with a worker that should be unreachable: {s:#}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        assert!(saw_leader, "{label}: the coordinator never led");
        cluster.kill_all();
    }
    let logs: String = job.logs().into_iter().map(|(_, text)| text).collect();
    assert!(
        logs.contains("invalid peer certificate"),
        "the coordinator with the wrong CA names the certificate it refused"
    );
}
