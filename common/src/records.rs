//! Side outputs: records that are not aggregated but must never be lost.

use serde::{Deserialize, Serialize};

use crate::schema::{Column, ColumnType, TableSchema};

/// A record that could not be decoded, kept with its reason and position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    /// The record value as received; `None` for a null (tombstone) value.
    pub raw: Option<Vec<u8>>,
}

/// An event that arrived after its window was finalised (beyond the allowed lateness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LateEvent {
    pub partition: i32,
    pub offset: i64,
    pub event_time_ms: i64,
    pub window_start_ms: i64,
    pub watermark_ms: i64,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// One cell of an output row, before it becomes Arrow: what a side table's column takes from a
/// record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Long(i64),
    Int(i32),
    Str(&'a str),
    Bytes(&'a [u8]),
    /// Epoch milliseconds, stored as microseconds.
    TimeMs(i64),
}

/// A side table's column: its name and type, and the cell a record (read from `topic`) gives
/// it. A side table's schema and its rows both come from one list of these.
pub struct SideColumn<R> {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
    pub cell: for<'a> fn(topic: &'a str, record: &'a R) -> Cell<'a>,
}

/// A side record's place in its source: the first columns of every side table.
pub trait SourcePlace {
    fn partition(&self) -> i32;
    fn offset(&self) -> i64;
}

impl SourcePlace for LateEvent {
    fn partition(&self) -> i32 {
        self.partition
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

impl SourcePlace for DeadLetter {
    fn partition(&self) -> i32 {
        self.partition
    }

    fn offset(&self) -> i64 {
        self.offset
    }
}

/// The topic, partition and offset a side record was read at.
fn source_columns<R: SourcePlace>() -> [SideColumn<R>; 3] {
    [
        SideColumn {
            name: "kafka_topic",
            ty: ColumnType::String,
            required: true,
            cell: |topic, _| Cell::Str(topic),
        },
        SideColumn {
            name: "kafka_partition",
            ty: ColumnType::Int,
            required: true,
            cell: |_, r| Cell::Int(r.partition()),
        },
        SideColumn {
            name: "kafka_offset",
            ty: ColumnType::Long,
            required: true,
            cell: |_, r| Cell::Long(r.offset()),
        },
    ]
}

/// The late-events table: where an event came from, its times, and why it was late.
pub fn late_event_columns() -> Vec<SideColumn<LateEvent>> {
    let own: [SideColumn<LateEvent>; 5] = [
        SideColumn {
            name: "event_time",
            ty: ColumnType::TimestampTz,
            required: true,
            cell: |_, e| Cell::TimeMs(e.event_time_ms),
        },
        SideColumn {
            name: "window_start",
            ty: ColumnType::TimestampTz,
            required: true,
            cell: |_, e| Cell::TimeMs(e.window_start_ms),
        },
        SideColumn {
            name: "watermark",
            ty: ColumnType::TimestampTz,
            required: true,
            cell: |_, e| Cell::TimeMs(e.watermark_ms),
        },
        SideColumn {
            name: "reason",
            ty: ColumnType::String,
            required: true,
            cell: |_, e| Cell::Str(&e.reason),
        },
        SideColumn {
            name: "raw",
            ty: ColumnType::Binary,
            required: true,
            cell: |_, e| Cell::Bytes(&e.raw),
        },
    ];
    source_columns().into_iter().chain(own).collect()
}

/// The dead-letter table: where a record came from, why it could not be decoded, and its bytes
/// (null for a tombstone).
pub fn dead_letter_columns() -> Vec<SideColumn<DeadLetter>> {
    let own: [SideColumn<DeadLetter>; 2] = [
        SideColumn {
            name: "reason",
            ty: ColumnType::String,
            required: true,
            cell: |_, d| Cell::Str(&d.reason),
        },
        SideColumn {
            name: "raw",
            ty: ColumnType::Binary,
            required: false,
            cell: |_, d| d.raw.as_deref().map_or(Cell::Null, Cell::Bytes),
        },
    ];
    source_columns().into_iter().chain(own).collect()
}

/// The schema of a side table named `name` with `columns`.
pub fn side_table_schema<R>(name: String, columns: &[SideColumn<R>]) -> TableSchema {
    TableSchema {
        name,
        columns: columns
            .iter()
            .map(|c| Column::new(c.name, c.ty, c.required))
            .collect(),
        partition: vec![],
    }
}

/// Schema of a job's late-events table.
pub fn late_table_schema(name: String) -> TableSchema {
    side_table_schema(name, &late_event_columns())
}

/// Schema of a job's dead-letter table.
pub fn dead_letter_table_schema(name: String) -> TableSchema {
    side_table_schema(name, &dead_letter_columns())
}
