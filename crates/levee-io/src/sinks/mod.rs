//! Sinks: where events leave levee.
//!
//! A sink is configured as a [`SinkConfig`], checked once by
//! [`SinkConfig::build`] into a [`BuiltSink`] (nothing is touched yet), and
//! opened at start into a [`Sink`].
//!
//! # The protocol between the output worker and its sink
//!
//! An event handed to a sink is, in turn:
//!
//! - **absorbed** when [`WriteSink::write`] returns `Ok`: the caller never
//!   sends it again, and the sink is responsible for it. `Err` means
//!   nothing of the batch was absorbed: the caller may call `write` again
//!   with the same batch, or give up on it (then it drops the batch's acks
//!   and counts its events in `dropped_failed`).
//! - **stored** once it is durable where the sink puts it (a chunk put in
//!   the lake, a line written to a file). A sink that stores before `write`
//!   returns (file, stdout) reports the batch as stored at once. A sink
//!   that holds what it absorbed (the lake's open chunks) stores it later,
//!   in [`WriteSink::flush`], and reports how many events each call
//!   stored (a flush that fails after storing part reports that part with
//!   the next flush that works). The `events` metric counts stored
//!   events, not absorbed ones.
//! - or **discarded**: when a flush has failed `max_attempts` times, the
//!   caller gives up with [`WriteSink::discard`], and the sink drops what
//!   that flush could not store, returning how many events it was, so that
//!   `dropped_failed` is exact.
//!
//! Acks ([`levee_event::Ack`]) follow the events: `write` is given the
//! acks the batch completes; a sink that holds events takes the acks
//! (`std::mem::take`) and drops each once what it covers is stored or
//! discarded; acks it leaves in the vector are dropped by the caller as
//! soon as `write` returns `Ok`, which is right for a sink that stored the
//! batch. A dropped ack lets a source checkpoint past the events it covers,
//! so no sink drops one before its events are stored or counted lost.
//!
//! At shutdown the caller flushes everything ([`Flush::All`], with the same
//! retries and give-up), then calls [`WriteSink::close`], which stores
//! nothing more: it releases the sink (syncs a file).
//!
//! Adding a sink: a module with its config struct and a type that
//! implements [`OpenSink`] and [`WriteSink`], a variant of [`SinkConfig`],
//! and its arm in [`SinkConfig::build`].

pub mod blackhole;
pub mod encode;
pub mod file;
pub mod forward;
pub mod http;
pub mod lake;
pub mod stdout;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use levee_event::{Ack, Event};
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
    /// Boxed: its settings (layout, retention) make it the largest by far.
    Lake(Box<lake::LakeConfig>),
    /// Newline-delimited JSON appended to a local file.
    File(file::FileConfig),
    /// Records POSTed to an HTTP(S) endpoint, many per request. Boxed,
    /// as the lake's: its headers and credentials.
    Http(Box<http::HttpConfig>),
    /// Batches sent to Fluentd-protocol receivers (Fluentd, Fluent Bit,
    /// another levee), PackedForward, with acks and failover.
    Forward(forward::ForwardConfig),
    /// Newline-delimited JSON on standard output.
    Stdout(stdout::StdoutConfig),
    /// Accepts and counts everything, writes nothing: for benchmarks.
    Blackhole(blackhole::BlackholeConfig),
}

