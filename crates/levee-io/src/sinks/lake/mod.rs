//! The `lake` sink: events as zstd-compressed JSON chunks in the lake.
//!
//! Events are compressed as they arrive, a 4MiB zstd frame at a time, one
//! chunk per hour of event time (UTC). A chunk is sealed when it holds
//! `chunk_max_bytes` of JSON, when it has been open `chunk_interval` (a
//! minute by default, as Firehose), when a batch brings it none of its
//! events but some from past its hour (with five minutes' grace), when too
//! many hours are open at once, or at shutdown. A sealed chunk becomes
//! the object `<db>/<table>/json/dt=…/hour=…/<MM>-<writer>-<seq>.ndjson.zst`
//! (see `levee_lake::layout`), written with one `put`, which is atomic on
//! local disk and on S3: no reader ever sees half a chunk.
//!
//! In the sink protocol (see [`super`]), a batch is absorbed once it is in
//! the open chunks, which cannot fail; each chunk keeps the acks of the
//! batches that put events in it and drops them once it is stored. A flush
//! stores the sealed chunks; giving up on a flush drops those chunks, and
//! their events are counted as lost.
//!
//! Each record is written led by its event time, in the column named by
//! `time_field`; before its first chunk the sink writes the table's
//! properties (`_levee/table.json`), which name that column to compaction
//! and queries.
//!
//! Exactly once from a `tail` source: each chunk notes, per stream and
//! its hour, the range of origin offsets of its events (`coverage.rs`),
//! and before it is put that range goes into a journal in the output's
//! state folder, synced (`journal.rs`, `state.rs`). After a crash the
//! source replays its files from their checkpoints; an event a stored
//! chunk already holds is skipped and counted
//! (`levee_output_replay_skipped_total`) rather than written again. The
//! writer id in chunk names is kept there too (`writer.rs`), and chunk
//! numbers go on from the journal's, so no name is ever used twice.
//!
//! With `format = "parquet"` a sealed chunk is stored as one Parquet file,
//! `<db>/<table>/chunks/dt=…/hour=…/<MM>-<writer>-<seq>.parquet`, made
//! from the chunk's JSON by the [`ParquetEncoder`] the binary gives (the
//! collector never builds Parquet itself); with `"both"` as that file and,
//! after it, the JSON chunk of the same name. The journal's intent names
//! the object put last, so a chunk counts as stored (and its events are
//! skipped on replay) only once every object of it is in the lake; a
//! Parquet file whose JSON twin was never put (a crash between the two)
//! is deleted at the next start, and its events written again.

#[doc(hidden)]
pub mod bench;
mod chunk;
mod coverage;
mod encoder;
pub mod journal;
mod state;
mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use levee_event::{Ack, Event};
use levee_lake::declared::DeclaredSchema;
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::properties::{TableProperties, write_properties};
use levee_lake::{
    ColumnName, Lake, LakeError, ParquetLayout, PartitionBy, Retention, TableRef, TimeField,
};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use tokio::time::Instant;

use super::{Flush, OpenSink, SinkContext, SinkFuture, WriteSink};
use crate::sources::tail::resume_offsets;
use crate::units::{Interval, Size};
use crate::{SinkConfigError, SinkError};
use chunk::{Frames, OpenChunk, hour_is_over, hour_of};
use coverage::{Covered, Naming};
pub use encoder::{ChunkFormat, ParquetEncoder};
use journal::{Intent, Record};
/// How to reach an `s3://` lake: the output's `s3` table.
pub use levee_lake::S3Options;
use state::Journal;

/// Hours with a chunk open at once, at most. Each open chunk holds up to a
/// frame of JSON (4MiB) and its compressed frames; a backfill spanning
/// days seals older hours early rather than holding one chunk per hour.
const MAX_OPEN_CHUNKS: usize = 4;

/// `type = "lake"`: deliver into a table of the lake.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// The lake's root: a local folder (`./lake`), a `file://` URL, or
    /// `s3://bucket/prefix` on AWS S3 or an S3-compatible server (see `s3`).
    #[serde(default = "default_lake")]
    pub lake: String,
    /// For an `s3://` lake: the endpoint, region, path style and keys
    /// (`s3 = { endpoint = "http://127.0.0.1:9000", region = "us-east-1" }`).
    /// Each key left out comes from the usual AWS environment variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
    #[serde(default)]
    pub s3: S3Options,
    /// The database (a folder under the root), as Glue and Athena name it.
    pub database: String,
    /// The table (a folder under the database).
    pub table: String,
    /// zstd level, 1 (fastest) to 19 (smallest). Higher levels also hold
    /// more memory in the zstd context. Default 1: the collector's CPU is
    /// what bounds it, and the hourly Parquet is what queries scan. On the
    /// bench's nginx log, level 3 made chunks 5-6% smaller for 12% more
    /// CPU on the whole collector path, though alone (`zstd -b`) the two
    /// run at one speed: likely its larger match tables, in a cache that
    /// parsing and encoding share.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// A chunk is sealed once it holds this much JSON (before compression).
    #[serde(default = "default_chunk_max_bytes")]
    pub chunk_max_bytes: Size,
    /// A chunk is sealed once it has been open this long.
    #[serde(default = "default_chunk_interval")]
    pub chunk_interval: Interval,
    /// The column that holds each record's event time (the time that picks
    /// its partition): RFC 3339 text in UTC in the JSON chunks, to the
    /// precision the event has (`2026-12-05T01:02:03.123Z`), and a
    /// timestamp in Parquet and in `levee query`, so `where time between
    /// ...` and `date_trunc('minute', time)` need no parsing. A record's own
    /// field of that name, in any case, is renamed by appending `_` (`time`
    /// becomes `time_`), as `dt` and `hour` are. Letters, digits and `_`;
    /// not `dt` or `hour`. One name per table: outputs writing one table
    /// should agree on it.
    #[serde(default = "default_time_field")]
    pub time_field: String,
    /// How compaction partitions the table's Parquet: `"hour"` (the
    /// default; `parquet/dt=…/hour=…/`, partition columns `dt` and `hour`)
    /// or `"day"` (`parquet/dt=…/`, partition column `dt` only: for tables
    /// whose hours are small, as engines read a few large files faster
    /// than many small ones). JSON chunks stay hourly either way. In day
    /// mode a day is compacted, and replaced, as one; it is due once its
    /// last hour is over.
    #[serde(default = "default_partition_by")]
    pub partition_by: String,
    /// The column rows are sorted by within each Parquet row group, so that
    /// a range or equality predicate on it skips row groups by their
    /// min/max statistics. Default: the event-time column. A struct field
    /// is named `parent.field`.
    #[serde(default)]
    pub sort_by: Option<String>,
    /// Columns that get a Parquet bloom filter in every row group (equality
    /// columns such as `routing_domain` or `message_id`): a query with
    /// `col = 'value'` skips the row groups that can't hold the value. A
    /// struct field is named `parent.field`. Default: none.
    #[serde(default)]
    pub bloom_filters: Vec<String>,
    /// The size a Parquet file of the table grows to before compaction
    /// starts the unit's next file (`part-1`, `part-2`, ...), as encoded.
    /// Default 128MiB, what Athena, Trino and Spark read well.
    #[serde(default)]
    pub target_file_size: Option<Size>,
    /// How long the table keeps an hour's JSON chunks, counted from the
    /// hour's end (`"7d"`): they are deleted by compaction (`levee compact`,
    /// or `[compaction]` in `levee run`) once the hour is that old and its
    /// Parquet covers every chunk, never before. Unset (the default), they
    /// are kept forever. At least an hour.
    #[serde(default)]
    pub keep_json: Option<Interval>,
    /// How long the table keeps an hour's Parquet, counted from the hour's
    /// end (`"400d"`): then compaction deletes it, whatever else, and never
    /// compacts that hour again. Unset (the default), kept forever. At
    /// least an hour.
    #[serde(default)]
    pub keep_parquet: Option<Interval>,
    /// Column types that win over what compaction infers, as `levee tables
    /// --schema` prints them: `[outputs.X.schema]` with `status = "bigint"`,
    /// `ratio = "double"`, `tags = "array<string>"`, `req = "struct<id:bigint>"`
    /// (a struct fixes the fields it names; others are inferred). Values are
    /// cast (`"404"` to 404); one that cannot be is null in the Parquet, and
    /// its record is kept, with the reason, in the table's records
    /// quarantine, and counted. Not `dt`, `hour` or the `time_field`. Empty
    /// (the default): every type is inferred.
    #[serde(default)]
    pub schema: BTreeMap<String, String>,
    /// What each sealed chunk is stored as: `"json"` (the default), zstd
    /// NDJSON under `json/`; `"parquet"`, one zstd Parquet file under
    /// `chunks/` with the chunk's own schema (inferred as compaction infers
    /// an hour's), as Firehose's record format conversion writes, and no
    /// JSON; `"both"`, the Parquet file and the JSON chunk, the same events
    /// in each. Compaction merges an hour's chunks into files near its size
    /// target, reading the JSON where a chunk is in both forms. Parquet
    /// costs the collector CPU (about as much again as the JSON) and, per
    /// chunk, memory for the chunk's rows while it is encoded.
    #[serde(default)]
    pub format: ChunkFormat,
}

