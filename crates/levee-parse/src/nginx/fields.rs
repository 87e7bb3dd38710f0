//! What each nginx variable's text becomes in the record.
//!
//! Variables are strings unless listed here. A lone `-` (nginx's "no
//! value") becomes [`Value::Null`] whatever the type.

use levee_event::{Record, Text, Value};

use crate::access_log::escape::decode_known;
use crate::access_log::fields::{parse_int, put, store_request};
use crate::error::{ParseError, ParseErrorReason, excerpt};
use crate::time::{parse_epoch, parse_iso8601, parse_time_local};

/// How a variable's text is turned into values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldKind {
    /// Text, with nginx's escapes decoded.
    Str,
    /// A byte count or status code.
    Int,
    /// Seconds with a fraction. nginx writes one number per upstream tried
    /// (`0.001, 0.002`, or `0.001 : 0.002` across upstream groups): the last
    /// number is kept, since it belongs to the upstream that answered.
    Float,
    /// `$time_local`: kept as text, and the event time.
    TimeLocal,
    /// `$time_iso8601`: kept as text, and the event time.
    TimeIso8601,
    /// `$msec` (`1538400000.123`): kept as a float, and the event time.
    Msec,
    /// `$request`: kept as text, and split into method, path, query, protocol.
    Request,
}

impl FieldKind {
    /// The kind of an nginx variable, by name.
    pub(super) fn of(name: &str) -> FieldKind {
        match name {
            "status" | "body_bytes_sent" | "bytes_sent" | "request_length" => FieldKind::Int,
            "request_time"
            | "upstream_response_time"
            | "upstream_connect_time"
            | "upstream_header_time" => FieldKind::Float,
            "time_local" => FieldKind::TimeLocal,
            "time_iso8601" => FieldKind::TimeIso8601,
            "msec" => FieldKind::Msec,
            "request" => FieldKind::Request,
            _ => FieldKind::Str,
        }
    }

    /// How many record entries a field of this kind adds.
    pub(super) fn entries(self) -> usize {
        if self == FieldKind::Request { 5 } else { 1 }
    }
}

/// Where one field's text lands.
pub(super) struct Sink<'a> {
    pub(super) record: &'a mut Record,
    /// The first event time a time variable yielded.
    pub(super) time: &'a mut Option<i64>,
    /// The format's record names are all distinct (see [`put`]).
    pub(super) distinct: bool,
    /// The whole line, when it is UTF-8 and has no backslash (nearly
    /// always: nginx escapes other bytes, and writes a backslash only in an
    /// escape). Checked once, so that a field cut from it is its own text,
    /// with nothing to check or decode.
    pub(super) line: Option<&'a str>,
}

