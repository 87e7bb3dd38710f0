//! The one read of a unit's chunks (an hour's, or a day's), when it is
//! enough: each line parsed once, into Arrow columns, while the schema is
//! inferred (see [`HourColumns`]), and written as Parquet as it goes. The
//! two reads of `scan` and `decode` parse each line twice, once for the
//! schema and once to decode it with it; this is most of what compaction
//! costs.
//!
//! The unit is read in segments of `segment_bytes` of text (see
//! [`CompactOptions`]; [`SEGMENT_TEXT_BYTES`] by default), cut between
//! lines, within a chunk or across chunks: each segment's columns are
//! built, then written, before the next is read, so memory stays bounded
//! whatever the unit's size or its chunks'. The first
//! segment's schema, joined into the table's (and stored in the catalog,
//! before any file), is the schema of the unit's files; a later segment
//! must fit it as it is.
//!
//! It gives up (the unit is then read the two-pass way, and whatever it
//! wrote is deleted: no manifest lists it) on the first line the columns
//! refuse (a type conflict that makes a column text, a field to rename, a
//! line that is no JSON object), on a later segment that needs a wider
//! schema than the first (a new column, an integer column that became a
//! float one), and when the budget has no room for a segment's text.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::CompactOptions;
use super::chunk::{self, Body, Budget, Fetched, Reservation};
use super::hour::SharedSchema;
use super::join_order::Turn;
use super::part_file::IdleWorkers;
use super::plan::HourState;
use super::report::OutputFile;
use super::scan::{ChunkScan, Scan};
use super::writer::{FileLayout, PartWriter};
use crate::schema::{Built, Changes, HourColumns, Sizes, TableSchema, fit_batch};
use crate::{Chunk, Lake, LakeError, TableRef};

/// Text a segment of a unit read once may have, by default. Its Arrow columns take
/// about as much memory as its text; they are handed to the writer, whose
/// sort run (64 MiB, see `writer`) holds them until its row group is
/// written, while the next segment is built.
pub(crate) const SEGMENT_TEXT_BYTES: u64 = 32 << 20;

/// What became of a unit read once.
pub(crate) enum Once {
    /// Read and written (not committed: no manifest lists the files yet).
    Written(Box<OneRead>),
    /// The unit needs the two reads. Nothing is left of this one's files;
    /// the changes are the ones it made to the table's schema (in the
    /// catalog already), for the report.
    TwoReads(Changes),
}

/// A unit read once, and written.
pub(crate) struct OneRead {
    /// Its chunks (damaged ones held, for the quarantine; the rest let go).
    pub fetched: Vec<Fetched>,
    /// What the read found, as the first of the two reads would have.
    pub scan: Scan,
    /// The table's schema the files were written with.
    pub schema: TableSchema,
    /// The files written.
    pub written: Vec<OutputFile>,
}

/// The columns' sizes of the last segment a unit wrote, the text they came
/// from and the text per stored byte of its chunks: a unit's first
/// segment starts with room in proportion (a table's units are alike in
/// shape, and an hour is often too small for a second segment).
#[derive(Clone, Default)]
pub(crate) struct LastSizes(Arc<std::sync::Mutex<Option<(Sizes, u64, f64)>>>);

impl LastSizes {
    /// Columns with room for about `stored` bytes of chunks' text.
    fn columns(&self, time_field: Option<&str>, stored: u64, segment_bytes: u64) -> HourColumns {
        let last = self.0.lock().ok().and_then(|last| last.clone());
        match last {
            Some((sizes, from_text, ratio)) => {
                let expected = ((stored as f64 * ratio) as u64).min(segment_bytes);
                HourColumns::sized(time_field, sizes.scaled(from_text, expected))
            }
            None => HourColumns::new(time_field),
        }
    }

    fn set(&self, columns: &HourColumns, text: u64, left: &Left) {
        if text == 0 {
            return;
        }
        if let Ok(mut last) = self.0.lock() {
            *last = Some((columns.sizes(), text, left.ratio()));
        }
    }
}

/// What is shared by the segments of a unit.
struct Unit<'a> {
    lake: &'a Lake,
    table: &'a TableRef,
    opts: &'a CompactOptions,
    state: &'a HourState,
    table_schema: &'a SharedSchema,
    layout: &'a FileLayout,
    idle: &'a IdleWorkers,
    last_sizes: &'a LastSizes,
    /// The unit's turn to join its schema to the table's.
    turn: &'a mut Turn,
    /// The schema of the unit's files, once the first segment set it.
    schema: Option<TableSchema>,
    /// Changes made to the table's schema (for the report, if the unit
    /// falls back to the two reads).
    applied: Changes,
    writer: Option<PartWriter<'a>>,
}

