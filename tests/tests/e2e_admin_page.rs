//! The coordinator's live page in a real browser (headless Chromium) against a running
//! cluster: it loads, every plot has data points, the assignment shows every worker, and the
//! console has no errors. A screenshot is kept in `<target>/floe-test-artifacts/`.

use std::time::Duration;

use floe_tests::browser::{body_attribute, screenshot, visit};
use floe_tests::cluster::*;
use floe_tests::*;

const PARTITIONS: i32 = 4;
const WAIT: Duration = Duration::from_secs(90);
const STOP: Duration = Duration::from_secs(120);

#[test]
fn the_live_page_plots_the_job_and_shows_every_worker() {
    let _serial = serial();
    let services = Services::from_env();
    let mut job = cluster_job(&services, "admin-page", PARTITIONS);
    let producer = produce_slowly(
        &job,
        mixed_records(PARTITIONS, seed("admin-page"), 6, 6_000),
        Duration::from_secs(15),
    );
    let mut cluster = Cluster::new("admin-page", "1s");
    cluster.start_coordinator(&mut job, "c1");
    cluster.start_worker(&mut job, "w1");
    cluster.start_worker(&mut job, "w2");
    let both = cluster.workers();
    cluster.wait_for("both workers assigned, commits made", WAIT, |s| {
        assigned_workers(s) == both && last_checkpoint(s) >= 4
    });
    let url = format!("http://{}/", cluster.admin_of("c1"));
    let page = visit(&url, 4_000);

    for plot in ["Throughput", "Lag", "Watermark", "Checkpoint"] {
        let attr = format!("data-points-{}", plot.to_lowercase());
        let points: usize = body_attribute(&page.dom, &attr)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            points >= 2,
            "the {plot} plot has {points} points: {}",
            page.dom
        );
    }
    let shown = body_attribute(&page.dom, "data-workers").unwrap_or_default();
    for w in ["w1", "w2"] {
        assert!(
            shown.split(',').any(|s| s == w),
            "{w} missing from the assignment ({shown})"
        );
        assert!(
            page.dom.contains(&format!("<td>{w}</td>")),
            "{w} has no row"
        );
    }
    assert!(
        page.console
            .iter()
            .all(|l| !l.contains("Uncaught") && !l.to_lowercase().contains("error")),
        "console errors: {:#?}",
        page.console
    );
    let shot = target_dir().join("floe-test-artifacts/admin-page.png");
    screenshot(&url, 3_000, &shot);
    eprintln!("screenshot of the page: {}", shot.display());

    finish(cluster, job, producer, WAIT, STOP);
}
