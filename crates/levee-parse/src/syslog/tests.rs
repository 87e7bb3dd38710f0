use levee_event::Value;
use levee_event::time::{NANOS_PER_SEC, days_from_civil};

use super::*;
use crate::ParseErrorReason;

fn parser(format: SyslogFormat, zone: Option<&str>) -> SyslogParser {
    SyslogParser::new(&SyslogConfig {
        format,
        time_zone: zone.map(str::to_owned),
    })
    .unwrap()
}

fn at(year: i64, month: u32, day: u32, h: i64, m: i64, s: i64) -> i64 {
    (days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s) * NANOS_PER_SEC
}

/// The moment lines are read in these tests: 2024-06-15T12:00:00Z.
fn now() -> Now {
    Now::At(at(2024, 6, 15, 12, 0, 0))
}

fn auto(line: &[u8]) -> Result<Parsed, ParseError> {
    parser(SyslogFormat::Auto, None).parse(line, now())
}

fn text(parsed: &Parsed, key: &str) -> Option<String> {
    parsed.record[key].as_str().map(str::to_owned)
}

#[test]
fn rfc3164_with_pri() {
    let p =
        auto(b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8")
            .unwrap();
    assert_eq!(p.record["pri"], Value::Int(34));
    assert_eq!(text(&p, "facility").as_deref(), Some("auth"));
    assert_eq!(text(&p, "severity").as_deref(), Some("crit"));
    assert_eq!(text(&p, "timestamp").as_deref(), Some("Oct 11 22:14:15"));
    assert_eq!(text(&p, "hostname").as_deref(), Some("mymachine"));
    assert_eq!(text(&p, "appname").as_deref(), Some("su"));
    assert_eq!(text(&p, "procid").as_deref(), Some("123"));
    assert_eq!(p.record["msgid"], Value::Null);
    assert_eq!(p.record["structured_data"], Value::Null);
    assert_eq!(
        text(&p, "message").as_deref(),
        Some("'su root' failed for lonvick on /dev/pts/8")
    );
    // October 11th is more than a day after June 15th: last year's.
    assert_eq!(p.time, Some(at(2023, 10, 11, 22, 14, 15)));
    assert!(!p.time_error);
}

#[test]
fn rfc3164_file_lines_without_pri() {
    let p =
        auto(b"Jun  1 06:25:01 web1 CRON[4242]: (root) CMD (command -v debian-sa1 > /dev/null)")
            .unwrap();
    assert_eq!(p.record["pri"], Value::Null);
    assert_eq!(p.record["facility"], Value::Null);
    assert_eq!(text(&p, "timestamp").as_deref(), Some("Jun  1 06:25:01"));
    assert_eq!(text(&p, "hostname").as_deref(), Some("web1"));
    assert_eq!(text(&p, "appname").as_deref(), Some("CRON"));
    assert_eq!(p.time, Some(at(2024, 6, 1, 6, 25, 1)));
    // Unpadded day, fraction, tag without pid.
    let p = auto(b"Jun 1 06:25:01.250 web1 kernel: [ 1.23] eth0 up").unwrap();
    assert_eq!(p.time, Some(at(2024, 6, 1, 6, 25, 1) + 250_000_000));
    assert_eq!(text(&p, "appname").as_deref(), Some("kernel"));
    assert_eq!(p.record["procid"], Value::Null);
    assert_eq!(text(&p, "message").as_deref(), Some("[ 1.23] eth0 up"));
}

#[test]
fn rfc3164_with_rfc3339_timestamp_as_rsyslog_writes() {
    let p = auto(b"2024-06-15T13:45:01.123456+02:00 db2 systemd[1]: Started Session 4.").unwrap();
    assert_eq!(p.time, Some(at(2024, 6, 15, 11, 45, 1) + 123_456_000));
    assert_eq!(text(&p, "hostname").as_deref(), Some("db2"));
    assert_eq!(text(&p, "procid").as_deref(), Some("1"));
    assert_eq!(text(&p, "message").as_deref(), Some("Started Session 4."));
}

#[test]
fn rfc3164_without_hostname_or_tag() {
    let p = auto(b"<13>Jun 15 11:00:00 myapp: hello").unwrap();
    assert_eq!(p.record["hostname"], Value::Null);
    assert_eq!(text(&p, "appname").as_deref(), Some("myapp"));
    assert_eq!(text(&p, "message").as_deref(), Some("hello"));
    let p = auto(b"<13>Jun 15 11:00:00 host just some words").unwrap();
    assert_eq!(text(&p, "hostname").as_deref(), Some("host"));
    assert_eq!(p.record["appname"], Value::Null);
    assert_eq!(text(&p, "message").as_deref(), Some("just some words"));
    let p = auto(b"<13>Jun 15 11:00:00 host app[12 x]: y").unwrap();
    assert_eq!(p.record["procid"], Value::Null);
    assert_eq!(text(&p, "message").as_deref(), Some("app[12 x]: y"));
}

#[test]
fn rfc3164_time_zone_applies() {
    let p = parser(SyslogFormat::Rfc3164, Some("America/Los_Angeles"))
        .parse(b"Jun 15 04:00:00 h a: m", now())
        .unwrap();
    assert_eq!(p.time, Some(at(2024, 6, 15, 11, 0, 0)));
}

#[test]
fn rfc3164_odd_headers() {
    // A PRI without a header: the rest is the message (RFC 3164 §4.3.2).
    let p = auto(b"<13>no header here").unwrap();
    assert_eq!(p.record["pri"], Value::Int(13));
    assert_eq!(p.record["timestamp"], Value::Null);
    assert_eq!(text(&p, "message").as_deref(), Some("no header here"));
    assert_eq!((p.time, p.time_error), (None, false));
    // A header cut after the timestamp.
    let p = auto(b"<13>Jun 15 11:00:00").unwrap();
    assert_eq!(p.record["hostname"], Value::Null);
    assert_eq!(text(&p, "message").as_deref(), Some(""));
    // A date that does not exist is kept as text and flagged.
    let p = auto(b"<13>Feb 30 11:00:00 h a: m").unwrap();
    assert_eq!(text(&p, "timestamp").as_deref(), Some("Feb 30 11:00:00"));
    assert_eq!((p.time, p.time_error), (None, true));
    let p = auto(b"2024-13-45T00:00:00Z h a: m").unwrap();
    assert_eq!((p.time, p.time_error), (None, true));
    // Without a PRI, a line that has no timestamp is not syslog.
    let err = auto(b"hello world").unwrap_err();
    assert_eq!(err.position, 0);
    assert!(err.to_string().contains("a timestamp"), "{err}");
}

#[test]
fn pri_range_and_shape() {
    assert_eq!(
        auto(b"<0>Jun 15 11:00:00 h a: m").unwrap().record["facility"],
        Value::from("kern")
    );
    let p = auto(b"<191>Jun 15 11:00:00 h a: m").unwrap();
    assert_eq!(text(&p, "facility").as_deref(), Some("local7"));
    assert_eq!(text(&p, "severity").as_deref(), Some("debug"));
    for (line, position) in [
        (&b"<192>Jun 15 11:00:00 h a: m"[..], 1),
        (b"<999>x", 1),
        (b"<1234>x", 1),
        (b"<>x", 1),
        (b"<a>x", 1),
        (b"<34", 3),
        (b"<", 1),
    ] {
        let err = auto(line).unwrap_err();
        assert_eq!(
            err.position,
            position,
            "{}: {err}",
            String::from_utf8_lossy(line)
        );
    }
    assert!(
        auto(b"<192>x")
            .unwrap_err()
            .to_string()
            .contains("from 0 to 191")
    );
    assert_eq!(auto(b"").unwrap_err().reason, ParseErrorReason::EmptyLine);
}

const RFC5424_EXAMPLE: &[u8] = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry...";

#[test]
fn rfc5424_example() {
    let p = auto(RFC5424_EXAMPLE).unwrap();
    assert_eq!(p.record["pri"], Value::Int(165));
    assert_eq!(text(&p, "facility").as_deref(), Some("local4"));
    assert_eq!(text(&p, "severity").as_deref(), Some("notice"));
    assert_eq!(
        text(&p, "hostname").as_deref(),
        Some("mymachine.example.com")
    );
    assert_eq!(text(&p, "appname").as_deref(), Some("evntslog"));
    assert_eq!(p.record["procid"], Value::Null);
    assert_eq!(text(&p, "msgid").as_deref(), Some("ID47"));
    assert_eq!(
        text(&p, "message").as_deref(),
        Some("An application event log entry...")
    );
    assert_eq!(p.time, Some(at(2003, 10, 11, 22, 14, 15) + 3_000_000));
    let Value::Map(sd) = &p.record["structured_data"] else {
        panic!("no structured data: {:?}", p.record)
    };
    let Value::Map(params) = &sd["exampleSDID@32473"] else {
        panic!("not a map")
    };
    assert_eq!(
        params.keys().collect::<Vec<_>>(),
        ["iut", "eventSource", "eventID"]
    );
    assert_eq!(params["eventSource"], Value::from("Application"));
}

#[test]
fn rfc5424_structured_data_escapes_and_several_elements() {
    let line = br#"<13>1 - - - - - [a@1 x="q\"uote" y="back\\slash" z="br\]acket" w="other\n"][b@2][a@1 v="more"] msg"#;
    let p = auto(line).unwrap();
    assert_eq!(p.record["timestamp"], Value::Null);
    assert_eq!((p.time, p.time_error), (None, false));
    let Value::Map(sd) = &p.record["structured_data"] else {
        panic!("no structured data")
    };
    assert_eq!(sd.keys().collect::<Vec<_>>(), ["a@1", "b@2"]);
    let Value::Map(a) = &sd["a@1"] else { panic!() };
    assert_eq!(a["x"], Value::from("q\"uote"));
    assert_eq!(a["y"], Value::from("back\\slash"));
    assert_eq!(a["z"], Value::from("br]acket"));
    assert_eq!(a["w"], Value::from("other\\n"));
    assert_eq!(a["v"], Value::from("more"));
    assert_eq!(sd["b@2"], Value::Map(Default::default()));
    assert_eq!(text(&p, "message").as_deref(), Some("msg"));
}

#[test]
fn rfc5424_nil_values_and_empty_message() {
    let p = auto(b"<14>1 2024-06-15T12:00:00+02:00 - - - - -").unwrap();
    for key in ["hostname", "appname", "procid", "msgid", "structured_data"] {
        assert_eq!(p.record[key], Value::Null, "{key}");
    }
    assert_eq!(text(&p, "message").as_deref(), Some(""));
    assert_eq!(p.time, Some(at(2024, 6, 15, 10, 0, 0)));
}

#[test]
fn rfc5424_truncated_and_malformed() {
    let cases: [(&[u8], usize, &str); 9] = [
        (
            b"<165>1 2003-10-11T22:14:15.003Z mymachine",
            41,
            "line ended; expected a space after HOSTNAME",
        ),
        (
            b"<165>1 2003-10-11T22:14:15.003Z host app",
            40,
            "line ended; expected a space after APP-NAME",
        ),
        (
            b"<165>1 - h a p m ",
            17,
            "line ended; expected STRUCTURED-DATA",
        ),
        (
            b"<165>1 - h a p m x",
            17,
            "expected STRUCTURED-DATA: '-' or '['",
        ),
        (
            b"<165>1 - h a p m [id",
            20,
            "line ended; expected ']' to close",
        ),
        (
            b"<165>1 - h a p m [id k=\"v",
            25,
            "line ended; expected '\"' to close",
        ),
        (b"<165>1 - h a p m [id k=v]", 22, "expected '=\"'"),
        (
            b"<165>1 - h a p m [id]x",
            21,
            "expected a space before the message",
        ),
        (
            b"<165>1  h a p m -",
            7,
            "expected TIMESTAMP, not a second space",
        ),
    ];
    for (line, position, message) in cases {
        let err = auto(line).unwrap_err();
        assert_eq!(
            err.position,
            position,
            "{}: {err}",
            String::from_utf8_lossy(line)
        );
        assert!(err.to_string().contains(message), "{err}");
    }
    // A bad timestamp is kept and flagged, not fatal.
    let p = auto(b"<165>1 yesterday h a p m - x").unwrap();
    assert_eq!(text(&p, "timestamp").as_deref(), Some("yesterday"));
    assert!(p.time_error);
}

#[test]
fn forced_formats() {
    let rfc5424 = parser(SyslogFormat::Rfc5424, None);
    let err = rfc5424.parse(b"Jun 15 11:00:00 h a: m", now()).unwrap_err();
    assert_eq!(err.position, 0);
    let err = rfc5424
        .parse(b"<13>Jun 15 11:00:00 h a: m", now())
        .unwrap_err();
    assert!(err.to_string().contains("a version"), "{err}");
    // Forced 3164 reads a 5424 line as a PRI without a header.
    let p = parser(SyslogFormat::Rfc3164, None)
        .parse(b"<13>1 - h a p m - x", now())
        .unwrap();
    assert_eq!(text(&p, "message").as_deref(), Some("1 - h a p m - x"));
}

#[test]
fn invalid_utf8_is_replaced_not_refused() {
    let p = auto(b"<13>Jun 15 11:00:00 h\xff a: caf\xc3").unwrap();
    assert_eq!(text(&p, "hostname").as_deref(), Some("h\u{fffd}"));
    assert_eq!(text(&p, "message").as_deref(), Some("caf\u{fffd}"));
    let p = auto(b"<13>1 - h - - - [i k=\"\xfe\"] \xEF\xBB\xBFok").unwrap();
    assert_eq!(text(&p, "message").as_deref(), Some("ok"));
}

#[test]
fn config_refuses_unknown_zone() {
    let err = SyslogParser::new(&SyslogConfig {
        format: SyslogFormat::Auto,
        time_zone: Some("Nowhere/City".into()),
    })
    .unwrap_err();
    assert_eq!(
        err,
        ParserConfigError::UnknownTimeZone("Nowhere/City".into())
    );
}
