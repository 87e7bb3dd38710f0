//! Opening the lake's object store from a path or URL.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use crate::LakeError;
use crate::layout::{ChunkCompression, Partition, TableRef};

/// One chunk of a table, as listed in the store: a JSON chunk, or a
/// Parquet chunk that has no JSON twin (see [`Lake::list_chunk_hours`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Its key, under [`TableRef::json_partition`] or
    /// [`TableRef::parquet_chunk_partition`].
    pub key: Path,
    /// Stored (compressed) size in bytes.
    pub size: u64,
    /// How to read it, from its file name.
    pub compression: ChunkCompression,
}

/// An opened lake: an object store and the lake's root within it.
///
/// Every key of [`crate::layout`] is relative to that root.
#[derive(Clone, Debug)]
pub struct Lake {
    /// The store; its own root is the lake's root.
    pub store: Arc<dyn ObjectStore>,
    /// The lake as the user named it, for messages.
    pub location: String,
    /// The URL of the lake's root, for engines that open the lake themselves.
    pub url: url::Url,
}

impl Lake {
    /// Opens `./lake`, `/abs/path` or `file:///abs/path`, creating the folder.
    ///
    /// Object-store URLs (`s3://` and friends) are refused for now with a
    /// message that says so.
    pub fn open(location: &str) -> Result<Lake, LakeError> {
        let err = |reason: String| LakeError::Open {
            root: location.to_owned(),
            reason,
        };
        let path = Lake::local_path(location)?;
        std::fs::create_dir_all(&path).map_err(|e| err(e.to_string()))?;
        let path = std::fs::canonicalize(&path).map_err(|e| err(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&path).map_err(|e| err(e.to_string()))?;
        let url = url::Url::from_directory_path(&path)
            .map_err(|()| err("not an absolute path".to_owned()))?;
        Ok(Lake {
            store: Arc::new(store),
            location: location.to_owned(),
            url,
        })
    }
}

impl Lake {
    /// The folder of a lake given as `./lake`, `/abs/path` or
    /// `file:///abs/path`, touching nothing: so a lake that [`Lake::open`]
    /// would refuse is refused when the config is checked.
    pub fn local_path(location: &str) -> Result<std::path::PathBuf, LakeError> {
        if let Some(rest) = location.strip_prefix("file://") {
            Ok(std::path::PathBuf::from(rest))
        } else if location.contains("://") {
            Err(LakeError::Open {
                root: location.to_owned(),
                reason: "only local lakes (a path or file://) are supported so far".to_owned(),
            })
        } else {
            Ok(std::path::PathBuf::from(location))
        }
    }

    /// The chunks of one hour, sorted by name (so by minute first): its JSON
    /// chunks, and its Parquet chunks that have no JSON twin (see
    /// [`Lake::list_chunk_hours`]). Objects that are not chunks (see
    /// [`ChunkCompression::from_key`]) are left out.
    pub async fn list_chunks(
        &self,
        table: &TableRef,
        p: &Partition,
    ) -> Result<Vec<Chunk>, LakeError> {
        let json: Vec<Chunk> = self
            .list_objects(&table.json_partition(p))
            .await?
            .into_iter()
            .filter_map(|meta| chunk_of(&meta))
            .collect();
        let parquet: Vec<Chunk> = self
            .list_objects(&table.parquet_chunk_partition(p))
            .await?
            .into_iter()
            .filter_map(|meta| parquet_chunk_of(&meta))
            .collect();
        Ok(delivered(json, parquet))
    }

    /// Every hour of a table that has chunks, with its chunks sorted by name:
    /// the JSON chunks under `json/`, and the Parquet chunks under `chunks/`
    /// but those with a JSON twin (the same events, from an output with
    /// `format = "both"`): where a chunk is in both forms, JSON wins.
    pub async fn list_chunk_hours(
        &self,
        table: &TableRef,
    ) -> Result<BTreeMap<Partition, Vec<Chunk>>, LakeError> {
        let json = self.list_chunks_under(&table.json_root(), chunk_of).await?;
        let mut parquet = self
            .list_chunks_under(&table.parquet_chunk_root(), parquet_chunk_of)
            .await?;
        let mut hours = BTreeMap::new();
        for (p, chunks) in json {
            let twins = parquet.remove(&p).unwrap_or_default();
            hours.insert(p, delivered(chunks, twins));
        }
        for (p, chunks) in parquet {
            hours.insert(p, delivered(Vec::new(), chunks));
        }
        Ok(hours)
    }

    /// The chunks under `root`, by hour: `<root>/dt=../hour=../<chunk>`
    /// only, as `kind` recognises them.
    async fn list_chunks_under(
        &self,
        root: &Path,
        kind: fn(&ObjectMeta) -> Option<Chunk>,
    ) -> Result<BTreeMap<Partition, Vec<Chunk>>, LakeError> {
        let mut hours: BTreeMap<Partition, Vec<Chunk>> = BTreeMap::new();
        for meta in self.list_objects(root).await? {
            let Some(chunk) = kind(&meta) else {
                continue;
            };
            // Deeper or shallower keys are not ours.
            let depth = meta
                .location
                .parts()
                .count()
                .saturating_sub(root.parts().count());
            match Partition::from_path(&meta.location) {
                Some(p) if depth == 3 => hours.entry(p).or_default().push(chunk),
                _ => {}
            }
        }
        Ok(hours)
    }

    /// Every object under `prefix`, recursively.
    pub(crate) async fn list_objects(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, LakeError> {
        Ok(self.store.list(Some(prefix)).try_collect().await?)
    }
}

/// An hour's chunks as readers take them: every JSON chunk, and every
/// Parquet chunk whose name (up to its first `.`) no JSON chunk has, sorted
/// by key.
fn delivered(mut json: Vec<Chunk>, parquet: Vec<Chunk>) -> Vec<Chunk> {
    let stem = |c: &Chunk| -> String {
        let name = c.key.filename().unwrap_or_default();
        name.split_once('.')
            .map_or(name, |(stem, _)| stem)
            .to_owned()
    };
    let stems: std::collections::HashSet<String> = json.iter().map(stem).collect();
    json.extend(parquet.into_iter().filter(|c| !stems.contains(&stem(c))));
    // By name, so by minute first whichever folder a chunk is in.
    json.sort_by(|a, b| (a.key.filename(), &a.key).cmp(&(b.key.filename(), &b.key)));
    json
}

/// A Parquet chunk: `<MM>-<writer>-<seq>.parquet`, not hidden.
fn parquet_chunk_of(meta: &ObjectMeta) -> Option<Chunk> {
    let name = meta.location.filename()?;
    let stem = name.strip_suffix(".parquet")?;
    if stem.is_empty() || name.starts_with('.') || name.starts_with('_') {
        return None;
    }
    Some(Chunk {
        key: meta.location.clone(),
        size: meta.size,
        compression: ChunkCompression::Parquet,
    })
}

fn chunk_of(meta: &ObjectMeta) -> Option<Chunk> {
    Some(Chunk {
        key: meta.location.clone(),
        size: meta.size,
        compression: ChunkCompression::from_key(&meta.location)?,
    })
}
