//! Events as newline-delimited JSON, shared by the sinks that write it.

pub mod json;

use levee_event::Event;
use levee_event::time::UtcTime;

/// Appends each event's record as one JSON line.
pub(crate) fn ndjson_records<'a>(events: impl IntoIterator<Item = &'a Event>, out: &mut Vec<u8>) {
    for event in events {
        json::write_record(&event.record, out);
        out.push(b'\n');
    }
}

/// An event time as RFC 3339 text in UTC, to the precision it has:
/// `2026-12-05T01:02:03Z`, `.123Z`, `.123456Z` or `.123456789Z`. Whole
/// groups of three digits, so that readers that take only milli- or
/// microseconds (Athena, Hive) read it exactly when it is that precise.
pub struct Rfc3339 {
    text: [u8; 30],
    len: usize,
}

impl Rfc3339 {
    /// Formats nanoseconds since the epoch. An `i64` of nanoseconds spans
    /// the years 1677 to 2262, so the year always has four digits.
    pub fn new(nanos: i64) -> Rfc3339 {
        let t = UtcTime::from_nanos(nanos);
        let mut text = [0u8; 30];
        let mut len = 0;
        let mut put = |value: u32, digits: u32, after: u8| {
            for i in (0..digits).rev() {
                text[len] = b'0' + (value / 10u32.pow(i) % 10) as u8;
                len += 1;
            }
            text[len] = after;
            len += 1;
        };
        put(t.year.clamp(0, 9999) as u32, 4, b'-');
        put(t.month, 2, b'-');
        put(t.day, 2, b'T');
        put(t.hour, 2, b':');
        put(t.minute, 2, b':');
        let (fraction, digits) = match t.nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        if digits == 0 {
            put(t.second, 2, b'Z');
        } else {
            put(t.second, 2, b'.');
            put(fraction, digits, b'Z');
        }
        Rfc3339 { text, len }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation were written.
        std::str::from_utf8(&self.text[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_rfc3339_utc_to_the_precision_they_have() {
        // 2026-12-05T01:02:03Z
        let base = 1_796_432_523 * 1_000_000_000;
        for (nanos, want) in [
            (base, "2026-12-05T01:02:03Z"),
            (base + 123_000_000, "2026-12-05T01:02:03.123Z"),
            (base + 100_000_000, "2026-12-05T01:02:03.100Z"),
            (base + 123_456_000, "2026-12-05T01:02:03.123456Z"),
            (base + 123_456_789, "2026-12-05T01:02:03.123456789Z"),
            (base + 1, "2026-12-05T01:02:03.000000001Z"),
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
            (i64::MIN, "1677-09-21T00:12:43.145224192Z"),
            (i64::MAX, "2262-04-11T23:47:16.854775807Z"),
        ] {
            assert_eq!(Rfc3339::new(nanos).as_str(), want, "{nanos}");
        }
    }
}
