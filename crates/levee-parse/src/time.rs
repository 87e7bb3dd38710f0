//! Timestamps found in log lines, parsed by hand into nanoseconds since the
//! Unix epoch (UTC).
//!
//! These run once per line, so they are byte-level and allocation-free. Each
//! returns `None` for text that is not a valid time of its kind (including
//! out-of-range fields such as `31/Feb`) or a time outside i64 nanoseconds
//! (years 1677 to 2262).
//!
//! [`TimeSpec`] is what parsers build from a user's `time_format` and
//! `time_zone`: named formats, strftime-style formats compiled once, and
//! zones (fixed offsets, or IANA names through `jiff`'s bundled database).

mod spec;
mod strftime;
mod zone;

pub use spec::TimeSpec;
pub(crate) use spec::{Date, Now, local_nanos, without_year};
pub(crate) use zone::Zone;

use std::cell::Cell;

use levee_event::time::{NANOS_PER_SEC, days_from_civil, days_in_month};

/// The `$time_local` text this thread read last, and its time. A log's
/// lines come in time order and a busy server writes many a second, so
/// most lines carry the text of the line before.
type LastTimeLocal = Cell<Option<([u8; TIME_LOCAL_LEN], i64)>>;

/// `10/Oct/2000:13:55:36 -0700`.
const TIME_LOCAL_LEN: usize = 26;

thread_local! {
    static LAST_TIME_LOCAL: LastTimeLocal = const { Cell::new(None) };
}

/// nginx's `$time_local`: `10/Oct/2000:13:55:36 -0700` (month names in
/// English, any letter case).
pub fn parse_time_local(text: &[u8]) -> Option<i64> {
    let Ok(key) = <[u8; TIME_LOCAL_LEN]>::try_from(text) else {
        return parse_time_local_fields(text);
    };
    LAST_TIME_LOCAL.with(|last| match last.get() {
        Some((seen, nanos)) if seen == key => Some(nanos),
        _ => {
            let nanos = parse_time_local_fields(text)?;
            last.set(Some((key, nanos)));
            Some(nanos)
        }
    })
}

/// [`parse_time_local`] without the cache.
fn parse_time_local_fields(text: &[u8]) -> Option<i64> {
    let [
        d1,
        d2,
        b'/',
        m1,
        m2,
        m3,
        b'/',
        y1,
        y2,
        y3,
        y4,
        b':',
        rest @ ..,
    ] = text
    else {
        return None;
    };
    let day = digits(&[*d1, *d2])?;
    let month = month_from_name([*m1, *m2, *m3])?;
    let year = digits(&[*y1, *y2, *y3, *y4])?;
    let [
        h1,
        h2,
        b':',
        n1,
        n2,
        b':',
        s1,
        s2,
        b' ',
        sign,
        o1,
        o2,
        o3,
        o4,
    ] = rest
    else {
        return None;
    };
    let clock = Clock {
        hour: digits(&[*h1, *h2])?,
        minute: digits(&[*n1, *n2])?,
        second: digits(&[*s1, *s2])?,
        nanos: 0,
    };
    let offset = offset_seconds(*sign, digits(&[*o1, *o2])?, digits(&[*o3, *o4])?)?;
    to_nanos(i64::from(year), month, day, clock, offset)
}

/// nginx's `$time_iso8601` and the RFC 3339 / ISO 8601 times JSON logs
/// carry: `2000-10-10T13:55:36-07:00`, `2018-09-01T12:00:00.000Z`.
///
/// Accepts `T`, `t` or a space between date and time; seconds and a
/// fraction (`.` or `,`, digits past nanoseconds ignored) are optional; the
/// offset may be `Z`, `±HH:MM`, `±HHMM` or `±HH`. A time without an offset
/// is taken as UTC, and a bare date as its midnight UTC.
pub fn parse_iso8601(text: &[u8]) -> Option<i64> {
    let (civil, offset) = iso8601_parts(text)?;
    civil.to_nanos(offset.unwrap_or(0))
}