fn default_partition_by() -> String {
    "hour".into()
}

fn default_lake() -> String {
    "./lake".into()
}

fn default_time_field() -> String {
    levee_lake::properties::DEFAULT_TIME_FIELD.into()
}

fn default_zstd_level() -> i32 {
    1
}

fn default_chunk_max_bytes() -> Size {
    Size(64 * 1024 * 1024)
}

fn default_chunk_interval() -> Interval {
    Interval(Duration::from_secs(60))
}

impl LakeConfig {
    /// Checks every setting once, touching nothing.
    pub(crate) fn build(self) -> Result<LakeSettings, SinkConfigError> {
        Lake::locate(&self.lake, &self.s3).map_err(|e| {
            let key = if self.s3.is_empty() { "lake" } else { "s3" };
            SinkConfigError::new(key, e.to_string())
        })?;
        let table = TableRef::new(&self.database, &self.table).map_err(|e| {
            let key = match &e {
                LakeError::InvalidName { what, .. } if *what == "table" => "table",
                _ => "database",
            };
            SinkConfigError::new(key, e.to_string())
        })?;
        if !(1..=19).contains(&self.zstd_level) {
            return Err(SinkConfigError::new(
                "zstd_level",
                format!("must be 1 to 19, not {}", self.zstd_level),
            ));
        }
        if self.chunk_max_bytes.0 < 1024 {
            return Err(SinkConfigError::new(
                "chunk_max_bytes",
                "must be at least 1KiB",
            ));
        }
        if self.chunk_interval.0.is_zero() {
            return Err(SinkConfigError::new("chunk_interval", "must be above 0"));
        }
        let time_field = TimeField::new(&self.time_field)
            .map_err(|e| SinkConfigError::new("time_field", e.to_string()))?;
        let parquet = self.parquet_layout()?;
        let keep = |key: &'static str, d: Option<Interval>| match d {
            Some(Interval(d)) if d < Duration::from_secs(3600) => Err(SinkConfigError::new(
                key,
                "must be at least an hour: an hour is what expires",
            )),
            d => Ok(d.map(|d| d.0)),
        };
        let schema = levee_lake::declared::parse_schema(&self.schema, time_field.as_str())
            .map_err(|e| SinkConfigError::new("schema", e.to_string()))?;
        let retention = Retention {
            keep_json: keep("keep_json", self.keep_json)?,
            keep_parquet: keep("keep_parquet", self.keep_parquet)?,
        };
        Ok(LakeSettings {
            lake: self.lake,
            s3: self.s3,
            table,
            zstd_level: self.zstd_level,
            chunk_max_bytes: self.chunk_max_bytes.as_usize(),
            chunk_interval: self.chunk_interval.0,
            time_field,
            parquet,
            retention,
            schema,
            format: self.format,
        })
    }

    fn parquet_layout(&self) -> Result<ParquetLayout, SinkConfigError> {
        let partition_by = PartitionBy::parse(&self.partition_by).ok_or_else(|| {
            SinkConfigError::new(
                "partition_by",
                format!("must be \"hour\" or \"day\", not {:?}", self.partition_by),
            )
        })?;
        let column = |key: &'static str, name: &str| -> Result<ColumnName, SinkConfigError> {
            ColumnName::new(name).map_err(|e| SinkConfigError::new(key, e.to_string()))
        };
        let sort_by = self
            .sort_by
            .as_deref()
            .map(|name| column("sort_by", name))
            .transpose()?;
        let mut bloom_filters = Vec::new();
        for name in &self.bloom_filters {
            let name = column("bloom_filters", name)?;
            if !bloom_filters.contains(&name) {
                bloom_filters.push(name);
            }
        }
        if self.target_file_size.is_some_and(|s| s.0 < 1024 * 1024) {
            return Err(SinkConfigError::new(
                "target_file_size",
                "must be at least 1MiB",
            ));
        }
        Ok(ParquetLayout {
            partition_by,
            sort_by,
            bloom_filters,
            target_file_size: self.target_file_size.map(|s| s.0),
        })
    }
}

/// A lake output's settings, checked.
#[derive(Clone, Debug)]
pub struct LakeSettings {
    /// The lake's root, as written: a local folder, a `file://` or an
    /// `s3://` URL.
    lake: String,
    /// How to reach an `s3://` lake; empty for a local one.
    s3: S3Options,
    table: TableRef,
    /// 1 to 19.
    zstd_level: i32,
    /// At least 1KiB.
    chunk_max_bytes: usize,
    /// Above zero.
    chunk_interval: Duration,
    /// A name a column can have.
    time_field: TimeField,
    /// Checked names; stored in the table's properties for compaction.
    parquet: ParquetLayout,
    /// Each at least an hour.
    retention: Retention,
    /// Types that read.
    schema: DeclaredSchema,
    format: ChunkFormat,
}

impl OpenSink for LakeSettings {
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
        Box::pin(
            async move { Ok(Box::new(LakeSink::open(self, ctx).await?) as Box<dyn WriteSink>) },
        )
    }
}

struct LakeSink {
    lake: Lake,
    table: TableRef,
    /// Tells this output's chunks from any other writer's; kept in its
    /// state folder, so it survives restarts.
    writer: String,
    /// The next chunk's number: past every number the journal handed out.
    next_seq: u64,
    /// What chunks stored by earlier runs hold that a replay may bring
    /// again.
    covered: Covered,
    /// Where each chunk's coverage is written before it is put.
    journal: Journal,
    /// Which streams the tail's checkpoints have named, for pruning.
    naming: Naming,
    /// The pipeline's data folder, where the tail's checkpoints are.
    data_dir: PathBuf,
    /// Replayed events skipped because a stored chunk holds them.
    replay_skipped: Counter,
    /// Bytes of the chunks put in the lake (compressed, as stored).
    stored_bytes: Counter,
    /// The zstd context every chunk compresses its frames with.
    frames: Box<Frames>,
    chunk_max_bytes: usize,
    chunk_interval: Duration,
    /// The event-time column each record is led by.
    time_field: TimeField,
    /// Stored with it in the table's properties.
    parquet: ParquetLayout,
    /// Stored in the table's properties, for compaction.
    retention: Retention,
    /// Stored in the table's properties, for compaction.
    schema: DeclaredSchema,
    /// What each sealed chunk is stored as.
    format: ChunkFormat,
    /// Makes the Parquet, when the format has it.
    encoder: Option<Arc<dyn ParquetEncoder>>,
    /// Parquet chunks put for sealed chunks given up on before their JSON
    /// twin was put: deleted by the next store, since their events were
    /// counted as lost and a reader would take them for the chunk.
    orphans: Vec<Path>,
    /// The table's properties are stored (before the first chunk).
    properties_stored: bool,
    /// Open chunks by hour since the epoch.
    open: BTreeMap<i64, OpenChunk>,
    /// Counts writes, to find the least recently written chunk.
    writes: u64,
    /// Sealed chunks not stored yet, oldest first.
    sealed: VecDeque<Sealed>,
    /// Events in chunks stored by a flush that then failed: reported by
    /// the next flush that works.
    stored_unreported: u64,
    /// The most chunks ever open at once, for tests.
    #[cfg(test)]
    peak_open: usize,
}

