//! Calendar arithmetic on UTC nanosecond timestamps, without a time library.
//!
//! Parsers turn log timestamps into event times and the lake turns event
//! times into `dt=`/`hour=` partitions on the hot path, so both are plain
//! integer arithmetic (Howard Hinnant's civil-date algorithms).

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Days since 1970-01-01 for a proleptic Gregorian date.
///
/// `month` is 1..=12 and `day` 1..=31; the caller checks ranges.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day number from [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A UTC timestamp broken into calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// The year, proleptic Gregorian (may be negative).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59 (no leap seconds).
    pub second: u32,
    /// Nanoseconds into the second, 0 to 999,999,999.
    pub nanos: u32,
}

impl UtcTime {
    /// Breaks nanoseconds since the epoch into calendar fields.
    pub fn from_nanos(nanos: i64) -> UtcTime {
        let secs = nanos.div_euclid(NANOS_PER_SEC);
        let sub = nanos.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400);
        let in_day = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
            nanos: sub,
        }
    }

    /// Nanoseconds since the epoch; `None` if out of i64's range.
    pub fn to_nanos(&self) -> Option<i64> {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days
            .checked_mul(86_400)?
            .checked_add(i64::from(self.hour * 3600 + self.minute * 60 + self.second))?;
        secs.checked_mul(NANOS_PER_SEC)?
            .checked_add(i64::from(self.nanos))
    }

    /// `YYYY-MM-DD`, the lake's `dt` partition value.
    pub fn date_string(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// RFC 3339 with millisecond precision, as `2018-09-01T12:00:00.000Z`.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.nanos / 1_000_000
        )
    }
}

/// Parses `YYYY-MM-DD` into days since the epoch, checking ranges.
pub fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i64 = text[..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Days in a month of a proleptic Gregorian year.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2018-09-01T00:00:00Z
        let t = UtcTime::from_nanos(1_535_760_000 * NANOS_PER_SEC);
        assert_eq!(t.date_string(), "2018-09-01");
        assert_eq!(t.rfc3339_millis(), "2018-09-01T00:00:00.000Z");
    }

    #[test]
    fn parse_date_checks_ranges() {
        assert_eq!(parse_date("2018-09-01"), Some(17_775));
        assert_eq!(
            parse_date("2020-02-29").map(civil_from_days),
            Some((2020, 2, 29))
        );
        assert_eq!(parse_date("2019-02-29"), None);
        assert_eq!(parse_date("2018-13-01"), None);
        assert_eq!(parse_date("2018-9-1"), None);
        assert_eq!(parse_date("yyyy-mm-dd"), None);
    }

    proptest::proptest! {
        #[test]
        fn civil_round_trips(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            proptest::prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn utc_round_trips(nanos in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000) {
            proptest::prop_assert_eq!(UtcTime::from_nanos(nanos).to_nanos(), Some(nanos));
        }
    }
}
