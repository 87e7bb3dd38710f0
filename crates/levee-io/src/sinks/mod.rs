//! Sinks: where events leave levee.
//!
//! A sink is configured as a [`SinkConfig`], checked once by
//! [`SinkConfig::build`] into a [`BuiltSink`] (nothing is touched yet), and
//! opened at start into a [`Sink`]. The output worker in the pipeline calls
//! [`Sink::write`] with a batch and retries it on error, with the same
//! batch; each sink makes that retry safe (the lake does not compress a
//! batch twice, and stores the chunks it had not yet stored).
//!
//! Adding a sink: a module with its config struct and a type that
//! implements [`OpenSink`] and [`WriteSink`], a variant of [`SinkConfig`],
//! and its arm in [`SinkConfig::build`].

pub mod blackhole;
pub mod encode;
pub mod file;
pub mod lake;
pub mod stdout;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use levee_event::Event;
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use tokio::time::Instant;

use crate::{SinkConfigError, SinkError};

/// Every kind of sink, by its `type` under `[outputs.NAME]`.
///
/// The variant is the output's `type`; the pipeline's config loader hands
/// it the output's table without the keys every output has (`match`,
/// `buffer`, `retry`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkConfig {
    /// Minute-sized JSON chunks in the lake, partitioned by event time.
    Lake(lake::LakeConfig),
    /// Newline-delimited JSON appended to a local file.
    File(file::FileConfig),
    /// Newline-delimited JSON on standard output.
    Stdout(stdout::StdoutConfig),
    /// Accepts and counts everything, writes nothing: for benchmarks.
    Blackhole(blackhole::BlackholeConfig),
}

impl SinkConfig {
    /// Checks the config once, touching nothing, into a sink ready to open.
    pub fn build(self) -> Result<BuiltSink, SinkConfigError> {
        Ok(match self {
            SinkConfig::Lake(c) => BuiltSink::new(c.build()?),
            SinkConfig::File(c) => BuiltSink::new(c.build()?),
            SinkConfig::Stdout(c) => BuiltSink::new(c),
            SinkConfig::Blackhole(c) => BuiltSink::new(c),
        })
    }
}

/// A future a sink returns; boxed so sinks can live behind `dyn`.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

/// Where a sink runs, as the pipeline tells it at open.
#[derive(Clone, Debug)]
pub struct SinkContext {
    /// The output's name (`[outputs.NAME]`).
    pub output: String,
    /// The pipeline's `data_dir`. A sink keeps its own state in
    /// [`SinkContext::state_dir`].
    pub data_dir: PathBuf,
    /// Counters a sink keeps itself, beside the output worker's.
    pub metrics: SinkMetrics,
}

impl SinkContext {
    /// The folder of this output's own state, `<data_dir>/outputs/<output>`,
    /// the name kept to letters, digits, `-` and `_` (any other byte as
    /// `%XX`) so no name climbs out of it. Not created here.
    pub fn state_dir(&self) -> PathBuf {
        let mut stem = String::with_capacity(self.output.len());
        for b in self.output.bytes() {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                stem.push(char::from(b));
            } else {
                stem.push_str(&format!("%{b:02X}"));
            }
        }
        self.data_dir.join("outputs").join(stem)
    }
}

/// Counters a sink keeps itself; the pipeline registers them.
#[derive(Clone, Debug, Default)]
pub struct SinkMetrics {
    /// Events a replay brought again that a stored chunk already holds,
    /// skipped (the lake, from a `tail` source).
    pub replay_skipped: Counter,
}

/// A sink's checked settings: opening is all that can still fail.
pub trait OpenSink: fmt::Debug + Send + Sync {
    /// Opens the sink (creates folders, opens files).
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>>;
}

/// An opened sink, as the output worker drives it.
pub trait WriteSink: Send {
    /// Writes a batch. After an error the caller retries with the same batch.
    fn write<'a>(&'a mut self, events: &'a [Event]) -> SinkFuture<'a, ()>;

    /// When the sink wants [`WriteSink::flush_due`] called even if no batch
    /// comes (the lake seals its chunks by age). Default: never.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Writes what is due by time. After an error the caller tries again.
    fn flush_due(&mut self) -> SinkFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Flushes and closes, at shutdown. After an error the caller may try
    /// again: what was not written is kept.
    fn close(&mut self) -> SinkFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A sink's config, checked and ready to open.
#[derive(Debug)]
pub struct BuiltSink(Box<dyn OpenSink>);

impl BuiltSink {
    fn new(sink: impl OpenSink + 'static) -> BuiltSink {
        BuiltSink(Box::new(sink))
    }

    /// Opens the sink (creates folders, opens files, reads its state).
    pub async fn open(&self, ctx: &SinkContext) -> Result<Sink, SinkError> {
        Ok(Sink(self.0.open(ctx).await?))
    }
}

/// An opened sink.
pub struct Sink(Box<dyn WriteSink>);

impl Sink {
    /// Writes a batch. After an error the caller retries with the same batch.
    pub async fn write(&mut self, events: &[Event]) -> Result<(), SinkError> {
        self.0.write(events).await
    }

    /// When the sink wants [`Sink::flush_due`] called even if no batch
    /// comes: the lake seals its chunks by age.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.0.next_deadline()
    }

    /// Writes what is due by time. After an error the caller tries again.
    pub async fn flush_due(&mut self) -> Result<(), SinkError> {
        self.0.flush_due().await
    }

    /// Flushes and closes, at shutdown. After an error the caller may try
    /// again: what was not written is kept.
    pub async fn close(&mut self) -> Result<(), SinkError> {
        self.0.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_name_cannot_climb_out_of_its_state_folder() {
        let ctx = |output: &str| SinkContext {
            output: output.into(),
            data_dir: PathBuf::from("data"),
            metrics: SinkMetrics::default(),
        };
        assert_eq!(
            ctx("lake_1-a").state_dir(),
            PathBuf::from("data/outputs/lake_1-a")
        );
        assert_eq!(
            ctx("../x.y").state_dir(),
            PathBuf::from("data/outputs/%2E%2E%2Fx%2Ey")
        );
    }
}
