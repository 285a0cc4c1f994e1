//! Append jobs (the Bronze flow): every record becomes one row of the job's table, with the
//! fields the job declares as typed columns, a field kept whole as JSON text if it likes (so
//! drift in it never stops ingestion), and where the record came from.
//!
//! [`AppendSpec::table_columns`] is the one definition of the table's columns; [`AppendRows`]
//! holds rows in the same order until a checkpoint writes them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::config::TimeUnit;
use crate::expr::{Compiled, Expr};
use crate::path::FieldPath;
use crate::schema::{Column, ColumnType};
use crate::value::Scalar;

/// The Kafka partition a row was read from.
pub const KAFKA_PARTITION: &str = "kafka_partition";
/// The offset of the row's record in its partition.
pub const KAFKA_OFFSET: &str = "kafka_offset";
/// When the worker read the record (wall clock).
pub const INGESTED_AT: &str = "ingested_at";

/// How a declared field becomes a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendType {
    String,
    Long,
    Double,
    Boolean,
    /// An integer in the given unit, stored as `timestamptz`.
    Timestamp(TimeUnit),
    /// The value whole, as JSON text (objects and arrays exactly as received).
    Json,
}

impl AppendType {
    pub(crate) fn column_type(self) -> ColumnType {
        match self {
            AppendType::String | AppendType::Json => ColumnType::String,
            AppendType::Long => ColumnType::Long,
            AppendType::Double => ColumnType::Double,
            AppendType::Boolean => ColumnType::Boolean,
            AppendType::Timestamp(_) => ColumnType::TimestampTz,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AppendType::String => "a string",
            AppendType::Long => "an integer",
            AppendType::Double => "a number",
            AppendType::Boolean => "a boolean",
            AppendType::Timestamp(_) => "an integer timestamp",
            AppendType::Json => "JSON",
        }
    }
}

/// One declared column of an append job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendColumn {
    pub column: String,
    /// The value the column holds: a field, or an expression of fields.
    pub field: Expr,
    pub ty: AppendType,
    /// A record without this field (or with null) is a dead letter; otherwise the column is
    /// null.
    pub required: bool,
}

/// What an append job writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendSpec {
    pub columns: Vec<AppendColumn>,
    /// Data files are rolled at this size (and at every checkpoint).
    pub target_file_bytes: u64,
    /// Only the first record of each key is written.
    pub dedup: Option<DedupSpec>,
}

/// An append job's deduplication: the first record of each key is kept; a key is remembered
/// until the watermark passes its first record's event time plus `within_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupSpec {
    pub key: Vec<FieldPath>,
    pub within_ms: i64,
}

impl AppendSpec {
    /// The table's columns: the declared ones, then where each record came from.
    pub fn table_columns(&self) -> Vec<Column> {
        let mut columns: Vec<Column> = self
            .columns
            .iter()
            .map(|c| Column::new(&c.column, c.ty.column_type(), c.required))
            .collect();
        columns.push(Column::new(KAFKA_PARTITION, ColumnType::Int, true));
        columns.push(Column::new(KAFKA_OFFSET, ColumnType::Long, true));
        columns.push(Column::new(INGESTED_AT, ColumnType::TimestampTz, true));
        columns
    }

    /// Names reserved for the columns every append table has.
    pub fn reserved_columns() -> [&'static str; 3] {
        [KAFKA_PARTITION, KAFKA_OFFSET, INGESTED_AT]
    }
}

/// The values of one declared column, row by row. Timestamps are microseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    Long(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    /// Row `i`'s text ends at `ends[i]` in `text`; `valid[i]` is false for null.
    Text {
        text: String,
        ends: Vec<usize>,
        valid: Vec<bool>,
    },
}

impl ColumnValues {
    fn for_type(ty: AppendType) -> Self {
        match ty {
            AppendType::Long | AppendType::Timestamp(_) => ColumnValues::Long(Vec::new()),
            AppendType::Double => ColumnValues::Double(Vec::new()),
            AppendType::Boolean => ColumnValues::Boolean(Vec::new()),
            AppendType::String | AppendType::Json => ColumnValues::Text {
                text: String::new(),
                ends: Vec::new(),
                valid: Vec::new(),
            },
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnValues::Long(v) => v.len(),
            ColumnValues::Double(v) => v.len(),
            ColumnValues::Boolean(v) => v.len(),
            ColumnValues::Text { valid, .. } => valid.len(),
        }
    }

