//! No secret leaves Floe: a cluster configured with known secret values (the S3 secret key and
//! the REST catalog credential of the test services, and a SASL password among the Kafka
//! properties) runs and commits; then every log, every admin endpoint (metrics, status,
//! history, the page) of the coordinator and the worker, and `floe status` are searched for
//! those values.

use std::time::Duration;

use floe_tests::cluster::*;
use floe_tests::*;

const WAIT: Duration = Duration::from_secs(90);
const STOP: Duration = Duration::from_secs(120);
/// A Kafka property's secret: librdkafka ignores SASL settings on a plaintext connection, so it
/// costs nothing but must still never be shown.
const SASL_PASSWORD: &str = "floe-canary-sasl-7b1e94";

#[test]
fn no_secret_appears_in_logs_metrics_status_or_the_page() {
    let _serial = serial();
    let services = Services::from_env();
    let s3 = S3Services::from_env();
    let secrets = [
        s3.secret_access_key.clone(),
        s3.rest_credential.clone(),
        SASL_PASSWORD.to_owned(),
    ];
    let mut job = Job::new(
        &services,
        "secrets",
        JobOptions {
            partitions: 2,
            checkpoint_interval: "1s".into(),
            storage: Storage::S3(s3),
            ..Default::default()
        },
    );
    job.set_source_property("sasl.username", "floe");
    job.set_source_property("sasl.password", SASL_PASSWORD);
    let producer = produce_slowly(
        &job,
        mixed_records(2, seed("secrets"), 3, 1_500),
        Duration::from_secs(5),
    );
    let mut cluster = Cluster::new("secrets", "1s");
    cluster.start_coordinator(&mut job, "c1");
    cluster.start_worker(&mut job, "w1");
    let status = cluster.wait_for("commits", WAIT, |s| {
        last_checkpoint(s) >= 3 && s["progress"]["rows_committed"].as_u64().unwrap_or(0) > 0
    });
    let admin = cluster.admin_of("c1").to_owned();
    let mut shown = vec![("floe status --json".to_owned(), status.to_string())];
    for path in ["/metrics", "/status", "/history", "/", "/healthz"] {
        let body = http_get(&admin, path).unwrap_or_else(|| panic!("GET {path} failed"));
        shown.push((format!("coordinator {path}"), body));
    }
    let worker_admin = cluster.admin_of("w1").to_owned();
    for path in ["/metrics", "/healthz"] {
        let body = http_get(&worker_admin, path).unwrap_or_else(|| panic!("GET {path} failed"));
        shown.push((format!("worker {path}"), body));
    }
    producer.join().expect("producer thread");
    cluster.stop(STOP);
    shown.extend(job.logs());
    for (what, text) in &shown {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} shows a secret: …{}…",
                excerpt(text, secret)
            );
        }
    }
    assert!(shown.len() > 8, "searched only {} texts", shown.len());
}

fn excerpt<'a>(text: &'a str, secret: &str) -> &'a str {
    let at = text.find(secret).unwrap_or(0);
    let from = text[..at]
        .char_indices()
        .rev()
        .nth(80)
        .map_or(0, |(i, _)| i);
    let to = (at + secret.len() + 80).min(text.len());
    text.get(from..to).unwrap_or(text)
}
