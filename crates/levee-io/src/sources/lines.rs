//! Cutting bytes into lines and lines into events, shared by every
//! line-oriented source.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use levee_event::{Batch, Event, Record, Tag, Text, Value};
use levee_parse::{Joined, Joiner, Parser};
use tokio::time::Instant;

use super::multiline::MultilineRule;
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
    /// Joins continuation lines before parsing, if the source says so.
    multiline: Option<MultilineRule>,
    /// Marks events whose time did not read, if the source says so.
    time_error_field: Option<String>,
}

impl LineDecoder {
    pub(crate) fn new(tag: Tag, parser: Parser, ctx: &SourceContext) -> LineDecoder {
        LineDecoder {
            tag,
            error_tag: Tag::error(),
            source: Arc::from(ctx.name.as_str()),
            parser,
            batch: Vec::with_capacity(BATCH_EVENTS),
            metrics: ctx.metrics.clone(),
            multiline: None,
            time_error_field: None,
        }
    }

    /// Joins lines into multi-line records by `rule` before parsing.
    pub(crate) fn with_multiline(mut self, rule: Option<MultilineRule>) -> LineDecoder {
        self.multiline = rule;
        self
    }

    /// Sets `field` to `true` on events whose time field did not read.
    pub(crate) fn with_time_error_field(mut self, field: Option<String>) -> LineDecoder {
        self.time_error_field = field;
        self
    }

    /// A buffer for one stream of bytes (one file), joining lines into
    /// records if the source has a multiline rule.
    pub(crate) fn line_buffer(&self) -> LineBuffer {
        LineBuffer {
            joiner: self.multiline.as_ref().map(|m| m.rule.joiner()),
            flush_timeout: self
                .multiline
                .as_ref()
                .map_or(Duration::ZERO, |m| m.flush_timeout),
            ..LineBuffer::default()
        }
    }