/// An ISO 8601 time as its wall-clock fields and its offset, if it has one.
pub(crate) fn iso8601_parts(text: &[u8]) -> Option<(Civil, Option<i64>)> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, rest @ ..] = text else {
        return None;
    };
    let mut civil = Civil {
        year: i64::from(digits(&[*y1, *y2, *y3, *y4])?),
        month: digits(&[*m1, *m2])?,
        day: digits(&[*d1, *d2])?,
        clock: Clock::MIDNIGHT,
    };
    let rest = match rest {
        [] => return Some((civil, None)),
        [b'T' | b't' | b' ', rest @ ..] => rest,
        _ => return None,
    };
    let [h1, h2, b':', n1, n2, rest @ ..] = rest else {
        return None;
    };
    civil.clock.hour = digits(&[*h1, *h2])?;
    civil.clock.minute = digits(&[*n1, *n2])?;
    let mut rest = rest;
    if let [b':', s1, s2, after @ ..] = rest {
        civil.clock.second = digits(&[*s1, *s2])?;
        rest = after;
        if let [b'.' | b',', after @ ..] = rest {
            let len = after.iter().take_while(|b| b.is_ascii_digit()).count();
            let (fraction, after) = after.split_at(len);
            civil.clock.nanos = fraction_nanos(fraction)?;
            rest = after;
        }
    }
    let offset = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign, h1, h2] => Some(offset_seconds(*sign, digits(&[*h1, *h2])?, 0)?),
        [sign, h1, h2, m1, m2] | [sign, h1, h2, b':', m1, m2] => Some(offset_seconds(
            *sign,
            digits(&[*h1, *h2])?,
            digits(&[*m1, *m2])?,
        )?),
        _ => return None,
    };
    Some((civil, offset))
}

/// Below this magnitude an epoch number is seconds (up to the year 5138).
const MAX_SECONDS: i128 = 100_000_000_000;
/// Below this, milliseconds; below [`MAX_MICROS`], microseconds; else nanoseconds.
const MAX_MILLIS: i128 = 100_000_000_000_000;
const MAX_MICROS: i128 = 100_000_000_000_000_000;

/// Nanoseconds per unit of an epoch number of this magnitude.
///
/// Logs write epoch times in seconds, milliseconds, microseconds or
/// nanoseconds without saying which; present-day times differ by factors
/// of 1000, so the magnitude tells them apart. The price: a time within
/// about three years of 1970 in milliseconds reads as seconds.
fn unit_nanos(magnitude: i128) -> i128 {
    match magnitude.abs() {
        m if m < MAX_SECONDS => 1_000_000_000,
        m if m < MAX_MILLIS => 1_000_000,
        m if m < MAX_MICROS => 1_000,
        _ => 1,
    }
}

/// An integer epoch time (seconds, millis, micros or nanos, told apart by
/// magnitude) as nanoseconds.
pub fn epoch_from_int(value: i64) -> Option<i64> {
    let value = i128::from(value);
    i64::try_from(value * unit_nanos(value)).ok()
}

/// A floating point epoch time as nanoseconds, told apart by magnitude like
/// [`epoch_from_int`].
///
/// Rounded to the microsecond: an f64 holding seconds since 1970 carries no
/// more than that, and rounding keeps `1535760000.123` at exactly .123.
pub fn epoch_from_float(value: f64) -> Option<i64> {
    if !value.is_finite() || value.abs() >= 1e19 {
        return None;
    }
    let unit = unit_nanos(value as i128);
    let nanos = if unit >= 1_000 {
        (value * (unit / 1_000) as f64).round() as i128 * 1_000
    } else {
        value.round() as i128
    };
    i64::try_from(nanos).ok()
}

/// A decimal epoch time in text (`1535760000`, `1535760000.123`,
/// `1535760000123`, as nginx's `$msec` or a JSON string), exact to the
/// nanosecond, told apart by magnitude like [`epoch_from_int`].
pub fn parse_epoch(text: &[u8]) -> Option<i64> {
    epoch_text(text, None)
}

