//! Sinks: where events leave levee.
//!
//! The output worker in the pipeline calls [`Sink::write`] with a batch and
//! retries it on error, with the same batch; each sink makes that retry safe
//! (the lake does not compress a batch twice, and stores the chunks it had
//! not yet stored).

pub mod blackhole;
pub mod encode;
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

    /// When the sink wants [`Sink::flush_due`] called even if no batch
    /// comes: the lake seals its chunks by age.
    pub fn next_deadline(&self) -> Option<tokio::time::Instant> {
        match self {
            Sink::Lake(s) => s.next_deadline(),
            Sink::File(_) | Sink::Stdout(_) | Sink::Blackhole => None,
        }
    }

    /// Writes what is due by time. After an error the caller tries again.
    pub async fn flush_due(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::Lake(s) => s.flush_due().await,
            Sink::File(_) | Sink::Stdout(_) | Sink::Blackhole => Ok(()),
        }
    }

    /// Flushes and closes, at shutdown. After an error the caller may try
    /// again: what was not written is kept.
    pub async fn close(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::File(s) => s.close().await,
            Sink::Stdout(s) => s.close().await,
            Sink::Lake(s) => s.close().await,
            Sink::Blackhole => Ok(()),
        }
    }
}
