//! Compaction: each hour's JSON chunks become zstd Parquet files.
//!
//! For every selected hour, compaction reads the hour's chunks, infers their
//! schema (see the lattice in the schema module: new fields add columns,
//! conflicts widen, `dt`/`hour` fields are renamed, the event-time column
//! named in the table's properties is a timestamp), merges it into the
//! table's schema in the catalog, and writes the hour's rows as
//! `parquet/dt=YYYY-MM-DD/hour=HH/part-N.parquet`, every file with the full
//! table schema as it stands. Then it deletes the hour's older files and
//! records a manifest of what it read and wrote.
//!
//! It is idempotent: an hour is compacted again only when its chunks differ
//! from its manifest (late events), its files differ from its manifest (an
//! interrupted run), or the table widened a type its files hold. JSON chunks
//! are never deleted; only a damaged one is moved to the quarantine.
//!
//! Bad input is reported, never fatal: a line that is not a JSON object is
//! counted (the first one is quoted), a chunk that cannot be read whole is
//! listed with its error. A damaged chunk (truncated, corrupt) gives the
//! rows before its damage and goes to the table's quarantine with its
//! reason; an hour's Parquet is never replaced by one with fewer rows than
//! it holds unless the options say so. Errors of the store itself stop the run.
//!
//! One compaction per table at a time, on one machine or many: each run
//! holds the table's lock ([`lock`]) from its first listing to its last
//! commit, and a second waits for it or gives up, as [`LockWait`] says.

mod chunk;
mod decode;
pub use chunk::{ChunkText, RecordsRead, read_chunk_text};
pub(crate) use chunk::{Lines, parse_line};
mod hour;
mod join_order;
pub mod lock;
mod one_read;
mod parquet_input;
mod part_file;
mod plan;
mod quarantine;
mod records;
mod report;
pub mod retention;
mod scan;
mod writer;

pub use report::{
    BadLine, ChangeKind, CompactReason, CompactReport, FailedChunk, HourReport, OutputFile,
    SchemaChange, SkipReason, SkippedHour,
};

use crate::declared::DeclaredSchema;
use crate::properties::{TableProperties, read_properties};
use crate::schema::{Changes, TableSchema, prepare_record};
use crate::{Lake, LakeError, Partition, TableRef, catalog};
use chunk::Budget;
pub use lock::{LockWait, TableLock};
use plan::Status;
pub use retention::{ExpiredHour, RetentionReport, planned_expiry};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use writer::FileLayout;

/// Which hours of a table to consider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HourSelection {
    /// Every hour with JSON chunks.
    All,
    /// The hours that need it: never compacted, new or changed chunks,
    /// Parquet files that differ from the manifest, or files holding a
    /// type the table has since widened.
    Pending,
    /// These hours.
    Only(Vec<Partition>),
}

