//! Events as newline-delimited JSON, shared by the sinks that write it.

pub mod json;

use levee_event::Event;
use levee_event::time::{NANOS_PER_SEC, UtcTime};

/// Appends each event's record as one JSON line.
pub(crate) fn ndjson_records<'a>(events: impl IntoIterator<Item = &'a Event>, out: &mut Vec<u8>) {
    for event in events {
        json::write_record(&event.record, out);
        out.push(b'\n');
    }
}

/// Event times as RFC 3339 text in UTC, to the precision each has:
/// `2026-12-05T01:02:03Z`, `.123Z`, `.123456Z` or `.123456789Z`. Whole
/// groups of three digits, so that readers that take only milli- or
/// microseconds (Athena, Hive) read it exactly when it is that precise.
///
/// The date and time of the last whole second are kept: the events of a
/// batch from a log share their second, and working out the calendar date
/// and writing its digits for each one was a tenth of the lake path's
/// added instructions.
#[derive(Default)]
pub struct Rfc3339 {
    /// The second whose text `text[..19]` holds.
    second: Option<i64>,
    text: [u8; 30],
}

/// Bytes of `YYYY-MM-DDTHH:MM:SS`.
const SECOND_LEN: usize = 19;

impl Rfc3339 {
    /// Formats nanoseconds since the epoch. An `i64` of nanoseconds spans
    /// the years 1677 to 2262, so the year always has four digits.
    pub fn format(&mut self, nanos: i64) -> &str {
        let second = nanos.div_euclid(NANOS_PER_SEC);
        if self.second != Some(second) {
            let t = UtcTime::from_nanos(nanos);
            let text = &mut self.text;
            digits(&mut text[0..4], t.year.clamp(0, 9999) as u32);
            text[4] = b'-';
            digits(&mut text[5..7], t.month);
            text[7] = b'-';
            digits(&mut text[8..10], t.day);
            text[10] = b'T';
            digits(&mut text[11..13], t.hour);
            text[13] = b':';
            digits(&mut text[14..16], t.minute);
            text[16] = b':';
            digits(&mut text[17..19], t.second);
            self.second = Some(second);
        }
        let sub = nanos.rem_euclid(NANOS_PER_SEC) as u32;
        let (fraction, width) = match sub {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        let mut len = SECOND_LEN;
        if width > 0 {
            self.text[len] = b'.';
            digits(&mut self.text[len + 1..len + 1 + width], fraction);
            len += 1 + width;
        }
        self.text[len] = b'Z';
        // Only ASCII digits and punctuation were written.
        std::str::from_utf8(&self.text[..=len]).unwrap_or_default()
    }
}

/// Writes `value`'s last `out.len()` decimal digits, zero-padded.
#[inline]
fn digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
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
            assert_eq!(Rfc3339::default().format(nanos), want, "{nanos}");
        }
    }

    /// The text of the last second is reused only for that second.
    #[test]
    fn event_times_in_a_row_each_get_their_own_second() {
        let base = 1_796_432_523 * 1_000_000_000;
        let mut time = Rfc3339::default();
        for (nanos, want) in [
            (base + 5, "2026-12-05T01:02:03.000000005Z"),
            (base, "2026-12-05T01:02:03Z"),
            (base + 1_000_000_000, "2026-12-05T01:02:04Z"),
            (base - 1, "2026-12-05T01:02:02.999999999Z"),
            (base + 86_400_000_000_000, "2026-12-06T01:02:03Z"),
            (base + 123_000_000, "2026-12-05T01:02:03.123Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
            (0, "1970-01-01T00:00:00Z"),
        ] {
            assert_eq!(time.format(nanos), want, "{nanos}");
        }
    }
}