    fn truncate(&mut self, rows: usize) {
        match self {
            ColumnValues::Long(v) => v.truncate(rows),
            ColumnValues::Double(v) => v.truncate(rows),
            ColumnValues::Boolean(v) => v.truncate(rows),
            ColumnValues::Text { text, ends, valid } => {
                ends.truncate(rows);
                valid.truncate(rows);
                text.truncate(ends.last().copied().unwrap_or(0));
            }
        }
    }

    fn push_null(&mut self) {
        match self {
            ColumnValues::Long(v) => v.push(None),
            ColumnValues::Double(v) => v.push(None),
            ColumnValues::Boolean(v) => v.push(None),
            ColumnValues::Text { .. } => self.push_text(None),
        }
    }

    fn push_text(&mut self, value: Option<&str>) {
        if let ColumnValues::Text { text, ends, valid } = self {
            text.push_str(value.unwrap_or(""));
            ends.push(text.len());
            valid.push(value.is_some());
        }
    }

    /// Row `i`'s text, if this is a text column and the row is not null.
    pub fn text(&self, i: usize) -> Option<&str> {
        match self {
            ColumnValues::Text { text, ends, valid } if valid[i] => {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                Some(&text[start..ends[i]])
            }
            _ => None,
        }
    }

    /// Appends row `i` of `other` (a column of the same type).
    fn push_from(&mut self, other: &ColumnValues, i: usize) {
        match (self, other) {
            (ColumnValues::Long(a), ColumnValues::Long(b)) => a.push(b[i]),
            (ColumnValues::Double(a), ColumnValues::Double(b)) => a.push(b[i]),
            (ColumnValues::Boolean(a), ColumnValues::Boolean(b)) => a.push(b[i]),
            (me @ ColumnValues::Text { .. }, other) => me.push_text(other.text(i)),
            _ => {}
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            ColumnValues::Long(v) => v.capacity() * 16,
            ColumnValues::Double(v) => v.capacity() * 16,
            ColumnValues::Boolean(v) => v.capacity() * 2,
            ColumnValues::Text { text, ends, valid } => {
                text.capacity() + ends.capacity() * 8 + valid.capacity()
            }
        }
    }
}

/// Decoded values of the declared columns, row by row (one decoded batch's, or the rows a
/// worker holds for the next checkpoint with where each came from).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppendRows {
    pub fields: Vec<ColumnValues>,
    pub partitions: Vec<i32>,
    pub offsets: Vec<i64>,
    pub ingested_at_ms: Vec<i64>,
}

impl AppendRows {
    pub fn new(spec: &AppendSpec) -> Self {
        Self {
            fields: spec
                .columns
                .iter()
                .map(|c| ColumnValues::for_type(c.ty))
                .collect(),
            ..Default::default()
        }
    }

    /// Rows held (with their source position).
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Rows of field values decoded (a decoded batch keeps no positions here).
    pub fn decoded_rows(&self) -> usize {
        self.fields.first().map_or(0, ColumnValues::len)
    }

