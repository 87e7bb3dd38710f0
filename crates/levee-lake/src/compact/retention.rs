//! Retention: each copy of an hour deleted once the hour is old enough
//! (the table's `keep_json`, `keep_parquet`; see [`Retention`]).
//!
//! An hour's age is counted from its end, as its folder names it, not from
//! when a file was written, so every file of an hour expires at once and a
//! late chunk for an old hour is as old as its hour.
//!
//! - JSON: a chunk of an hour past `keep_json` is deleted once the hour's
//!   manifest covers it (its rows are in the Parquet), never before. The
//!   manifest first marks it `expired`, then the chunk goes the way a
//!   replaced Parquet file goes (`catalog::retire`: kept for the grace
//!   period, then deleted by a later run). An hour that is past
//!   `keep_parquet` too will never have Parquet again, so its JSON expires
//!   by age alone.
//! - Parquet: an hour past `keep_parquet` loses its manifest (so readers
//!   stop seeing its files at once) and its files are retired. Compaction
//!   never compacts such an hour again; any JSON it still has is read as
//!   the hour's only copy.
//! - A late chunk for an hour whose JSON expired: the hour's Parquet is
//!   then the only copy of the expired chunks' rows, so compaction merges
//!   the new chunks into it ([`carried_rows`]): the Parquet is read back as
//!   records and goes through the hour's compaction as one more input,
//!   beside the chunks its manifest does not cover yet.
//!
//! Retention runs in every compaction, after the hours are compacted (so
//! a chunk just compacted may expire in the same run), on the hours the
//! compaction's selection covers.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_json::writer::LineDelimited;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::chunk::{Body, Fetched};
use super::plan::{self, HourState, ManifestState};
use super::{CompactOptions, HourSelection};
use crate::catalog::{self, ManifestChunk};
use crate::properties::Retention;
use crate::{Chunk, ChunkCompression, Lake, LakeError, Partition, TableRef};

/// What retention deleted (or, in a dry run, would delete).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Hours whose JSON chunks expired, with the chunks.
    pub json: Vec<ExpiredHour>,
    /// Hours whose Parquet expired, with the files.
    pub parquet: Vec<ExpiredHour>,
    /// Hours past `keep_json` whose chunks are kept, because their Parquet
    /// does not cover them (yet): never compacted, or chunks that arrived
    /// or changed since, or could not be read.
    pub json_kept: Vec<Partition>,
}

impl RetentionReport {
    /// Whether nothing expired.
    pub fn is_empty(&self) -> bool {
        self.json.is_empty() && self.parquet.is_empty()
    }

    /// Files expired, JSON and Parquet.
    pub fn files(&self) -> usize {
        self.json
            .iter()
            .chain(&self.parquet)
            .map(|h| h.files.len())
            .sum()
    }

    /// Their bytes.
    pub fn bytes(&self) -> u64 {
        self.json.iter().chain(&self.parquet).map(|h| h.bytes).sum()
    }
}

/// One hour's copy that expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredHour {
    /// The hour.
    pub partition: Partition,
    /// Its files that expired (retired: deleted after the grace period).
    pub files: Vec<Path>,
    /// Their size.
    pub bytes: u64,
}

