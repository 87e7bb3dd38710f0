//! The pipeline: config, topology, routing, filters, buffers, retries and
//! metrics.
//!
//! [`config::load`] turns a TOML file into a checked [`config::Pipeline`];
//! [`topology::run`] runs it: sources (from `levee-io`) feed per-source
//! router tasks that apply the [`filters`] and push into each matching
//! output's bounded [`buffer`], whose worker writes batches to the sink and
//! retries them. Every stage counts into one [`metrics::Metrics`] registry.

#![warn(missing_docs)]

pub mod buffer;
pub mod compaction;
pub mod config;
pub mod console;
pub mod cron;
mod error;
pub mod filters;
pub mod http_server;
pub mod metrics;
mod opening;
pub mod output;
pub mod query_api;
mod router;
#[cfg(test)]
mod sink_testkit;
pub mod template;
pub mod topology;

pub use error::PipelineError;
