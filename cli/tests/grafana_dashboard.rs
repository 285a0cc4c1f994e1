//! `deploy/grafana/floe.json` is built on the metrics Floe exports: every series its queries
//! name is one a coordinator or a worker serves (rendered here from the same registries the
//! admin port encodes, with every labelled family observed once).

use std::collections::BTreeSet;
use std::time::Duration;

use floe_common::watermark::LocalWatermark;
use floe_common::window::{OperatorStats, PartitionProgress};
use floe_coordinator::job::{CommitNotice, JobProgress, PartitionStatus};
use floe_coordinator::metrics::JobMetrics;
use floe_coordinator::table_maintenance::TableStatus;
use floe_proto::WorkerStatus;
use floe_worker::metrics::WorkerMetrics;

/// The sample names of an OpenMetrics text (histograms' `_bucket`/`_sum`/`_count` included).
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The label names of an OpenMetrics text.
fn labels(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some(&l[l.find('{')? + 1..l.find('}')?]))
        .flat_map(|set| set.split(',').filter_map(|kv| kv.split_once('=')))
        .map(|(k, _)| k.to_owned())
        .collect()
}

/// The labels a PromQL expression groups by (`by (a, b)`).
fn grouped_by(expr: &str) -> Vec<String> {
    expr.match_indices("by (")
        .filter_map(|(at, _)| {
            let rest = &expr[at + 4..];
            Some(
                rest[..rest.find(')')?]
                    .split(',')
                    .map(|l| l.trim().to_owned()),
            )
        })
        .flatten()
        .collect()
}

/// (series names, label names) a coordinator and a worker export.
fn exported() -> (BTreeSet<String>, BTreeSet<String>) {
    let job = JobMetrics::new();
    job.observe_progress(
        "gold",
        &JobProgress {
            events: 10,
            watermark_ms: 1_000,
            assignment: [("w1".to_owned(), vec![0])].into(),
            partitions: vec![PartitionStatus::new(
                PartitionProgress {
                    partition: 0,
                    next_offset: Some(5),
                    watermark_ms: Some(1_000),
                    events: 10,
                },
                Some(9),
            )],
            tables: vec![TableStatus {
                table: "gold.video_stats_1min".into(),
                ..TableStatus::default()
            }],
            ..JobProgress::default()
        },
    );
    job.observe_commit(
        "gold",
        &CommitNotice {
            checkpoint_id: 1,
            visible_at_ms: 2_000,
            window_ends_ms: vec![60_000],
            rows: 3,
            duration: Duration::from_millis(40),
            commit_duration: Duration::ZERO,
            state_bytes: 0,
        },
    );
    job.observe_leadership(true);
    let worker = WorkerMetrics::new();
    worker.observe(Some(&WorkerStatus {
        stats: OperatorStats::default(),
        watermark: LocalWatermark::Idle(0),
        next_close_ms: None,
        open_windows: 0,
        open_entries: 0,
        input_finished: false,
        offsets_skipped: 0,
        backpressured: false,
        failure: None,
        partitions: Vec::new(),
        bytes_read: 0,
    }));
    let text = format!("{}{}", job.encode(), worker.encode());
    (series(&text), labels(&text))
}

/// Every `floe_…` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("floe_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_dashboard_query_names_an_exported_metric() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/floe.json");
    let text = std::fs::read_to_string(path).expect("deploy/grafana/floe.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let (exported, label_names) = exported();
    assert!(
        !label_names.contains("job"),
        "`job` is the scrape target's label in Prometheus; Floe's would be renamed"
    );
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} names no Floe metric");
            for label in grouped_by(expr) {
                assert!(
                    label_names.contains(&label),
                    "panel {} groups by {label}, which no Floe series has: {label_names:?}",
                    panel["title"]
                );
            }
            for name in names {
                assert!(
                    exported.contains(&name),
                    "panel {} queries {name}, which Floe does not export; it does: {exported:#?}",
                    panel["title"]
                );
            }
            queries += 1;
        }
    }
    assert!(queries >= 10, "only {queries} queries");
}