/// How to compact.
#[derive(Clone, Debug)]
pub struct CompactOptions {
    /// Which hours.
    pub hours: HourSelection,
    /// Compact the selected hours even when they are up to date. Hours
    /// without chunks, or missing chunks they were built from, are still
    /// left alone: compacting them would lose rows.
    pub force: bool,
    /// Replace an hour's Parquet even with fewer rows than it holds (its
    /// chunks damaged since it was compacted). Off, such an hour is kept as
    /// it is and reported ([`SkipReason::FewerRows`]).
    pub allow_fewer_rows: bool,
    /// Rows per Parquet file; a larger hour is split into several files.
    pub max_file_rows: usize,
    /// Bytes per Parquet file (as encoded so far); a larger hour is split.
    /// A table's own `target_file_size` (in its properties) wins.
    pub max_file_bytes: usize,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Bytes per row group (estimated, encoded).
    pub row_group_bytes: usize,
    /// Rows decoded from JSON into one Arrow batch.
    pub batch_rows: usize,
    /// A chunk larger than this once decompressed is reported as unreadable.
    pub max_chunk_bytes: u64,
    /// Chunks (and manifests) fetched at once.
    pub fetch_concurrency: usize,
    /// Stored (compressed) chunk bytes kept in memory between the two
    /// reads of their hours, over all the hours compacted at once. Past it,
    /// a chunk is let go after the first read and fetched again for the
    /// second, so that memory does not grow with an hour's size.
    pub keep_chunks_bytes: u64,
    /// Text of a unit read once (each line parsed once, see `one_read`)
    /// that is built into Arrow columns and written before the rest is
    /// read: what bounds the memory of that read, whatever the unit's size.
    pub segment_bytes: u64,
    /// Hours compacted at once; 0 is one per worker thread of the tokio
    /// runtime compaction runs on (one on a current-thread runtime, as
    /// the scheduler inside `levee run` has, which leaves the other cores
    /// to the collector).
    pub hours_at_once: usize,
    /// zstd level of the Parquet pages (1..=22). 1 by default: on pages
    /// of about a megabyte, most of them dictionary indices already, level
    /// 3 bought no smaller files (the bench's events: 65.3 MB at 3, 64.8
    /// at 1; the demo's nginx table 0.9% smaller at 3, its events 0.7%
    /// larger) for 6% more of compaction's CPU.
    pub zstd_level: i32,
    /// How long the table's lock lasts unless renewed (see [`lock`]).
    pub lock_lease: Duration,
    /// Whether to wait for a table another compactor holds.
    pub lock_wait: LockWait,
    /// How long a replaced Parquet file stays for the queries that listed
    /// it before a later run deletes it; zero deletes it at once.
    pub grace: Duration,
    /// Only the selected hours from the first to the second, both included.
    pub within: Option<(Partition, Partition)>,
    /// The time the table's retention counts hours' ages against; `None`
    /// is the clock's (see [`retention`]).
    pub now: Option<SystemTime>,
}

impl CompactOptions {
    /// Whether `p` is within the bounds: a day by its last hour, so a day
    /// is in once it is over.
    fn covers(&self, p: &Partition) -> bool {
        let last;
        let p = if p.is_day() {
            last = Partition {
                dt: p.dt.clone(),
                hour: 23,
            };
            &last
        } else {
            p
        };
        self.within
            .as_ref()
            .is_none_or(|(from, to)| from <= p && p <= to)
    }
}

/// Told of a compaction's progress, as it goes (a progress bar, log lines).
pub trait Progress: Send + Sync {
    /// `hours` more hours of `table` are about to be compacted.
    fn planned(&self, table: &TableRef, hours: usize) {
        let _ = (table, hours);
    }
    /// One hour is done (or was kept as it was, when `hour` is `None`).
    fn hour_done(&self, table: &TableRef, hour: Option<&HourReport>) {
        let _ = (table, hour);
    }
}

/// No one is told.
pub struct Quiet;

impl Progress for Quiet {}

/// How long replaced Parquet files stay, by default: longer than any query
/// levee runs over a lake on one machine takes, so none fails on a file
/// deleted under it.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15 * 60);

impl Default for CompactOptions {
    fn default() -> CompactOptions {
        CompactOptions {
            hours: HourSelection::Pending,
            force: false,
            allow_fewer_rows: false,
            max_file_rows: 1 << 20,
            max_file_bytes: 128 << 20,
            row_group_rows: 1 << 18,
            row_group_bytes: 128 << 20,
            batch_rows: 8192,
            max_chunk_bytes: 1 << 30,
            fetch_concurrency: 8,
            keep_chunks_bytes: 128 << 20,
            segment_bytes: one_read::SEGMENT_TEXT_BYTES,
            hours_at_once: 0,
            zstd_level: 1,
            lock_lease: lock::DEFAULT_LEASE,
            lock_wait: LockWait::Up(Duration::from_secs(600)),
            grace: DEFAULT_GRACE,
            within: None,
            now: None,
        }
    }
}

/// How many times `Pending` and `All` look again for work after a pass:
/// rewriting hours a later hour's widening made stale needs one more pass,
/// chunks arriving during the run another.
const MAX_PASSES: usize = 3;

