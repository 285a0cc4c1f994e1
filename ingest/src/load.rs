//! One CSV load, start to end: sample, plan the columns, create or evolve the table, read the
//! file once into data files (and rejects), then commit both, each exactly once by the file's
//! content hash.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use floe_table::iceberg_table::TableError;
use floe_table::load_commit::{already_loaded, commit_load, LoadCommit, LOADED_CONTENT_PROPERTY};
use floe_table::overwrite_commit::SnapshotCommits;
use floe_table::table_creation::{create_table, open_or_create_table, table_ident};
use floe_table::{TableFileWriter, TableLayout};
use iceberg::spec::{DataFile, UnboundPartitionSpec};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::Catalog;

use crate::csv_type::CsvType;
use crate::decode::RowDecoder;
use crate::dialect::DialectChoice;
use crate::error::IngestError;
use crate::infer::NullValues;
use crate::input::CsvInput;
use crate::partition::partition_spec;
use crate::plan::{
    file_columns, new_table_schema, plan_existing, plan_new_table, ColumnChoice, FileColumn,
    LoadPlan,
};
use crate::read_rows::{Chunk, LoadProgress, RowPass};
use crate::rejects::{rejects_schema, rejects_table_name, RejectsBuilder};
use crate::sample::{take_sample, Sample};

/// Snapshot summary property: the file a load read.
pub const LOADED_FILE_PROPERTY: &str = "floe.load.source";
/// Snapshot summary property: how many of the file's rows went to the rejects table.
pub const REJECTED_ROWS_PROPERTY: &str = "floe.load.rejected-rows";

/// What a load does to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Create the table; fail if it exists.
    Create,
    /// Add the rows (creating the table if missing).
    Append,
    /// Replace every row in one snapshot (creating the table if missing).
    Overwrite,
}

/// How to load.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// `namespace.table`.
    pub table: String,
    pub mode: LoadMode,
    pub dialect: DialectChoice,
    pub nulls: NullValues,
    pub columns: ColumnChoice,
    /// Fail, loading nothing, past this many rejected rows.
    pub max_rejects: Option<u64>,
    /// Load content the table already holds again.
    pub force: bool,
    /// A new table's partitioning (`day(ts)`).
    pub partition_by: Option<String>,
    /// Data files roll at this size.
    pub target_file_bytes: u64,
    /// Rows per batch handed to the file writer.
    pub batch_rows: usize,
}

impl IngestOptions {
    pub fn new(table: impl Into<String>, mode: LoadMode) -> Self {
        Self {
            table: table.into(),
            mode,
            dialect: DialectChoice::default(),
            nulls: NullValues::default(),
            columns: ColumnChoice::default(),
            max_rejects: None,
            force: false,
            partition_by: None,
            target_file_bytes: 128 << 20,
            batch_rows: 64 * 1024,
        }
    }
}

/// What a load did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub table: String,
    /// The columns of the file as loaded.
    pub columns: Vec<(String, CsvType)>,
    /// Columns added to an existing table.
    pub added_columns: Vec<String>,
    pub rows: u64,
    pub rejected: u64,
    pub rejects_table: Option<String>,
    pub data_files: usize,
    pub sha256: String,
    /// The snapshot this load committed.
    pub snapshot_id: Option<i64>,
    /// The snapshot that had already loaded this content (nothing was committed).
    pub already_loaded_by: Option<i64>,
}