/// Reads the unit's `chunks` once, in a table whose event-time column is
/// `time_field`, writing its rows as it goes (see the module's docs).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_once(
    lake: &Lake,
    table: &TableRef,
    state: &HourState,
    chunks: &[Chunk],
    opts: &CompactOptions,
    budget: &Budget,
    idle: &IdleWorkers,
    last_sizes: &LastSizes,
    turn: &mut Turn,
    time_field: Option<&str>,
    table_schema: &SharedSchema,
    layout: &FileLayout,
) -> Result<Once, LakeError> {
    let mut unit = Unit {
        lake,
        table,
        opts,
        state,
        table_schema,
        layout,
        idle,
        last_sizes,
        turn,
        schema: None,
        applied: Changes::default(),
        writer: None,
    };
    let mut scan = Scan::new(chunks.len());
    match read_segments(&mut unit, &mut scan, chunks, budget, time_field).await {
        Ok(Some(fetched)) => {
            let written = match unit.writer.take() {
                Some(writer) => writer.finish().await?,
                None => Vec::new(),
            };
            Ok(Once::Written(Box::new(OneRead {
                fetched,
                scan,
                schema: unit.schema.unwrap_or_default(),
                written,
            })))
        }
        Ok(None) => {
            if let Some(writer) = unit.writer.take() {
                writer.discard().await?;
            }
            Ok(Once::TwoReads(unit.applied))
        }
        Err(e) => {
            if let Some(writer) = unit.writer.take() {
                writer.abort().await;
            }
            Err(e)
        }
    }
}

/// Reads and writes the segments; the chunks, or `None` if the unit needs
/// the two reads.
async fn read_segments(
    unit: &mut Unit<'_>,
    scan: &mut Scan,
    chunks: &[Chunk],
    budget: &Budget,
    time_field: Option<&str>,
) -> Result<Option<Vec<Fetched>>, LakeError> {
    let (lake, opts) = (unit.lake, unit.opts);
    let limit = opts.max_chunk_bytes;
    let mut fetched = Vec::with_capacity(chunks.len());
    let stored: u64 = chunks.iter().map(|c| c.size).sum();
    let mut columns = unit
        .last_sizes
        .columns(time_field, stored, opts.segment_bytes);
    let mut segment_text = 0u64;
    let mut room: Vec<Reservation> = Vec::new();
    // One buffer for the chunks' text, read one after another.
    let mut text_buffer = Vec::new();
    // What was read so far, to guess the next segment's size.
    let mut left = Left {
        stored,
        ..Left::default()
    };
    let mut bodies = futures::stream::iter(chunks)
        .map(|c| async move { chunk::fetch(lake, c).await.map(|body| (c, body)) })
        .buffered(fetch_ahead(chunks, opts.fetch_concurrency))
        // Boxed, so that the unit's future is plainly `Send` for its task.
        .boxed();
    while let Some((c, body)) = bodies.try_next().await? {
        let mut unread = |error, body| {
            scan.chunks.push(ChunkScan {
                error: Some(error),
                damaged: false,
                rows: 0,
                plain: false,
            });
            fetched.push(Fetched {
                chunk: c.clone(),
                body,
            });
        };
        let bytes = match body {
            Ok(bytes) => bytes,
            Err(e) => {
                unread(e, Body::Failed);
                continue;
            }
        };
        let decoded =
            match chunk::decompress_reusing(c.compression, &bytes, limit, &mut text_buffer) {
                Ok(decoded) => decoded,
                Err(e) => {
                    unread(e, Body::Released);
                    continue;
                }
            };
        let text = decoded.data.len() as u64;
        scan.decoded_bytes += text;
        left.read(c.size, text);
        // The segment's rows hold the room of the text they came from (of
        // the chunks it has rows of): if there is none left for this
        // chunk's text, they are written first.
        let reserved = match budget.try_reserve(text) {
            Some(reserved) => reserved,
            None => {
                if columns.rows() > 0 {
                    let next = left.next_segment(text, opts.segment_bytes);
                    let sizes = columns.sizes().scaled(segment_text, next);
                    if !write_full(unit, scan, &mut columns, time_field, sizes).await? {
                        return Ok(None);
                    }
                    segment_text = 0;
                }
                room.clear();
                match budget.try_reserve(text) {
                    Some(reserved) => reserved,
                    None => return Ok(None),
                }
            }
        };
        // Checked as UTF-8 once, so that the parser need not check each
        // string; text that is not is for the two reads to report.
        let Ok(lines) = std::str::from_utf8(&decoded.data) else {
            return Ok(None);
        };
        let mut rows = 0u64;
        let mut consumed = 0u64;
        // As `lines.split('\n')` has them, the newlines found by `memchr`'s
        // SIMD search (std's was 3% of compaction's instructions).
        let ends = memchr::memchr_iter(b'\n', lines.as_bytes()).chain([lines.len()]);
        let mut from = 0;
        for end in ends {
            let line = &lines[from..end];
            from = end + 1;
            // A full segment is written before the next line, within a
            // chunk too: the lake output's chunks are up to 64 MiB.
            if segment_text >= opts.segment_bytes && columns.rows() > 0 {
                let next = left.next_segment(text - consumed, opts.segment_bytes);
                let sizes = columns.sizes().scaled(segment_text, next);
                if !write_full(unit, scan, &mut columns, time_field, sizes).await? {
                    return Ok(None);
                }
                room.clear();
                segment_text = 0;
            }
            segment_text += line.len() as u64 + 1;
            consumed += line.len() as u64 + 1;
            // As `Lines` has them: without a `\r` at the end, blank ones skipped.
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.bytes().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if columns.push_line(line).is_err() {
                return Ok(None);
            }
            rows += 1;
        }
        room.push(reserved);
        scan.rows += rows;
        let damaged = decoded.damage.is_some();
        scan.chunks.push(ChunkScan {
            error: decoded.damage,
            damaged,
            rows,
            plain: true,
        });
        fetched.push(Fetched {
            chunk: c.clone(),
            // Whatever its size: the quarantine stores its bytes.
            body: if damaged {
                Body::unbudgeted(bytes)
            } else {
                Body::Released
            },
        });
    }
    unit.last_sizes.set(&columns, segment_text, &left);
    if !write_segment(unit, scan, columns).await? {
        return Ok(None);
    }
    Ok(Some(fetched))
}

