//! End-to-end tests: the real `levee` binary, real files, and DuckDB as the
//! engine that is not ours.

mod bench_forward;
mod cli;
mod closed_stderr;
mod compact_lock;
mod compact_schedule;
mod console;
mod console_browser;
mod console_load;
mod console_sql;
mod crash;
mod demo;
mod direct_parquet;
mod disk_buffer;
mod flood;
mod forward;
mod forward_output;
mod health;
mod http_input;
mod http_output;
mod isolation;
mod lake_damage;
mod lake_e2e;
mod metric_filter;
mod metrics_endpoint;
mod metrics_export;
// /proc for memory, renameat2 for the fault.
#[cfg(target_os = "linux")]
mod outage;
mod parquet_layout;
mod query_api;
mod query_cli;
mod query_errors;
mod query_oracle;
mod readme;
mod restart;
mod retention;
mod s3_lake;
mod slow_pipe;
mod support;
mod tables;
mod tailing;
mod top;
mod whole_table;
