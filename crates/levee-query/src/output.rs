//! An answer's rows as text for a terminal, or as a file for another tool.

use std::io::Write;

use arrow_json::writer::{JsonArray, LineDelimited};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::{QueryError, ScanStats};

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

/// An answer as one JSON document, on one line, its accounting as a field:
///
/// ```json
/// {"columns":[{"name":"dt","type":"Utf8"},{"name":"n","type":"Int64"}],
///  "rows":[{"dt":"2018-09-01","n":3}],
///  "stats":{"rows":1,"elapsed_seconds":0.012, ...}}
/// ```
///
/// `rows` are objects keyed by column, NULLs written as `null`; `columns`
/// gives their order and Arrow types, also when there are no rows; `stats`
/// is [`stats_json`].
pub fn write_json_document<W: Write>(
    mut out: W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    stats: &ScanStats,
) -> Result<(), QueryError> {
    let err = |e: &dyn std::fmt::Display| QueryError::output("JSON", e);
    let columns: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    let columns = serde_json::to_string(&columns).map_err(|e| err(&e))?;
    write!(out, "{{\"columns\":{columns},\"rows\":").map_err(|e| err(&e))?;
    // The rows go straight from Arrow to the writer, not through a
    // serde_json value per row: an answer can be large.
    let mut rows = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(&mut out);
    for batch in batches {
        rows.write(batch).map_err(|e| err(&e))?;
    }
    rows.finish().map_err(|e| err(&e))?;
    drop(rows);
    let stats = serde_json::to_string(&stats_json(stats)).map_err(|e| err(&e))?;
    writeln!(out, ",\"stats\":{stats}}}").map_err(|e| err(&e))
}

/// A query's accounting as JSON, one key per [`ScanStats`] field plus the
/// price:
///
/// ```json
/// {"rows":12,"elapsed_seconds":0.084,"files_read":3,"files_in_tables":168,
///  "partitions_read":3,"partitions_total":168,"bytes_scanned":1258291,
///  "cost_usd":0.0000476837158203125,"minimum_applies":true,"whole":false,
///  "parquet":{"files":3,"partitions":3,"bytes":1258291},
///  "json":{"files":0,"partitions":0,"bytes":0},"damaged_files":[]}
/// ```
///
/// `damaged_files` holds `{"file": key, "problem": text}` objects.
pub fn stats_json(stats: &ScanStats) -> serde_json::Value {
    let copy = |c: &crate::CopyScan| serde_json::json!({"files": c.files, "partitions": c.partitions, "bytes": c.bytes});
    let damaged: Vec<serde_json::Value> = stats
        .damaged_files
        .iter()
        .map(|d| serde_json::json!({"file": d.file, "problem": d.problem}))
        .collect();
    serde_json::json!({
        "rows": stats.rows,
        "elapsed_seconds": stats.elapsed.as_secs_f64(),
        "files_read": stats.files_read,
        "files_in_tables": stats.files_in_tables,
        "partitions_read": stats.partitions_read,
        "partitions_total": stats.partitions_total,
        "bytes_scanned": stats.bytes_scanned,
        "cost_usd": stats.cost_usd(),
        "minimum_applies": stats.minimum_applies(),
        "whole": stats.whole,
        "parquet": copy(&stats.parquet),
        "json": copy(&stats.json),
        "damaged_files": damaged,
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn answer() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("dt", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("2018-09-01"), None])),
                Arc::new(Int64Array::from(vec![Some(3), None])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn document(schema: &SchemaRef, batches: &[RecordBatch]) -> serde_json::Value {
        let stats = ScanStats {
            rows: batches.iter().map(RecordBatch::num_rows).sum(),
            bytes_scanned: 2048,
            ..ScanStats::default()
        };
        let mut out = Vec::new();
        write_json_document(&mut out, schema, batches, &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "one line: {text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_json_answer_is_one_document_with_rows_columns_and_stats() {
        let (schema, batches) = answer();
        let doc = document(&schema, &batches);
        assert_eq!(
            doc["columns"],
            serde_json::json!([{"name": "dt", "type": "Utf8"}, {"name": "n", "type": "Int64"}])
        );
        assert_eq!(
            doc["rows"],
            serde_json::json!([{"dt": "2018-09-01", "n": 3}, {"dt": null, "n": null}])
        );
        assert_eq!(doc["stats"]["rows"], 2);
        assert_eq!(doc["stats"]["bytes_scanned"], 2048);
        assert_eq!(doc["stats"]["minimum_applies"], true);
        assert_eq!(doc["stats"]["damaged_files"], serde_json::json!([]));
    }

    #[test]
    fn an_empty_json_answer_still_has_its_columns() {
        let (schema, _) = answer();
        let doc = document(&schema, &[]);
        assert_eq!(doc["rows"], serde_json::json!([]));
        assert_eq!(doc["columns"].as_array().unwrap().len(), 2);
        assert_eq!(doc["stats"]["rows"], 0);
    }

    #[test]
    fn stats_json_names_each_copy_and_the_price() {
        let stats = ScanStats {
            bytes_scanned: 1 << 40,
            ..ScanStats::default()
        };
        let json = stats_json(&stats);
        assert_eq!(json["cost_usd"], 5.0);
        assert_eq!(json["minimum_applies"], false);
        assert_eq!(json["parquet"]["files"], 0);
        assert_eq!(json["json"]["bytes"], 0);
    }
}