/// Stored bytes of a unit's chunks fetched ahead of the one being read, at
/// most (as the listing gives their sizes).
const FETCH_AHEAD_BYTES: u64 = 16 << 20;

/// Chunks to fetch at once: up to `concurrency`, fewer if they are large
/// (the lake output's zstd chunks are up to 64 MiB of text, 6 MiB stored),
/// so that what waits to be read stays within [`FETCH_AHEAD_BYTES`].
fn fetch_ahead(chunks: &[Chunk], concurrency: usize) -> usize {
    let largest = chunks.iter().map(|c| c.size).max().unwrap_or(0).max(1);
    let fit = usize::try_from(FETCH_AHEAD_BYTES / largest).unwrap_or(usize::MAX);
    fit.clamp(1, concurrency.max(1))
}

/// A unit's chunks as far as they were read: enough to guess how much
/// text the next segment will have.
#[derive(Default)]
struct Left {
    /// Stored bytes of the chunks not read yet.
    stored: u64,
    /// Stored bytes, and text, of the chunks read so far.
    stored_read: u64,
    text_read: u64,
}

impl Left {
    fn read(&mut self, stored: u64, text: u64) {
        self.stored = self.stored.saturating_sub(stored);
        self.stored_read += stored;
        self.text_read += text;
    }

    /// Text per stored byte so far.
    fn ratio(&self) -> f64 {
        self.text_read as f64 / self.stored_read.max(1) as f64
    }

    /// The next segment's text, at most `segment_bytes`: the `in_chunk`
    /// bytes left of the chunk being read, and the chunks after it,
    /// guessed from how much text their stored bytes gave so far.
    fn next_segment(&self, in_chunk: u64, segment_bytes: u64) -> u64 {
        let after = (self.stored as f64 * self.ratio()) as u64;
        in_chunk.saturating_add(after).min(segment_bytes)
    }
}

/// Writes the segment in `columns`, leaving them empty with room for
/// columns of `sizes`; `false` as [`write_segment`] gives it.
async fn write_full(
    unit: &mut Unit<'_>,
    scan: &mut Scan,
    columns: &mut HourColumns,
    time_field: Option<&str>,
    sizes: Sizes,
) -> Result<bool, LakeError> {
    let full = std::mem::replace(columns, HourColumns::sized(time_field, sizes));
    write_segment(unit, scan, full).await
}

