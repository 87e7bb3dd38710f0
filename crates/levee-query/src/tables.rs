//! A table's two copies and the whole table, and counting their files.

use std::collections::BTreeSet;

use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use futures::TryStreamExt;
use levee_lake::{ChunkCompression, LakeError, Partition, TableRef};
use object_store::ObjectStore;
use object_store::path::Path;

/// The two copies of a table and the whole table, each registered as its
/// own SQL table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Minute chunks: NDJSON, zstd as the lake output writes them (or gzip,
    /// or plain, as other writers may; see [`Format::kinds`]).
    Json,
    /// Hourly files written by compaction.
    Parquet,
    /// Every hour once: its Parquet if compaction covered all its chunks,
    /// else its JSON.
    Whole,
}

impl Format {
    /// The two copies, in registration order; the whole table follows them.
    pub const COPIES: [Format; 2] = [Format::Json, Format::Parquet];

    /// The SQL name of a table's copy in this format: `eventlog_json`, or
    /// `eventlog` for the whole table.
    pub fn sql_name(self, table: &TableRef) -> String {
        match self {
            Format::Json => format!("{}_json", table.table),
            Format::Parquet => format!("{}_parquet", table.table),
            Format::Whole => table.table.clone(),
        }
    }

    /// The folder that holds this copy; the table's for the whole table.
    pub fn root(self, table: &TableRef) -> Path {
        match self {
            Format::Json => table.json_root(),
            Format::Parquet => table.parquet_root(),
            Format::Whole => table.root(),
        }
    }

    /// The kinds of data file this copy is read from, the usual one first.
    /// Any other file in the folder is ignored. The whole table reads the
    /// JSON copy's and the Parquet copy's.
    pub fn kinds(self) -> Vec<FileKind> {
        match self {
            Format::Whole => {
                let mut kinds = Format::Json.kinds();
                kinds.extend(Format::Parquet.kinds());
                kinds
            }
            Format::Json => [
                ChunkCompression::Zstd,
                ChunkCompression::Gzip,
                ChunkCompression::None,
            ]
            .into_iter()
            .map(|c| FileKind {
                extension: format!(".{}", c.extension()),
                compression: match c {
                    ChunkCompression::Zstd => FileCompressionType::ZSTD,
                    ChunkCompression::Gzip => FileCompressionType::GZIP,
                    // Parquet compresses inside the file.
                    ChunkCompression::None | ChunkCompression::Parquet => {
                        FileCompressionType::UNCOMPRESSED
                    }
                },
            })
            .collect(),
            Format::Parquet => vec![FileKind {
                extension: ".parquet".to_owned(),
                // Parquet compresses inside the file.
                compression: FileCompressionType::UNCOMPRESSED,
            }],
        }
    }
}

/// One kind of data file: how its name ends and how the whole file is compressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKind {
    /// `.ndjson.zst`; no two kinds' endings end one another.
    pub extension: String,
    /// Whole-file compression.
    pub compression: FileCompressionType,
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
    /// The endings seen among them.
    pub extensions: BTreeSet<String>,
}

/// Walks one copy's folder; only files a scan would consider are counted: one
/// of the `extensions`, inside a partition folder.
pub async fn inventory(
    store: &dyn ObjectStore,
    root: &Path,
    extensions: &[String],
) -> Result<Inventory, LakeError> {
    let mut inv = Inventory::default();
    let mut listing = store.list(Some(root));
    while let Some(meta) = listing.try_next().await? {
        let key = meta.location.as_ref();
        let Some(ext) = extensions.iter().find(|e| key.ends_with(e.as_str())) else {
            continue;
        };
        if let Some(p) = Partition::unit_from_path(&meta.location) {
            inv.files += 1;
            inv.bytes += meta.size;
            inv.partitions.insert(p);
            if !inv.extensions.contains(ext) {
                inv.extensions.insert(ext.clone());
            }
        }
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_json_ending_ends_another() {
        let kinds = Format::Json.kinds();
        assert_eq!(kinds[0].extension, ".ndjson.zst");
        for a in &kinds {
            for b in &kinds {
                if a != b {
                    assert!(!a.extension.ends_with(&b.extension), "{a:?} {b:?}");
                }
            }
        }
    }
}
