//! Which hours need compacting: the store's listings against the catalog.
//!
//! The unit is the table's: an hour, or in a `partition_by = "day"` table
//! a day, whose chunks are those of its hours and whose manifest names them
//! as `hour=HH/<chunk>`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;

use super::HourSelection;
use super::report::{CompactReason, SkipReason};
use crate::catalog::{self, Manifest};
use crate::schema::TableSchema;
use crate::{Chunk, Lake, LakeError, Partition, PartitionBy, TableRef};

/// What the catalog says about an hour.
pub(crate) enum ManifestState {
    Missing,
    Unreadable(String),
    Found(Box<Manifest>),
}

/// One hour as found in the store.
pub(crate) struct HourState {
    /// The hour, or the day.
    pub partition: Partition,
    /// Its JSON chunks, sorted by key (for a day, its hours' in order).
    pub chunks: Vec<Chunk>,
    /// Its `part-N.parquet` files, but those replaced and waiting for
    /// deletion.
    pub parts: Vec<ObjectMeta>,
    /// Its files replaced by an earlier compaction, still there for the
    /// queries that listed them (see `catalog::retire`).
    pub retired: Vec<ObjectMeta>,
    pub manifest: ManifestState,
}

/// What to do with an hour.
pub(crate) enum Status {
    Compact(CompactReason),
    Skip(SkipReason),
}

impl HourState {
    pub fn status(&self, table: &TableSchema, force: bool) -> Status {
        // Compacting no chunks would only delete the hour's Parquet.
        if self.chunks.is_empty() {
            return Status::Skip(SkipReason::NoChunks);
        }
        let manifest = match &self.manifest {
            ManifestState::Missing => return Status::Compact(CompactReason::New),
            ManifestState::Unreadable(reason) => {
                return Status::Compact(CompactReason::ManifestUnreadable {
                    reason: reason.clone(),
                });
            }
            ManifestState::Found(m) => m,
        };
        let names: HashSet<String> = self
            .chunks
            .iter()
            .map(|c| manifest_name(c, &self.partition))
            .collect();
        let missing = manifest
            .chunks
            .iter()
            // Chunks retention deleted are in the Parquet, which a new
            // compaction of the hour merges into (`retention::carried_rows`).
            .filter(|c| !c.expired && !names.contains(&c.name))
            .count();
        if missing > 0 {
            return Status::Skip(SkipReason::ChunksMissing { missing });
        }
        if force {
            return Status::Compact(CompactReason::Forced);
        }
        let covered = manifest.chunk_set();
        let new = self
            .chunks
            .iter()
            .filter(|c| !covered.contains(&(manifest_name(c, &self.partition).as_str(), c.size)))
            .count();
        if new > 0 {
            return Status::Compact(CompactReason::ChunksChanged { new });
        }
        let parts: BTreeSet<(&str, u64)> = self
            .parts
            .iter()
            .map(|m| (m.location.filename().unwrap_or_default(), m.size))
            .collect();
        if parts != manifest.output_set() {
            return Status::Compact(CompactReason::OutputsChanged);
        }
        if !manifest.schema.compatible_with(table) {
            return Status::Compact(CompactReason::SchemaWidened);
        }
        Status::Skip(SkipReason::UpToDate)
    }

    /// The number of the first new Parquet file: after every existing one,
    /// retired ones included, so a new compaction never overwrites a file a
    /// reader may be reading.
    pub fn next_part(&self) -> usize {
        self.parts
            .iter()
            .chain(&self.retired)
            .filter_map(|m| TableRef::parquet_part_number(&m.location))
            .max()
            .map_or(0, |n| n + 1)
    }
}

pub(crate) fn chunk_name(chunk: &Chunk) -> &str {
    chunk.key.filename().unwrap_or_default()
}

/// A chunk's name in the manifest of `unit`: its file name, led by its
/// hour's folder in a day's (file names repeat across hours).
pub(crate) fn manifest_name(chunk: &Chunk, unit: &Partition) -> String {
    let name = chunk_name(chunk);
    match Partition::from_path(&chunk.key) {
        Some(hour) if unit.is_day() => format!("{}/{name}", hour.hour_dir()),
        _ => name.to_owned(),
    }
}

