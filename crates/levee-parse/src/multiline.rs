//! Joining lines into multi-line records, such as a log line followed by
//! its stack trace.
//!
//! A [`Multiline`] rule says which lines start a record (a regex, compiled
//! once); a [`Joiner`] applies it to one stream of lines (one per file):
//! lines that do not start a record are appended, after a `\n`, to the
//! record before them. A record is complete when the next first line
//! comes, when the source flushes it (at the end of input, or after a quiet
//! spell), or when it reaches `max_lines` or `max_bytes`: then it is cut,
//! and what follows starts a new record marked as cut, so nothing is lost
//! and no record grows without bound.

use regex::bytes::Regex;

use crate::ParserConfigError;

/// A compiled multiline rule, cheap to clone (the regex is shared).
#[derive(Clone, Debug)]
pub struct Multiline {
    first_line: Regex,
    max_lines: usize,
    max_bytes: usize,
}

impl Multiline {
    /// `first_line` is a regex (Rust `regex` syntax, matched against the
    /// line's bytes) that matches the lines that start a record, such as
    /// `^\d{4}-\d{2}-\d{2} ` or `^\S`. `max_lines` and `max_bytes` bound a
    /// record; both must be at least 1.
    pub fn new(
        first_line: &str,
        max_lines: usize,
        max_bytes: usize,
    ) -> Result<Multiline, ParserConfigError> {
        let first_line = Regex::new(first_line)
            .map_err(|e| ParserConfigError::InvalidFirstLine(e.to_string()))?;
        if max_lines == 0 || max_bytes == 0 {
            return Err(ParserConfigError::InvalidFirstLine(
                "max_lines and max_bytes must be at least 1".into(),
            ));
        }
        Ok(Multiline {
            first_line,
            max_lines,
            max_bytes,
        })
    }

    /// Whether `line` starts a record.
    pub fn is_first_line(&self, line: &[u8]) -> bool {
        self.first_line.is_match(line)
    }

    /// A joiner for one stream of lines.
    pub fn joiner(&self) -> Joiner {
        Joiner {
            rule: self.clone(),
            buf: Vec::new(),
            lines: 0,
            stamp: 0,
        }
    }
}

/// A record a [`Joiner`] completed.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined<'a> {
    /// The record's lines, joined by `\n`.
    pub text: &'a [u8],
    /// The stamp given with the record's first line (sources pass the
    /// time it was read).
    pub stamp: i64,
    /// True when the record was ended by `max_lines` or `max_bytes`; the
    /// next record holds the rest.
    pub cut: bool,
}

/// Joins the lines of one stream into records by a [`Multiline`] rule.
/// Holds at most `max_bytes` between calls.
#[derive(Clone, Debug)]
pub struct Joiner {
    rule: Multiline,
    /// The pending record.
    buf: Vec<u8>,
    /// Lines in the pending record; 0 when there is none.
    lines: usize,
    stamp: i64,
}

