use std::time::Duration;

use super::*;
use crate::schema::{ColumnType, PartitionTransform, TableSchema};

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
    let bad = VIDEO_STATS.replace("header.event_type = 'like'", "header.event_type = 'like");
    assert_eq!(error_of(&bad).key, "job[0].aggregate[2].filter");
    let bad = VIDEO_STATS.replace("day(window_start)", "day(video_id)");
    assert_eq!(error_of(&bad).key, "job[0].sink.partition_by[0]");
    let bad = VIDEO_STATS.replace("gold.video_stats_1min\"", "video_stats\"");
    assert_eq!(error_of(&bad).key, "job[0].sink.table");
}

#[test]
fn hopping_and_cumulating_windows_take_a_slide_or_a_step_that_divides_their_size() {
    let window = |settings: &str| {
        let text = VIDEO_STATS.replace("type = \"tumbling\"", settings);
        FloeConfig::parse(&text).and_then(|c| c.validate())
    };
    let hop = window("type = \"hopping\"\nslide = \"20s\"").unwrap();
    assert_eq!(
        hop.jobs[0].window.kind,
        WindowKind::Hopping { slide_ms: 20_000 }
    );
    let cumulate = window("type = \"cumulating\"\nstep = \"15s\"").unwrap();
    assert_eq!(
        cumulate.jobs[0].window.kind,
        WindowKind::Cumulating { step_ms: 15_000 }
    );
    for (settings, key, says) in [
        ("type = \"hopping\"", "slide", "missing"),
        ("type = \"hopping\"\nslide = \"25s\"", "slide", "divide"),
        ("type = \"hopping\"\nslide = \"2m\"", "slide", "divide"),
        ("type = \"cumulating\"\nstep = \"0s\"", "step", "> 0"),
        (
            "type = \"hopping\"\nslide = \"20s\"\nstep = \"20s\"",
            "step",
            "hopping",
        ),
        ("type = \"tumbling\"\nslide = \"20s\"", "slide", "tumbling"),
        ("type = \"tumbling\"\ngap = \"20s\"", "gap", "tumbling"),
        ("type = \"session\"", "size", "session"),
        ("type = \"sliding\"", "type", "session"),
    ] {
        let e = window(settings).expect_err(settings);
        assert_eq!(e.key, format!("job[0].window.{key}"), "{settings}");
        assert!(e.message.contains(says), "{settings}: {e}");
    }
}

#[test]
fn a_session_window_takes_a_gap_and_no_size() {
    let window = |settings: &str| {
        let text = VIDEO_STATS
            .replace("type = \"tumbling\"", settings)
            .replace("size = \"1m\"\n", "");
        FloeConfig::parse(&text).and_then(|c| c.validate())
    };
    let session = window("type = \"session\"\ngap = \"30s\"").unwrap();
    assert_eq!(
        session.jobs[0].window.kind,
        WindowKind::Session { gap_ms: 30_000 }
    );
    assert_eq!(session.jobs[0].window.size_ms, 30_000);
    let e = window("type = \"session\"").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.message.as_str()),
        ("job[0].window.gap", "is missing")
    );
    let e = window("type = \"session\"\ngap = \"30s\"\nslide = \"10s\"").unwrap_err();
    assert_eq!(e.key, "job[0].window.slide");
}

/// The example job with `key = "value"` added to its `[[job]]`, validated.
fn example_with(key: &str, value: &str) -> Result<ValidatedConfig, ConfigError> {
    let text = VIDEO_STATS.replace(
        "name = \"video_stats_1min\"",
        &format!("name = \"video_stats_1min\"\n{key} = \"{value}\""),
    );
    FloeConfig::parse(&text).and_then(|c| c.validate())
}

#[test]
fn an_aggregate_job_may_filter_its_records() {
    let with = |filter: &str| example_with("filter", filter);
    let job = &with("body.watch_ms > 0 and header.event_type != 'ad'")
        .unwrap()
        .jobs[0];
    assert_eq!(
        job.filter.as_ref().map(|f| f.fields().len()),
        Some(2),
        "{:?}",
        job.filter
    );
    assert_eq!(with("body.watch_ms >").unwrap_err().key, "job[0].filter");
}

