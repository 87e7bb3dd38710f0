//! Parquet chunks as compaction's input: each read back as the NDJSON it
//! was made from, so that every reader of an hour's chunks (the schema
//! pass, the decoder, the quarantine, `levee query`'s `_json`) takes a
//! Parquet chunk as it takes a JSON one.
//!
//! The lake output makes a Parquet chunk from its JSON chunk's text (see
//! [`crate::parquet_chunk`]), so the round trip gives back the same
//! records: nulls are left out as absent fields, timestamps come back as
//! RFC 3339 text (`2018-09-01T00:00:01.5+00:00`), which the event-time
//! column reads as it reads the lake output's `Z`, and renamed fields
//! (`dt_`) keep their new names. A chunk whose footer or pages cannot be
//! read gives no rows at all and is damaged: row groups are not salvaged.

use arrow_json::LineDelimitedWriter;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::chunk::Decoded;

/// The chunk's rows as NDJSON text, refusing to grow past `limit` bytes.
/// A chunk that is no readable Parquet gives no text and the damage.
pub(crate) fn to_ndjson(body: &[u8], limit: u64) -> Result<Decoded<'static>, String> {
    match read(body, limit) {
        Ok(text) => Ok(Decoded {
            data: text.into(),
            damage: None,
        }),
        Err(Failure::TooLarge) => Err(format!("more than {limit} bytes once decompressed")),
        Err(Failure::Damaged(why)) => Ok(Decoded {
            data: Vec::new().into(),
            damage: Some(format!("parquet: {why}")),
        }),
    }
}

enum Failure {
    TooLarge,
    Damaged(String),
}

fn read(body: &[u8], limit: u64) -> Result<Vec<u8>, Failure> {
    let damaged = |e: &dyn std::fmt::Display| Failure::Damaged(e.to_string());
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(body))
        .and_then(|b| b.build())
        .map_err(|e| damaged(&e))?;
    let mut writer = LineDelimitedWriter::new(Vec::with_capacity(body.len().saturating_mul(4)));
    for batch in reader {
        let batch = batch.map_err(|e| damaged(&e))?;
        writer.write(&batch).map_err(|e| damaged(&e))?;
        if writer.get_ref().len() as u64 > limit {
            return Err(Failure::TooLarge);
        }
    }
    writer.finish().map_err(|e| damaged(&e))?;
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::read_records;
    use crate::parquet_chunk::encode_text;

    #[test]
    fn a_parquet_chunk_reads_back_as_the_records_it_was_made_from() {
        let text = "{\"time\":\"2018-09-01T00:00:01.5Z\",\"n\":1,\"req\":{\"path\":\"/a\",\"ms\":2.5},\"tags\":[\"x\",\"y\"]}\n\
                    {\"time\":\"2018-09-01T00:00:02Z\",\"n\":2,\"dt\":\"theirs\"}\n";
        let parquet = encode_text(text.as_bytes(), Some("time")).unwrap();
        let read = to_ndjson(&parquet, 1 << 20).unwrap();
        assert_eq!(read.damage, None);
        let back = read_records(&read.data, Some("time"));
        let want = read_records(text.as_bytes(), Some("time"));
        assert_eq!(back.bad_lines, 0);
        assert_eq!(back.records.len(), 2);
        for (got, want) in back.records.iter().zip(&want.records) {
            for (name, value) in want.iter() {
                if name.as_str() == "time" {
                    let got = got.get("time").and_then(|v| v.as_str()).unwrap();
                    let got = arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(got);
                    let want = arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(
                        value.as_str().unwrap(),
                    );
                    assert_eq!(got.unwrap(), want.unwrap());
                } else {
                    assert_eq!(got.get(name.as_str()), Some(value), "{name}");
                }
            }
        }
    }

    #[test]
    fn a_damaged_parquet_chunk_gives_nothing_and_says_why() {
        let parquet = encode_text(b"{\"n\":1}\n", None).unwrap();
        for bad in [&parquet[..parquet.len() / 2], b"garbage"] {
            let read = to_ndjson(bad, 1 << 20).unwrap();
            assert!(read.data.is_empty());
            assert!(read.damage.unwrap().starts_with("parquet: "));
        }
    }

    #[test]
    fn a_parquet_chunk_is_bounded_once_decoded() {
        let text: String = (0..1000).map(|n| format!("{{\"n\":{n}}}\n")).collect();
        let parquet = encode_text(text.as_bytes(), None).unwrap();
        let Err(e) = to_ndjson(&parquet, 100) else {
            panic!("not bounded");
        };
        assert!(e.contains("more than 100"), "{e}");
        assert!(to_ndjson(&parquet, 1 << 20).is_ok());
    }
}
