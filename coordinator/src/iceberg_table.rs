//! One Iceberg output table: creation/validation and writing uncommitted Parquet data files.
//! The checkpoint-tagged commit lives in `table_commit.rs`, the markers it writes in
//! `commit_marker.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, LargeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use floe_common::schema::TableSchema;
use iceberg::arrow::{schema_to_arrow_schema, RecordBatchPartitionSplitter};
use iceberg::spec::{
    deserialize_data_file_from_json, serialize_data_file_to_json, DataFile, DataFileFormat,
    FormatVersion,
};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::catalog_call::{read, with_deadline};
use crate::table_schema::{
    iceberg_schema, schema_problems, unbound_partition_spec, warn_on_partition_difference,
};

/// Table property selecting the Parquet codec (read by Spark/pyiceberg writers too).
pub(crate) const PARQUET_COMPRESSION_PROPERTY: &str = "write.parquet.compression-codec";

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// `TableSchema.name` is not `namespace[.namespace...].table`.
    #[error("invalid table name `{0}`: expected `namespace.table` with non-empty parts")]
    InvalidName(String),
    /// The `TableSchema` itself is unusable (duplicate/unknown columns, bad partitioning).
    #[error("invalid schema for table `{table}`: {reason}")]
    InvalidSchema { table: String, reason: String },
    /// The table exists with columns that differ from what Floe writes.
    #[error("table `{table}` exists with a different schema: {}", .problems.join("; "))]
    SchemaMismatch {
        table: String,
        problems: Vec<String>,
    },
    /// A batch handed to `write_data_files` does not fit the table schema.
    #[error("batch does not match table `{table}`: {reason}")]
    BatchMismatch { table: String, reason: String },
    /// A catalog call failed.
    #[error("catalog operation `{op}` failed for `{table}`: {source}")]
    Catalog {
        op: &'static str,
        table: String,
        #[source]
        source: iceberg::Error,
    },
    /// Writing Parquet data files failed (files written so far are orphans, never committed).
    #[error("writing data files for `{table}` failed: {source}")]
    Write {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    /// A Floe marker of this job in the table is not an unsigned integer.
    #[error("`{table}` has an unparsable Floe marker in {place}: `{value}`")]
    BadMarker {
        table: String,
        place: String,
        value: String,
    },
    /// A newer process of the job has taken the table over: this one must stop.
    #[error(
        "`{table}` is owned by a newer process of job {job} (epoch {owner} > this process's {mine}); \
         this process was replaced and stops"
    )]
    Fenced {
        table: String,
        job: String,
        mine: u64,
        owner: u64,
    },
    /// Every commit attempt lost a race with another writer.
    #[error("commit of {what} to `{table}` conflicted {attempts} times: {source}")]
    CommitConflict {
        table: String,
        what: String,
        attempts: u32,
        #[source]
        source: iceberg::Error,
    },
    /// The commit failed and a re-check showed it is not in the table: safe to retry.
    #[error("commit of {what} to `{table}` failed (verified not committed): {source}")]
    CommitFailed {
        table: String,
        what: String,
        #[source]
        source: iceberg::Error,
    },
    /// The commit failed and the table could not be reloaded to find out whether it landed.
    /// Retrying `commit` is still safe: it re-checks first.
    #[error(
        "commit of {what} to `{table}` failed ({commit_error}) and its outcome is unknown: reload failed: {source}"
    )]
    CommitStateUnknown {
        table: String,
        what: String,
        commit_error: iceberg::Error,
        #[source]
        source: iceberg::Error,
    },
    /// Data file metadata could not be converted to or from JSON.
    #[error("data file JSON conversion for `{table}` failed: {source}")]
    DataFileJson {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    /// Arrow rejected a batch (e.g. nulls in a required column).
    #[error("arrow error for `{table}`: {source}")]
    Arrow {
        table: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A caller-supplied argument is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// What [`IcebergTable::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new snapshot now records this checkpoint (and its files).
    Committed { snapshot_id: i64 },
    /// The table already records checkpoint `last >= checkpoint_id` for this job; nothing done.
    AlreadyCommitted { last: u64 },
}

/// One Iceberg output table Floe appends to.
///
/// Exists so the coordinator (the single committer) and the writers share one definition of
/// "the table": its schema as Arrow, how files are laid out, and how checkpoints are recorded.
/// The table's schema, partition spec and location are captured when it is opened; reopen it
/// if the table is evolved by someone else.
#[derive(Debug, Clone)]
pub struct IcebergTable {
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) ident: TableIdent,
    /// The table as opened; used for its schema, partition spec, location and FileIO.
    table: Table,
    arrow_schema: arrow_schema::SchemaRef,
}

