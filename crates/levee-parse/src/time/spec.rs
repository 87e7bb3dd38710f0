//! [`TimeSpec`]: how a parser reads its time field, from the user's
//! `time_format` and `time_zone`.

use levee_event::time::{NANOS_PER_SEC, civil_from_days};

use super::strftime::{Found, Strftime};
use super::zone::Zone;
use super::{
    Civil, Clock, epoch_from_float, epoch_from_int, epoch_text, iso8601_parts, seconds_to_nanos,
};
use crate::ParserConfigError;

/// How to read a time field: a format, and the zone of times written
/// without an offset. Built once from a parser's `time_format` and
/// `time_zone` settings; [`TimeSpec::parse`] then runs on every line.
///
/// `time_format` is one of:
///
/// - `auto` (the default): RFC 3339 / ISO 8601 text
///   (`2018-09-01T12:00:00.000Z`), or epoch seconds, milliseconds,
///   microseconds or nanoseconds told apart by magnitude;
/// - `iso8601` (or `rfc3339`): only RFC 3339 / ISO 8601 text;
/// - `epoch`, `epoch_millis`, `epoch_micros`, `epoch_nanos`: a number of
///   that unit since 1970, maybe with a fraction (`1535760000.123`);
/// - a strftime-style format such as `%d/%b/%Y:%H:%M:%S %z` or
///   `%Y-%m-%d %H:%M:%S,%f`: `%Y` `%y` `%m` `%d` `%e` `%j` `%b`/`%h`/`%B`
///   (English month names, short or full) `%a`/`%A` (weekday, ignored)
///   `%H`/`%k` `%I`/`%l` with `%p` `%M` `%S` `%f` (fraction digits) `%z`
///   (`Z`, `+HH`, `+HHMM`, `+HH:MM`) `%Z` (`UTC`/`GMT` are UTC, other
///   abbreviations are skipped) `%s` (epoch seconds) `%T` `%F` `%D` `%R`
///   `%%`; a space matches one or more spaces or tabs; other text matches
///   itself. Numbers may be unpadded. A format without a year (`%b %d
///   %H:%M:%S`) takes the latest year that does not put the time more
///   than a day in the future.
///
/// `time_zone` (default UTC) applies to times written without an offset:
/// `UTC`, a fixed offset such as `+09:00` or `-0700`, or an IANA name such
/// as `America/Los_Angeles` (daylight saving time included; the zone
/// database is built into levee).
#[derive(Clone, Debug)]
pub struct TimeSpec {
    format: Format,
    zone: Zone,
}

#[derive(Clone, Debug)]
enum Format {
    Auto,
    Iso8601,
    /// Nanoseconds per unit.
    Epoch(i128),
    Strftime(Strftime),
}

/// The moment "now" for a time written without its year: given, or read
/// from the system clock only when needed.
#[derive(Clone, Copy)]
pub(crate) enum Now {
    At(i64),
    System,
}

impl Now {
    pub(crate) fn nanos(self) -> i64 {
        match self {
            Now::At(nanos) => nanos,
            Now::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        }
    }
}

impl Default for TimeSpec {
    /// `auto` in UTC.
    fn default() -> TimeSpec {
        TimeSpec {
            format: Format::Auto,
            zone: Zone::UTC,
        }
    }
}

