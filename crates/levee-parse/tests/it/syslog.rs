//! Properties of the syslog parser: no panic on any bytes, errors point
//! inside the line, and lines written from fields give the fields back.

use levee_event::time::{NANOS_PER_SEC, UtcTime};
use levee_event::{Record, Value};
use levee_parse::{Parser, ParserConfig, SyslogConfig, SyslogFormat};
use proptest::prelude::*;

fn syslog(format: SyslogFormat, zone: Option<&str>) -> Parser {
    ParserConfig::Syslog(SyslogConfig {
        format,
        time_zone: zone.map(str::to_owned),
    })
    .build()
    .unwrap()
}

/// 2024-06-15T12:00:00Z.
const NOW: i64 = 1_718_452_800 * NANOS_PER_SEC;

/// Lines that start like syslog, to reach past the header more often than
/// random bytes do.
fn syslogish() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop::sample::select(vec![
        &b""[..],
        b"<34>",
        b"<165>1 ",
        b"<13>1 - - - - - [",
        b"<13>1 2003-10-11T22:14:15.003Z h a p m [id k=\"",
        b"Oct 11 22:14:15 ",
        b"<34>Oct  1 22:14:15 host ",
    ]);
    (prefix, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(p, rest)| {
        let mut line = p.to_vec();
        line.extend(rest);
        line
    })
}

/// Printable ASCII without spaces, as RFC 5424 header fields are.
fn header_field() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[!-~]{1,16}".prop_filter("`-` is no value", |s| s != "-"))
}

proptest! {
    #[test]
    fn never_panics_and_errors_point_inside_the_line(line in syslogish()) {
        for format in [SyslogFormat::Auto, SyslogFormat::Rfc3164, SyslogFormat::Rfc5424] {
            for zone in [None, Some("America/Los_Angeles")] {
                match syslog(format, zone).parse_at(&line, NOW) {
                    Ok(parsed) => prop_assert_eq!(parsed.record.len(), 10),
                    Err(error) => prop_assert!(error.position <= line.len(), "{error}"),
                }
            }
        }
    }

    #[test]
    fn rfc5424_fields_round_trip(
        pri in 0u8..=191,
        millis in 0i64..9_000_000_000_000,
        hostname in header_field(),
        appname in header_field(),
        procid in header_field(),
        msgid in header_field(),
        params in proptest::collection::vec(("[a-z]{1,8}", any::<String>()), 0..4),
        message in any::<String>(),
    ) {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut sd = String::from("-");
        if !params.is_empty() {
            sd = "[id@1".into();
            for (name, value) in &params {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]");
                sd.push_str(&format!(" {name}=\"{escaped}\""));
            }
            sd.push(']');
        }
        let timestamp = UtcTime::from_nanos(millis * 1_000_000).rfc3339_millis();
        let line = format!(
            "<{pri}>1 {timestamp} {} {} {} {} {sd} {message}",
            or_dash(&hostname), or_dash(&appname), or_dash(&procid), or_dash(&msgid),
        );
        let parsed = syslog(SyslogFormat::Auto, None).parse_at(line.as_bytes(), NOW)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{line}")))?;
        let r = &parsed.record;
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::from);
        prop_assert_eq!(&r["pri"], &Value::Int(i64::from(pri)));
        prop_assert_eq!(parsed.time, Some(millis * 1_000_000));
        prop_assert_eq!(&r["hostname"], &text(&hostname));
        prop_assert_eq!(&r["appname"], &text(&appname));
        prop_assert_eq!(&r["procid"], &text(&procid));
        prop_assert_eq!(&r["msgid"], &text(&msgid));
        prop_assert_eq!(&r["message"], &Value::from(message.trim_end_matches(['\r', '\n']).to_owned()));
        if params.is_empty() {
            prop_assert_eq!(&r["structured_data"], &Value::Null);
        } else {
            let mut want = Record::new();
            for (name, value) in params {
                want.insert(name, Value::from(value));
            }
            let mut sd = Record::new();
            sd.insert("id@1", Value::from(want));
            prop_assert_eq!(&r["structured_data"], &Value::from(sd));
        }
    }

    #[test]
    fn rfc3164_fields_round_trip(
        pri in proptest::option::of(0u8..=191),
        seconds in (1_718_452_800i64 - 364 * 86_400)..1_718_452_800,
        hostname in "[a-z][a-z0-9.-]{0,20}",
        appname in "[a-zA-Z][a-zA-Z0-9_/.-]{0,20}",
        procid in proptest::option::of(1u32..4_000_000),
        message in "[ -~]{0,80}",
    ) {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let t = UtcTime::from_nanos(seconds * NANOS_PER_SEC);
        let timestamp = format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[t.month as usize - 1], t.day, t.hour, t.minute, t.second
        );
        let pri_text = pri.map(|p| format!("<{p}>")).unwrap_or_default();
        let tag = match procid {
            Some(pid) => format!("{appname}[{pid}]:"),
            None => format!("{appname}:"),
        };
        let line = format!("{pri_text}{timestamp} {hostname} {tag} {message}");
        let parsed = syslog(SyslogFormat::Rfc3164, None).parse_at(line.as_bytes(), NOW)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{line}")))?;
        let r = &parsed.record;
        // Within the year before NOW, the missing year is found again.
        prop_assert_eq!(parsed.time, Some(seconds * NANOS_PER_SEC), "{}", line);
        prop_assert_eq!(&r["timestamp"], &Value::from(timestamp));
        prop_assert_eq!(&r["pri"], &pri.map_or(Value::Null, |p| Value::Int(i64::from(p))));
        prop_assert_eq!(&r["hostname"], &Value::from(hostname));
        prop_assert_eq!(&r["appname"], &Value::from(appname));
        prop_assert_eq!(&r["procid"], &procid.map_or(Value::Null, |p| Value::from(p.to_string())));
        prop_assert_eq!(&r["message"], &Value::from(message));
    }
}