impl IcebergTable {
    /// Creates the namespace (recursively) and the table if missing, or checks that an existing
    /// table has exactly the columns of `spec` (name, type, and that Floe's nullable columns are
    /// not required in the table).
    ///
    /// New tables are format v2, partitioned per `spec.partition`, with
    /// `write.parquet.compression-codec=zstd`.
    pub async fn open_or_create(
        catalog: Arc<dyn Catalog>,
        spec: &TableSchema,
    ) -> Result<Self, TableError> {
        let (ns_parts, name) = spec.split_name();
        if name.is_empty() || ns_parts.is_empty() || ns_parts.iter().any(String::is_empty) {
            return Err(TableError::InvalidName(spec.name.clone()));
        }
        let table_name = spec.name.clone();
        let catalog_err = |op: &'static str| {
            let table = table_name.clone();
            move |source: iceberg::Error| TableError::Catalog {
                op,
                table: table.clone(),
                source,
            }
        };
        let schema = iceberg_schema(spec)?;
        let partition = unbound_partition_spec(spec)?;

        let namespace = NamespaceIdent::from_vec(ns_parts.clone())
            .map_err(|_| TableError::InvalidName(spec.name.clone()))?;
        ensure_namespace(catalog.as_ref(), &ns_parts, &spec.name).await?;
        let ident = TableIdent::new(namespace.clone(), name.clone());

        let exists = read("table_exists", || catalog.table_exists(&ident))
            .await
            .map_err(catalog_err("table_exists"))?;
        let table = if exists {
            read("load_table", || catalog.load_table(&ident))
                .await
                .map_err(catalog_err("load_table"))?
        } else {
            let creation = TableCreation::builder()
                .name(name.clone())
                .schema(schema)
                .partition_spec(partition)
                .properties([(PARQUET_COMPRESSION_PROPERTY.to_owned(), "zstd".to_owned())])
                .format_version(FormatVersion::V2)
                .build();
            match with_deadline("create_table", catalog.create_table(&namespace, creation)).await {
                Ok(t) => t,
                // Lost a creation race with another process or job (or the answer to a
                // creation that landed): use the table there (checked below). The SQL catalog
                // reports a lost race as a unique-constraint error.
                Err(e)
                    if e.kind() == ErrorKind::TableAlreadyExists
                        || read("table_exists", || catalog.table_exists(&ident))
                            .await
                            .unwrap_or(false) =>
                {
                    read("load_table", || catalog.load_table(&ident))
                        .await
                        .map_err(catalog_err("load_table"))?
                }
                Err(e) => return Err(catalog_err("create_table")(e)),
            }
        };

        let problems = schema_problems(spec, table.metadata());
        if !problems.is_empty() {
            return Err(TableError::SchemaMismatch {
                table: spec.name.clone(),
                problems,
            });
        }
        warn_on_partition_difference(spec, table.metadata());

