//! The `stdout` sink: one JSON line per event on standard output.
//!
//! `tokio::io::stdout` writes on tokio's blocking threads, so a reader
//! that stops reading (a full pipe) holds this output's worker, never a
//! runtime worker.

use levee_event::{Ack, Event};
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use tokio::io::{AsyncWriteExt, Stdout};

use super::encode::ndjson_records;
use super::{OpenSink, SinkContext, SinkFuture, WriteSink};
use crate::SinkError;

/// `type = "stdout"`: print each record as a JSON line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {}

impl OpenSink for StdoutConfig {
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
        Box::pin(async {
            Ok(Box::new(StdoutSink::new(ctx.metrics.bytes.clone())) as Box<dyn WriteSink>)
        })
    }
}

struct StdoutSink {
    out: Stdout,
    buf: Vec<u8>,
    /// Bytes written to standard output.
    bytes: Counter,
}

impl StdoutSink {
    fn new(bytes: Counter) -> StdoutSink {
        StdoutSink {
            out: tokio::io::stdout(),
            buf: Vec::new(),
            bytes,
        }
    }

    async fn write_batch(&mut self, events: &[Event]) -> Result<(), SinkError> {
        self.buf.clear();
        ndjson_records(events, &mut self.buf);
        self.out
            .write_all(&self.buf)
            .await
            .map_err(|e| SinkError::io("stdout", e))?;
        self.out
            .flush()
            .await
            .map_err(|e| SinkError::io("stdout", e))?;
        self.bytes.inc_by(self.buf.len() as u64);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .await
            .map_err(|e| SinkError::io("stdout", e))
    }
}

impl WriteSink for StdoutSink {
    /// Stores before returning, so the caller drops the acks at once.
    fn write<'a>(
        &'a mut self,
        events: &'a [Event],
        _acks: &'a mut Vec<Ack>,
    ) -> SinkFuture<'a, u64> {
        Box::pin(async move {
            self.write_batch(events).await?;
            Ok(events.len() as u64)
        })
    }

    fn close(&mut self) -> SinkFuture<'_, ()> {
        Box::pin(self.flush())
    }
}
