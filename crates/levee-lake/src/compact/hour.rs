//! Compacting one hour: read its chunks twice (once to infer the schema,
//! once to write), then swap its Parquet files and record its manifest.
//!
//! The chunks stay in memory, compressed, between the two reads; the rows
//! are decoded and written a batch at a time.

use std::collections::HashMap;

use arrow_json::ReaderBuilder;
use arrow_json::reader::Decoder;
use levee_event::Record;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::CompactOptions;
use super::chunk::{self, Fetched, Lines};
use super::plan::{self, HourState};
use super::report::{
    BadLine, CompactReason, CompactReport, FailedChunk, HourReport, OutputFile, SchemaChange,
};
use super::writer::PartWriter;
use crate::catalog::{self, Manifest, ManifestChunk, ManifestFile};
use crate::schema::{Changes, TableSchema, rename_partition_fields};
use crate::{Lake, LakeError, TableRef};

/// What the first read of an hour's chunks found.
struct Scan {
    schema: TableSchema,
    changes: Changes,
    /// Per chunk, in order: why it could not be read, if it could not.
    errors: Vec<Option<String>>,
    rows: u64,
    bad_lines: u64,
    first_bad_line: Option<BadLine>,
    decoded_bytes: u64,
}

/// Compacts one hour, widening `schema` (the table's) as its records need,
/// and adds what happened to `report`.
pub(crate) async fn compact_hour(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
    state: &HourState,
    reason: CompactReason,
    schema: &mut TableSchema,
    report: &mut CompactReport,
) -> Result<(), LakeError> {
    let p = &state.partition;
    let fetched = chunk::fetch_all(lake, &state.chunks, opts.fetch_concurrency).await?;
    let mut scan = scan(&fetched, opts.max_chunk_bytes);

    let mut widened = schema.clone();
    widened.join(&scan.schema, &mut scan.changes);
    // The catalog first: a reader may find columns no file has yet (they
    // read as NULL), never a file with a type the catalog lacks.
    if widened != *schema {
        catalog::write_schema(lake, table, &widened).await?;
        *schema = widened;
    }
    for (column, change) in scan.changes.list.drain(..) {
        report.push_change(SchemaChange {
            partition: p.clone(),
            column,
            change,
        });
    }

    let written = write_parquet(lake, table, opts, state, &fetched, &scan, schema).await?;
    let new_names: HashMap<&str, &OutputFile> = written
        .iter()
        .filter_map(|f| Some((f.path.filename()?, f)))
        .collect();

    // Now the old files can go; list again to catch any a crashed run left.
    let mut removed = Vec::new();
    let mut outputs = Vec::new();
    for meta in lake.list_objects(&table.parquet_partition(p)).await? {
        if !plan::is_part(&meta) {
            continue;
        }
        let name = meta.location.filename().unwrap_or_default();
        match new_names.get(name) {
            Some(file) => outputs.push(ManifestFile {
                name: name.to_owned(),
                size: meta.size,
                rows: file.rows,
            }),
            None => {
                delete_if_present(lake, &meta.location).await?;
                removed.push(meta.location);
            }
        }
    }
    outputs.sort_by(|a, b| a.name.cmp(&b.name));

    let chunks = state
        .chunks
        .iter()
        .zip(&scan.errors)
        .map(|(c, error)| ManifestChunk {
            name: plan::chunk_name(c).to_owned(),
            size: c.size,
            error: error.clone(),
        })
        .collect();
    let rows_written = written.iter().map(|f| f.rows).sum();
    let manifest = Manifest {
        version: catalog::FORMAT_VERSION,
        dt: p.dt.clone(),
        hour: p.hour,
        compacted_at: now_rfc3339(),
        chunks,
        outputs,
        schema: schema.clone(),
        rows: rows_written,
        bad_lines: scan.bad_lines,
    };
    catalog::write_manifest(lake, table, &manifest).await?;

    let failed_chunks = state
        .chunks
        .iter()
        .zip(&scan.errors)
        .filter_map(|(c, e)| {
            e.as_ref().map(|message| FailedChunk {
                chunk: c.key.clone(),
                message: message.clone(),
            })
        })
        .collect();
    report.hours.push(HourReport {
        partition: p.clone(),
        reason,
        input_chunks: state.chunks.len(),
        input_bytes: state.chunks.iter().map(|c| c.size).sum(),
        decoded_bytes: scan.decoded_bytes,
        input_rows: scan.rows,
        bad_lines: scan.bad_lines,
        first_bad_line: scan.first_bad_line,
        failed_chunks,
        output_bytes: written.iter().map(|f| f.bytes).sum(),
        output_files: written,
        rows_written,
        removed_files: removed,
    });
    Ok(())
}