        let arrow_schema = schema_to_arrow_schema(table.metadata().current_schema())
            .map_err(catalog_err("schema_to_arrow_schema"))?;
        Ok(Self {
            catalog,
            ident,
            table,
            arrow_schema: Arc::new(arrow_schema),
        })
    }

    /// Arrow schema (in table column order, carrying the `PARQUET:field_id` metadata the
    /// iceberg writers need) of the batches `write_data_files` writes.
    ///
    /// `write_data_files` also accepts batches whose columns are in another order, lack the
    /// field-id metadata, use `Binary`/`LargeUtf8` for binary/string columns, or use a naive or
    /// `"UTC"` microsecond timestamp for timestamptz columns; it converts them to this schema.
    pub fn arrow_schema(&self) -> arrow_schema::SchemaRef {
        self.arrow_schema.clone()
    }

    /// The catalog identifier of this table.
    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    /// Loads the table's current state from the catalog (e.g. to scan it).
    pub async fn reload(&self) -> Result<Table, TableError> {
        read("load_table", || self.catalog.load_table(&self.ident))
            .await
            .map_err(|source| TableError::Catalog {
                op: "load_table",
                table: self.ident.to_string(),
                source,
            })
    }

    /// Writes the batch as one or more zstd Parquet data files under the table's data location
    /// (one or more per partition value when partitioned), without committing them.
    ///
    /// File names are `floe-<uuid v4>-<n>.parquet`, unique across processes and retries. An
    /// empty batch writes nothing and returns an empty vec. If writing fails midway, files
    /// already written are left as uncommitted orphans (invisible to readers).
    pub async fn write_data_files(&self, batch: RecordBatch) -> Result<Vec<DataFile>, TableError> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let batch = self.conform_batch(batch)?;
        let write_err = |source: iceberg::Error| TableError::Write {
            table: self.ident.to_string(),
            source,
        };

        let metadata = self.table.metadata();
        let schema = metadata.current_schema().clone();
        let partition_spec = metadata.default_partition_spec().clone();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let parquet = ParquetWriterBuilder::new(props, schema.clone());
        let locations = DefaultLocationGenerator::new(metadata).map_err(write_err)?;
        let names = DefaultFileNameGenerator::new(
            format!("floe-{}", uuid::Uuid::new_v4()),
            None,
            DataFileFormat::Parquet,
        );
        let rolling = RollingFileWriterBuilder::new_with_default_file_size(
            parquet,
            self.table.file_io().clone(),
            locations,
            names,
        );
        let data_files = DataFileWriterBuilder::new(rolling);

        if partition_spec.is_unpartitioned() {
            let mut writer = data_files.build(None).await.map_err(write_err)?;
            writer.write(batch).await.map_err(write_err)?;
            writer.close().await.map_err(write_err)
        } else {
            let sources = partition_source_columns(&batch, &schema, &partition_spec);
            let splitter =
                RecordBatchPartitionSplitter::try_new_with_computed_values(schema, partition_spec)
                    .map_err(write_err)?;
            let mut writer = FanoutWriter::new(data_files);
            match sources.and_then(|cols| arrow_ord::partition::partition(&cols).ok()) {
                // Runs of rows with equal partition source values share a partition key, so
                // the splitter (which builds Iceberg literals row by row) sees one row per run.
                // Rows arrive ordered by window, so a checkpoint has a handful of runs.
                Some(runs) => {
                    for run in runs.ranges() {
                        let part = batch.slice(run.start, run.end - run.start);
                        let key = splitter
                            .split(&part.slice(0, 1))
                            .map_err(write_err)?
                            .into_iter()
                            .next()
                            .map(|(key, _)| key)
                            .ok_or_else(|| TableError::BatchMismatch {
                                table: self.ident.to_string(),
                                reason: "no partition key for a non-empty run of rows".into(),
                            })?;
                        writer.write(key, part).await.map_err(write_err)?;
                    }
                }
                None => {
                    for (key, part) in splitter.split(&batch).map_err(write_err)? {
                        writer.write(key, part).await.map_err(write_err)?;
                    }
                }
            }
            writer.close().await.map_err(write_err)
        }
    }

    /// Reorders/converts a batch to `self.arrow_schema` (see [`Self::arrow_schema`]).
    fn conform_batch(&self, batch: RecordBatch) -> Result<RecordBatch, TableError> {
        let mismatch = |reason: String| TableError::BatchMismatch {
            table: self.ident.to_string(),
            reason,
        };
        let input = batch.schema();
        let wanted: HashSet<&str> = self
            .arrow_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if let Some(extra) = input
            .fields()
            .iter()
            .find(|f| !wanted.contains(f.name().as_str()))
        {
            return Err(mismatch(format!("unexpected column `{}`", extra.name())));
        }
        let mut columns = Vec::with_capacity(self.arrow_schema.fields().len());
        for field in self.arrow_schema.fields() {
            let idx = input
                .index_of(field.name())
                .map_err(|_| mismatch(format!("missing column `{}`", field.name())))?;
            let column = convert_column(batch.column(idx), field.data_type()).ok_or_else(|| {
                mismatch(format!(
                    "column `{}` is {} but the table needs {}",
                    field.name(),
                    batch.column(idx).data_type(),
                    field.data_type()
                ))
            })?;
            columns.push(column);
        }
        RecordBatch::try_new(self.arrow_schema.clone(), columns).map_err(|source| {
            TableError::Arrow {
                table: self.ident.to_string(),
                source,
            }
        })
    }

    fn partition_type_and_version(&self) -> (&iceberg::spec::StructType, FormatVersion) {
        let metadata = self.table.metadata();
        (metadata.default_partition_type(), metadata.format_version())
    }
}

