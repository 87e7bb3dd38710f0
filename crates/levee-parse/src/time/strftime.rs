//! strftime-style time formats (`%Y-%m-%d %H:%M:%S`), compiled once into
//! steps and matched by hand on every line.

use super::{digits, fraction_nanos, month_from_name};
use crate::ParserConfigError;

/// The directives a `time_format` may use, for the error that lists them.
pub(crate) const DIRECTIVES: &str = "%Y %y %m %d %e %j %b %h %B %a %A %H %k %I %l %p %M %S %f \
     %z %Z %s %T %F %D %R %n %t %%";

/// One step of a compiled format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// This byte, exactly.
    Literal(u8),
    /// One or more spaces or tabs (a space in the format, `%n`, `%t`).
    Space,
    /// `%Y`: four digits.
    Year,
    /// `%y`: two digits, 69-99 in the 1900s, 00-68 in the 2000s (POSIX).
    Year2,
    /// `%m`: one or two digits.
    Month,
    /// `%b`, `%h`, `%B`: an English month name, abbreviated or full.
    MonthName,
    /// `%d`, `%e`: one or two digits, maybe after a padding space.
    Day,
    /// `%j`: day of the year, one to three digits.
    DayOfYear,
    /// `%H`, `%k`: hour 0-23.
    Hour,
    /// `%I`, `%l`: hour 1-12, with `%p`.
    Hour12,
    /// `%M`.
    Minute,
    /// `%S`.
    Second,
    /// `%f`: the digits of a fraction of a second (any number; past
    /// nanoseconds ignored).
    Fraction,
    /// `%p`: `AM` or `PM`, any case.
    AmPm,
    /// `%z`: `Z`, `+HH`, `+HHMM` or `+HH:MM`.
    Offset,
    /// `%Z`: a zone abbreviation; `UTC`, `GMT`, `UT` and `Z` mean UTC, others
    /// are skipped (they are ambiguous: `IST` is three zones).
    ZoneName,
    /// `%a`, `%A`: an English weekday name, checked and otherwise ignored.
    Weekday,
    /// `%s`: seconds since the epoch, maybe negative.
    Epoch,
}

/// A compiled strftime-style format.
#[derive(Clone, Debug)]
pub(crate) struct Strftime {
    items: Vec<Item>,
}

/// What a line's time text held, before it is resolved into an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) year: Option<i64>,
    pub(crate) month: Option<u32>,
    pub(crate) day: Option<u32>,
    pub(crate) day_of_year: Option<u32>,
    pub(crate) hour: u32,
    pub(crate) hour12: Option<u32>,
    pub(crate) pm: Option<bool>,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) nanos: u32,
    pub(crate) offset: Option<i64>,
    pub(crate) epoch: Option<i64>,
}

