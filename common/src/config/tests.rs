use std::time::Duration;

use super::*;
use crate::schema::PartitionTransform;

pub(crate) const VIDEO_STATS: &str = include_str!("../../../examples/video_stats.toml");

#[test]
fn example_file_validates_to_the_gold_table() {
    let cfg = FloeConfig::parse(VIDEO_STATS).unwrap().validate().unwrap();
    let job = &cfg.jobs[0];
    assert_eq!(job.table.name, "gold.video_stats_1min");
    let names: Vec<&str> = job.table.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "window_start",
            "window_end",
            "video_id",
            "events",
            "impressions",
            "likes",
            "shares",
            "completions",
            "watch_ms_sum"
        ]
    );
    assert_eq!(job.window.size_ms, 60_000);
    assert_eq!(job.window.watermark_delay_ms, 10_000);
    assert_eq!(job.table.partition[0].transform, PartitionTransform::Day);
    assert_eq!(job.late_table.name, "gold.video_stats_1min_late");
    assert_eq!(cfg.checkpoint_interval, Duration::from_secs(10));
}

fn error_of(text: &str) -> ConfigError {
    FloeConfig::parse(text)
        .and_then(|c| c.validate())
        .expect_err("config should be rejected")
}

#[test]
fn errors_name_the_key() {
    let bad = VIDEO_STATS.replace("size = \"1m\"", "size = \"1 fortnight\"");
    assert_eq!(error_of(&bad).key, "job[0].window.size");
    let bad = VIDEO_STATS.replace("function = \"sum\"", "function = \"median\"");
    assert_eq!(error_of(&bad).key, "job[0].aggregate[5].function");
    let bad = VIDEO_STATS.replace("header.event_type = 'like'", "header.event_type = like");
    assert_eq!(error_of(&bad).key, "job[0].aggregate[2].filter");
    let bad = VIDEO_STATS.replace("day(window_start)", "day(video_id)");
    assert_eq!(error_of(&bad).key, "job[0].sink.partition_by[0]");
    let bad = VIDEO_STATS.replace("gold.video_stats_1min\"", "video_stats\"");
    assert_eq!(error_of(&bad).key, "job[0].sink.table");
}

#[test]
fn unknown_keys_and_syntax_errors_name_the_line() {
    let bad = VIDEO_STATS.replace("[job.window]", "[job.window]\nsizee = 3");
    let e = error_of(&bad);
    assert!(e.key.starts_with("line "), "{e}");
    assert!(e.message.contains("sizee"), "{e}");
}

#[test]
fn overrides_replace_source_and_storage() {
    let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
    cfg.apply(&Overrides {
        brokers: Some("b:1".into()),
        topic: Some("t".into()),
        warehouse: Some("s3://w/x".into()),
        catalog: Some("http://rest:8181".into()),
        checkpoints: Some("s3://c/y".into()),
    })
    .unwrap();
    let v = cfg.validate().unwrap();
    assert_eq!(v.jobs[0].source.brokers, "b:1");
    assert_eq!(v.jobs[0].source.topic, "t");
    assert_eq!(v.catalog.warehouse, "s3://w/x");
    assert_eq!(v.catalog.uri, "http://rest:8181");
    assert_eq!(v.checkpoint_store, "s3://c/y");
}

#[test]
fn rejects_unsupported_storage_and_catalog() {
    let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
    cfg.catalog.uri = "mysql://x".into();
    assert_eq!(cfg.validate().unwrap_err().key, "catalog.uri");
    let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
    cfg.checkpoint.store = "gs://bucket".into();
    assert_eq!(cfg.validate().unwrap_err().key, "checkpoint.store");
}
