//! Where a query's rows go: a table for a terminal, CSV, JSON lines or Parquet, each written
//! as the batches arrive (the terminal table excepted: it needs every row to size its columns).

use std::io::Write;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::QueryError;

/// Takes a query's result: its schema, then its batches, then the end.
pub trait ResultSink: Send {
    fn start(&mut self, schema: &SchemaRef) -> Result<(), QueryError>;
    fn batch(&mut self, batch: &RecordBatch) -> Result<(), QueryError>;
    fn finish(&mut self) -> Result<(), QueryError>;
}

/// The forms a result can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for a person at a terminal.
    Table,
    /// With a header line.
    Csv,
    /// One JSON object per row; nulls written, not left out.
    Json,
    /// One zstd Parquet file.
    Parquet,
}

/// A sink writing `format` to `out`.
pub fn sink<W: Write + Send + 'static>(format: OutputFormat, out: W) -> Box<dyn ResultSink> {
    match format {
        OutputFormat::Table => Box::new(TableSink {
            out,
            result: Collected::default(),
        }),
        OutputFormat::Csv => Box::new(CsvSink {
            writer: Some(arrow_csv::WriterBuilder::new().with_header(true).build(out)),
        }),
        OutputFormat::Json => Box::new(JsonSink {
            writer: arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(out),
        }),
        OutputFormat::Parquet => Box::new(ParquetSink {
            out: Some(out),
            writer: None,
        }),
    }
}

fn output_error(e: impl std::fmt::Display) -> QueryError {
    QueryError::Output(e.to_string())
}

/// A whole result held in memory: for a result bounded by a row limit, or one that must be
/// seen whole before it is written.
#[derive(Debug, Default)]
pub struct Collected {
    pub schema: Option<SchemaRef>,
    pub batches: Vec<RecordBatch>,
}