/// Serializes data file metadata (e.g. to ship it from workers to the coordinator or to keep it
/// in a checkpoint), using iceberg's own JSON form of the manifest entry.
pub fn data_files_to_json(
    files: &[DataFile],
    table: &IcebergTable,
) -> Result<Vec<String>, TableError> {
    let (partition_type, version) = table.partition_type_and_version();
    files
        .iter()
        .map(|f| {
            serialize_data_file_to_json(f.clone(), partition_type, version).map_err(|source| {
                TableError::DataFileJson {
                    table: table.ident.to_string(),
                    source,
                }
            })
        })
        .collect()
}

/// Inverse of [`data_files_to_json`]; the files are bound to the table's default partition spec
/// (the one `write_data_files` writes with).
pub fn data_files_from_json(
    json: &[String],
    table: &IcebergTable,
) -> Result<Vec<DataFile>, TableError> {
    let metadata = table.table.metadata();
    json.iter()
        .map(|j| {
            deserialize_data_file_from_json(
                j,
                metadata.default_partition_spec_id(),
                metadata.default_partition_type(),
                metadata.current_schema(),
            )
            .map_err(|source| TableError::DataFileJson {
                table: table.ident.to_string(),
                source,
            })
        })
        .collect()
}

/// Creates `a`, `a.b`, ... as needed (tolerating concurrent creation).
async fn ensure_namespace(
    catalog: &dyn Catalog,
    parts: &[String],
    table: &str,
) -> Result<(), TableError> {
    let err = |op: &'static str| {
        move |source: iceberg::Error| TableError::Catalog {
            op,
            table: table.to_owned(),
            source,
        }
    };
    for depth in 1..=parts.len() {
        let ns = NamespaceIdent::from_vec(parts[..depth].to_vec())
            .map_err(|_| TableError::InvalidName(table.to_owned()))?;
        let exists = || read("namespace_exists", || catalog.namespace_exists(&ns));
        if exists().await.map_err(err("namespace_exists"))? {
            continue;
        }
        match with_deadline(
            "create_namespace",
            catalog.create_namespace(&ns, HashMap::new()),
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
            // The SQL catalog reports a lost creation race as a unique-constraint error.
            Err(e) => {
                if !exists().await.unwrap_or(false) {
                    return Err(err("create_namespace")(e));
                }
            }
        }
    }
    Ok(())
}

fn is_utc(tz: &str) -> bool {
    matches!(
        tz,
        "+00:00" | "UTC" | "utc" | "Z" | "+0000" | "+00" | "Etc/UTC" | "GMT"
    )
}

/// `column` as `target`, for the few representation differences we accept; `None` if the types
/// are incompatible.
fn convert_column(column: &ArrayRef, target: &DataType) -> Option<ArrayRef> {
    let source = column.data_type();
    if source == target {
        return Some(column.clone());
    }
    match (source, target) {
        (DataType::Binary, DataType::LargeBinary) => {
            let values = column.as_binary_opt::<i32>()?;
            Some(Arc::new(values.iter().collect::<LargeBinaryArray>()))
        }
        (DataType::LargeUtf8, DataType::Utf8) => {
            let values = column.as_string_opt::<i64>()?;
            Some(Arc::new(values.iter().collect::<StringArray>()))
        }
        (
            DataType::Timestamp(TimeUnit::Microsecond, tz),
            DataType::Timestamp(TimeUnit::Microsecond, Some(target_tz)),
        ) if tz.as_deref().is_none_or(is_utc) => {
            let values = column.as_primitive_opt::<TimestampMicrosecondType>()?;
            Some(Arc::new(values.clone().with_timezone(target_tz.clone())))
        }
        _ => None,
    }
}

/// The top-level columns of `batch` that `spec`'s partition values are computed from, or `None`
/// when one is nested or missing (the caller then splits row by row).
fn partition_source_columns(
    batch: &RecordBatch,
    schema: &iceberg::spec::Schema,
    spec: &iceberg::spec::PartitionSpec,
) -> Option<Vec<ArrayRef>> {
    spec.fields()
        .iter()
        .map(|f| {
            let name = &schema.field_by_id(f.source_id)?.name;
            let index = batch.schema().index_of(name).ok()?;
            Some(batch.column(index).clone())
        })
        .collect()
}

#[cfg(test)]
#[path = "iceberg_table_tests.rs"]
mod tests;