#[test]
fn an_aggregate_job_may_keep_the_rows_its_aggregates_hold_a_condition_for() {
    let with = |having: &str| example_with("having", having);
    let job = &with("events >= 10 and likes > 0").unwrap().jobs[0];
    assert_eq!(job.having.as_ref().map(|h| h.fields().len()), Some(2));
    let e = with("video_id = 'v_1'").unwrap_err();
    assert_eq!(e.key, "job[0].having");
    assert!(
        e.message.contains("not one of the job's aggregate columns"),
        "{e}"
    );
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
        files: None,
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

pub(crate) const BRONZE: &str = include_str!("../../../examples/bronze.toml");

#[test]
fn the_bronze_example_is_an_append_job_with_its_source_columns_last() {
    let cfg = FloeConfig::parse(BRONZE).unwrap().validate().unwrap();
    let job = &cfg.jobs[0];
    let spec = job.append().expect("an append job");
    assert_eq!(spec.target_file_bytes, 128 << 20);
    let names: Vec<&str> = job.table.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "event_id",
            "event_type",
            "event_ts",
            "schema_version",
            "body",
            "kafka_partition",
            "kafka_offset",
            "ingested_at"
        ]
    );
    assert_eq!(job.table.partition[0].column, "event_ts");
    let sinks: Vec<_> = job
        .sinks()
        .iter()
        .map(|s| (s.role, s.schema.name.clone()))
        .collect();
    assert_eq!(
        sinks,
        [
            (
                SinkRole::DeadLetters,
                "bronze.content_events_dead_letters".into()
            ),
            (SinkRole::Records, "bronze.content_events".into()),
        ]
    );
    assert_ne!(
        crate::job_shape::fingerprint(job),
        crate::job_shape::fingerprint(&example_job()),
    );
}

#[test]
fn an_append_job_refuses_what_only_windows_have() {
    let windowed = BRONZE.replace(
        "[job.source]",
        "[job.window]\nsize = \"1m\"\n\n[job.source]",
    );
    assert_eq!(error_of(&windowed).key, "job[0].window.size");
    let grouped = format!("{BRONZE}\n[[job.group_by]]\ncolumn = \"v\"\nfield = \"body.v\"\n");
    assert_eq!(error_of(&grouped).key, "job[0].group_by");
    let reserved = BRONZE.replace("column = \"event_id\"", "column = \"kafka_offset\"");
    assert_eq!(error_of(&reserved).key, "job[0].column[0].column");
    let typo = BRONZE.replace("type = \"json\"", "type = \"blob\"");
    assert_eq!(error_of(&typo).key, "job[0].column[4].type");
    let tiny = BRONZE.replace("\"128MB\"", "\"10KB\"");
    assert_eq!(error_of(&tiny).key, "job[0].sink.target_file_size");
    let gold_with_columns = format!(
        "{VIDEO_STATS}\n[[job.column]]\ncolumn = \"x\"\nfield = \"body.x\"\ntype = \"string\"\n"
    );
    assert_eq!(error_of(&gold_with_columns).key, "job[0].column");
}

pub(crate) const DIM_VIDEOS: &str = include_str!("../../../examples/dim_videos.toml");

