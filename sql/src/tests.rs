use floe_common::config::JobSpec;
use floe_common::config::{FloeConfig, JobConfig};
use floe_common::job_shape::fingerprint;

use crate::{jobs_from_sql, SqlError};

const GOLD_SQL: &str = include_str!("../../examples/video_stats.sql");

pub(crate) fn validate(jobs: Vec<JobConfig>) -> Vec<JobSpec> {
    FloeConfig {
        jobs,
        ..FloeConfig::default()
    }
    .validate()
    .expect("the lowered jobs validate")
    .jobs
}

/// A source over `content_events` and `query` inserting into `gold.t`.
fn script(source_extra: &str, query: &str) -> String {
    format!(
        "CREATE TABLE src (
           header ROW<event_type STRING, event_ts BIGINT, meta ROW<region STRING, score DOUBLE>>,
           body ROW<video_id STRING, watch_ms BIGINT, ratio DOUBLE>,
           ts AS TO_TIMESTAMP_LTZ(header.event_ts, 3),
           WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
         ) WITH ('connector' = 'kafka', 'topic' = 't',
               'properties.bootstrap.servers' = 'k:9092'{source_extra});
         INSERT INTO gold.t {query};"
    )
}

fn error(sql: &str) -> String {
    match jobs_from_sql(sql) {
        Ok(jobs) => panic!("expected an error, got {jobs:?}"),
        Err(e) => e.to_string(),
    }
}

const TUMBLE: &str = "FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))";

#[test]
fn the_gold_job_in_sql_is_the_toml_job() {
    let sql = validate(jobs_from_sql(GOLD_SQL).expect("lowered"));
    let toml = FloeConfig::parse(include_str!("../../examples/video_stats.toml"))
        .and_then(|c| c.validate())
        .expect("toml")
        .jobs;
    assert_eq!(sql, toml);
    assert_eq!(fingerprint(&sql[0]), fingerprint(&toml[0]));
}

#[test]
fn nested_rows_casts_lateness_and_the_job_name_are_read() {
    let query = format!(
        "SELECT window_start, window_end, header.meta.region AS region,
           MAX(header.meta.score) AS top, SUM(CAST(body.watch_ms AS DOUBLE)) AS watch,
           MIN(body.watch_ms) AS shortest, AVG(body.ratio) AS ratio,
           COUNT(body.video_id) FILTER (WHERE header.event_type = 'like' AND body.watch_ms >= 10) AS long_likes
         {TUMBLE} GROUP BY window_start, window_end, header.meta.region"
    );
    let text = format!(
        "SET 'pipeline.name' = 'regions'; SET 'table.exec.emit.allow-lateness' = '2m';\n{}",
        script(", 'scan.watermark.idle-timeout' = '5s'", &query)
    );
    let jobs = jobs_from_sql(&text).expect("lowered");
    let job = &jobs[0];
    assert_eq!(job.name, "regions");
    let window = job.window.as_ref().expect("window");
    assert_eq!(
        (
            window.watermark_delay.as_str(),
            window.allowed_lateness.as_str()
        ),
        ("5000ms", "2m")
    );
    assert_eq!(window.idle_timeout, "5s");
    let types: Vec<(&str, Option<&str>)> = (job.aggregates.iter())
        .map(|a| (a.function.as_str(), a.value_type.as_deref()))
        .collect();
    assert_eq!(
        types,
        [
            ("max", Some("double")),
            ("sum", Some("double")),
            ("min", Some("long")),
            ("avg", None),
            ("count", None)
        ]
    );
    assert_eq!(
        job.aggregates[4].filter.as_deref(),
        Some("header.event_type = 'like' AND body.watch_ms >= 10")
    );
    let spec = &validate(jobs)[0];
    assert_eq!(spec.name, "regions");
}

#[test]
fn where_lowers_to_the_jobs_filter() {
    let query = format!(
        "SELECT window_start, window_end, COUNT(*) AS n {TUMBLE}
         WHERE header.event_type <> 'heartbeat' AND body.watch_ms >= 10
         GROUP BY window_start, window_end"
    );
    let job = &validate(jobs_from_sql(&script("", &query)).expect("lowered"))[0];
    let filter = job.filter.as_ref().expect("a filter");
    assert_eq!(
        filter.to_string(),
        "header.event_type <> 'heartbeat' AND body.watch_ms >= 10"
    );
}