impl Joiner {
    /// Adds one line (without its newline), stamped with `stamp`; hands
    /// each record this completes to `emit`.
    ///
    /// A line that does not start a record, when none is pending (the
    /// stream began mid-record), starts one of its own: it is joined with
    /// the continuation lines after it, never dropped, and never glued to
    /// the record that follows.
    pub fn push(&mut self, line: &[u8], stamp: i64, emit: &mut impl FnMut(Joined<'_>)) {
        if self.lines > 0 {
            if self.rule.is_first_line(line) {
                self.emit(false, emit);
            } else if self.lines >= self.rule.max_lines
                || self.buf.len() + 1 + line.len() > self.rule.max_bytes
            {
                self.emit(true, emit);
            }
        }
        if self.lines == 0 {
            self.stamp = stamp;
        } else {
            self.buf.push(b'\n');
        }
        let mut rest = line;
        // Only a line longer than max_bytes on its own is split.
        while self.buf.len() + rest.len() > self.rule.max_bytes {
            let room = self.rule.max_bytes - self.buf.len();
            let (head, tail) = rest.split_at(room);
            self.buf.extend_from_slice(head);
            self.lines = self.lines.max(1);
            self.emit(true, emit);
            self.stamp = stamp;
            rest = tail;
        }
        self.buf.extend_from_slice(rest);
        self.lines += 1;
    }

    /// Hands the pending record, if any, to `emit`: at the end of input,
    /// or when no line came for a while.
    pub fn flush(&mut self, emit: &mut impl FnMut(Joined<'_>)) {
        if self.lines > 0 {
            self.emit(false, emit);
        }
    }

    /// Whether a record is pending.
    pub fn is_pending(&self) -> bool {
        self.lines > 0
    }

    /// Bytes held in the pending record.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    fn emit(&mut self, cut: bool, emit: &mut impl FnMut(Joined<'_>)) {
        emit(Joined {
            text: &self.buf,
            stamp: self.stamp,
            cut,
        });
        self.buf.clear();
        self.lines = 0;
        // Don't keep a large buffer around after one huge record.
        if self.buf.capacity() > 64 * 1024 {
            self.buf.shrink_to(64 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `lines` through a joiner; returns each record as text, with
    /// `✂` after a cut one, and each record's stamp.
    fn join(rule: &Multiline, lines: &[&str]) -> Vec<(String, i64)> {
        let mut joiner = rule.joiner();
        let mut out = Vec::new();
        let mut emit = |j: Joined<'_>| {
            let mut text = String::from_utf8_lossy(j.text).into_owned();
            if j.cut {
                text.push('✂');
            }
            out.push((text, j.stamp));
        };
        for (i, line) in lines.iter().enumerate() {
            joiner.push(line.as_bytes(), i as i64, &mut emit);
        }
        joiner.flush(&mut emit);
        assert!(!joiner.is_pending());
        out
    }

    fn dated() -> Multiline {
        Multiline::new(r"^\d{4}-\d{2}-\d{2} ", 1000, 1 << 20).unwrap()
    }

    #[test]
    fn java_stack_trace() {
        let lines = [
            "2024-06-15 12:00:00 ERROR Request failed",
            "java.lang.IllegalStateException: boom",
            "\tat com.example.Service.run(Service.java:42)",
            "\tat java.base/java.lang.Thread.run(Thread.java:833)",
            "Caused by: java.io.IOException: disk",
            "\t... 2 more",
            "2024-06-15 12:00:01 INFO next",
        ];
        let records = join(&dated(), &lines);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, lines[..6].join("\n"));
        assert_eq!(records[0].1, 0);
        assert_eq!(records[1], (lines[6].to_owned(), 6));
    }

    #[test]
    fn python_traceback() {
        // Python's logging puts the traceback after the message line.
        let rule = Multiline::new(r"^(INFO|ERROR|WARNING):", 1000, 1 << 20).unwrap();
        let lines = [
            "ERROR:root:failed",
            "Traceback (most recent call last):",
            "  File \"app.py\", line 3, in <module>",
            "    1 / 0",
            "ZeroDivisionError: division by zero",
            "INFO:root:recovered",
        ];
        let records = join(&rule, &lines);
        assert_eq!(
            records.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            [lines[..5].join("\n").as_str(), lines[5]]
        );
    }

    #[test]
    fn continuation_before_any_first_line_is_its_own_record() {
        let records = join(
            &dated(),
            &[
                "\tat a.B(B.java:1)",
                "\tat c.D(D.java:2)",
                "2024-06-15 12:00:00 x",
                "y",
            ],
        );
        assert_eq!(
            records,
            [
                ("\tat a.B(B.java:1)\n\tat c.D(D.java:2)".to_owned(), 0),
                ("2024-06-15 12:00:00 x\ny".to_owned(), 2),
            ]
        );
    }

    #[test]
    fn max_lines_cuts_and_the_rest_starts_a_record() {
        let rule = Multiline::new(r"^start", 3, 1 << 20).unwrap();
        let records = join(&rule, &["start", "a", "b", "c", "d", "start"]);
        assert_eq!(
            records,
            [
                ("start\na\nb✂".to_owned(), 0),
                ("c\nd".to_owned(), 3),
                ("start".to_owned(), 5),
            ]
        );
    }

    #[test]
    fn max_bytes_cuts_at_a_line_and_splits_only_a_line_too_long_alone() {
        let rule = Multiline::new(r"^s", 1000, 8).unwrap();
        let records = join(&rule, &["s1234", "abc", "0123456789abcdefghij", "x"]);
        assert_eq!(
            records,
            [
                ("s1234✂".to_owned(), 0),
                ("abc✂".to_owned(), 1),
                ("01234567✂".to_owned(), 2),
                ("89abcdef✂".to_owned(), 2),
                ("ghij\nx".to_owned(), 2),
            ]
        );
        for (text, _) in &records {
            assert!(text.trim_end_matches('✂').len() <= 8, "{text}");
        }
    }

    #[test]
    fn empty_lines_are_kept_inside_a_record() {
        let records = join(&dated(), &["2024-06-15 12:00:00 x", "", "y", ""]);
        assert_eq!(records, [("2024-06-15 12:00:00 x\n\ny\n".to_owned(), 0)]);
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(matches!(
            Multiline::new("(unclosed", 10, 10),
            Err(ParserConfigError::InvalidFirstLine(_))
        ));
        assert!(Multiline::new("^x", 0, 10).is_err());
        assert!(Multiline::new("^x", 10, 0).is_err());
    }

    proptest::proptest! {
        /// Whatever the lines and limits: every byte comes out once, in
        /// order, and no record passes the limits.
        #[test]
        fn nothing_is_lost_and_limits_hold(
            lines in proptest::collection::vec("[a-c\t ]{0,12}", 0..40),
            max_lines in 1usize..6,
            max_bytes in 1usize..24,
        ) {
            let rule = Multiline::new("^a", max_lines, max_bytes).unwrap();
            let mut joiner = rule.joiner();
            let mut records: Vec<(Vec<u8>, bool)> = Vec::new();
            let mut emit = |j: Joined<'_>| records.push((j.text.to_vec(), j.cut));
            for line in &lines {
                joiner.push(line.as_bytes(), 0, &mut emit);
                proptest::prop_assert!(joiner.pending_bytes() <= max_bytes);
            }
            joiner.flush(&mut emit);
            let original = lines.join("\n");
            let mut rebuilt = Vec::new();
            for (i, (text, _)) in records.iter().enumerate() {
                proptest::prop_assert!(text.len() <= max_bytes);
                proptest::prop_assert!(text.split(|b| *b == b'\n').count() <= max_lines);
                rebuilt.extend_from_slice(text);
                // Records end at a line's end, except a line split for
                // being longer than max_bytes.
                if i + 1 < records.len() && original.as_bytes().get(rebuilt.len()) == Some(&b'\n') {
                    rebuilt.push(b'\n');
                }
            }
            proptest::prop_assert_eq!(String::from_utf8_lossy(&rebuilt), original);
        }
    }
}