/// Compacts the selected hours of a table and reports what it did,
/// holding the table's lock throughout: [`LakeError::Locked`] if another
/// compactor holds it past `opts.lock_wait`.
pub async fn compact_table(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
) -> Result<CompactReport, LakeError> {
    compact_table_with(lake, table, opts, &Quiet).await
}

/// [`compact_table`], telling `progress` of each hour as it is done.
pub async fn compact_table_with(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
    progress: &dyn Progress,
) -> Result<CompactReport, LakeError> {
    let lock = TableLock::acquire(lake, table, opts.lock_lease, opts.lock_wait).await?;
    let result = compact_locked(lake, table, opts, &lock, progress).await;
    // The work's outcome matters more than a failed release, which only
    // leaves the lock to lapse.
    if let Err(e) = lock.release().await {
        tracing::warn!("{table}: releasing the compaction lock: {e}");
    }
    result
}

async fn compact_locked(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
    lock: &TableLock,
    progress: &dyn Progress,
) -> Result<CompactReport, LakeError> {
    let concurrency = opts.fetch_concurrency;
    let (schema, props) = table_schema(lake, table, concurrency).await?;
    let layout = FileLayout::of(props.as_ref());
    let by = props
        .as_ref()
        .map(|p| p.parquet.partition_by)
        .unwrap_or_default();
    let declared = props.as_ref().map(|p| p.schema.clone()).unwrap_or_default();
    let time_field = props.map(|p| String::from(p.time_field));
    let initial = schema.clone();
    let shared = Arc::new(hour::SharedSchema::new(schema));
    let mut report = CompactReport::new(table);
    report.purged_files = catalog::purge_retired(lake, table, opts.grace).await?;
    let retention = retention::table_retention(lake, table).await?;
    let passes = match opts.hours {
        HourSelection::Only(_) => 1,
        HourSelection::All | HourSelection::Pending => MAX_PASSES,
    };
    let mut force = opts.force;
    for pass in 0..passes {
        let mut work = Vec::new();
        for state in plan::gather(lake, table, &opts.hours, by, concurrency).await? {
            if !opts.covers(&state.partition) {
                continue;
            }
            // An hour kept because it would lose rows stays kept this run.
            let kept = report
                .skipped
                .iter()
                .any(|s| s.partition == state.partition && s.reason.left_rows_out());
            let status = if retention::parquet_expired(&retention, &state.partition, opts) {
                Status::Skip(SkipReason::Expired)
            } else {
                state.status(&*shared.lock().await, force)
            };
            match status {
                Status::Compact(_) if kept => {}
                Status::Compact(reason) => work.push((state, reason)),
                Status::Skip(reason) if pass == 0 => report.skipped.push(SkippedHour {
                    partition: state.partition,
                    reason,
                }),
                Status::Skip(_) => {}
            }
        }
        if work.is_empty() {
            break;
        }
        progress.planned(table, work.len());
        let at_work = AtWork {
            lake,
            table,
            opts,
            lock,
            progress,
            shared: &shared,
            time_field: &time_field,
            declared: &declared,
            layout: &layout,
        };
        compact_hours(&at_work, work, &mut report).await?;
        force = false;
    }
    let schema = shared.lock().await.clone();
    if !initial.compatible_with(&schema) {
        report.stale_hours = plan::stale_hours(lake, table, &schema, concurrency).await?;
    }
    // After the compaction: chunks it just covered may expire now.
    lock.check()?;
    report.expired = retention::apply(lake, table, &retention, opts).await?;
    Ok(report)
}