/// A decimal epoch number in text, in `unit` nanoseconds, or told apart by
/// magnitude when `unit` is `None`.
fn epoch_text(text: &[u8], unit: Option<i128>) -> Option<i64> {
    let (negative, text) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    let int_len = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (int_digits, rest) = text.split_at(int_len);
    let fraction = match rest {
        [] => &[][..],
        [b'.', fraction @ ..] if fraction.iter().all(u8::is_ascii_digit) => fraction,
        _ => return None,
    };
    if int_digits.is_empty() || int_digits.len() > 20 {
        return None;
    }
    let whole = int_digits
        .iter()
        .fold(0i128, |acc, b| acc * 10 + i128::from(b - b'0'));
    let unit = unit.unwrap_or_else(|| unit_nanos(whole));
    // Scale the fraction into units of `unit` ns; digits past 1 ns are dropped.
    let mut part = 0i128;
    let mut scale = unit;
    for b in fraction.iter().take(18) {
        scale /= 10;
        part += i128::from(b - b'0') * scale;
    }
    let nanos = whole * unit + part;
    i64::try_from(if negative { -nanos } else { nanos }).ok()
}

/// Time of day, checked when it is turned into nanoseconds.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) nanos: u32,
}

impl Clock {
    const MIDNIGHT: Clock = Clock {
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
    };
}

/// A date and time of day as written, before any offset is applied.
#[derive(Clone, Copy)]
pub(crate) struct Civil {
    year: i64,
    month: u32,
    day: u32,
    clock: Clock,
}

impl Civil {
    /// Seconds since the epoch of this wall-clock time read as UTC, after
    /// checking every field's range; the nanoseconds are left out.
    fn seconds(&self) -> Option<i64> {
        let Civil {
            year,
            month,
            day,
            clock,
        } = *self;
        // A leap second (:60) is accepted and lands on the next second.
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && clock.hour < 24
            && clock.minute < 60
            && clock.second <= 60
            && clock.nanos < 1_000_000_000
            && (-10_000..=10_000).contains(&year);
        if !valid {
            return None;
        }
        Some(
            days_from_civil(year, month, day) * 86_400
                + i64::from(clock.hour * 3600 + clock.minute * 60 + clock.second),
        )
    }

    /// UTC nanoseconds of this wall-clock time at `offset` seconds east of UTC.
    fn to_nanos(self, offset: i64) -> Option<i64> {
        seconds_to_nanos(self.seconds()? - offset, self.clock.nanos)
    }
}

/// Seconds and nanoseconds since the epoch as nanoseconds, if i64 holds them.
fn seconds_to_nanos(seconds: i64, nanos: u32) -> Option<i64> {
    seconds
        .checked_mul(NANOS_PER_SEC)?
        .checked_add(i64::from(nanos))
}

/// Checks every field's range, then converts local time at `offset`
/// seconds east of UTC into UTC nanoseconds.
fn to_nanos(year: i64, month: u32, day: u32, clock: Clock, offset: i64) -> Option<i64> {
    Civil {
        year,
        month,
        day,
        clock,
    }
    .to_nanos(offset)
}

/// `+HHMM` as seconds east of UTC; real offsets stay within ±18 hours.
fn offset_seconds(sign: u8, hours: u32, minutes: u32) -> Option<i64> {
    if hours > 18 || minutes >= 60 {
        return None;
    }
    let seconds = i64::from(hours * 3600 + minutes * 60);
    match sign {
        b'+' => Some(seconds),
        b'-' => Some(-seconds),
        _ => None,
    }
}

