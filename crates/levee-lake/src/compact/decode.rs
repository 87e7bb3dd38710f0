//! The second read of an hour's chunks: every record, made to fit the table
//! schema, decoded into Arrow batches and written as Parquet. Chunks the
//! first read let go (see `scan`) are fetched again.
//!
//! A chunk the first read found plain goes to the Arrow JSON decoder as it
//! is (numbers and booleans in string columns keep their JSON text). If the
//! decoder refuses it (an object where the table has a string, say), or for
//! any other chunk, each line is parsed into a record, renamed and made to
//! fit (see [`TableSchema::conform`]) first.

use std::borrow::Cow;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow_json::ReaderBuilder;
use arrow_json::reader::Decoder;
use bytes::Bytes;
use levee_event::Record;

use super::CompactOptions;
use futures::{StreamExt, TryStreamExt};

use super::chunk::{self, Body, Fetched, Lines};
use super::part_file::IdleWorkers;
use super::plan::HourState;
use super::records::Unrepresentable;
use super::report::OutputFile;
use super::scan::{ChunkScan, Scan};
use super::writer::{FileLayout, PartWriter};
use crate::declared::DeclaredSchema;
use crate::schema::{TableSchema, cast_record, prepare_record};
use crate::{Lake, LakeError, TableRef};

/// Writes the hour's records as Parquet files; returns the files.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_parquet(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
    state: &HourState,
    fetched: &mut [Fetched],
    scan: &Scan,
    schema: &TableSchema,
    time_field: Option<&str>,
    layout: &FileLayout,
    idle: &IdleWorkers,
    casts: &mut Casts<'_>,
) -> Result<Vec<OutputFile>, LakeError> {
    let arrow_schema = schema.to_arrow();
    // Parquet cannot hold rows without columns; the report shows the rows unwritten.
    if arrow_schema.fields().is_empty() || scan.rows == 0 {
        return Ok(Vec::new());
    }
    let first_part = state.next_part();
    let mut writer = PartWriter::new(
        lake,
        table,
        &state.partition,
        arrow_schema.clone(),
        opts,
        layout,
        first_part,
        idle,
    )?;
    let records = Records {
        schema,
        arrow_schema,
        time_field,
    };
    match write_chunks(lake, opts, fetched, scan, &records, casts, &mut writer).await {
        Ok(()) => writer.finish().await,
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

/// The table's declared schema, and what casting values to it cost.
pub(crate) struct Casts<'a> {
    pub declared: &'a DeclaredSchema,
    /// Values that could not be cast, made null.
    pub failures: u64,
    /// Where the records that held them are kept, with the reasons.
    pub records: &'a mut Unrepresentable,
}

/// What the hour's records are made to fit.
struct Records<'a> {
    schema: &'a TableSchema,
    arrow_schema: SchemaRef,
    time_field: Option<&'a str>,
}