/// Loads `input` into `options.table` of `catalog`. A failed load commits nothing, and drops
/// the tables it created.
pub async fn ingest(
    catalog: Arc<dyn Catalog>,
    commits: &SnapshotCommits,
    input: &CsvInput,
    options: &IngestOptions,
    progress: Arc<LoadProgress>,
) -> Result<IngestReport, IngestError> {
    let ident = table_ident(&options.table)?;
    let size = input.size().await?;
    progress.size.store(size, Ordering::Relaxed);
    let sample = take_sample(input, size, options.dialect, &options.nulls).await?;
    let file = file_columns(&sample, &options.columns, &options.nulls)?;

    let existing = if catalog.table_exists(&ident).await? {
        if options.mode == LoadMode::Create {
            return Err(TableError::AlreadyExists(options.table.clone()).into());
        }
        if options.partition_by.is_some() {
            return Err(IngestError::Options(format!(
                "--partition-by applies when a table is created; `{}` exists with its own partitioning",
                options.table
            )));
        }
        Some(catalog.load_table(&ident).await?)
    } else {
        None
    };
    let (table, plan, created) = match existing {
        Some(table) => {
            let plan = plan_existing(
                &options.table,
                table.metadata().current_schema(),
                &file,
                &chosen_columns(options, &file),
            )?;
            (
                add_columns(&catalog, table, &plan.added).await?,
                plan,
                false,
            )
        }
        None => {
            let schema = new_table_schema(&file)?;
            let partition = match &options.partition_by {
                Some(text) => partition_spec(text, &schema)?,
                None => UnboundPartitionSpec::builder().build(),
            };
            let table = create_table(catalog.as_ref(), &ident, schema, partition).await?;
            (table, plan_new_table(&file), true)
        }
    };
    let mut report = IngestReport {
        table: options.table.clone(),
        columns: file.iter().map(|c| (c.name.clone(), c.ty)).collect(),
        added_columns: plan.added.iter().map(|c| c.name.clone()).collect(),
        rows: 0,
        rejected: 0,
        rejects_table: None,
        data_files: 0,
        sha256: String::new(),
        snapshot_id: None,
        already_loaded_by: None,
    };
    let load = Load {
        catalog: &catalog,
        commits,
        input,
        options,
        table: &table,
    };
    match load.run(&sample, &plan, progress, &mut report).await {
        Ok(()) => Ok(report),
        Err(e) => {
            if created {
                if let Err(drop) = catalog.drop_table(&ident).await {
                    tracing::warn!(table = %ident, error = %drop, "could not drop the table a failed load created");
                }
            }
            Err(e)
        }
    }
}

/// The columns whose type the user chose (their values need not fit the table's type).
fn chosen_columns(options: &IngestOptions, file: &[FileColumn]) -> HashSet<String> {
    let by_type = options.columns.types.iter().filter_map(|(named, _)| {
        file.iter()
            .find(|c| c.name == *named || c.header == *named)
            .map(|c| c.name.clone())
    });
    let by_schema = file
        .iter()
        .filter(|_| options.columns.schema.is_some())
        .map(|c| c.name.clone());
    by_type.chain(by_schema).collect()
}

/// `table` with `added` as new optional columns. They are committed before the rows: a failed
/// load can leave them added (and empty), never rows without their columns.
async fn add_columns(
    catalog: &Arc<dyn Catalog>,
    table: Table,
    added: &[FileColumn],
) -> Result<Table, IngestError> {
    if added.is_empty() {
        return Ok(table);
    }
    let tx = Transaction::new(&table);
    let mut evolve = tx.update_schema();
    for c in added {
        evolve = evolve.add_column(
            AddColumn::builder()
                .name(c.name.clone())
                .field_type(c.ty.iceberg())
                .doc(c.header.clone())
                .build(),
        );
    }
    Ok(evolve.apply(tx)?.commit(catalog.as_ref()).await?)
}

/// The rows' part of a load: one pass writing files, then the commits.
struct Load<'a> {
    catalog: &'a Arc<dyn Catalog>,
    commits: &'a SnapshotCommits,
    input: &'a CsvInput,
    options: &'a IngestOptions,
    table: &'a Table,
}

