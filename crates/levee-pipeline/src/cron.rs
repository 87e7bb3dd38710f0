//! Cron expressions, as crontab(5) has them, in UTC: when a scheduled job
//! (compaction) runs.
//!
//! Five fields, `minute hour day-of-month month day-of-week`, each `*`, a
//! number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of those
//! separated by commas. Day of week is 0 to 7, Sunday being 0 and 7. When
//! both day fields are restricted, a day matching either runs, as in cron.
//! Names (`mon`, `jan`) and `@hourly` are not taken: a number says the same.

use std::fmt;

/// A checked cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether the day fields were `*`: they then do not widen each other.
    any_day: bool,
    any_weekday: bool,
}

/// Why a cron expression was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// Each field's name and bounds.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week`.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError(format!(
                "a schedule has five fields (minute hour day-of-month month day-of-week), not {}: {text:?}",
                fields.len()
            )));
        }
        let mut sets = [0u64; 5];
        for (i, (field, (name, lo, hi))) in fields.iter().zip(FIELDS).enumerate() {
            sets[i] = parse_field(field, lo, hi).map_err(|e| CronError(format!("{name}: {e}")))?;
        }
        let mut weekdays = sets[4];
        // 7 is Sunday too.
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            text: fields.join(" "),
            minutes: sets[0],
            hours: sets[1],
            days: sets[2],
            months: sets[3],
            weekdays,
            any_day: fields[2] == "*",
            any_weekday: fields[4] == "*",
        })
    }

    /// The first time this runs strictly after `after` (seconds since the
    /// epoch, UTC), at a whole minute; `None` if it never does (`30 2 31 2 *`).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        // From the next whole minute on.
        let mut t = after.div_euclid(60) * 60 + 60;
        // Five years hold every day of the week on every date.
        let limit = t + 5 * 366 * 86_400;
        while t < limit {
            let days = t.div_euclid(86_400);
            let (_, month, day) = civil_from_days(days);
            if !has(self.months, month) {
                t = (days_from_first_of_next_month(days)) * 86_400;
                continue;
            }
            if !self.day_matches(day, weekday(days)) {
                t = (days + 1) * 86_400;
                continue;
            }
            let secs = t.rem_euclid(86_400);
            let (hour, minute) = ((secs / 3600) as u32, ((secs % 3600) / 60) as u32);
            if !has(self.hours, hour) {
                t = t - secs + (i64::from(hour) + 1) * 3600;
                continue;
            }
            if !has(self.minutes, minute) {
                t += 60;
                continue;
            }
            return Some(t);
        }
        None
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let by_day = has(self.days, day);
        let by_weekday = has(self.weekdays, weekday);
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => by_day,
            (true, false) => by_weekday,
            (false, false) => by_day || by_weekday,
        }
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn has(set: u64, n: u32) -> bool {
    set & (1 << n) != 0
}

/// One field: a comma-separated list of `*`, `n`, `a-b`, each with an optional `/step`.
fn parse_field(field: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let mut set = 0u64;
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, number(s)?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(format!("a step of 0 in {item:?}"));
        }
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a)?, number(b)?)
        } else {
            let n = number(range)?;
            // `5/15` is from 5 to the end, every 15.
            (n, if item.contains('/') { hi } else { n })
        };
        if from < lo || to > hi || from > to {
            return Err(format!("{item:?} is outside {lo}-{hi}"));
        }
        let mut n = from;
        while n <= to {
            set |= 1 << n;
            n += step;
        }
    }
    Ok(set)
}

fn number(text: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a number"));
    }
    text.parse().map_err(|_| format!("{text:?} is too large"))
}

/// 0 is Sunday; day 0 (1970-01-01) was a Thursday.
fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a date (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_from_first_of_next_month(days: i64) -> i64 {
    let (year, month, _) = civil_from_days(days);
    if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since the epoch of a UTC time.
    fn at(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60
    }

    fn next(cron: &str, after: i64) -> i64 {
        Cron::parse(cron).unwrap().next_after(after).unwrap()
    }

    #[test]
    fn five_past_every_hour() {
        assert_eq!(
            next("5 * * * *", at(2026, 12, 5, 7, 4)),
            at(2026, 12, 5, 7, 5)
        );
        assert_eq!(
            next("5 * * * *", at(2026, 12, 5, 7, 5)),
            at(2026, 12, 5, 8, 5)
        );
        assert_eq!(
            next("5 * * * *", at(2026, 12, 31, 23, 30)),
            at(2027, 1, 1, 0, 5)
        );
        // Strictly after, from within a minute.
        assert_eq!(
            next("5 * * * *", at(2026, 12, 5, 7, 5) + 59),
            at(2026, 12, 5, 8, 5)
        );
    }

    #[test]
    fn every_minute_and_steps() {
        assert_eq!(
            next("* * * * *", at(2026, 1, 1, 0, 0)),
            at(2026, 1, 1, 0, 1)
        );
        assert_eq!(
            next("*/15 * * * *", at(2026, 1, 1, 0, 1)),
            at(2026, 1, 1, 0, 15)
        );
        assert_eq!(
            next("5/20 * * * *", at(2026, 1, 1, 0, 26)),
            at(2026, 1, 1, 0, 45)
        );
        assert_eq!(
            next("0 9-17/4 * * *", at(2026, 1, 1, 10, 0)),
            at(2026, 1, 1, 13, 0)
        );
        assert_eq!(
            next("0,30 1 * * *", at(2026, 1, 1, 1, 0)),
            at(2026, 1, 1, 1, 30)
        );
    }

    #[test]
    fn days_months_and_weekdays() {
        // 2026-12-05 is a Saturday.
        assert_eq!(weekday(days_from_civil(2026, 12, 5)), 6);
        assert_eq!(
            next("0 0 * * 1", at(2026, 12, 5, 12, 0)),
            at(2026, 12, 7, 0, 0)
        );
        assert_eq!(
            next("0 0 * * 7", at(2026, 12, 5, 12, 0)),
            at(2026, 12, 6, 0, 0)
        );
        assert_eq!(
            next("0 0 29 2 *", at(2026, 3, 1, 0, 0)),
            at(2028, 2, 29, 0, 0)
        );
        assert_eq!(
            next("0 0 1 */3 *", at(2026, 2, 1, 0, 0)),
            at(2026, 4, 1, 0, 0)
        );
        // Both days restricted: either matches.
        assert_eq!(
            next("0 0 15 * 1", at(2026, 12, 8, 0, 0)),
            at(2026, 12, 14, 0, 0)
        );
    }

    #[test]
    fn a_date_that_never_comes_never_runs() {
        assert_eq!(Cron::parse("0 0 31 2 *").unwrap().next_after(0), None);
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 20_000, 20_454, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn mistakes_are_named() {
        for (text, says) in [
            ("5 * * *", "five fields"),
            ("60 * * * *", "minute: \"60\" is outside 0-59"),
            ("* 24 * * *", "hour: \"24\" is outside 0-23"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "a step of 0"),
            ("mon * * * *", "\"mon\" is not a number"),
            ("5-1 * * * *", "outside"),
        ] {
            let e = Cron::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
