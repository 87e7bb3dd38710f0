//! SQL over the lake: the `query` stage of levee.
//!
//! [`LakeSession::open`] registers every table of a lake with DataFusion three
//! times, `<table>_json` (the minute chunks the lake output wrote),
//! `<table>_parquet` (what compaction made of them) and `<table>` (each hour
//! once: its Parquet where compaction covered all its chunks, else its
//! JSON), under a schema named after the database, with `dt` and `hour` as
//! partition columns. Queries written for Athena run as written:
//!
//! ```sql
//! select dt, count_if(status >= 500) as errors
//! from "glue-data-lake-usw2-prd".eventlog_parquet
//! where dt >= '2018-09-01'
//! group by dt order by dt
//! ```
//!
//! Every answer carries [`ScanStats`]: files and partitions read out of those
//! the tables hold, bytes scanned, and what Athena would have charged. The
//! [`output`] functions print answers as a table, CSV, JSON or Parquet;
//! [`script`] cuts a text of several statements at their `;`.
//!
//! Every query runs under a time limit, a memory limit and a cap on the
//! queries running at once ([`QueryOptions`], given to
//! [`LakeSession::open_with`]), and can only read the lake: no statement
//! writes, deletes, or reads a file outside it.

#![warn(missing_docs)]

mod error;
pub mod functions;
mod hints;
mod in_place;
mod json_source;
mod json_table;
mod limits;
mod open;
pub mod output;
mod register;
pub mod script;
mod session;
mod statements;
mod stats;
mod tables;
mod whole;

pub use error::QueryError;
pub use hints::sql_ident;
pub use limits::{
    DEFAULT_MAX_CONCURRENT, DEFAULT_MEMORY_LIMIT, DEFAULT_TARGET_PARTITIONS, DEFAULT_TIMEOUT,
    Limit, QueryLimits, QueryOptions,
};
pub use open::open_lake;
pub use output::{
    format_table, stats_json, write_csv, write_json_document, write_json_lines, write_parquet,
};
pub use session::{LakeSession, LakeTable, QueryResult, SkippedTable};
pub use stats::{CopyScan, DamagedFile, ScanStats};
pub use tables::{FileKind, Format};
