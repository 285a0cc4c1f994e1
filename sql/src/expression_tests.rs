//! Queries with expressions, lowered and run through the decoder on records.

use floe_common::aggregate::Input;
use floe_common::append::ColumnValues;
use floe_common::config::{FloeConfig, JobSpec};
use floe_common::decode::{DecodedBatch, Decoder};

use crate::jobs_from_sql;

fn job(query: &str) -> JobSpec {
    let sql = format!(
        "CREATE TABLE src (
           header ROW<event_type STRING, event_ts BIGINT>,
           body ROW<video_id STRING, watch_ms BIGINT, ratio DOUBLE>,
           ts AS TO_TIMESTAMP_LTZ(header.event_ts, 3),
           WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
         ) WITH ('connector' = 'kafka', 'topic' = 't', 'properties.bootstrap.servers' = 'k:9092');
         INSERT INTO gold.t {query};"
    );
    let jobs = jobs_from_sql(&sql).unwrap_or_else(|e| panic!("{query}: {e}"));
    FloeConfig {
        jobs,
        ..FloeConfig::default()
    }
    .validate()
    .unwrap_or_else(|e| panic!("{query}: {e}"))
    .jobs
    .remove(0)
}

fn record(event_type: &str, ts: i64, video: &str, watch_ms: i64, ratio: f64) -> String {
    format!(
        r#"{{"header":{{"event_type":"{event_type}","event_ts":{ts}}},"body":{{"video_id":"{video}","watch_ms":{watch_ms},"ratio":{ratio}}}}}"#
    )
}

fn decode(job: &JobSpec, records: &[String]) -> DecodedBatch {
    let decoder = Decoder::new(job).expect("decoder");
    let mut batch = DecodedBatch::default();
    for (i, r) in records.iter().enumerate() {
        decoder.decode_into(0, i as i64, Some(r.as_bytes()), &mut batch);
    }
    batch
}

