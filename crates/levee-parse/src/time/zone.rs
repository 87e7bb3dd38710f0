//! The zone a time without an offset was written in: UTC, a fixed offset
//! (`+09:00`) or a named zone (`America/Los_Angeles`), whose offset
//! changes with daylight saving time.

use jiff::tz::{AmbiguousOffset, TimeZone};

use super::{digits, offset_seconds};
use crate::ParserConfigError;

/// A `time_zone` setting, checked once.
#[derive(Clone, Debug)]
pub(crate) enum Zone {
    /// A fixed number of seconds east of UTC (0 is UTC).
    Fixed(i64),
    /// A zone from the IANA time zone database (bundled, so every machine
    /// reads a name the same way).
    Named(TimeZone),
}

impl Zone {
    pub(crate) const UTC: Zone = Zone::Fixed(0);

    /// Reads `UTC`, `Z`, `+09:00`, `-0700`, `+05` or an IANA name.
    pub(crate) fn parse(name: &str) -> Result<Zone, ParserConfigError> {
        let trimmed = name.trim();
        if ["UTC", "utc", "Z", "z", "GMT", "Etc/UTC"].contains(&trimmed) {
            return Ok(Zone::UTC);
        }
        if let Some(offset) = fixed_offset(trimmed.as_bytes()) {
            return Ok(Zone::Fixed(offset));
        }
        TimeZone::get(trimmed)
            .map(Zone::Named)
            .map_err(|_| ParserConfigError::UnknownTimeZone(name.to_owned()))
    }

    /// Seconds east of UTC in effect at the wall-clock time `local` (seconds
    /// since the epoch as if read in UTC). A time skipped by a daylight
    /// saving change takes the offset from before the change, and a time
    /// that happens twice takes the earlier one, as RFC 5545 and most
    /// libraries do.
    pub(crate) fn offset_at_local(&self, local: i64) -> Option<i64> {
        match self {
            Zone::Fixed(offset) => Some(*offset),
            Zone::Named(tz) => {
                let utc = jiff::Timestamp::from_second(local).ok()?;
                let civil = jiff::tz::Offset::UTC.to_datetime(utc);
                let offset = match tz.to_ambiguous_timestamp(civil).offset() {
                    AmbiguousOffset::Unambiguous { offset } => offset,
                    AmbiguousOffset::Gap { before, .. } | AmbiguousOffset::Fold { before, .. } => {
                        before
                    }
                };
                Some(i64::from(offset.seconds()))
            }
        }
    }

    /// Seconds east of UTC in effect at the instant `utc` (seconds since
    /// the epoch).
    pub(crate) fn offset_at_utc(&self, utc: i64) -> i64 {
        match self {
            Zone::Fixed(offset) => *offset,
            Zone::Named(tz) => jiff::Timestamp::from_second(utc)
                .map_or(0, |t| i64::from(tz.to_offset(t).seconds())),
        }
    }
}

/// `+09:00`, `-0700` or `+05` as seconds east of UTC.
pub(crate) fn fixed_offset(text: &[u8]) -> Option<i64> {
    match text {
        [sign, h1, h2] => offset_seconds(*sign, digits(&[*h1, *h2])?, 0),
        [sign, h1, h2, m1, m2] | [sign, h1, h2, b':', m1, m2] => {
            offset_seconds(*sign, digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::time::days_from_civil;

    fn local(year: i64, month: u32, day: u32, hour: i64) -> i64 {
        days_from_civil(year, month, day) * 86_400 + hour * 3600
    }

    #[test]
    fn fixed_offsets_and_utc_need_no_database() {
        assert_eq!(
            Zone::parse("+09:00").unwrap().offset_at_local(0),
            Some(32_400)
        );
        assert_eq!(
            Zone::parse("-0700").unwrap().offset_at_local(0),
            Some(-25_200)
        );
        assert_eq!(Zone::parse("+05").unwrap().offset_at_utc(0), 18_000);
        assert_eq!(Zone::parse(" UTC ").unwrap().offset_at_local(0), Some(0));
        assert_eq!(Zone::parse("Z").unwrap().offset_at_utc(0), 0);
    }

    #[test]
    fn named_zones_follow_daylight_saving() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        assert_eq!(la.offset_at_local(local(2024, 1, 15, 12)), Some(-8 * 3600));
        assert_eq!(la.offset_at_local(local(2024, 7, 15, 12)), Some(-7 * 3600));
        // 2024-03-10 02:30 does not exist in Los Angeles; 2024-11-03 01:30
        // happens twice: both take the offset from before the change.
        assert_eq!(
            la.offset_at_local(local(2024, 3, 10, 2) + 1800),
            Some(-8 * 3600)
        );
        assert_eq!(
            la.offset_at_local(local(2024, 11, 3, 1) + 1800),
            Some(-7 * 3600)
        );
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.offset_at_utc(local(2024, 7, 15, 0)), 9 * 3600);
    }

    #[test]
    fn unknown_names_and_bad_offsets_are_refused() {
        for bad in ["Mars/Olympus", "", "+25:00", "+09:60", "PST8PDT/x"] {
            assert_eq!(
                Zone::parse(bad).unwrap_err(),
                ParserConfigError::UnknownTimeZone(bad.to_owned()),
                "{bad}"
            );
        }
    }
}