async fn write_chunks(
    lake: &Lake,
    opts: &CompactOptions,
    fetched: &mut [Fetched],
    scan: &Scan,
    fit: &Records<'_>,
    casts: &mut Casts<'_>,
    writer: &mut PartWriter<'_>,
) -> Result<(), LakeError> {
    let mut failures = Vec::new();
    let batch_rows = opts.batch_rows.max(1);
    let new_decoder = || {
        ReaderBuilder::new(fit.arrow_schema.clone())
            .with_batch_size(batch_rows)
            .with_coerce_primitive(true)
            .build_decoder()
    };
    let mut plain = new_decoder()?;
    let mut records = RecordDecoder {
        decoder: new_decoder()?,
        rows: Vec::with_capacity(batch_rows),
        batch_rows,
    };
    // The chunks' text in order: that of those kept since the first read at
    // once, the others fetched again, a few ahead of the one being decoded.
    let mut bodies = futures::stream::iter(fetched.iter_mut().zip(&scan.chunks))
        .map(|(f, chunk)| async move {
            let body = match (chunk, &f.body) {
                // Chunks the first read found nothing in (unreadable, gone) add nothing.
                (ChunkScan { rows: 0, .. }, _) | (_, Body::Failed) => None,
                (_, Body::Text { text, .. }) => Some(Input::Text(text.clone())),
                (_, Body::Held { bytes, .. }) => Some(Input::Stored(bytes.clone())),
                (_, Body::Released) => {
                    Some(Input::Stored(chunk::fetch_again(lake, &f.chunk).await?))
                }
            };
            Ok::<_, LakeError>((f, chunk, body))
        })
        .buffered(opts.fetch_concurrency.max(1))
        // Boxed, so that the hour's future is plainly `Send` for its task.
        .boxed();
    while let Some((f, chunk, body)) = bodies.try_next().await? {
        let data: Bytes = match body {
            None => continue,
            Some(Input::Text(text)) => text,
            // A damaged chunk gives the same lines before its damage as on the first read.
            Some(Input::Stored(body)) => {
                let decoded = chunk::decompress(f.chunk.compression, &body, opts.max_chunk_bytes)
                    .map_err(|e| {
                    LakeError::Other(format!(
                        "{}: unreadable on the second read: {e}",
                        f.chunk.key
                    ))
                })?;
                match decoded.data {
                    Cow::Owned(text) => Bytes::from(text),
                    // Stored as it is (or empty): a part of the stored bytes.
                    Cow::Borrowed(text) => body.slice_ref(text),
                }
            }
        };
        // Read for the last time, unless the quarantine wants it: give its
        // room in the budget to the chunks still to come.
        if !chunk.damaged {
            f.body = Body::Released;
        }
        if chunk.plain {
            match decode_plain(&mut plain, &data, chunk.rows) {
                Ok(batches) => {
                    for batch in batches {
                        writer.write(batch).await?;
                    }
                    continue;
                }
                // The decoder is left half way: start a new one.
                Err(_) => plain = new_decoder()?,
            }
        }
        for (number, line) in Lines::new(&data) {
            // Bad lines were counted on the first read.
            let Ok(mut record) = chunk::parse_line(line) else {
                continue;
            };
            prepare_record(&mut record, fit.time_field);
            if !casts.declared.is_empty() {
                cast_record(&mut record, casts.declared, &mut failures);
                if !failures.is_empty() {
                    casts.failures += failures.len() as u64;
                    let reason = format!("declared schema: {}", failures.join("; "));
                    casts.records.push(&f.chunk.key, number, &reason, line);
                    failures.clear();
                }
            }
            fit.schema.conform(&mut record);
            if let Some(batch) = records.push(record)? {
                writer.write(batch).await?;
            }
        }
    }
    if let Some(batch) = records.flush()? {
        writer.write(batch).await?;
    }
    Ok(())
}

/// A chunk for the second read.
enum Input {
    /// Its text, kept since the first read.
    Text(Bytes),
    /// Its stored bytes, to decompress.
    Stored(Bytes),
}

/// A whole chunk through the Arrow JSON decoder; all or nothing, so that a
/// refusal half way leaves nothing written.
fn decode_plain(
    decoder: &mut Decoder,
    data: &[u8],
    rows: u64,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut batches = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let read = decoder.decode(rest)?;
        rest = rest.get(read..).unwrap_or_default();
        match decoder.flush()? {
            Some(batch) => batches.push(batch),
            // Nothing read and nothing decoded: the decoder is stuck.
            None if read == 0 => {
                return Err(ArrowError::JsonError("decoder made no progress".to_owned()));
            }
            None => {}
        }
    }
    let decoded: usize = batches.iter().map(RecordBatch::num_rows).sum();
    // The first read counted the chunk's records; anything else is a refusal.
    if decoded as u64 != rows {
        return Err(ArrowError::JsonError(format!(
            "{decoded} rows decoded, {rows} read"
        )));
    }
    Ok(batches)
}

/// Records parsed one by one, decoded a batch at a time.
struct RecordDecoder {
    decoder: Decoder,
    rows: Vec<Record>,
    batch_rows: usize,
}

impl RecordDecoder {
    fn push(&mut self, record: Record) -> Result<Option<RecordBatch>, ArrowError> {
        self.rows.push(record);
        if self.rows.len() >= self.batch_rows {
            self.flush()
        } else {
            Ok(None)
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rows.is_empty() {
            return Ok(None);
        }
        self.decoder.serialize(&self.rows)?;
        self.rows.clear();
        self.decoder.flush()
    }
}