#[test]
fn the_cdc_example_keeps_a_dimension_table_and_its_changelog() {
    let cfg = FloeConfig::parse(DIM_VIDEOS).unwrap().validate().unwrap();
    let copying = DIM_VIDEOS.replace(
        "table = \"dims.dim_videos\"",
        "table = \"dims.dim_videos\"\ncdc_mode = \"copy-on-write\"",
    );
    let copying = FloeConfig::parse(&copying).unwrap().validate().unwrap();
    assert_eq!(
        copying.jobs[0].cdc().map(|c| c.mode),
        Some(crate::cdc::CdcMode::CopyOnWrite)
    );
    assert_eq!(
        cfg.jobs[0].cdc().map(|c| c.mode),
        Some(crate::cdc::CdcMode::MergeOnRead),
        "merge-on-read is the default"
    );
    let job = &cfg.jobs[0];
    let names = |s: &TableSchema| s.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&job.table),
        [
            "video_id",
            "title",
            "category",
            "status",
            "duration_s",
            "updated_at"
        ],
        "the columns of formats.md §2"
    );
    let spec = job.cdc().expect("a CDC job");
    assert_eq!(spec.key, ["video_id"]);
    assert_eq!(job.table.columns[4].ty, ColumnType::Long);
    assert_eq!(job.table.columns[5].ty, ColumnType::TimestampTz);
    let sinks: Vec<(SinkRole, String)> = job
        .sinks()
        .iter()
        .map(|s| (s.role, s.schema.name.clone()))
        .collect();
    assert_eq!(
        sinks,
        [
            (SinkRole::DeadLetters, "dims.dim_videos_dead_letters".into()),
            (SinkRole::Records, "dims.dim_videos_changes".into()),
            (SinkRole::Dimension, "dims.dim_videos".into()),
        ]
    );
    assert_eq!(job.append(), Some(&spec.changelog));
}

#[test]
fn a_cdc_job_refuses_event_time_windows_partitions_and_unknown_keys() {
    for (bad, key) in [
        (
            DIM_VIDEOS.replace(
                "[job.cdc]",
                "[job.event_time]\nfield = \"ts_ms\"\n\n[job.cdc]",
            ),
            "job[0].event_time",
        ),
        (
            DIM_VIDEOS.replace("primary_key = [\"video_id\"]", "primary_key = [\"id\"]"),
            "job[0].cdc.primary_key",
        ),
        (
            DIM_VIDEOS.replace("primary_key = [\"video_id\"]", "primary_key = []"),
            "job[0].cdc.primary_key",
        ),
        (
            DIM_VIDEOS.replace("[job.cdc]\nprimary_key = [\"video_id\"]", ""),
            "job[0].cdc",
        ),
        (
            DIM_VIDEOS.replace("column = \"title\"", "column = \"op\""),
            "job[0].column[1].column",
        ),
        (
            DIM_VIDEOS.replace(
                "table = \"dims.dim_videos\"",
                "table = \"dims.dim_videos\"\npartition_by = [\"day(updated_at)\"]",
            ),
            "job[0].sink.partition_by",
        ),
        (
            DIM_VIDEOS.replace(
                "table = \"dims.dim_videos\"",
                "table = \"dims.dim_videos\"\nchanges_table = \"dims.dim_videos\"",
            ),
            "job[0].sink",
        ),
        (
            DIM_VIDEOS.replace(
                "table = \"dims.dim_videos\"",
                "table = \"dims.dim_videos\"\nhistory_table = \"dims.dim_videos_changes\"",
            ),
            "job[0].sink",
        ),
        (
            DIM_VIDEOS.replace("type = \"long\"", "type = \"long\"\nrequired = true"),
            "job[0].column[4].required",
        ),
        (
            DIM_VIDEOS.replace(
                "table = \"dims.dim_videos\"",
                "table = \"dims.dim_videos\"\ncommit_interval = \"1m\"",
            ),
            "job[0].sink.commit_interval",
        ),
        (
            DIM_VIDEOS.replace(
                "table = \"dims.dim_videos\"",
                "table = \"dims.dim_videos\"\ncdc_mode = \"merge\"",
            ),
            "job[0].sink.cdc_mode",
        ),
        (
            VIDEO_STATS.replace(
                "partition_by = ",
                "cdc_mode = \"copy-on-write\"\npartition_by = ",
            ),
            "job[0].sink.cdc_mode",
        ),
    ] {
        assert_eq!(error_of(&bad).key, key, "{bad}");
    }
    let gold_with_cdc = VIDEO_STATS.replace(
        "[job.window]",
        "[job.cdc]\nprimary_key = []\n\n[job.window]",
    );
    assert_eq!(error_of(&gold_with_cdc).key, "job[0].cdc");
}

