//! Iceberg v2 position delete files: which rows of which data files no longer count. A
//! merge-on-read CDC commit writes one per checkpoint for the rows its changes replace;
//! readers, the committer's key index and compaction all leave those rows out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum};
use iceberg::table::Table;
use iceberg::writer::file_writer::location_generator::{
    DefaultLocationGenerator, LocationGenerator,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{DataFileError, TableLayout};

/// The reserved field ids of a position delete file's columns (Iceberg spec).
const FILE_PATH_FIELD_ID: i32 = 2_147_483_546;
const POS_FIELD_ID: i32 = 2_147_483_545;

/// The rows a set of position delete files removes: data file path → positions.
pub type DeletedRows = HashMap<String, HashSet<i64>>;

/// The files a table's current snapshot reads: its data files and the delete files applied to
/// them.
#[derive(Debug, Default, Clone)]
pub struct LiveFiles {
    pub data: Vec<DataFile>,
    pub deletes: Vec<DataFile>,
}

impl LiveFiles {
    /// The live files of `table`'s current snapshot.
    pub async fn of(table: &Table) -> Result<Self, iceberg::Error> {
        let mut live = Self::default();
        let Some(current) = table.metadata().current_snapshot() else {
            return Ok(live);
        };
        let list = table.manifest_list_reader(current).load().await?;
        // Collected first: the list's own iterator is not `Send`, and commits run in tasks.
        let listed: Vec<_> = list.consume_entries().into_iter().collect();
        for manifest in listed {
            let manifest = crate::manifest_cache::load_manifest(&manifest, table.file_io()).await?;
            for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                match e.data_file().content_type() {
                    DataContentType::Data => live.data.push(e.data_file().clone()),
                    _ => live.deletes.push(e.data_file().clone()),
                }
            }
        }
        Ok(live)
    }

    /// Every live file's path.
    pub fn paths(&self) -> HashSet<String> {
        self.data
            .iter()
            .chain(&self.deletes)
            .map(|f| f.file_path().to_owned())
            .collect()
    }
}

fn delete_file_schema() -> SchemaRef {
    let field = |name: &str, ty: DataType, id: i32| {
        Field::new(name, ty, false).with_metadata(HashMap::from([(
            parquet::arrow::PARQUET_FIELD_ID_META_KEY.to_owned(),
            id.to_string(),
        )]))
    };
    Arc::new(Schema::new(vec![
        field("file_path", DataType::Utf8, FILE_PATH_FIELD_ID),
        field("pos", DataType::Int64, POS_FIELD_ID),
    ]))
}

impl TableLayout {
    /// Writes a position delete file removing `rows` (data file path, row position), not yet
    /// committed; `None` when there is nothing to delete. Rows are written sorted by path and
    /// position, as the spec asks.
    pub async fn write_position_deletes(
        &self,
        mut rows: Vec<(&str, i64)>,
    ) -> Result<Option<DataFile>, DataFileError> {
        if rows.is_empty() {
            return Ok(None);
        }
        rows.sort_unstable();
        rows.dedup();
        let failed = |reason: String| DataFileError::BatchMismatch {
            table: self.name.clone(),
            reason: format!("writing a position delete file: {reason}"),
        };
        let batch = RecordBatch::try_new(
            delete_file_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|(p, _)| *p))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, r)| *r))),
            ],
        )
        .map_err(|e| failed(e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props))
            .map_err(|e| failed(e.to_string()))?;
        writer.write(&batch).map_err(|e| failed(e.to_string()))?;
        writer.close().map_err(|e| failed(e.to_string()))?;
        let locations =
            DefaultLocationGenerator::new(&self.metadata).map_err(|e| failed(e.to_string()))?;
        let path = locations.generate_location(
            None,
            &format!("floe-{}-deletes.parquet", uuid::Uuid::new_v4()),
        );
        let size = bytes.len() as u64;
        self.file_io
            .new_output(&path)
            .map_err(|e| failed(e.to_string()))?
            .write(bytes.into())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let (first, last) = (rows[0].0, rows[rows.len() - 1].0);
        let mut file = DataFileBuilder::default();
        file.content(DataContentType::PositionDeletes)
            .file_path(path)
            .file_format(DataFileFormat::Parquet)
            .record_count(rows.len() as u64)
            .file_size_in_bytes(size)
            .partition_spec_id(self.metadata.default_partition_spec_id())
            .lower_bounds(HashMap::from([(FILE_PATH_FIELD_ID, Datum::string(first))]))
            .upper_bounds(HashMap::from([(FILE_PATH_FIELD_ID, Datum::string(last))]));
        if first == last {
            file.referenced_data_file(Some(first.to_owned()));
        }
        file.build().map(Some).map_err(|e| failed(e.to_string()))
    }

    /// The rows the position delete files `files` remove.
    pub async fn read_position_deletes(
        &self,
        files: &[DataFile],
    ) -> Result<DeletedRows, DataFileError> {
        let mut deleted = DeletedRows::new();
        for file in files {
            let path = file.file_path();
            let failed = |reason: String| DataFileError::Read {
                path: path.to_owned(),
                reason,
            };
            if file.content_type() != DataContentType::PositionDeletes {
                return Err(failed(
                    "equality delete files are not read by Floe: compact them with the engine that wrote them"
                        .into(),
                ));
            }
            let bytes = self.read_bytes(path).await?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.with_batch_size(64 * 1024).build())
                .map_err(|e| failed(e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| failed(e.to_string()))?;
                let (Some(paths), Some(positions)) = (
                    batch
                        .column_by_name("file_path")
                        .and_then(|c| c.as_string_opt::<i32>()),
                    batch
                        .column_by_name("pos")
                        .and_then(|c| c.as_primitive_opt::<Int64Type>()),
                ) else {
                    return Err(failed("not a position delete file (file_path, pos)".into()));
                };
                for (p, r) in paths.iter().zip(positions.iter()) {
                    if let (Some(p), Some(r)) = (p, r) {
                        deleted.entry(p.to_owned()).or_default().insert(r);
                    }
                }
            }
        }
        Ok(deleted)
    }
}