impl ResultSink for Collected {
    fn start(&mut self, schema: &SchemaRef) -> Result<(), QueryError> {
        self.schema = Some(schema.clone());
        Ok(())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<(), QueryError> {
        self.batches.push(batch.clone());
        Ok(())
    }

    fn finish(&mut self) -> Result<(), QueryError> {
        Ok(())
    }
}

/// Aligned columns need every row's width first.
struct TableSink<W> {
    out: W,
    result: Collected,
}

impl<W: Write + Send> ResultSink for TableSink<W> {
    fn start(&mut self, schema: &SchemaRef) -> Result<(), QueryError> {
        self.result.start(schema)
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<(), QueryError> {
        self.result.batch(batch)
    }

    fn finish(&mut self) -> Result<(), QueryError> {
        let Collected { schema, batches } = &self.result;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let table = match schema {
            Some(schema) if batches.is_empty() => {
                arrow_cast::pretty::pretty_format_batches_with_schema(schema.clone(), &[])
                    .map(|t| t.to_string())
            }
            _ => arrow_cast::pretty::pretty_format_batches(batches).map(|t| t.to_string()),
        }
        .map_err(output_error)?;
        let plural = if rows == 1 { "" } else { "s" };
        writeln!(self.out, "{table}\n{rows} row{plural}").map_err(output_error)?;
        self.out.flush().map_err(output_error)
    }
}

struct CsvSink<W: Write> {
    writer: Option<arrow_csv::Writer<W>>,
}

impl<W: Write + Send> ResultSink for CsvSink<W> {
    fn start(&mut self, _: &SchemaRef) -> Result<(), QueryError> {
        Ok(())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<(), QueryError> {
        match &mut self.writer {
            Some(writer) => writer.write(batch).map_err(output_error),
            None => Err(output_error("a CSV batch after the end")),
        }
    }

    fn finish(&mut self) -> Result<(), QueryError> {
        match self.writer.take() {
            Some(writer) => writer.into_inner().flush().map_err(output_error),
            None => Err(output_error("the CSV result was finished twice")),
        }
    }
}

/// `batch` with its decimal columns as text (`9.50`, its scale kept), for JSON: a JSON number
/// is read as a double by most clients, which would lose a decimal's exactness.
pub fn decimals_as_text(batch: &RecordBatch) -> Result<RecordBatch, QueryError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_decimal())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_decimal() {
            columns.push(arrow_cast::cast(column, &DataType::Utf8).map_err(output_error)?);
            fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
        } else {
            columns.push(column.clone());
            fields.push(field.as_ref().clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(output_error)
}

struct JsonSink<W: Write> {
    writer: arrow_json::Writer<W, arrow_json::writer::LineDelimited>,
}

impl<W: Write + Send> ResultSink for JsonSink<W> {
    fn start(&mut self, _: &SchemaRef) -> Result<(), QueryError> {
        Ok(())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<(), QueryError> {
        self.writer
            .write(&decimals_as_text(batch)?)
            .map_err(output_error)
    }

    fn finish(&mut self) -> Result<(), QueryError> {
        self.writer.finish().map_err(output_error)?;
        self.writer.get_mut().flush().map_err(output_error)
    }
}

struct ParquetSink<W: Write + Send> {
    out: Option<W>,
    writer: Option<ArrowWriter<W>>,
}

impl<W: Write + Send> ResultSink for ParquetSink<W> {
    fn start(&mut self, schema: &SchemaRef) -> Result<(), QueryError> {
        let out = self
            .out
            .take()
            .ok_or_else(|| output_error("the Parquet result was started twice"))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        self.writer = Some(
            ArrowWriter::try_new(out, schema.clone(), Some(properties)).map_err(output_error)?,
        );
        Ok(())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<(), QueryError> {
        match &mut self.writer {
            Some(writer) => writer.write(batch).map_err(output_error),
            None => Err(output_error("a Parquet batch before the schema")),
        }
    }

    fn finish(&mut self) -> Result<(), QueryError> {
        match self.writer.take() {
            Some(writer) => writer.close().map(drop).map_err(output_error),
            None => Err(output_error("the Parquet result was never started")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    /// A writer the test can read back after the sink took it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(format: OutputFormat) -> Vec<u8> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("video_id", DataType::Utf8, true),
            Field::new("views", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("v1"), None])),
                Arc::new(Int64Array::from(vec![3, 4])),
            ],
        )
        .expect("batch");
        let out = Shared::default();
        let mut sink = sink(format, out.clone());
        sink.start(&schema).expect("start");
        sink.batch(&batch).expect("batch");
        sink.batch(&batch.slice(0, 1)).expect("batch");
        sink.finish().expect("finish");
        let bytes = out.0.lock().expect("lock").clone();
        bytes
    }

    #[test]
    fn csv_has_one_header_and_every_row() {
        let text = String::from_utf8(written(OutputFormat::Csv)).expect("utf-8");
        assert_eq!(text, "video_id,views\nv1,3\n,4\nv1,3\n");
    }

    #[test]
    fn json_lines_write_nulls() {
        let text = String::from_utf8(written(OutputFormat::Json)).expect("utf-8");
        assert_eq!(
            text,
            "{\"video_id\":\"v1\",\"views\":3}\n{\"video_id\":null,\"views\":4}\n\
             {\"video_id\":\"v1\",\"views\":3}\n"
        );
    }

    #[test]
    fn json_writes_decimals_exactly_as_text() {
        let price = arrow_array::Decimal128Array::from(vec![Some(150), None])
            .with_precision_and_scale(3, 2)
            .expect("a decimal(3,2)");
        let schema = Arc::new(Schema::new(vec![Field::new(
            "price",
            DataType::Decimal128(3, 2),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(price)]).expect("batch");
        let out = Shared::default();
        let mut sink = sink(OutputFormat::Json, out.clone());
        sink.start(&schema).expect("start");
        sink.batch(&batch).expect("batch");
        sink.finish().expect("finish");
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text, "{\"price\":\"1.50\"}\n{\"price\":null}\n");
    }

    #[test]
    fn the_table_counts_its_rows() {
        let text = String::from_utf8(written(OutputFormat::Table)).expect("utf-8");
        assert!(text.contains("| video_id | views |"), "{text}");
        assert!(text.ends_with("3 rows\n"), "{text}");
    }

    #[test]
    fn parquet_reads_back() {
        let bytes = bytes::Bytes::from(written(OutputFormat::Parquet));
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024)
            .expect("a Parquet file");
        let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
        assert_eq!(rows, 3);
    }
}