impl LakeSink {
    /// Opens the lake and settles the output's state (its writer id and
    /// journal) in its state folder.
    pub(crate) async fn open(
        settings: &LakeSettings,
        ctx: &SinkContext,
    ) -> Result<LakeSink, SinkError> {
        let parquet = match (settings.format.writes_parquet(), &ctx.parquet) {
            (false, _) => None,
            (true, Some(encoder)) => Some(encoder.clone()),
            (true, None) => {
                return Err(SinkError::Encode(format!(
                    "output {}: format = {:?} needs Parquet, which this build of levee was not given",
                    ctx.output, settings.format
                )));
            }
        };
        let lake = Lake::open_with(&settings.lake, &settings.s3)?;
        // Where the tail sources resume: a replay reaches nothing before
        // (a checkpoint written while this runs only moves on).
        let data_dir = ctx.data_dir.clone();
        let checkpoints = tokio::task::spawn_blocking(move || resume_offsets(&data_dir))
            .await
            .ok()
            .flatten();
        let opened = state::open(ctx.state_dir(), &lake, &settings.table, checkpoints).await?;
        Ok(LakeSink {
            lake,
            table: settings.table.clone(),
            writer: opened.writer,
            next_seq: opened.next_seq,
            covered: opened.covered,
            journal: opened.journal,
            naming: opened.naming,
            data_dir: ctx.data_dir.clone(),
            replay_skipped: ctx.metrics.replay_skipped.clone(),
            stored_bytes: ctx.metrics.bytes.clone(),
            frames: Box::new(Frames::new(settings.zstd_level)?),
            chunk_max_bytes: settings.chunk_max_bytes,
            chunk_interval: settings.chunk_interval,
            time_field: settings.time_field.clone(),
            parquet: settings.parquet.clone(),
            retention: settings.retention,
            schema: settings.schema.clone(),
            format: settings.format,
            encoder: parquet,
            orphans: Vec::new(),
            properties_stored: false,
            open: BTreeMap::new(),
            writes: 0,
            sealed: VecDeque::new(),
            stored_unreported: 0,
            #[cfg(test)]
            peak_open: 0,
        })
    }

    /// When the oldest open chunk is due to be sealed, if any is open.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .map(|c| c.opened + self.chunk_interval)
            .min()
    }

    /// Seals the chunks that have been open long enough (or every open
    /// chunk), then stores every sealed one; returns how many events the
    /// stored chunks held.
    pub(crate) async fn flush(&mut self, what: Flush) -> Result<u64, SinkError> {
        match what {
            Flush::Due => self.seal_aged(Instant::now()),
            Flush::All => {
                let hours: Vec<i64> = self.open.keys().copied().collect();
                for hour in hours {
                    self.seal(hour);
                }
            }
        }
        self.store().await?;
        Ok(std::mem::take(&mut self.stored_unreported))
    }

    /// Drops the sealed chunks a failed flush could not store, with their
    /// acks; returns how many events they held.
    pub(crate) fn discard(&mut self) -> u64 {
        let mut events = 0;
        for sealed in self.sealed.drain(..) {
            events += sealed.events;
            // Its Parquet may be in the lake without its JSON.
            if let Some(twin) = sealed.parquet.filter(|p| *p != sealed.key) {
                self.orphans.push(twin);
            }
        }
        events
    }

    /// Adds the batch to the chunk of each event's hour, with a clone of
    /// each of its acks, then seals the hours the batch has left behind.
    /// Infallible, so a batch is in the chunks whole or not at all. An
    /// event a stored chunk already holds (a replay after a crash) is
    /// skipped and counted.
    fn absorb(&mut self, events: &[Event], acks: &[Ack]) {
        // Most batches fall in one hour; group without reordering within one.
        let mut hours: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
        let before = self.writes;
        let mut newest = i64::MIN;
        let mut skipped = 0;
        for event in events {
            let hour = hour_of(event.time);
            // Empty once each replayed stream is read past what was stored.
            if !self.covered.is_empty()
                && let Some(origin) = event.origin
                && self.covered.covers(hour, origin)
            {
                skipped += 1;
                continue;
            }
            hours.entry(hour).or_default().push(event);
            newest = newest.max(event.time);
        }
        if skipped > 0 {
            self.replay_skipped.inc_by(skipped);
        }
        let now = Instant::now();
        for (hour, events) in hours {
            let Some(first) = events.first() else {
                continue;
            };
            self.writes += 1;
            if !self.open.contains_key(&hour) {
                // Room first: a batch of scattered times must not hold a
                // zstd stream per hour it touches.
                while self.open.len() >= MAX_OPEN_CHUNKS {
                    self.seal_least_recent();
                }
                self.open
                    .insert(hour, OpenChunk::new(first, now, &mut self.frames));
                #[cfg(test)]
                {
                    self.peak_open = self.peak_open.max(self.open.len());
                }
            }
            let Some(chunk) = self.open.get_mut(&hour) else {
                continue;
            };
            chunk.append(
                events,
                self.time_field.as_str(),
                &mut self.frames,
                self.writes,
            );
            chunk.acks.extend(acks.iter().cloned());
            if chunk.raw_bytes >= self.chunk_max_bytes {
                self.seal(hour);
            }
        }
        self.seal_past(newest, before);
    }

    /// Seals the chunks that no event of this batch went to (none written
    /// since write `before`) and whose hour ended, with some grace, before
    /// the batch's `newest` event. Live, the chunk interval seals them
    /// first; replaying an old log, where a minute of wall time spans hours
    /// of event time, an hour left behind would otherwise stay open,
    /// holding a frame of JSON, until [`MAX_OPEN_CHUNKS`] pushed it out. An
    /// hour still being written stays open, so an old log read beside live
    /// traffic is not cut into a chunk per batch. A straggler after the
    /// seal opens a new chunk for its hour.
    fn seal_past(&mut self, newest: i64, before: u64) {
        let past: Vec<i64> = self
            .open
            .iter()
            .take_while(|(hour, _)| hour_is_over(**hour, newest))
            .filter(|(_, chunk)| chunk.last_write <= before)
            .map(|(hour, _)| *hour)
            .collect();
        for hour in past {
            self.seal(hour);
        }
    }

    /// Seals the open chunk that took events longest ago.
    fn seal_least_recent(&mut self) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, c)| c.last_write)
            .map(|(hour, _)| *hour);
        if let Some(hour) = oldest {
            self.seal(hour);
        }
    }

    fn seal_aged(&mut self, now: Instant) {
        let aged: Vec<i64> = self
            .open
            .iter()
            .filter(|(_, c)| now >= c.opened + self.chunk_interval)
            .map(|(hour, _)| *hour)
            .collect();
        for hour in aged {
            self.seal(hour);
        }
    }

    /// Ends an hour's chunk and queues it to be stored.
    fn seal(&mut self, hour: i64) {
        let Some(mut chunk) = self.open.remove(&hour) else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let parquet = self.format.writes_parquet().then(|| {
            self.table
                .parquet_chunk(&chunk.partition, chunk.minute, &self.writer, seq)
        });
        // The key the journal names is the object put last.
        let key = match (self.format.writes_json(), &parquet) {
            (false, Some(parquet)) => parquet.clone(),
            _ => self.table.json_chunk(
                &chunk.partition,
                chunk.minute,
                &self.writer,
                seq,
                ZSTD_CHUNK_EXT,
            ),
        };
        let ranges = std::mem::take(&mut chunk.ranges).into_ranges();
        self.naming.note(&ranges);
        self.sealed.push_back(Sealed {
            intent: Intent {
                seq,
                hour,
                key: key.to_string(),
                ranges,
            },
            journaled: false,
            key,
            events: chunk.events,
            acks: std::mem::take(&mut chunk.acks),
            chunk: Some(chunk),
            body: Bytes::new(),
            parquet,
            parquet_body: None,
        });
    }

    /// Stores the sealed chunks, oldest first, counting their events in
    /// `stored_unreported` and dropping their acks; on error the rest wait
    /// for the next try. What each covers is in the journal, synced, before
    /// any of them is put.
    async fn store(&mut self) -> Result<(), SinkError> {
        let intents: Vec<Record> = self
            .sealed
            .iter()
            .filter(|s| !s.journaled)
            .map(|s| Record::Intent(s.intent.clone()))
            .collect();
        if !intents.is_empty() {
            self.journal.append(&intents, true).await?;
            for sealed in &mut self.sealed {
                sealed.journaled = true;
            }
        }
        if !self.properties_stored && !self.sealed.is_empty() {
            // Before any chunk, so compaction never reads a chunk of the
            // column without knowing the column.
            let props = TableProperties::new(self.time_field.clone())
                .with_parquet(self.parquet.clone())
                .with_retention(self.retention)
                .with_schema(self.schema.clone());
            write_properties(&self.lake, &self.table, &props).await?;
            self.properties_stored = true;
        }
        self.delete_orphans().await?;
        while let Some(sealed) = self.sealed.front_mut() {
            let body = sealed.body(&mut self.frames)?;
            if let Some(parquet_key) = &sealed.parquet {
                let parquet = match &sealed.parquet_body {
                    Some(parquet) => parquet.clone(),
                    None => {
                        let encoder = self
                            .encoder
                            .clone()
                            .ok_or_else(|| SinkError::Encode("no Parquet encoder".to_owned()))?;
                        let time_field = self.time_field.as_str().to_owned();
                        let json = body.clone();
                        let parquet =
                            tokio::task::spawn_blocking(move || encoder.encode(&json, &time_field))
                                .await
                                .map_err(|e| SinkError::Encode(e.to_string()))?
                                .map_err(SinkError::Encode)?;
                        let parquet = Bytes::from(parquet);
                        sealed.parquet_body = Some(parquet.clone());
                        parquet
                    }
                };
                let len = parquet.len() as u64;
                self.lake
                    .put_whole(parquet_key, PutPayload::from(parquet))
                    .await?;
                self.stored_bytes.inc_by(len);
            }
            if self.format.writes_json() {
                let len = body.len() as u64;
                self.lake
                    .put_whole(&sealed.key, PutPayload::from(body))
                    .await?;
                self.stored_bytes.inc_by(len);
            }
            self.stored_unreported += sealed.events;
            let seq = sealed.intent.seq;
            // Its acks drop here: the chunk is durable.
            self.sealed.pop_front();
            // Not synced, and not needed: a restart that misses it finds
            // the chunk in the lake.
            if let Err(e) = self.journal.append(&[Record::Stored(seq)], false).await {
                tracing::warn!(error = %e, "lake: cannot note a stored chunk in the journal; the next start looks it up");
            }
        }
        if self.naming.waiting() {
            self.name_streams().await;
        }
        Ok(())
    }

    /// Deletes the Parquet chunks of sealed chunks given up on (see
    /// `orphans`); one that cannot be deleted fails the flush, which is
    /// tried again.
    async fn delete_orphans(&mut self) -> Result<(), SinkError> {
        while let Some(key) = self.orphans.last() {
            match self.lake.store.delete(key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.orphans.pop();
        }
        Ok(())
    }

    /// Journals the streams of stored chunks that the tail's committed
    /// checkpoints now name, so that the next start can tell a file the
    /// source let go (pruned) from one it never checkpointed (kept: it
    /// would be read from its start). Best effort: a stream not named only
    /// keeps its ranges longer.
    async fn name_streams(&mut self) {
        let data_dir = self.data_dir.clone();
        let Ok(Some(offsets)) =
            tokio::task::spawn_blocking(move || resume_offsets(&data_dir)).await
        else {
            return;
        };
        let named = self.naming.name(&offsets);
        if named.is_empty() {
            return;
        }
        let records: Vec<Record> = named.into_iter().map(Record::Named).collect();
        if let Err(e) = self.journal.append(&records, false).await {
            tracing::warn!(error = %e, "lake: cannot note checkpointed files in the journal");
        }
    }
}

