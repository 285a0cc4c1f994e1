//! One Iceberg output table: creation/validation, writing uncommitted Parquet data files, and
//! the idempotent, checkpoint-tagged commit that gives Floe exactly-once output.
//!
//! Exactly-once rests on two snapshot summary properties written with every commit,
//! [`JOB_ID_PROPERTY`] and [`CHECKPOINT_ID_PROPERTY`]. Before committing checkpoint `n` we walk
//! the snapshot ancestry of the table's current snapshot; if this job already recorded a
//! checkpoint `>= n`, the commit is skipped. Each commit attempt is pinned to the snapshot we
//! checked (see [`PinnedCatalog`]), so a concurrent commit makes the attempt fail with a
//! conflict instead of being silently rebased on top of it; we then re-check and retry.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, LargeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use async_trait::async_trait;
use floe_common::schema::{ColumnType, PartitionTransform, TableSchema};
use iceberg::arrow::{schema_to_arrow_schema, RecordBatchPartitionSplitter};
use iceberg::spec::{
    deserialize_data_file_from_json, serialize_data_file_to_json, DataFile, DataFileFormat,
    FormatVersion, NestedField, PrimitiveType, Schema, SnapshotRef, TableMetadata, Transform, Type,
    UnboundPartitionSpec,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{
    Catalog, ErrorKind, Namespace, NamespaceIdent, TableCommit, TableCreation, TableIdent,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Snapshot summary property naming the Floe job that produced a snapshot.
pub const JOB_ID_PROPERTY: &str = "floe.job-id";
/// Snapshot summary property holding the checkpoint id a snapshot commits.
pub const CHECKPOINT_ID_PROPERTY: &str = "floe.checkpoint-id";

/// Table property selecting the Parquet codec (read by Spark/pyiceberg writers too).
const PARQUET_COMPRESSION_PROPERTY: &str = "write.parquet.compression-codec";

/// How many times a commit is re-checked and retried after losing a race to another writer.
const MAX_COMMIT_ATTEMPTS: u32 = 8;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

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
    /// A snapshot of this job carries a checkpoint id that is not an unsigned integer.
    #[error(
        "snapshot {snapshot_id} of `{table}` has unparsable `{CHECKPOINT_ID_PROPERTY}` = `{value}`"
    )]
    BadCheckpointProperty {
        table: String,
        snapshot_id: i64,
        value: String,
    },
    /// Every commit attempt lost a race with another writer.
    #[error(
        "commit of checkpoint {checkpoint_id} to `{table}` conflicted {attempts} times: {source}"
    )]
    CommitConflict {
        table: String,
        checkpoint_id: u64,
        attempts: u32,
        #[source]
        source: iceberg::Error,
    },
    /// The commit failed and a re-check showed the checkpoint is not in the table: safe to retry.
    #[error("commit of checkpoint {checkpoint_id} to `{table}` failed (verified not committed): {source}")]
    CommitFailed {
        table: String,
        checkpoint_id: u64,
        #[source]
        source: iceberg::Error,
    },
    /// The commit failed and the table could not be reloaded to find out whether it landed.
    /// Retrying `commit` is still safe: it re-checks first.
    #[error(
        "commit of checkpoint {checkpoint_id} to `{table}` failed ({commit_error}) and its outcome is unknown: reload failed: {source}"
    )]
    CommitStateUnknown {
        table: String,
        checkpoint_id: u64,
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
    catalog: Arc<dyn Catalog>,
    ident: TableIdent,
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

        let exists = catalog
            .table_exists(&ident)
            .await
            .map_err(catalog_err("table_exists"))?;
        let table = if exists {
            catalog
                .load_table(&ident)
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
            match catalog.create_table(&namespace, creation).await {
                Ok(t) => t,
                // Lost a creation race with another process: use theirs (checked below).
                Err(e) if e.kind() == ErrorKind::TableAlreadyExists => catalog
                    .load_table(&ident)
                    .await
                    .map_err(catalog_err("load_table"))?,
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
        self.catalog
            .load_table(&self.ident)
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

    /// Reloads the table and returns the largest checkpoint id this job recorded, walking the
    /// ancestry of the current snapshot (so commits by other writers or jobs on top of ours,
    /// or snapshots without Floe properties, do not hide it).
    pub async fn last_committed_checkpoint(&self, job_id: &str) -> Result<Option<u64>, TableError> {
        let table = self.reload().await?;
        last_checkpoint_in_metadata(table.metadata(), job_id, &self.ident)
    }

    /// Commits `files` as checkpoint `checkpoint_id` of `job_id`, exactly once.
    ///
    /// Reloads the table; if this job already recorded a checkpoint `>= checkpoint_id`, returns
    /// [`CommitOutcome::AlreadyCommitted`] without writing anything. Otherwise fast-appends the
    /// files in a snapshot tagged with [`JOB_ID_PROPERTY`] and [`CHECKPOINT_ID_PROPERTY`].
    /// `files` may be empty: iceberg 0.10.1 accepts an append with no files as long as it has
    /// snapshot properties, so an empty checkpoint still gets its own snapshot (and is recorded).
    ///
    /// Each attempt is pinned to the snapshot that was checked, so a concurrent writer makes it
    /// conflict; conflicts are re-checked and retried (up to a bound). Any other failure is
    /// followed by a reload: if the checkpoint turns out to be recorded, the matching outcome is
    /// returned, otherwise the error (the call can then be retried safely).
    pub async fn commit(
        &self,
        job_id: &str,
        checkpoint_id: u64,
        files: Vec<DataFile>,
    ) -> Result<CommitOutcome, TableError> {
        if job_id.is_empty() {
            return Err(TableError::InvalidArgument(
                "job id must not be empty".into(),
            ));
        }
        let properties = HashMap::from([
            (JOB_ID_PROPERTY.to_owned(), job_id.to_owned()),
            (CHECKPOINT_ID_PROPERTY.to_owned(), checkpoint_id.to_string()),
        ]);
        let mut delay = FIRST_RETRY_DELAY;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let base = self.reload().await?;
            if let Some(last) = last_checkpoint_in_metadata(base.metadata(), job_id, &self.ident)? {
                if last >= checkpoint_id {
                    return Ok(CommitOutcome::AlreadyCommitted { last });
                }
            }

            let tx = Transaction::new(&base);
            // File names carry a fresh uuid and the checkpoint check guards re-commits, so the
            // duplicate-file scan (which reads every manifest of the table) is skipped.
            let append = tx
                .fast_append()
                .with_check_duplicate(false)
                .add_data_files(files.iter().cloned())
                .set_snapshot_properties(properties.clone());
            let tx = append
                .apply(tx)
                .map_err(|source| TableError::CommitFailed {
                    table: self.ident.to_string(),
                    checkpoint_id,
                    source,
                })?;
            let pinned = PinnedCatalog {
                inner: self.catalog.clone(),
                base: base.clone(),
            };
            match tx.commit(&pinned).await {
                Ok(committed) => {
                    let snapshot_id =
                        snapshot_for_checkpoint(committed.metadata(), job_id, checkpoint_id)
                            .or_else(|| committed.metadata().current_snapshot_id());
                    return match snapshot_id {
                        Some(snapshot_id) => Ok(CommitOutcome::Committed { snapshot_id }),
                        // Cannot happen with a conforming catalog; re-check rather than guess.
                        None => {
                            self.recheck_after_failure(
                                job_id,
                                checkpoint_id,
                                iceberg::Error::new(
                                    ErrorKind::Unexpected,
                                    "catalog returned a table without a current snapshot",
                                ),
                            )
                            .await
                        }
                    };
                }
                Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => {
                    if attempt >= MAX_COMMIT_ATTEMPTS {
                        return Err(TableError::CommitConflict {
                            table: self.ident.to_string(),
                            checkpoint_id,
                            attempts: attempt,
                            source: e,
                        });
                    }
                    tracing::info!(
                        table = %self.ident,
                        checkpoint_id,
                        attempt,
                        error = %e,
                        "iceberg commit conflicted; re-checking and retrying"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                Err(e) => return self.recheck_after_failure(job_id, checkpoint_id, e).await,
            }
        }
    }

    /// After a failed commit: reload and decide whether the checkpoint landed anyway.
    async fn recheck_after_failure(
        &self,
        job_id: &str,
        checkpoint_id: u64,
        commit_error: iceberg::Error,
    ) -> Result<CommitOutcome, TableError> {
        let table = match self.catalog.load_table(&self.ident).await {
            Ok(t) => t,
            Err(source) => {
                return Err(TableError::CommitStateUnknown {
                    table: self.ident.to_string(),
                    checkpoint_id,
                    commit_error,
                    source,
                })
            }
        };
        let metadata = table.metadata();
        if let Some(snapshot_id) = snapshot_for_checkpoint(metadata, job_id, checkpoint_id) {
            tracing::warn!(
                table = %self.ident,
                checkpoint_id,
                snapshot_id,
                error = %commit_error,
                "iceberg commit reported an error but the checkpoint is in the table"
            );
            return Ok(CommitOutcome::Committed { snapshot_id });
        }
        match last_checkpoint_in_metadata(metadata, job_id, &self.ident)? {
            Some(last) if last >= checkpoint_id => Ok(CommitOutcome::AlreadyCommitted { last }),
            _ => Err(TableError::CommitFailed {
                table: self.ident.to_string(),
                checkpoint_id,
                source: commit_error,
            }),
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

/// A catalog view for one commit attempt: `load_table` of the committed table returns the
/// state we checked the checkpoint against, so the transaction's requirement
/// ("main is still at snapshot S") pins the commit to it, and conflicts come back to us as
/// non-retryable instead of being rebased by `Transaction::commit` without our re-check.
#[derive(Debug)]
struct PinnedCatalog {
    inner: Arc<dyn Catalog>,
    base: Table,
}

#[async_trait]
impl Catalog for PinnedCatalog {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        if table == self.base.identifier() {
            Ok(self.base.clone())
        } else {
            self.inner.load_table(table).await
        }
    }

    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.drop_table(table).await
    }

    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }

    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await.map_err(|e| {
            if e.kind() == ErrorKind::CatalogCommitConflicts {
                e.with_retryable(false)
            } else {
                e
            }
        })
    }
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
        if catalog
            .namespace_exists(&ns)
            .await
            .map_err(err("namespace_exists"))?
        {
            continue;
        }
        match catalog.create_namespace(&ns, HashMap::new()).await {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
            Err(e) => return Err(err("create_namespace")(e)),
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

/// The snapshots from the current one back through parent ids (stopping at a missing parent,
/// e.g. expired, or at a cycle in corrupt metadata).
fn ancestry(metadata: &TableMetadata) -> Vec<&SnapshotRef> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut next = metadata.current_snapshot();
    while let Some(snapshot) = next {
        if !seen.insert(snapshot.snapshot_id()) {
            break;
        }
        out.push(snapshot);
        next = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id));
    }
    out
}

/// A checkpoint id in `snapshot_id`'s summary that is not a valid `u64`.
#[derive(Debug, PartialEq, Eq)]
struct BadCheckpoint {
    snapshot_id: i64,
    value: String,
}

/// The largest checkpoint id among `snapshots` (as `(snapshot_id, job, checkpoint)` property
/// values) whose job is `job_id`. Snapshots of other jobs or without Floe properties are
/// skipped; an unparsable checkpoint of *this* job is an error, since ignoring it could lead to
/// committing a checkpoint twice.
fn max_checkpoint_in_ancestry<'a>(
    snapshots: impl IntoIterator<Item = (i64, Option<&'a str>, Option<&'a str>)>,
    job_id: &str,
) -> Result<Option<u64>, BadCheckpoint> {
    let mut max = None;
    for (snapshot_id, job, checkpoint) in snapshots {
        if job != Some(job_id) {
            continue;
        }
        let Some(raw) = checkpoint else { continue };
        let id = raw.trim().parse::<u64>().map_err(|_| BadCheckpoint {
            snapshot_id,
            value: raw.to_owned(),
        })?;
        max = max.max(Some(id));
    }
    Ok(max)
}

