//! What a compaction did, hour by hour, and what it noticed on the way.

use std::fmt;

use object_store::path::Path;

pub use super::retention::RetentionReport;
pub use crate::schema::ChangeKind;
use crate::{Partition, TableRef};

/// Why an hour was compacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactReason {
    /// It had never been compacted.
    New,
    /// `new` chunks arrived (late events) or changed since its last compaction.
    ChunksChanged {
        /// How many chunks are new or changed.
        new: usize,
    },
    /// Its Parquet files are not the ones its manifest lists: a compaction
    /// stopped half way, or something else changed them.
    OutputsChanged,
    /// Its files were written with a type the table has since widened.
    SchemaWidened,
    /// Its manifest could not be read.
    ManifestUnreadable {
        /// Why it could not be read.
        reason: String,
    },
    /// Up to date, but compacted because the options said `force`.
    Forced,
}

/// Why a selected hour was left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Its manifest matches its chunks, its files and the table schema.
    UpToDate,
    /// It has no JSON chunks (none were written, or they expired); any
    /// Parquet it has is kept.
    NoChunks,
    /// `missing` chunks its last compaction read are gone (expired?), so
    /// compacting it again would lose their rows. Delete the hour's manifest
    /// to compact it from what is left.
    ChunksMissing {
        /// How many chunks are gone.
        missing: usize,
    },
    /// Its chunks now give fewer rows than its Parquet holds (some are
    /// damaged), so its Parquet was kept as it is, and the chunks left
    /// where they are. [`CompactOptions::allow_fewer_rows`](super::CompactOptions)
    /// replaces it anyway.
    FewerRows {
        /// Rows its Parquet holds, by its manifest.
        covered: u64,
        /// Rows its chunks gave now.
        readable: u64,
        /// The chunks that could not be read whole.
        failed: Vec<FailedChunk>,
    },
    /// It is past the table's `keep_parquet`: its Parquet has expired (or
    /// expires in this run), and it is never compacted again.
    Expired,
}

impl SkipReason {
    /// Whether rows the chunks hold are not in the Parquet because of it.
    pub fn left_rows_out(&self) -> bool {
        matches!(self, SkipReason::FewerRows { .. })
    }
}

/// A selected hour that was not compacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedHour {
    /// The hour.
    pub partition: Partition,
    /// Why it was left alone.
    pub reason: SkipReason,
}

/// The first line of an hour that was not a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// The chunk it is in.
    pub chunk: Path,
    /// Its line number in the decompressed chunk, from 1.
    pub line: u64,
    /// What the JSON parser said.
    pub message: String,
    /// Its first bytes, as text.
    pub snippet: String,
}

/// A chunk that could not be read whole: damaged (truncated, corrupt), too
/// large once decompressed, or gone since it was listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedChunk {
    /// The chunk's key.
    pub chunk: Path,
    /// What went wrong (decompression, size, gone since listed).
    pub message: String,
    /// Records read before the damage: they are in the Parquet.
    pub rows_read: u64,
    /// Where the chunk was moved, if it was damaged and its hour compacted:
    /// its readable lines stay at [`FailedChunk::chunk`] (if it had any).
    pub quarantined: Option<Path>,
}

/// A Parquet file written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Its key, made by [`TableRef::parquet_part`].
    pub path: Path,
    /// Rows in it.
    pub rows: u64,
    /// Its size.
    pub bytes: u64,
}

