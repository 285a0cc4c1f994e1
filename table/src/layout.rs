//! `TableLayout`: what writing data files for one Iceberg table needs.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use floe_common::schema::TableSchema;
use floe_common::table_target::TableTarget;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::io::FileIO;
use iceberg::spec::{
    FormatVersion, SortOrder, TableMetadata, TableMetadataBuilder, TableProperties,
};
use iceberg::table::Table;

use crate::file_io::{file_io, fill_s3_defaults, is_s3_location};
use crate::table_schema::{iceberg_schema, unbound_partition_spec};
use crate::DataFileError;

/// Metadata keys that record a table's history, which writing new files never needs.
const HISTORY_KEYS: &[&str] = &[
    "snapshots",
    "snapshot-log",
    "metadata-log",
    "refs",
    "statistics",
    "partition-statistics",
    "current-snapshot-id",
];

/// One Iceberg table as its writers see it: schema (with the table's field ids), partition
/// spec, location and FileIO.
///
/// Exists so the committer and the workers write data files the same way: the committer's
/// layout comes from the catalog, a worker's from the [`TableTarget`] sent with its assignment.
/// Schema and partitioning are fixed when it is made; make it again if the table evolves.
#[derive(Debug, Clone)]
pub struct TableLayout {
    pub(crate) name: String,
    pub(crate) metadata: Arc<TableMetadata>,
    pub(crate) file_io: FileIO,
    pub(crate) arrow_schema: SchemaRef,
    /// Data files roll at this size.
    pub(crate) target_file_bytes: usize,
}

impl TableLayout {
    /// The layout of a table loaded from a catalog, writing through the table's own FileIO.
    pub fn of_table(name: impl Into<String>, table: &Table) -> Result<Self, DataFileError> {
        Self::new(name.into(), table.metadata_ref(), table.file_io().clone())
    }

    /// The layout a worker receives: S3 settings missing from the target's FileIO properties
    /// (the secrets of a remote worker's) come from this process's `AWS_*` environment.
    pub fn from_target(target: &TableTarget) -> Result<Self, DataFileError> {
        let metadata: TableMetadata =
            serde_json::from_str(&target.metadata_json).map_err(|e| DataFileError::Metadata {
                table: target.table.clone(),
                reason: e.to_string(),
            })?;
        let mut props: HashMap<String, String> = target.file_io.clone().into_iter().collect();
        if is_s3_location(metadata.location()) {
            fill_s3_defaults(&mut props, |k| std::env::var(k).ok());
        }
        Self::new(target.table.clone(), Arc::new(metadata), file_io(props))
    }

    /// A table no catalog holds, at `location`, laid out as Floe creates its tables: for tools
    /// and tests that only write files.
    pub fn for_schema(spec: &TableSchema, location: &str) -> Result<Self, DataFileError> {
        let invalid = |e: iceberg::Error| DataFileError::Metadata {
            table: spec.name.clone(),
            reason: e.to_string(),
        };
        let metadata = TableMetadataBuilder::new(
            iceberg_schema(spec)?,
            unbound_partition_spec(spec)?,
            SortOrder::unsorted_order(),
            location.to_owned(),
            FormatVersion::V2,
            HashMap::new(),
        )
        .map_err(invalid)?
        .build()
        .map_err(invalid)?
        .metadata;
        Self::new(
            spec.name.clone(),
            Arc::new(metadata),
            file_io(HashMap::new()),
        )
    }

    fn new(
        name: String,
        metadata: Arc<TableMetadata>,
        file_io: FileIO,
    ) -> Result<Self, DataFileError> {
        let arrow_schema = schema_to_arrow_schema(metadata.current_schema()).map_err(|e| {
            DataFileError::Metadata {
                table: name.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            name,
            metadata,
            file_io,
            arrow_schema: Arc::new(arrow_schema),
            target_file_bytes: TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
        })
    }

    /// The same layout, rolling data files at `bytes`.
    pub fn with_target_file_bytes(mut self, bytes: u64) -> Self {
        self.target_file_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        self
    }

    /// The size data files roll at.
    pub fn target_file_bytes(&self) -> usize {
        self.target_file_bytes
    }

    /// What a worker needs to write this table's files: the metadata without its history and
    /// the FileIO properties (secrets included: [`TableTarget::for_the_wire`] before they
    /// leave the process).
    pub fn target(&self) -> Result<TableTarget, DataFileError> {
        let bad = |reason: String| DataFileError::Metadata {
            table: self.name.clone(),
            reason,
        };
        let mut json = serde_json::to_value(&*self.metadata).map_err(|e| bad(e.to_string()))?;
        let object = json
            .as_object_mut()
            .ok_or_else(|| bad("metadata is not a JSON object".into()))?;
        for key in HISTORY_KEYS {
            object.remove(*key);
        }
        Ok(TableTarget {
            table: self.name.clone(),
            metadata_json: json.to_string(),
            file_io: self
                .file_io
                .config()
                .props()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// `namespace.table`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Arrow schema (in table column order, carrying the `PARQUET:field_id` metadata the
    /// iceberg writers need) of the batches [`Self::write_data_files`] writes.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow_schema.clone()
    }

    pub fn metadata(&self) -> &TableMetadata {
        &self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::config::example_job;

    #[tokio::test]
    async fn a_target_keeps_the_layout_and_drops_history_and_secrets_on_the_wire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let job = example_job();
        let location = format!("file://{}/late", dir.path().display());
        let mut layout = TableLayout::for_schema(&job.late_table, &location).expect("layout");
        layout.file_io = file_io([
            ("s3.endpoint".to_owned(), "http://s3:8333".to_owned()),
            ("s3.secret-access-key".to_owned(), "hush".to_owned()),
        ]);
        let target = layout.target().expect("target").for_the_wire();
        assert!(!target.metadata_json.contains("\"snapshots\""));
        assert_eq!(
            target.file_io.keys().collect::<Vec<_>>(),
            ["s3.endpoint"],
            "no secret leaves the process"
        );
        let back = TableLayout::from_target(&target).expect("from target");
        assert_eq!(
            back.metadata().current_schema(),
            layout.metadata().current_schema()
        );
        assert_eq!(
            back.metadata().default_partition_spec(),
            layout.metadata().default_partition_spec()
        );
        assert_eq!(back.metadata().location(), location);
        assert_eq!(back.arrow_schema(), layout.arrow_schema());
    }
}