#[test]
fn a_windowed_query_computes_its_condition_keys_and_aggregate_inputs() {
    let job = job("SELECT window_start, window_end,
           CASE WHEN body.watch_ms >= 1000 THEN 'long' ELSE 'short' END AS watch_class,
           COUNT(*) AS n,
           SUM(CASE WHEN header.event_type = 'like' THEN 1 ELSE 0 END) AS likes,
           SUM(body.ratio * 2) AS doubled,
           COUNT(*) FILTER (WHERE header.event_type IN ('like', 'share') OR body.watch_ms > 5000) AS engaged
         FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
         WHERE NOT (header.event_type LIKE 'heart%') AND EXTRACT(SECOND FROM ts) < 50
         GROUP BY window_start, window_end, CASE WHEN body.watch_ms >= 1000 THEN 'long' ELSE 'short' END
         HAVING n > 1 OR likes > 0");
    let batch = decode(
        &job,
        &[
            record("like", 1_000, "a", 2_000, 0.5),
            record("heartbeat", 2_000, "a", 9_000, 0.5),
            record("view", 3_000, "b", 10, 0.25),
            record("view", 55_000, "b", 9_000, 0.25),
            record("share", 4_000, "c", 6_000, 1.0),
        ],
    );
    assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
    assert_eq!(batch.filtered, [false, true, false, true, false]);
    let kept: Vec<usize> = (0..batch.len())
        .filter(|i| !batch.is_filtered(*i))
        .collect();
    let keys: Vec<&str> = kept.iter().map(|i| batch.key(*i)).collect();
    assert_eq!(keys, ["long", "short", "long"]);
    let inputs = |i: usize| batch.inputs[i * 4..i * 4 + 4].to_vec();
    assert_eq!(
        inputs(0),
        [Input::One, Input::Int(1), Input::Float(1.0), Input::One]
    );
    assert_eq!(
        inputs(2),
        [Input::One, Input::Int(0), Input::Float(0.5), Input::Skip]
    );
    assert_eq!(
        inputs(4),
        [Input::One, Input::Int(0), Input::Float(2.0), Input::One]
    );
    assert_eq!(
        job.having.as_ref().map(ToString::to_string).as_deref(),
        Some("n > 1 OR likes > 0")
    );
}

#[test]
fn an_append_query_computes_its_columns_and_a_record_it_cannot_compute_is_a_dead_letter() {
    let job = job(
        "SELECT UPPER(body.video_id) AS video, body.watch_ms / 1000.0 AS watch_s,
           DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm') AS minute, ts AS event_ts,
           1000 / body.watch_ms AS per_ms
         FROM src WHERE body.video_id <> 'skip'",
    );
    let batch = decode(
        &job,
        &[
            record("view", 61_000, "ab", 1_500, 0.0),
            record("view", 1_000, "skip", 0, 0.0),
            record("view", 2_000, "cd", 0, 0.0),
        ],
    );
    assert_eq!(batch.len(), 2, "the third is a dead letter");
    assert_eq!(batch.dead_letters.len(), 1);
    let reason = &batch.dead_letters[0].reason;
    assert!(
        reason.contains("`1000 / body.watch_ms`: division by zero"),
        "{reason}"
    );
    let rows = &batch.appended.fields;
    assert_eq!(rows[0].text(0), Some("AB"));
    assert_eq!(rows[1], ColumnValues::Double(vec![Some(1.5), None]));
    assert_eq!(rows[2].text(0), Some("1970-01-01 00:01"));
    assert_eq!(rows[3], ColumnValues::Long(vec![Some(61_000_000), None]));
    assert_eq!(rows[4], ColumnValues::Long(vec![Some(0), None]));
}

/// `job(query)`'s error, from lowering or from validating the job.
fn refused(query: &str) -> String {
    let sql = format!(
        "CREATE TABLE src (header ROW<event_type STRING, event_ts BIGINT>,
           body ROW<video_id STRING, user_id STRING>,
           ts AS TO_TIMESTAMP_LTZ(header.event_ts, 3), WATERMARK FOR ts AS ts)
         WITH ('connector' = 'kafka', 'topic' = 't', 'properties.bootstrap.servers' = 'k:9092');
         INSERT INTO gold.t {query};"
    );
    let jobs = match jobs_from_sql(&sql) {
        Ok(jobs) => jobs,
        Err(e) => return e.to_string(),
    };
    match (FloeConfig {
        jobs,
        ..FloeConfig::default()
    })
    .validate()
    {
        Ok(_) => panic!("{query} was taken"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn approximate_distinct_counts_key_each_window_row_by_the_values_register() {
    let job = job(
        "SELECT window_start, window_end, body.video_id AS video, COUNT(*) AS n,
           APPROX_COUNT_DISTINCT(header.event_type) FILTER (WHERE body.watch_ms > 10) AS kinds
         FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
         GROUP BY window_start, window_end, body.video_id",
    );
    let batch = decode(
        &job,
        &[
            record("like", 1_000, "a", 20, 0.0),
            record("like", 1_500, "a", 5, 0.0),
            r#"{"header":{"event_ts":2000},"body":{"video_id":"a","watch_ms":50}}"#.to_owned(),
        ],
    );
    assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
    let (register, rank) = floe_common::approx_distinct::register_and_rank(b"like");
    let parts = |i| floe_common::group_key::parts(batch.key(i)).concat();
    let like = format!("a{register}");
    assert_eq!(
        (parts(0), parts(1), parts(2)),
        (like.clone(), like, "a".to_owned())
    );
    // n, kinds: the FILTER keeps the first record's rank only; no kind is no rank.
    assert_eq!(
        batch.inputs,
        [
            Input::One,
            Input::Int(rank),
            Input::One,
            Input::Skip,
            Input::One,
            Input::Skip
        ]
    );
}

#[test]
fn distinct_counts_key_each_window_row_by_the_value_they_count() {
    let job = job(
        "SELECT window_start, window_end, body.video_id AS video, COUNT(*) AS n,
           COUNT(DISTINCT header.event_type) AS kinds,
           COUNT(DISTINCT header.event_type) FILTER (WHERE body.watch_ms > 10) AS long_kinds
         FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
         GROUP BY window_start, window_end, body.video_id",
    );
    let batch = decode(
        &job,
        &[
            record("like", 1_000, "a", 20, 0.0),
            r#"{"header":{"event_ts":2000},"body":{"video_id":"a","watch_ms":5}}"#.to_owned(),
        ],
    );
    assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
    let parts = |i| floe_common::group_key::parts(batch.key(i)).concat();
    assert_eq!((parts(0), parts(1)), ("alike".to_owned(), "a".to_owned()));
    // n, kinds, long_kinds: a record without a kind is no kind.
    assert_eq!(
        batch.inputs,
        [
            Input::One,
            Input::One,
            Input::One,
            Input::One,
            Input::Skip,
            Input::Skip
        ]
    );
    for (query, says) in [
        (
            "SELECT window_start, window_end, COUNT(DISTINCT body.video_id) AS n,
               COUNT(DISTINCT header.event_type) AS t
             FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
             GROUP BY window_start, window_end",
            "a job counts the distinct values of one expression",
        ),
        (
            "SELECT window_start, window_end, body.video_id AS v,
               COUNT(DISTINCT body.user_id) AS users
             FROM TABLE(SESSION(TABLE src PARTITION BY body.video_id, DESCRIPTOR(ts),
                                INTERVAL '1' MINUTE))
             GROUP BY window_start, window_end, body.video_id",
            "distinct counts over session windows are not supported",
        ),
        (
            "SELECT window_start, window_end, COUNT(DISTINCT body.user_id) AS n,
               APPROX_COUNT_DISTINCT(body.user_id) AS t
             FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
             GROUP BY window_start, window_end",
            "a job counts distinct values either exactly or approximately",
        ),
    ] {
        let e = refused(query);
        assert!(e.contains(says), "{e}");
    }
}