/// One compacted hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourReport {
    /// The hour.
    pub partition: Partition,
    /// Why it was compacted.
    pub reason: CompactReason,
    /// JSON chunks read.
    pub input_chunks: usize,
    /// Of those, the chunks fetched a second time for the second read, as
    /// keeping them in memory would have passed
    /// [`CompactOptions::keep_chunks_bytes`](super::CompactOptions).
    pub reread_chunks: usize,
    /// Whether each line was parsed once, straight into columns; else the
    /// unit took the two reads (a schema pass, then decoding with it),
    /// which cost about twice the CPU (see `one_read` for when).
    pub read_once: bool,
    /// Their stored (compressed) size.
    pub input_bytes: u64,
    /// Their size once decompressed.
    pub decoded_bytes: u64,
    /// JSON objects read: the rows the Parquet should hold.
    pub input_rows: u64,
    /// Lines that were not JSON objects, skipped.
    pub bad_lines: u64,
    /// The first of them, quoted.
    pub first_bad_line: Option<BadLine>,
    /// Of them, those written to the records quarantine, with the reason.
    pub records_quarantined: u64,
    /// Of them, those only counted: past the quarantine's budget for an
    /// hour (see `records::MAX_KEPT_BYTES`); their chunk still holds them.
    pub records_not_kept: u64,
    /// Values that did not fit the table's declared schema: null in the
    /// Parquet, their records kept in the records quarantine.
    pub cast_failures: u64,
    /// The records quarantine files written, a file per chunk
    /// (`quarantine/records/dt=…/hour=…/<chunk>.json`).
    pub quarantined_records: Vec<Path>,
    /// Chunks that could not be read whole.
    pub failed_chunks: Vec<FailedChunk>,
    /// The Parquet files now holding the hour.
    pub output_files: Vec<OutputFile>,
    /// Their total size.
    pub output_bytes: u64,
    /// Equal to `input_rows`, except when the table has no column yet
    /// (every value so far was null), as Parquet cannot hold rows without columns.
    pub rows_written: u64,
    /// Parquet files of earlier compactions of the hour, replaced once the
    /// new ones were committed: deleted after the grace period (at once
    /// with none).
    pub removed_files: Vec<Path>,
}

/// A change to a column's type, found while compacting an hour: a column
/// new to the table, or a type conflict (within the hour, or between the
/// hour and the table) and how it was widened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaChange {
    /// The hour whose records brought the change.
    pub partition: Partition,
    /// Dotted path; `[]` marks list elements (`tags[]`).
    pub column: String,
    /// What changed.
    pub change: ChangeKind,
}

/// What [`crate::compact::compact_table`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactReport {
    /// The table compacted.
    pub table: TableRef,
    /// Compacted hours, in the order they were done (an hour appears twice
    /// when a later hour widened the schema and it was rewritten).
    pub hours: Vec<HourReport>,
    /// Selected hours left alone.
    pub skipped: Vec<SkippedHour>,
    /// New columns and widened types, in the order found.
    pub schema_changes: Vec<SchemaChange>,
    /// Hours, outside the selection, whose files hold a type the table has
    /// since widened; a `Pending` compaction rewrites them.
    pub stale_hours: Vec<Partition>,
    /// Files replaced by earlier runs whose grace period had passed,
    /// deleted by this one.
    pub purged_files: Vec<object_store::path::Path>,
    /// What the table's retention expired in this run.
    pub expired: RetentionReport,
}

impl CompactReport {
    pub(crate) fn new(table: &TableRef) -> CompactReport {
        CompactReport {
            table: table.clone(),
            hours: Vec::new(),
            skipped: Vec::new(),
            schema_changes: Vec::new(),
            stale_hours: Vec::new(),
            purged_files: Vec::new(),
            expired: RetentionReport::default(),
        }
    }

    /// Rows written over all hours.
    pub fn rows_written(&self) -> u64 {
        self.hours.iter().map(|h| h.rows_written).sum()
    }

    /// Bad lines over all hours.
    pub fn bad_lines(&self) -> u64 {
        self.hours.iter().map(|h| h.bad_lines).sum()
    }

    /// Chunks that could not be read whole, in compacted hours and in
    /// hours kept as they were.
    pub fn failed_chunks(&self) -> impl Iterator<Item = &FailedChunk> {
        let compacted = self.hours.iter().flat_map(|h| &h.failed_chunks);
        let kept = self.skipped.iter().flat_map(|s| match &s.reason {
            SkipReason::FewerRows { failed, .. } => failed.as_slice(),
            _ => &[],
        });
        compacted.chain(kept)
    }

    /// Whether anything the chunks hold did not reach the Parquet: a bad
    /// line, a chunk not read whole, an hour kept because it would have
    /// lost rows. `levee compact` exits non-zero then.
    pub fn left_data_out(&self) -> bool {
        self.bad_lines() > 0
            || self.hours.iter().any(|h| h.cast_failures > 0)
            || self.failed_chunks().next().is_some()
            || self.skipped.iter().any(|s| s.reason.left_rows_out())
    }

