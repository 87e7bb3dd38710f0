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

/// Longest line kept whole by default (`max_line_bytes` of a `tail`
/// source; stdin's limit). A longer one goes to `@ERROR`, cut to this length.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Where an event's line came from: a replayable stream (a tailed file) and
/// the byte offset its (first) line starts at.
pub(crate) use levee_event::Origin;

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

    /// A buffer for one stream of bytes that cannot be read again (stdin),
    /// joining lines into records if the source has a multiline rule.
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

    /// A buffer for a replayable stream (a tailed file) read from
    /// `offset` on: its events carry their [`Origin`] in `stream`.
    pub(crate) fn line_buffer_from(&self, stream: u64, offset: u64, max_line: usize) -> LineBuffer {
        LineBuffer {
            stream: Some(stream),
            next: offset,
            line_start: offset,
            max_line,
            ..self.line_buffer()
        }
    }

    /// Parses one line (its newline already cut off) into the pending batch.
    ///
    /// The time of ingest is also "now" for times written without a year.
    pub(crate) fn push_line(&mut self, line: &[u8], ingest_time: i64) {
        self.push_line_from(line, ingest_time, None);
    }

    /// [`push_line`](Self::push_line) for a line from a replayable stream.
    pub(crate) fn push_line_from(&mut self, line: &[u8], ingest_time: i64, origin: Option<Origin>) {
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
                self.batch.push(with_origin(
                    Event::new(
                        self.tag.clone(),
                        parsed.time.unwrap_or(ingest_time),
                        parsed.record,
                    ),
                    origin,
                ));
            }
            Err(err) => {
                let reason = err.to_string();
                self.push_error(line, &reason, Some(err.position), ingest_time, origin);
            }
        }
    }

    /// Parses a record a multiline joiner completed.
    fn push_record(&mut self, record: Joined<'_>, origin: Option<Origin>) {
        if record.cut {
            self.metrics.multiline_cuts.inc();
        }
        self.push_line_from(record.text, record.stamp, origin);
    }

    /// Records a line that could not be parsed or read whole.
    pub(crate) fn push_error(
        &mut self,
        raw: &[u8],
        reason: &str,
        position: Option<usize>,
        ingest_time: i64,
        origin: Option<Origin>,
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
        self.batch.push(with_origin(
            Event::new(self.error_tag.clone(), ingest_time, record),
            origin,
        ));
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
///
/// It knows the offset of every byte it is fed, so it can say where the
/// first line not yet made into an event starts ([`sent_offset`]): a
/// checkpoint never passes a partial line or a pending record.
///
/// [`sent_offset`]: LineBuffer::sent_offset
pub(crate) struct LineBuffer {
    /// The partial line, at most `max_line` bytes of it.
    buf: Vec<u8>,
    /// Bytes of the partial line past `max_line`: counted, not kept.
    cut: u64,
    /// Longest line kept whole.
    max_line: usize,
    /// The stream events' [`Origin`] names; none for stdin.
    stream: Option<u64>,
    /// Offset of the next byte to be fed.
    next: u64,
    /// Offset where the partial line starts.
    line_start: u64,
    /// Offset of the first line of the pending multiline record.
    record_start: Option<u64>,
    /// The pending record's origin offset: its first line's start, or
    /// just past it for the rest of a line the joiner split.
    record_origin: u64,
    /// Joins lines into records, when the source has a multiline rule.
    joiner: Option<Joiner>,
    /// How long a pending record waits for another line.
    flush_timeout: Duration,
    /// When the pending record got its last line (tokio's clock, so tests
    /// can pause it).
    last_line: Option<Instant>,
}

impl Default for LineBuffer {
    fn default() -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            cut: 0,
            max_line: MAX_LINE_BYTES,
            stream: None,
            next: 0,
            line_start: 0,
            record_start: None,
            record_origin: 0,
            joiner: None,
            flush_timeout: Duration::ZERO,
            last_line: None,
        }
    }
}

