//! What each nginx variable's text becomes in the record.
//!
//! Variables are strings unless listed here. A variable with no value is
//! null whatever its type: nginx writes one as `-`, or as nothing with
//! `escape=json`, so both a lone `-` and an empty text become
//! [`Value::Null`]. The exception is `$request`, which always has a value:
//! its empty text is an empty request line (a client that sent nothing,
//! answered 400), kept as `""`.
//!
//! nginx writes the `$upstream_*` variables as lists when a request tried
//! several upstreams: `, ` between the servers of one group and ` : `
//! between groups after an internal redirect, with `-` for a server that
//! gave no answer (`0.012, - : 0.004`). Each such variable keeps one type:
//! times and byte counts are summed over the list (the time or bytes spent
//! upstream in all), `$upstream_status` is the last status (the answer that
//! was used), and `-` entries are skipped (all `-` is null). So that nothing
//! is dropped, a value that lists more than one upstream is also kept whole,
//! as text, in a field named after the variable with `_list` added
//! (`upstream_status_list`), which is absent for a single upstream.

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
    /// Seconds with a fraction.
    Float,
    /// Upstream times in seconds, one per upstream tried: their sum.
    UpstreamTimes,
    /// Upstream byte counts, one per upstream tried: their sum.
    UpstreamCounts,
    /// `$upstream_status`, one per upstream tried: the last.
    UpstreamStatus,
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
            "request_time" => FieldKind::Float,
            "upstream_response_time"
            | "upstream_connect_time"
            | "upstream_header_time"
            | "upstream_queue_time" => FieldKind::UpstreamTimes,
            "upstream_bytes_received" | "upstream_bytes_sent" | "upstream_response_length" => {
                FieldKind::UpstreamCounts
            }
            "upstream_status" => FieldKind::UpstreamStatus,
            "time_local" => FieldKind::TimeLocal,
            "time_iso8601" => FieldKind::TimeIso8601,
            "msec" => FieldKind::Msec,
            "request" => FieldKind::Request,
            _ => FieldKind::Str,
        }
    }

    /// How many record entries a field of this kind adds, at most.
    pub(super) fn entries(self) -> usize {
        match self {
            FieldKind::Request => 5,
            _ if self.is_list() => 2,
            _ => 1,
        }
    }

    /// True for the upstream variables that nginx writes as lists.
    pub(super) fn is_list(self) -> bool {
        matches!(
            self,
            FieldKind::UpstreamTimes | FieldKind::UpstreamCounts | FieldKind::UpstreamStatus
        )
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
    /// with nothing to check or decode. With `escape=none`, the line when
    /// it is UTF-8, backslashes and all.
    pub(super) line: Option<&'a str>,
    /// The log was written with `escape=none`: strings are as they are.
    pub(super) unescaped: bool,
}

