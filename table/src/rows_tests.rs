//! The rows of every output table against their schemas.

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use floe_common::config::FloeConfig;
use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::watermark::WATERMARK_END;
use floe_common::window::WindowOperator;

use crate::TableLayout;

fn parse_job(text: &str) -> JobSpec {
    FloeConfig::parse(text)
        .and_then(|c| c.validate())
        .map(|mut c| c.jobs.remove(0))
        .expect("job")
}

fn gold_job(extra_group_column: bool) -> JobSpec {
    let mut text = include_str!("../../examples/video_stats.toml").to_string();
    if extra_group_column {
        text = text.replace(
            "[job.window]",
            "[[job.group_by]]\ncolumn = \"kind\"\nfield = \"header.event_type\"\n\n[job.window]",
        );
    }
    parse_job(&text)
}

/// The Arrow schema of `job`'s output table.
fn table_schema(job: &JobSpec) -> SchemaRef {
    let dir = tempfile::tempdir().expect("tempdir");
    TableLayout::for_schema(&job.table, &format!("file://{}", dir.path().display()))
        .expect("layout")
        .arrow_schema()
}

/// `values` (read at the start of 2026) through `job`'s windows, all closed, as the
/// aggregate table's rows.
fn closed_window_rows(job: &JobSpec, values: &[&str]) -> RecordBatch {
    let decoder = Decoder::new(job).expect("decoder");
    let mut decoded = DecodedBatch {
        read_at_ms: 1767225600000,
        ..DecodedBatch::default()
    };
    for (offset, value) in values.iter().enumerate() {
        decoder.decode_into(0, offset as i64, Some(value.as_bytes()), &mut decoded);
    }
    let mut op = WindowOperator::new(job.window, &job.aggregates);
    op.assign(0, 0);
    op.apply(&decoded, 0);
    windows_batch(job, &table_schema(job), &op.take_closed(WATERMARK_END)).expect("batch")
}

fn primitives<T: ArrowPrimitiveType>(batch: &RecordBatch, name: &str) -> Vec<Option<T::Native>> {
    let column = batch.column_by_name(name).expect(name).as_primitive::<T>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i)))
        .collect()
}