#[test]
fn having_lowers_to_conditions_on_the_aggregate_columns() {
    let query = |having: &str| {
        script(
            "",
            &format!(
                "SELECT window_start, window_end, COUNT(*) AS n, SUM(body.watch_ms) AS watch
                 {TUMBLE} GROUP BY window_start, window_end HAVING {having}"
            ),
        )
    };
    let job =
        &validate(jobs_from_sql(&query("COUNT(*) >= 2 AND watch < 100")).expect("lowered"))[0];
    let having = job.having.as_ref().expect("a having");
    assert_eq!(having.to_string(), "n >= 2 AND watch < 100");
    let message = error(&query("MAX(body.watch_ms) > 3"));
    assert!(
        message.contains(
            "`MAX(body.watch_ms)` in HAVING is not one of the selected aggregates: select it at Line: 9"
        ),
        "{message}"
    );
}

#[test]
fn hop_and_cumulate_lower_to_hopping_and_cumulating_windows() {
    use floe_common::config::WindowKind;
    let of = |tvf: &str| {
        let query = format!(
            "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE({tvf}) \
             GROUP BY window_start, window_end"
        );
        let job = &validate(jobs_from_sql(&script("", &query)).expect("lowered"))[0];
        (job.window.size_ms, job.window.kind)
    };
    assert_eq!(
        of("HOP(TABLE src, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE)"),
        (60_000, WindowKind::Hopping { slide_ms: 10_000 })
    );
    assert_eq!(
        of("CUMULATE(TABLE src, DESCRIPTOR(ts), INTERVAL '15' MINUTE, INTERVAL '1' HOUR)"),
        (3_600_000, WindowKind::Cumulating { step_ms: 900_000 })
    );
    assert_eq!(
        of("TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE)"),
        (60_000, WindowKind::Tumbling)
    );
}

#[test]
fn session_partitioned_by_the_group_keys_lowers_to_session_windows() {
    use floe_common::config::WindowKind;
    let of = |partition_by: &str, keys: &str| {
        let query = format!(
            "SELECT window_start, window_end, {keys}, COUNT(*) AS n \
             FROM TABLE(SESSION(TABLE src PARTITION BY {partition_by}, DESCRIPTOR(ts), \
             INTERVAL '30' SECOND)) GROUP BY window_start, window_end, {keys}"
        );
        let job = &validate(jobs_from_sql(&script("", &query)).expect("lowered"))[0];
        (job.window.size_ms, job.window.kind, job.group_by.len())
    };
    let session = WindowKind::Session { gap_ms: 30_000 };
    assert_eq!(of("body.video_id", "body.video_id"), (30_000, session, 1));
    assert_eq!(
        of(
            "(header.event_type, body.video_id)",
            "body.video_id, header.event_type"
        ),
        (30_000, session, 2)
    );
}

