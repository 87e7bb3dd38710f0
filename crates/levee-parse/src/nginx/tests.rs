//! The nginx parser on the odd lines real access logs contain.

use levee_event::Value;
use levee_event::time::NANOS_PER_SEC;

use crate::{NginxConfig, NginxEscape, ParseError, ParseErrorReason, Parsed, Parser, ParserConfig};

/// 10/Oct/2000:13:55:36 -0700, Apache's documented example.
const TIME: i64 = 971_211_336 * NANOS_PER_SEC;

fn parser(format: &str) -> Parser {
    parser_with(format, None)
}

fn parser_with(format: &str, escape: Option<NginxEscape>) -> Parser {
    ParserConfig::Nginx(NginxConfig {
        format: format.to_owned(),
        escape,
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

#[test]
fn combined_line_gives_every_field_typed() {
    let line = br#"203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "GET /api/v1/webhooks?limit=10 HTTP/1.1" 200 2326 "https://example.com/" "Mozilla/5.0 (X11)""#;
    let parsed = combined(line).unwrap();
    let fields: Vec<(&str, &Value)> = parsed.record.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(
        fields,
        [
            ("remote_addr", &s("203.0.113.9")),
            ("remote_user", &s("alice")),
            ("time_local", &s("10/Oct/2000:13:55:36 -0700")),
            ("request", &s("GET /api/v1/webhooks?limit=10 HTTP/1.1")),
            ("method", &s("GET")),
            ("path", &s("/api/v1/webhooks")),
            ("query", &s("limit=10")),
            ("protocol", &s("HTTP/1.1")),
            ("status", &Value::Int(200)),
            ("body_bytes_sent", &Value::Int(2326)),
            ("http_referer", &s("https://example.com/")),
            ("http_user_agent", &s("Mozilla/5.0 (X11)")),
        ]
    );
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn ipv6_client() {
    let parsed = combined(
        br#"2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/2.0" 200 612 "-" "curl/8.4.0""#,
    )
    .unwrap();
    assert_eq!(parsed.record["remote_addr"], s("2001:db8::1"));
    assert_eq!(parsed.record["query"], Value::Null);
    assert_eq!(parsed.record["protocol"], s("HTTP/2.0"));
}

#[test]
fn dash_is_null_for_bytes_user_and_referer() {
    let parsed =
        combined(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 - "-" "-""#)
            .unwrap();
    for key in [
        "remote_user",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ] {
        assert_eq!(parsed.record[key], Value::Null, "{key}");
    }
    assert_eq!(parsed.record["status"], Value::Int(304));
}

#[test]
fn escaped_quotes_inside_the_user_agent() {
    let parsed = combined(
        br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 \"quoted\" agent""#,
    )
    .unwrap();
    assert_eq!(
        parsed.record["http_user_agent"],
        s("Mozilla/5.0 \"quoted\" agent")
    );
    // nginx's own escaping of the same agent.
    let parsed = combined(
        br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 \x22quoted\x22 agent""#,
    )
    .unwrap();
    assert_eq!(
        parsed.record["http_user_agent"],
        s("Mozilla/5.0 \"quoted\" agent")
    );
}

#[test]
fn tls_handshake_sent_to_the_http_port() {
    let parsed = combined(
        br#"198.51.100.7 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03" 400 157 "-" "-""#,
    )
    .unwrap();
    assert_eq!(
        parsed.record["request"],
        s("\u{16}\u{3}\u{1}\u{0}\u{FFFD}\u{1}\u{0}\u{0}\u{FFFD}\u{3}\u{3}")
    );
    for key in ["method", "path", "query", "protocol"] {
        assert_eq!(parsed.record[key], Value::Null, "{key}");
    }
    assert_eq!(parsed.record["status"], Value::Int(400));
    assert_eq!(parsed.record["body_bytes_sent"], Value::Int(157));
}

#[test]
fn escaped_and_raw_request_lines_split_after_decoding() {
    // Escapes are decoded before the split; raw bytes that are not UTF-8
    // become U+FFFD in the line and in its parts alike.
    let escaped = combined(
        br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\xC3\xA9?q=\x22x\x22 HTTP/1.1" 200 1 "-" "-""#,
    )
    .unwrap();
    assert_eq!(escaped.record["request"], s("GET /café?q=\"x\" HTTP/1.1"));
    assert_eq!(escaped.record["path"], s("/café"));
    assert_eq!(escaped.record["query"], s("q=\"x\""));
    assert_eq!(escaped.record["protocol"], s("HTTP/1.1"));

    let raw = combined(
        b"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] \"PUT /a\xff HTTP/1.0\" 200 1 \"-\" \"-\"",
    )
    .unwrap();
    assert_eq!(raw.record["request"], s("PUT /a\u{FFFD} HTTP/1.0"));
    assert_eq!(raw.record["method"], s("PUT"));
    assert_eq!(raw.record["path"], s("/a\u{FFFD}"));
    assert_eq!(raw.record["query"], Value::Null);

    let dash =
        combined(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-""#).unwrap();
    for key in ["request", "method", "path", "query", "protocol"] {
        assert_eq!(dash.record[key], Value::Null, "{key}");
    }
}

#[test]
fn empty_request_with_status_400() {
    let parsed =
        combined(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "" 400 0 "-" "-""#).unwrap();
    assert_eq!(parsed.record["request"], s(""));
    assert_eq!(parsed.record["method"], Value::Null);
    assert_eq!(parsed.record["status"], Value::Int(400));
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn truncated_lines_end_early() {
    let line = br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 23"#;
    let err = combined(line).unwrap_err();
    assert_eq!(err.position, line.len());
    assert_eq!(
        err.to_string(),
        format!(
            "at byte {}: line ended; expected ' \\\"' after $body_bytes_sent",
            line.len()
        )
    );

    let inside_quotes =
        br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 23 "-" "Mozilla/5."#;
    let err = combined(inside_quotes).unwrap_err();
    assert_eq!(
        err.reason,
        ParseErrorReason::UnexpectedEnd {
            expected: "'\\\"' after $http_user_agent".into()
        }
    );
}

#[test]
fn trailing_garbage_is_refused_where_it_starts() {
    let good = r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl""#;
    let err = combined(format!("{good} trailing junk").as_bytes()).unwrap_err();
    assert_eq!(
        err,
        ParseError::new(good.len(), ParseErrorReason::TrailingBytes)
    );

    // A format ending in a variable: the junk lands in $request_time.
    let err = parser("combined_request_time")
        .parse(format!("{good} 0.005 junk").as_bytes())
        .unwrap_err();
    assert_eq!(err.position, good.len() + 1);
    assert_eq!(
        err.to_string(),
        format!(
            "at byte {}: expected seconds such as 0.005 for $request_time, found '0.005 junk'",
            good.len() + 1
        )
    );
}

#[test]
fn invalid_utf8_bytes_become_replacement_chars() {
    let parsed = combined(
        b"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /caf\xe9 HTTP/1.1\" 404 0 \"-\" \"agent\xff\xfe\"",
    )
    .unwrap();
    assert_eq!(parsed.record["path"], s("/caf\u{FFFD}"));
    assert_eq!(parsed.record["http_user_agent"], s("agent\u{FFFD}\u{FFFD}"));
}

#[test]
fn utf8_fields_are_kept_whole_beside_escapes() {
    // `escape=none` writes UTF-8 as it is: the line is checked once and
    // each field cut from it, an escaped one still decoded.
    let parsed = combined(
        "192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /café/\u{1F600}?q=ü HTTP/1.1\" 200 5 \"https://例え.jp/\" \"agent \\x22ß\\x22\""
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.record["path"], s("/café/\u{1F600}"));
    assert_eq!(parsed.record["query"], s("q=ü"));
    assert_eq!(parsed.record["http_referer"], s("https://例え.jp/"));
    assert_eq!(parsed.record["http_user_agent"], s("agent \"ß\""));
}

#[test]
fn crlf_line_endings_are_tolerated() {
    let line = br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl""#;
    let plain = combined(line).unwrap();
    let mut crlf = line.to_vec();
    crlf.extend_from_slice(b"\r\n");
    assert_eq!(combined(&crlf).unwrap(), plain);
    crlf.pop();
    assert_eq!(combined(&crlf).unwrap(), plain);
}

#[test]
fn empty_line_is_an_error() {
    assert_eq!(
        combined(b"").unwrap_err(),
        ParseError::new(0, ParseErrorReason::EmptyLine)
    );
    assert_eq!(
        combined(b"\r").unwrap_err().reason,
        ParseErrorReason::EmptyLine
    );
}

#[test]
fn very_long_line() {
    let agent = "A".repeat(1 << 20);
    let path = format!("/{}", "p".repeat(64 * 1024));
    let line = format!(
        r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET {path}?q=1 HTTP/1.1" 200 5 "-" "{agent}""#
    );
    let parsed = combined(line.as_bytes()).unwrap();
    assert_eq!(parsed.record["path"], s(&path));
    assert_eq!(
        parsed.record["http_user_agent"].as_str().map(str::len),
        Some(1 << 20)
    );
}

#[test]
fn another_format_gives_the_position_and_what_was_expected() {
    let err = combined(br#"{"remote_addr":"192.0.2.1"}"#).unwrap_err();
    assert_eq!(err.position, 27);
    assert!(
        matches!(err.reason, ParseErrorReason::UnexpectedEnd { .. }),
        "{err}"
    );

    let err = parser("[$time_local] $status")
        .parse(b"10/Oct/2000:13:55:36 -0700 200")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 0: expected '[' before $time_local"
    );

    let err =
        combined(br#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 5 "-" "curl""#)
            .unwrap_err();
    assert_eq!(err.position, 60);
    assert_eq!(
        err.to_string(),
        "at byte 60: expected an integer for $status, found 'OK'"
    );
}

#[test]
fn unreadable_time_leaves_time_unset_and_keeps_the_text() {
    let parsed = combined(
        br#"192.0.2.1 - - [99/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl""#,
    )
    .unwrap();
    assert_eq!(parsed.time, None);
    assert_eq!(parsed.record["time_local"], s("99/Oct/2000:13:55:36 -0700"));
    assert!(!parsed.record.contains_key("_time_parse_error"));
}

#[test]
fn main_format_adds_forwarded_for() {
    let parsed = parser("main")
        .parse(br#"10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl" "203.0.113.9, 10.0.0.1""#)
        .unwrap();
    assert_eq!(
        parsed.record["http_x_forwarded_for"],
        s("203.0.113.9, 10.0.0.1")
    );
}

#[test]
fn upstream_timings_are_summed() {
    let p = parser(
        r#"$remote_addr [$time_iso8601] "$request" $status $request_time "$upstream_response_time" $upstream_connect_time"#,
    );
    let parsed = p
        .parse(br#"192.0.2.1 [2000-10-10T13:55:36-07:00] "POST /x HTTP/1.1" 502 0.252 "0.100, 0.150" -"#)
        .unwrap();
    assert_eq!(parsed.record["request_time"], Value::Float(0.252));
    assert_eq!(parsed.record["upstream_response_time"], Value::Float(0.250));
    assert_eq!(parsed.record["upstream_connect_time"], Value::Null);
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn msec_gives_the_time_to_the_nanosecond() {
    let parsed = parser("$msec $status").parse(b"971211336.123 200").unwrap();
    assert_eq!(parsed.record["msec"], Value::Float(971_211_336.123));
    assert_eq!(parsed.time, Some(TIME + 123_000_000));
}

#[test]
fn pasted_nginx_conf_format() {
    let p = parser(
        "'$remote_addr - $remote_user [$time_local] \"$request\" '\n\
         '$status $body_bytes_sent \"$http_referer\" '\n\
         '\"$http_user_agent\" \"$http_x_forwarded_for\"';",
    );
    let line =
        br#"10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl" "-""#;
    assert_eq!(p.parse(line).unwrap(), parser("main").parse(line).unwrap());
}

#[test]
fn a_name_given_twice_keeps_its_first_place_and_last_value() {
    // `$path` from a `map` block collides with the request's path part.
    let parsed = parser("$host $request|$path $host")
        .parse(b"a.example GET /x HTTP/1.1|/mapped b.example")
        .unwrap();
    let names: Vec<&str> = parsed.record.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        ["host", "request", "method", "path", "query", "protocol"]
    );
    assert_eq!(parsed.record["host"], s("b.example"));
    assert_eq!(parsed.record["path"], s("/mapped"));
}

/// An `escape=json` format as operators write it, with the variables that
/// are often empty.
const JSON_DIRECTIVE: &str = r#"log_format trial escape=json '{"remote_addr":"$remote_addr","remote_user":"$remote_user",'
    '"time_local":"$time_local","request":"$request","status":"$status",'
    '"body_bytes_sent":"$body_bytes_sent","request_time":"$request_time",'
    '"upstream_response_time":"$upstream_response_time","upstream_status":"$upstream_status",'
    '"http_referer":"$http_referer","http_user_agent":"$http_user_agent"}';"#;

#[test]
fn escape_json_empty_values_are_null_not_errors() {
    let line = br#"{"remote_addr":"192.0.2.1","remote_user":"","time_local":"10/Oct/2000:13:55:36 -0700","request":"GET / HTTP/1.1","status":"","body_bytes_sent":"","request_time":"","upstream_response_time":"","upstream_status":"","http_referer":"","http_user_agent":"curl \"8\""}"#;
    let parsed = parser(JSON_DIRECTIVE).parse(line).unwrap();
    for key in [
        "remote_user",
        "status",
        "body_bytes_sent",
        "request_time",
        "upstream_response_time",
        "upstream_status",
        "http_referer",
    ] {
        assert_eq!(parsed.record[key], Value::Null, "{key}");
    }
    assert_eq!(parsed.record["http_user_agent"], s("curl \"8\""));
    assert_eq!(parsed.record["path"], s("/"));
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn empty_remote_user_and_referer_are_null_in_both_escape_modes() {
    let line = br#"192.0.2.1 -  [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "" "curl""#;
    let default = combined(line).unwrap();
    let json = parser_with("combined", Some(NginxEscape::Json))
        .parse(line)
        .unwrap();
    for parsed in [default, json] {
        assert_eq!(parsed.record["remote_user"], Value::Null);
        assert_eq!(parsed.record["http_referer"], Value::Null);
        assert_eq!(parsed.record["http_user_agent"], s("curl"));
    }
}

#[test]
fn empty_typed_fields_are_null_in_the_default_escape_mode_too() {
    let parsed = parser("$status|$request_time|$msec|$time_local")
        .parse(b"|||")
        .unwrap();
    for key in ["status", "request_time", "msec", "time_local"] {
        assert_eq!(parsed.record[key], Value::Null, "{key}");
    }
    assert_eq!((parsed.time, parsed.time_error), (None, false));
}

#[test]
fn pasted_log_format_directive_with_escape_json_parses() {
    let line = br#"{"remote_addr":"192.0.2.1","remote_user":"-","time_local":"10/Oct/2000:13:55:36 -0700","request":"GET /a?b=1 HTTP/1.1","status":"502","body_bytes_sent":"0","request_time":"0.020","upstream_response_time":"0.012, 0.004","upstream_status":"502, 504 : 200","http_referer":"https://example.com/","http_user_agent":"a\\b"}"#;
    let parsed = parser(JSON_DIRECTIVE).parse(line).unwrap();
    assert_eq!(parsed.record["remote_addr"], s("192.0.2.1"));
    assert_eq!(parsed.record["status"], Value::Int(502));
    assert_eq!(parsed.record["query"], s("b=1"));
    assert_eq!(parsed.record["request_time"], Value::Float(0.020));
    assert_eq!(parsed.record["http_user_agent"], s("a\\b"));
    assert_eq!(parsed.time, Some(TIME));
}

#[test]
fn directive_pieces_in_double_quotes_bare_and_without_semicolon() {
    let p = parser(
        "log_format main \"$remote_addr - $remote_user [$time_local] \\\"$request\\\" \"\n\
         '$status $body_bytes_sent \"$http_referer\" '\n\
         '\"$http_user_agent\" \"$http_x_forwarded_for\"'",
    );
    let line =
        br#"10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl" "-""#;
    assert_eq!(p.parse(line).unwrap(), parser("main").parse(line).unwrap());
    let bare = parser("log_format short $remote_addr ' ' $status;");
    assert_eq!(
        bare.parse(b"10.0.0.2 200").unwrap().record["status"],
        Value::Int(200)
    );
}

#[test]
fn escape_key_beside_format() {
    let config = |escape| NginxConfig {
        format: JSON_DIRECTIVE.to_owned(),
        escape,
    };
    assert!(
        ParserConfig::Nginx(config(Some(NginxEscape::Json)))
            .build()
            .is_ok()
    );
    let err = ParserConfig::Nginx(config(Some(NginxEscape::Default)))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the log_format directive says escape=json but `escape` says default; keep one"
    );
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let source: Source = toml::from_str(
        r#"parser = { type = "nginx", format = '$remote_addr "$http_user_agent"', escape = "none" }"#,
    )
    .unwrap();
    // With escape=none nothing is escaped, so a backslash is itself.
    let parsed = source
        .parser
        .build()
        .unwrap()
        .parse(br#"10.0.0.2 "a\x41\""#)
        .unwrap();
    assert_eq!(parsed.record["http_user_agent"], s(r"a\x41\"));
}

#[test]
fn a_format_that_cannot_be_compiled_is_refused_by_build() {
    for (format, want) in [
        (
            "log_format trial escape=yaml '$remote_addr';",
            "log_format: escape=yaml: use escape=default, escape=json or escape=none",
        ),
        (
            "log_format '$remote_addr $status';",
            "log_format: the directive needs a name before its format: log_format NAME '...'",
        ),
        (
            "log_format trial escape=json;",
            "log_format: the directive has no format after its name",
        ),
        (
            "log_format trial '$remote_addr'; access_log x trial;",
            "log_format: text after the `;` that ends the directive",
        ),
        (
            "log_format trial '$remote_addr",
            "log_format: a quoted piece is not closed, or text stands outside the quotes",
        ),
        ("log_format trial 'no variables';", "has no $variables"),
        (
            "trial escape=json '{\"a\":\"$remote_addr\"}';",
            "log_format: the format ends with `';` as a directive does",
        ),
    ] {
        let config = ParserConfig::Nginx(NginxConfig {
            format: format.to_owned(),
            escape: None,
        });
        let err = config.build().unwrap_err().to_string();
        assert!(err.contains(want), "{format}: {err}");
    }
}

#[test]
fn upstream_time_lists_are_summed_and_kept_whole() {
    let p = parser("$upstream_response_time|$upstream_connect_time|$upstream_header_time");
    let parsed = p.parse(b"0.012, 0.004|0.001 : 0.002|0.1, 0.2").unwrap();
    assert_eq!(parsed.record["upstream_response_time"], Value::Float(0.016));
    assert_eq!(
        parsed.record["upstream_response_time_list"],
        s("0.012, 0.004")
    );
    assert_eq!(parsed.record["upstream_connect_time"], Value::Float(0.003));
    assert_eq!(
        parsed.record["upstream_connect_time_list"],
        s("0.001 : 0.002")
    );
    // Summed as decimals, so no 0.30000000000000004.
    assert_eq!(parsed.record["upstream_header_time"], Value::Float(0.3));
    // One upstream: one number, and no list beside it.
    let single = p.parse(b"0.012|0.001|-").unwrap();
    assert_eq!(single.record["upstream_response_time"], Value::Float(0.012));
    assert_eq!(single.record.get("upstream_response_time_list"), None);
    assert_eq!(single.record["upstream_header_time"], Value::Null);
}

#[test]
fn upstream_status_list_keeps_the_last_status_and_the_whole_list() {
    let p = parser("$status $upstream_status|$upstream_bytes_received");
    let parsed = p.parse(b"200 502, 504 : 200|120, 80 : 1000").unwrap();
    assert_eq!(parsed.record["upstream_status"], Value::Int(200));
    assert_eq!(parsed.record["upstream_status_list"], s("502, 504 : 200"));
    assert_eq!(parsed.record["upstream_bytes_received"], Value::Int(1200));
    let single = p.parse(b"200 200|512").unwrap();
    assert_eq!(single.record["upstream_status"], Value::Int(200));
    assert_eq!(single.record.get("upstream_status_list"), None);
}

#[test]
fn dash_entries_in_upstream_lists_do_not_fail_the_line() {
    let p = parser("$upstream_status|$upstream_response_time");
    let parsed = p.parse(b"502, - : 200|-, 0.002 : -").unwrap();
    assert_eq!(parsed.record["upstream_status"], Value::Int(200));
    assert_eq!(parsed.record["upstream_response_time"], Value::Float(0.002));
    assert_eq!(
        parsed.record["upstream_response_time_list"],
        s("-, 0.002 : -")
    );
    let none = p.parse(b"502, -|-, -").unwrap();
    assert_eq!(none.record["upstream_status"], Value::Int(502));
    assert_eq!(none.record["upstream_response_time"], Value::Null);
    let err = p.parse(b"200|0.1, x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 4: expected seconds such as 0.005 for $upstream_response_time, found '0.1, x'"
    );
}
