//! Sources and sinks: where events enter levee and where they leave it.
//!
//! A source reads bytes (a file, stdin, the generator), cuts them into lines,
//! parses each with its [`levee_parse::Parser`] and sends [`Batch`]es of
//! events into a bounded channel; the pipeline routes them. A line that does
//! not parse becomes an event tagged [`levee_event::ERROR_TAG`] holding the raw
//! line, so nothing is dropped silently.
//!
//! A sink writes batches somewhere (the lake, a file, stdout). The pipeline's
//! output worker owns buffering, batching and retries; a sink absorbs,
//! stores and, when the worker gives up, discards, as [`sinks`] sets out.
//!
//! [`Batch`]: levee_event::Batch

#![warn(missing_docs)]

mod error;
pub mod forward;
pub mod sinks;
pub mod sources;
pub mod units;

pub use error::{SinkConfigError, SinkError, SourceConfigError, SourceError};
pub use sinks::{BuiltSink, Sink, SinkConfig, SinkContext, SinkMetrics};
pub use sources::{SourceConfig, SourceContext, SourceMetrics};