#[test]
fn what_floe_does_not_run_is_refused_by_name() {
    let cases = [
        (
            script("", "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(SESSION(TABLE src PARTITION BY body.video_id, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"),
            "partition by the keys the query groups by",
        ),
        (
            script("", "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(SESSION(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"),
            "a SESSION window without PARTITION BY",
        ),
        (
            script("", "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(SESSION(TABLE src PARTITION body.video_id, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"),
            "expected BY after PARTITION",
        ),
        (
            script("", "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(HOP(TABLE src, DESCRIPTOR(ts), INTERVAL '25' SECOND, INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"),
            "a whole multiple of its slide",
        ),
        (
            script("", "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(HOP(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"),
            "expected one of TUMBLE",
        ),
        (
            script("", &format!("SELECT window_start, window_end, COUNT(*) AS n {TUMBLE} WHERE body.watch_ms > 3 OR body.watch_ms IS DISTINCT FROM 1 GROUP BY window_start, window_end")),
            "`body.watch_ms IS DISTINCT FROM 1` is not supported: expressions take",
        ),
        (
            script("", &format!("SELECT window_start, window_end, COUNT(*) AS n {TUMBLE} WHERE body.watch_ms + 1 GROUP BY window_start, window_end")),
            "WHERE `body.watch_ms + 1` is BIGINT, not a condition",
        ),
        (
            script("", &format!("SELECT window_start, window_end, COUNT(*) AS n {TUMBLE} WHERE body.nope > 3 GROUP BY window_start, window_end")),
            "body.nope is not a column of src",
        ),
        (
            script("", &format!("SELECT window_start, window_end, COUNT(*) FILTER (WHERE LOWER(body.watch_ms) = 'x') AS n {TUMBLE} GROUP BY window_start, window_end")),
            "the argument `body.watch_ms` is BIGINT, expected STRING",
        ),
        (
            script("", &format!("SELECT window_start, window_end, LOWER(header.event_type), COUNT(*) AS n {TUMBLE} GROUP BY window_start, window_end, LOWER(header.event_type)")),
            "needs a column name",
        ),
        (
            script("", &format!("SELECT window_start, window_end, header AS h, COUNT(*) AS n {TUMBLE} GROUP BY window_start, window_end, header")),
            "the GROUP BY key `header` is ROW: group by a value",
        ),
        (
            script("", &format!("SELECT window_start, window_end, SUM(DISTINCT body.watch_ms) AS n {TUMBLE} GROUP BY window_start, window_end")),
            "DISTINCT is for COUNT",
        ),

        (
            script("", &format!("SELECT window_start, window_end, body.nope AS x, COUNT(*) AS n {TUMBLE} GROUP BY window_start, window_end, body.nope")),
            "body.nope is not a column of src",
        ),
        (
            script("", &format!("SELECT window_start, window_end, body.video_id AS v, COUNT(*) AS n {TUMBLE} GROUP BY window_start, window_end")),
            "not in GROUP BY",
        ),
        (
            script("", &format!("SELECT window_start, window_end, COUNT(*) {TUMBLE} GROUP BY window_start, window_end")),
            "needs a column name",
        ),
        (
            script(", 'scan.bounded.mode' = 'latest-offset'", &format!("SELECT window_start, window_end, COUNT(*) AS n {TUMBLE} GROUP BY window_start, window_end")),
            "'scan.bounded.mode'",
        ),
        (
            script("", "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(other), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"),
            "follow its watermark column ts",
        ),
        (
            script("", &format!("SELECT window_start, window_end, COUNT(*) AS n {TUMBLE} GROUP BY window_start")),
            "groups by window_start and window_end",
        ),
        (
            script("", &format!("SELECT window_start, window_end, SUM(header.event_type) AS n {TUMBLE} GROUP BY window_start, window_end")),
            "not a number",
        ),
        ("DROP TABLE src;".to_owned(), "DROP"),
        (
            "CREATE TABLE src (a BIGINT) WITH ('connector' = 'kafka', 'topic' = 't');".to_owned(),
            "WATERMARK",
        ),
    ];
    for (sql, expected) in cases {
        let message = error(&sql);
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
}

#[test]
fn a_sink_declaring_other_columns_than_the_query_is_refused() {
    let text = GOLD_SQL.replace(
        "CREATE TABLE gold.video_stats_1min WITH (",
        "CREATE TABLE gold.video_stats_1min (window_start TIMESTAMP(3), views BIGINT) WITH (",
    );
    assert!(error(&text).contains("declares the columns"));
    assert!(matches!(
        jobs_from_sql("INSERT INTO a.b SELECT 1"),
        Err(SqlError::Unsupported { .. })
    ));
}

#[test]
fn syntax_errors_say_where() {
    let message = error("CREATE TABLE src (a BIGINT,\n  b FANCY) WITH ('connector' = 'kafka');");
    assert!(
        message.contains("FANCY") && message.contains("at Line: 2, Column: 5"),
        "{message}"
    );
}

#[test]
fn each_bad_statement_gets_one_error_saying_where() {
    let cases = [
        // An unknown column.
        (
            format!("SELECT window_start, window_end, body.nope AS x, COUNT(*) AS n {TUMBLE} GROUP BY window_start, window_end, body.nope"),
            "body.nope is not a column of src at Line: 8, Column: 194",
        ),
        // A type mismatch.
        (
            format!("SELECT window_start, window_end, SUM(header.event_type) AS n {TUMBLE} GROUP BY window_start, window_end"),
            "`header.event_type` is STRING, not a number at Line: 8, Column: 62",
        ),
        // A join.
        (
            "SELECT window_start, window_end, COUNT(*) AS n FROM src a JOIN src b ON a.ts = b.ts GROUP BY window_start, window_end".to_owned(),
            "a join is not supported",
        ),
        // A window on a column that is not the watermark's.
        (
            "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(header), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end".to_owned(),
            "follow its watermark column ts at Line: 8, Column: 87",
        ),
        // A condition Floe cannot run.
        (
            format!("SELECT window_start, window_end, COUNT(*) AS n {TUMBLE} WHERE body.watch_ms > 3 OR body.watch_ms IS DISTINCT FROM 1 GROUP BY window_start, window_end"),
            "is not supported: expressions take fields, constants",
        ),
    ];
    for (query, expected) in cases {
        let message = error(&script("", &query));
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    let no_watermark = error(
        "CREATE TABLE src (a BIGINT) WITH ('connector' = 'kafka', 'topic' = 't');\n\
         INSERT INTO a.b SELECT window_start, window_end, COUNT(*) AS n \
         FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(a), INTERVAL '1' MINUTE)) \
         GROUP BY window_start, window_end",
    );
    assert!(no_watermark.contains("WATERMARK"), "{no_watermark}");
}

#[test]
fn a_query_without_a_window_appends_the_selected_columns_of_the_records_its_where_keeps() {
    use floe_common::append::AppendType;
    use floe_common::config::TimeUnit;
    let job = &validate(
        jobs_from_sql(&script(
            "",
            "SELECT header.event_type AS kind, ts, body.watch_ms, header.meta, body.ratio AS score \
             FROM src WHERE header.event_type <> 'impression' AND body.watch_ms > 0",
        ))
        .expect("lowered"),
    )[0];
    let append = job.append().expect("an append job");
    let columns: Vec<(&str, String, AppendType, bool)> = append
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.field.to_string(), c.ty, c.required))
        .collect();
    assert_eq!(
        columns,
        [
            (
                "kind",
                "header.event_type".into(),
                AppendType::String,
                false
            ),
            (
                "ts",
                "header.event_ts".into(),
                AppendType::Timestamp(TimeUnit::Millis),
                true
            ),
            ("watch_ms", "body.watch_ms".into(), AppendType::Long, false),
            ("meta", "header.meta".into(), AppendType::Json, false),
            ("score", "body.ratio".into(), AppendType::Double, false),
        ]
    );
    assert_eq!(job.filter.as_ref().map(|f| f.fields().len()), Some(2));
    assert_eq!(job.table.name, "gold.t");
    let table: Vec<&str> = job.table.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        table,
        [
            "kind",
            "ts",
            "watch_ms",
            "meta",
            "score",
            "kafka_partition",
            "kafka_offset",
            "ingested_at"
        ]
    );

    let star = &validate(jobs_from_sql(&script("", "SELECT * FROM src")).expect("lowered"))[0];
    let names: Vec<&str> = star
        .append()
        .expect("an append job")
        .columns
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    assert_eq!(names, ["header", "body", "ts"]);
}