// The inherent methods are the sink; this is how the output worker reaches them.
impl WriteSink for LakeSink {
    fn write<'a>(&'a mut self, events: &'a [Event], acks: &'a mut Vec<Ack>) -> SinkFuture<'a, u64> {
        // Absorbing cannot fail; storing is the flush's.
        let acks = std::mem::take(acks);
        self.absorb(events, &acks);
        Box::pin(async { Ok(0) })
    }

    fn next_deadline(&self) -> Option<Instant> {
        LakeSink::next_deadline(self)
    }

    fn flush(&mut self, what: Flush) -> SinkFuture<'_, u64> {
        Box::pin(LakeSink::flush(self, what))
    }

    fn discard(&mut self) -> u64 {
        LakeSink::discard(self)
    }
}

/// A chunk that takes no more events, on its way to the lake.
struct Sealed {
    /// Its number, key, hour and coverage, as the journal has them.
    intent: Intent,
    /// The intent is in the journal, synced: the chunk may be put.
    journaled: bool,
    key: Path,
    /// How many events it holds.
    events: u64,
    /// Dropped with it, once it is stored or given up on.
    #[expect(dead_code, reason = "held only to be dropped with the chunk")]
    acks: Vec<Ack>,
    /// Until its last frame is compressed.
    chunk: Option<OpenChunk>,
    /// The JSON chunk's bytes, once compressed.
    body: Bytes,
    /// Where its Parquet goes, if the format has it: `key` itself, or
    /// (`both`) its twin under `chunks/`, put before `key`.
    parquet: Option<Path>,
    /// The Parquet, once encoded (kept for a retried put).
    parquet_body: Option<Bytes>,
}

impl Sealed {
    /// The object's bytes, compressing the last frame the first time.
    fn body(&mut self, frames: &mut Frames) -> Result<Bytes, SinkError> {
        if let Some(mut chunk) = self.chunk.take() {
            if let Err(e) = chunk.compress(frames) {
                self.chunk = Some(chunk);
                return Err(e);
            }
            self.body = Bytes::from(chunk.into_body(frames));
        }
        Ok(self.body.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::SinkMetrics;
    use levee_event::{Record, Tag, Value};

    const MINUTE: i64 = 60_000_000_000;
    const HOUR: i64 = 60 * MINUTE;
    /// 2018-09-01T00:00:00Z
    const BASE: i64 = 1_535_760_000 * 1_000_000_000;

    fn event(time: i64, n: i64) -> Event {
        let mut record = Record::new();
        record.insert("n", Value::Int(n));
        Event::new(Tag::new("t"), time, record)
    }

    /// Opens a sink of `config` whose state is kept under `dir/data`.
    async fn open(config: LakeConfig, dir: &std::path::Path) -> LakeSink {
        LakeSink::open(&config.build().unwrap(), &context(dir))
            .await
            .unwrap()
    }

    fn context(dir: &std::path::Path) -> SinkContext {
        SinkContext {
            output: "lake".into(),
            data_dir: dir.join("data"),
            metrics: SinkMetrics::default(),
            parquet: None,
        }
    }

    /// What the output worker does with a batch, and at shutdown.
    impl LakeSink {
        async fn write(&mut self, events: &[Event]) -> Result<u64, SinkError> {
            self.absorb(events, &[]);
            self.flush(Flush::Due).await
        }

        async fn close(&mut self) -> Result<u64, SinkError> {
            self.flush(Flush::All).await
        }
    }

    fn config(dir: &std::path::Path) -> LakeConfig {
        LakeConfig {
            lake: dir.to_string_lossy().into_owned(),
            s3: S3Options::default(),
            database: "db".into(),
            table: "t".into(),
            zstd_level: 3,
            chunk_max_bytes: default_chunk_max_bytes(),
            chunk_interval: default_chunk_interval(),
            time_field: default_time_field(),
            partition_by: default_partition_by(),
            sort_by: None,
            bloom_filters: Vec::new(),
            target_file_size: None,
            keep_json: None,
            keep_parquet: None,
            schema: BTreeMap::new(),
            format: ChunkFormat::Json,
        }
    }

    #[tokio::test]
    async fn each_hour_of_event_time_gets_its_own_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let events = [
            event(BASE + 5 * MINUTE, 1),
            event(BASE + HOUR + 1, 2),
            event(BASE + 10, 3),
        ];
        sink.write(&events).await.unwrap();
        assert!(chunks(dir.path()).is_empty(), "chunks stay open");
        sink.close().await.unwrap();

        let found = chunks(dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0]
                .0
                .starts_with("db/t/json/dt=2018-09-01/hour=00/05-"),
            "{}",
            found[0].0
        );
        assert_eq!(found[0].1, "{\"n\":1}\n{\"n\":3}\n");
        assert!(
            found[1]
                .0
                .starts_with("db/t/json/dt=2018-09-01/hour=01/00-"),
            "{}",
            found[1].0
        );
        assert_eq!(found[1].1, "{\"n\":2}\n");
    }

