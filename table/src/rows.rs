//! Turning a checkpoint's output (closed windows, late events, dead letters, appended records)
//! into Arrow batches shaped like the Iceberg tables they go to.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, LargeBinaryBuilder, StringBuilder};
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BooleanArray, Float64Array, Int32Array, Int64Array,
    PrimitiveArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_buffer::{Buffer, NullBuffer, NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, SchemaRef};
use floe_common::aggregate::OutputValue;
use floe_common::append::{AppendRows, ColumnValues};
use floe_common::config::JobSpec;
use floe_common::group_key;
use floe_common::records::{
    dead_letter_columns, late_event_columns, Cell, DeadLetter, LateEvent, SideColumn,
};
use floe_common::window::ClosedWindow;

/// One column's values as they are appended; primitive columns keep a plain vector and
/// nulls only once one shows up, so a cell costs a push.
enum ColumnBuilder {
    Long(Primitive<Int64Type>),
    Int(Primitive<Int32Type>),
    Double(Primitive<Float64Type>),
    Str(StringBuilder),
    Bytes(BinaryBuilder),
    LargeBytes(LargeBinaryBuilder),
    Time(Primitive<TimestampMicrosecondType>, Option<Arc<str>>),
}

struct Primitive<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
}

impl<T: ArrowPrimitiveType> Primitive<T> {
    fn with_capacity(rows: usize) -> Self {
        Self {
            values: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
        }
    }

    #[inline(always)]
    fn push(&mut self, value: Option<T::Native>) {
        match value {
            Some(v) => {
                self.values.push(v);
                self.nulls.append_non_null();
            }
            None => {
                self.values.push(T::Native::default());
                self.nulls.append_null();
            }
        }
    }

    fn finish(mut self) -> PrimitiveArray<T> {
        PrimitiveArray::new(self.values.into(), self.nulls.finish())
    }
}

impl ColumnBuilder {
    fn for_type(ty: &DataType, rows: usize) -> Result<Self, String> {
        Ok(match ty {
            DataType::Int64 => Self::Long(Primitive::with_capacity(rows)),
            DataType::Int32 => Self::Int(Primitive::with_capacity(rows)),
            DataType::Float64 => Self::Double(Primitive::with_capacity(rows)),
            DataType::Utf8 => Self::Str(StringBuilder::with_capacity(rows, rows * 8)),
            DataType::Binary => Self::Bytes(BinaryBuilder::with_capacity(rows, rows * 64)),
            DataType::LargeBinary => {
                Self::LargeBytes(LargeBinaryBuilder::with_capacity(rows, rows * 64))
            }
            DataType::Timestamp(_, tz) => Self::Time(Primitive::with_capacity(rows), tz.clone()),
            other => return Err(format!("unsupported output column type {other}")),
        })
    }

    fn push(&mut self, cell: Cell<'_>) {
        self.extend(std::iter::once(cell));
    }

    /// An aggregate's output: straight into a column of its type (a cell per row and
    /// aggregate, so without going through [`Cell`]); into another, a null.
    #[inline]
    fn push_output(&mut self, value: OutputValue) {
        match (self, value) {
            (Self::Long(b), OutputValue::Long(v)) => b.push(v),
            (Self::Double(b), OutputValue::Double(v)) => b.push(v),
            (other, _) => other.push(Cell::Null),
        }
    }

    /// Appends a column's cells, matching the builder's type once rather than per cell; a cell
    /// of another type is a null.
    fn extend<'a>(&mut self, cells: impl Iterator<Item = Cell<'a>>) {
        match self {
            Self::Long(b) => cells.for_each(|c| {
                b.push(match c {
                    Cell::Long(v) => Some(v),
                    _ => None,
                })
            }),
            Self::Int(b) => cells.for_each(|c| {
                b.push(match c {
                    Cell::Int(v) => Some(v),
                    _ => None,
                })
            }),
            // Doubles come only from aggregates, through `push_output`.
            Self::Double(b) => cells.for_each(|_| b.push(None)),
            Self::Str(b) => cells.for_each(|c| match c {
                Cell::Str(v) => b.append_value(v),
                _ => b.append_null(),
            }),
            Self::Bytes(b) => cells.for_each(|c| match c {
                Cell::Bytes(v) => b.append_value(v),
                _ => b.append_null(),
            }),
            Self::LargeBytes(b) => cells.for_each(|c| match c {
                Cell::Bytes(v) => b.append_value(v),
                _ => b.append_null(),
            }),
            Self::Time(b, _) => cells.for_each(|c| {
                b.push(match c {
                    Cell::TimeMs(ms) => Some(ms.saturating_mul(1000)),
                    _ => None,
                })
            }),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Long(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Double(b) => Arc::new(b.finish()),
            Self::Str(mut b) => Arc::new(b.finish()),
            Self::Bytes(mut b) => Arc::new(b.finish()),
            Self::LargeBytes(mut b) => Arc::new(b.finish()),
            Self::Time(b, tz) => Arc::new(b.finish().with_timezone_opt(tz)),
        }
    }
}

