//! Reading a table's own data files back (a dimension table's rewrite reads the files it
//! replaces), in the table's Arrow schema.

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::ProjectionMask;

use crate::{DataFileError, TableLayout};

impl TableLayout {
    /// The rows of the data file at `path`: only the table columns at `columns` (indexes into
    /// [`Self::arrow_schema`]) when given, all of them otherwise.
    pub async fn read_data_file(
        &self,
        path: &str,
        columns: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, DataFileError> {
        let failed = |reason: String| DataFileError::Read {
            path: path.to_owned(),
            reason,
        };
        let bytes = self.read_bytes(path).await?;
        let schema = self.arrow_schema();
        let columns = columns.map(<[usize]>::to_vec);
        // Decoded off the runtime's threads: a whole file is a long stretch of CPU.
        let decode = move || {
            let options = ArrowReaderOptions::new().with_schema(schema);
            let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
                .map_err(|e| e.to_string())?;
            if let Some(columns) = columns {
                let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
                builder = builder.with_projection(mask);
            }
            builder
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| e.to_string())?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
        };
        tokio::task::spawn_blocking(decode)
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(failed)
    }

    /// The rows at `positions` (ascending) of the data file at `path`, in that order: only the
    /// pages holding them are decoded where the file has a page index.
    pub async fn read_rows(
        &self,
        path: &str,
        positions: &[u32],
    ) -> Result<Vec<RecordBatch>, DataFileError> {
        let failed = |reason: String| DataFileError::Read {
            path: path.to_owned(),
            reason,
        };
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = self.read_bytes(path).await?;
        let options = ArrowReaderOptions::new()
            .with_schema(self.arrow_schema())
            .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
            .map_err(|e| failed(e.to_string()))?;
        let total = builder.metadata().file_metadata().num_rows() as usize;
        if positions.iter().any(|p| *p as usize >= total) {
            return Err(failed(format!("a row position is past its {total} rows")));
        }
        let ranges = positions.iter().map(|p| *p as usize..*p as usize + 1);
        let selection = RowSelection::from_consecutive_ranges(ranges, total);
        builder
            .with_row_selection(selection)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| failed(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))
    }

    /// The whole file at `path`.
    pub(crate) async fn read_bytes(&self, path: &str) -> Result<bytes::Bytes, DataFileError> {
        let failed = |e: iceberg::Error| DataFileError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        self.file_io
            .new_input(path)
            .map_err(failed)?
            .read()
            .await
            .map_err(failed)
    }
}
