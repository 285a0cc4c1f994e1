//! Decoding: a CSV row's fields into the load's Arrow columns, or a reject naming the field and
//! why. A row is checked whole before any of it is kept, so a reject leaves no partial row.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use chrono::NaiveDate;

use crate::csv_type::CsvType;
use crate::infer::NullValues;
use crate::value_formats::{parse_bool, parse_decimal, parse_double, parse_long, parse_timestamp};

/// One column of the table as the load fills it: from field `field` of each row, or null
/// when the file has no such field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadColumn {
    pub name: String,
    pub ty: CsvType,
    pub field: Option<usize>,
}

/// Why a row is not loaded: the column that failed (none when the row itself is malformed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub column: Option<String>,
    pub reason: String,
}

/// A value read from a field, before the row is known to be whole.
#[derive(Debug, Clone, Copy)]
enum Parsed {
    Null,
    Bool(bool),
    Long(i64),
    Decimal(i128),
    Double(f64),
    Days(i32),
    Micros(i64),
    Text,
}

enum Builder {
    Boolean(BooleanBuilder),
    Long(Int64Builder),
    Decimal(Decimal128Builder),
    Double(Float64Builder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    String(StringBuilder),
}

impl Builder {
    fn new(ty: CsvType) -> Result<Self, ArrowError> {
        Ok(match ty {
            CsvType::Boolean => Self::Boolean(BooleanBuilder::new()),
            CsvType::Long => Self::Long(Int64Builder::new()),
            CsvType::Decimal { precision, scale } => Self::Decimal(
                Decimal128Builder::new().with_precision_and_scale(precision, scale as i8)?,
            ),
            CsvType::Double => Self::Double(Float64Builder::new()),
            CsvType::Date(_) => Self::Date(Date32Builder::new()),
            CsvType::Timestamp { zoned, .. } => {
                let builder = TimestampMicrosecondBuilder::new();
                Self::Timestamp(if zoned {
                    builder.with_timezone("+00:00")
                } else {
                    builder
                })
            }
            CsvType::String => Self::String(StringBuilder::new()),
        })
    }

    fn append(&mut self, value: Parsed, text: &str) {
        match (self, value) {
            (Self::Boolean(b), Parsed::Bool(v)) => b.append_value(v),
            (Self::Long(b), Parsed::Long(v)) => b.append_value(v),
            (Self::Decimal(b), Parsed::Decimal(v)) => b.append_value(v),
            (Self::Double(b), Parsed::Double(v)) => b.append_value(v),
            (Self::Date(b), Parsed::Days(v)) => b.append_value(v),
            (Self::Timestamp(b), Parsed::Micros(v)) => b.append_value(v),
            (Self::String(b), Parsed::Text) => b.append_value(text),
            (Self::Boolean(b), _) => b.append_null(),
            (Self::Long(b), _) => b.append_null(),
            (Self::Decimal(b), _) => b.append_null(),
            (Self::Double(b), _) => b.append_null(),
            (Self::Date(b), _) => b.append_null(),
            (Self::Timestamp(b), _) => b.append_null(),
            (Self::String(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Long(b) => Arc::new(b.finish()),
            Self::Decimal(b) => Arc::new(b.finish()),
            Self::Double(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::String(b) => Arc::new(b.finish()),
        }
    }
}

/// Turns rows into batches of the load's columns.
pub struct RowDecoder {
    columns: Vec<LoadColumn>,
    builders: Vec<Builder>,
    parsed: Vec<Parsed>,
    /// Fields every row must have.
    width: usize,
    nulls: NullValues,
    schema: SchemaRef,
    rows: usize,
}

fn epoch() -> NaiveDate {
    NaiveDate::default()
}

impl RowDecoder {
    /// A decoder of rows of `width` fields into `columns`.
    pub fn new(
        columns: Vec<LoadColumn>,
        width: usize,
        nulls: NullValues,
    ) -> Result<Self, ArrowError> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let builders = columns
            .iter()
            .map(|c| Builder::new(c.ty))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            parsed: vec![Parsed::Null; columns.len()],
            columns,
            builders,
            width,
            nulls,
            schema,
            rows: 0,
        })
    }

    /// Rows decoded since the last [`Self::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds `record` to the batch being built, or tells why it cannot be loaded.
    pub fn push(&mut self, record: &csv::ByteRecord) -> Result<(), Reject> {
        if record.len() != self.width {
            return Err(Reject {
                column: None,
                reason: format!(
                    "{} fields where the file's rows have {}",
                    record.len(),
                    self.width
                ),
            });
        }
        // One UTF-8 check of the whole row; each field is then a slice of it.
        let Ok(row) = std::str::from_utf8(record.as_slice()) else {
            return Err(self.not_utf8(record));
        };
        let text_of = |column: &LoadColumn| {
            column
                .field
                .and_then(|f| record.range(f))
                .map(|range| row.get(range))
        };
        for (i, column) in self.columns.iter().enumerate() {
            self.parsed[i] = match text_of(column) {
                None => Parsed::Null,
                Some(Some(text)) => read_field(text, column, &self.nulls)?,
                Some(None) => return Err(self.not_utf8(record)),
            };
        }
        for ((builder, column), value) in self
            .builders
            .iter_mut()
            .zip(&self.columns)
            .zip(&self.parsed)
        {
            let text = match value {
                Parsed::Text => text_of(column).flatten().unwrap_or_default(),
                _ => "",
            };
            builder.append(*value, text);
        }
        self.rows += 1;
        Ok(())
    }