fn build(
    schema: &SchemaRef,
    rows: usize,
    mut fill: impl FnMut(&mut [ColumnBuilder]),
) -> Result<RecordBatch, String> {
    let mut columns = schema
        .fields()
        .iter()
        .map(|f| ColumnBuilder::for_type(f.data_type(), rows))
        .collect::<Result<Vec<_>, _>>()?;
    fill(&mut columns);
    let arrays: Vec<ArrayRef> = columns.into_iter().map(ColumnBuilder::finish).collect();
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

/// The aggregate table's rows: window_start, window_end, group columns, aggregates, in the
/// column order of [`JobSpec::table`]. A window's rows come in the order its state holds them:
/// the table declares no sort order, and sorting every closed window by key cost about 5% of
/// the engine's CPU (its rows are then read in random order).
pub fn windows_batch(
    job: &JobSpec,
    schema: &SchemaRef,
    windows: &[ClosedWindow],
) -> Result<RecordBatch, String> {
    let rows = windows.iter().map(|w| w.rows.len()).sum();
    let n_keys = job.group_by.len();
    build(schema, rows, |cols| {
        let (fixed, aggregates) = cols.split_at_mut((2 + n_keys).min(cols.len()));
        let [start_col, end_col, key_cols @ ..] = fixed else {
            return;
        };
        for w in windows {
            let n = w.rows.len();
            start_col.extend(std::iter::repeat_n(Cell::TimeMs(w.start_ms), n));
            end_col.extend(std::iter::repeat_n(Cell::TimeMs(w.end_ms), n));
            if n_keys == 1
                && w.rows
                    .iter()
                    .all(|(key, _)| group_key::single_part(key).is_some())
            {
                // One group column and keys held as they are: no key to split.
                if let [key_col] = key_cols {
                    key_col.extend(w.rows.iter().map(|(key, _)| Cell::Str(key)));
                }
            } else {
                let parts: Vec<_> = w
                    .rows
                    .iter()
                    .map(|(key, _)| group_key::parts(key))
                    .collect();
                for (i, col) in key_cols.iter_mut().enumerate() {
                    col.extend(
                        parts
                            .iter()
                            .map(|p| p.get(i).map_or(Cell::Null, |part| Cell::Str(part))),
                    );
                }
            }
            for (_, accs) in w.rows.iter() {
                for (col, acc) in aggregates.iter_mut().zip(accs.iter()) {
                    col.push_output(acc.output());
                }
            }
        }
    })
}

/// The late-events table's rows.
pub fn late_batch(
    topic: &str,
    schema: &SchemaRef,
    late: &[LateEvent],
) -> Result<RecordBatch, String> {
    side_batch(topic, schema, &late_event_columns(), late)
}

/// The dead-letter table's rows.
pub fn dead_letter_batch(
    topic: &str,
    schema: &SchemaRef,
    dead: &[DeadLetter],
) -> Result<RecordBatch, String> {
    side_batch(topic, schema, &dead_letter_columns(), dead)
}

/// A side table's rows: each of the table's columns filled, by name, from the record's cell for
/// it in `columns`.
fn side_batch<R>(
    topic: &str,
    schema: &SchemaRef,
    columns: &[SideColumn<R>],
    records: &[R],
) -> Result<RecordBatch, String> {
    let cells = schema
        .fields()
        .iter()
        .map(|field| {
            columns
                .iter()
                .find(|c| c.name == field.name())
                .map(|c| c.cell)
                .ok_or_else(|| format!("table column `{}` is not one Floe writes", field.name()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    build(schema, records.len(), |cols| {
        for (col, cell) in cols.iter_mut().zip(&cells) {
            col.extend(records.iter().map(|r| cell(topic, r)));
        }
    })
}

/// An append job's rows, in the column order of [`floe_common::append::AppendSpec::table_columns`]:
/// the declared columns, then kafka_partition, kafka_offset and ingested_at.
pub fn appended_batch(schema: &SchemaRef, rows: &AppendRows) -> Result<RecordBatch, String> {
    let n = rows.len();
    if schema.fields().len() != rows.fields.len() + 3 {
        return Err(format!(
            "the table has {} columns, the job's rows {} + 3",
            schema.fields().len(),
            rows.fields.len()
        ));
    }
    let tz = |i: usize| match schema.field(i).data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, values) in rows.fields.iter().enumerate() {
        arrays.push(match values {
            ColumnValues::Long(v) => match schema.field(i).data_type() {
                DataType::Timestamp(..) => {
                    Arc::new(TimestampMicrosecondArray::from(v.clone()).with_timezone_opt(tz(i)))
                }
                _ => Arc::new(Int64Array::from(v.clone())),
            },
            ColumnValues::Double(v) => Arc::new(Float64Array::from(v.clone())),
            ColumnValues::Boolean(v) => Arc::new(BooleanArray::from(v.clone())),
            ColumnValues::Text { text, ends, valid } => {
                let offsets = std::iter::once(0)
                    .chain(ends.iter().copied())
                    .map(i32::try_from)
                    .collect::<Result<Vec<i32>, _>>()
                    .map_err(|_| "more than 2 GiB of text in one column".to_owned())?;
                Arc::new(
                    StringArray::try_new(
                        OffsetBuffer::new(offsets.into()),
                        Buffer::from(text.as_bytes()),
                        Some(NullBuffer::from(valid.clone())),
                    )
                    .map_err(|e| e.to_string())?,
                )
            }
        });
    }
    let ingested = rows.ingested_at_ms.iter().map(|ms| ms.saturating_mul(1000));
    arrays.push(Arc::new(Int32Array::from(rows.partitions.clone())));
    arrays.push(Arc::new(Int64Array::from(rows.offsets.clone())));
    arrays.push(Arc::new(
        TimestampMicrosecondArray::from_iter_values(ingested)
            .with_timezone_opt(tz(rows.fields.len() + 2)),
    ));
    debug_assert!(arrays.iter().all(|a| a.len() == n));
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
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

    fn primitives<T: ArrowPrimitiveType>(
        batch: &RecordBatch,
        name: &str,
    ) -> Vec<Option<T::Native>> {
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
}
