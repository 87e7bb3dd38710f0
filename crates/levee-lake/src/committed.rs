//! The lake as a reader should see it: each compacted hour's Parquet as its
//! manifest lists it.
//!
//! Compaction writes an hour's new files beside the old ones, commits them
//! with one write of the hour's manifest, and deletes the files it replaced
//! only after a grace period (see `catalog::retire`), so that a query which
//! listed them still finds them. A reader that lists the folder would see,
//! during a compaction, files not committed yet, and for the grace period,
//! files already replaced: an hour twice. [`CommittedView`] hides both: it is
//! the store with every listing of `parquet/` filtered by the manifests, and
//! is what `levee query` reads the lake through. A table with no manifest at
//! all (Parquet written by another tool, or before its first hour is
//! committed) is shown as it lies.
//!
//! A view remembers each manifest it read with its e-tag, and reads it
//! again only if it changed (a conditional read: one request either way).
//! A day's manifest also lists the 1,440 chunks it covers, and a query read
//! every manifest of its tables twice (its scan's listing, its accounting's
//! totals), a warm session again for every query.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde::Deserialize;

use crate::{Partition, TableRef};

/// An object store whose listings show, under each table's `parquet/`,
/// only the files a manifest has committed. Everything else (JSON chunks,
/// the catalog, reads and writes) passes through unchanged.
#[derive(Debug)]
pub struct CommittedView {
    inner: Arc<dyn ObjectStore>,
    manifests: Manifests,
}

impl CommittedView {
    /// Wraps the lake's store.
    pub fn new(inner: Arc<dyn ObjectStore>) -> CommittedView {
        CommittedView {
            inner,
            manifests: Manifests::default(),
        }
    }
}

/// A manifest's e-tag when it was read, and what it let a reader see.
type Seen = (String, Arc<Visible>);

/// The manifests a view has read, by key.
#[derive(Debug, Default, Clone)]
struct Manifests(Arc<Mutex<HashMap<Path, Seen>>>);

impl Manifests {
    fn get(&self, key: &Path) -> Option<Seen> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: Path, seen: Option<Seen>) {
        if let Ok(mut map) = self.0.lock() {
            match seen {
                Some(seen) => map.insert(key, seen),
                None => map.remove(&key),
            };
        }
    }
}

impl fmt::Display for CommittedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommittedView({})", self.inner)
    }
}

/// A Parquet part's hour: `<db>/<table>/parquet/dt=../hour=../part-N.parquet`,
/// or its day: `<db>/<table>/parquet/dt=../part-N.parquet`.
fn part_hour(key: &Path) -> Option<(TableRef, Partition)> {
    let parts: Vec<_> = key.parts().collect();
    let (db, table, parquet, unit) = match parts.as_slice() {
        [db, table, parquet, _, _, _] => (db, table, parquet, Partition::from_path(key)?),
        [db, table, parquet, _, _] => (db, table, parquet, Partition::unit_from_path(key)?),
        _ => return None,
    };
    if parquet.as_ref() != "parquet" || TableRef::parquet_part_number(key).is_none() {
        return None;
    }
    let table = TableRef::new(db.as_ref(), table.as_ref()).ok()?;
    Some((table, unit))
}

/// The part of a manifest a reader needs.
#[derive(Deserialize)]
struct Outputs {
    outputs: Vec<OutputName>,
}

#[derive(Deserialize)]
struct OutputName {
    name: String,
}

/// What an hour's manifest lets a reader see.
#[derive(Debug)]
enum Visible {
    /// These file names.
    Listed(HashSet<String>),
    /// Nothing: the hour was never committed.
    Nothing,
    /// Everything: the manifest can't be read, and hiding data on a
    /// damaged catalog would be worse than showing a file too many (the
    /// next compaction rewrites the hour).
    Everything,
}

async fn visible(
    store: &dyn ObjectStore,
    manifests: &Manifests,
    table: &TableRef,
    p: &Partition,
) -> Arc<Visible> {
    let key = table.manifest_key(p);
    let known = manifests.get(&key);
    let options = GetOptions {
        if_none_match: known.as_ref().map(|(e_tag, _)| e_tag.clone()),
        ..GetOptions::default()
    };
    let got = match store.get_opts(&key, options).await {
        Ok(got) => got,
        // Asked only with an e-tag of ours, so there is always one to reuse.
        Err(object_store::Error::NotModified { .. }) => {
            return known.map_or_else(|| Arc::new(Visible::Everything), |(_, seen)| seen);
        }
        Err(object_store::Error::NotFound { .. }) => {
            manifests.put(key, None);
            return Arc::new(Visible::Nothing);
        }
        Err(_) => return Arc::new(Visible::Everything),
    };
    let e_tag = got.meta.e_tag.clone();
    let seen = match got.bytes().await {
        Ok(bytes) => match serde_json::from_slice::<Outputs>(&bytes) {
            Ok(m) => Visible::Listed(m.outputs.into_iter().map(|o| o.name).collect()),
            Err(_) => Visible::Everything,
        },
        Err(_) => Visible::Everything,
    };
    let seen = Arc::new(seen);
    // Only what a manifest said is kept: a failed read is tried again.
    let keep = match (seen.as_ref(), e_tag) {
        (Visible::Listed(_), Some(e_tag)) => Some((e_tag, seen.clone())),
        _ => None,
    };
    manifests.put(key, keep);
    seen
}

