//! The lake: where delivered events rest, and how they become Parquet.
//!
//! ```text
//! <lake>/<db>/<table>/json/dt=YYYY-MM-DD/hour=HH/<MM>-<writer>-<seq>.ndjson.zst   written by the lake output
//! <lake>/<db>/<table>/chunks/dt=YYYY-MM-DD/hour=HH/<MM>-<writer>-<seq>.parquet   the same, as Parquet (`format = "parquet"` or `"both"`)
//! <lake>/<db>/<table>/parquet/dt=YYYY-MM-DD/hour=HH/part-NNNNN.parquet          written by compaction
//! <lake>/<db>/<table>/_levee/table.json                                         the table's properties, written by the lake output
//! <lake>/<db>/<table>/_levee/                                                   the table's catalog
//! <lake>/<db>/<table>/quarantine/json/dt=YYYY-MM-DD/hour=HH/<chunk>              damaged chunks, each with `<chunk>.reason.json`
//! <lake>/<db>/<table>/quarantine/records/dt=YYYY-MM-DD/hour=HH/<chunk>.json    lines that could not be rows, with the reason
//! ```
//!
//! The layout ([`layout`]) and the chunk listings of [`Lake`] are all the
//! collector needs, so arrow and parquet sit behind the `compact` feature,
//! with [`catalog`] (tables and their schemas) and [`compact`] (JSON chunks
//! to Parquet, hour by hour).

#![warn(missing_docs)]

mod aws_profile;
pub mod declared;
mod error;
pub mod layout;
pub mod properties;
mod store;

#[cfg(feature = "compact")]
pub mod catalog;
#[cfg(feature = "compact")]
pub mod committed;
#[cfg(feature = "compact")]
pub mod compact;
#[cfg(feature = "compact")]
pub mod ddl;
#[cfg(feature = "compact")]
pub mod describe;
#[cfg(feature = "compact")]
pub mod parquet_chunk;
#[cfg(feature = "compact")]
mod schema;

pub use error::LakeError;
pub use layout::{ChunkCompression, Partition, TableRef};
pub use properties::{
    ColumnName, ParquetLayout, PartitionBy, Retention, TableProperties, TimeField, UTC_OFFSET,
};
pub use store::{Chunk, Lake, LakeLocation, S3Options};

/// Compaction's one read of NDJSON text, for the `compact_json_lines`
/// fuzz target: the rows of the lines it takes, or `None` when it
/// refuses one (a unit is then read the two-pass way). Not an API.
#[cfg(feature = "compact")]
#[doc(hidden)]
pub fn read_lines_once(text: &str, time_field: Option<&str>) -> Option<usize> {
    let mut columns = schema::HourColumns::new(time_field);
    for line in text.lines() {
        if line.bytes().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        columns.push_line(line).ok()?;
    }
    let built = columns.finish().ok()?;
    Some(built.batch.map_or(0, |b| b.num_rows()))
}