impl LineBuffer {
    /// Adds bytes and hands every complete line to `decoder`.
    pub(crate) fn feed(&mut self, bytes: &[u8], decoder: &mut LineDecoder, ingest_time: i64) {
        let mut rest = bytes;
        let mut at = self.next;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (head, tail) = (&rest[..nl], &rest[nl + 1..]);
            let end = at + nl as u64 + 1;
            if self.cut > 0 || self.buf.len() + head.len() > self.max_line {
                self.keep(head);
                self.cut_line(decoder, ingest_time);
            } else if self.buf.is_empty() {
                // The common case: the whole line is in this read; no copy.
                self.line(head, decoder, ingest_time);
            } else {
                self.buf.extend_from_slice(head);
                let line = std::mem::take(&mut self.buf);
                self.line(&line, decoder, ingest_time);
                self.buf = line;
                self.buf.clear();
            }
            self.line_start = end;
            rest = tail;
            at = end;
        }
        self.keep(rest);
        self.next = at + rest.len() as u64;
    }

    /// Adds to the partial line up to `max_line` bytes; counts the rest.
    fn keep(&mut self, bytes: &[u8]) {
        let room = self.max_line.saturating_sub(self.buf.len());
        let kept = bytes.len().min(room);
        self.buf.extend_from_slice(&bytes[..kept]);
        self.cut += (bytes.len() - kept) as u64;
    }

    /// The partial line was longer than `max_line`: its first `max_line`
    /// bytes go to `@ERROR`, with how many were cut.
    fn cut_line(&mut self, decoder: &mut LineDecoder, ingest_time: i64) {
        let reason = format!(
            "line of {} bytes longer than {}; kept its first {}, cut {}",
            self.buf.len() as u64 + self.cut,
            self.max_line,
            self.buf.len(),
            self.cut
        );
        let origin = self.origin(self.line_start);
        decoder.push_error(&self.buf, &reason, None, ingest_time, origin);
        self.buf.clear();
        self.cut = 0;
    }

    fn origin(&self, offset: u64) -> Option<Origin> {
        self.stream.map(|stream| Origin { stream, offset })
    }

    /// One complete line, starting at `line_start`: parsed, or joined into
    /// the pending record.
    fn line(&mut self, line: &[u8], decoder: &mut LineDecoder, ingest_time: i64) {
        let start = self.line_start;
        let Some(joiner) = &mut self.joiner else {
            let origin = self.origin(start);
            decoder.push_line_from(line, ingest_time, origin);
            return;
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let stream = self.stream;
        let was_pending = joiner.is_pending();
        // The first record this line completes is the pending one, which
        // began at `record_origin`; any more (a line split at max_bytes)
        // are pieces of this line, each given an offset of its own in it.
        let (mut old, mut pieces, mut any) = (was_pending, 0u64, false);
        let pending_origin = self.record_origin;
        joiner.push(line, ingest_time, &mut |record| {
            let offset = if old {
                old = false;
                pending_origin
            } else {
                pieces += 1;
                start + pieces - 1
            };
            any = true;
            decoder.push_record(record, stream.map(|stream| Origin { stream, offset }));
        });
        if joiner.is_pending() {
            if any || !was_pending {
                self.record_start = Some(start);
                self.record_origin = start + pieces;
            }
            self.last_line = Some(Instant::now());
        } else {
            self.record_start = None;
            self.last_line = None;
        }
    }

    /// At the end of input: a last line without a newline is still a line,
    /// and a pending multiline record is complete.
    pub(crate) fn finish(&mut self, decoder: &mut LineDecoder, ingest_time: i64) {
        if self.cut > 0 {
            self.cut_line(decoder, ingest_time);
        } else if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, decoder, ingest_time);
        }
        self.buf.clear();
        self.line_start = self.next;
        self.flush_record(decoder);
    }

    /// Parses the pending multiline record, if any.
    pub(crate) fn flush_record(&mut self, decoder: &mut LineDecoder) {
        if let Some(joiner) = &mut self.joiner {
            let origin = self.stream.map(|stream| Origin {
                stream,
                offset: self.record_origin,
            });
            joiner.flush(&mut |record| decoder.push_record(record, origin));
        }
        self.record_start = None;
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

    /// Bytes held: a partial line and a pending multiline record.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() + self.joiner.as_ref().map_or(0, Joiner::pending_bytes)
    }

    /// Where the first line not yet made into an event starts: every line
    /// before it is in the decoder's batch or was sent.
    pub(crate) fn sent_offset(&self) -> u64 {
        self.record_start.unwrap_or(self.line_start)
    }

    /// Offset of the next byte to be fed: what was read of the stream.
    pub(crate) fn read_offset(&self) -> u64 {
        self.next
    }
}

/// Sets an event's origin, when it has one.
fn with_origin(event: Event, origin: Option<Origin>) -> Event {
    match origin {
        Some(origin) => event.with_origin(origin),
        None => event,
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

    fn offsets(batch: &Batch) -> Vec<u64> {
        batch.iter().map(|e| e.origin.unwrap().offset).collect()
    }

    #[test]
    fn the_sent_offset_never_passes_a_partial_line_or_a_pending_record() {
        let mut d = decoder().with_multiline(multiline("^start", 1000));
        let mut b = d.line_buffer_from(9, 100, MAX_LINE_BYTES);
        b.feed(
            b"start a
  more
sta",
            &mut d,
            1,
        );
        assert!(d.take().is_empty());
        assert_eq!(b.sent_offset(), 100, "the record is pending");
        assert_eq!(b.read_offset(), 118);
        b.feed(
            b"rt b
", &mut d, 1,
        );
        let batch = d.take();
        assert_eq!(messages(&batch), ["start a\n  more"]);
        assert_eq!(offsets(&batch), [100]);
        assert_eq!(batch[0].origin.unwrap().stream, 9);
        assert_eq!(b.sent_offset(), 115, "where `start b` begins");
        b.flush_record(&mut d);
        assert_eq!(offsets(&d.take()), [115]);
        assert_eq!(b.sent_offset(), 123);

        // Without a rule: the end of the last whole line.
        let mut d = decoder();
        let mut b = d.line_buffer_from(9, 0, MAX_LINE_BYTES);
        b.feed(
            b"one
two
thr",
            &mut d,
            1,
        );
        assert_eq!(offsets(&d.take()), [0, 4]);
        assert_eq!(b.sent_offset(), 8);
        b.finish(&mut d, 1);
        assert_eq!(offsets(&d.take()), [8]);
        assert_eq!(b.sent_offset(), 11);
    }

    #[test]
    fn the_pieces_of_a_split_line_get_offsets_of_their_own() {
        // max_bytes 4: "abcdefghij" is three pieces, the last pending.
        let rule = Some(MultilineRule {
            rule: levee_parse::Multiline::new("^x", 1000, 4).unwrap(),
            flush_timeout: Duration::from_secs(1),
        });
        let mut d = decoder().with_multiline(rule);
        let mut b = d.line_buffer_from(1, 0, MAX_LINE_BYTES);
        b.feed(
            b"abcdefghij
",
            &mut d,
            1,
        );
        b.finish(&mut d, 1);
        let batch = d.take();
        assert_eq!(messages(&batch), ["abcd", "efgh", "ij"]);
        assert_eq!(offsets(&batch), [0, 1, 2]);
    }
}
