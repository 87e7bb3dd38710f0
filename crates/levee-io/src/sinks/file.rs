//! The `file` sink: newline-delimited JSON appended to a local file.
//!
//! Every file-system call runs on tokio's blocking threads (`tokio::fs`
//! hands each open, write, flush and sync to one), never on a runtime
//! worker: a target that blocks (a FIFO nobody reads, a full or hung
//! disk) holds a blocking thread and this output's worker, nothing else.
//! The pipeline opens it on a thread of its own too (`OpenSink`).

use std::path::PathBuf;

use levee_event::{Ack, Event};
use serde::Deserialize;
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use prometheus_client::metrics::counter::Counter;

use super::encode::ndjson_records;
use super::{OpenSink, SinkContext, SinkFuture, WriteSink};
use crate::{SinkConfigError, SinkError};

/// `type = "file"`: append each record as a JSON line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to append to; its folder is created if missing.
    pub path: PathBuf,
}

impl FileConfig {
    pub(crate) fn build(self) -> Result<FileConfig, SinkConfigError> {
        if self.path.as_os_str().is_empty() {
            return Err(SinkConfigError::new(
                "path",
                "must name a file, such as \"./out.ndjson\"",
            ));
        }
        Ok(self)
    }
}

impl OpenSink for FileConfig {
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
        Box::pin(async {
            let sink = FileSink::open(self, ctx.metrics.bytes.clone()).await?;
            Ok(Box::new(sink) as Box<dyn WriteSink>)
        })
    }
}

struct FileSink {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Only a regular file can be synced: a FIFO or a terminal refuses
    /// with EINVAL, which retrying would never fix.
    syncable: bool,
    /// Bytes appended to the file.
    bytes: Counter,
}

impl FileSink {
    async fn open(config: &FileConfig, bytes: Counter) -> Result<FileSink, SinkError> {
        let ctx = |e| SinkError::io(format!("opening {}", config.path.display()), e);
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(ctx)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.path)
            .await
            .map_err(ctx)?;
        let syncable = file.metadata().await.map_err(ctx)?.is_file();
        Ok(FileSink {
            path: config.path.clone(),
            file,
            buf: Vec::new(),
            syncable,
            bytes,
        })
    }

    async fn write_batch(&mut self, events: &[Event]) -> Result<(), SinkError> {
        self.buf.clear();
        ndjson_records(events, &mut self.buf);
        // One write per batch: appends of whole lines, so a reader never sees
        // a batch interleaved with another writer's.
        self.file
            .write_all(&self.buf)
            .await
            .map_err(|e| SinkError::io(format!("writing {}", self.path.display()), e))?;
        self.file
            .flush()
            .await
            .map_err(|e| SinkError::io(format!("writing {}", self.path.display()), e))?;
        self.bytes.inc_by(self.buf.len() as u64);
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), SinkError> {
        if !self.syncable {
            return Ok(());
        }
        self.file
            .sync_data()
            .await
            .map_err(|e| SinkError::io(format!("syncing {}", self.path.display()), e))
    }
}

impl WriteSink for FileSink {
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
        Box::pin(self.sync())
    }
}

#[cfg(test)]
mod tests {
    use levee_event::{Record, Tag, Value};

    use super::*;
    use crate::sinks::SinkMetrics;

    /// `levee_output_bytes_total`: what the file grew by.
    #[tokio::test]
    async fn stored_bytes_are_what_the_file_grew_by() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let ctx = SinkContext {
            output: "file".into(),
            data_dir: dir.path().to_owned(),
            metrics: SinkMetrics::default(),
            parquet: None,
        };
        let config = FileConfig { path: path.clone() };
        let mut sink = config.open(&ctx).await.unwrap();
        let events: Vec<Event> = (0..10)
            .map(|n| {
                let mut r = Record::new();
                r.insert("n", Value::Int(n));
                Event::new(Tag::new("t"), 0, r)
            })
            .collect();
        sink.write(&events, &mut Vec::new()).await.unwrap();
        sink.write(&events[..3], &mut Vec::new()).await.unwrap();
        sink.close().await.unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 13);
        assert_eq!(ctx.metrics.bytes.get(), len);
    }
}
