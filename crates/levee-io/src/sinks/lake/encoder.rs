//! The seam through which the lake output writes Parquet without building
//! it: levee-io never depends on arrow or parquet (the collector's compile
//! time and size), so the binary hands the pipeline an implementation of
//! [`ParquetEncoder`] (levee-lake's), and each lake output with `format =
//! "parquet"` or `"both"` gets it in its [`crate::sinks::SinkContext`].

use std::fmt;

/// Turns a sealed chunk into one Parquet file.
pub trait ParquetEncoder: Send + Sync + fmt::Debug {
    /// `chunk` is the JSON chunk as the lake output stores it (zstd NDJSON,
    /// each line a record led by its event time in the column `time_field`);
    /// returns the Parquet file's bytes, or why it could not be made. Runs on
    /// a blocking thread: it may take a while (about a second for a 64MiB
    /// chunk).
    fn encode(&self, chunk: &[u8], time_field: &str) -> Result<Vec<u8>, String>;
}

/// What a lake output writes for each sealed chunk (`format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkFormat {
    /// zstd NDJSON under `json/`.
    #[default]
    Json,
    /// One Parquet file under `chunks/`, and no JSON.
    Parquet,
    /// Both: the Parquet file, then the JSON chunk of the same events.
    Both,
}

impl ChunkFormat {
    /// Whether the output needs a [`ParquetEncoder`].
    pub fn writes_parquet(self) -> bool {
        self != ChunkFormat::Json
    }

    /// Whether the output writes JSON chunks.
    pub fn writes_json(self) -> bool {
        self != ChunkFormat::Parquet
    }
}
