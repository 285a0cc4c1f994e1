//! A table's data files written from a stream of batches: zstd Parquet rolled at the target
//! size, one or more files per partition value. A load larger than memory writes through one
//! writer batch by batch instead of collecting its rows first.

use arrow_array::{ArrayRef, RecordBatch};
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat, PartitionSpecRef, SchemaRef};
use iceberg::transform::create_transform_function;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{DataFileError, TableLayout};

type DataFiles =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// Open data files of one table, not yet committed. File names are
/// `floe-<uuid v4>-<n>.parquet`, unique across processes and retries. If writing fails midway,
/// the files already written are uncommitted orphans (invisible to readers).
pub struct TableFileWriter {
    layout: TableLayout,
    target: Target,
}

enum Target {
    Unpartitioned(Box<dyn IcebergWriter>),
    Partitioned(Box<Partitioned>),
}

/// One writer per partition value, and what tells a row's partition.
struct Partitioned {
    writer: FanoutWriter<DataFiles>,
    splitter: RecordBatchPartitionSplitter,
    schema: SchemaRef,
    spec: PartitionSpecRef,
}

impl TableLayout {
    /// A writer of this table's data files, for batches written one after another.
    pub async fn file_writer(&self) -> Result<TableFileWriter, DataFileError> {
        let write_err = |source| self.write_error(source);
        let metadata = &self.metadata;
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
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
        let rolling = RollingFileWriterBuilder::new(
            parquet,
            self.target_file_bytes,
            self.file_io.clone(),
            locations,
            names,
        );
        let files = DataFileWriterBuilder::new(rolling);
        let target = if spec.is_unpartitioned() {
            Target::Unpartitioned(Box::new(files.build(None).await.map_err(write_err)?))
        } else {
            let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(
                schema.clone(),
                spec.clone(),
            )
            .map_err(write_err)?;
            Target::Partitioned(Box::new(Partitioned {
                writer: FanoutWriter::new(files),
                splitter,
                schema,
                spec,
            }))
        };
        Ok(TableFileWriter {
            layout: self.clone(),
            target,
        })
    }

    fn write_error(&self, source: iceberg::Error) -> DataFileError {
        DataFileError::Write {
            table: self.name.clone(),
            source,
        }
    }
}

impl TableFileWriter {
    /// Writes `batch` (conformed to the table's columns first) into the open files.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), DataFileError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let layout = &self.layout;
        let batch = layout.conform_batch(batch)?;
        let write_err = |source| layout.write_error(source);
        match &mut self.target {
            Target::Unpartitioned(writer) => {
                for slice in slices(&batch) {
                    writer.write(slice).await.map_err(write_err)?;
                    tokio::task::yield_now().await;
                }
            }
            Target::Partitioned(partitioned) => {
                let Partitioned {
                    writer,
                    splitter,
                    schema,
                    spec,
                } = partitioned.as_mut();
                match partition_value_columns(&batch, schema, spec)
                    .and_then(|cols| arrow_ord::partition::partition(&cols).ok())
                {
                    // Runs of rows with equal partition values share a partition key, so the
                    // splitter (which builds Iceberg literals row by row) sees one row per run.
                    // Rows arrive roughly in event time, so a checkpoint has a handful of runs.
                    Some(runs) => {
                        for run in runs.ranges() {
                            let part = batch.slice(run.start, run.end - run.start);
                            let key = splitter
                                .split(&part.slice(0, 1))
                                .map_err(write_err)?
                                .into_iter()
                                .next()
                                .map(|(key, _)| key)
                                .ok_or_else(|| DataFileError::BatchMismatch {
                                    table: layout.name.clone(),
                                    reason: "no partition key for a non-empty run of rows".into(),
                                })?;
                            for slice in slices(&part) {
                                writer.write(key.clone(), slice).await.map_err(write_err)?;
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                    None => {
                        for (key, part) in splitter.split(&batch).map_err(write_err)? {
                            writer.write(key, part).await.map_err(write_err)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes the open files and describes every file written.
    pub async fn close(self) -> Result<Vec<DataFile>, DataFileError> {
        let layout = self.layout;
        let write_err = |source| layout.write_error(source);
        match self.target {
            Target::Unpartitioned(mut writer) => writer.close().await.map_err(write_err),
            Target::Partitioned(partitioned) => partitioned.writer.close().await.map_err(write_err),
        }
    }
}

/// `spec`'s partition values of every row of `batch` (each field's transform applied to its
/// top-level source column), or `None` when a source is nested or missing or a transform does
/// not apply (the caller then splits row by row).
fn partition_value_columns(
    batch: &RecordBatch,
    schema: &iceberg::spec::Schema,
    spec: &iceberg::spec::PartitionSpec,
) -> Option<Vec<ArrayRef>> {
    spec.fields()
        .iter()
        .map(|f| {
            let name = &schema.field_by_id(f.source_id)?.name;
            let index = batch.schema().index_of(name).ok()?;
            let transform = create_transform_function(&f.transform).ok()?;
            transform.transform(batch.column(index).clone()).ok()
        })
        .collect()
}

/// Rows encoded between two yields to the runtime: a large write (a compaction's) shares its
/// thread with the stream's tasks, and its files roll over at the target size.
const WRITE_SLICE_ROWS: usize = 64 * 1024;

/// `batch` in slices of at most [`WRITE_SLICE_ROWS`] rows.
fn slices(batch: &RecordBatch) -> impl Iterator<Item = RecordBatch> + '_ {
    (0..batch.num_rows())
        .step_by(WRITE_SLICE_ROWS)
        .map(|start| batch.slice(start, WRITE_SLICE_ROWS.min(batch.num_rows() - start)))
}