#[test]
fn a_cdc_job_may_keep_a_history_table_committed_before_the_dimension() {
    let text = DIM_VIDEOS.replace(
        "table = \"dims.dim_videos\"",
        "table = \"dims.dim_videos\"\nhistory_table = \"dims.dim_videos_history\"",
    );
    let cfg = FloeConfig::parse(&text).unwrap().validate().unwrap();
    let job = &cfg.jobs[0];
    let roles: Vec<SinkRole> = job.sinks().iter().map(|s| s.role).collect();
    assert_eq!(
        roles,
        [
            SinkRole::DeadLetters,
            SinkRole::Records,
            SinkRole::History,
            SinkRole::Dimension
        ]
    );
    let history = job
        .cdc()
        .and_then(|c| c.history_table.as_ref())
        .expect("history");
    let names: Vec<&str> = history.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "video_id",
            "title",
            "category",
            "status",
            "duration_s",
            "op",
            "valid_from",
            "valid_to",
            "is_current"
        ]
    );
}

#[test]
fn a_files_source_reads_a_location_and_refuses_other_kinds_settings() {
    let files = VIDEO_STATS
        .replace("[job.source]", "[job.source]\ntype = \"files\"")
        .replace(
            "\n[job.format]",
            "[job.source.files]\nlocation = \"./archive\"\nglob = \"**/*.jsonl\"\n\n[job.format]",
        );
    let cfg = FloeConfig::parse(&files).unwrap().validate().unwrap();
    let source = &cfg.jobs[0].source;
    let spec = source.files.as_ref().expect("a files source");
    assert_eq!(
        (spec.location.as_str(), spec.glob.as_str()),
        ("./archive", "**/*.jsonl")
    );
    assert!(!spec.watch);
    assert_eq!(source.topic, "./archive", "side rows name the location");

    let no_section = VIDEO_STATS.replace("[job.source]", "[job.source]\ntype = \"files\"");
    assert_eq!(error_of(&no_section).key, "job[0].source.files");
    let wrong_kind = VIDEO_STATS.replace(
        "[job.source]",
        "[job.source.files]\nlocation = \"./archive\"\n[job.source]",
    );
    assert_eq!(error_of(&wrong_kind).key, "job[0].source.files");
    let unknown = VIDEO_STATS.replace("[job.source]", "[job.source]\ntype = \"s3\"");
    let e = error_of(&unknown);
    assert!(e.message.contains("kafka, generator or files"), "{e}");

    let mut cfg = FloeConfig::parse(VIDEO_STATS).unwrap();
    cfg.apply(&Overrides {
        files: Some("./archive".into()),
        ..Overrides::default()
    })
    .unwrap();
    let job = &cfg.validate().unwrap().jobs[0];
    assert_eq!(
        job.source.files.as_ref().map(|f| f.glob.as_str()),
        Some("*")
    );
}

#[test]
fn an_append_job_may_keep_the_first_record_of_each_key() {
    let with = |base: &str, dedup: &str| {
        FloeConfig::parse(&format!("{base}\n[job.dedup]\n{dedup}\n")).and_then(|c| c.validate())
    };
    let job = &with(BRONZE, "key = [\"header.event_id\"]\nwithin = \"1h\"")
        .unwrap()
        .jobs[0];
    let dedup = job
        .append()
        .and_then(|a| a.dedup.as_ref())
        .expect("a dedup");
    assert_eq!(
        (dedup.key[0].to_string().as_str(), dedup.within_ms),
        ("header.event_id", 3_600_000)
    );
    for (base, dedup, key) in [
        (
            VIDEO_STATS,
            "key = [\"a\"]\nwithin = \"1h\"",
            "job[0].dedup",
        ),
        (BRONZE, "key = []\nwithin = \"1h\"", "job[0].dedup.key"),
        (
            BRONZE,
            "key = [\"a\"]\nwithin = \"0s\"",
            "job[0].dedup.within",
        ),
    ] {
        assert_eq!(with(base, dedup).unwrap_err().key, key, "{dedup}");
    }
}
