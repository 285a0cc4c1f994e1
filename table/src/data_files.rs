//! Writing a table's uncommitted Parquet data files, and their metadata as JSON (how it travels
//! from a worker to the committer and is kept in a checkpoint manifest).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, LargeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use floe_common::checkpoint::TableFiles;
use iceberg::spec::{deserialize_data_file_from_json, serialize_data_file_to_json, DataFile};

use crate::{DataFileError, TableLayout};

/// How long writing one batch's files may take before it counts as failed (a hung object
/// store).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(600);

impl TableLayout {
    /// Writes `batch` as the table's uncommitted data files and describes them as a checkpoint
    /// keeps them; `None` for an empty batch. Gives up after [`WRITE_TIMEOUT`].
    pub async fn write_table_files(
        &self,
        batch: RecordBatch,
    ) -> Result<Option<TableFiles>, DataFileError> {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return Ok(None);
        }
        let files = tokio::time::timeout(WRITE_TIMEOUT, self.write_data_files(batch))
            .await
            .map_err(|_| DataFileError::WriteTimeout {
                table: self.name.clone(),
                after: WRITE_TIMEOUT,
            })??;
        Ok(Some(TableFiles {
            table: self.name.clone(),
            data_files: self.data_files_to_json(&files)?,
            rows,
            removed: Vec::new(),
            deletes_in: Vec::new(),
        }))
    }

    /// Writes the batch as one or more zstd Parquet data files under the table's data location
    /// (one or more per partition value when partitioned), without committing them.
    ///
    /// File names are `floe-<uuid v4>-<n>.parquet`, unique across processes and retries. An
    /// empty batch writes nothing and returns an empty vec. If writing fails midway, files
    /// already written are left as uncommitted orphans (invisible to readers).
    pub async fn write_data_files(
        &self,
        batch: RecordBatch,
    ) -> Result<Vec<DataFile>, DataFileError> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let mut writer = self.file_writer().await?;
        writer.write(batch).await?;
        writer.close().await
    }

    /// Reorders/converts a batch to `self.arrow_schema` (see [`Self::arrow_schema`]).
    pub(crate) fn conform_batch(&self, batch: RecordBatch) -> Result<RecordBatch, DataFileError> {
        let mismatch = |reason: String| DataFileError::BatchMismatch {
            table: self.name.clone(),
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
            DataFileError::Arrow {
                table: self.name.clone(),
                source,
            }
        })
    }

    /// Data file metadata as iceberg's own JSON form of a manifest entry.
    pub fn data_files_to_json(&self, files: &[DataFile]) -> Result<Vec<String>, DataFileError> {
        let metadata = &self.metadata;
        files
            .iter()
            .map(|f| {
                serialize_data_file_to_json(
                    f.clone(),
                    metadata.default_partition_type(),
                    metadata.format_version(),
                )
                .map_err(|source| DataFileError::DataFileJson {
                    table: self.name.clone(),
                    source,
                })
            })
            .collect()
    }

    /// Inverse of [`Self::data_files_to_json`]; the files are bound to the table's default
    /// partition spec (the one [`Self::write_data_files`] writes with).
    pub fn data_files_from_json(&self, json: &[String]) -> Result<Vec<DataFile>, DataFileError> {
        let metadata = &self.metadata;
        json.iter()
            .map(|j| {
                deserialize_data_file_from_json(
                    j,
                    metadata.default_partition_spec_id(),
                    metadata.default_partition_type(),
                    metadata.current_schema(),
                )
                .map_err(|source| DataFileError::DataFileJson {
                    table: self.name.clone(),
                    source,
                })
            })
            .collect()
    }

    /// The first of `files` the table's storage no longer holds, if any.
    pub async fn first_missing<'a>(
        &self,
        files: &'a [DataFile],
    ) -> Result<Option<&'a str>, DataFileError> {
        for file in files {
            let path = file.file_path();
            let exists = self
                .file_io
                .exists(path)
                .await
                .map_err(|e| DataFileError::Read {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            if !exists {
                return Ok(Some(path));
            }
        }
        Ok(None)
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
