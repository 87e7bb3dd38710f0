//! Compacting one hour: read its chunks twice (once to infer the schema,
//! once to write), then swap its Parquet files and record its manifest.
//!
//! The chunks stay in memory between the two reads (as text, so that they
//! are decompressed once, or else compressed) as far as the budget shared
//! by the hours at work allows; the others are fetched again (see `scan`
//! and `decode`). The rows are decoded and written a
//! batch at a time.
//!
//! An hour whose chunks now give fewer rows than its Parquet holds (a chunk
//! damaged since) is left as it is unless the options allow the loss.
//! Damaged chunks of an hour that is compacted go to the quarantine once the
//! new files are written.

use std::collections::{HashMap, HashSet};

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};

use super::CompactOptions;
use super::chunk::{Body, Budget};
use super::join_order::Turn;
use super::one_read::{LastSizes, Once};
use super::part_file::IdleWorkers;
use super::plan::{self, HourState, ManifestState};
use super::quarantine::{self, Left};
use super::report::{
    CompactReason, CompactReport, FailedChunk, HourReport, OutputFile, SchemaChange, SkipReason,
    SkippedHour,
};
use super::writer::FileLayout;
use super::{decode, one_read, retention, scan};
use crate::catalog::{self, Manifest, ManifestChunk, ManifestFile};
use crate::declared::DeclaredSchema;
use crate::schema::{Changes, TableSchema};
use crate::{Chunk, Lake, LakeError, Partition, TableRef};

/// The table's schema, widened by the hours compacted at once, one at a
/// time and in plan order (see `join_order`): each joins its own schema
/// to it and stores it in the catalog.
pub(crate) type SharedSchema = tokio::sync::Mutex<TableSchema>;

