//! A table's two copies, and counting their files.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::{LakeError, Partition, TableRef};
use object_store::ObjectStore;
use object_store::path::Path;

/// The two copies of a table, each registered as its own SQL table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Minute chunks as the lake output wrote them: NDJSON, zstd.
    Json,
    /// Hourly files written by compaction.
    Parquet,
}

impl Format {
    /// Both formats, in registration order.
    pub const ALL: [Format; 2] = [Format::Json, Format::Parquet];

    /// The SQL name of a table's copy in this format: `eventlog_json`.
    pub fn sql_name(self, table: &TableRef) -> String {
        match self {
            Format::Json => format!("{}_json", table.table),
            Format::Parquet => format!("{}_parquet", table.table),
        }
    }

    /// The folder that holds this copy.
    pub fn root(self, table: &TableRef) -> Path {
        match self {
            Format::Json => table.json_root(),
            Format::Parquet => table.parquet_root(),
        }
    }

    /// How this copy's data files end; anything else in the folder is ignored.
    pub fn extension(self) -> String {
        match self {
            Format::Json => format!(".{ZSTD_CHUNK_EXT}"),
            Format::Parquet => ".parquet".to_owned(),
        }
    }
}

/// The data files under one copy of a table, and the hours they cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Data files in a valid `dt=`/`hour=` folder.
    pub files: usize,
    /// Their total size, in bytes.
    pub bytes: u64,
    /// The distinct hours among them.
    pub partitions: BTreeSet<Partition>,
}

/// Walks one copy's folder; only files a scan would consider are counted: the
/// right extension, inside a partition folder.
pub async fn inventory(
    store: &dyn ObjectStore,
    root: &Path,
    extension: &str,
) -> Result<Inventory, LakeError> {
    let mut inv = Inventory::default();
    let mut listing = store.list(Some(root));
    while let Some(meta) = listing.try_next().await? {
        if !meta.location.as_ref().ends_with(extension) {
            continue;
        }
        if let Some(p) = Partition::from_path(&meta.location) {
            inv.files += 1;
            inv.bytes += meta.size;
            inv.partitions.insert(p);
        }
    }
    Ok(inv)
}