impl TimeSpec {
    /// Checks and compiles `time_format` and `time_zone` (see the type's
    /// docs); `None` means `auto` and UTC.
    pub fn new(
        time_format: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<TimeSpec, ParserConfigError> {
        let format = match time_format.map(str::trim) {
            None | Some("auto") => Format::Auto,
            Some("iso8601" | "rfc3339") => Format::Iso8601,
            Some("epoch") => Format::Epoch(1_000_000_000),
            Some("epoch_millis") => Format::Epoch(1_000_000),
            Some("epoch_micros") => Format::Epoch(1_000),
            Some("epoch_nanos") => Format::Epoch(1),
            Some(text) if text.contains('%') => Format::Strftime(Strftime::compile(text)?),
            Some(other) => {
                return Err(ParserConfigError::InvalidTimeFormat {
                    format: other.to_owned(),
                    reason: "use auto, iso8601, rfc3339, epoch, epoch_millis, epoch_micros, \
                             epoch_nanos, or a strftime format such as \"%Y-%m-%d %H:%M:%S\""
                        .to_owned(),
                });
            }
        };
        let zone = match time_zone {
            None => Zone::UTC,
            Some(name) => Zone::parse(name)?,
        };
        Ok(TimeSpec { format, zone })
    }

    /// A strftime format exactly as written (not trimmed, never a named
    /// format), reading times written without an offset in `zone`: for a
    /// format taken from the log's own format string, such as apache's
    /// `%{%d/%b/%Y %T}t`.
    pub(crate) fn strftime(format: &str, zone: Zone) -> Result<TimeSpec, ParserConfigError> {
        Ok(TimeSpec {
            format: Format::Strftime(Strftime::compile(format)?),
            zone,
        })
    }

    /// How many bytes at the start of `text` a strftime format matches, for
    /// a field whose end only its format knows (its text may hold the
    /// literal that ends it); `None` if it does not match, or for the
    /// named formats.
    pub(crate) fn match_len(&self, text: &[u8]) -> Option<usize> {
        match &self.format {
            Format::Strftime(format) => format.parse_prefix(text).map(|(_, len)| len),
            Format::Auto | Format::Iso8601 | Format::Epoch(_) => None,
        }
    }

    /// The event time in `text` (surrounding whitespace ignored), as
    /// nanoseconds since the epoch UTC; `None` if it does not read as a
    /// time of this format. A format without a year takes it from the
    /// system clock.
    pub fn parse(&self, text: &[u8]) -> Option<i64> {
        self.parse_with(text, Now::System)
    }

    /// Like [`parse`](TimeSpec::parse), with `now` (nanoseconds since the
    /// epoch) as the present moment for times written without a year.
    pub fn parse_at(&self, text: &[u8], now: i64) -> Option<i64> {
        self.parse_with(text, Now::At(now))
    }

    pub(crate) fn parse_with(&self, text: &[u8], now: Now) -> Option<i64> {
        let text = text.trim_ascii();
        match &self.format {
            Format::Auto => self.iso8601(text).or_else(|| epoch_text(text, None)),
            Format::Iso8601 => self.iso8601(text),
            Format::Epoch(unit) => epoch_text(text, Some(*unit)),
            Format::Strftime(format) => self.resolve(&format.parse(text)?, now),
        }
    }

    /// The event time in a JSON integer: epoch units for `auto` and the
    /// `epoch*` formats, else the number's digits read as text
    /// (`20180901` for `%Y%m%d`).
    pub fn from_int(&self, value: i64) -> Option<i64> {
        self.int_with(value, Now::System)
    }

    pub(crate) fn int_with(&self, value: i64, now: Now) -> Option<i64> {
        match &self.format {
            Format::Auto => epoch_from_int(value),
            Format::Epoch(unit) => i64::try_from(i128::from(value) * unit).ok(),
            Format::Iso8601 => None,
            Format::Strftime(_) => {
                let mut buf = [0u8; 24];
                let len = write_int(value, &mut buf);
                self.parse_with(buf.get(..len)?, now)
            }
        }
    }

    /// The event time in a JSON float: epoch units for `auto` and the
    /// `epoch*` formats (to the microsecond, all an f64 of seconds holds).
    pub fn from_float(&self, value: f64) -> Option<i64> {
        match &self.format {
            Format::Auto => epoch_from_float(value),
            Format::Epoch(unit) => {
                let nanos = value * (*unit as f64);
                if !nanos.is_finite() || nanos.abs() >= 9.2e18 {
                    return None;
                }
                let micros = (nanos / 1_000.0).round() as i64;
                micros.checked_mul(1_000)
            }
            Format::Iso8601 | Format::Strftime(_) => None,
        }
    }

    fn iso8601(&self, text: &[u8]) -> Option<i64> {
        let (civil, offset) = iso8601_parts(text)?;
        local_nanos(&civil, offset, &self.zone)
    }

    fn resolve(&self, found: &Found, now: Now) -> Option<i64> {
        if let Some(seconds) = found.epoch {
            return seconds_to_nanos(seconds, found.nanos);
        }
        let hour = match (found.hour12, found.pm) {
            (Some(h), Some(pm)) if (1..=12).contains(&h) => h % 12 + if pm { 12 } else { 0 },
            (Some(_), _) => return None,
            (None, _) => found.hour,
        };
        let clock = Clock {
            hour,
            minute: found.minute,
            second: found.second,
            nanos: found.nanos,
        };
        let date = match (found.month, found.day, found.day_of_year) {
            (Some(month), Some(day), _) => Date::MonthDay(month, day),
            (_, _, Some(day)) => Date::YearDay(day),
            _ => return None,
        };
        match found.year {
            Some(year) => local_nanos(&date.civil(year, clock)?, found.offset, &self.zone),
            None => without_year(date, clock, found.offset, &self.zone, now.nanos()),
        }
    }
}

/// A day as a format names it.
#[derive(Clone, Copy)]
pub(crate) enum Date {
    MonthDay(u32, u32),
    YearDay(u32),
}

impl Date {
    fn civil(self, year: i64, clock: Clock) -> Option<Civil> {
        let (month, day) = match self {
            Date::MonthDay(month, day) => (month, day),
            Date::YearDay(n) => {
                let first = levee_event::time::days_from_civil(year, 1, 1);
                let (y, month, day) = civil_from_days(first + i64::from(n) - 1);
                if n == 0 || y != year {
                    return None;
                }
                (month, day)
            }
        };
        Some(Civil {
            year,
            month,
            day,
            clock,
        })
    }
}

/// A wall-clock time at `offset`, or else in `zone`, as UTC nanoseconds.
pub(crate) fn local_nanos(civil: &Civil, offset: Option<i64>, zone: &Zone) -> Option<i64> {
    let local = civil.seconds()?;
    let offset = match offset {
        Some(offset) => offset,
        None => zone.offset_at_local(local)?,
    };
    seconds_to_nanos(local - offset, civil.clock.nanos)
}

/// A time written without its year (`Oct 11 22:14:15`): the latest year,
/// counting from next year down, that does not put it more than a day
/// after `now`. So a line from December read on January 1st lands in the
/// old year, and a clock a little ahead of ours is not sent back a year.
pub(crate) fn without_year(
    date: Date,
    clock: Clock,
    offset: Option<i64>,
    zone: &Zone,
    now: i64,
) -> Option<i64> {
    let now_seconds = now.div_euclid(NANOS_PER_SEC);
    let local_today = (now_seconds + zone.offset_at_utc(now_seconds)).div_euclid(86_400);
    let (this_year, _, _) = civil_from_days(local_today);
    let limit = now.saturating_add(86_400 * NANOS_PER_SEC);
    // Eight years back reaches the last February 29th from any year.
    ((this_year - 8)..=(this_year + 1))
        .rev()
        .filter_map(|year| local_nanos(&date.civil(year, clock)?, offset, zone))
        .find(|&t| t <= limit)
}

/// `value` in decimal into `buf`; returns the length written.
fn write_int(value: i64, buf: &mut [u8; 24]) -> usize {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    match write!(cursor, "{value}") {
        Ok(()) => usize::try_from(cursor.position()).unwrap_or(0),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::time::days_from_civil;

    fn at(year: i64, month: u32, day: u32, h: i64, m: i64, s: i64) -> i64 {
        (days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s) * NANOS_PER_SEC
    }

    fn spec(format: &str, zone: Option<&str>) -> TimeSpec {
        TimeSpec::new(Some(format), zone).unwrap()
    }

    #[test]
    fn named_formats() {
        let t = at(2018, 9, 1, 12, 0, 0);
        let auto = TimeSpec::default();
        assert_eq!(auto.parse(b" 2018-09-01T12:00:00Z "), Some(t));
        assert_eq!(auto.parse(b"1535803200000"), Some(t));
        let iso = spec("rfc3339", None);
        assert_eq!(iso.parse(b"2018-09-01T14:00:00+02:00"), Some(t));
        assert_eq!(iso.parse(b"1535803200"), None);
        assert_eq!(
            spec("epoch", None).parse(b"1535803200.5"),
            Some(t + 500_000_000)
        );
        assert_eq!(spec("epoch_millis", None).parse(b"1535803200000"), Some(t));
        assert_eq!(
            spec("epoch_micros", None).parse(b"1535803200000000"),
            Some(t)
        );
        assert_eq!(
            spec("epoch_nanos", None).parse(b"1535803200000000000"),
            Some(t)
        );
        // An explicit unit is not second-guessed by magnitude.
        assert_eq!(
            spec("epoch_millis", None).parse(b"1000"),
            Some(NANOS_PER_SEC)
        );
        assert_eq!(spec("epoch", None).parse(b"12x"), None);
    }

    #[test]
    fn zones_apply_only_without_an_offset() {
        let la = spec("iso8601", Some("America/Los_Angeles"));
        assert_eq!(
            la.parse(b"2024-07-01T05:00:00"),
            Some(at(2024, 7, 1, 12, 0, 0))
        );
        assert_eq!(
            la.parse(b"2024-01-01T04:00:00"),
            Some(at(2024, 1, 1, 12, 0, 0))
        );
        assert_eq!(
            la.parse(b"2024-07-01T05:00:00Z"),
            Some(at(2024, 7, 1, 5, 0, 0))
        );
        let fixed = spec("%Y-%m-%d %H:%M:%S", Some("+09:00"));
        assert_eq!(
            fixed.parse(b"2024-07-01 21:00:00"),
            Some(at(2024, 7, 1, 12, 0, 0))
        );
        let with_offset = spec("%Y-%m-%d %H:%M:%S %z", Some("+09:00"));
        assert_eq!(
            with_offset.parse(b"2024-07-01 12:00:00 +0000"),
            Some(at(2024, 7, 1, 12, 0, 0))
        );
    }

    #[test]
    fn strftime_resolves_twelve_hour_clock_day_of_year_and_epoch() {
        let s = spec("%m/%d/%Y %I:%M:%S %p", None);
        assert_eq!(
            s.parse(b"07/01/2024 12:05:00 AM"),
            Some(at(2024, 7, 1, 0, 5, 0))
        );
        assert_eq!(
            s.parse(b"07/01/2024 12:05:00 PM"),
            Some(at(2024, 7, 1, 12, 5, 0))
        );
        assert_eq!(
            s.parse(b"07/01/2024 1:05:00 pm"),
            Some(at(2024, 7, 1, 13, 5, 0))
        );
        assert_eq!(s.parse(b"07/01/2024 13:05:00 PM"), None);
        let j = spec("%Y-%j", None);
        assert_eq!(j.parse(b"2024-366"), Some(at(2024, 12, 31, 0, 0, 0)));
        assert_eq!(j.parse(b"2023-366"), None);
        assert_eq!(j.parse(b"2023-000"), None);
        let s = spec("%s.%f", None);
        assert_eq!(
            s.parse(b"1535803200.25"),
            Some(at(2018, 9, 1, 12, 0, 0) + 250_000_000)
        );
        assert_eq!(spec("%F", None).parse(b"2024-02-30"), None);
    }

    #[test]
    fn a_missing_year_is_the_latest_not_more_than_a_day_ahead() {
        let s = spec("%b %e %H:%M:%S", None);
        let now = at(2024, 6, 15, 12, 0, 0);
        assert_eq!(
            s.parse_at(b"Jun 15 11:00:00", now),
            Some(at(2024, 6, 15, 11, 0, 0))
        );
        // Up to a day ahead stays this year; further ahead is last year's.
        assert_eq!(
            s.parse_at(b"Jun 16 11:00:00", now),
            Some(at(2024, 6, 16, 11, 0, 0))
        );
        assert_eq!(
            s.parse_at(b"Jun 17 11:00:00", now),
            Some(at(2023, 6, 17, 11, 0, 0))
        );
        // December's lines read on New Year's Day.
        let new_year = at(2025, 1, 1, 0, 5, 0);
        assert_eq!(
            s.parse_at(b"Dec 31 23:59:00", new_year),
            Some(at(2024, 12, 31, 23, 59, 0))
        );
        // A sender whose clock is ahead, read on New Year's Eve.
        let eve = at(2024, 12, 31, 23, 59, 0);
        assert_eq!(
            s.parse_at(b"Jan  1 00:01:00", eve),
            Some(at(2025, 1, 1, 0, 1, 0))
        );
        // February 29th goes back to the last leap year.
        assert_eq!(
            s.parse_at(b"Feb 29 10:00:00", now),
            Some(at(2024, 2, 29, 10, 0, 0))
        );
        let later = at(2026, 3, 1, 0, 0, 0);
        assert_eq!(
            s.parse_at(b"Feb 29 10:00:00", later),
            Some(at(2024, 2, 29, 10, 0, 0))
        );
        assert_eq!(s.parse_at(b"Feb 30 10:00:00", later), None);
    }

    #[test]
    fn a_missing_year_is_this_year_in_the_zone() {
        // 2025-01-01 03:00 UTC is still 2024 in Los Angeles.
        let s = spec("%b %d %H:%M:%S", Some("America/Los_Angeles"));
        let now = at(2025, 1, 1, 3, 0, 0);
        assert_eq!(
            s.parse_at(b"Dec 31 18:00:00", now),
            Some(at(2025, 1, 1, 2, 0, 0))
        );
    }

    #[test]
    fn json_numbers() {
        let t = at(2018, 9, 1, 12, 0, 0);
        assert_eq!(TimeSpec::default().from_int(1_535_803_200), Some(t));
        assert_eq!(
            spec("epoch_millis", None).from_int(1_535_803_200_000),
            Some(t)
        );
        assert_eq!(
            spec("epoch", None).from_float(1_535_803_200.25),
            Some(t + 250_000_000)
        );
        assert_eq!(spec("epoch", None).from_float(f64::INFINITY), None);
        assert_eq!(spec("epoch_nanos", None).from_int(i64::MAX), Some(i64::MAX));
        assert_eq!(spec("epoch", None).from_int(i64::MAX), None);
        assert_eq!(
            spec("%Y%m%d", None).from_int(20_180_901),
            Some(t - 12 * 3600 * NANOS_PER_SEC)
        );
        assert_eq!(spec("iso8601", None).from_int(1), None);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(matches!(
            TimeSpec::new(Some("epoch_seconds"), None),
            Err(ParserConfigError::InvalidTimeFormat { .. })
        ));
        assert!(matches!(
            TimeSpec::new(None, Some("Moon/Base")),
            Err(ParserConfigError::UnknownTimeZone(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_format_compiles_or_is_refused_and_parsing_never_panics(
            format in "([%][YymdejbBaAHkIlpMSfzZsTFDRnt%QX]|[-:/. ,TZ]|[0-9]){0,12}",
            text in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            zone in proptest::option::of(proptest::sample::select(vec!["+09:00", "Europe/Berlin"])),
        ) {
            if let Ok(spec) = TimeSpec::new(Some(&format), zone) {
                let _ = spec.parse_at(&text, at(2024, 6, 15, 12, 0, 0));
                let _ = spec.from_int(i64::from_le_bytes([text.first().copied().unwrap_or(0); 8]));
            }
        }

        #[test]
        fn strftime_round_trips(secs in -2_000_000_000i64..7_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = levee_event::time::UtcTime::from_nanos(secs * NANOS_PER_SEC + i64::from(nanos));
            let text = format!(
                "{:02}/{:02}/{:04} {:02}:{:02}:{:02}.{:09} +0000",
                t.day, t.month, t.year, t.hour, t.minute, t.second, t.nanos
            );
            let spec = spec("%d/%m/%Y %H:%M:%S.%f %z", Some("Asia/Tokyo"));
            proptest::prop_assert_eq!(spec.parse(text.as_bytes()), Some(secs * NANOS_PER_SEC + i64::from(nanos)));
        }
    }
}