/// The first read: every record's type, and what could not be read.
fn scan(fetched: &[Fetched], limit: u64) -> Scan {
    let mut scan = Scan {
        schema: TableSchema::default(),
        changes: Changes::default(),
        errors: Vec::with_capacity(fetched.len()),
        rows: 0,
        bad_lines: 0,
        first_bad_line: None,
        decoded_bytes: 0,
    };
    for f in fetched {
        let data = match &f.body {
            Ok(body) => chunk::decompress(f.chunk.compression, body, limit),
            Err(e) => Err(e.clone()),
        };
        let data = match data {
            Ok(data) => data,
            Err(e) => {
                scan.errors.push(Some(e));
                continue;
            }
        };
        scan.errors.push(None);
        scan.decoded_bytes += data.len() as u64;
        for (number, line) in Lines::new(&data) {
            match chunk::parse_line(line) {
                Ok(mut record) => {
                    rename_partition_fields(&mut record);
                    scan.schema.absorb(&record, &mut scan.changes);
                    scan.rows += 1;
                }
                Err(message) => {
                    scan.bad_lines += 1;
                    scan.first_bad_line.get_or_insert_with(|| BadLine {
                        chunk: f.chunk.key.clone(),
                        line: number,
                        message,
                        snippet: chunk::snippet(line),
                    });
                }
            }
        }
    }
    scan
}

/// The second read: every record, made to fit `schema`, into Parquet.
async fn write_parquet(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
    state: &HourState,
    fetched: &[Fetched],
    scan: &Scan,
    schema: &TableSchema,
) -> Result<Vec<OutputFile>, LakeError> {
    let arrow_schema = schema.to_arrow();
    // Parquet cannot hold rows without columns; the report shows the rows unwritten.
    if arrow_schema.fields().is_empty() || scan.rows == 0 {
        return Ok(Vec::new());
    }
    let batch_rows = opts.batch_rows.max(1);
    let mut decoder = ReaderBuilder::new(arrow_schema.clone())
        .with_batch_size(batch_rows)
        .build_decoder()?;
    let mut writer = PartWriter::new(
        lake,
        table,
        &state.partition,
        arrow_schema,
        opts,
        state.next_part(),
    )?;
    let mut rows: Vec<Record> = Vec::with_capacity(batch_rows);
    let result = async {
        for (f, error) in fetched.iter().zip(&scan.errors) {
            let (None, Ok(body)) = (error, &f.body) else {
                continue;
            };
            let data = chunk::decompress(f.chunk.compression, body, opts.max_chunk_bytes).map_err(
                |e| {
                    LakeError::Other(format!(
                        "{}: unreadable on the second read: {e}",
                        f.chunk.key
                    ))
                },
            )?;
            for (_, line) in Lines::new(&data) {
                // Bad lines were counted on the first read.
                let Ok(mut record) = chunk::parse_line(line) else {
                    continue;
                };
                rename_partition_fields(&mut record);
                schema.conform(&mut record);
                rows.push(record);
                if rows.len() >= batch_rows {
                    write_rows(&mut decoder, &mut rows, &mut writer).await?;
                }
            }
        }
        write_rows(&mut decoder, &mut rows, &mut writer).await
    }
    .await;
    match result {
        Ok(()) => writer.finish().await,
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

async fn write_rows(
    decoder: &mut Decoder,
    rows: &mut Vec<Record>,
    writer: &mut PartWriter<'_>,
) -> Result<(), LakeError> {
    if rows.is_empty() {
        return Ok(());
    }
    decoder.serialize(rows)?;
    rows.clear();
    if let Some(batch) = decoder.flush()? {
        writer.write(batch).await?;
    }
    Ok(())
}

async fn delete_if_present(lake: &Lake, key: &Path) -> Result<(), LakeError> {
    match lake.store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn now_rfc3339() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    levee_event::time::UtcTime::from_nanos(nanos).rfc3339_millis()
}