impl Load<'_> {
    async fn run(
        &self,
        sample: &Sample,
        plan: &LoadPlan,
        progress: Arc<LoadProgress>,
        report: &mut IngestReport,
    ) -> Result<(), IngestError> {
        let (catalog, options) = (self.catalog, self.options);
        let layout = TableLayout::of_table(options.table.clone(), self.table)?
            .with_target_file_bytes(options.target_file_bytes);
        let pass = RowPass {
            source_name: self.input.name(),
            dialect: sample.dialect,
            decoder: RowDecoder::new(plan.columns.clone(), sample.width, options.nulls.clone())?,
            rejects: RejectsBuilder::new(&self.input.name(), sample.dialect.delimiter),
            batch_rows: options.batch_rows,
            max_rejects: options.max_rejects,
            progress,
        };
        let reader = self.input.reader().await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let reading = tokio::task::spawn_blocking(move || pass.run(reader, tx));

        let mut rows_out = layout.file_writer().await?;
        let mut rejects_out = RejectsOut::new(catalog.clone(), &options.table);
        let mut write_failed = None;
        while let Some(chunk) = rx.recv().await {
            let written = match chunk {
                Chunk::Rows(batch) => rows_out.write(batch).await.map_err(IngestError::from),
                Chunk::Rejects(batch) => rejects_out.write(batch).await,
            };
            if let Err(e) = written {
                write_failed = Some(e);
                break;
            }
        }
        drop(rx);
        let read = reading
            .await
            .map_err(|e| IngestError::Read {
                source_name: self.input.name(),
                reason: e.to_string(),
            })
            .and_then(|r| r);
        let data_files = rows_out.close().await?;
        let rejected = rejects_out.close().await?;
        let read = match (read, write_failed) {
            (Ok(read), None) => read,
            (Err(e), _) | (Ok(_), Some(e)) => {
                discard(self.table, &data_files).await;
                if let Some(rejected) = rejected {
                    rejected.abandon(catalog).await;
                }
                return Err(e);
            }
        };
        report.rows = read.rows;
        report.rejected = read.rejected;
        report.data_files = data_files.len();
        report.sha256 = read.sha256.clone();

        let summary = HashMap::from([
            (LOADED_CONTENT_PROPERTY.to_owned(), read.sha256.clone()),
            (LOADED_FILE_PROPERTY.to_owned(), self.input.name()),
            (REJECTED_ROWS_PROPERTY.to_owned(), read.rejected.to_string()),
        ]);
        let how = match options.mode {
            LoadMode::Overwrite => LoadCommit::Overwrite,
            LoadMode::Create | LoadMode::Append => LoadCommit::Append,
        };
        let table = catalog.load_table(self.table.identifier()).await?;
        if !options.force {
            if let Some(snapshot) = already_loaded(table.metadata(), &read.sha256, how) {
                discard(&table, &data_files).await;
                if let Some(rejected) = rejected {
                    rejected.abandon(catalog).await;
                }
                report.already_loaded_by = Some(snapshot);
                return Ok(());
            }
        }
        if let Some(rejected) = rejected {
            let fresh = catalog.load_table(rejected.table.identifier()).await?;
            if options.force
                || already_loaded(fresh.metadata(), &read.sha256, LoadCommit::Append).is_none()
            {
                commit_load(
                    catalog,
                    self.commits,
                    &fresh,
                    LoadCommit::Append,
                    rejected.files,
                    summary.clone(),
                )
                .await?;
            } else {
                discard(&fresh, &rejected.files).await;
            }
            report.rejects_table = Some(rejects_table_name(&options.table));
        }
        report.snapshot_id =
            Some(commit_load(catalog, self.commits, &table, how, data_files, summary).await?);
        Ok(())
    }
}

/// The rejects table's files: the table is created (or opened) with its first rejected rows.
struct RejectsOut {
    catalog: Arc<dyn Catalog>,
    name: String,
    open: Option<(Table, TableFileWriter, bool)>,
}

/// Rejected rows written, not committed.
struct Rejected {
    table: Table,
    files: Vec<DataFile>,
    /// This load created the table.
    created: bool,
}

impl Rejected {
    /// Deletes the files, and the table if this load created it.
    async fn abandon(self, catalog: &Arc<dyn Catalog>) {
        discard(&self.table, &self.files).await;
        if self.created {
            if let Err(e) = catalog.drop_table(self.table.identifier()).await {
                tracing::warn!(table = %self.table.identifier(), error = %e, "could not drop the rejects table a failed load created");
            }
        }
    }
}

impl RejectsOut {
    fn new(catalog: Arc<dyn Catalog>, table: &str) -> Self {
        Self {
            catalog,
            name: rejects_table_name(table),
            open: None,
        }
    }

    async fn write(&mut self, batch: arrow_array::RecordBatch) -> Result<(), IngestError> {
        if self.open.is_none() {
            let (table, created) = open_or_create_table(
                self.catalog.as_ref(),
                &table_ident(&self.name)?,
                rejects_schema()?,
                UnboundPartitionSpec::builder().build(),
            )
            .await?;
            let writer = TableLayout::of_table(self.name.clone(), &table)?
                .file_writer()
                .await?;
            self.open = Some((table, writer, created));
        }
        if let Some((_, writer, _)) = &mut self.open {
            writer.write(batch).await?;
        }
        Ok(())
    }

    async fn close(self) -> Result<Option<Rejected>, IngestError> {
        match self.open {
            Some((table, writer, created)) => Ok(Some(Rejected {
                files: writer.close().await?,
                table,
                created,
            })),
            None => Ok(None),
        }
    }
}

/// Deletes files written for a load that commits nothing (best effort: what stays is an
/// orphan no snapshot names, which orphan cleanup removes).
async fn discard(table: &Table, files: &[DataFile]) {
    for file in files {
        if let Err(e) = table.file_io().delete(file.file_path()).await {
            tracing::warn!(path = file.file_path(), error = %e, "could not delete an uncommitted file");
        }
    }
}