impl Strftime {
    /// Compiles a format, refusing unknown directives and formats that
    /// cannot name a day.
    pub(crate) fn compile(format: &str) -> Result<Strftime, ParserConfigError> {
        let invalid = |reason: String| ParserConfigError::InvalidTimeFormat {
            format: format.to_owned(),
            reason,
        };
        let mut items = Vec::new();
        let mut bytes = format.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                items.push(if b == b' ' || b == b'\t' {
                    Item::Space
                } else {
                    Item::Literal(b)
                });
                continue;
            }
            let Some(directive) = bytes.next() else {
                return Err(invalid(
                    "it ends with a lone `%`; write `%%` for a percent sign".into(),
                ));
            };
            let expansion: &[Item] = match directive {
                b'Y' => &[Item::Year],
                b'y' => &[Item::Year2],
                b'm' => &[Item::Month],
                b'b' | b'h' | b'B' => &[Item::MonthName],
                b'd' | b'e' => &[Item::Day],
                b'j' => &[Item::DayOfYear],
                b'H' | b'k' => &[Item::Hour],
                b'I' | b'l' => &[Item::Hour12],
                b'M' => &[Item::Minute],
                b'S' => &[Item::Second],
                b'f' => &[Item::Fraction],
                b'p' => &[Item::AmPm],
                b'z' => &[Item::Offset],
                b'Z' => &[Item::ZoneName],
                b'a' | b'A' => &[Item::Weekday],
                b's' => &[Item::Epoch],
                b'n' | b't' => &[Item::Space],
                b'%' => &[Item::Literal(b'%')],
                b'T' => &[
                    Item::Hour,
                    Item::Literal(b':'),
                    Item::Minute,
                    Item::Literal(b':'),
                    Item::Second,
                ],
                b'R' => &[Item::Hour, Item::Literal(b':'), Item::Minute],
                b'F' => &[
                    Item::Year,
                    Item::Literal(b'-'),
                    Item::Month,
                    Item::Literal(b'-'),
                    Item::Day,
                ],
                b'D' => &[
                    Item::Month,
                    Item::Literal(b'/'),
                    Item::Day,
                    Item::Literal(b'/'),
                    Item::Year2,
                ],
                other => {
                    return Err(invalid(format!(
                        "`%{}` is not supported; use {DIRECTIVES}",
                        char::from(other).escape_default()
                    )));
                }
            };
            items.extend_from_slice(expansion);
        }
        let has = |item: Item| items.contains(&item);
        let names_a_day = has(Item::Epoch)
            || has(Item::DayOfYear)
            || ((has(Item::Month) || has(Item::MonthName)) && has(Item::Day));
        if !names_a_day {
            return Err(invalid(
                "it names no day: it needs %m (or %b) and %d, or %j, or %s".into(),
            ));
        }
        if has(Item::Hour12) != has(Item::AmPm) {
            return Err(invalid(
                "%I (12-hour clock) and %p (AM/PM) go together".into(),
            ));
        }
        Ok(Strftime { items })
    }

    /// Matches `text` against the whole format; `None` if it does not match
    /// or a number is out of its field's range.
    pub(crate) fn parse(&self, text: &[u8]) -> Option<Found> {
        let (found, len) = self.parse_prefix(text)?;
        (len == text.len()).then_some(found)
    }

    /// Matches the format at the start of `text`; returns what it held and
    /// how many bytes it took.
    pub(crate) fn parse_prefix(&self, text: &[u8]) -> Option<(Found, usize)> {
        let mut found = Found::default();
        let mut rest = text;
        for item in &self.items {
            rest = step(*item, rest, &mut found)?;
        }
        Some((found, text.len() - rest.len()))
    }
}

/// Matches one item at the start of `rest`; returns what follows it.
fn step<'a>(item: Item, rest: &'a [u8], found: &mut Found) -> Option<&'a [u8]> {
    Some(match item {
        Item::Literal(b) => rest.strip_prefix(&[b])?,
        Item::Space => {
            let n = rest
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            if n == 0 {
                return None;
            }
            &rest[n..]
        }
        Item::Year => {
            let (year, after) = number(rest, 4, 4)?;
            found.year = Some(i64::from(year));
            after
        }
        Item::Year2 => {
            let (year, after) = number(rest, 2, 2)?;
            found.year = Some(i64::from(if year < 69 { 2000 + year } else { 1900 + year }));
            after
        }
        Item::Month => {
            let (month, after) = number(rest, 1, 2)?;
            found.month = Some(month);
            after
        }
        Item::MonthName => {
            let (month, after) = name(rest, &MONTHS)?;
            found.month = Some(month);
            after
        }
        Item::Day => {
            let padded = match rest {
                [b' ', after @ ..] => after,
                _ => rest,
            };
            let (day, after) = number(padded, 1, 2)?;
            found.day = Some(day);
            after
        }
        Item::DayOfYear => {
            let (day, after) = number(rest, 1, 3)?;
            found.day_of_year = Some(day);
            after
        }
        Item::Hour => {
            let padded = match rest {
                [b' ', after @ ..] => after,
                _ => rest,
            };
            let (hour, after) = number(padded, 1, 2)?;
            found.hour = hour;
            after
        }
        Item::Hour12 => {
            let padded = match rest {
                [b' ', after @ ..] => after,
                _ => rest,
            };
            let (hour, after) = number(padded, 1, 2)?;
            found.hour12 = Some(hour);
            after
        }
        Item::Minute => {
            let (minute, after) = number(rest, 1, 2)?;
            found.minute = minute;
            after
        }
        Item::Second => {
            let (second, after) = number(rest, 1, 2)?;
            found.second = second;
            after
        }
        Item::Fraction => {
            let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            found.nanos = fraction_nanos(&rest[..n])?;
            &rest[n..]
        }
        Item::AmPm => {
            let [a, m, after @ ..] = rest else {
                return None;
            };
            if !m.eq_ignore_ascii_case(&b'm') {
                return None;
            }
            found.pm = Some(match a.to_ascii_lowercase() {
                b'a' => false,
                b'p' => true,
                _ => return None,
            });
            after
        }
        Item::Offset => {
            let (offset, after) = offset(rest)?;
            found.offset = Some(offset);
            after
        }
        Item::ZoneName => {
            let n = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let (zone, after) = rest.split_at(n);
            if zone.is_empty() {
                return None;
            }
            if [&b"UTC"[..], b"GMT", b"UT", b"Z"]
                .iter()
                .any(|utc| zone.eq_ignore_ascii_case(utc))
            {
                found.offset = Some(0);
            }
            after
        }
        Item::Weekday => name(rest, &WEEKDAYS)?.1,
        Item::Epoch => {
            let (negative, digits_start) = match rest {
                [b'-', after @ ..] => (true, after),
                _ => (false, rest),
            };
            let n = digits_start
                .iter()
                .take(18)
                .take_while(|b| b.is_ascii_digit())
                .count();
            if n == 0 {
                return None;
            }
            let value = digits_start[..n]
                .iter()
                .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
            found.epoch = Some(if negative { -value } else { value });
            &digits_start[n..]
        }
    })
}