/// The part of a manifest that says which chunks its Parquet covers.
#[derive(Deserialize)]
struct Covers {
    chunks: Vec<CoveredChunk>,
}

#[derive(Deserialize)]
struct CoveredChunk {
    name: String,
    size: u64,
}

/// The JSON chunks, by file name and size, that the Parquet of an hour
/// (or a day: names as `hour=HH/<name>`) covers, as its manifest lists them: a chunk of the hour missing from
/// them arrived (or changed) after the hour was compacted. `None` when the
/// hour has no manifest, or one that can't be read: then nothing is known
/// to be covered.
pub async fn covered_chunks(
    store: &dyn ObjectStore,
    table: &TableRef,
    p: &Partition,
) -> Option<BTreeSet<(String, u64)>> {
    let bytes = store
        .get(&table.manifest_key(p))
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    let covers: Covers = serde_json::from_slice(&bytes).ok()?;
    Some(
        covers
            .chunks
            .into_iter()
            .map(|c| (c.name, c.size))
            .collect(),
    )
}

/// Whether levee's compaction has committed any hour of the table. A table
/// it never committed (its Parquet written by another tool, or its first
/// hour still being compacted) has no manifests to go by.
async fn has_manifests(store: &dyn ObjectStore, table: &TableRef) -> bool {
    let root = table.manifest_root();
    match store.list(Some(&root)).next().await {
        Some(Ok(_)) => true,
        Some(Err(_)) | None => false,
    }
}

/// Manifests read at once by a listing: on an object store each is a round
/// trip, and a week of hours is 168 of them.
const MANIFEST_READS: usize = 16;

/// `metas` without the Parquet parts no manifest commits.
async fn committed(
    store: &dyn ObjectStore,
    manifests: &Manifests,
    metas: Vec<ObjectMeta>,
) -> Vec<ObjectMeta> {
    let hours: BTreeSet<(TableRef, Partition)> = metas
        .iter()
        .filter_map(|meta| part_hour(&meta.location))
        .collect();
    if hours.is_empty() {
        return metas;
    }
    let tables: BTreeSet<TableRef> = hours.iter().map(|(t, _)| t.clone()).collect();
    let mut managed: HashMap<TableRef, bool> = HashMap::new();
    for table in tables {
        let m = has_manifests(store, &table).await;
        managed.insert(table, m);
    }
    let seen: HashMap<(TableRef, Partition), Arc<Visible>> = futures::stream::iter(hours)
        .filter(|hour| std::future::ready(managed[&hour.0]))
        .map(|hour| async move {
            let v = visible(store, manifests, &hour.0, &hour.1).await;
            (hour, v)
        })
        .buffer_unordered(MANIFEST_READS)
        .collect()
        .await;
    metas
        .into_iter()
        .filter(|meta| {
            let Some(hour) = part_hour(&meta.location) else {
                return true;
            };
            if !managed[&hour.0] {
                return true;
            }
            match seen[&hour].as_ref() {
                Visible::Listed(names) => meta
                    .location
                    .filename()
                    .is_some_and(|name| names.contains(name)),
                Visible::Nothing => false,
                Visible::Everything => true,
            }
        })
        .collect()
}

#[async_trait]
impl ObjectStore for CommittedView {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = self.inner.clone();
        let manifests = self.manifests.clone();
        let listing = self.inner.list(prefix);
        futures::stream::once(async move {
            let metas: Vec<ObjectMeta> = listing.try_collect().await?;
            let kept = committed(inner.as_ref(), &manifests, metas).await;
            Ok::<_, object_store::Error>(futures::stream::iter(kept.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.objects = committed(self.inner.as_ref(), &self.manifests, listed.objects).await;
        Ok(listed)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parquet_parts_of_an_hour_are_filtered() {
        let t = TableRef::new("db", "t").unwrap();
        let p = Partition {
            dt: "2024-01-02".into(),
            hour: 3,
        };
        assert_eq!(
            part_hour(&t.parquet_part(&p, 4)),
            Some((t.clone(), p.clone()))
        );
        assert_eq!(part_hour(&t.json_chunk(&p, 1, "w", 1, "ndjson.zst")), None);
        let day = Partition::day("2024-01-02");
        assert_eq!(part_hour(&t.parquet_part(&day, 0)), Some((t.clone(), day)));
        assert_eq!(part_hour(&t.manifest_key(&p)), None);
        assert_eq!(part_hour(&t.parquet_partition(&p).join("notes.txt")), None);
    }
}
