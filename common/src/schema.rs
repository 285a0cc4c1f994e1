//! Engine-neutral description of an output table, so pure crates can say what they produce
//! without depending on Iceberg or Arrow.

use serde::{Deserialize, Serialize};

/// The column types Floe writes. Timestamps are microseconds since the epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    Long,
    Int,
    Double,
    String,
    Binary,
    Boolean,
    /// Iceberg `timestamptz`, microsecond precision.
    TimestampTz,
}

/// One column of an output table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub required: bool,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: ColumnType, required: bool) -> Self {
        Self {
            name: name.into(),
            ty,
            required,
        }
    }
}

/// Partition transform of an output table (the subset Floe's sinks need today).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionTransform {
    Identity,
    Hour,
    Day,
    Month,
    Year,
}

/// A partition field: `transform(column)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionField {
    pub column: String,
    pub transform: PartitionTransform,
}

/// Everything needed to create (or check) one output table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// `namespace.table`, e.g. `gold.video_stats_1min`; nested namespaces use more dots.
    pub name: String,
    pub columns: Vec<Column>,
    pub partition: Vec<PartitionField>,
}

impl TableSchema {
    /// The namespace parts and the table name of `name`.
    pub fn split_name(&self) -> (Vec<String>, String) {
        let mut parts: Vec<String> = self.name.split('.').map(str::to_owned).collect();
        let table = parts.pop().unwrap_or_default();
        (parts, table)
    }
}