    /// The reject of a row that is not UTF-8 text, naming its first such column.
    fn not_utf8(&self, record: &csv::ByteRecord) -> Reject {
        let column = self.columns.iter().find(|c| {
            c.field
                .and_then(|f| record.get(f))
                .is_some_and(|bytes| std::str::from_utf8(bytes).is_err())
        });
        Reject {
            column: column.map(|c| c.name.clone()),
            reason: "the value is not UTF-8 text".into(),
        }
    }

    /// The rows decoded so far as one batch; the decoder starts over empty.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

/// The value of one field under its column's type.
fn read_field(text: &str, column: &LoadColumn, nulls: &NullValues) -> Result<Parsed, Reject> {
    let reject = |reason: String| Reject {
        column: Some(column.name.clone()),
        reason,
    };
    if column.ty == CsvType::String {
        return Ok(if nulls.is_null(text) {
            Parsed::Null
        } else {
            Parsed::Text
        });
    }
    let value = text.trim();
    if nulls.is_null(value) {
        return Ok(Parsed::Null);
    }
    let parsed = match column.ty {
        CsvType::Boolean => parse_bool(value).map(Parsed::Bool),
        CsvType::Long => parse_long(value).map(Parsed::Long),
        CsvType::Decimal { precision, scale } => {
            parse_decimal(value, precision, scale).map(Parsed::Decimal)
        }
        CsvType::Double => parse_double(value).map(Parsed::Double),
        CsvType::Date(format) => format
            .parse(value)
            .and_then(|d| i32::try_from((d - epoch()).num_days()).ok())
            .map(Parsed::Days),
        CsvType::Timestamp { date, zoned } => parse_timestamp(value)
            .filter(|t| t.date == date && t.offset_secs.is_some() == zoned)
            .map(|t| Parsed::Micros(t.micros())),
        CsvType::String => Some(Parsed::Text),
    };
    parsed.ok_or_else(|| reject(format!("`{}` is not a {}", shorten(value), column.ty)))
}

/// A value as a reject reason quotes it: at most 60 characters.
fn shorten(value: &str) -> String {
    match value.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value_formats::DateFormat;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Decimal128Type, Int64Type};
    use arrow_array::Array;

    fn column(name: &str, ty: CsvType, field: usize) -> LoadColumn {
        LoadColumn {
            name: name.into(),
            ty,
            field: Some(field),
        }
    }

    #[test]
    fn whole_rows_are_decoded_and_bad_ones_rejected_without_a_trace() {
        let columns = vec![
            column("id", CsvType::Long, 0),
            column(
                "price",
                CsvType::Decimal {
                    precision: 5,
                    scale: 2,
                },
                1,
            ),
            column("day", CsvType::Date(DateFormat::DayDotted), 2),
            column("code", CsvType::String, 3),
            LoadColumn {
                name: "added".into(),
                ty: CsvType::Double,
                field: None,
            },
        ];
        let mut decoder = RowDecoder::new(columns, 4, NullValues::default()).expect("decoder");
        let row = |fields: &[&str]| csv::ByteRecord::from(fields.to_vec());
        decoder
            .push(&row(&["1", "9.5", "02.01.1970", "0870"]))
            .expect("row 1");
        let bad = decoder
            .push(&row(&["2", "1.234", "01.01.1970", "x"]))
            .expect_err("three decimals");
        assert_eq!(bad.column.as_deref(), Some("price"));
        assert!(
            bad.reason.contains("`1.234` is not a decimal(5,2)"),
            "{}",
            bad.reason
        );
        let latin1 = csv::ByteRecord::from(vec![&b"5"[..], b"1", b"01.01.1970", b"M\xfcnchen"]);
        let not_text = decoder.push(&latin1).expect_err("not UTF-8");
        assert_eq!(not_text.column.as_deref(), Some("code"));
        assert_eq!(not_text.reason, "the value is not UTF-8 text");
        let short = decoder.push(&row(&["3", "1"])).expect_err("two fields");
        assert_eq!(short.column, None);
        decoder
            .push(&row(&[" 4 ", "NA", "", ""]))
            .expect("row with nulls");
        let batch = decoder.finish().expect("batch");
        assert_eq!(batch.num_rows(), 2);
        let ids = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), [1, 4]);
        let prices = batch.column(1).as_primitive::<Decimal128Type>();
        assert_eq!((prices.value(0), prices.is_null(1)), (950, true));
        assert_eq!(batch.column(2).as_primitive::<Date32Type>().value(0), 1);
        assert_eq!(batch.column(3).as_string::<i32>().value(0), "0870");
        assert_eq!(batch.column(4).null_count(), 2);
    }
}
