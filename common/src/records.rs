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

/// Schema of a job's late-events table.
pub fn late_table_schema(name: String) -> TableSchema {
    TableSchema {
        name,
        columns: vec![
            Column::new("kafka_topic", ColumnType::String, true),
            Column::new("kafka_partition", ColumnType::Int, true),
            Column::new("kafka_offset", ColumnType::Long, true),
            Column::new("event_time", ColumnType::TimestampTz, true),
            Column::new("window_start", ColumnType::TimestampTz, true),
            Column::new("watermark", ColumnType::TimestampTz, true),
            Column::new("reason", ColumnType::String, true),
            Column::new("raw", ColumnType::Binary, true),
        ],
        partition: vec![],
    }
}

/// Schema of a job's dead-letter table.
pub fn dead_letter_table_schema(name: String) -> TableSchema {
    TableSchema {
        name,
        columns: vec![
            Column::new("kafka_topic", ColumnType::String, true),
            Column::new("kafka_partition", ColumnType::Int, true),
            Column::new("kafka_offset", ColumnType::Long, true),
            Column::new("reason", ColumnType::String, true),
            Column::new("raw", ColumnType::Binary, false),
        ],
        partition: vec![],
    }
}
