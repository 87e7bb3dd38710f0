//! The `stdout` sink: one JSON line per event on standard output.

use levee_event::Event;
use serde::Deserialize;
use tokio::io::{AsyncWriteExt, Stdout};

use super::encode::ndjson_records;
use crate::SinkError;

/// `type = "stdout"`: print each record as a JSON line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {}

pub struct StdoutSink {
    out: Stdout,
    buf: Vec<u8>,
}

impl StdoutSink {
    pub(crate) fn new(_config: &StdoutConfig) -> StdoutSink {
        StdoutSink {
            out: tokio::io::stdout(),
            buf: Vec::new(),
        }
    }

    pub(crate) async fn write(&mut self, events: &[Event]) -> Result<(), SinkError> {
        self.buf.clear();
        ndjson_records(events, &mut self.buf);
        self.out
            .write_all(&self.buf)
            .await
            .map_err(|e| SinkError::io("stdout", e))?;
        self.out
            .flush()
            .await
            .map_err(|e| SinkError::io("stdout", e))
    }

    pub(crate) async fn close(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .await
            .map_err(|e| SinkError::io("stdout", e))
    }
}