/// Every unit (hour, or day when the table is partitioned `by` day) the
/// selection names, with its chunks, files and manifest. For `All` and
/// `Pending`, that is every unit with chunks.
pub(crate) async fn gather(
    lake: &Lake,
    table: &TableRef,
    selection: &HourSelection,
    by: PartitionBy,
    concurrency: usize,
) -> Result<Vec<HourState>, LakeError> {
    let (chunks, parts) = match selection {
        HourSelection::All | HourSelection::Pending => {
            let mut chunks: BTreeMap<Partition, Vec<Chunk>> = BTreeMap::new();
            // Hours in order, each's chunks sorted: a day's stay sorted by key.
            for (hour, list) in lake.list_chunk_hours(table).await? {
                chunks.entry(hour.unit(by)).or_default().extend(list);
            }
            let parts = list_parts(lake, table).await?;
            (chunks, parts)
        }
        HourSelection::Only(hours) => {
            let mut chunks = BTreeMap::new();
            let mut parts = BTreeMap::new();
            for p in hours.iter().map(|h| h.unit(by)) {
                if chunks.contains_key(&p) {
                    continue;
                }
                chunks.insert(p.clone(), lake.list_chunks(table, &p).await?);
                let files = lake.list_objects(&table.parquet_partition(&p)).await?;
                let files = files.into_iter().filter(|m| is_part_of(m, &p)).collect();
                parts.insert(p, files);
            }
            (chunks, parts)
        }
    };
    let mut parts = parts;
    let retired_keys = catalog::retired_keys(lake, table).await?;
    futures::stream::iter(chunks)
        .map(|(partition, chunks)| {
            let (retired, parts): (Vec<ObjectMeta>, Vec<ObjectMeta>) = parts
                .remove(&partition)
                .unwrap_or_default()
                .into_iter()
                .partition(|m| retired_keys.contains(&m.location));
            async move {
                let manifest = match catalog::read_manifest(lake, table, &partition).await {
                    Ok(Some(m)) => ManifestState::Found(Box::new(m)),
                    Ok(None) => ManifestState::Missing,
                    Err(LakeError::Catalog { reason, .. }) => ManifestState::Unreadable(reason),
                    Err(e) => return Err(e),
                };
                Ok(HourState {
                    partition,
                    chunks,
                    parts,
                    retired,
                    manifest,
                })
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Every unit's `part-N.parquet` files: hours' and days'.
async fn list_parts(
    lake: &Lake,
    table: &TableRef,
) -> Result<BTreeMap<Partition, Vec<ObjectMeta>>, LakeError> {
    let mut hours: BTreeMap<Partition, Vec<ObjectMeta>> = BTreeMap::new();
    for meta in lake.list_objects(&table.parquet_root()).await? {
        if is_part(&meta)
            && let Some(p) = Partition::unit_from_path(&meta.location)
        {
            hours.entry(p).or_default().push(meta);
        }
    }
    Ok(hours)
}

pub(crate) fn is_part(meta: &ObjectMeta) -> bool {
    TableRef::parquet_part_number(&meta.location).is_some()
}

/// Whether `meta` is a Parquet part of `unit` itself: a day's folder also
/// holds the hour folders of files written before the table was
/// partitioned by day, which are not the day's.
pub(crate) fn is_part_of(meta: &ObjectMeta, unit: &Partition) -> bool {
    is_part(meta) && Partition::unit_from_path(&meta.location).as_ref() == Some(unit)
}

/// Hours whose manifest says their files hold a type `table` has widened.
pub(crate) async fn stale_hours(
    lake: &Lake,
    table: &TableRef,
    schema: &TableSchema,
    concurrency: usize,
) -> Result<Vec<Partition>, LakeError> {
    let hours = catalog::list_manifests(lake, table).await?;
    let stale: Vec<Option<Partition>> = futures::stream::iter(hours)
        .map(|p| async move {
            Ok::<_, LakeError>(match catalog::read_manifest(lake, table, &p).await {
                Ok(Some(m)) if !m.schema.compatible_with(schema) => Some(p),
                Ok(_) | Err(LakeError::Catalog { .. }) => None,
                Err(e) => return Err(e),
            })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(stale.into_iter().flatten().collect())
}

/// The table schema rebuilt from every manifest, for when `schema.json` is
/// gone but hours were compacted: the union of what they were written with.
pub(crate) async fn schema_from_manifests(
    lake: &Lake,
    table: &TableRef,
    concurrency: usize,
) -> Result<Option<TableSchema>, LakeError> {
    let hours = catalog::list_manifests(lake, table).await?;
    if hours.is_empty() {
        return Ok(None);
    }
    let manifests: Vec<Option<Manifest>> = futures::stream::iter(hours)
        .map(|p| async move {
            match catalog::read_manifest(lake, table, &p).await {
                Err(LakeError::Catalog { .. }) => Ok(None),
                other => other,
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut schema = TableSchema::default();
    for m in manifests.into_iter().flatten() {
        schema.join(&m.schema, &mut Default::default());
    }
    Ok(Some(schema))
}
