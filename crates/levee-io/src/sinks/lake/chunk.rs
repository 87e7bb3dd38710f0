//! Chunks being written: one zstd stream per hour partition, fed as batches
//! arrive and sealed when big enough or old enough.
//!
//! Compressing as events arrive keeps only compressed bytes in memory, so
//! a chunk's size is set by the lake's own limits, not by how many events
//! the output's buffer holds.

use std::io::Write;

use levee_event::Event;
use levee_lake::Partition;
use tokio::time::Instant;

use crate::SinkError;

const NANOS_PER_MINUTE: i64 = 60_000_000_000;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// The hour an event time falls in, as hours since the epoch: cheap to
/// compute per event, where a [`Partition`] formats its date.
pub(super) fn hour_of(nanos: i64) -> i64 {
    nanos.div_euclid(NANOS_PER_HOUR)
}

/// One hour partition's chunk, open for more events.
pub(super) struct OpenChunk {
    pub(super) partition: Partition,
    /// The minute of the first event, which names the chunk.
    pub(super) minute: u32,
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
    /// Uncompressed NDJSON bytes written so far.
    pub(super) raw_bytes: usize,
    pub(super) opened: Instant,
    /// When it last took events, by the sink's write counter; the least
    /// recently written chunk is sealed first when too many are open.
    pub(super) last_write: u64,
}

impl OpenChunk {
    pub(super) fn new(first: &Event, level: i32, now: Instant) -> Result<OpenChunk, SinkError> {
        let (partition, minute) = Partition::of_time(first.time);
        let encoder = zstd::stream::write::Encoder::new(Vec::new(), level)
            .map_err(|e| SinkError::io("zstd", e))?;
        Ok(OpenChunk {
            partition,
            minute,
            encoder,
            raw_bytes: 0,
            opened: now,
            last_write: 0,
        })
    }

    /// Compresses NDJSON lines into the chunk.
    pub(super) fn append(&mut self, json: &[u8], write: u64) -> Result<(), SinkError> {
        self.encoder
            .write_all(json)
            .map_err(|e| SinkError::io("zstd", e))?;
        self.raw_bytes += json.len();
        self.last_write = write;
        Ok(())
    }

    /// Ends the zstd frame: the chunk's finished bytes.
    pub(super) fn finish(self) -> Result<Vec<u8>, SinkError> {
        self.encoder.finish().map_err(|e| SinkError::io("zstd", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_count_from_the_epoch_and_go_down_before_it() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(NANOS_PER_HOUR - 1), 0);
        assert_eq!(hour_of(NANOS_PER_HOUR), 1);
        assert_eq!(hour_of(-1), -1);
    }
}