    /// Parses one line (its newline already cut off) into the pending batch.
    ///
    /// The time of ingest is also "now" for times written without a year.
    pub(crate) fn push_line(&mut self, line: &[u8], ingest_time: i64) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A csv header row (`skip_header`) names the columns: it is no event.
        if self.parser.is_header(line) {
            return;
        }
        self.metrics.events.inc();
        match self.parser.parse_at(line, ingest_time) {
            Ok(mut parsed) => {
                if parsed.time_error {
                    self.metrics.time_errors.inc();
                    if let Some(field) = &self.time_error_field {
                        parsed.record.insert(field.clone(), Value::Bool(true));
                    }
                }
                self.batch.push(Event::new(
                    self.tag.clone(),
                    parsed.time.unwrap_or(ingest_time),
                    parsed.record,
                ));
            }
            Err(err) => {
                let reason = err.to_string();
                self.push_error(line, &reason, Some(err.position), ingest_time);
            }
        }
    }

    /// Parses a record a multiline joiner completed.
    fn push_record(&mut self, record: Joined<'_>) {
        if record.cut {
            self.metrics.multiline_cuts.inc();
        }
        self.push_line(record.text, record.stamp);
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
        record.insert("error", Value::from(reason));
        if let Some(p) = position {
            record.insert("position", Value::Int(i64::try_from(p).unwrap_or(i64::MAX)));
        }
        record.insert("source", Value::from(&*self.source));
        record.insert("tag", Value::from(self.tag.as_str()));
        record.insert("raw", Value::from(Text::from_utf8_lossy(raw)));
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

/// Bytes read but not yet cut into lines, and with a multiline rule, lines
/// not yet joined into a complete record.
#[derive(Default)]
pub(crate) struct LineBuffer {
    buf: Vec<u8>,
    /// Set while skipping the rest of an over-long line.
    skipping: bool,
    /// Joins lines into records, when the source has a multiline rule.
    joiner: Option<Joiner>,
    /// How long a pending record waits for another line.
    flush_timeout: Duration,
    /// When the pending record got its last line (tokio's clock, so tests
    /// can pause it).
    last_line: Option<Instant>,
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
                self.line(head, decoder, ingest_time);
            } else {
                self.buf.extend_from_slice(head);
                let line = std::mem::take(&mut self.buf);
                self.line(&line, decoder, ingest_time);
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

    /// One complete line: parsed, or joined into the pending record.
    fn line(&mut self, line: &[u8], decoder: &mut LineDecoder, ingest_time: i64) {
        match &mut self.joiner {
            None => decoder.push_line(line, ingest_time),
            Some(joiner) => {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                joiner.push(line, ingest_time, &mut |record| decoder.push_record(record));
                self.last_line = joiner.is_pending().then(Instant::now);
            }
        }
    }

    /// At the end of input: a last line without a newline is still a line,
    /// and a pending multiline record is complete.
    pub(crate) fn finish(&mut self, decoder: &mut LineDecoder, ingest_time: i64) {
        if !self.buf.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, decoder, ingest_time);
        }
        self.buf.clear();
        self.skipping = false;
        self.flush_record(decoder);
    }

    /// Parses the pending multiline record, if any.
    pub(crate) fn flush_record(&mut self, decoder: &mut LineDecoder) {
        if let Some(joiner) = &mut self.joiner {
            joiner.flush(&mut |record| decoder.push_record(record));
        }
        self.last_line = None;
    }

    /// When the pending multiline record is due, if there is one.
    pub(crate) fn record_deadline(&self) -> Option<Instant> {
        self.last_line.map(|at| at + self.flush_timeout)
    }

    /// Parses the pending multiline record if no line came for
    /// `flush_timeout`.
    pub(crate) fn flush_if_idle(&mut self, decoder: &mut LineDecoder) {
        if self
            .record_deadline()
            .is_some_and(|due| due <= Instant::now())
        {
            self.flush_record(decoder);
        }
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
        decoder_with(ParserConfig::default())
    }

    fn decoder_with(parser: ParserConfig) -> LineDecoder {
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
        LineDecoder::new(Tag::new("t"), parser.build().unwrap(), &ctx)
    }

    fn parser(toml_text: &str) -> ParserConfig {
        #[derive(serde::Deserialize)]
        struct T {
            parser: ParserConfig,
        }
        toml::from_str::<T>(toml_text).unwrap().parser
    }

    fn multiline(first_line: &str, max_lines: usize) -> Option<MultilineRule> {
        Some(MultilineRule {
            rule: levee_parse::Multiline::new(first_line, max_lines, 1 << 20).unwrap(),
            flush_timeout: Duration::from_secs(1),
        })
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
    fn csv_header_rows_are_skipped_when_asked() {
        let csv = r#"parser = { type = "csv", columns = ["a", "b"], skip_header = true }"#;
        let mut d = decoder_with(parser(csv));
        let mut b = LineBuffer::default();
        // A file's header, its rows, and the header again after rotation.
        b.feed(b"a,b\n1,2\na,b\r\n3,4\n", &mut d, 1);
        let batch = d.take();
        let a: Vec<String> = batch.iter().map(|e| e.record["a"].to_string()).collect();
        assert_eq!(a, ["1", "3"]);
        assert_eq!(d.metrics().events.get(), 2);

        let keep = r#"parser = { type = "csv", columns = ["a", "b"] }"#;
        let mut d = decoder_with(parser(keep));
        b.feed(b"a,b\n", &mut d, 1);
        assert_eq!(d.take().len(), 1, "without skip_header a header is a row");
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
        assert_eq!(batch[0].tag.as_str(), levee_event::ERROR_TAG);
        assert_eq!(
            batch[0].record["raw"].as_str().map(str::len),
            Some(MAX_LINE_BYTES)
        );
        assert_eq!(messages(&batch[1..].to_vec()), ["next"]);
        assert_eq!(d.metrics().parse_errors.get(), 1);
    }

    #[test]
    fn unreadable_times_are_counted_and_marked_only_when_asked() {
        let json = parser(r#"parser = { type = "json", time_key = "ts" }"#);
        let mut d = decoder_with(json.clone());
        d.push_line(br#"{"ts":"2018-09-01T12:00:00Z"}"#, 7);
        d.push_line(br#"{"ts":"soon"}"#, 7);
        d.push_line(br#"{"other":1}"#, 7);
        let batch = d.take();
        assert_eq!(batch[0].time, 1_535_803_200_000_000_000);
        assert_eq!(
            batch[1].time, 7,
            "an unreadable time keeps the time of ingest"
        );
        assert_eq!(d.metrics().time_errors.get(), 1);
        assert!(batch.iter().all(|e| !e.record.contains_key("_time_error")));

        let mut d = decoder_with(json).with_time_error_field(Some("_time_error".into()));
        d.push_line(br#"{"ts":"soon"}"#, 7);
        d.push_line(br#"{"ts":1535803200}"#, 7);
        let batch = d.take();
        assert_eq!(batch[0].record["_time_error"], Value::Bool(true));
        assert!(!batch[1].record.contains_key("_time_error"));
    }

    #[test]
    fn a_year_missing_from_syslog_is_placed_by_the_time_of_ingest() {
        let mut d = decoder_with(parser(r#"parser = "syslog""#));
        // Read on 2024-01-02: December's line belongs to 2023.
        let ingest = 1_704_153_600_000_000_000;
        d.push_line(b"Dec 31 23:00:00 host app: late", ingest);
        let batch = d.take();
        assert_eq!(batch[0].time, ingest - 25 * 3600 * 1_000_000_000);
    }

    #[test]
    fn multiline_joins_a_stack_trace_across_reads_and_flushes_at_the_end() {
        let mut d = decoder().with_multiline(multiline(r"^\d{4}-", 1000));
        let mut b = d.line_buffer();
        b.feed(
            b"2024-06-15 ERROR boom\r\n\tat a.B(B.java:1)\n\tat c.",
            &mut d,
            1,
        );
        b.feed(b"D(D.java:2)\n2024-06-15 INFO ok\n", &mut d, 2);
        assert_eq!(
            messages(&d.take()),
            ["2024-06-15 ERROR boom\n\tat a.B(B.java:1)\n\tat c.D(D.java:2)"]
        );
        b.feed(b"  continued", &mut d, 3);
        assert!(d.take().is_empty(), "the last record waits for more lines");
        b.finish(&mut d, 4);
        let batch = d.take();
        assert_eq!(messages(&batch), ["2024-06-15 INFO ok\n  continued"]);
        assert_eq!(
            batch[0].time, 2,
            "a record has the time its first line was read"
        );
        assert_eq!(d.metrics().events.get(), 2);
    }

    #[test]
    fn multiline_cuts_are_counted() {
        let mut d = decoder().with_multiline(multiline("^start", 2));
        let mut b = d.line_buffer();
        b.feed(b"start\na\nb\nc\n", &mut d, 1);
        b.finish(&mut d, 1);
        assert_eq!(messages(&d.take()), ["start\na", "b\nc"]);
        assert_eq!(d.metrics().multiline_cuts.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_record_is_flushed_after_the_timeout_and_not_before() {
        let mut d = decoder().with_multiline(multiline("^start", 1000));
        let mut b = d.line_buffer();
        assert_eq!(b.record_deadline(), None);
        b.feed(b"start\n  more\n", &mut d, 1);
        let due = b.record_deadline().unwrap();
        tokio::time::advance(Duration::from_millis(999)).await;
        b.flush_if_idle(&mut d);
        assert!(d.take().is_empty());
        // Another line pushes the deadline back.
        b.feed(b"  again\n", &mut d, 1);
        assert!(b.record_deadline().unwrap() > due);
        tokio::time::advance(Duration::from_millis(999)).await;
        b.flush_if_idle(&mut d);
        assert!(d.take().is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        b.flush_if_idle(&mut d);
        assert_eq!(messages(&d.take()), ["start\n  more\n  again"]);
        assert_eq!(b.record_deadline(), None);
    }
}
