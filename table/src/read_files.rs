//! Reading a table's own data files back (a dimension table's rewrite reads the files it
//! replaces), in the table's Arrow schema.

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
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
        let bytes = self
            .file_io
            .new_input(path)
            .map_err(|e| failed(e.to_string()))?
            .read()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let options = ArrowReaderOptions::new().with_schema(self.arrow_schema());
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
            .map_err(|e| failed(e.to_string()))?;
        if let Some(columns) = columns {
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        builder
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| failed(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))
    }
}