/// Compacts the hours of `work`, several at once (see
/// [`CompactOptions::hours_at_once`]), each on a task of its own, and adds
/// what they did to `report`, in the order of `work`. On an error, no
/// further hour starts; those at work finish (each commits whole or not
/// at all), and the first error is returned.
async fn compact_hours(
    at_work: &AtWork<'_>,
    work: Vec<(plan::HourState, CompactReason)>,
    report: &mut CompactReport,
) -> Result<(), LakeError> {
    let AtWork {
        lake,
        table,
        opts,
        lock,
        progress,
        shared,
        time_field,
        declared,
        layout,
    } = *at_work;
    let at_once = match opts.hours_at_once {
        0 => tokio::runtime::Handle::current().metrics().num_workers(),
        n => n,
    }
    .max(1);
    let budget = Budget::new(opts.keep_chunks_bytes);
    // Workers with no unit to take, which the units at work may encode on.
    let idle = part_file::IdleWorkers::default();
    let last_sizes = one_read::LastSizes::default();
    let order = join_order::JoinOrder::new();
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let opts = Arc::new(opts.clone());
    let mut queue = work.into_iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    let mut done = Vec::new();
    let mut failed = None;
    loop {
        while failed.is_none() && running.len() < at_once {
            let Some((n, (state, reason))) = queue.next() else {
                break;
            };
            if let Err(e) = lock.check() {
                failed = Some(e);
                break;
            }
            report.skipped.retain(|s| s.partition != state.partition);
            let (lake, table, opts) = (lake.clone(), table.clone(), opts.clone());
            let (shared, budget, idle) = (shared.clone(), budget.clone(), idle.clone());
            let last_sizes = last_sizes.clone();
            let turn = order.turn(n);
            let (time_field, layout) = (time_field.clone(), layout.clone());
            let declared = declared.clone();
            running.spawn(async move {
                let mut hour_report = CompactReport::new(&table);
                let result = hour::compact_hour(
                    &lake,
                    &table,
                    &opts,
                    &state,
                    reason,
                    &shared,
                    &budget,
                    &idle,
                    &last_sizes,
                    turn,
                    time_field.as_deref(),
                    &declared,
                    &layout,
                    &mut hour_report,
                )
                .await;
                (n, result.map(|()| hour_report))
            });
        }
        idle.set(at_once.min(workers).saturating_sub(running.len()));
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((n, Ok(hour_report))) => {
                progress.hour_done(table, hour_report.hours.first());
                done.push((n, hour_report));
            }
            Ok((_, Err(e))) => {
                failed.get_or_insert(e);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                failed.get_or_insert(LakeError::Other(format!("an hour's compaction: {e}")));
            }
        }
    }
    done.sort_by_key(|(n, _)| *n);
    for (_, hour_report) in done {
        report.hours.extend(hour_report.hours);
        report.skipped.extend(hour_report.skipped);
        for change in hour_report.schema_changes {
            report.push_change(change);
        }
    }
    failed.map_or(Ok(()), Err)
}

/// What every hour of a compaction shares.
#[derive(Clone, Copy)]
struct AtWork<'a> {
    lake: &'a Lake,
    table: &'a TableRef,
    opts: &'a CompactOptions,
    lock: &'a TableLock,
    progress: &'a dyn Progress,
    /// The table's schema, as the hours widen it.
    shared: &'a Arc<hour::SharedSchema>,
    /// The table's event-time column, if it has one.
    time_field: &'a Option<String>,
    /// The table's declared schema (empty if none).
    declared: &'a DeclaredSchema,
    /// What the table's properties make of its files.
    layout: &'a FileLayout,
}

/// A test hook, not a setting: `LEVEE_TEST_COMPACT_PAUSE_MS` makes every
/// hour wait that long between writing its files and committing them, so
/// end-to-end tests can have two compactions overlap, or kill one
/// mid-hour, without racing the clock.
pub(crate) async fn test_pause() {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var("LEVEE_TEST_COMPACT_PAUSE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(pause) = pause {
        tokio::time::sleep(*pause).await;
    }
}

