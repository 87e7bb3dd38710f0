//! RFC 3164 (BSD syslog): `<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed`.
//!
//! Real senders bend the RFC, so this reads what they write: the `<PRI>`
//! may be missing (log files), the day may be padded with a space or not,
//! the timestamp may be RFC 3339 (rsyslog's default today), the hostname
//! may be missing (a program writing to `/dev/log`), and the tag may lack
//! its `[pid]` or its `:`.

use crate::Parsed;
use crate::error::{ParseError, ParseErrorReason};
use crate::time::{Date, Now, Zone, iso8601_parts, local_nanos, month_from_name, without_year};

use super::{Header, token};

/// Parses what follows the `<PRI>` (which ends at `start`, 0 without one).
pub(super) fn parse(
    line: &[u8],
    start: usize,
    mut header: Header,
    zone: &Zone,
    now: Now,
) -> Result<Parsed, ParseError> {
    let rest = line.get(start..).unwrap_or_default();
    let Some(after_time) = timestamp(rest, &mut header, zone, now) else {
        if header.pri.is_some() {
            // RFC 3164 §4.3.2: a header that is not one is part of the message.
            return Ok(header.finish(rest));
        }
        return Err(ParseError::new(
            start,
            ParseErrorReason::Expected {
                expected: "a timestamp such as 'Oct 11 22:14:15', or a <PRI>".into(),
            },
        ));
    };
    let mut rest = skip_spaces(after_time);
    let first = token(rest);
    if !first.is_empty() && !looks_like_tag(first) {
        header.hostname = super::text_value(first);
        rest = skip_spaces(&rest[first.len()..]);
    }
    let message = tag(rest, &mut header);
    Ok(header.finish(message))
}

/// Reads a BSD (`Oct 11 22:14:15`, `Oct  1 22:14:15.123`) or RFC 3339
/// timestamp at the start of `rest`; returns what follows it, `None` if
/// `rest` does not start with one.
fn timestamp<'a>(rest: &'a [u8], header: &mut Header, zone: &Zone, now: Now) -> Option<&'a [u8]> {
    if let Some((len, date, clock)) = bsd_timestamp(rest) {
        let text = rest.get(..len)?;
        let time = without_year(date, clock, None, zone, now.nanos());
        header.set_time(text, time);
        return rest.get(len..);
    }
    let text = token(rest);
    if text.len() >= 10 && text.get(4) == Some(&b'-') {
        let time =
            iso8601_parts(text).and_then(|(civil, offset)| local_nanos(&civil, offset, zone));
        // Text shaped like a date that does not read is still the timestamp.
        header.set_time(text, time);
        return rest.get(text.len()..);
    }
    None
}

/// `Mmm dd hh:mm:ss` with an optional fraction, followed by a space or the
/// end: its length, the day and the time of day (fields unchecked).
fn bsd_timestamp(text: &[u8]) -> Option<(usize, Date, crate::time::Clock)> {
    let [m1, m2, m3, b' ', rest @ ..] = text else {
        return None;
    };
    let month = month_from_name([*m1, *m2, *m3])?;
    let padded = rest.strip_prefix(b" ").unwrap_or(rest);
    let day_len = padded
        .iter()
        .take(2)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let day = crate::time::digits(padded.get(..day_len).filter(|d| !d.is_empty())?)?;
    let [b' ', h1, h2, b':', n1, n2, b':', s1, s2, after @ ..] = padded.get(day_len..)? else {
        return None;
    };
    let mut clock = crate::time::Clock {
        hour: crate::time::digits(&[*h1, *h2])?,
        minute: crate::time::digits(&[*n1, *n2])?,
        second: crate::time::digits(&[*s1, *s2])?,
        nanos: 0,
    };
    let mut after = after;
    if let [b'.', fraction @ ..] = after {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        clock.nanos = crate::time::fraction_nanos(&fraction[..len])?;
        after = &fraction[len..];
    }
    if !(after.is_empty() || after.starts_with(b" ")) {
        return None;
    }
    Some((text.len() - after.len(), Date::MonthDay(month, day), clock))
}

/// A token that is a tag rather than a hostname: `su:`, `CRON[123]:`.
fn looks_like_tag(token: &[u8]) -> bool {
    token.ends_with(b":") || memchr::memchr(b'[', token).is_some()
}

/// Reads `app[pid]: `, `app: ` or `app[pid] ` at the start of `rest` into
/// the header; returns the message. Text that is not a tag is all message.
fn tag<'a>(rest: &'a [u8], header: &mut Header) -> &'a [u8] {
    let Some(end) = rest.iter().position(|b| matches!(b, b' ' | b':' | b'[')) else {
        return rest;
    };
    let (name, after) = rest.split_at(end);
    if name.is_empty() {
        return rest;
    }
    let after = match after {
        [b'[', inner @ ..] => {
            let Some(close) = inner.iter().position(|b| matches!(b, b']' | b' ')) else {
                return rest;
            };
            if inner.get(close) != Some(&b']') {
                return rest;
            }
            header.procid = super::text_value(&inner[..close]);
            let after = &inner[close + 1..];
            after.strip_prefix(b":").unwrap_or(after)
        }
        [b':', after @ ..] => after,
        // A word followed by a space is the message's first word.
        _ => return rest,
    };
    header.appname = super::text_value(name);
    after.strip_prefix(b" ").unwrap_or(after)
}

fn skip_spaces(rest: &[u8]) -> &[u8] {
    let n = rest.iter().take_while(|b| **b == b' ').count();
    &rest[n..]
}
