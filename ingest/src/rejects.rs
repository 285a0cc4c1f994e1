//! The rejects table: one row per CSV row a load could not read, with the file, the line it
//! starts on, the column that failed (if one did), the reason and the row's text. It sits
//! beside the loaded table as `<table>_rejects`.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema as ArrowSchema, SchemaRef};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};

use crate::decode::Reject;

/// The rejects table of `table`.
pub fn rejects_table_name(table: &str) -> String {
    format!("{table}_rejects")
}

/// The rejects table's columns: (name, is a number, doc).
const COLUMNS: [(&str, bool, &str); 5] = [
    ("source", false, "The file the row was read from."),
    (
        "line",
        true,
        "The line the row starts on (1 is the file's first).",
    ),
    (
        "column",
        false,
        "The column that could not be read; null when the row itself is malformed.",
    ),
    ("reason", false, "Why the row was not loaded."),
    (
        "row",
        false,
        "The row's fields, joined by the file's delimiter.",
    ),
];

/// The rejects table's Iceberg schema.
pub fn rejects_schema() -> iceberg::Result<Schema> {
    let fields = COLUMNS.iter().enumerate().map(|(i, (name, number, doc))| {
        let ty = if *number {
            PrimitiveType::Long
        } else {
            PrimitiveType::String
        };
        Arc::new(NestedField::optional(i as i32 + 1, *name, Type::Primitive(ty)).with_doc(*doc))
    });
    Schema::builder().with_fields(fields).build()
}

/// Rejected rows collected into batches of the rejects table.
pub struct RejectsBuilder {
    source: String,
    delimiter: char,
    schema: SchemaRef,
    lines: Int64Builder,
    texts: [StringBuilder; 4],
    rows: usize,
}

impl RejectsBuilder {
    pub fn new(source: &str, delimiter: u8) -> Self {
        let schema = Arc::new(ArrowSchema::new(
            COLUMNS
                .iter()
                .map(|(name, number, _)| {
                    Field::new(
                        *name,
                        if *number {
                            DataType::Int64
                        } else {
                            DataType::Utf8
                        },
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        ));
        Self {
            source: source.to_owned(),
            delimiter: char::from(delimiter),
            schema,
            lines: Int64Builder::new(),
            texts: Default::default(),
            rows: 0,
        }
    }

    /// Rejects collected since the last [`Self::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn push(&mut self, line: u64, reject: &Reject, record: &csv::ByteRecord) {
        let mut row = String::new();
        for (i, field) in record.iter().enumerate() {
            if i > 0 {
                row.push(self.delimiter);
            }
            row.push_str(&String::from_utf8_lossy(field));
        }
        let [source, column, reason, text] = &mut self.texts;
        source.append_value(&self.source);
        self.lines
            .append_value(i64::try_from(line).unwrap_or(i64::MAX));
        column.append_option(reject.column.as_deref());
        reason.append_value(&reject.reason);
        text.append_value(row);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let [source, column, reason, text] = &mut self.texts;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(source.finish()),
            Arc::new(self.lines.finish()),
            Arc::new(column.finish()),
            Arc::new(reason.finish()),
            Arc::new(text.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}