fn floe_properties(snapshot: &SnapshotRef) -> (i64, Option<&str>, Option<&str>) {
    let props = &snapshot.summary().additional_properties;
    (
        snapshot.snapshot_id(),
        props.get(JOB_ID_PROPERTY).map(String::as_str),
        props.get(CHECKPOINT_ID_PROPERTY).map(String::as_str),
    )
}

fn last_checkpoint_in_metadata(
    metadata: &TableMetadata,
    job_id: &str,
    ident: &TableIdent,
) -> Result<Option<u64>, TableError> {
    max_checkpoint_in_ancestry(ancestry(metadata).into_iter().map(floe_properties), job_id).map_err(
        |bad| TableError::BadCheckpointProperty {
            table: ident.to_string(),
            snapshot_id: bad.snapshot_id,
            value: bad.value,
        },
    )
}

/// The snapshot (in the current ancestry) that recorded exactly `checkpoint_id` for `job_id`.
fn snapshot_for_checkpoint(
    metadata: &TableMetadata,
    job_id: &str,
    checkpoint_id: u64,
) -> Option<i64> {
    ancestry(metadata)
        .into_iter()
        .map(floe_properties)
        .find(|(_, job, ckpt)| {
            *job == Some(job_id)
                && ckpt.and_then(|c| c.trim().parse::<u64>().ok()) == Some(checkpoint_id)
        })
        .map(|(id, _, _)| id)
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
    use crate::catalog::{connect_catalog, CatalogConfig};
    use arrow_array::{BinaryArray, Float64Array, Int64Array, TimestampMicrosecondArray};
    use floe_common::schema::{Column, PartitionField};
    use futures::TryStreamExt;

    #[test]
    fn ancestry_max_ignores_other_jobs_and_plain_snapshots() {
        let snaps = vec![
            (5, None, None),                // e.g. a compaction on top
            (4, Some("other"), Some("99")), // another job
            (3, Some("job"), Some("2")),
            (2, Some("job"), Some("1")),
            (1, Some("job"), None), // job without checkpoint: skipped
        ];
        assert_eq!(max_checkpoint_in_ancestry(snaps, "job"), Ok(Some(2)));
        assert_eq!(
            max_checkpoint_in_ancestry(vec![(1, Some("other"), Some("3"))], "job"),
            Ok(None)
        );
        assert_eq!(max_checkpoint_in_ancestry(Vec::new(), "job"), Ok(None));
        // Not sorted: still the max.
        assert_eq!(
            max_checkpoint_in_ancestry(
                vec![(2, Some("job"), Some("3")), (1, Some("job"), Some("7"))],
                "job"
            ),
            Ok(Some(7))
        );
    }

    #[test]
    fn ancestry_max_rejects_garbage_for_own_job_only() {
        assert_eq!(
            max_checkpoint_in_ancestry(vec![(9, Some("job"), Some("x"))], "job"),
            Err(BadCheckpoint {
                snapshot_id: 9,
                value: "x".into()
            })
        );
        assert_eq!(
            max_checkpoint_in_ancestry(vec![(9, Some("other"), Some("x"))], "job"),
            Ok(None)
        );
    }

    fn test_schema(name: &str) -> TableSchema {
        TableSchema {
            name: name.to_owned(),
            columns: vec![
                Column::new("window_start", ColumnType::TimestampTz, true),
                Column::new("video_id", ColumnType::String, true),
                Column::new("views", ColumnType::Long, true),
                Column::new("avg_watch", ColumnType::Double, false),
                Column::new("sketch", ColumnType::Binary, false),
            ],
            partition: vec![PartitionField {
                column: "window_start".into(),
                transform: PartitionTransform::Day,
            }],
        }
    }

    const DAY_MICROS: i64 = 86_400_000_000;

    /// Rows spanning two days (2024-01-01 and 2024-01-02), built with plain Arrow types (no
    /// field ids, `Binary`, naive timestamps) to exercise batch conforming too.
    fn two_day_batch() -> RecordBatch {
        let day0 = 19_723 * DAY_MICROS; // 2024-01-01T00:00:00Z
        let ts = vec![
            day0,
            day0 + 60_000_000,
            day0 + DAY_MICROS,
            day0 + DAY_MICROS + 1,
        ];
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            arrow_schema::Field::new("video_id", DataType::Utf8, false),
            arrow_schema::Field::new("views", DataType::Int64, false),
            arrow_schema::Field::new("avg_watch", DataType::Float64, true),
            arrow_schema::Field::new("sketch", DataType::Binary, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(ts)),
                Arc::new(StringArray::from(vec!["a", "b", "a", "c"])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(Float64Array::from(vec![
                    Some(1.5),
                    None,
                    Some(2.0),
                    Some(0.0),
                ])),
                Arc::new(BinaryArray::from_opt_vec(vec![
                    Some(b"x".as_slice()),
                    None,
                    Some(b"yz".as_slice()),
                    Some(b"".as_slice()),
                ])),
            ],
        )
        .expect("batch")
    }

    async fn sqlite_catalog(dir: &tempfile::TempDir) -> Arc<dyn Catalog> {
        let cfg = CatalogConfig::new(
            format!("sqlite://{}/catalog.db", dir.path().display()),
            format!("file://{}/warehouse", dir.path().display()),
        );
        connect_catalog(&cfg).await.expect("connect sqlite catalog")
    }

    async fn scan_rows(table: &IcebergTable) -> usize {
        let t = table.reload().await.expect("reload");
        let batches: Vec<RecordBatch> = t
            .scan()
            .build()
            .expect("scan")
            .to_arrow()
            .await
            .expect("to_arrow")
            .try_collect()
            .await
            .expect("read");
        batches.iter().map(RecordBatch::num_rows).sum()
    }

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
        let first = table.commit("job-1", 1, back).await.expect("commit 1");
        assert!(
            matches!(first, CommitOutcome::Committed { .. }),
            "{first:?}"
        );
        let again = table
            .commit("job-1", 1, files.clone())
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
        let second = table.commit("job-1", 2, more).await.expect("commit 2");
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
            table.commit("job-1", 1, Vec::new()).await.expect("old"),
            CommitOutcome::AlreadyCommitted { last: 2 }
        );

        // Another job commits on top (with data); job-1's checkpoint must still be found
        // through the ancestry, and job-2 has its own sequence.
        let other = table
            .write_data_files(two_day_batch())
            .await
            .expect("write other");
        let o = table.commit("other", 7, other).await.expect("other job");
        assert!(matches!(o, CommitOutcome::Committed { .. }));
        // An empty commit is recorded as its own snapshot.
        let e = table
            .commit("other", 8, Vec::new())
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
            table.commit("job-1", 2, Vec::new()).await.expect("dup"),
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
        let out = table.commit("j", 1, Vec::new()).await.expect("empty first");
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
        table.commit("j", 2, files).await.expect("commit");
        assert_eq!(scan_rows(&table).await, 4);
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
        table.commit("j", 1, Vec::new()).await.expect("commit 1");

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