#[test]
fn a_query_without_a_window_is_refused_what_needs_one() {
    for (query, says) in [
        (
            "SELECT body.video_id, COUNT(*) AS n FROM src GROUP BY body.video_id",
            "GROUP BY or HAVING in a query without a window",
        ),
        (
            "SELECT LOWER(body.video_id) FROM src",
            "`LOWER(body.video_id)` needs a column name",
        ),
        (
            "SELECT body.video_id || 1 AS v, body.watch_ms * header.event_type AS w FROM src",
            "`header.event_type` is STRING, not a number",
        ),
        (
            "SELECT body.nope FROM src",
            "body.nope is not a column of src",
        ),
        (
            "SELECT * FROM nowhere",
            "nowhere is not a declared source table",
        ),
    ] {
        let message = error(&script("", query));
        assert!(message.contains(says), "{query}: {message}");
        assert!(message.contains("Line: 8"), "{query}: {message}");
    }
}

/// Flink's deduplication over a source with `header.event_id`.
fn dedup_script(settings: &str, subquery_extra: &str, outer_where: &str) -> String {
    script(
        "",
        &format!(
            "SELECT header.event_type AS kind, ts FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY header.event_type ORDER BY ts{subquery_extra}
             ) {outer_where}; {settings}"
        ),
    )
}

#[test]
fn row_number_equal_to_one_over_a_key_keeps_each_keys_first_record() {
    let sql = dedup_script(
        "SET 'table.exec.state.ttl' = '1h'",
        ") AS row_num FROM src WHERE body.watch_ms > 0",
        "WHERE row_num = 1",
    );
    let job = &validate(jobs_from_sql(&sql).expect("lowered"))[0];
    let dedup = job
        .append()
        .and_then(|a| a.dedup.as_ref())
        .expect("a dedup");
    let key: Vec<String> = dedup.key.iter().map(ToString::to_string).collect();
    assert_eq!(
        (key, dedup.within_ms),
        (vec!["header.event_type".into()], 3_600_000)
    );
    assert_eq!(job.filter.as_ref().map(|f| f.fields().len()), Some(1));
    for (settings, extra, outer, says) in [
        (
            "",
            ") AS row_num FROM src",
            "WHERE row_num = 1",
            "SET 'table.exec.state.ttl'",
        ),
        (
            "SET 'table.exec.state.ttl' = '1h'",
            " DESC) AS row_num FROM src",
            "WHERE row_num = 1",
            "ORDER BY ts (ascending)",
        ),
        (
            "SET 'table.exec.state.ttl' = '1h'",
            ") AS row_num FROM src",
            "WHERE row_num = 1 AND body.watch_ms > 0",
            "inside the subquery",
        ),
        (
            "SET 'table.exec.state.ttl' = '1h'",
            ") AS row_num, body FROM src",
            "WHERE row_num = 1",
            "deduplicate as FROM (SELECT *, ROW_NUMBER()",
        ),
    ] {
        let message = error(&dedup_script(settings, extra, outer));
        assert!(message.contains(says), "{extra} {outer}: {message}");
    }
}
