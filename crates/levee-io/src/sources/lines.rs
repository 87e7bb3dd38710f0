//! Cutting bytes into lines and lines into events, shared by every
//! line-oriented source.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use levee_event::{Batch, ERROR_TAG, Event, Record, Tag, Value};
use levee_parse::Parser;

use super::{SourceContext, SourceMetrics};

/// Events per batch sent downstream: large enough to amortise channel and
/// routing costs, small enough to keep latency and memory low.
pub(crate) const BATCH_EVENTS: usize = 1024;

/// Longest line kept whole. A longer one goes to `@ERROR`, cut to this length.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Turns lines into events: parsed ones under the source's tag, failed ones
/// under `@ERROR` with their raw text.
pub(crate) struct LineDecoder {
    tag: Tag,
    error_tag: Tag,
    source: Arc<str>,
    parser: Parser,
    batch: Batch,
    metrics: SourceMetrics,
}

impl LineDecoder {
    pub(crate) fn new(tag: Tag, parser: Parser, ctx: &SourceContext) -> LineDecoder {
        LineDecoder {
            tag,
            error_tag: Tag::new(ERROR_TAG),
            source: Arc::from(ctx.name.as_str()),
            parser,
            batch: Vec::with_capacity(BATCH_EVENTS),
            metrics: ctx.metrics.clone(),
        }
    }

    /// Parses one line (its newline already cut off) into the pending batch.
    pub(crate) fn push_line(&mut self, line: &[u8], ingest_time: i64) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.metrics.events.inc();
        match self.parser.parse(line) {
            Ok(parsed) => self.batch.push(Event::new(
                self.tag.clone(),
                parsed.time.unwrap_or(ingest_time),
                parsed.record,
            )),
            Err(err) => {
                let reason = err.to_string();
                self.push_error(line, &reason, Some(err.position), ingest_time);
            }
        }
    }

    /// Records a line that could not be parsed or read whole.
    pub(crate) fn push_error(
        &mut self,
        raw: &[u8],
        reason: &str,
        position: Option<usize>,
        ingest_time: i64,
    ) {
        self.metrics.parse_errors.inc();
        let mut record = Record::with_capacity(5);
        record.insert("error".into(), Value::from(reason));
        if let Some(p) = position {
            record.insert(
                "position".into(),
                Value::Int(i64::try_from(p).unwrap_or(i64::MAX)),
            );
        }
        record.insert("source".into(), Value::from(&*self.source));
        record.insert("tag".into(), Value::from(self.tag.as_str()));
        record.insert(
            "raw".into(),
            Value::String(String::from_utf8_lossy(raw).into_owned()),
        );
        self.batch
            .push(Event::new(self.error_tag.clone(), ingest_time, record));
    }

    /// The pending batch, if it is full.
    pub(crate) fn take_full(&mut self) -> Option<Batch> {
        (self.batch.len() >= BATCH_EVENTS).then(|| self.take())
    }

    /// The pending batch, whatever its size.
    pub(crate) fn take(&mut self) -> Batch {
        std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_EVENTS))
    }

    pub(crate) fn metrics(&self) -> &SourceMetrics {
        &self.metrics
    }
}

/// Bytes read but not yet cut into lines.
#[derive(Default)]
pub(crate) struct LineBuffer {
    buf: Vec<u8>,
    /// Set while skipping the rest of an over-long line.
    skipping: bool,
}

impl LineBuffer {
    /// Adds bytes and hands every complete line to `decoder`.
    pub(crate) fn feed(&mut self, bytes: &[u8], decoder: &mut LineDecoder, ingest_time: i64) {
        let mut rest = bytes;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (head, tail) = (&rest[..nl], &rest[nl + 1..]);
            rest = tail;
            if self.skipping {
                self.skipping = false;
                continue;
            }
            if self.buf.is_empty() {
                // The common case: the whole line is in this read; no copy.
                decoder.push_line(head, ingest_time);
            } else {
                self.buf.extend_from_slice(head);
                let line = std::mem::take(&mut self.buf);
                decoder.push_line(&line, ingest_time);
                self.buf = line;
                self.buf.clear();
            }
        }
        if !self.skipping {
            self.buf.extend_from_slice(rest);
            if self.buf.len() > MAX_LINE_BYTES {
                let reason = format!(
                    "line longer than {MAX_LINE_BYTES} bytes; kept its first {MAX_LINE_BYTES}"
                );
                self.buf.truncate(MAX_LINE_BYTES);
                decoder.push_error(&self.buf, &reason, None, ingest_time);
                self.buf.clear();
                self.skipping = true;
            }
        }
    }

    /// At the end of input: a last line without a newline is still a line.
    pub(crate) fn finish(&mut self, decoder: &mut LineDecoder, ingest_time: i64) {
        if !self.buf.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.buf);
            decoder.push_line(&line, ingest_time);
        }
        self.buf.clear();
        self.skipping = false;
    }

    /// Forgets a partial line (the file it came from was truncated).
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.skipping = false;
    }

    /// Bytes held in a partial line.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Now, in nanoseconds since the epoch: the time of events that carry none.
pub(crate) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_parse::ParserConfig;
    use tokio::sync::{mpsc, watch};

    fn decoder() -> LineDecoder {
        let (tx, _rx) = mpsc::channel(1);
        let (_stx, srx) = watch::channel(false);
        let ctx = SourceContext {
            name: "test".into(),
            out: tx,
            shutdown: srx,
            exit_on_eof: true,
            data_dir: std::env::temp_dir(),
            metrics: SourceMetrics::default(),
        };
        let parser = ParserConfig::default().build().unwrap();
        LineDecoder::new(Tag::new("t"), parser, &ctx)
    }

    fn messages(batch: &Batch) -> Vec<String> {
        batch
            .iter()
            .map(|e| {
                e.record
                    .get("message")
                    .or(e.record.get("raw"))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut d = decoder();
        let mut b = LineBuffer::default();
        b.feed(b"one\ntw", &mut d, 1);
        b.feed(b"o\r\nthr", &mut d, 1);
        b.feed(b"ee", &mut d, 1);
        assert_eq!(messages(&d.take()), ["one", "two"]);
        b.finish(&mut d, 1);
        assert_eq!(messages(&d.take()), ["three"]);
    }

    #[test]
    fn an_overlong_line_goes_to_error_cut_and_the_next_line_survives() {
        let mut d = decoder();
        let mut b = LineBuffer::default();
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        b.feed(&long, &mut d, 1);
        b.feed(b"yyy\nnext\n", &mut d, 1);
        let batch = d.take();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].tag.as_str(), ERROR_TAG);
        assert_eq!(
            batch[0].record["raw"].as_str().map(str::len),
            Some(MAX_LINE_BYTES)
        );
        assert_eq!(messages(&batch[1..].to_vec()), ["next"]);
        assert_eq!(d.metrics().parse_errors.get(), 1);
    }
}
