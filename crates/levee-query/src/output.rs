//! An answer's rows as text for a terminal, or as a file for another tool.

use std::io::Write;

use arrow_json::writer::LineDelimited;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::QueryError;

/// A boxed text table with a header row, the way psql and Athena's console
/// show results. An empty answer still shows its columns; NULL is blank.
pub fn format_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, QueryError> {
    pretty_format_batches_with_schema(schema.clone(), batches)
        .map(|table| table.to_string())
        .map_err(|e| QueryError::output("table", e))
}

/// CSV with a header row, also when there are no rows; NULL is an empty field.
pub fn write_csv<W: Write>(
    out: W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), QueryError> {
    let mut writer = arrow_csv::WriterBuilder::new().with_header(true).build(out);
    let empty = [RecordBatch::new_empty(schema.clone())];
    let batches = if batches.is_empty() {
        &empty[..]
    } else {
        batches
    };
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| QueryError::output("CSV", e))?;
    }
    Ok(())
}

/// One JSON object per row, keys in column order, NULLs written as `null`
/// so every line has every column.
pub fn write_json_lines<W: Write>(out: W, batches: &[RecordBatch]) -> Result<(), QueryError> {
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, LineDelimited>(out);
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| QueryError::output("JSON lines", e))?;
    }
    writer
        .finish()
        .map_err(|e| QueryError::output("JSON lines", e))
}

/// A zstd Parquet file, as the lake's own, so an answer can be queried again.
pub fn write_parquet<W: Write + Send>(
    out: W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), QueryError> {
    let err = |e| QueryError::output("Parquet", e);
    let level = ZstdLevel::try_new(3).map_err(err)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .build();
    let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(err)?;
    for batch in batches {
        writer.write(batch).map_err(err)?;
    }
    writer.close().map_err(err)?;
    Ok(())
}