    /// What needs a person's attention, a line each: every chunk not read
    /// whole (and where it went), the first bad line of each hour, every
    /// hour kept because it would have lost rows.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let failed = |f: &FailedChunk| {
            let mut line = format!("chunk {}: {}", f.chunk, f.message);
            if f.rows_read > 0 {
                line.push_str(&format!("; {} rows read before the damage", f.rows_read));
            }
            if let Some(q) = &f.quarantined {
                line.push_str(&format!("; moved to {q}"));
                if f.rows_read > 0 {
                    line.push_str(", its readable lines kept in its place");
                }
            }
            line
        };
        for h in &self.hours {
            if let Some(bad) = &h.first_bad_line {
                let mut line = format!(
                    "{} {}: {} lines were not JSON objects and were skipped; the first: {}:{}: {}",
                    self.table, h.partition, h.bad_lines, bad.chunk, bad.line, bad.message
                );
                if let Some(first) = h.quarantined_records.first() {
                    line.push_str(&format!(
                        "; {} kept with the reason in {first}",
                        h.records_quarantined
                    ));
                    if h.quarantined_records.len() > 1 {
                        line.push_str(&format!(
                            " and {} more files beside it",
                            h.quarantined_records.len() - 1
                        ));
                    }
                }
                if h.records_not_kept > 0 {
                    line.push_str(&format!(
                        "; {} not kept (too many for the quarantine; their chunk holds them)",
                        h.records_not_kept
                    ));
                }
                out.push(line);
            }
            if h.cast_failures > 0 {
                out.push(format!(
                    "{} {}: {} values did not fit the declared schema: null in the Parquet, \
                     their records kept with the reason in quarantine/records/{}/{}/",
                    self.table,
                    h.partition,
                    h.cast_failures,
                    h.partition.dt_dir(),
                    h.partition.hour_dir()
                ));
            }
            out.extend(h.failed_chunks.iter().map(failed));
        }
        for s in &self.skipped {
            match &s.reason {
                SkipReason::FewerRows {
                    covered,
                    readable,
                    failed: chunks,
                } => {
                    out.extend(chunks.iter().map(failed));
                    out.push(format!(
                        "{} {} kept as it was: its Parquet holds {covered} rows, its chunks now \
                         give {readable}; --force replaces it, and the rows only the Parquet \
                         holds are lost",
                        self.table, s.partition
                    ));
                }
                SkipReason::ChunksMissing { missing } => out.push(format!(
                    "{} {} skipped: {missing} chunks it was built from are gone",
                    self.table, s.partition
                )),
                SkipReason::UpToDate | SkipReason::NoChunks | SkipReason::Expired => {}
            }
        }
        out
    }

    /// The type conflicts, leaving out new columns.
    pub fn widenings(&self) -> impl Iterator<Item = &SchemaChange> {
        self.schema_changes
            .iter()
            .filter(|c| matches!(c.change, ChangeKind::Widened { .. }))
    }

    pub(crate) fn push_change(&mut self, change: SchemaChange) {
        if !self.schema_changes.contains(&change) {
            self.schema_changes.push(change);
        }
    }
}

/// A summary for people: one line per hour, then what needs attention.
impl fmt::Display for CompactReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for h in &self.hours {
            write!(
                f,
                "{} {}: {} chunks, {} bytes -> {} rows in {} files, {} bytes",
                self.table,
                h.partition,
                h.input_chunks,
                h.input_bytes,
                h.rows_written,
                h.output_files.len(),
                h.output_bytes
            )?;
            if h.bad_lines > 0 {
                write!(f, "; {} bad lines", h.bad_lines)?;
            }
            if !h.failed_chunks.is_empty() {
                write!(f, "; {} chunks not read whole", h.failed_chunks.len())?;
            }
            writeln!(f)?;
        }
        for c in &self.schema_changes {
            match &c.change {
                ChangeKind::Added { ty } => {
                    writeln!(f, "{} new column {} {ty}", c.partition, c.column)?
                }
                ChangeKind::Widened { from, to } => writeln!(
                    f,
                    "{} column {} widened from {from} to {to}",
                    c.partition, c.column
                )?,
            }
        }
        for warning in self.warnings() {
            writeln!(f, "{warning}")?;
        }
        if !self.stale_hours.is_empty() {
            writeln!(
                f,
                "{} hours hold types the table has widened since",
                self.stale_hours.len()
            )?;
        }
        Ok(())
    }
}