/// Writes a segment's rows; `false` if they do not fit the unit's schema
/// (set by the first segment) as it is.
async fn write_segment(
    unit: &mut Unit<'_>,
    scan: &mut Scan,
    columns: HourColumns,
) -> Result<bool, LakeError> {
    let Built {
        schema: own,
        changes,
        batch,
    } = columns.finish()?;
    // The unit's own schema, as the first read would give it.
    if scan.schema.columns.is_empty() {
        scan.schema = own.clone();
    } else {
        scan.schema.join(&own, &mut Changes::default());
    }
    add_changes(&mut scan.changes, changes);
    match &unit.schema {
        None => {
            // The table's schema as it stands once this unit's is joined to
            // it; the unit is written with it, whatever the units compacted
            // beside it add later (a widening of theirs makes this one
            // stale, for the next pass).
            unit.turn.wait().await;
            let mut table_schema = unit.table_schema.lock().await;
            let mut widened = table_schema.clone();
            let mut joined = Changes::default();
            widened.join(&own, &mut joined);
            // The catalog first: a reader may find columns no file has yet
            // (they read as NULL), never a file with a type the catalog lacks.
            if widened != *table_schema {
                crate::catalog::write_schema_from(
                    unit.lake,
                    unit.table,
                    &widened,
                    Some(&unit.state.partition),
                )
                .await?;
                *table_schema = widened;
            }
            unit.turn.pass();
            add_changes(&mut unit.applied, joined.clone());
            add_changes(&mut scan.changes, joined);
            unit.schema = Some(table_schema.clone());
        }
        Some(schema) => {
            let mut wider = schema.clone();
            let mut joined = Changes::default();
            wider.join(&own, &mut joined);
            if wider != *schema {
                return Ok(false);
            }
            add_changes(&mut scan.changes, joined);
        }
    }
    let arrow_schema = match &unit.schema {
        Some(schema) => schema.to_arrow(),
        None => return Ok(false),
    };
    let Some(batch) = batch else {
        return Ok(true);
    };
    // Parquet cannot hold rows without columns; the report shows the rows unwritten.
    if arrow_schema.fields().is_empty() {
        return Ok(true);
    }
    let Some(batch) = fit_batch(&batch, &arrow_schema) else {
        return Ok(false);
    };
    let writer = match &mut unit.writer {
        Some(writer) => writer,
        None => unit.writer.insert(PartWriter::new(
            unit.lake,
            unit.table,
            &unit.state.partition,
            Arc::clone(&arrow_schema),
            unit.opts,
            unit.layout,
            unit.state.next_part(),
            unit.idle,
        )?),
    };
    writer.write(batch).await?;
    Ok(true)
}

/// Adds `more` to `changes`, each change once.
fn add_changes(changes: &mut Changes, more: Changes) {
    for change in more.list {
        if !changes.list.contains(&change) {
            changes.list.push(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next segment is what is left of the chunk being read and the
    /// chunks after it (their text guessed from the text per stored byte
    /// so far), at most a segment.
    #[test]
    fn the_next_segment_is_guessed_from_the_text_read_so_far() {
        let mut left = Left {
            stored: 100,
            ..Left::default()
        };
        left.read(10, 100);
        assert_eq!(left.next_segment(50, 10_000), 950);
        assert_eq!(left.next_segment(50, 500), 500);
        left.read(90, 900);
        assert_eq!(left.next_segment(7, 500), 7);
        assert_eq!(Left::default().next_segment(0, 500), 0);
    }

    /// Large chunks are fetched fewer at a time, within the bytes allowed
    /// ahead; never none, never more than asked.
    #[test]
    fn large_chunks_are_fetched_fewer_at_a_time() {
        let chunks = |size: u64| -> Vec<Chunk> {
            (0..20)
                .map(|i| Chunk {
                    key: format!("c{i}").into(),
                    size: if i == 7 { size } else { 1 },
                    compression: crate::ChunkCompression::Zstd,
                })
                .collect()
        };
        assert_eq!(fetch_ahead(&chunks(100 << 10), 8), 8);
        assert_eq!(fetch_ahead(&chunks(6 << 20), 8), 2);
        assert_eq!(fetch_ahead(&chunks(FETCH_AHEAD_BYTES * 3), 8), 1);
        assert_eq!(fetch_ahead(&chunks(1), 0), 1);
        assert_eq!(fetch_ahead(&[], 8), 8);
    }
}
