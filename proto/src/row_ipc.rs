//! Closed windows on the wire as Arrow IPC streams: the partial aggregates (one column per
//! accumulator part, typed by the job's aggregates) the committer merges into one row per
//! (window, key).

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use floe_common::aggregate::Acc;
use floe_common::window::{ClosedWindow, KeyedAccs};

/// LZ4-compressed Arrow IPC: partial aggregates of a large window compress well and cost
/// little CPU to pack.
fn write(batch: RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))?;
    let mut writer = StreamWriter::try_new_with_options(&mut out, &batch.schema(), options)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

fn read(bytes: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    StreamReader::try_new(bytes, None)?.collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
}

/// One accumulator's columns in the closed-windows stream.
fn acc_fields(i: usize, acc: &Acc) -> Vec<Field> {
    let name = format!("acc{i}");
    match acc {
        Acc::Count(_) | Acc::SumLong(_) => vec![Field::new(name, DataType::Int64, false)],
        Acc::SumDouble(_) => vec![Field::new(name, DataType::Float64, false)],
        Acc::MinLong(_) | Acc::MaxLong(_) => vec![Field::new(name, DataType::Int64, true)],
        Acc::MinDouble(_) | Acc::MaxDouble(_) => {
            vec![Field::new(name, DataType::Float64, true)]
        }
        Acc::Avg { .. } => vec![
            Field::new(format!("{name}_sum"), DataType::Float64, false),
            Field::new(format!("{name}_count"), DataType::Int64, false),
        ],
    }
}