/// Compacts one hour, widening `schema` (the table's) as its records need,
/// and adds what happened to `report`. `time_field` is the table's
/// event-time column, if it has one.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn compact_hour(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
    state: &HourState,
    reason: CompactReason,
    table_schema: &SharedSchema,
    budget: &Budget,
    idle: &IdleWorkers,
    last_sizes: &LastSizes,
    mut turn: Turn,
    time_field: Option<&str>,
    declared: &DeclaredSchema,
    layout: &FileLayout,
    report: &mut CompactReport,
) -> Result<(), LakeError> {
    let p = &state.partition;
    // An hour some of whose chunks expired: its Parquet, their only copy,
    // is read too, and only the chunks it does not cover yet.
    let carried = retention::carried_rows(lake, state).await?;
    let (to_read, carried, covered_before) = match carried {
        Some(c) => {
            let names: HashSet<&str> = c.covered.iter().map(|m| m.name.as_str()).collect();
            let new: Vec<Chunk> = state
                .chunks
                .iter()
                .filter(|ch| !names.contains(plan::manifest_name(ch, p).as_str()))
                .cloned()
                .collect();
            (new, c.inputs, c.covered)
        }
        None => (state.chunks.clone(), Vec::new(), Vec::new()),
    };
    let carried_inputs = carried.len();
    // Read once when that is enough; a unit with a declared schema (cast
    // record by record) or Parquet read back takes the two reads.
    let mut applied = Changes::default();
    let once = if carried.is_empty() && declared.is_empty() {
        match one_read::read_once(
            lake,
            table,
            state,
            &to_read,
            opts,
            budget,
            idle,
            last_sizes,
            &mut turn,
            time_field,
            table_schema,
            layout,
        )
        .await?
        {
            Once::Written(o) => Some(*o),
            Once::TwoReads(changes) => {
                applied = changes;
                None
            }
        }
    } else {
        None
    };
    let read_once = once.is_some();
    let (mut fetched, mut scan, once) = match once {
        Some(o) => (o.fetched, o.scan, Some((o.schema, o.written))),
        None => {
            let (fetched, mut scan) =
                scan::first_read(lake, carried, &to_read, opts, budget, time_field).await?;
            // What the one read did to the table's schema before it gave up.
            let found = std::mem::take(&mut scan.changes.list);
            scan.changes.list = applied.list;
            for change in found {
                if !scan.changes.list.contains(&change) {
                    scan.changes.list.push(change);
                }
            }
            (fetched, scan, None)
        }
    };
    let mut failed_chunks: Vec<FailedChunk> = fetched
        .iter()
        .map(|f| &f.chunk)
        .zip(&scan.chunks)
        .filter_map(|(c, scanned)| {
            scanned.error.as_ref().map(|message| FailedChunk {
                chunk: c.key.clone(),
                message: message.clone(),
                rows_read: scanned.rows,
                quarantined: None,
            })
        })
        .collect();

    // Never trade good Parquet for less: damaged chunks stay where they
    // are, for a person to look at, until they ask for the loss.
    if !opts.allow_fewer_rows {
        let covered = covered_rows(lake, state).await;
        if scan.rows < covered {
            // Read once, its files are written already: no manifest lists them.
            if let Some((_, written)) = &once {
                delete_files(lake, written).await?;
            }
            report.skipped.push(SkippedHour {
                partition: p.clone(),
                reason: SkipReason::FewerRows {
                    covered,
                    readable: scan.rows,
                    failed: failed_chunks,
                },
            });
            return Ok(());
        }
    }

    if !declared.is_empty() {
        // Values the declared types do not hold as they are need casting,
        // record by record: the Arrow decoder would refuse or mangle them.
        if !scan.schema.fits(declared) {
            for chunk in &mut scan.chunks {
                chunk.plain = false;
            }
        }
        // The hour's types give way to the declared ones, so joining them
        // widens nothing declared.
        scan.schema.declare(declared);
    }
    // The table's schema as it stands once this hour's is joined to it;
    // this hour is written with it, whatever the hours compacted beside it
    // add later (a widening of theirs makes this hour stale, for the next pass).
    let schema = match &once {
        // Joined to the table's as it was read.
        Some((schema, _)) => schema.clone(),
        None => {
            turn.wait().await;
            let mut table_schema = table_schema.lock().await;
            let mut widened = table_schema.clone();
            widened.join(&scan.schema, &mut scan.changes);
            // The catalog first: a reader may find columns no file has yet (they
            // read as NULL), never a file with a type the catalog lacks.
            if widened != *table_schema {
                catalog::write_schema_from(lake, table, &widened, Some(p)).await?;
                *table_schema = widened;
            }
            turn.pass();
            table_schema.clone()
        }
    };
    let schema = &schema;
    for (column, change) in scan.changes.list.drain(..) {
        report.push_change(SchemaChange {
            partition: p.clone(),
            column,
            change,
        });
    }

    let mut unrepresentable = std::mem::take(&mut scan.unrepresentable);
    let mut casts = decode::Casts {
        declared,
        failures: 0,
        records: &mut unrepresentable,
    };
    // Read once, and written already, or else its chunks are read again.
    let (written, reread_chunks) = match once {
        Some((_, written)) => (written, 0),
        None => {
            let reread_chunks = fetched
                .iter()
                .zip(&scan.chunks)
                .filter(|(f, c)| matches!(f.body, Body::Released) && c.rows > 0)
                .count();
            let written = decode::write_parquet(
                lake,
                table,
                opts,
                state,
                &mut fetched,
                &scan,
                schema,
                time_field,
                layout,
                idle,
                &mut casts,
            )
            .await?;
            (written, reread_chunks)
        }
    };
    let cast_failures = casts.failures;

    // Lines that could not be rows are kept, with why, before the hour's
    // chunks (their other copy) may expire.
    let quarantined_records = unrepresentable.store(lake, table, p).await?;

    // The rows the damaged chunks had are in the new files: move the chunks
    // out of the JSON copy, before the old files go.
    let mut left: HashMap<&Path, Left> = HashMap::new();
    for (f, scanned) in fetched.iter().zip(&scan.chunks) {
        if !scanned.damaged {
            continue;
        }
        // A day's chunk goes to its own hour's folder.
        let hour = Partition::from_path(&f.chunk.key).unwrap_or_else(|| p.clone());
        let moved =
            quarantine::quarantine(lake, table, &hour, f, scanned, opts.max_chunk_bytes).await?;
        if let Some(failed) = failed_chunks.iter_mut().find(|c| c.chunk == f.chunk.key) {
            failed.quarantined = Some(moved.to);
        }
        left.insert(&f.chunk.key, moved.left);
    }

    let new_names: HashMap<&str, &OutputFile> = written
        .iter()
        .filter_map(|f| Some((f.path.filename()?, f)))
        .collect();

    // Now the old files can go; list again to catch any a crashed run left.
    let mut removed = Vec::new();
    let mut outputs = Vec::new();
    for meta in lake.list_objects(&table.parquet_partition(p)).await? {
        if !plan::is_part_of(&meta, p) {
            continue;
        }
        let name = meta.location.filename().unwrap_or_default();
        match new_names.get(name) {
            Some(file) => outputs.push(ManifestFile {
                name: name.to_owned(),
                size: meta.size,
                rows: file.rows,
            }),
            None => removed.push(meta.location),
        }
    }
    outputs.sort_by(|a, b| a.name.cmp(&b.name));

    let chunks = fetched
        .iter()
        .map(|f| &f.chunk)
        .zip(&scan.chunks)
        .skip(carried_inputs)
        .filter_map(|(c, scanned)| {
            let (size, error) = match left.get(&c.key) {
                None => (c.size, scanned.error.clone()),
                // Quarantined: what is left is read whole.
                Some(Left::Lines { size }) => (*size, None),
                Some(Left::Nothing) => return None,
            };
            Some(ManifestChunk {
                name: plan::manifest_name(c, p),
                size,
                error,
                expired: false,
            })
        })
        .chain(covered_before)
        .collect();
    let rows_written = written.iter().map(|f| f.rows).sum();
    let manifest = Manifest {
        version: catalog::FORMAT_VERSION,
        dt: p.dt.clone(),
        hour: (!p.is_day()).then_some(p.hour),
        compacted_at: now_rfc3339(),
        chunks,
        outputs,
        schema: schema.clone(),
        rows: rows_written,
        bad_lines: scan.bad_lines,
    };
    super::test_pause().await;
    catalog::write_manifest(lake, table, &manifest).await?;
    // Only now: until the manifest was written, the old files were the hour.
    catalog::retire(lake, table, &removed, opts.grace).await?;

    report.hours.push(HourReport {
        partition: p.clone(),
        reason,
        input_chunks: to_read.len(),
        reread_chunks,
        read_once,
        input_bytes: to_read.iter().map(|c| c.size).sum(),
        decoded_bytes: scan.decoded_bytes,
        input_rows: scan.rows,
        bad_lines: scan.bad_lines,
        first_bad_line: scan.first_bad_line,
        records_quarantined: unrepresentable.kept(),
        records_not_kept: unrepresentable.not_kept,
        cast_failures,
        quarantined_records,
        failed_chunks,
        output_bytes: written.iter().map(|f| f.bytes).sum(),
        output_files: written,
        rows_written,
        removed_files: removed,
    });
    Ok(())
}