    /// Empty rows of the same columns.
    pub fn emptied(&self) -> Self {
        Self {
            fields: self
                .fields
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    f.truncate(0);
                    f
                })
                .collect(),
            ..Default::default()
        }
    }

    pub fn clear(&mut self) {
        for f in &mut self.fields {
            f.truncate(0);
        }
        self.partitions.clear();
        self.offsets.clear();
        self.ingested_at_ms.clear();
    }

    /// Appends decoded row `i` of `decoded`, read from `partition` at `offset`.
    pub fn push_from(
        &mut self,
        decoded: &AppendRows,
        i: usize,
        partition: i32,
        offset: i64,
        ingested_at_ms: i64,
    ) {
        for (into, from) in self.fields.iter_mut().zip(&decoded.fields) {
            into.push_from(from, i);
        }
        self.partitions.push(partition);
        self.offsets.push(offset);
        self.ingested_at_ms.push(ingested_at_ms);
    }

    /// Bytes held on the heap (by capacity).
    pub fn heap_bytes(&self) -> usize {
        self.fields
            .iter()
            .map(ColumnValues::heap_bytes)
            .sum::<usize>()
            + self.partitions.capacity() * 4
            + self.offsets.capacity() * 8
            + self.ingested_at_ms.capacity() * 8
    }

    /// Decodes one record's values of `spec`'s columns from `slots` (`slot_of[c]` is column
    /// `c`'s), all or none: on an error no column has a new row. Rows made for other columns
    /// (a batch made empty) are made for `spec`'s first.
    pub fn push_decoded(
        &mut self,
        spec: &AppendSpec,
        slot_of: &[usize],
        slots: &[Scalar<'_>],
    ) -> Result<(), String> {
        self.push_row(spec, |c| Ok(Cow::Borrowed(&slots[slot_of[c]])))
    }

    /// As [`AppendRows::push_decoded`], column `c` holding `values[c]` of the record.
    pub fn push_computed(
        &mut self,
        spec: &AppendSpec,
        values: &[Compiled],
        slots: &[Scalar<'_>],
    ) -> Result<(), String> {
        self.push_row(spec, |c| values[c].eval(slots))
    }

    fn push_row<'s>(
        &mut self,
        spec: &AppendSpec,
        mut value: impl FnMut(usize) -> Result<Cow<'s, Scalar<'s>>, String>,
    ) -> Result<(), String> {
        if self.fields.len() != spec.columns.len() {
            *self = AppendRows::new(spec);
        }
        let rows = self.decoded_rows();
        for (c, (column, into)) in spec.columns.iter().zip(&mut self.fields).enumerate() {
            if let Err(e) = value(c).and_then(|value| push_value(column, into, &value)) {
                for f in &mut self.fields {
                    f.truncate(rows);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Appends a row of nulls in place of a record the job's filter refused, so that a decoded
    /// batch's rows stay one per record. It is never written.
    pub fn push_refused(&mut self, spec: &AppendSpec) {
        if self.fields.len() != spec.columns.len() {
            *self = AppendRows::new(spec);
        }
        for f in &mut self.fields {
            f.push_null();
        }
    }
}

fn push_value(
    column: &AppendColumn,
    into: &mut ColumnValues,
    value: &Scalar<'_>,
) -> Result<(), String> {
    let missing = matches!(value, Scalar::Missing | Scalar::Null);
    if missing {
        if column.required {
            return Err(format!("{} is {}", column.field, value.type_name()));
        }
        into.push_null();
        return Ok(());
    }
    let wrong = || {
        format!(
            "{} is {}, expected {}",
            column.field,
            value.type_name(),
            column.ty.name()
        )
    };
    match (column.ty, into, value) {
        (AppendType::Long, ColumnValues::Long(v), Scalar::I64(x)) => v.push(Some(*x)),
        (AppendType::Timestamp(unit), ColumnValues::Long(v), Scalar::I64(x)) => {
            let micros = unit
                .to_micros(*x)
                .ok_or_else(|| format!("{} out of range: {x}", column.field))?;
            v.push(Some(micros));
        }
        (AppendType::Double, ColumnValues::Double(v), x) => {
            v.push(Some(x.as_f64().ok_or_else(wrong)?))
        }
        (AppendType::Boolean, ColumnValues::Boolean(v), Scalar::Bool(x)) => v.push(Some(*x)),
        (AppendType::String, into @ ColumnValues::Text { .. }, Scalar::Str(s)) => {
            into.push_text(Some(s))
        }
        (AppendType::Json, into @ ColumnValues::Text { .. }, value) => {
            let text =
                json_text(value).ok_or_else(|| format!("{} is not valid UTF-8", column.field))?;
            into.push_text(Some(&text));
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

/// A non-null value as JSON text: objects and arrays as received, scalars re-encoded.
fn json_text<'a>(value: &'a Scalar<'_>) -> Option<Cow<'a, str>> {
    Some(match value {
        Scalar::Nested(raw) => Cow::Borrowed(std::str::from_utf8(raw).ok()?),
        Scalar::Str(s) => Cow::Owned(serde_json::Value::from(s.as_ref()).to_string()),
        Scalar::I64(v) => Cow::Owned(v.to_string()),
        Scalar::F64(v) => Cow::Owned(serde_json::Value::from(*v).to_string()),
        Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Scalar::Missing | Scalar::Null => Cow::Borrowed("null"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn spec() -> AppendSpec {
        let col = |column: &str, field: &str, ty, required| AppendColumn {
            column: column.into(),
            field: Expr::parse(field).unwrap(),
            ty,
            required,
        };
        AppendSpec {
            columns: vec![
                col("id", "h.id", AppendType::String, true),
                col("ts", "h.ts", AppendType::Timestamp(TimeUnit::Millis), true),
                col("v", "h.v", AppendType::Long, false),
                col("body", "body", AppendType::Json, false),
            ],
            target_file_bytes: 1 << 20,
            dedup: None,
        }
    }

    #[test]
    fn values_land_in_their_columns_and_a_bad_row_leaves_no_trace() {
        let spec = spec();
        let mut rows = AppendRows::new(&spec);
        let ok = [
            Scalar::Str(Cow::Borrowed("e-1")),
            Scalar::I64(1_000),
            Scalar::Missing,
            Scalar::Nested(br#"{"a": [1, "x"]}"#),
        ];
        rows.push_decoded(&spec, &[0, 1, 2, 3], &ok).unwrap();
        let wrong_type = [
            Scalar::Str(Cow::Borrowed("e-2")),
            Scalar::I64(2_000),
            Scalar::Str(Cow::Borrowed("seven")),
            Scalar::Null,
        ];
        let err = rows
            .push_decoded(&spec, &[0, 1, 2, 3], &wrong_type)
            .unwrap_err();
        assert_eq!(err, "h.v is string, expected an integer");
        let no_id = [
            Scalar::Missing,
            Scalar::I64(3),
            Scalar::Missing,
            Scalar::Missing,
        ];
        let err = rows.push_decoded(&spec, &[0, 1, 2, 3], &no_id).unwrap_err();
        assert_eq!(err, "h.id is missing");
        let scalar_body = [
            Scalar::Str(Cow::Borrowed("e-\"3")),
            Scalar::I64(3_000),
            Scalar::I64(7),
            Scalar::Str(Cow::Borrowed("a \"quoted\" body")),
        ];
        rows.push_decoded(&spec, &[0, 1, 2, 3], &scalar_body)
            .unwrap();
        assert_eq!(rows.decoded_rows(), 2);
        assert_eq!(rows.fields[0].text(1), Some("e-\"3"));
        assert_eq!(
            rows.fields[1],
            ColumnValues::Long(vec![Some(1_000_000), Some(3_000_000)])
        );
        assert_eq!(rows.fields[2], ColumnValues::Long(vec![None, Some(7)]));
        assert_eq!(rows.fields[3].text(0), Some(r#"{"a": [1, "x"]}"#));
        assert_eq!(rows.fields[3].text(1), Some(r#""a \"quoted\" body""#));

        let mut held = rows.emptied();
        held.push_from(&rows, 1, 4, 99, 5);
        assert_eq!(held.len(), 1);
        assert_eq!(held.fields[0].text(0), Some("e-\"3"));
        assert_eq!((held.partitions[0], held.offsets[0]), (4, 99));
    }

    #[test]
    fn a_json_column_refuses_invalid_utf8() {
        let spec = spec();
        let mut rows = AppendRows::new(&spec);
        let bad = [
            Scalar::Str(Cow::Borrowed("e")),
            Scalar::I64(1),
            Scalar::Missing,
            Scalar::Nested(b"{\"a\": \"\xff\"}"),
        ];
        let err = rows.push_decoded(&spec, &[0, 1, 2, 3], &bad).unwrap_err();
        assert_eq!(err, "body is not valid UTF-8");
        assert_eq!(rows.decoded_rows(), 0);
    }

    #[test]
    fn the_table_ends_with_where_each_record_came_from() {
        let names: Vec<String> = spec().table_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "id",
                "ts",
                "v",
                "body",
                KAFKA_PARTITION,
                KAFKA_OFFSET,
                INGESTED_AT
            ]
        );
    }
}
