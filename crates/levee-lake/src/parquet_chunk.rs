//! Parquet chunks: what the lake output writes with `format = "parquet"` or
//! `"both"`, one small Parquet file per sealed chunk, as Firehose's record
//! format conversion does.
//!
//! The collector never builds arrow or parquet: the lake output seals its
//! chunk as it always does (zstd NDJSON, each record led by its event time)
//! and hands those bytes to [`encode_chunk`], which the binary wires in.
//! The chunk's records become one Parquet file with the chunk's own schema,
//! inferred as compaction infers an hour's (the same lattice: nested objects
//! are structs, conflicts widen, `dt`/`hour` fields are renamed, the
//! event-time column is a timestamp), so that compaction, which reads a
//! Parquet chunk back as the NDJSON it was made from
//! ([`crate::compact::read_chunk_text`]), merges it into the table's schema
//! as it would the JSON.

use std::io::Read;

use arrow::array::RecordBatch;
use arrow_json::ReaderBuilder;
use levee_event::Record;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::LakeError;
use crate::compact::{Lines, parse_line};
use crate::schema::{Changes, TableSchema, prepare_record};

/// Rows decoded into one Arrow batch.
const BATCH_ROWS: usize = 8192;

/// zstd level of a chunk's pages: 3, as compaction's default. A chunk is
/// small (a minute of traffic), so its pages cost little CPU either way.
const ZSTD_LEVEL: i32 = 3;

/// A sealed chunk's text once decompressed, at most: the lake output seals
/// a chunk at `chunk_max_bytes` of JSON (64MiB by default), so four times
/// the largest that setting allows by default stops only a runaway.
const MAX_TEXT_BYTES: u64 = 1 << 30;

/// Encodes a JSON chunk as the lake output stores it (NDJSON, zstd, each
/// line a record led by the event time in `time_field`) as one Parquet
/// file. Fails only when the chunk cannot be read (it is the collector's
/// own output) or Arrow refuses it.
pub fn encode_chunk(zstd_ndjson: &[u8], time_field: &str) -> Result<Vec<u8>, LakeError> {
    let mut text = Vec::with_capacity(zstd_ndjson.len().saturating_mul(8));
    zstd::stream::read::Decoder::new(zstd_ndjson)
        .and_then(|d| d.take(MAX_TEXT_BYTES).read_to_end(&mut text))
        .map_err(|e| LakeError::Other(format!("a sealed chunk's zstd: {e}")))?;
    encode_text(&text, Some(time_field))
}

/// [`encode_chunk`] for NDJSON text.
pub fn encode_text(text: &[u8], time_field: Option<&str>) -> Result<Vec<u8>, LakeError> {
    let (schema, plain) = infer(text, time_field);
    let arrow_schema = schema.to_arrow();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), arrow_schema.clone(), Some(props))?;
    let mut decoder = ReaderBuilder::new(arrow_schema.clone())
        .with_batch_size(BATCH_ROWS)
        .with_coerce_primitive(true)
        .build_decoder()?;
    let mut write = |batch: Option<RecordBatch>| -> Result<(), LakeError> {
        if let Some(batch) = batch {
            writer.write(&batch)?;
        }
        Ok(())
    };
    if plain {
        let mut rest = text;
        while !rest.is_empty() {
            let read = decoder.decode(rest)?;
            rest = rest.get(read..).unwrap_or_default();
            let batch = decoder.flush()?;
            if read == 0 && batch.is_none() {
                return Err(LakeError::Other(
                    "a sealed chunk's JSON: the decoder made no progress".to_owned(),
                ));
            }
            write(batch)?;
        }
    } else {
        let mut rows: Vec<Record> = Vec::with_capacity(BATCH_ROWS);
        for (_, line) in Lines::new(text) {
            // Lines that are no JSON object were left out of the schema too.
            let Ok(mut record) = parse_line(line) else {
                continue;
            };
            prepare_record(&mut record, time_field);
            schema.conform(&mut record);
            rows.push(record);
            if rows.len() >= BATCH_ROWS {
                decoder.serialize(&rows)?;
                rows.clear();
                write(decoder.flush()?)?;
            }
        }
        decoder.serialize(&rows)?;
        write(decoder.flush()?)?;
    }
    Ok(writer.into_inner()?)
}

/// The chunk's schema, and whether every line can go to the Arrow decoder
/// as it is (no field to rename, no value to make fit).
fn infer(text: &[u8], time_field: Option<&str>) -> (TableSchema, bool) {
    let mut schema = TableSchema::default();
    let mut changes = Changes::default();
    let fast = Lines::new(text)
        .all(|(_, line)| schema.absorb_json(line, time_field, &mut changes).is_ok());
    // Conflicts within the chunk widen a column; the decoder then needs
    // the values made to fit, which only the record path does.
    if fast && changes.list.is_empty() {
        return (schema, true);
    }
    let mut schema = TableSchema::default();
    let mut changes = Changes::default();
    for (_, line) in Lines::new(text) {
        if let Ok(mut record) = parse_line(line) {
            prepare_record(&mut record, time_field);
            schema.absorb(&record, time_field, &mut changes);
        }
    }
    (schema, false)
}

/// The schema of a Parquet chunk's Arrow batches, for tests.
#[cfg(test)]
fn read_back(bytes: Vec<u8>) -> (arrow::datatypes::SchemaRef, usize) {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let rows = reader.map(|b| b.unwrap().num_rows()).sum();
    (schema, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, TimeUnit};

    fn zstd(text: &str) -> Vec<u8> {
        zstd::encode_all(text.as_bytes(), 1).unwrap()
    }

    #[test]
    fn a_chunk_becomes_one_parquet_file_with_its_own_schema() {
        let text = "{\"time\":\"2018-09-01T00:00:01Z\",\"n\":1,\"req\":{\"path\":\"/a\"}}\n\
                    {\"time\":\"2018-09-01T00:00:02.5Z\",\"n\":2,\"tags\":[\"x\"]}\n";
        let (schema, rows) = read_back(encode_chunk(&zstd(text), "time").unwrap());
        assert_eq!(rows, 2);
        let time = schema.field_with_name("time").unwrap();
        assert!(
            matches!(
                time.data_type(),
                DataType::Timestamp(TimeUnit::Microsecond, Some(_))
            ),
            "{time:?}"
        );
        assert_eq!(
            schema.field_with_name("n").unwrap().data_type(),
            &DataType::Int64
        );
        assert!(matches!(
            schema.field_with_name("req").unwrap().data_type(),
            DataType::Struct(_)
        ));
        assert!(matches!(
            schema.field_with_name("tags").unwrap().data_type(),
            DataType::List(_)
        ));
    }

    /// Records that need the slow path: a `dt` field to rename, a column
    /// whose values disagree within the chunk.
    #[test]
    fn renamed_fields_and_conflicts_within_a_chunk_are_written_as_compaction_would() {
        let text = "{\"time\":\"2018-09-01T00:00:01Z\",\"dt\":\"theirs\",\"v\":1}\n\
                    {\"time\":\"2018-09-01T00:00:02Z\",\"v\":\"text\"}\n";
        let (schema, rows) = read_back(encode_chunk(&zstd(text), "time").unwrap());
        assert_eq!(rows, 2);
        assert!(schema.field_with_name("dt").is_err());
        assert!(schema.field_with_name("dt_").is_ok());
        assert_eq!(
            schema.field_with_name("v").unwrap().data_type(),
            &DataType::Utf8
        );
    }

    #[test]
    fn a_chunk_that_is_not_zstd_is_refused() {
        assert!(encode_chunk(b"not zstd", "time").is_err());
    }
}