/// Closed windows become rows: one group column read as it is, two split back into their
/// columns, and a key holding the separator whole.
#[test]
fn window_rows_fill_one_or_two_group_columns() {
    let sep = group_key::SEPARATOR;
    for two in [false, true] {
        let job = gold_job(two);
        let record = |video: &str, kind: &str, ts: i64, watch: &str| {
            format!(
                r#"{{"header":{{"event_type":"{kind}","event_ts":{ts}}},"body":{{"video_id":"{video}"{watch}}}}}"#
            )
        };
        let values = [
            record("v_2", "like", 1767225600100, ""),
            record(r"v\u001f1", "impression", 1767225600200, r#","watch_ms":7"#),
            record("v_2", "impression", 1767225600300, r#","watch_ms":5"#),
            record("v_2", "like", 1767225660100, ""),
        ];
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let batch = closed_window_rows(&job, &values);
        let text = |name: &str| {
            let c = batch.column_by_name(name).expect(name).as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_owned())
                .collect::<Vec<_>>()
        };
        let long = |name: &str| -> Vec<i64> {
            primitives::<Int64Type>(&batch, name)
                .into_iter()
                .map(|v| v.expect("no nulls"))
                .collect()
        };
        let starts: Vec<i64> = primitives::<TimestampMicrosecondType>(&batch, "window_start")
            .into_iter()
            .map(|v| v.expect("no nulls"))
            .collect();
        let minute = 1767225600000000;
        let odd = format!("v{sep}1");
        // Rows come in no promised order: compared sorted.
        let mut rows: Vec<(i64, String, String, i64, i64, i64)> = (0..batch.num_rows())
            .map(|i| {
                (
                    starts[i],
                    text("video_id")[i].clone(),
                    if two {
                        text("kind")[i].clone()
                    } else {
                        String::new()
                    },
                    long("events")[i],
                    long("likes")[i],
                    long("watch_ms_sum")[i],
                )
            })
            .collect();
        rows.sort();
        let row = |start: i64, video: &str, kind: &str, events, likes, watch| {
            (
                start,
                video.to_owned(),
                kind.to_owned(),
                events,
                likes,
                watch,
            )
        };
        if two {
            assert_eq!(
                rows,
                [
                    row(minute, &odd, "impression", 1, 0, 7),
                    row(minute, "v_2", "impression", 1, 0, 5),
                    row(minute, "v_2", "like", 1, 1, 0),
                    row(minute + 60_000_000, "v_2", "like", 1, 1, 0),
                ]
            );
        } else {
            assert_eq!(
                rows,
                [
                    row(minute, &odd, "", 1, 0, 7),
                    row(minute, "v_2", "", 2, 1, 5),
                    row(minute + 60_000_000, "v_2", "", 1, 1, 0),
                ]
            );
        }
    }
}

/// Every kind of aggregate output lands in its column's type: averages and double maxima
/// as doubles, long maxima as longs, and a minimum or maximum of no values as a null.
#[test]
fn aggregate_outputs_keep_their_type_and_their_nulls() {
    let text = include_str!("../../examples/video_stats.toml").replace(
        "[job.sink]",
        "[[job.aggregate]]\ncolumn = \"watch_avg\"\nfunction = \"avg\"\nfield = \"body.watch_ms\"\n\n\
         [[job.aggregate]]\ncolumn = \"watch_max\"\nfunction = \"max\"\nfield = \"body.watch_ms\"\n\n\
         [[job.aggregate]]\ncolumn = \"watch_max_double\"\nfunction = \"max\"\nfield = \"body.watch_ms\"\ntype = \"double\"\n\n\
         [job.sink]",
    );
    let job = parse_job(&text);
    let batch = closed_window_rows(
        &job,
        &[
            r#"{"header":{"event_ts":1767225600100},"body":{"video_id":"a","watch_ms":4}}"#,
            r#"{"header":{"event_ts":1767225600200},"body":{"video_id":"a","watch_ms":9}}"#,
            r#"{"header":{"event_ts":1767225600300},"body":{"video_id":"b"}}"#,
        ],
    );
    let doubles = |name: &str| primitives::<Float64Type>(&batch, name);
    let longs = |name: &str| primitives::<Int64Type>(&batch, name);
    assert_eq!(doubles("watch_avg"), [Some(6.5), None]);
    assert_eq!(longs("watch_max"), [Some(9), None]);
    assert_eq!(doubles("watch_max_double"), [Some(9.0), None]);
    assert_eq!(longs("events"), [Some(2), Some(1)]);
}

/// The rows of the Bronze example go into the table's own Arrow schema column by column:
/// text with nulls, timestamps in microseconds with the table's time zone, the source
/// position last.
#[test]
fn appended_rows_fill_the_table_schema() {
    let job = parse_job(include_str!("../../examples/bronze.toml"));
    let decoder = Decoder::new(&job).expect("decoder");
    let mut decoded = DecodedBatch::default();
    for (offset, value) in [
        r#"{"header":{"event_id":"e-1","event_ts":1767225600123,"schema_version":2},"body":{"a":[1]}}"#,
        r#"{"header":{"event_type":"like","event_ts":1767225600999}}"#,
    ]
    .iter()
    .enumerate()
    {
        decoder.decode_into(5, offset as i64 + 10, Some(value.as_bytes()), &mut decoded);
    }
    let mut rows = decoded.appended.emptied();
    for i in 0..decoded.len() {
        rows.push_from(&decoded.appended, i, 5, decoded.offsets[i], 42);
    }
    let batch = appended_batch(&table_schema(&job), &rows).expect("batch");
    assert_eq!(batch.num_rows(), 2);
    let text = |name: &str| {
        let column = batch
            .column_by_name(name)
            .expect(name)
            .as_string::<i32>()
            .clone();
        (0..2)
            .map(|i| column.is_valid(i).then(|| column.value(i).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(text("event_id"), [Some("e-1".into()), None]);
    assert_eq!(text("event_type"), [None, Some("like".into())]);
    assert_eq!(text("body"), [Some(r#"{"a":[1]}"#.into()), None]);
    let ts = batch
        .column_by_name("event_ts")
        .expect("event_ts")
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.values(), &[1767225600123000, 1767225600999000]);
    assert!(matches!(ts.data_type(), DataType::Timestamp(_, Some(_))));
    let versions = batch
        .column_by_name("schema_version")
        .expect("schema_version")
        .as_primitive::<Int64Type>();
    assert_eq!((versions.value(0), versions.is_null(1)), (2, true));
    let offsets = batch
        .column_by_name("kafka_offset")
        .expect("kafka_offset")
        .as_primitive::<Int64Type>();
    assert_eq!(offsets.values(), &[10, 11]);
    let ingested = batch
        .column_by_name("ingested_at")
        .expect("ingested_at")
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ingested.values(), &[42_000, 42_000]);
}

fn side_schema(schema: floe_common::schema::TableSchema) -> SchemaRef {
    let dir = tempfile::tempdir().expect("tempdir");
    TableLayout::for_schema(&schema, &format!("file://{}", dir.path().display()))
        .expect("layout")
        .arrow_schema()
}

#[test]
fn side_tables_are_filled_by_column_name() {
    let mut schema = floe_common::records::dead_letter_table_schema("ns.dead_letters".into());
    schema.columns.reverse();
    let dead = [
        DeadLetter {
            partition: 3,
            offset: 41,
            reason: "not JSON".into(),
            raw: Some(b"{oops".to_vec()),
        },
        DeadLetter {
            partition: 4,
            offset: 7,
            reason: "tombstone".into(),
            raw: None,
        },
    ];
    let batch = dead_letter_batch("events", &side_schema(schema), &dead).expect("rows");
    let column = |name: &str| batch.column_by_name(name).expect(name).clone();
    assert_eq!(column("kafka_topic").as_string::<i32>().value(1), "events");
    assert_eq!(
        column("kafka_partition")
            .as_primitive::<Int32Type>()
            .values(),
        &[3, 4]
    );
    assert_eq!(
        column("kafka_offset").as_primitive::<Int64Type>().values(),
        &[41, 7]
    );
    assert_eq!(column("reason").as_string::<i32>().value(0), "not JSON");
    let raw = column("raw");
    assert_eq!(raw.as_binary::<i64>().value(0), b"{oops");
    assert!(raw.is_null(1), "a tombstone's raw value is null");
}

#[test]
fn a_side_table_column_floe_does_not_write_is_refused() {
    let mut schema = floe_common::records::late_table_schema("ns.late".into());
    schema.columns[6].name = "why".into();
    let err = late_batch("events", &side_schema(schema), &[]).expect_err("unknown column");
    assert!(err.contains("`why`"), "{err}");
}

/// Closed sessions are rows of one window: each row gets its own session's bounds, and its
/// group columns without them, a key holding the separator whole.
#[test]
fn session_rows_carry_their_own_bounds() {
    for two in [false, true] {
        let mut job = gold_job(two);
        job.window.kind = floe_common::config::WindowKind::Session { gap_ms: 10_000 };
        job.window.size_ms = 10_000;
        let record = |video: &str, ts: i64| {
            format!(
                r#"{{"header":{{"event_type":"like","event_ts":{ts}}},"body":{{"video_id":"{video}"}}}}"#
            )
        };
        let t0 = 1767225600000;
        let values = [
            record("v_2", t0),
            record("v_2", t0 + 4_000),
            record(r"v\u001f1", t0 + 1_000),
            record("v_2", t0 + 30_000),
        ];
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let batch = closed_window_rows(&job, &values);
        let micros = |name: &str| -> Vec<i64> {
            primitives::<TimestampMicrosecondType>(&batch, name)
                .into_iter()
                .map(|v| v.expect("no nulls") / 1_000)
                .collect()
        };
        let (starts, ends) = (micros("window_start"), micros("window_end"));
        let videos = batch.column_by_name("video_id").expect("video_id");
        let videos = videos.as_string::<i32>();
        let events = primitives::<Int64Type>(&batch, "events");
        let mut rows: Vec<(i64, i64, String, Option<i64>)> = (0..batch.num_rows())
            .map(|i| (starts[i], ends[i], videos.value(i).to_owned(), events[i]))
            .collect();
        rows.sort();
        let odd = format!("v{}1", group_key::SEPARATOR);
        assert_eq!(
            rows,
            [
                (t0, t0 + 14_000, "v_2".to_owned(), Some(2)),
                (t0 + 1_000, t0 + 11_000, odd, Some(1)),
                (t0 + 30_000, t0 + 40_000, "v_2".to_owned(), Some(1)),
            ],
            "two group columns: {two}"
        );
        if two {
            let kinds = batch
                .column_by_name("kind")
                .expect("kind")
                .as_string::<i32>();
            assert!((0..kinds.len()).all(|i| kinds.value(i) == "like"));
        }
    }
}