/// `min..=max` ASCII digits (as many as there are, up to `max`).
fn number(text: &[u8], min: usize, max: usize) -> Option<(u32, &[u8])> {
    let n = text
        .iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    Some((digits(&text[..n])?, &text[n..]))
}

/// `Z`, `+HH`, `+HHMM` or `+HH:MM` at the start of `text`.
fn offset(text: &[u8]) -> Option<(i64, &[u8])> {
    match text {
        [b'Z' | b'z', after @ ..] => Some((0, after)),
        [sign @ (b'+' | b'-'), h1, h2, after @ ..] => {
            let hours = digits(&[*h1, *h2])?;
            let (minutes, after) = match after {
                [b':', m1, m2, after @ ..] => (digits(&[*m1, *m2])?, after),
                [m1, m2, after @ ..] if m1.is_ascii_digit() && m2.is_ascii_digit() => {
                    (digits(&[*m1, *m2])?, after)
                }
                _ => (0, after),
            };
            Some((super::offset_seconds(*sign, hours, minutes)?, after))
        }
        _ => None,
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// An English name from `names`, abbreviated to three letters or in full,
/// any case; its number counted from 1.
fn name<'a>(text: &'a [u8], names: &[&str]) -> Option<(u32, &'a [u8])> {
    let [a, b, c, after @ ..] = text else {
        return None;
    };
    let index = match names.len() {
        12 => usize::try_from(month_from_name([*a, *b, *c])?).ok()? - 1,
        _ => names
            .iter()
            .position(|n| n.as_bytes()[..3].eq_ignore_ascii_case(&[*a, *b, *c]))?,
    };
    let full = names.get(index)?.as_bytes();
    let tail = full.get(3..).unwrap_or_default();
    let after = match after.get(..tail.len()) {
        Some(more) if !tail.is_empty() && more.eq_ignore_ascii_case(tail) => &after[tail.len()..],
        _ => after,
    };
    Some((u32::try_from(index + 1).ok()?, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: &str, text: &str) -> Option<Found> {
        Strftime::compile(format).unwrap().parse(text.as_bytes())
    }

    #[test]
    fn numeric_fields_and_literals() {
        let found = parse("%Y-%m-%d %H:%M:%S.%f %z", "2024-01-05 07:08:09.25 +05:30").unwrap();
        assert_eq!(
            found,
            Found {
                year: Some(2024),
                month: Some(1),
                day: Some(5),
                hour: 7,
                minute: 8,
                second: 9,
                nanos: 250_000_000,
                offset: Some(19_800),
                ..Found::default()
            }
        );
        // Unpadded numbers, and runs of spaces for one space.
        let found = parse("%d/%m/%Y %H:%M", "5/1/2024   7:08").unwrap();
        assert_eq!((found.day, found.month, found.hour), (Some(5), Some(1), 7));
        // No separators: widths decide.
        let found = parse("%Y%m%d%H%M%S", "20240105070809").unwrap();
        assert_eq!(
            (found.month, found.day, found.second),
            (Some(1), Some(5), 9)
        );
    }

    #[test]
    fn names_any_case_abbreviated_or_full() {
        let found = parse("%a, %d %b %Y %T %Z", "tue, 09 JAN 2024 10:11:12 GMT").unwrap();
        assert_eq!((found.month, found.offset), (Some(1), Some(0)));
        let found = parse("%A %B %e %Y", "Wednesday September  4 2024").unwrap();
        assert_eq!((found.month, found.day), (Some(9), Some(4)));
        let found = parse("%b %d %Y %Z", "Sep 04 2024 PDT").unwrap();
        assert_eq!(found.offset, None);
        assert_eq!(parse("%b %d %Y", "Sec 04 2024"), None);
        assert_eq!(parse("%a %b %d %Y", "Xyz Sep 04 2024"), None);
    }

    #[test]
    fn twelve_hour_clock_epoch_two_digit_year_day_of_year() {
        let found = parse("%D %I:%M %p", "01/05/24 12:30 am").unwrap();
        assert_eq!(
            (found.year, found.hour12, found.pm),
            (Some(2024), Some(12), Some(false))
        );
        assert_eq!(parse("%D", "01/05/99").unwrap().year, Some(1999));
        assert_eq!(parse("%s.%f", "-1.5").unwrap().epoch, Some(-1));
        assert_eq!(
            parse("%s", "1704412800").unwrap().epoch,
            Some(1_704_412_800)
        );
        assert_eq!(parse("%Y.%j", "2024.366").unwrap().day_of_year, Some(366));
        assert_eq!(parse("%F %R%%", "2024-01-05 07:08%").unwrap().minute, 8);
    }

    #[test]
    fn offsets() {
        for (text, want) in [("Z", 0), ("+09", 32_400), ("-0730", -27_000), ("+00:00", 0)] {
            assert_eq!(
                parse("%F %z", &format!("2024-01-05 {text}"))
                    .unwrap()
                    .offset,
                Some(want)
            );
        }
        assert_eq!(parse("%F %z", "2024-01-05 +19:00"), None);
        assert_eq!(parse("%F %z", "2024-01-05 0900"), None);
    }

    #[test]
    fn mismatches_are_none() {
        for (format, text) in [
            ("%Y-%m-%d", "2024-01-05x"),
            ("%Y-%m-%d", "2024-01"),
            ("%Y-%m-%d", "24-01-05"),
            ("%Y-%m-%d %H", "2024-01-05"),
            ("%F %T.%f", "2024-01-05 00:00:00."),
            ("%F %p %I", "2024-01-05 xm 1"),
            ("%s", "-"),
        ] {
            assert_eq!(parse(format, text), None, "{format} on {text}");
        }
    }

    #[test]
    fn a_prefix_match_says_how_far_it_read() {
        let format = Strftime::compile("%d/%b/%Y:%H:%M:%S %z").unwrap();
        let (found, len) = format
            .parse_prefix(b"10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\"")
            .unwrap();
        assert_eq!((len, found.offset), (26, Some(-25_200)));
        let format = Strftime::compile("%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            format
                .parse_prefix(b"2024-01-05 07:08:09 192.0.2.1")
                .map(|(_, len)| len),
            Some(19)
        );
        assert_eq!(format.parse_prefix(b"2024-01-05 x"), None);
    }

    #[test]
    fn bad_formats_are_refused_with_a_reason() {
        for (format, reason) in [
            ("%Y-%m-%d %Q", "`%Q` is not supported"),
            ("%Y-%m-%d %", "lone `%`"),
            ("%H:%M:%S", "names no day"),
            ("%Y-%m", "names no day"),
            ("%F %I:%M", "%I (12-hour clock) and %p"),
        ] {
            let err = Strftime::compile(format).unwrap_err().to_string();
            assert!(err.contains(reason), "{format}: {err}");
        }
    }
}