impl<'a> Sink<'a> {
    /// Converts `raw` (the field's bytes, found at `position` in the line)
    /// and stores it under `name`; `list` names the field that keeps an
    /// upstream list whole.
    ///
    /// A time that does not parse leaves the event time unset and adds
    /// nothing to the record: the text is kept, and the source falls back
    /// to the time of ingest.
    pub(super) fn store(
        &mut self,
        name: &Text,
        kind: FieldKind,
        list: Option<&Text>,
        raw: &[u8],
        position: usize,
    ) -> Result<(), ParseError> {
        // Each arm stores its own value: one shared `put` after the match
        // made every value a stack temporary, copied with loads wider than
        // the stores that wrote it (a stall per field).
        match kind {
            FieldKind::Request => {
                let lossy;
                let text = match self.text_at(position, raw) {
                    None if self.unescaped => {
                        lossy = String::from_utf8_lossy(raw);
                        Some(&*lossy)
                    }
                    text => text,
                };
                store_request(self.record, self.distinct, name, raw, text);
            }
            _ if raw.is_empty() || raw == b"-" => self.put(name, Value::Null),
            FieldKind::Str => {
                let text = self.string(position, raw);
                self.put(name, Value::String(text));
            }
            FieldKind::Int => {
                let n = parse_int(raw).ok_or_else(|| invalid(name, "an integer", raw, position))?;
                self.put(name, Value::Int(n));
            }
            FieldKind::Float => {
                let seconds = parse_float(raw)
                    .ok_or_else(|| invalid(name, "seconds such as 0.005", raw, position))?;
                self.put(name, Value::Float(seconds));
            }
            FieldKind::UpstreamTimes => {
                let seconds = sum_seconds(raw)
                    .map_err(|()| invalid(name, "seconds such as 0.005", raw, position))?;
                self.put(name, seconds.map_or(Value::Null, Value::Float));
                self.put_list(list, raw, position);
            }
            FieldKind::UpstreamCounts => {
                let bytes =
                    sum_counts(raw).map_err(|()| invalid(name, "byte counts", raw, position))?;
                self.put(name, bytes.map_or(Value::Null, Value::Int));
                self.put_list(list, raw, position);
            }
            FieldKind::UpstreamStatus => {
                let status =
                    last_status(raw).map_err(|()| invalid(name, "status codes", raw, position))?;
                self.put(name, status.map_or(Value::Null, Value::Int));
                self.put_list(list, raw, position);
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
        let text = self.string(position, raw);
        self.put(name, Value::String(text));
    }

    /// Keeps an upstream list whole, when it lists more than one upstream.
    fn put_list(&mut self, list: Option<&Text>, raw: &[u8], position: usize) {
        if let Some(list) = list.filter(|_| memchr::memchr2(b',', b':', raw).is_some()) {
            let text = self.string(position, raw);
            self.put(list, Value::String(text));
        }
    }

    /// A string field's text: cut from the line when it is plain, else
    /// decoded (or, with `escape=none`, taken as it is).
    #[inline]
    fn string(&self, position: usize, raw: &[u8]) -> Text {
        match self.text_at(position, raw) {
            Some(text) => Text::from(text),
            None if self.unescaped => Text::from_utf8_lossy(raw),
            None => decode_known(raw, None),
        }
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
    let (digits, scale) = decimal_parts(raw)?;
    // Both exact, as said above: below 2^53.
    Some(digits as f64 / POWERS_OF_TEN[scale])
}

/// A short decimal as its digits and the number of them after the dot:
/// `0.076` is (76, 3). `None` as for [`short_decimal`].
fn decimal_parts(raw: &[u8]) -> Option<(u64, usize)> {
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
    Some((digits, scale))
}

/// The entries of an upstream list (`0.001, 0.002 : -`) other than `-`.
fn entries(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b',' || b == b':')
        .map(<[u8]>::trim_ascii)
        .filter(|item| *item != b"-")
}

/// The sum of a list of seconds; `None` when every entry is `-`.
///
/// Summed as decimals, so `0.1, 0.2` is 0.3 as written rather than the
/// 0.30000000000000004 of adding floats; only numbers too long for that
/// (never written by nginx, which gives milliseconds) are added as floats.
fn sum_seconds(raw: &[u8]) -> Result<Option<f64>, ()> {
    let (mut total, mut scale, mut exact) = (0u64, 0usize, true);
    let mut float_total = None::<f64>;
    for item in entries(raw) {
        let seconds = parse_float(item).ok_or(())?;
        float_total = Some(float_total.unwrap_or(0.0) + seconds);
        let Some((digits, digits_scale)) = decimal_parts(item).filter(|_| exact) else {
            exact = false;
            continue;
        };
        // Both at the larger scale; POWERS_OF_TEN covers every short scale.
        let (new_scale, up_total, up_digits) = if digits_scale > scale {
            (digits_scale, POWERS_OF_TEN[digits_scale - scale] as u64, 1)
        } else {
            (scale, 1, POWERS_OF_TEN[scale - digits_scale] as u64)
        };
        match total
            .checked_mul(up_total)
            .zip(digits.checked_mul(up_digits))
            .and_then(|(t, d)| t.checked_add(d))
        {
            Some(sum) => (total, scale) = (sum, new_scale),
            None => exact = false,
        }
    }
    // Below 2^53 the integer is an exact f64, so one division rounds once.
    Ok(match float_total {
        Some(_) if exact && total < 1 << 53 => Some(total as f64 / POWERS_OF_TEN[scale]),
        other => other,
    })
}

/// The sum of a list of byte counts; `None` when every entry is `-`.
fn sum_counts(raw: &[u8]) -> Result<Option<i64>, ()> {
    entries(raw).try_fold(None, |total: Option<i64>, item| {
        let n = parse_int(item).ok_or(())?;
        total.unwrap_or(0).checked_add(n).map(Some).ok_or(())
    })
}

/// The last status of a list, the one whose answer was used; `None` when
/// every entry is `-`.
fn last_status(raw: &[u8]) -> Result<Option<i64>, ()> {
    entries(raw).try_fold(None, |_, item| parse_int(item).map(Some).ok_or(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        assert_eq!(FieldKind::of("status"), FieldKind::Int);
        assert_eq!(FieldKind::of("request_time"), FieldKind::Float);
        assert_eq!(
            FieldKind::of("upstream_header_time"),
            FieldKind::UpstreamTimes
        );
        assert_eq!(FieldKind::of("upstream_status"), FieldKind::UpstreamStatus);
        assert_eq!(FieldKind::of("http_user_agent"), FieldKind::Str);
        assert_eq!(FieldKind::of("request"), FieldKind::Request);
    }

    #[test]
    fn upstream_lists_are_summed_or_give_their_last_status() {
        assert_eq!(sum_seconds(b"0.005"), Ok(Some(0.005)));
        assert_eq!(sum_seconds(b"0.001, 0.002"), Ok(Some(0.003)));
        assert_eq!(sum_seconds(b"0.001, 0.002 : 0.010"), Ok(Some(0.013)));
        assert_eq!(sum_seconds(b"0.1, 0.2"), Ok(Some(0.3)));
        assert_eq!(sum_seconds(b"1.5, 0.25"), Ok(Some(1.75)));
        assert_eq!(sum_seconds(b"0.003, -"), Ok(Some(0.003)));
        assert_eq!(sum_seconds(b"-, -"), Ok(None));
        // Too long for a short decimal: added as floats.
        assert_eq!(
            sum_seconds(b"0.1234567890123456789, 1"),
            Ok(Some(0.123_456_789_012_345_68 + 1.0))
        );
        for bad in [&b"0.1, x"[..], b"", b"0.1,", b"inf", b"-1"] {
            assert_eq!(sum_seconds(bad), Err(()), "{bad:?}");
        }
        assert_eq!(sum_counts(b"120, 80 : 1000"), Ok(Some(1200)));
        assert_eq!(sum_counts(b"-"), Ok(None));
        assert_eq!(sum_counts(b"9223372036854775807, 1"), Err(()));
        assert_eq!(last_status(b"502, 504 : 200"), Ok(Some(200)));
        assert_eq!(last_status(b"502, -"), Ok(Some(502)));
        assert_eq!(last_status(b"200, OK"), Err(()));
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