/// Closed windows as one Arrow IPC stream: `window_start`, `window_end`, `key`, then the
/// accumulators in the order of `template` (the job's aggregates).
pub fn closed_windows_to_ipc(
    windows: &[ClosedWindow],
    template: &[Acc],
) -> Result<Vec<u8>, ArrowError> {
    let mut fields = vec![
        Field::new("window_start", DataType::Int64, false),
        Field::new("window_end", DataType::Int64, false),
        Field::new("key", DataType::Utf8, false),
    ];
    for (i, acc) in template.iter().enumerate() {
        fields.extend(acc_fields(i, acc));
    }
    let rows: usize = windows.iter().map(|w| w.rows.len()).sum();
    let (mut starts, mut ends) = (
        Int64Builder::with_capacity(rows),
        Int64Builder::with_capacity(rows),
    );
    let mut keys = StringBuilder::with_capacity(rows, rows * 16);
    let mut longs: Vec<Int64Builder> = Vec::new();
    let mut doubles: Vec<Float64Builder> = Vec::new();
    // Per accumulator part, in field order: (is_long, index into longs/doubles).
    let mut parts: Vec<(bool, usize)> = Vec::new();
    for acc in template {
        let kinds: &[bool] = match acc {
            Acc::Count(_) | Acc::SumLong(_) | Acc::MinLong(_) | Acc::MaxLong(_) => &[true],
            Acc::SumDouble(_) | Acc::MinDouble(_) | Acc::MaxDouble(_) => &[false],
            Acc::Avg { .. } => &[false, true],
        };
        for long in kinds {
            if *long {
                parts.push((true, longs.len()));
                longs.push(Int64Builder::with_capacity(rows));
            } else {
                parts.push((false, doubles.len()));
                doubles.push(Float64Builder::with_capacity(rows));
            }
        }
    }
    for w in windows {
        for (key, accs) in w.rows.iter() {
            starts.append_value(w.start_ms);
            ends.append_value(w.end_ms);
            keys.append_value(key);
            let mut part = 0;
            for acc in accs.iter() {
                let mut long = |v: Option<i64>| {
                    longs[parts[part].1].append_option(v);
                    part += 1;
                };
                match acc {
                    Acc::Count(n) | Acc::SumLong(n) => long(Some(n)),
                    Acc::MinLong(m) | Acc::MaxLong(m) => long(m),
                    Acc::SumDouble(s) => {
                        doubles[parts[part].1].append_value(s);
                        part += 1;
                    }
                    Acc::MinDouble(m) | Acc::MaxDouble(m) => {
                        doubles[parts[part].1].append_option(m);
                        part += 1;
                    }
                    Acc::Avg { sum, count } => {
                        doubles[parts[part].1].append_value(sum);
                        longs[parts[part + 1].1].append_value(count);
                        part += 2;
                    }
                }
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(starts.finish()),
        Arc::new(ends.finish()),
        Arc::new(keys.finish()),
    ];
    for (long, i) in parts {
        columns.push(if long {
            Arc::new(longs[i].finish())
        } else {
            Arc::new(doubles[i].finish())
        });
    }
    write(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Reads what [`closed_windows_to_ipc`] wrote with the same `template`.
pub fn closed_windows_from_ipc(
    bytes: &[u8],
    template: &[Acc],
) -> Result<Vec<ClosedWindow>, ArrowError> {
    let mut windows: Vec<ClosedWindow> = Vec::new();
    for batch in read(bytes)? {
        let starts = column(&batch, "window_start")?.as_primitive::<Int64Type>();
        let ends = column(&batch, "window_end")?.as_primitive::<Int64Type>();
        let keys = column(&batch, "key")?.as_string::<i32>();
        // Each accumulator's columns, found once per batch.
        let columns = template
            .iter()
            .enumerate()
            .map(|(i, acc)| {
                let name = format!("acc{i}");
                Ok(match acc {
                    Acc::Avg { .. } => AccColumns::Avg(
                        column(&batch, &format!("{name}_sum"))?.as_primitive::<Float64Type>(),
                        column(&batch, &format!("{name}_count"))?.as_primitive::<Int64Type>(),
                    ),
                    Acc::SumDouble(_) | Acc::MinDouble(_) | Acc::MaxDouble(_) => {
                        AccColumns::Double(column(&batch, &name)?.as_primitive::<Float64Type>())
                    }
                    _ => AccColumns::Long(column(&batch, &name)?.as_primitive::<Int64Type>()),
                })
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        let mut row = template.to_vec();
        for r in 0..batch.num_rows() {
            for (acc, col) in row.iter_mut().zip(&columns) {
                let long = |c: &arrow_array::Int64Array| c.is_valid(r).then(|| c.value(r));
                let double = |c: &arrow_array::Float64Array| c.is_valid(r).then(|| c.value(r));
                *acc = match (*acc, col) {
                    (Acc::Count(_), AccColumns::Long(c)) => Acc::Count(long(c).unwrap_or(0)),
                    (Acc::SumLong(_), AccColumns::Long(c)) => Acc::SumLong(long(c).unwrap_or(0)),
                    (Acc::MinLong(_), AccColumns::Long(c)) => Acc::MinLong(long(c)),
                    (Acc::MaxLong(_), AccColumns::Long(c)) => Acc::MaxLong(long(c)),
                    (Acc::SumDouble(_), AccColumns::Double(c)) => {
                        Acc::SumDouble(double(c).unwrap_or(0.0))
                    }
                    (Acc::MinDouble(_), AccColumns::Double(c)) => Acc::MinDouble(double(c)),
                    (Acc::MaxDouble(_), AccColumns::Double(c)) => Acc::MaxDouble(double(c)),
                    (Acc::Avg { .. }, AccColumns::Avg(sum, count)) => Acc::Avg {
                        sum: double(sum).unwrap_or(0.0),
                        count: long(count).unwrap_or(0),
                    },
                    (other, _) => other,
                };
            }
            let (start, end) = (starts.value(r), ends.value(r));
            let window = match windows.last_mut() {
                Some(w) if (w.start_ms, w.end_ms) == (start, end) => w,
                _ => {
                    windows.push(ClosedWindow {
                        start_ms: start,
                        end_ms: end,
                        rows: KeyedAccs::new(template),
                    });
                    let last = windows.len() - 1;
                    &mut windows[last]
                }
            };
            window.rows.merge_row(keys.value(r), row.iter().copied());
        }
    }
    Ok(windows)
}

/// The columns of one accumulator in a closed-windows batch.
enum AccColumns<'a> {
    Long(&'a arrow_array::Int64Array),
    Double(&'a arrow_array::Float64Array),
    Avg(&'a arrow_array::Float64Array, &'a arrow_array::Int64Array),
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::aggregate::AggregateSpec;
    use floe_common::config::example_job;

    #[test]
    fn closed_windows_round_trip_with_every_kind_of_accumulator() {
        let template = vec![
            Acc::Count(0),
            Acc::SumLong(0),
            Acc::SumDouble(0.0),
            Acc::MinLong(None),
            Acc::MaxDouble(None),
            Acc::Avg { sum: 0.0, count: 0 },
        ];
        let mut rows = KeyedAccs::new(&template);
        rows.merge_row(
            "a",
            [
                Acc::Count(3),
                Acc::SumLong(-7),
                Acc::SumDouble(1.5),
                Acc::MinLong(Some(2)),
                Acc::MaxDouble(None),
                Acc::Avg { sum: 9.0, count: 3 },
            ],
        );
        rows.merge_row("b", template.iter().copied());
        let windows = vec![
            ClosedWindow {
                start_ms: 0,
                end_ms: 60_000,
                rows: rows.clone(),
            },
            ClosedWindow {
                start_ms: 0,
                end_ms: 120_000,
                rows: rows.clone(),
            },
            ClosedWindow {
                start_ms: 60_000,
                end_ms: 120_000,
                rows,
            },
        ];
        let bytes = closed_windows_to_ipc(&windows, &template).unwrap();
        assert_eq!(closed_windows_from_ipc(&bytes, &template).unwrap(), windows);
        let job = example_job();
        let gold: Vec<Acc> = job.aggregates.iter().map(AggregateSpec::new_acc).collect();
        let empty = closed_windows_to_ipc(&[], &gold).unwrap();
        assert!(closed_windows_from_ipc(&empty, &gold).unwrap().is_empty());
    }
}