/// The time retention counts ages against: `opts.now`, or the clock.
pub(crate) fn now_ms(opts: &CompactOptions) -> u64 {
    let now = opts.now.unwrap_or_else(SystemTime::now);
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When the hour ends, in milliseconds since the epoch.
fn hour_end_ms(p: &Partition) -> Option<u64> {
    let days = levee_event::time::parse_date(&p.dt)?;
    let hours = days * 24 + i64::from(p.hour) + 1;
    u64::try_from(hours * 3_600_000).ok()
}

/// Whether the hour is older than `keep` at `now_ms`.
pub(crate) fn past(p: &Partition, keep: Option<Duration>, now_ms: u64) -> bool {
    let (Some(keep), Some(end)) = (keep, hour_end_ms(p)) else {
        return false;
    };
    end.saturating_add(u64::try_from(keep.as_millis()).unwrap_or(u64::MAX)) <= now_ms
}

/// Whether retention looks at this hour in this compaction.
fn selected(opts: &CompactOptions, p: &Partition) -> bool {
    let listed = match &opts.hours {
        HourSelection::Only(hours) => hours.contains(p),
        HourSelection::All | HourSelection::Pending => true,
    };
    listed && opts.covers(p)
}

/// What is to expire, found before anything is touched.
#[derive(Default)]
struct Plan {
    /// Per hour: the chunks to expire, and whether the manifest must first
    /// mark them (it has not yet, or there is no manifest to mark).
    json: Vec<(Partition, Vec<Chunk>)>,
    /// Per hour: its Parquet files, those not retired yet.
    parquet: Vec<(Partition, Vec<ObjectMeta>)>,
    json_kept: Vec<Partition>,
}

async fn plan(
    lake: &Lake,
    table: &TableRef,
    retention: &Retention,
    opts: &CompactOptions,
) -> Result<Plan, LakeError> {
    let now = now_ms(opts);
    let mut out = Plan::default();
    if retention.is_off() {
        return Ok(out);
    }
    let retired = catalog::retired_keys(lake, table).await?;
    if retention.keep_parquet.is_some() {
        let mut hours: std::collections::BTreeMap<Partition, Vec<ObjectMeta>> =
            catalog::list_manifests(lake, table)
                .await?
                .into_iter()
                .map(|p| (p, Vec::new()))
                .collect();
        for meta in lake.list_objects(&table.parquet_root()).await? {
            if plan::is_part(&meta)
                && let Some(p) = Partition::from_path(&meta.location)
            {
                let files = hours.entry(p).or_default();
                if !retired.contains(&meta.location) {
                    files.push(meta);
                }
            }
        }
        for (p, files) in hours {
            if selected(opts, &p) && past(&p, retention.keep_parquet, now) {
                out.parquet.push((p, files));
            }
        }
    }
    if retention.keep_json.is_some() {
        for (p, chunks) in lake.list_chunk_hours(table).await? {
            if !selected(opts, &p) || !past(&p, retention.keep_json, now) {
                continue;
            }
            let chunks: Vec<Chunk> = chunks
                .into_iter()
                .filter(|c| !retired.contains(&c.key))
                .collect();
            if chunks.is_empty() {
                continue;
            }
            // No Parquet will ever cover an hour past `keep_parquet`.
            if past(&p, retention.keep_parquet, now) {
                out.json.push((p, chunks));
                continue;
            }
            let manifest = match catalog::read_manifest(lake, table, &p).await {
                Ok(m) => m,
                Err(LakeError::Catalog { .. }) => None,
                Err(e) => return Err(e),
            };
            let covered: HashSet<(&str, u64)> = manifest
                .iter()
                .flat_map(|m| &m.chunks)
                .filter(|c| c.error.is_none())
                .map(|c| (c.name.as_str(), c.size))
                .collect();
            let (expire, keep): (Vec<Chunk>, Vec<Chunk>) = chunks
                .into_iter()
                .partition(|c| covered.contains(&(plan::chunk_name(c), c.size)));
            if !keep.is_empty() {
                out.json_kept.push(p.clone());
            }
            if !expire.is_empty() {
                out.json.push((p, expire));
            }
        }
    }
    Ok(out)
}

/// What retention would delete now (`--dry-run`), touching nothing.
pub async fn planned_expiry(
    lake: &Lake,
    table: &TableRef,
    opts: &CompactOptions,
) -> Result<RetentionReport, LakeError> {
    let retention = table_retention(lake, table).await?;
    let plan = plan(lake, table, &retention, opts).await?;
    Ok(report_of(&plan))
}

/// The table's retention, from its properties (none without them).
pub(crate) async fn table_retention(lake: &Lake, table: &TableRef) -> Result<Retention, LakeError> {
    Ok(crate::properties::read_properties(lake, table)
        .await?
        .map(|p| p.retention)
        .unwrap_or_default())
}

fn report_of(plan: &Plan) -> RetentionReport {
    let hour = |p: &Partition, files: Vec<(Path, u64)>| ExpiredHour {
        partition: p.clone(),
        bytes: files.iter().map(|f| f.1).sum(),
        files: files.into_iter().map(|f| f.0).collect(),
    };
    RetentionReport {
        json: plan
            .json
            .iter()
            .map(|(p, chunks)| hour(p, chunks.iter().map(|c| (c.key.clone(), c.size)).collect()))
            .collect(),
        parquet: plan
            .parquet
            .iter()
            .map(|(p, files)| {
                hour(
                    p,
                    files.iter().map(|m| (m.location.clone(), m.size)).collect(),
                )
            })
            .collect(),
        json_kept: plan.json_kept.clone(),
    }
}

/// Expires what the table's retention says is due, among the hours `opts`
/// selects; only a holder of the table's lock calls it.
pub(crate) async fn apply(
    lake: &Lake,
    table: &TableRef,
    retention: &Retention,
    opts: &CompactOptions,
) -> Result<RetentionReport, LakeError> {
    let plan = plan(lake, table, retention, opts).await?;
    // Parquet first: an hour past both limits has its JSON go by age, and
    // its manifest must not be marked for chunks that are going anyway.
    for (p, files) in &plan.parquet {
        // Readers stop seeing the hour's files with its manifest.
        catalog::delete_manifest(lake, table, p).await?;
        let keys: Vec<Path> = files.iter().map(|m| m.location.clone()).collect();
        catalog::retire(lake, table, &keys, opts.grace).await?;
    }
    let now = now_ms(opts);
    for (p, chunks) in &plan.json {
        if !past(p, retention.keep_parquet, now) {
            mark_expired(lake, table, p, chunks).await?;
        }
        // Their Parquet twins (`format = "both"`) first: left alone, a twin
        // would be read as a new chunk of the hour once its JSON is gone.
        let mut keys = twins(lake, table, p, chunks).await?;
        keys.extend(chunks.iter().map(|c| c.key.clone()));
        catalog::retire(lake, table, &keys, opts.grace).await?;
    }
    Ok(report_of(&plan))
}

/// The Parquet chunks in `chunks/` that are twins of the JSON `chunks` of
/// hour `p`.
async fn twins(
    lake: &Lake,
    table: &TableRef,
    p: &Partition,
    chunks: &[Chunk],
) -> Result<Vec<Path>, LakeError> {
    let wanted: HashSet<Path> = chunks
        .iter()
        .filter_map(|c| table.parquet_chunk_twin(&c.key))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(lake
        .list_objects(&table.parquet_chunk_partition(p))
        .await?
        .into_iter()
        .map(|m| m.location)
        .filter(|key| wanted.contains(key))
        .collect())
}

/// Marks the chunks expired in the hour's manifest, before they go: a
/// crash in between leaves a chunk the manifest already counts as gone,
/// which the next run deletes.
async fn mark_expired(
    lake: &Lake,
    table: &TableRef,
    p: &Partition,
    chunks: &[Chunk],
) -> Result<(), LakeError> {
    let Some(mut manifest) = catalog::read_manifest(lake, table, p).await? else {
        return Ok(());
    };
    let names: HashSet<&str> = chunks.iter().map(plan::chunk_name).collect();
    let mut changed = false;
    for c in &mut manifest.chunks {
        if !c.expired && names.contains(c.name.as_str()) {
            c.expired = true;
            changed = true;
        }
    }
    if changed {
        catalog::write_manifest(lake, table, &manifest).await?;
    }
    Ok(())
}

/// Whether compaction must leave the hour alone: its Parquet has expired
/// (or would now), and an expired hour is never compacted again.
pub(crate) fn parquet_expired(retention: &Retention, p: &Partition, opts: &CompactOptions) -> bool {
    past(p, retention.keep_parquet, now_ms(opts))
}

/// The part of an hour's compaction that its Parquet must carry over: for
/// an hour some of whose chunks expired, the Parquet is their only copy.
pub(crate) struct Carried {
    /// The hour's committed Parquet, read back as newline-delimited JSON,
    /// one input per file (keyed by the file).
    pub inputs: Vec<Fetched>,
    /// The old manifest's chunks: the new manifest covers them too.
    pub covered: Vec<ManifestChunk>,
}

/// For an hour whose manifest has expired chunks, its committed Parquet
/// as inputs to the hour's compaction, and the chunks it covers; `None`
/// for any other hour, which is compacted from its chunks alone.
pub(crate) async fn carried_rows(
    lake: &Lake,
    state: &HourState,
) -> Result<Option<Carried>, LakeError> {
    let ManifestState::Found(manifest) = &state.manifest else {
        return Ok(None);
    };
    if !manifest.chunks.iter().any(|c| c.expired) {
        return Ok(None);
    }
    let mut inputs = Vec::new();
    for file in &manifest.outputs {
        let key = state
            .parts
            .iter()
            .find(|m| m.location.filename() == Some(file.name.as_str()))
            .map(|m| m.location.clone())
            .ok_or_else(|| {
                LakeError::Other(format!(
                    "{}: its manifest lists {}, which is gone; its expired chunks' rows \
                     were only there",
                    state.partition, file.name
                ))
            })?;
        let bytes = lake.store.get(&key).await?.bytes().await?;
        let text = parquet_as_json(bytes).map_err(|e| {
            LakeError::Other(format!("{key}: reading it back to merge late chunks: {e}"))
        })?;
        inputs.push(Fetched {
            chunk: Chunk {
                key,
                size: text.len() as u64,
                compression: ChunkCompression::None,
            },
            body: Body::unbudgeted(Bytes::from(text)),
        });
    }
    Ok(Some(Carried {
        inputs,
        covered: manifest.chunks.clone(),
    }))
}

/// A Parquet file's rows as newline-delimited JSON: nulls left out, the
/// event time as RFC 3339 text, as the chunks have them.
fn parquet_as_json(bytes: Bytes) -> Result<Vec<u8>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(false)
        .build::<_, LineDelimited>(Vec::new());
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(dt: &str, hour: u32) -> Partition {
        Partition {
            dt: dt.into(),
            hour,
        }
    }

    #[test]
    fn an_hour_is_as_old_as_its_end() {
        // 2018-09-01T10:00Z to 11:00Z.
        let p = hour("2018-09-01", 10);
        let end = 1_535_799_600_000;
        assert_eq!(hour_end_ms(&p), Some(end));
        let day = Some(Duration::from_secs(86_400));
        assert!(!past(&p, day, end + 86_400_000 - 1));
        assert!(past(&p, day, end + 86_400_000));
        assert!(!past(&p, None, u64::MAX));
    }
}