/// A run of ASCII digits as a number; `None` if any byte is not a digit.
pub(crate) fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// The digits after a decimal point as nanoseconds (at least one digit).
pub(crate) fn fraction_nanos(fraction: &[u8]) -> Option<u32> {
    if fraction.is_empty() {
        return None;
    }
    let mut nanos = 0;
    let mut scale = 100_000_000;
    for b in fraction.iter().take(9) {
        nanos += u32::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(nanos)
}

pub(crate) fn month_from_name(name: [u8; 3]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = name.map(|b| b.to_ascii_lowercase());
    let index = MONTHS.iter().position(|m| **m == lower)?;
    u32::try_from(index + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::time::UtcTime;

    /// Apache's documented example: 10/Oct/2000:13:55:36 -0700.
    const APACHE_EXAMPLE: i64 = 971_211_336 * NANOS_PER_SEC;

    #[test]
    fn time_local_applies_the_offset() {
        assert_eq!(
            parse_time_local(b"10/Oct/2000:13:55:36 -0700"),
            Some(APACHE_EXAMPLE)
        );
        assert_eq!(
            parse_time_local(b"10/oct/2000:20:55:36 +0000"),
            Some(APACHE_EXAMPLE)
        );
        assert_eq!(
            parse_time_local(b"11/Oct/2000:02:25:36 +0530"),
            Some(APACHE_EXAMPLE)
        );
        assert_eq!(parse_time_local(b"01/Jan/1970:00:00:00 +0000"), Some(0));
    }

    #[test]
    fn time_local_refuses_bad_text() {
        for bad in [
            &b""[..],
            b"10/Oct/2000:13:55:36",
            b"10/Oct/2000:13:55:36 -07000",
            b"10/Okt/2000:13:55:36 -0700",
            b"31/Feb/2000:13:55:36 -0700",
            b"10/Oct/2000:24:00:00 -0700",
            b"10/Oct/2000:13:60:36 -0700",
            b"10/Oct/2000:13:55:36 *0700",
            b"1x/Oct/2000:13:55:36 -0700",
            b"10/Oct/2000:13:55:36 -0760",
        ] {
            assert_eq!(
                parse_time_local(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(
            parse_iso8601(b"2000-10-10T13:55:36-07:00"),
            Some(APACHE_EXAMPLE)
        );
        assert_eq!(
            parse_iso8601(b"2000-10-10T13:55:36-0700"),
            Some(APACHE_EXAMPLE)
        );
        assert_eq!(
            parse_iso8601(b"2000-10-10T13:55:36-07"),
            Some(APACHE_EXAMPLE)
        );
        assert_eq!(parse_iso8601(b"2000-10-10t20:55:36z"), Some(APACHE_EXAMPLE));
        assert_eq!(parse_iso8601(b"2000-10-10 20:55:36"), Some(APACHE_EXAMPLE));
        let sept = 1_535_803_200 * NANOS_PER_SEC; // 2018-09-01T12:00:00Z
        assert_eq!(parse_iso8601(b"2018-09-01T12:00:00.000Z"), Some(sept));
        assert_eq!(
            parse_iso8601(b"2018-09-01T12:00:00.5Z"),
            Some(sept + 500_000_000)
        );
        assert_eq!(
            parse_iso8601(b"2018-09-01T12:00:00,123456789Z"),
            Some(sept + 123_456_789)
        );
        assert_eq!(
            parse_iso8601(b"2018-09-01T12:00:00.1234567891Z"),
            Some(sept + 123_456_789)
        );
        assert_eq!(parse_iso8601(b"2018-09-01T12:00Z"), Some(sept));
        assert_eq!(
            parse_iso8601(b"2018-09-01"),
            Some(sept - 12 * 3600 * NANOS_PER_SEC)
        );
    }

    #[test]
    fn iso8601_refuses_bad_text() {
        for bad in [
            &b"2018-09-01T"[..],
            b"2018-09-01T12",
            b"2018-09-01T12:00:00.Z",
            b"2018-09-01T12:00:00Zjunk",
            b"2018-13-01T12:00:00Z",
            b"2018-09-31T12:00:00Z",
            b"2018/09/01T12:00:00Z",
            b"2018-09-01T12:00:00+25:00",
            b"18-09-01",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn times_outside_i64_nanos_are_none() {
        assert_eq!(parse_iso8601(b"9999-12-31T23:59:59Z"), None);
        assert_eq!(parse_iso8601(b"1600-01-01T00:00:00Z"), None);
        assert!(parse_iso8601(b"2262-04-11T00:00:00Z").is_some());
    }

    #[test]
    fn epoch_units_by_magnitude() {
        let t = 1_535_760_000i64;
        let ns = t * NANOS_PER_SEC;
        assert_eq!(epoch_from_int(t), Some(ns));
        assert_eq!(epoch_from_int(t * 1_000), Some(ns));
        assert_eq!(epoch_from_int(t * 1_000_000), Some(ns));
        assert_eq!(epoch_from_int(ns), Some(ns));
        assert_eq!(epoch_from_int(-t), Some(-ns));
        assert_eq!(epoch_from_float(1_535_760_000.123), Some(ns + 123_000_000));
        assert_eq!(
            epoch_from_float(1_535_760_000_123.0),
            Some(ns + 123_000_000)
        );
        assert_eq!(epoch_from_float(f64::NAN), None);
        assert_eq!(epoch_from_float(1e30), None);
    }

    #[test]
    fn epoch_text_is_exact() {
        let ns = 1_535_760_000 * NANOS_PER_SEC;
        assert_eq!(parse_epoch(b"1535760000"), Some(ns));
        assert_eq!(parse_epoch(b"1535760000.123"), Some(ns + 123_000_000));
        assert_eq!(parse_epoch(b"1535760000.123456789"), Some(ns + 123_456_789));
        assert_eq!(parse_epoch(b"1535760000123"), Some(ns + 123_000_000));
        assert_eq!(parse_epoch(b"1535760000123.5"), Some(ns + 123_500_000));
        assert_eq!(parse_epoch(b"-1.5"), Some(-1_500_000_000));
        for bad in [
            &b""[..],
            b"-",
            b".5",
            b"1e9",
            b"12a",
            b"1.2.3",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_epoch(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn time_local_reuses_only_the_same_text() {
        let texts: [&[u8]; 7] = [
            b"01/Sep/2018:17:00:00 +0000",
            b"01/Sep/2018:17:00:00 +0000",
            b"01/Sep/2018:17:00:00 +0100",
            b"01/Sep/2018:17:00:00 +0100",
            b"31/Sep/2018:17:00:00 +0100",
            b"01/Sep/2018:17:00:01 +0100",
            b"01/Sep/2018:17:00:00 +0000",
        ];
        let want = [
            Some(0),
            Some(0),
            Some(-3600),
            Some(-3600),
            None,
            Some(-3599),
            Some(0),
        ];
        let base = parse_time_local_fields(texts[0]).unwrap();
        for (text, want) in texts.iter().zip(want) {
            let got = parse_time_local(text).map(|t| (t - base) / NANOS_PER_SEC);
            assert_eq!(got, want, "{}", String::from_utf8_lossy(text));
        }
    }

    proptest::proptest! {
        /// Runs of repeated and changing texts, valid and not, read as
        /// they read without the cache.
        #[test]
        fn time_local_reads_the_same_with_the_cache(
            picks in proptest::collection::vec((0usize..4, 0u8..3), 1..40),
        ) {
            let texts = [
                "01/Sep/2018:17:00:00 +0000",
                "01/Sep/2018:17:00:00 -0000",
                "01/sep/2018:17:00:59 +1400",
                "29/Feb/2019:17:00:00 +0000",
            ];
            for (pick, digit) in picks {
                let mut text = texts[pick].as_bytes().to_vec();
                text[19] = b'0' + digit;
                proptest::prop_assert_eq!(parse_time_local(&text), parse_time_local_fields(&text));
            }
        }

        #[test]
        fn time_local_round_trips(
            secs in 0i64..7_000_000_000,
            offset_minutes in -1080i64..=1080,
        ) {
            let local = UtcTime::from_nanos((secs + offset_minutes * 60) * NANOS_PER_SEC);
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let text = format!(
                "{:02}/{}/{:04}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
                local.day, months[local.month as usize - 1], local.year,
                local.hour, local.minute, local.second,
                offset_minutes.abs() / 60, offset_minutes.abs() % 60,
            );
            proptest::prop_assert_eq!(parse_time_local(text.as_bytes()), Some(secs * NANOS_PER_SEC));
        }

        #[test]
        fn rfc3339_millis_round_trips(millis in -5_000_000_000_000i64..9_000_000_000_000) {
            let nanos = millis * 1_000_000;
            let text = UtcTime::from_nanos(nanos).rfc3339_millis();
            proptest::prop_assert_eq!(parse_iso8601(text.as_bytes()), Some(nanos));
        }

        #[test]
        fn time_parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = parse_time_local(&bytes);
            let _ = parse_iso8601(&bytes);
            let _ = parse_epoch(&bytes);
        }
    }
}
