//! What `date_add`, `date_diff` and `date_trunc` share: Trino's unit names,
//! and times of any Arrow type as chrono values.
//!
//! Times are UTC wall clock: a `timestamp with time zone` is taken in UTC,
//! which is the only zone levee writes.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use datafusion::common::{Result, exec_err};

/// One of Trino's units for `date_add` and `date_diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    /// A unit by Trino's name for it, in any case. `dates` refuses the units
    /// finer than a day, as Trino does for a `date`.
    pub(super) fn parse(name: &str, dates: bool) -> Result<Unit> {
        let unit = match name.to_ascii_lowercase().as_str() {
            "millisecond" => Unit::Millisecond,
            "second" => Unit::Second,
            "minute" => Unit::Minute,
            "hour" => Unit::Hour,
            "day" => Unit::Day,
            "week" => Unit::Week,
            "month" => Unit::Month,
            "quarter" => Unit::Quarter,
            "year" => Unit::Year,
            _ => return exec_err!("'{name}' is not a valid TIMESTAMP field"),
        };
        if dates && unit.fixed().is_some_and(|d| d < TimeDelta::days(1)) {
            return exec_err!("'{name}' is not a valid DATE field");
        }
        Ok(unit)
    }

    /// The unit's length, for those that have one in UTC.
    pub(super) fn fixed(self) -> Option<TimeDelta> {
        Some(match self {
            Unit::Millisecond => TimeDelta::milliseconds(1),
            Unit::Second => TimeDelta::seconds(1),
            Unit::Minute => TimeDelta::minutes(1),
            Unit::Hour => TimeDelta::hours(1),
            Unit::Day => TimeDelta::days(1),
            Unit::Week => TimeDelta::weeks(1),
            Unit::Month | Unit::Quarter | Unit::Year => return None,
        })
    }

    /// Months in the unit, for those counted in months.
    pub(super) fn months(self) -> Option<i64> {
        match self {
            Unit::Month => Some(1),
            Unit::Quarter => Some(3),
            Unit::Year => Some(12),
            _ => None,
        }
    }
}

/// Checks, while planning, that a function's unit argument is text (or a
/// NULL literal): `date_add('day', ...)`, `date_diff('hour', ...)`.
pub(super) fn check_unit_type(function: &str, unit: &DataType) -> Result<()> {
    if unit.is_null()
        || matches!(
            unit,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    {
        return Ok(());
    }
    exec_err!("{function}: the unit must be text such as 'day', got {unit}")
}

/// Whether a type holds calendar days rather than instants.
pub(super) fn is_date(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64)
}

/// The type a time argument is read as: dates and timestamps as they are,
/// text as a timestamp (Trino would want a cast; a log's times are text).
pub(super) fn time_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Null => {
            Some(t.clone())
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            Some(DataType::Timestamp(TimeUnit::Nanosecond, None))
        }
        _ => None,
    }
}

/// A column of dates or timestamps as UTC wall-clock times.
pub(super) fn datetimes(array: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    let midnight = |days: i32| {
        NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_DAYS_FROM_CE)?)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    };
    Ok(match array.data_type() {
        DataType::Null => vec![None; array.len()],
        DataType::Date32 => array
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.and_then(midnight))
            .collect(),
        DataType::Date64 => epochs(array, TimeUnit::Millisecond)?,
        DataType::Timestamp(unit, _) => epochs(array, *unit)?,
        other => return exec_err!("expected a date or a timestamp, got {other}"),
    })
}

/// Days from 0001-01-01 to 1970-01-01, chrono's count to Arrow's.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn epochs(array: &ArrayRef, unit: TimeUnit) -> Result<Vec<Option<NaiveDateTime>>> {
    let raw = cast(array, &DataType::Int64)?;
    Ok(raw
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.and_then(|v| from_epoch(v, unit)))
        .collect())
}

/// A count of `unit`s since 1970 as a UTC wall-clock time.
pub(super) fn from_epoch(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let t = match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(v)),
    };
    t.map(|t| t.naive_utc())
}

/// The way back: `None` when the time does not fit the unit's range.
pub(super) fn to_epoch(t: NaiveDateTime, unit: TimeUnit) -> Option<i64> {
    let t = t.and_utc();
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}

/// A date's days since 1970.
pub(super) fn to_days(t: NaiveDateTime) -> Option<i32> {
    t.date().num_days_from_ce().checked_sub(EPOCH_DAYS_FROM_CE)
}

/// `t` plus `n` of `unit`, as Trino adds: a month added to the 31st lands on
/// the month's last day.
pub(super) fn add(t: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    if let Some(step) = unit.fixed() {
        let delta = TimeDelta::try_milliseconds(step.num_milliseconds().checked_mul(n)?)?;
        return t.checked_add_signed(delta);
    }
    let months = unit.months()?.checked_mul(n)?;
    let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        t.checked_add_months(m)
    } else {
        t.checked_sub_months(m)
    }
}

/// `b - a` in whole `unit`s, as Trino (Joda-Time) counts: towards zero; a
/// month has passed when the day and time of day are reached again, or the
/// later month's last day is.
pub(super) fn diff(a: NaiveDateTime, b: NaiveDateTime, unit: Unit) -> i64 {
    if let Some(step) = unit.fixed() {
        // Milliseconds, as Trino's timestamps have; i64 ms span 292 million years.
        let ms = (b - a).num_milliseconds();
        return ms / step.num_milliseconds();
    }
    match unit {
        Unit::Year => years_between(a, b),
        _ => months_between(a, b) / unit.months().unwrap_or(1),
    }
}

fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    if b < a {
        return -months_between(b, a);
    }
    let mut months =
        i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
    // From Jan 31 to Feb 28 is a month: the later day is its month's last.
    let a = if b.day() == days_in_month(b) && a.day() > b.day() {
        a.with_day(b.day()).unwrap_or(a)
    } else {
        a
    };
    if since_month_start(b) < since_month_start(a) {
        months -= 1;
    }
    months
}

fn years_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    if b < a {
        return -years_between(b, a);
    }
    let feb_29 = TimeDelta::days(31 + 29 - 1);
    let (mut a_rem, mut b_rem) = (since_year_start(a), since_year_start(b));
    // Leap days do not count against a year's remainder (Joda's balancing).
    if a_rem >= feb_29 {
        if is_leap(a.year()) {
            if !is_leap(b.year()) {
                a_rem -= TimeDelta::days(1);
            }
        } else if b_rem >= feb_29 && is_leap(b.year()) {
            b_rem -= TimeDelta::days(1);
        }
    }
    let years = i64::from(b.year() - a.year());
    if b_rem < a_rem { years - 1 } else { years }
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

fn days_in_month(t: NaiveDateTime) -> u32 {
    let first = t.date().with_day(1).unwrap_or(t.date());
    first
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

fn since_month_start(t: NaiveDateTime) -> TimeDelta {
    t - t
        .with_day(1)
        .unwrap_or(t)
        .date()
        .and_time(chrono::NaiveTime::MIN)
}

fn since_year_start(t: NaiveDateTime) -> TimeDelta {
    t - t
        .with_ordinal(1)
        .unwrap_or(t)
        .date()
        .and_time(chrono::NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn differences_count_whole_units_towards_zero() {
        let cases = [
            ("2018-09-01 00:00:00", "2018-09-03 00:00:00", Unit::Day, 2),
            ("2018-09-01 23:00:00", "2018-09-02 01:00:00", Unit::Day, 0),
            ("2018-09-03 00:00:00", "2018-09-01 00:00:01", Unit::Day, -1),
            ("2018-09-01 00:00:00", "2018-09-01 02:59:59", Unit::Hour, 2),
            ("2018-09-01 00:00:00", "2018-09-15 00:00:00", Unit::Week, 2),
            ("2018-01-31 00:00:00", "2018-02-28 00:00:00", Unit::Month, 1),
            ("2018-01-30 00:00:00", "2018-02-27 00:00:00", Unit::Month, 0),
            ("2021-02-28 12:00:00", "2021-03-28 11:59:59", Unit::Month, 0),
            ("2021-02-28 12:00:00", "2021-03-28 12:00:00", Unit::Month, 1),
            (
                "2018-03-01 00:00:00",
                "2018-01-01 00:00:00",
                Unit::Month,
                -2,
            ),
            (
                "2018-01-01 00:00:00",
                "2018-12-31 00:00:00",
                Unit::Quarter,
                3,
            ),
            ("2016-02-29 00:00:00", "2017-02-28 00:00:00", Unit::Year, 1),
            ("2016-02-28 00:00:00", "2017-02-27 00:00:00", Unit::Year, 0),
            ("2016-03-01 00:00:00", "2017-03-01 00:00:00", Unit::Year, 1),
            ("2017-03-01 00:00:00", "2016-03-01 00:00:00", Unit::Year, -1),
            ("2018-09-01 00:00:00", "2019-08-31 23:59:59", Unit::Year, 0),
        ];
        for (a, b, unit, want) in cases {
            assert_eq!(diff(at(a), at(b), unit), want, "{a} .. {b} in {unit:?}");
        }
    }

    #[test]
    fn adding_months_keeps_to_the_month() {
        let cases = [
            ("2018-01-31 10:00:00", Unit::Month, 1, "2018-02-28 10:00:00"),
            ("2016-02-29 00:00:00", Unit::Year, 1, "2017-02-28 00:00:00"),
            (
                "2018-03-31 00:00:00",
                Unit::Quarter,
                -1,
                "2017-12-31 00:00:00",
            ),
            ("2018-09-01 23:00:00", Unit::Hour, 3, "2018-09-02 02:00:00"),
            ("2018-09-01 00:00:00", Unit::Day, -1, "2018-08-31 00:00:00"),
        ];
        for (t, unit, n, want) in cases {
            assert_eq!(add(at(t), unit, n), Some(at(want)), "{t} + {n} {unit:?}");
        }
        assert_eq!(add(at("2018-09-01 00:00:00"), Unit::Year, i64::MAX), None);
    }

    #[test]
    fn units_are_trinos_names_in_any_case() {
        assert_eq!(Unit::parse("HOUR", false).unwrap(), Unit::Hour);
        let err = Unit::parse("fortnight", false).unwrap_err().to_string();
        assert!(
            err.contains("'fortnight' is not a valid TIMESTAMP field"),
            "{err}"
        );
        let err = Unit::parse("hour", true).unwrap_err().to_string();
        assert!(err.contains("'hour' is not a valid DATE field"), "{err}");
        assert_eq!(Unit::parse("day", true).unwrap(), Unit::Day);
    }
}
