//! The apache parser on the odd lines real access logs contain.

use levee_event::Value;
use levee_event::time::NANOS_PER_SEC;
use proptest::prelude::*;

use crate::ParserConfigError;
use crate::{ApacheConfig, ParseError, ParseErrorReason, Parsed, Parser, ParserConfig};

/// 10/Oct/2000:13:55:36 -0700, Apache's documented example.
const TIME: i64 = 971_211_336 * NANOS_PER_SEC;

fn parser(format: &str) -> Parser {
    ParserConfig::Apache(ApacheConfig {
        format: format.to_owned(),
        time_zone: None,
    })
    .build()
    .unwrap()
}

fn combined(line: &[u8]) -> Result<Parsed, ParseError> {
    parser("combined").parse(line)
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn fields(parsed: &Parsed) -> Vec<(&str, &Value)> {
    parsed.record.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

#[test]
fn combined_line_gives_every_field_typed() {
    let parsed = combined(
        br#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
    )
    .unwrap();
    assert_eq!(
        fields(&parsed),
        [
            ("remote_host", &s("127.0.0.1")),
            ("remote_logname", &Value::Null),
            ("remote_user", &s("frank")),
            ("time", &s("10/Oct/2000:13:55:36 -0700")),
            ("request", &s("GET /apache_pb.gif?x=1 HTTP/1.0")),
            ("method", &s("GET")),
            ("path", &s("/apache_pb.gif")),
            ("query", &s("x=1")),
            ("protocol", &s("HTTP/1.0")),
            ("status", &Value::Int(200)),
            ("bytes_sent", &Value::Int(2326)),
            ("header_referer", &s("http://www.example.com/start.html")),
            ("header_user_agent", &s("Mozilla/4.08 [en] (Win98; I ;Nav)")),
        ]
    );
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn common_and_vhost_combined() {
    let parsed = parser("common")
        .parse(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 -"#)
        .unwrap();
    assert_eq!(parsed.record.len(), 11);
    assert_eq!(parsed.record["bytes_sent"], Value::Null);
    assert_eq!(parsed.record["remote_user"], Value::Null);

    let parsed = parser("vhost_combined")
        .parse(br#"www.example.com:443 2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/2.0" 200 5120 "-" "curl/8.4.0""#)
        .unwrap();
    assert_eq!(parsed.record["vhost"], s("www.example.com"));
    assert_eq!(parsed.record["server_port"], Value::Int(443));
    assert_eq!(parsed.record["remote_host"], s("2001:db8::1"));
    assert_eq!(parsed.record["bytes_out"], Value::Int(5120));
    assert_eq!(parsed.record["header_referer"], Value::Null);
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn custom_format_with_timings_and_ids() {
    let p = parser(
        r#"%a %{msec}t \"%m %U%q %H\" %>s %B %D %{ms}T %T %X %k %P/%{tid}P %I %O %L \"%{X-Forwarded-For}i\""#,
    );
    let parsed = p
        .parse(br#"192.0.2.1 971211336123 "POST /api/v1/send?dry=1 HTTP/1.1" 201 0 2500 2 0 - 3 1234/5678 512 1024 YCuyt1h4Vc "203.0.113.9, 10.0.0.1""#)
        .unwrap();
    assert_eq!(
        fields(&parsed),
        [
            ("remote_addr", &s("192.0.2.1")),
            ("time", &Value::Int(971_211_336_123)),
            ("request_method", &s("POST")),
            ("url_path", &s("/api/v1/send")),
            ("query_string", &s("dry=1")),
            ("request_protocol", &s("HTTP/1.1")),
            ("status", &Value::Int(201)),
            ("bytes_sent", &Value::Int(0)),
            ("request_time_us", &Value::Int(2500)),
            ("request_time_ms", &Value::Int(2)),
            ("request_time_s", &Value::Int(0)),
            // `-` here means the connection closed after the response.
            ("connection_status", &s("-")),
            ("keepalive_requests", &Value::Int(3)),
            ("pid", &Value::Int(1234)),
            ("tid", &Value::Int(5678)),
            ("bytes_in", &Value::Int(512)),
            ("bytes_out", &Value::Int(1024)),
            ("log_id", &s("YCuyt1h4Vc")),
            ("header_x_forwarded_for", &s("203.0.113.9, 10.0.0.1")),
        ]
    );
    assert_eq!(parsed.time, Some(TIME + 123_000_000));

    // No query: %q logs nothing.
    let parsed = p
        .parse(br#"192.0.2.1 971211336123 "GET / HTTP/1.1" 200 0 1 0 0 + 0 1/1 1 1 - "-""#)
        .unwrap();
    assert_eq!(parsed.record["url_path"], s("/"));
    assert_eq!(parsed.record["query_string"], Value::Null);
    assert_eq!(parsed.record["connection_status"], s("+"));
    assert_eq!(parsed.record["log_id"], Value::Null);
}

#[test]
fn escapes_in_request_and_headers() {
    let parsed = combined(
        br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.1" 200 5 "-" "Mozilla/5.0 \"quoted\" \\o/ \xe9""#,
    )
    .unwrap();
    assert_eq!(parsed.record["path"], s("/a\"b"));
    assert_eq!(
        parsed.record["header_user_agent"],
        s("Mozilla/5.0 \"quoted\" \\o/ \u{FFFD}")
    );
}

#[test]
fn tls_handshake_and_empty_request() {
    let parsed = combined(
        br#"198.51.100.7 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00\xa5" 400 226 "-" "-""#,
    )
    .unwrap();
    assert_eq!(parsed.record["request"], s("\u{16}\u{3}\u{1}\u{0}\u{FFFD}"));
    for key in ["method", "path", "query", "protocol"] {
        assert_eq!(parsed.record[key], Value::Null, "{key}");
    }
    let parsed =
        combined(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "-" 408 - "-" "-""#).unwrap();
    assert_eq!(parsed.record["request"], Value::Null);
    assert_eq!(parsed.record["status"], Value::Int(408));
}

#[test]
fn bad_lines_say_where_and_what() {
    let err = combined(b"").unwrap_err();
    assert_eq!(err, ParseError::new(0, ParseErrorReason::EmptyLine));

    let line = br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200"#;
    let err = combined(line).unwrap_err();
    assert_eq!(err.position, line.len());
    assert_eq!(
        err.reason,
        ParseErrorReason::UnexpectedEnd {
            expected: "' ' after %>s".into()
        }
    );

    let err =
        combined(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 5 "-" "-""#)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 60: expected an integer for field `status`, found 'OK'"
    );

    let good = r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-""#;
    let err = combined(format!("{good} extra").as_bytes()).unwrap_err();
    assert_eq!(
        err,
        ParseError::new(good.len(), ParseErrorReason::TrailingBytes)
    );

    let err = parser("%t %h").parse(b"10/Oct/2000 x").unwrap_err();
    assert_eq!(err.to_string(), "at byte 0: expected '[' before %t");
}

#[test]
fn unreadable_time_keeps_the_text() {
    let parsed =
        combined(br#"192.0.2.1 - - [32/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-""#)
            .unwrap();
    assert_eq!((parsed.time, parsed.time_error), (None, true));
    assert_eq!(parsed.record["time"], s("32/Oct/2000:13:55:36 -0700"));
}

#[test]
fn very_long_line() {
    let agent = "A".repeat(1 << 20);
    let line = format!(
        r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "{agent}""#
    );
    let parsed = combined(line.as_bytes()).unwrap();
    assert_eq!(
        parsed.record["header_user_agent"].as_str().map(str::len),
        Some(1 << 20)
    );
}

#[test]
fn configs_are_checked_once() {
    let build = |format: &str| {
        ParserConfig::Apache(ApacheConfig {
            format: format.to_owned(),
            time_zone: None,
        })
        .build()
    };
    let err = build("fancy").unwrap_err();
    assert!(
        matches!(&err, ParserConfigError::UnknownApacheFormat { format, .. } if format == "fancy"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("use one of combined, common, vhost_combined, combinedio, referer, agent"),
        "{err}"
    );
    assert!(matches!(
        build("%h%l"),
        Err(ParserConfigError::InvalidLogFormat { position: 2, .. })
    ));
    for name in [
        "combined",
        "common",
        "vhost_combined",
        "combinedio",
        "referer",
        "agent",
    ] {
        assert_eq!(build(name).unwrap().type_name(), "apache", "{name}");
    }
}

fn with_zone(format: &str, zone: &str) -> Result<Parser, ParserConfigError> {
    ParserConfig::Apache(ApacheConfig {
        format: format.to_owned(),
        time_zone: Some(zone.to_owned()),
    })
    .build()
}

#[test]
fn strftime_time_in_brackets_is_the_event_time() {
    let p = parser(r#"%h [%{%d/%b/%Y:%H:%M:%S %z}t] \"%r\" %>s"#);
    let parsed = p
        .parse(br#"192.0.2.1 [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200"#)
        .unwrap();
    assert_eq!(
        fields(&parsed)[..2],
        [
            ("remote_host", &s("192.0.2.1")),
            ("time", &s("10/Oct/2000:13:55:36 -0700")),
        ]
    );
    assert_eq!((parsed.time, parsed.time_error), (Some(TIME), false));
    // begin: and end: name the moment; the text reads the same.
    let p = parser("%h [%{end:%d/%b/%Y:%H:%M:%S %z}t]");
    let parsed = p.parse(b"192.0.2.1 [10/Oct/2000:13:55:36 -0700]").unwrap();
    assert_eq!(parsed.time, Some(TIME));
    // Without a format they log as %t does, brackets and all.
    let parsed = parser("%h %{end}t")
        .parse(b"192.0.2.1 [10/Oct/2000:13:55:36 -0700]")
        .unwrap();
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn strftime_time_may_hold_the_literal_that_ends_it() {
    // The time has a space, and a space ends it: its format says where.
    let p = with_zone("%{%Y-%m-%d %H:%M:%S}t %h %>s", "-07:00").unwrap();
    let parsed = p.parse(b"2000-10-10 13:55:36 192.0.2.1 200").unwrap();
    assert_eq!(parsed.record["time"], s("2000-10-10 13:55:36"));
    assert_eq!(parsed.record["remote_host"], s("192.0.2.1"));
    assert_eq!(parsed.time, Some(TIME));
    // Space-padded days and runs of spaces are part of the time.
    let p = parser("%{%a %b %e %H:%M:%S %Y}t %h");
    let parsed = p.parse(b"Tue Oct  3 13:55:36 2000 192.0.2.1").unwrap();
    assert_eq!(parsed.record["time"], s("Tue Oct  3 13:55:36 2000"));
    assert_eq!(parsed.record["remote_host"], s("192.0.2.1"));
    assert!(parsed.time.is_some());
}

#[test]
fn strftime_time_with_milliseconds_as_apache_docs_write_it() {
    let p = parser(r#"%h [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] \"%r\""#);
    let parsed = p
        .parse(br#"192.0.2.1 [10/Oct/2000 13:55:36.123 -0700] "GET / HTTP/1.1""#)
        .unwrap();
    assert_eq!(parsed.record["time"], s("10/Oct/2000 13:55:36.123 -0700"));
    assert_eq!(parsed.time, Some(TIME + 123_000_000));
    let p = parser("%{%s}t.%{usec_frac}t %h");
    let parsed = p.parse(b"971211336.000250 192.0.2.1").unwrap();
    assert_eq!(parsed.time, Some(TIME + 250_000));
    // A fraction on its own is a number.
    let parsed = parser("%{sec}t.%{msec_frac}t %h")
        .parse(b"971211336.123 192.0.2.1")
        .unwrap();
    assert_eq!(parsed.record["time_msec_frac"], Value::Int(123));
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn strftime_time_without_year_or_zone() {
    let p = with_zone("%{%b %d %H:%M:%S}t %h", "America/Los_Angeles").unwrap();
    let now = 1_718_452_800 * NANOS_PER_SEC; // 2024-06-15T12:00:00Z
    let parsed = p.parse_at(b"Jun 15 04:00:00 192.0.2.1", now).unwrap();
    assert_eq!(parsed.time, Some(now - 1_000_000_000 * 3600));
    // Without time_zone, UTC.
    let parsed = parser("%{%F %T}t %h")
        .parse(b"2000-10-10 20:55:36 192.0.2.1")
        .unwrap();
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn unreadable_strftime_time_keeps_the_text() {
    let p = parser("%{%Y-%m-%d %H:%M:%S}t %h %>s");
    // Not the format's shape: the field runs to the first space.
    let parsed = p.parse(b"yesterday 192.0.2.1 200").unwrap();
    assert_eq!((parsed.time, parsed.time_error), (None, true));
    assert_eq!(parsed.record["time"], s("yesterday"));
    assert_eq!(parsed.record["remote_host"], s("192.0.2.1"));
    // The shape, with a month that does not exist.
    let parsed = p.parse(b"2000-13-10 13:55:36 192.0.2.1 200").unwrap();
    assert_eq!((parsed.time, parsed.time_error), (None, true));
    assert_eq!(parsed.record["time"], s("2000-13-10 13:55:36"));
    assert_eq!(parsed.record["status"], Value::Int(200));
    // Garbage that only starts like a time.
    let parsed = p.parse(b"2000-10-10 \xff\x00 192.0.2.1 200");
    assert!(parsed.is_err() || parsed.is_ok_and(|p| p.time_error));
    let p = parser("[%{%d/%b/%Y:%H:%M:%S %z}t] %h");
    let parsed = p.parse(b"[10/Oct/2000:13:55:36 +9999] 192.0.2.1").unwrap();
    assert_eq!((parsed.time, parsed.time_error), (None, true));
    assert_eq!(parsed.record["time"], s("10/Oct/2000:13:55:36 +9999"));
    let err = p
        .parse(b"[10/Oct/2000:13:55:36 -0700 192.0.2.1")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("at byte 37: line ended; expected '] ' after %{{%d/%b/%Y:%H:%M:%S %z}}t")
    );
}

#[test]
fn time_zone_is_checked_and_needs_a_strftime_time() {
    assert!(with_zone("%{%F %T}t %h", "Europe/Berlin").is_ok());
    assert_eq!(
        with_zone("%{%F %T}t %h", "Mars/Olympus").unwrap_err(),
        ParserConfigError::UnknownTimeZone("Mars/Olympus".into())
    );
    for format in ["combined", "%{msec}t %h"] {
        let err = with_zone(format, "+09:00").unwrap_err();
        assert_eq!(err, ParserConfigError::TimeZoneWithoutStrftime);
        assert!(err.to_string().contains("%{FORMAT}t"), "{err}");
    }
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let source: Source = toml::from_str(
        r#"parser = { type = "apache", format = '%{%F %T}t %h', time_zone = "+02:00" }"#,
    )
    .unwrap();
    let parsed = source
        .parser
        .build()
        .unwrap()
        .parse(b"2000-10-10 22:55:36 192.0.2.1")
        .unwrap();
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn unknown_strftime_conversions_are_refused_at_start() {
    let err = parser_result("%h %{%Y-%m-%d %H:%M:%S %Q}t").unwrap_err();
    assert!(
        matches!(err, ParserConfigError::InvalidLogFormat { position: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("`%Q` is not supported"), "{err}");
    // Locale-dependent conversions are refused too, not guessed.
    for format in ["%{%c}t", "%{%x %X}t", "%{%F %r}t"] {
        let err = parser_result(format).unwrap_err().to_string();
        assert!(err.contains("is not supported"), "{format}: {err}");
    }
}

fn parser_result(format: &str) -> Result<Parser, ParserConfigError> {
    ParserConfig::Apache(ApacheConfig {
        format: format.to_owned(),
        time_zone: None,
    })
    .build()
}

/// Writes text as Apache escapes it in a quoted field.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

proptest! {
    #[test]
    fn quoted_headers_read_back(referer in any::<String>(), agent in any::<String>()) {
        prop_assume!(referer != "-" && agent != "-");
        let line = format!(
            r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "{}" "{}""#,
            escape(&referer),
            escape(&agent)
        );
        let parsed = combined(line.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{line}")))?;
        prop_assert_eq!(&parsed.record["header_referer"], &s(&referer));
        prop_assert_eq!(&parsed.record["header_user_agent"], &s(&agent));
    }

    #[test]
    fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        for p in [
            parser("combined"),
            parser("%h %{msec}t %U%q %X %D \"%{A}i\""),
            parser("%{%F %T}t.%{usec_frac}t %h \"%r\""),
            parser("[%{end:%b %e %T}t] %h"),
        ] {
            if let Err(e) = p.parse(&line) {
                prop_assert!(e.position <= line.len());
            }
        }
    }

    #[test]
    fn arbitrary_formats_compile_or_refuse(
        format in r#"[%a-zA-Z{}<>!0-9,\\" \[\]-]{0,40}"#,
        line in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let config = ParserConfig::Apache(ApacheConfig { format: format.clone(), time_zone: None });
        if let Ok(p) = config.build() {
            let _ = p.parse(&line);
            let _ = p.parse(format.as_bytes());
        }
    }
}
