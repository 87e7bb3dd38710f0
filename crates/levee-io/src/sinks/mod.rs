//! Sinks: where events leave levee.
//!
//! The output worker in the pipeline calls [`Sink::write`] with a batch and
//! retries it on error, with the same batch; each sink makes that retry safe
//! (the lake resumes the objects it had not yet written).

pub mod blackhole;
mod encode;
pub mod file;
pub mod lake;
pub mod stdout;

use levee_event::Event;
use serde::Deserialize;

use crate::SinkError;

/// Every kind of sink, by its `type` under `[outputs.NAME]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
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
    /// The `type` as written in config.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Lake(_) => "lake",
            SinkConfig::File(_) => "file",
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::Blackhole(_) => "blackhole",
        }
    }

    /// Checks what can be checked without touching anything.
    pub fn validate(&self) -> Result<(), SinkError> {
        match self {
            SinkConfig::Lake(c) => c.validate(),
            SinkConfig::File(c) => c.validate(),
            SinkConfig::Stdout(_) | SinkConfig::Blackhole(_) => Ok(()),
        }
    }

    /// Opens the sink (creates folders, opens files).
    pub async fn build(&self) -> Result<Sink, SinkError> {
        Ok(match self {
            SinkConfig::Lake(c) => Sink::Lake(lake::LakeSink::new(c)?),
            SinkConfig::File(c) => Sink::File(file::FileSink::open(c).await?),
            SinkConfig::Stdout(c) => Sink::Stdout(stdout::StdoutSink::new(c)),
            SinkConfig::Blackhole(_) => Sink::Blackhole,
        })
    }
}

/// An opened sink.
pub enum Sink {
    Lake(lake::LakeSink),
    File(file::FileSink),
    Stdout(stdout::StdoutSink),
    Blackhole,
}

impl Sink {
    /// Writes a batch. After an error the caller retries with the same batch.
    pub async fn write(&mut self, events: &[Event]) -> Result<(), SinkError> {
        match self {
            Sink::Lake(s) => s.write(events).await,
            Sink::File(s) => s.write(events).await,
            Sink::Stdout(s) => s.write(events).await,
            Sink::Blackhole => Ok(()),
        }
    }

    /// Flushes and closes, at shutdown.
    pub async fn close(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::File(s) => s.close().await,
            Sink::Stdout(s) => s.close().await,
            Sink::Lake(_) | Sink::Blackhole => Ok(()),
        }
    }
}