    /// `levee_output_bytes_total`: the bytes of the objects put, as
    /// stored (compressed), not the JSON they hold.
    #[tokio::test]
    async fn stored_bytes_are_the_chunks_objects_as_put() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let events: Vec<Event> = (0..500).map(|n| event(BASE + n, n)).collect();
        sink.write(&events).await.unwrap();
        sink.write(&[event(BASE + HOUR, 1)]).await.unwrap();
        sink.close().await.unwrap();
        let mut on_disk = 0;
        let mut folders = vec![dir.path().join("db")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.to_string_lossy().ends_with(".ndjson.zst") {
                    on_disk += std::fs::metadata(&path).unwrap().len();
                }
            }
        }
        assert_eq!(chunks(dir.path()).len(), 2);
        assert!(on_disk > 0);
        assert_eq!(sink.stored_bytes.get(), on_disk);
    }

    #[tokio::test(start_paused = true)]
    async fn a_chunk_takes_batches_until_its_interval_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        sink.write(&[event(BASE, 1)]).await.unwrap();
        let due = sink.next_deadline().expect("a chunk is open");
        tokio::time::advance(Duration::from_secs(30)).await;
        sink.write(&[event(BASE + MINUTE, 2)]).await.unwrap();
        sink.flush(Flush::Due).await.unwrap();
        assert!(chunks(dir.path()).is_empty(), "30 s is not a minute");

        tokio::time::advance(due - Instant::now()).await;
        sink.flush(Flush::Due).await.unwrap();
        let found = chunks(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, "{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(sink.next_deadline(), None);
    }

    #[tokio::test]
    async fn a_full_chunk_is_sealed_and_the_next_one_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        config.chunk_max_bytes = Size(1024);
        let mut sink = open(config, dir.path()).await;
        let mut want = String::new();
        for batch in 0..10 {
            let events: Vec<Event> = (0..20).map(|i| event(BASE + i, batch * 20 + i)).collect();
            for e in &events {
                want.push_str(&format!("{{\"n\":{}}}\n", e.record["n"]));
            }
            sink.write(&events).await.unwrap();
        }
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        assert!(found.len() > 1, "{} chunks", found.len());
        // Chunk names sort by their sequence number within the minute.
        let all: String = found.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(all, want);
    }

    #[tokio::test]
    async fn a_chunk_past_a_frame_is_several_frames_read_back_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let mut want = String::new();
        // 3 batches of 1000 events of about 3KiB: 9MiB, past two frames.
        for batch in 0..3i64 {
            let events: Vec<Event> = (0..1000)
                .map(|i| {
                    let n = batch * 1000 + i;
                    let mut e = event(BASE + n, n);
                    e.record.insert("pad", format!("{n:x}").repeat(1000));
                    e
                })
                .collect();
            for e in &events {
                want.push_str(&serde_json::to_string(&e.record).unwrap());
                want.push('\n');
            }
            sink.write(&events).await.unwrap();
        }
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        assert_eq!(found.len(), 1, "one chunk: 64MiB is not reached");
        assert_eq!(found[0].1, want);
        let file = walk(dir.path())
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(ZSTD_CHUNK_EXT))
            .unwrap();
        let mut body = &std::fs::read(file).unwrap()[..];
        let mut frames = 0;
        while !body.is_empty() {
            let size = zstd::zstd_safe::find_frame_compressed_size(body).unwrap();
            body = &body[size..];
            frames += 1;
        }
        assert!(
            frames >= 2,
            "{frames} frames for {} bytes of JSON",
            want.len()
        );
    }

    #[tokio::test]
    async fn too_many_open_hours_seal_the_least_recently_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let hours = MAX_OPEN_CHUNKS as i64 + 2;
        // Newest hour first, a batch each: no batch leaves an open hour
        // behind, so only the limit seals (the two newest hours, written
        // longest ago).
        for h in (0..hours).rev() {
            sink.write(&[event(BASE + h * HOUR, h)]).await.unwrap();
        }
        assert_eq!(sink.open.len(), MAX_OPEN_CHUNKS);
        assert_eq!(chunks(dir.path()).len(), 2);
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        assert_eq!(found.len(), hours as usize);
        for (h, (_, text)) in found.iter().enumerate() {
            assert_eq!(*text, format!("{{\"n\":{h}}}\n"));
        }
    }

    #[tokio::test]
    async fn a_batch_of_scattered_hours_never_opens_more_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        // Two hundred hours, out of order, in one batch.
        let events: Vec<Event> = (0..200)
            .map(|i| event(BASE + (i * 7919 % 200) * HOUR, i))
            .collect();
        sink.write(&events).await.unwrap();
        assert_eq!(sink.peak_open, MAX_OPEN_CHUNKS);
        // The hours this batch wrote stay open, even those it has left
        // behind: only the limit sealed.
        assert_eq!(sink.open.len(), MAX_OPEN_CHUNKS);
        assert_eq!(chunks(dir.path()).len(), 200 - MAX_OPEN_CHUNKS);
        // A later batch, past their grace, leaves them all behind.
        sink.write(&[event(BASE + 200 * HOUR + 10 * MINUTE, 200)])
            .await
            .unwrap();
        assert_eq!(
            sink.open.keys().collect::<Vec<_>>(),
            [&(hour_of(BASE) + 200)]
        );
        assert_eq!(chunks(dir.path()).len(), 200);
        sink.close().await.unwrap();
        assert_eq!(numbers(dir.path()), (0..=200).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_log_replayed_in_time_order_seals_each_hour_it_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        // Three hours of an event a minute, in batches of ten minutes, as
        // a collector catching up on an old log reads them: far faster
        // than the chunk interval.
        let mut n = 0;
        for batch in 0..18 {
            let events: Vec<Event> = (0..10)
                .map(|i| {
                    n += 1;
                    event(BASE + (batch * 10 + i) * MINUTE, n)
                })
                .collect();
            sink.write(&events).await.unwrap();
            assert!(
                sink.open.len() <= 2,
                "batch {batch}: {:?}",
                sink.open.keys()
            );
            // Hour 0 stays open through 1:05 for stragglers, and is
            // stored by the batch that reaches 1:09.
            let stored = chunks(dir.path());
            let hour0 = stored.iter().filter(|(k, _)| k.contains("hour=00")).count();
            assert_eq!(hour0, usize::from(batch >= 6), "batch {batch}");
        }
        // A straggler for an hour already stored opens a chunk of its own.
        sink.write(&[event(BASE + 59 * MINUTE, 0)]).await.unwrap();
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        let hour0: Vec<&str> = found
            .iter()
            .filter(|(k, _)| k.contains("hour=00"))
            .map(|(_, text)| text.as_str())
            .collect();
        assert_eq!(hour0.len(), 2, "{found:?}");
        assert!(hour0.contains(&"{\"n\":0}\n"), "{hour0:?}");
        let lines: usize = found.iter().map(|(_, text)| text.lines().count()).sum();
        assert_eq!(lines, 181);
    }

    #[tokio::test]
    async fn an_old_hour_still_written_beside_live_events_stays_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        // Every batch has an old log's next minutes and a live hour's.
        for batch in 0..6 {
            let events: Vec<Event> = (0..10)
                .flat_map(|i| {
                    let n = batch * 10 + i;
                    [
                        event(BASE + n * MINUTE, n),
                        event(BASE + 5 * HOUR + n, 100 + n),
                    ]
                })
                .collect();
            sink.write(&events).await.unwrap();
            assert_eq!(sink.open.len(), 2, "batch {batch}");
        }
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|(_, text)| text.lines().count() == 60));
    }

    #[tokio::test]
    async fn a_failed_close_can_be_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        // A file where the table's folder should be: every put fails.
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();

        let batch = [event(BASE, 1), event(BASE + 1, 2)];
        sink.write(&batch).await.unwrap();
        assert!(sink.close().await.is_err());
        std::fs::remove_file(table.join("json")).unwrap();
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, "{\"n\":1}\n{\"n\":2}\n");
    }

    #[tokio::test]
    async fn a_chunk_whose_last_frame_fails_stays_queued_and_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        sink.write(&[event(BASE, 1), event(BASE + 1, 2)])
            .await
            .unwrap();
        sink.frames.fail = 1;
        assert!(sink.close().await.is_err());
        assert!(chunks(dir.path()).is_empty());
        sink.close().await.unwrap();
        let found = chunks(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, "{\"n\":1}\n{\"n\":2}\n");
    }

    #[tokio::test]
    async fn a_retried_batch_is_not_compressed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        config.chunk_max_bytes = Size(1024);
        let mut sink = open(config, dir.path()).await;
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();

        let batch: Vec<Event> = (0..200).map(|i| event(BASE + i, i)).collect();
        assert!(sink.write(&batch).await.is_err(), "the store is broken");
        std::fs::remove_file(table.join("json")).unwrap();
        sink.flush(Flush::Due).await.unwrap();
        sink.close().await.unwrap();
        let lines: usize = chunks(dir.path())
            .iter()
            .map(|(_, t)| t.lines().count())
            .sum();
        assert_eq!(lines, 200);
    }

    #[tokio::test]
    async fn a_batchs_ack_drops_once_every_chunk_holding_its_events_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let ledger = levee_event::Ledger::new();
        let mut acks = vec![ledger.issue().1];
        // Two hours: two chunks hold the batch's events.
        let batch = [event(BASE, 1), event(BASE + HOUR, 2)];
        let stored = WriteSink::write(&mut sink, &batch, &mut acks).await;
        assert_eq!(stored.unwrap(), 0, "absorbed, not stored");
        assert!(acks.is_empty(), "the sink holds the ack");
        sink.seal(hour_of(BASE));
        assert_eq!(sink.flush(Flush::Due).await.unwrap(), 1);
        assert_eq!(ledger.done_through(), None, "hour 1 is not stored");
        assert_eq!(sink.flush(Flush::All).await.unwrap(), 1);
        assert_eq!(ledger.done_through(), Some(0));
    }

    #[tokio::test]
    async fn a_discard_drops_the_unstored_chunks_with_their_acks_and_counts_their_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();
        let ledger = levee_event::Ledger::new();
        let mut acks = vec![ledger.issue().1];
        let batch = [event(BASE, 1), event(BASE + HOUR, 2), event(BASE + 2, 3)];
        WriteSink::write(&mut sink, &batch, &mut acks)
            .await
            .unwrap();
        assert!(sink.flush(Flush::All).await.is_err());
        assert_eq!(ledger.done_through(), None, "held while it may be retried");
        assert_eq!(sink.discard(), 3);
        assert_eq!(ledger.done_through(), Some(0));
        assert_eq!(sink.discard(), 0, "nothing is counted twice");
        std::fs::remove_file(table.join("json")).unwrap();
        assert_eq!(sink.flush(Flush::All).await.unwrap(), 0);
        assert!(chunks(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn chunk_names_keep_the_writer_id_and_go_on_numbering_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut writers = Vec::new();
        for run in 0..2 {
            let mut sink = open(config(dir.path()), dir.path()).await;
            sink.write(&[event(BASE + run, run)]).await.unwrap();
            sink.close().await.unwrap();
            writers.push(sink.writer.clone());
        }
        assert_eq!(writers[0], writers[1]);
        let found = chunks(dir.path());
        assert_eq!(
            found.len(),
            2,
            "the second run's chunk has a name of its own"
        );
        assert!(
            found[0]
                .0
                .ends_with(&format!("-{}-00000001.ndjson.zst", writers[0]))
        );
        assert!(
            found[1]
                .0
                .ends_with(&format!("-{}-00000002.ndjson.zst", writers[0]))
        );
        let kept = dir.path().join("data/outputs/lake/writer");
        assert_eq!(
            std::fs::read_to_string(kept).unwrap(),
            format!("{}\n", writers[0])
        );
    }

    /// An event read from stream 1 at offset `n * 100`, numbered `n`.
    fn tailed(time: i64, n: i64) -> Event {
        event(time, n).with_origin(levee_event::Origin {
            stream: 1,
            offset: n as u64 * 100,
        })
    }

    /// Every `n` in the lake, sorted.
    fn numbers(dir: &std::path::Path) -> Vec<i64> {
        let mut found: Vec<i64> = chunks(dir)
            .iter()
            .flat_map(|(_, text)| text.lines().map(str::to_owned).collect::<Vec<_>>())
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(&line).unwrap()["n"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        found.sort();
        found
    }

    #[tokio::test]
    async fn a_replay_after_a_crash_skips_what_stored_chunks_hold_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        // Two hours' chunks stored, one still open when the process dies.
        let first: Vec<Event> = (0..60).map(|n| tailed(BASE + n * MINUTE, n)).collect();
        sink.write(&first).await.unwrap();
        sink.flush(Flush::All).await.unwrap();
        sink.write(&[tailed(BASE + HOUR, 60), tailed(BASE + HOUR + 1, 61)])
            .await
            .unwrap();
        drop(sink);
        assert_eq!(numbers(dir.path()), (0..60).collect::<Vec<_>>());

        // The source replays from an older checkpoint, and reads on.
        let mut sink = open(config(dir.path()), dir.path()).await;
        let replay: Vec<Event> = (10..60)
            .map(|n| tailed(BASE + n * MINUTE, n))
            .chain((60..70).map(|n| tailed(BASE + HOUR + n, n)))
            .collect();
        sink.write(&replay).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(sink.replay_skipped.get(), 50);
        assert_eq!(numbers(dir.path()), (0..70).collect::<Vec<_>>());
        assert!(sink.covered.is_empty(), "read past what was stored");
    }

    #[tokio::test]
    async fn a_chunk_whose_put_failed_before_a_crash_is_written_on_replay() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();
        let batch: Vec<Event> = (0..5).map(|n| tailed(BASE + n, n)).collect();
        sink.write(&batch).await.unwrap();
        assert!(sink.close().await.is_err(), "the store is broken");
        drop(sink);

        std::fs::remove_file(table.join("json")).unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        assert!(
            sink.covered.is_empty(),
            "the intent's chunk is not in the lake"
        );
        sink.write(&batch).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(sink.replay_skipped.get(), 0);
        assert_eq!(numbers(dir.path()), (0..5).collect::<Vec<_>>());
        let found = chunks(dir.path());
        assert!(found[0].0.ends_with("-00000002.ndjson.zst"), "{found:?}");
    }

    #[tokio::test]
    async fn ranges_the_tail_checkpoint_has_passed_are_pruned_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let batch: Vec<Event> = (0..10).map(|n| tailed(BASE + n, n)).collect();
        sink.write(&batch).await.unwrap();
        sink.close().await.unwrap();
        drop(sink);
        let journal = dir.path().join("data/outputs/lake/journal");
        let with_chunk = std::fs::metadata(&journal).unwrap().len();

        // The tail delivered stream 1 up to its line at 900: a replay
        // starts past the chunk's range (0 to 900).
        let checkpoints = dir.path().join("data/checkpoints");
        std::fs::create_dir_all(&checkpoints).unwrap();
        std::fs::write(
            checkpoints.join("nginx.json"),
            r#"{"version":2,"files":[{"path":"a.log","dev":1,"inode":2,"fingerprint":3,"stream":1,"offset":1000}]}"#,
        )
        .unwrap();
        let sink = open(config(dir.path()), dir.path()).await;
        assert!(sink.covered.is_empty());
        assert!(std::fs::metadata(&journal).unwrap().len() < with_chunk);
        assert_eq!(sink.next_seq, 2, "the number is kept");
    }

    /// Writes the tail's checkpoint of source `nginx`: stream to offset.
    fn checkpoint(dir: &std::path::Path, streams: &[(u64, u64)]) {
        let files: Vec<String> = streams
            .iter()
            .map(|(stream, offset)| {
                format!(
                    r#"{{"path":"a.log","dev":1,"inode":{stream},"fingerprint":3,"stream":{stream},"offset":{offset}}}"#
                )
            })
            .collect();
        let folder = dir.join("data/checkpoints");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("nginx.json"),
            format!(r#"{{"version":2,"files":[{}]}}"#, files.join(",")),
        )
        .unwrap();
    }

    /// A file found, checkpointed and let go within one run: the next
    /// start prunes its ranges. Named only at a start, it was kept for
    /// good, and the journal grew by a file at each rotation.
    #[tokio::test]
    async fn a_file_checkpointed_and_let_go_within_one_run_is_pruned_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        checkpoint(dir.path(), &[(1, 0)]);
        let batch: Vec<Event> = (0..10).map(|n| tailed(BASE + n, n)).collect();
        sink.write(&batch).await.unwrap();
        sink.close().await.unwrap();
        drop(sink);

        // The source read the file to its end and let it go.
        checkpoint(dir.path(), &[(2, 0)]);
        let sink = open(config(dir.path()), dir.path()).await;
        assert!(sink.covered.is_empty(), "stream 1 was let go");
    }

    #[tokio::test]
    async fn events_without_an_origin_are_never_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        sink.write(&[tailed(BASE, 0), event(BASE + 1, 1)])
            .await
            .unwrap();
        sink.close().await.unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        sink.write(&[tailed(BASE, 0), event(BASE + 1, 1)])
            .await
            .unwrap();
        sink.close().await.unwrap();
        assert_eq!(sink.replay_skipped.get(), 1);
        assert_eq!(
            numbers(dir.path()),
            [0, 1, 1],
            "stdin and the like: at least once"
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |change: &dyn Fn(&mut LakeConfig)| {
            let mut c = config(dir.path());
            change(&mut c);
            c.build().unwrap_err()
        };
        let e = refused(&|c| c.chunk_max_bytes = Size(10));
        assert_eq!(e.key, "chunk_max_bytes");
        let e = refused(&|c| c.chunk_interval = Interval(Duration::ZERO));
        assert_eq!(e.key, "chunk_interval");
        let e = refused(&|c| c.zstd_level = 0);
        assert_eq!(
            (e.key, e.to_string().as_str()),
            ("zstd_level", "must be 1 to 19, not 0")
        );
        let e = refused(&|c| c.table = "a/b".into());
        assert_eq!(e.key, "table");
        let e = refused(&|c| c.lake = "ftp://x".into());
        assert_eq!(e.key, "lake");
        assert!(e.to_string().contains("an s3:// URL"), "{e}");
        let e = refused(&|c| c.s3.region = Some("us-east-1".into()));
        assert_eq!(e.key, "s3");
        assert!(e.to_string().contains("this one is local"), "{e}");
    }

    /// Every chunk's lines, as written, with the times that lead them.
    fn raw_lines(dir: &std::path::Path) -> Vec<String> {
        walk(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(ZSTD_CHUNK_EXT))
            .flat_map(|p| {
                let text = zstd::decode_all(std::fs::File::open(&p).unwrap()).unwrap();
                let text = String::from_utf8(text).unwrap();
                text.lines().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn lake_records_carry_their_event_time_as_a_time_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open(config(dir.path()), dir.path()).await;
        let mut nginx = event(BASE + 3 * MINUTE + 4_123_000_000, 1);
        nginx
            .record
            .insert("time_local", "01/Sep/2018:00:03:04 +0000");
        sink.write(&[nginx]).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(
            raw_lines(dir.path()),
            [
                r#"{"time":"2018-09-01T00:03:04.123Z","n":1,"time_local":"01/Sep/2018:00:03:04 +0000"}"#
            ]
        );
        // The table's properties name the column, for compaction and queries.
        let lake = Lake::open(&config(dir.path()).lake).unwrap();
        let table = TableRef::new("db", "t").unwrap();
        let props = levee_lake::properties::read_properties(&lake, &table)
            .await
            .unwrap();
        assert_eq!(props, Some(TableProperties::new(TimeField::default())));
    }

    #[tokio::test]
    async fn a_record_field_named_like_the_time_column_is_renamed_with_an_underscore() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        config.time_field = "ts".into();
        let mut sink = open(config, dir.path()).await;
        let mut e = event(BASE, 1);
        e.record.insert("ts", "their own");
        e.record.insert("TS", 2);
        e.record.insert("time", "not the column");
        sink.write(&[e]).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(
            raw_lines(dir.path()),
            [
                r#"{"ts":"2018-09-01T00:00:00Z","n":1,"ts_":"their own","TS_":2,"time":"not the column"}"#
            ]
        );
    }

    #[test]
    fn parquet_layout_settings_are_checked_in_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.partition_by = "day".into();
        c.sort_by = Some("msys.ts".into());
        c.bloom_filters = vec!["routing_domain".into(), "routing_domain".into()];
        let built = c.build().unwrap().parquet;
        assert_eq!(built.partition_by, PartitionBy::Day);
        assert_eq!(built.sort_by.unwrap().as_str(), "msys.ts");
        assert_eq!(built.bloom_filters.len(), 1);
        assert_eq!(built.target_file_size, None);
        let refused = |f: &dyn Fn(&mut LakeConfig)| {
            let mut c = config(dir.path());
            f(&mut c);
            c.build().unwrap_err().key
        };
        assert_eq!(refused(&|c| c.partition_by = "week".into()), "partition_by");
        assert_eq!(refused(&|c| c.sort_by = Some("dt".into())), "sort_by");
        assert_eq!(
            refused(&|c| c.bloom_filters = vec!["a..b".into()]),
            "bloom_filters"
        );
        assert_eq!(
            refused(&|c| c.target_file_size = Some(Size(1000))),
            "target_file_size"
        );
    }

    #[test]
    fn a_time_field_that_cannot_be_a_column_is_refused_in_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.time_field = "event_time".into();
        assert_eq!(c.build().unwrap().time_field.as_str(), "event_time");
        for bad in ["dt", "a-b", ""] {
            let mut c = config(dir.path());
            c.time_field = bad.into();
            assert_eq!(c.build().unwrap_err().key, "time_field", "{bad:?}");
        }
    }

    #[test]
    fn retention_is_checked_and_kept_for_the_table_properties() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.keep_json = Some(Interval(Duration::from_secs(7 * 86_400)));
        let built = c.build().unwrap();
        assert_eq!(
            built.retention,
            Retention {
                keep_json: Some(Duration::from_secs(7 * 86_400)),
                keep_parquet: None,
            }
        );
        let mut c = config(dir.path());
        c.keep_parquet = Some(Interval(Duration::from_secs(60)));
        assert_eq!(c.build().unwrap_err().key, "keep_parquet");
    }

    #[test]
    fn a_declared_schema_is_checked_in_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.schema.insert("status".into(), "bigint".into());
        assert_eq!(c.build().unwrap().schema.len(), 1);
        for (name, ty) in [("status", "int"), ("dt", "string"), ("time", "string")] {
            let mut c = config(dir.path());
            c.schema.insert(name.into(), ty.into());
            assert_eq!(c.build().unwrap_err().key, "schema", "{name} {ty}");
        }
    }

    /// Every chunk under `dir`, by path, with its text.
    fn chunks(dir: &std::path::Path) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = walk(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(ZSTD_CHUNK_EXT))
            .map(|p| {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let text = zstd::decode_all(std::fs::File::open(&p).unwrap()).unwrap();
                (rel, without_times(&String::from_utf8(text).unwrap()))
            })
            .collect();
        found.sort_by_key(|(rel, _)| seq_order(rel));
        found
    }

    /// The chunk's lines without the event time that leads each, which
    /// must be there.
    fn without_times(text: &str) -> String {
        text.lines()
            .map(|line| {
                let rest = line
                    .strip_prefix(r#"{"time":""#)
                    .unwrap_or_else(|| panic!("no time leads {line}"));
                let (time, rest) = rest.split_once('"').unwrap();
                assert!(time.len() >= 20 && time.ends_with('Z'), "{time}");
                match rest.strip_prefix(',') {
                    Some(fields) => format!("{{{fields}\n"),
                    None => {
                        assert_eq!(rest, "}", "{line}");
                        "{}\n".to_owned()
                    }
                }
            })
            .collect()
    }

    /// Sorts by partition, then by the writer's sequence number.
    fn seq_order(rel: &str) -> (String, String) {
        let (dir, name) = rel.rsplit_once('/').unwrap();
        let seq = name.split('-').nth(2).unwrap_or_default().to_owned();
        (dir.to_owned(), seq)
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    /// Stands in for levee-lake's encoder, which levee-io never builds:
    /// "PAR1" and the chunk's JSON, so a test can read the events back.
    #[derive(Debug)]
    struct FakeParquet;

    impl ParquetEncoder for FakeParquet {
        fn encode(&self, chunk: &[u8], time_field: &str) -> Result<Vec<u8>, String> {
            assert_eq!(time_field, "time");
            let mut out = b"PAR1".to_vec();
            out.extend(zstd::decode_all(chunk).map_err(|e| e.to_string())?);
            Ok(out)
        }
    }

    async fn open_as(format: ChunkFormat, dir: &std::path::Path) -> LakeSink {
        let mut config = config(dir);
        config.format = format;
        let mut ctx = context(dir);
        ctx.parquet = Some(Arc::new(FakeParquet));
        LakeSink::open(&config.build().unwrap(), &ctx)
            .await
            .unwrap()
    }

    /// Every Parquet chunk under `dir`, by path relative to it, with the
    /// `n` of its events.
    fn parquet_chunks(dir: &std::path::Path) -> Vec<(String, Vec<i64>)> {
        let mut found: Vec<(String, Vec<i64>)> = walk(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".parquet"))
            .map(|p| {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let bytes = std::fs::read(&p).unwrap();
                let text = std::str::from_utf8(bytes.strip_prefix(b"PAR1").unwrap()).unwrap();
                let ns = text
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                            .as_i64()
                            .unwrap()
                    })
                    .collect();
                (rel, ns)
            })
            .collect();
        found.sort();
        found
    }

    #[tokio::test]
    async fn format_parquet_stores_each_chunk_as_one_parquet_file_and_no_json() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open_as(ChunkFormat::Parquet, dir.path()).await;
        sink.write(&[event(BASE, 1), event(BASE + HOUR, 2), event(BASE + 5, 3)])
            .await
            .unwrap();
        assert_eq!(sink.close().await.unwrap(), 3);
        assert!(chunks(dir.path()).is_empty(), "no JSON");
        let found = parquet_chunks(dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0]
                .0
                .starts_with("db/t/chunks/dt=2018-09-01/hour=00/00-")
        );
        assert!(found[0].0.ends_with("-00000001.parquet"), "{}", found[0].0);
        assert_eq!(found[0].1, [1, 3]);
        assert!(
            found[1]
                .0
                .starts_with("db/t/chunks/dt=2018-09-01/hour=01/00-")
        );
        let on_disk: u64 = walk(dir.path())
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".parquet"))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(sink.stored_bytes.get(), on_disk);
    }

    #[tokio::test]
    async fn format_both_stores_each_chunk_as_json_and_a_parquet_twin() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open_as(ChunkFormat::Both, dir.path()).await;
        sink.write(&[event(BASE, 1), event(BASE + 2, 2)])
            .await
            .unwrap();
        sink.close().await.unwrap();
        let json = chunks(dir.path());
        let parquet = parquet_chunks(dir.path());
        assert_eq!((json.len(), parquet.len()), (1, 1));
        assert_eq!(json[0].1, "{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(parquet[0].1, [1, 2]);
        let twin = json[0]
            .0
            .replace("/json/", "/chunks/")
            .replace(".ndjson.zst", ".parquet");
        assert_eq!(parquet[0].0, twin);
    }

    #[tokio::test]
    async fn a_parquet_format_refuses_to_open_without_an_encoder() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        config.format = ChunkFormat::Both;
        let Err(e) = LakeSink::open(&config.build().unwrap(), &context(dir.path())).await else {
            panic!("opened without Parquet");
        };
        assert!(e.to_string().contains("needs Parquet"), "{e}");
    }

    /// `both` puts the Parquet first: a crash before the JSON is put leaves
    /// a twin whose chunk the journal does not count as stored. The next
    /// start deletes it, and the replay writes the events once, in both
    /// forms.
    #[tokio::test]
    async fn a_parquet_twin_whose_json_was_never_put_is_deleted_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open_as(ChunkFormat::Both, dir.path()).await;
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();
        let batch: Vec<Event> = (0..5).map(|n| tailed(BASE + n, n)).collect();
        sink.write(&batch).await.unwrap();
        assert!(sink.close().await.is_err(), "the JSON put fails");
        assert_eq!(parquet_chunks(dir.path()).len(), 1, "the twin is there");
        drop(sink);

        std::fs::remove_file(table.join("json")).unwrap();
        let mut sink = open_as(ChunkFormat::Both, dir.path()).await;
        assert!(parquet_chunks(dir.path()).is_empty(), "the twin is gone");
        assert!(sink.covered.is_empty());
        sink.write(&batch).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(numbers(dir.path()), (0..5).collect::<Vec<_>>());
        let parquet = parquet_chunks(dir.path());
        assert_eq!(parquet.len(), 1);
        assert_eq!(parquet[0].1, (0..5).collect::<Vec<_>>());
    }

    /// Given up on (the flush failed for good), a chunk's twin is deleted
    /// by the next store: its events were counted as lost.
    #[tokio::test]
    async fn a_discarded_chunks_parquet_twin_is_deleted_by_the_next_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open_as(ChunkFormat::Both, dir.path()).await;
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();
        sink.write(&[event(BASE, 1)]).await.unwrap();
        assert!(sink.flush(Flush::All).await.is_err());
        assert_eq!(sink.discard(), 1);
        std::fs::remove_file(table.join("json")).unwrap();
        sink.write(&[event(BASE, 2)]).await.unwrap();
        sink.close().await.unwrap();
        let parquet = parquet_chunks(dir.path());
        assert_eq!(parquet.len(), 1, "{parquet:?}");
        assert_eq!(parquet[0].1, [2]);
    }

    #[tokio::test]
    async fn a_replay_after_a_crash_skips_what_stored_parquet_chunks_hold() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = open_as(ChunkFormat::Parquet, dir.path()).await;
        let first: Vec<Event> = (0..10).map(|n| tailed(BASE + n, n)).collect();
        sink.write(&first).await.unwrap();
        sink.flush(Flush::All).await.unwrap();
        drop(sink);
        let mut sink = open_as(ChunkFormat::Parquet, dir.path()).await;
        let replay: Vec<Event> = (0..15).map(|n| tailed(BASE + n, n)).collect();
        sink.write(&replay).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(sink.replay_skipped.get(), 10);
        let mut ns: Vec<i64> = parquet_chunks(dir.path())
            .into_iter()
            .flat_map(|(_, n)| n)
            .collect();
        ns.sort();
        assert_eq!(ns, (0..15).collect::<Vec<_>>());
    }
}