/// The records of a chunk's newline-delimited JSON (decompressed, see
/// [`read_chunk_text`]) as compaction reads them: each line parsed, and the
/// fields that would clash with the partition columns or with the
/// event-time column `time_field` renamed. A reader of the JSON copy uses
/// it for chunks the Arrow decoder refuses as they are (a record's own
/// `time` text, written before the table had the column; a line that is no
/// JSON object). Lines that are not JSON objects are counted and skipped,
/// as compaction skips them.
pub fn read_records(data: &[u8], time_field: Option<&str>) -> RecordsRead {
    let mut read = RecordsRead::default();
    for (number, line) in chunk::Lines::new(data) {
        match chunk::parse_line(line) {
            Ok(mut record) => {
                prepare_record(&mut record, time_field);
                read.records.push(record);
            }
            Err(e) => {
                read.bad_lines += 1;
                read.first_bad_line
                    .get_or_insert_with(|| format!("line {number}: {e}"));
            }
        }
    }
    read
}

/// Makes records (from [`read_records`]) fit the Arrow schema a reader of
/// the JSON copy decodes them with, as compaction makes them fit a
/// declared schema: `"404"` in a bigint column becomes 404, and a value
/// that cannot be cast (`"n/a"` there) becomes null, so the Arrow decoder
/// never refuses a chunk for one value. Returns the values made null.
pub fn fit_records(records: &mut [levee_event::Record], schema: &arrow::datatypes::Schema) -> u64 {
    let declared = crate::schema::declared_of_arrow(schema);
    let mut failures = Vec::new();
    let mut nulled = 0;
    for record in records {
        crate::schema::cast_record(record, &declared, &mut failures);
        nulled += failures.len() as u64;
        failures.clear();
    }
    nulled
}

/// The hours a `Pending` compaction would compact now, and why.
pub async fn pending_hours(
    lake: &Lake,
    table: &TableRef,
) -> Result<Vec<(Partition, CompactReason)>, LakeError> {
    planned_hours(lake, table, &CompactOptions::default()).await
}

/// The hours [`compact_table`] with `opts` would compact now, and why
/// (`--dry-run`): read only, without the lock, so as of this moment. An
/// hour whose damaged chunks would leave rows out shows here, though the
/// run itself keeps it (see `SkipReason`).
pub async fn planned_hours(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
) -> Result<Vec<(Partition, CompactReason)>, LakeError> {
    let concurrency = opts.fetch_concurrency;
    let (schema, props) = table_schema(lake, table, concurrency).await?;
    let by = props.map(|p| p.parquet.partition_by).unwrap_or_default();
    let retention = retention::table_retention(lake, table).await?;
    let mut planned = Vec::new();
    for state in plan::gather(lake, table, &opts.hours, by, concurrency).await? {
        if !opts.covers(&state.partition)
            || retention::parquet_expired(&retention, &state.partition, opts)
        {
            continue;
        }
        if let Status::Compact(reason) = state.status(&schema, opts.force) {
            planned.push((state.partition, reason));
        }
    }
    Ok(planned)
}

/// The catalog's schema, rebuilt from the manifests (and stored again) if
/// `schema.json` is gone, and the table's properties, if it has them. A catalog that holds a column of that name of
/// another type (compacted before the table had the column) gives it up to
/// the event time, and is stored again: see
/// [`TableSchema::claim_time_column`].
async fn table_schema(
    lake: &Lake,
    table: &TableRef,
    concurrency: usize,
) -> Result<(TableSchema, Option<TableProperties>), LakeError> {
    let props = read_properties(lake, table).await?;
    let time_field = props.as_ref().map(|p| &p.time_field);
    let (mut schema, stored) = match catalog::read_schema(lake, table).await? {
        Some(schema) => (schema, true),
        None => match plan::schema_from_manifests(lake, table, concurrency).await? {
            Some(schema) => (schema, false),
            None => return Ok((TableSchema::default(), props)),
        },
    };
    let claimed = time_field
        .as_ref()
        .is_some_and(|t| schema.claim_time_column(t.as_str(), &mut Changes::default()));
    // Declared after the table was compacted: the hours written with other
    // types are due again, and are cast as they are rewritten.
    let declared = props.as_ref().is_some_and(|p| schema.declare(&p.schema));
    if claimed || declared || !stored {
        catalog::write_schema(lake, table, &schema).await?;
    }
    Ok((schema, props))
}
