//! One Iceberg output table: creation/validation and writing uncommitted Parquet data files.
//! The checkpoint-tagged commit lives in `table_commit.rs`, the markers it writes in
//! `commit_marker.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, LargeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use floe_common::schema::{ColumnType, PartitionTransform, TableSchema};

use crate::catalog_call::{read, with_deadline};
use iceberg::arrow::{schema_to_arrow_schema, RecordBatchPartitionSplitter};
use iceberg::spec::{
    deserialize_data_file_from_json, serialize_data_file_to_json, DataFile, DataFileFormat,
    FormatVersion, NestedField, PrimitiveType, Schema, TableMetadata, Transform, Type,
    UnboundPartitionSpec,
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

fn primitive_type(ty: ColumnType) -> PrimitiveType {
    match ty {
        ColumnType::Long => PrimitiveType::Long,
        ColumnType::Int => PrimitiveType::Int,
        ColumnType::Double => PrimitiveType::Double,
        ColumnType::String => PrimitiveType::String,
        ColumnType::Binary => PrimitiveType::Binary,
        ColumnType::Boolean => PrimitiveType::Boolean,
        ColumnType::TimestampTz => PrimitiveType::Timestamptz,
    }
}

/// The iceberg schema for `spec` (field ids 1..=n in column order).
fn iceberg_schema(spec: &TableSchema) -> Result<Schema, TableError> {
    let invalid = |reason: String| TableError::InvalidSchema {
        table: spec.name.clone(),
        reason,
    };
    if spec.columns.is_empty() {
        return Err(invalid("no columns".into()));
    }
    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(spec.columns.len());
    for (i, col) in spec.columns.iter().enumerate() {
        if col.name.is_empty() {
            return Err(invalid("empty column name".into()));
        }
        if !seen.insert(col.name.as_str()) {
            return Err(invalid(format!("duplicate column `{}`", col.name)));
        }
        let id = i32::try_from(i + 1).map_err(|_| invalid("too many columns".into()))?;
        fields.push(Arc::new(NestedField::new(
            id,
            &col.name,
            Type::Primitive(primitive_type(col.ty)),
            col.required,
        )));
    }
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

fn transform_of(t: &PartitionTransform) -> Transform {
    match t {
        PartitionTransform::Identity => Transform::Identity,
        PartitionTransform::Hour => Transform::Hour,
        PartitionTransform::Day => Transform::Day,
        PartitionTransform::Month => Transform::Month,
        PartitionTransform::Year => Transform::Year,
    }
}

/// Partition field name as Spark/Java name it (`col`, `col_hour`, `col_day`, ...).
fn partition_field_name(column: &str, t: &PartitionTransform) -> String {
    match t {
        PartitionTransform::Identity => column.to_owned(),
        PartitionTransform::Hour => format!("{column}_hour"),
        PartitionTransform::Day => format!("{column}_day"),
        PartitionTransform::Month => format!("{column}_month"),
        PartitionTransform::Year => format!("{column}_year"),
    }
}

fn unbound_partition_spec(spec: &TableSchema) -> Result<UnboundPartitionSpec, TableError> {
    let invalid = |reason: String| TableError::InvalidSchema {
        table: spec.name.clone(),
        reason,
    };
    let mut builder = UnboundPartitionSpec::builder();
    for pf in &spec.partition {
        let (idx, col) = spec
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == pf.column)
            .ok_or_else(|| invalid(format!("partition column `{}` is not a column", pf.column)))?;
        let time_based = !matches!(pf.transform, PartitionTransform::Identity);
        if time_based && col.ty != ColumnType::TimestampTz {
            return Err(invalid(format!(
                "partition transform {:?} needs a timestamp column, `{}` is {:?}",
                pf.transform, pf.column, col.ty
            )));
        }
        let source_id = i32::try_from(idx + 1).map_err(|_| invalid("too many columns".into()))?;
        builder = builder
            .add_partition_field(
                source_id,
                partition_field_name(&pf.column, &pf.transform),
                transform_of(&pf.transform),
            )
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(builder.build())
}

/// Differences between the columns Floe writes and the table's current schema.
fn schema_problems(spec: &TableSchema, metadata: &TableMetadata) -> Vec<String> {
    let schema = metadata.current_schema();
    let table_fields = schema.as_struct().fields();
    let mut problems = Vec::new();
    for col in &spec.columns {
        let Some(field) = table_fields.iter().find(|f| f.name == col.name) else {
            problems.push(format!("column `{}` is missing from the table", col.name));
            continue;
        };
        let expected = Type::Primitive(primitive_type(col.ty));
        if *field.field_type != expected {
            problems.push(format!(
                "column `{}` is {} in the table but Floe writes {}",
                col.name, field.field_type, expected
            ));
        }
        if field.required && !col.required {
            problems.push(format!(
                "column `{}` is required in the table but nullable in Floe",
                col.name
            ));
        }
    }
    for field in table_fields {
        if !spec.columns.iter().any(|c| c.name == field.name) {
            problems.push(format!(
                "table has column `{}` that Floe does not write",
                field.name
            ));
        }
    }
    problems
}

fn warn_on_partition_difference(spec: &TableSchema, metadata: &TableMetadata) {
    let schema = metadata.current_schema();
    let actual: Vec<(String, Transform)> = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|f| {
            let column = schema
                .field_by_id(f.source_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            (column, f.transform)
        })
        .collect();
    let wanted: Vec<(String, Transform)> = spec
        .partition
        .iter()
        .map(|p| (p.column.clone(), transform_of(&p.transform)))
        .collect();
    if actual != wanted {
        tracing::warn!(
            table = %spec.name,
            ?actual,
            ?wanted,
            "existing table is partitioned differently from the Floe schema; writing with the table's spec"
        );
    }
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
mod tests {
    use super::*;
    use crate::commit_marker::{ancestry, CHECKPOINT_ID_PROPERTY, JOB_ID_PROPERTY};
    use crate::pinned_catalog::PinnedCatalog;
    use crate::test_support::{owner, scan_rows, sqlite_catalog, test_schema, two_day_batch};
    use arrow_array::{Float64Array, Int64Array, TimestampMicrosecondArray};
    use iceberg::transaction::{ApplyTransactionAction, Transaction};

    #[tokio::test]
    async fn interleaved_days_land_in_the_right_partitions() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        let table = IcebergTable::open_or_create(catalog, &test_schema("gold.interleaved"))
            .await
            .expect("create");
        // Runs of one, two and one rows per day: each run's key must match its rows.
        let rows = two_day_batch();
        let order = arrow_array::UInt32Array::from(vec![0, 2, 3, 1]);
        let columns = rows
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &order, None).expect("take"))
            .collect();
        let batch = RecordBatch::try_new(rows.schema(), columns).expect("batch");
        let files = table.write_data_files(batch).await.expect("write");
        let mut per_day: Vec<(String, u64)> = files
            .iter()
            .map(|f| {
                let day = f
                    .file_path()
                    .split('/')
                    .find_map(|s| s.strip_prefix("window_start_day="))
                    .expect("a day partition directory")
                    .to_owned();
                (day, f.record_count())
            })
            .collect();
        per_day.sort();
        assert_eq!(
            per_day,
            [("2024-01-01".to_owned(), 2), ("2024-01-02".to_owned(), 2)]
        );
    }

    #[tokio::test]
    async fn write_commit_idempotent_and_readable() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        let spec = test_schema("gold.stats.video_1min");
        let table = IcebergTable::open_or_create(catalog.clone(), &spec)
            .await
            .expect("create");
        let fields = table.arrow_schema();
        assert_eq!(fields.fields().len(), 5);
        assert!(fields.field(0).metadata().contains_key("PARQUET:field_id"));
        assert_eq!(
            table
                .reload()
                .await
                .expect("reload")
                .metadata()
                .properties()[PARQUET_COMPRESSION_PROPERTY],
            "zstd"
        );

        // Empty batch: nothing written.
        let empty = RecordBatch::new_empty(table.arrow_schema());
        assert!(table
            .write_data_files(empty)
            .await
            .expect("empty")
            .is_empty());

        let files = table
            .write_data_files(two_day_batch())
            .await
            .expect("write");
        assert!(files.len() >= 2, "one file per day, got {}", files.len());
        assert_eq!(files.iter().map(DataFile::record_count).sum::<u64>(), 4);
        for f in &files {
            assert!(
                f.file_path().contains("window_start_day="),
                "{}",
                f.file_path()
            );
            assert!(f.file_path().contains("/floe-"), "{}", f.file_path());
            let local = f.file_path().trim_start_matches("file://");
            let reader = parquet::file::reader::SerializedFileReader::new(
                std::fs::File::open(local).expect("open parquet"),
            )
            .expect("parquet");
            use parquet::file::reader::FileReader;
            let codec = reader.metadata().row_group(0).column(0).compression();
            assert!(matches!(codec, Compression::ZSTD(_)), "{codec:?}");
        }

        // JSON round trip (what workers ship to the coordinator).
        let json = data_files_to_json(&files, &table).expect("to json");
        let back = data_files_from_json(&json, &table).expect("from json");
        assert_eq!(back, files);

        assert_eq!(
            table
                .last_committed_checkpoint("job-1")
                .await
                .expect("last"),
            None
        );
        let first = table
            .commit(&owner("job-1"), 1, back)
            .await
            .expect("commit 1");
        assert!(
            matches!(first, CommitOutcome::Committed { .. }),
            "{first:?}"
        );
        let again = table
            .commit(&owner("job-1"), 1, files.clone())
            .await
            .expect("re-commit 1");
        assert_eq!(again, CommitOutcome::AlreadyCommitted { last: 1 });
        assert_eq!(
            scan_rows(&table).await,
            4,
            "re-commit must not duplicate rows"
        );

        let more = table
            .write_data_files(two_day_batch())
            .await
            .expect("write 2");
        let second = table
            .commit(&owner("job-1"), 2, more)
            .await
            .expect("commit 2");
        let CommitOutcome::Committed { snapshot_id } = second else {
            panic!("expected Committed, got {second:?}");
        };
        let current = table.reload().await.expect("reload");
        assert_eq!(current.metadata().current_snapshot_id(), Some(snapshot_id));
        assert_eq!(
            table
                .last_committed_checkpoint("job-1")
                .await
                .expect("last"),
            Some(2)
        );
        assert_eq!(scan_rows(&table).await, 8);

        // Older checkpoints are refused too.
        assert_eq!(
            table
                .commit(&owner("job-1"), 1, Vec::new())
                .await
                .expect("old"),
            CommitOutcome::AlreadyCommitted { last: 2 }
        );

        // Another job commits on top (with data); job-1's checkpoint must still be found
        // through the ancestry, and job-2 has its own sequence.
        let other = table
            .write_data_files(two_day_batch())
            .await
            .expect("write other");
        let o = table
            .commit(&owner("other"), 7, other)
            .await
            .expect("other job");
        assert!(matches!(o, CommitOutcome::Committed { .. }));
        // An empty commit is recorded as its own snapshot.
        let e = table
            .commit(&owner("other"), 8, Vec::new())
            .await
            .expect("empty commit");
        let CommitOutcome::Committed {
            snapshot_id: empty_snap,
        } = e
        else {
            panic!("expected Committed, got {e:?}");
        };
        let current = table.reload().await.expect("reload");
        assert_eq!(current.metadata().current_snapshot_id(), Some(empty_snap));
        assert_eq!(
            table
                .last_committed_checkpoint("job-1")
                .await
                .expect("last"),
            Some(2)
        );
        assert_eq!(
            table
                .last_committed_checkpoint("other")
                .await
                .expect("last"),
            Some(8)
        );
        assert_eq!(
            table
                .commit(&owner("job-1"), 2, Vec::new())
                .await
                .expect("dup"),
            CommitOutcome::AlreadyCommitted { last: 2 }
        );
        assert_eq!(scan_rows(&table).await, 12);
        let ancestry_len = ancestry(current.metadata()).len();
        assert_eq!(ancestry_len, 4);

        // A second connection to the same SQLite file sees the same table.
        let catalog2 = sqlite_catalog(&dir).await;
        let reopened = IcebergTable::open_or_create(catalog2.clone(), &spec)
            .await
            .expect("reopen");
        assert_eq!(
            reopened
                .last_committed_checkpoint("job-1")
                .await
                .expect("last"),
            Some(2)
        );
        assert_eq!(scan_rows(&reopened).await, 12);
        let loaded = catalog2
            .load_table(&TableIdent::from_strs(["gold", "stats", "video_1min"]).expect("ident"))
            .await
            .expect("load via second connection");
        assert_eq!(loaded.metadata().current_snapshot_id(), Some(empty_snap));
    }

    #[tokio::test]
    async fn schema_mismatch_and_bad_batches_are_clear_errors() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        let spec = test_schema("db.t");
        let table = IcebergTable::open_or_create(catalog.clone(), &spec)
            .await
            .expect("create");

        let mut changed = spec.clone();
        changed.columns[2].ty = ColumnType::Double;
        changed.columns.push(floe_common::schema::Column::new(
            "extra",
            ColumnType::Int,
            false,
        ));
        let err = IcebergTable::open_or_create(catalog.clone(), &changed)
            .await
            .expect_err("mismatch");
        let msg = err.to_string();
        assert!(msg.contains("`views`") && msg.contains("`extra`"), "{msg}");

        // Same columns in another order: accepted.
        let mut reordered = spec.clone();
        reordered.columns.swap(0, 4);
        IcebergTable::open_or_create(catalog.clone(), &reordered)
            .await
            .expect("reordered columns are fine");

        // Missing column.
        let batch = two_day_batch();
        let partial = batch.project(&[0, 1, 2]).expect("project");
        let err = table.write_data_files(partial).await.expect_err("missing");
        assert!(
            err.to_string().contains("missing column `avg_watch`"),
            "{err}"
        );

        // Null in a required column.
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            arrow_schema::Field::new("video_id", DataType::Utf8, true),
            arrow_schema::Field::new("views", DataType::Int64, true),
            arrow_schema::Field::new("avg_watch", DataType::Float64, true),
            arrow_schema::Field::new("sketch", DataType::LargeBinary, true),
        ]));
        let nulls = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![0]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec![None::<&str>])),
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(Float64Array::from(vec![1.0])),
                Arc::new(LargeBinaryArray::from_opt_vec(vec![None])),
            ],
        )
        .expect("batch");
        let err = table.write_data_files(nulls).await.expect_err("nulls");
        assert!(matches!(err, TableError::Arrow { .. }), "{err}");

        // Bad names / partitioning.
        let mut bad = spec.clone();
        bad.name = "no_namespace".into();
        assert!(matches!(
            IcebergTable::open_or_create(catalog.clone(), &bad).await,
            Err(TableError::InvalidName(_))
        ));
        let mut bad = spec.clone();
        bad.name = "db.t2".into();
        bad.partition[0].column = "views".into();
        assert!(matches!(
            IcebergTable::open_or_create(catalog.clone(), &bad).await,
            Err(TableError::InvalidSchema { .. })
        ));
    }

    #[tokio::test]
    async fn unpartitioned_table_and_first_commit_empty() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        let mut spec = test_schema("db.flat");
        spec.partition.clear();
        let table = IcebergTable::open_or_create(catalog, &spec)
            .await
            .expect("create");
        let out = table
            .commit(&owner("j"), 1, Vec::new())
            .await
            .expect("empty first");
        assert!(matches!(out, CommitOutcome::Committed { .. }));
        assert_eq!(
            table.last_committed_checkpoint("j").await.expect("last"),
            Some(1)
        );
        assert_eq!(scan_rows(&table).await, 0);
        let files = table
            .write_data_files(two_day_batch())
            .await
            .expect("write");
        assert_eq!(files.len(), 1);
        table.commit(&owner("j"), 2, files).await.expect("commit");
        assert_eq!(scan_rows(&table).await, 4);
    }

    /// Several jobs of one process create their tables (and a shared namespace) at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creation_of_a_namespace_and_table_succeeds() {
        for round in 0..5 {
            let dir = tempfile::TempDir::new().expect("tempdir");
            let catalog = sqlite_catalog(&dir).await;
            let opens = (0..6).map(|i| {
                let catalog = catalog.clone();
                let name = format!("shared.t{}", i % 2);
                tokio::spawn(async move {
                    IcebergTable::open_or_create(catalog, &test_schema(&name)).await
                })
            });
            for result in futures::future::join_all(opens).await {
                let opened = result.expect("join");
                assert!(opened.is_ok(), "round {round}: {:?}", opened.err());
            }
        }
    }

    /// A stale commit (built on an old snapshot) must not be rebased silently: we pin each
    /// attempt to the checked snapshot, so the catalog reports a conflict.
    #[tokio::test]
    async fn pinned_commit_conflicts_instead_of_rebasing() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let catalog = sqlite_catalog(&dir).await;
        let mut spec = test_schema("db.pin");
        spec.partition.clear();
        let table = IcebergTable::open_or_create(catalog.clone(), &spec)
            .await
            .expect("create");
        let stale = table.reload().await.expect("reload");
        table
            .commit(&owner("j"), 1, Vec::new())
            .await
            .expect("commit 1");

        let props = HashMap::from([
            (JOB_ID_PROPERTY.to_owned(), "j".to_owned()),
            (CHECKPOINT_ID_PROPERTY.to_owned(), "1".to_owned()),
        ]);
        let tx = Transaction::new(&stale);
        let tx = tx
            .fast_append()
            .set_snapshot_properties(props)
            .apply(tx)
            .expect("apply");
        let pinned = PinnedCatalog {
            inner: catalog.clone(),
            base: stale,
        };
        let err = tx.commit(&pinned).await.expect_err("must conflict");
        assert_eq!(err.kind(), ErrorKind::CatalogCommitConflicts);
        assert_eq!(
            table.last_committed_checkpoint("j").await.expect("last"),
            Some(1)
        );
        assert_eq!(
            ancestry(table.reload().await.expect("reload").metadata()).len(),
            1
        );
    }
}