impl SinkConfig {
    /// The kind's name, as `type` spells it: the `type` label of the
    /// output's metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Lake(_) => "lake",
            SinkConfig::File(_) => "file",
            SinkConfig::Http(_) => "http",
            SinkConfig::Forward(_) => "forward",
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::Blackhole(_) => "blackhole",
        }
    }

    /// Whether this kind of sink can take batches in parallel (an output's
    /// `workers` above 1, each worker with a sink of its own), or why not.
    pub fn parallel(&self) -> Result<(), &'static str> {
        match self {
            SinkConfig::Lake(_) => Err(
                "the lake sink writes one batch at a time: an output's chunks come from one writer id and one coverage journal, which exactly-once delivery relies on",
            ),
            SinkConfig::File(_) => Err(
                "the file sink writes one batch at a time: batches are appended in order through one handle, and a FIFO would interleave parallel writes",
            ),
            SinkConfig::Stdout(_) => Err("the stdout sink writes one batch at a time, in order"),
            // Each worker has its own connection; batches may then arrive
            // out of order, which the option says.
            SinkConfig::Http(_) => Ok(()),
            SinkConfig::Forward(_) => Ok(()),
            SinkConfig::Blackhole(_) => Ok(()),
        }
    }

    /// Checks the config once, touching nothing, into a sink ready to open.
    pub fn build(self) -> Result<BuiltSink, SinkConfigError> {
        Ok(match self {
            SinkConfig::Lake(c) => BuiltSink::new((*c).build()?),
            SinkConfig::File(c) => BuiltSink::new(c.build()?),
            SinkConfig::Http(c) => BuiltSink::new((*c).build()?),
            SinkConfig::Forward(c) => BuiltSink::new(c.build()?),
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
    /// Makes Parquet chunks for lake outputs with `format = "parquet"` or
    /// `"both"`; given by the binary (see [`lake::ParquetEncoder`]), `None`
    /// where Parquet is not built, and such an output then refuses to open.
    pub parquet: Option<Arc<dyn lake::ParquetEncoder>>,
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
    /// Bytes the sink stored, as written where it puts them (a lake
    /// chunk's compressed object, a file's JSON lines); a sink that writes
    /// nothing (`blackhole`) counts none.
    pub bytes: Counter,
}

/// A sink's checked settings: opening is all that can still fail.
pub trait OpenSink: fmt::Debug + Send + Sync {
    /// Opens the sink (creates folders, opens files).
    ///
    /// The pipeline runs each open on a blocking-pool thread of its own,
    /// beside the others, so an open may block (read a state file, wait in
    /// the `open` of a FIFO nobody reads) without holding back the runtime
    /// or another output.
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>>;
}

/// What a flush stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// What is due by time ([`WriteSink::next_deadline`]) or by size.
    Due,
    /// Everything the sink holds, at shutdown.
    All,
}

/// An opened sink, as the output worker drives it; the module docs say
/// what each call promises.
pub trait WriteSink: Send {
    /// Absorbs a batch; returns how many of its events (or of events
    /// absorbed earlier) this call stored. `Ok`: every event is absorbed,
    /// and the sink took from `acks` the acks it will drop once their
    /// events are stored (the caller drops the rest). `Err`: nothing is
    /// absorbed; the caller may try again with the same batch and acks.
    fn write<'a>(&'a mut self, events: &'a [Event], acks: &'a mut Vec<Ack>) -> SinkFuture<'a, u64>;

    /// When the sink wants [`WriteSink::flush`] called even if no batch
    /// comes (the lake seals its chunks by age). Default: never.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Stores what the sink holds that is due (or everything); returns how
    /// many events it stored. `Err`: what was not stored is still held, and
    /// the caller tries again or gives up with [`WriteSink::discard`].
    /// Default: the sink holds nothing.
    fn flush(&mut self, what: Flush) -> SinkFuture<'_, u64> {
        let _ = what;
        Box::pin(async { Ok(0) })
    }

    /// Gives up on what the last failed flush could not store: drops it,
    /// with its acks, and returns how many events that was. Default: the
    /// sink holds nothing.
    fn discard(&mut self) -> u64 {
        0
    }

    /// Releases the sink at shutdown, after a [`Flush::All`]; stores
    /// nothing. After an error the caller may try again.
    fn close(&mut self) -> SinkFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A sink's config, checked and ready to open; cheap to clone, so an open
/// can run on a thread of its own and be tried again.
#[derive(Clone, Debug)]
pub struct BuiltSink(Arc<dyn OpenSink>);

impl BuiltSink {
    /// A sink from its checked settings (for a sink defined elsewhere, as
    /// a test's).
    pub fn new(sink: impl OpenSink + 'static) -> BuiltSink {
        BuiltSink(Arc::new(sink))
    }

    /// Opens the sink (creates folders, opens files, reads its state).
    pub async fn open(&self, ctx: &SinkContext) -> Result<Sink, SinkError> {
        Ok(Sink(self.0.open(ctx).await?))
    }
}

/// An opened sink.
pub struct Sink(Box<dyn WriteSink>);

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sink")
    }
}

impl Sink {
    /// Wraps a sink made outside a [`SinkConfig`] (test sinks).
    pub fn new(sink: impl WriteSink + 'static) -> Sink {
        Sink(Box::new(sink))
    }

    /// Absorbs a batch; see [`WriteSink::write`].
    pub async fn write(&mut self, events: &[Event], acks: &mut Vec<Ack>) -> Result<u64, SinkError> {
        self.0.write(events, acks).await
    }

    /// When the sink wants [`Sink::flush`] called even if no batch comes:
    /// the lake seals its chunks by age.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.0.next_deadline()
    }

    /// Stores what is due, or everything; see [`WriteSink::flush`].
    pub async fn flush(&mut self, what: Flush) -> Result<u64, SinkError> {
        self.0.flush(what).await
    }

    /// Drops what the last failed flush could not store; see
    /// [`WriteSink::discard`].
    pub fn discard(&mut self) -> u64 {
        self.0.discard()
    }

    /// Releases the sink at shutdown; see [`WriteSink::close`].
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
            parquet: None,
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