impl<'a> Sink<'a> {
    /// Converts `raw` (the field's bytes, found at `position` in the line)
    /// and stores it under `name`.
    ///
    /// A time that does not parse leaves the event time unset and adds
    /// nothing to the record: the text is kept, and the source falls back
    /// to the time of ingest.
    pub(super) fn store(
        &mut self,
        name: &Text,
        kind: FieldKind,
        raw: &[u8],
        position: usize,
    ) -> Result<(), ParseError> {
        // Each arm stores its own value: one shared `put` after the match
        // made every value a stack temporary, copied with loads wider than
        // the stores that wrote it (a stall per field).
        match kind {
            FieldKind::Request => {
                let text = self.text_at(position, raw);
                store_request(self.record, self.distinct, name, raw, text);
            }
            _ if raw == b"-" => self.put(name, Value::Null),
            FieldKind::Str => {
                let text = self.text_at(position, raw);
                self.put(name, Value::String(decode_known(raw, text)));
            }
            FieldKind::Int => {
                let n = parse_int(raw).ok_or_else(|| invalid(name, "an integer", raw, position))?;
                self.put(name, Value::Int(n));
            }
            FieldKind::Float => {
                match last_number(raw)
                    .map_err(|()| invalid(name, "seconds such as 0.005", raw, position))?
                {
                    Some(seconds) => self.put(name, Value::Float(seconds)),
                    None => self.put(name, Value::Null),
                }
            }
            FieldKind::TimeLocal => self.time_text(name, raw, position, parse_time_local),
            FieldKind::TimeIso8601 => self.time_text(name, raw, position, parse_iso8601),
            FieldKind::Msec => {
                let seconds = parse_float(raw)
                    .ok_or_else(|| invalid(name, "epoch seconds", raw, position))?;
                if self.time.is_none() {
                    *self.time = parse_epoch(raw);
                }
                self.put(name, Value::Float(seconds));
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn put(&mut self, name: &Text, value: Value) {
        put(self.record, self.distinct, name, value);
    }

    fn time_text(
        &mut self,
        name: &Text,
        raw: &[u8],
        position: usize,
        parse: fn(&[u8]) -> Option<i64>,
    ) {
        if self.time.is_none() {
            *self.time = parse(raw);
        }
        let text = self.text_at(position, raw);
        self.put(name, Value::String(decode_known(raw, text)));
    }

    /// `raw`, found at `position`, as text cut from the line, if the line
    /// is plain (see [`Sink::line`]).
    #[inline]
    fn text_at(&self, position: usize, raw: &[u8]) -> Option<&'a str> {
        self.line?.get(position..position + raw.len())
    }
}

fn invalid(name: &str, expected: &'static str, raw: &[u8], position: usize) -> ParseError {
    ParseError::new(
        position,
        ParseErrorReason::InvalidField {
            field: name.to_owned(),
            expected,
            found: excerpt(raw),
        },
    )
}

fn parse_float(raw: &[u8]) -> Option<f64> {
    if let Some(seconds) = short_decimal(raw) {
        return Some(seconds);
    }
    // Only digits and a dot: refuses `inf`, `nan` and exponents nginx never writes.
    if raw.is_empty() || !raw.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Powers of ten that an f64 holds exactly, up to [`SHORT_DECIMAL_LEN`].
const POWERS_OF_TEN: [f64; SHORT_DECIMAL_LEN + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Digits an f64 holds exactly, whatever they are.
const SHORT_DECIMAL_LEN: usize = 15;

/// `0.076` or `1538400000.123`, the numbers nginx writes, without the
/// general parser. With 15 digits at most, the digits as an integer and
/// the power of ten are exact f64s, so one division rounds once: it gives
/// the nearest f64 to the decimal, as the general parser does. `None` for
/// anything else (longer, two dots, no digit), left to that parser.
fn short_decimal(raw: &[u8]) -> Option<f64> {
    if raw.len() > SHORT_DECIMAL_LEN {
        return None;
    }
    let (mut digits, mut dot) = (0u64, None);
    for (at, &b) in raw.iter().enumerate() {
        match b {
            b'0'..=b'9' => digits = digits * 10 + u64::from(b - b'0'),
            b'.' if dot.is_none() => dot = Some(at),
            _ => return None,
        }
    }
    if raw.is_empty() || raw == b"." {
        return None;
    }
    let scale = dot.map_or(0, |at| raw.len() - at - 1);
    // Both exact, as said above: below 2^53.
    Some(digits as f64 / POWERS_OF_TEN[scale])
}

/// The last number of a list such as `0.001, 0.002 : -`; `-` entries (an
/// upstream that gave no answer) are skipped, and a list of only `-` is
/// `None`.
fn last_number(raw: &[u8]) -> Result<Option<f64>, ()> {
    let mut last = None;
    for item in raw.split(|&b| b == b',' || b == b':') {
        let item = item.trim_ascii();
        if item != b"-" {
            last = Some(parse_float(item).ok_or(())?);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        assert_eq!(FieldKind::of("status"), FieldKind::Int);
        assert_eq!(FieldKind::of("upstream_header_time"), FieldKind::Float);
        assert_eq!(FieldKind::of("http_user_agent"), FieldKind::Str);
        assert_eq!(FieldKind::of("request"), FieldKind::Request);
    }

    #[test]
    fn upstream_lists_keep_the_last_number() {
        assert_eq!(last_number(b"0.005"), Ok(Some(0.005)));
        assert_eq!(last_number(b"0.001, 0.002"), Ok(Some(0.002)));
        assert_eq!(last_number(b"0.001, 0.002 : 0.010"), Ok(Some(0.010)));
        assert_eq!(last_number(b"0.003, -"), Ok(Some(0.003)));
        assert_eq!(last_number(b"-, -"), Ok(None));
        assert_eq!(last_number(b"0.1, x"), Err(()));
        assert_eq!(last_number(b""), Err(()));
        assert_eq!(last_number(b"inf"), Err(()));
    }

    #[test]
    fn short_decimals_read_as_the_general_parser_reads_them() {
        for text in [
            "0.076",
            "0.1",
            "0.3",
            "1",
            "0",
            "000.000",
            "5.",
            ".5",
            "123456789012345",
            "1234567890123.5",
            "0.0000000000001",
            "1538400000.123",
            "90071992547.993",
        ] {
            let want: f64 = text.parse().unwrap();
            assert_eq!(short_decimal(text.as_bytes()), Some(want), "{text}");
            assert_eq!(parse_float(text.as_bytes()), Some(want), "{text}");
        }
        for text in ["", ".", "1.2.3", "-1", "1e5", "inf", "0x10", "1,5", " 1"] {
            assert_eq!(short_decimal(text.as_bytes()), None, "{text}");
        }
        // Past 15 characters the general parser takes over.
        assert_eq!(short_decimal(b"1234567890123456"), None);
        assert_eq!(
            parse_float(b"1234567890123456"),
            Some(1_234_567_890_123_456.0)
        );
        assert_eq!(
            parse_float(b"0.1234567890123456789"),
            Some(0.123_456_789_012_345_68)
        );
    }

    proptest::proptest! {
        #[test]
        fn short_decimals_match_the_general_parser(text in "[0-9]{0,8}\\.?[0-9]{0,8}") {
            let want = text.parse::<f64>().ok();
            proptest::prop_assert_eq!(parse_float(text.as_bytes()), want);
        }
    }
}
