//! Turning a checkpoint's output (closed windows, late events, dead letters, appended records)
//! into Arrow batches shaped like the Iceberg tables they go to.

use std::borrow::Cow;
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
use floe_common::config::{JobSpec, WindowKind};
use floe_common::distinct::Distinct;
use floe_common::group_key;
use floe_common::having::Having;
use floe_common::records::{
    dead_letter_columns, late_event_columns, Cell, DeadLetter, LateEvent, SideColumn,
};
use floe_common::session::session_row;
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
/// column order of [`JobSpec::table`]; of a job with a `having`, the rows that hold it. A
/// window's rows come in the order its state holds them: the table declares no sort order,
/// and sorting every closed window by key cost about 5% of the engine's CPU (its rows are then
/// read in random order).
pub fn windows_batch(
    job: &JobSpec,
    schema: &SchemaRef,
    windows: &[ClosedWindow],
) -> Result<RecordBatch, String> {
    let mut windows = Cow::Borrowed(windows);
    if let Some(distinct) = Distinct::of(job) {
        windows = Cow::Owned(distinct.collapse(&windows));
    }
    if let Some(having) = Having::of(job) {
        windows = Cow::Owned(having.apply(&windows));
    }
    let rows = windows.iter().map(|w| w.rows.len()).sum();
    let n_keys = job.group_by.len();
    let sessions = matches!(job.window.kind, WindowKind::Session { .. });
    build(schema, rows, |cols| {
        let (fixed, aggregates) = cols.split_at_mut((2 + n_keys).min(cols.len()));
        let [start_col, end_col, key_cols @ ..] = fixed else {
            return;
        };
        for w in windows.iter() {
            let n = w.rows.len();
            if sessions {
                // Each row is a session, with its own bounds.
                for (row_key, _) in w.rows.iter() {
                    let (key, start, end) =
                        session_row(row_key).unwrap_or((row_key, w.start_ms, w.end_ms));
                    start_col.push(Cell::TimeMs(start));
                    end_col.push(Cell::TimeMs(end));
                    push_key(key_cols, key);
                }
            } else {
                start_col.extend(std::iter::repeat_n(Cell::TimeMs(w.start_ms), n));
                end_col.extend(std::iter::repeat_n(Cell::TimeMs(w.end_ms), n));
                let as_held = n_keys == 1
                    && w.rows
                        .iter()
                        .all(|(key, _)| group_key::single_part(key).is_some());
                match key_cols {
                    // One group column and keys held as they are: no key to split.
                    [key_col] if as_held => {
                        key_col.extend(w.rows.iter().map(|(key, _)| Cell::Str(key)))
                    }
                    _ => w.rows.iter().for_each(|(key, _)| push_key(key_cols, key)),
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

/// A row's group columns, from its key's parts.
fn push_key(key_cols: &mut [ColumnBuilder], key: &str) {
    if let ([key_col], Some(key)) = (&mut *key_cols, group_key::single_part(key)) {
        // One group column and a key held as it is: no key to split.
        key_col.push(Cell::Str(key));
        return;
    }
    let parts = group_key::parts(key);
    for (i, col) in key_cols.iter_mut().enumerate() {
        col.push(parts.get(i).map_or(Cell::Null, |part| Cell::Str(part)));
    }
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
#[path = "rows_tests.rs"]
mod tests;