/// Deletes files no manifest lists.
async fn delete_files(lake: &Lake, files: &[OutputFile]) -> Result<(), LakeError> {
    for file in files {
        match lake.store.delete(&file.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The rows the hour's Parquet holds now: as its manifest says, or, with
/// no manifest to read (lost, or a first compaction that stopped before
/// writing it), as its files' footers say. A file whose footer cannot be
/// read counts as none: replacing it loses no readable row.
async fn covered_rows(lake: &Lake, state: &HourState) -> u64 {
    if let ManifestState::Found(m) = &state.manifest {
        return m.rows;
    }
    let mut rows = 0;
    for meta in &state.parts {
        rows += footer_rows(lake, meta).await.unwrap_or(0);
    }
    rows
}

/// The rows a Parquet file's footer says it holds; two ranged reads.
async fn footer_rows(lake: &Lake, meta: &ObjectMeta) -> Option<u64> {
    const TAIL: u64 = 8;
    let end = meta.size.checked_sub(TAIL)?;
    let tail = lake
        .store
        .get_range(&meta.location, end..meta.size)
        .await
        .ok()?;
    let tail = FooterTail::try_new(tail.as_ref().try_into().ok()?).ok()?;
    let start = end.checked_sub(tail.metadata_length() as u64)?;
    let footer = lake
        .store
        .get_range(&meta.location, start..end)
        .await
        .ok()?;
    let metadata = ParquetMetaDataReader::decode_metadata(&footer).ok()?;
    u64::try_from(metadata.file_metadata().num_rows()).ok()
}

pub(super) fn now_rfc3339() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    levee_event::time::UtcTime::from_nanos(nanos).rfc3339_millis()
}
