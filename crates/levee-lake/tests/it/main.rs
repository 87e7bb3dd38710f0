//! levee-lake's integration tests: real lakes in temporary folders.

mod catalog;
mod compact;
mod declared;
mod event_time;
mod evolution;
mod hostile;
mod parquet_chunks;
mod records;
mod retention;
mod retire;
mod support;
