//! Properties over generated input: no parser panics on any bytes, and a
//! valid combined line gives back the fields it was written from.

use levee_event::Value;
use levee_event::time::{NANOS_PER_SEC, UtcTime};
use levee_parse::{JsonConfig, NginxConfig, NoneConfig, Parser, ParserConfig};
use proptest::prelude::*;

fn nginx(format: &str) -> Parser {
    ParserConfig::Nginx(NginxConfig {
        format: format.to_owned(),
        ..NginxConfig::default()
    })
    .build()
    .unwrap()
}

fn all_parsers() -> Vec<Parser> {
    let mut parsers: Vec<Parser> = ["combined", "common", "main", "combined_request_time"]
        .into_iter()
        .map(nginx)
        .collect();
    parsers.push(nginx(
        "$msec [$time_iso8601] \"$request\" $upstream_response_time",
    ));
    parsers.push(
        ParserConfig::Json(JsonConfig {
            time_key: Some("t".into()),
            ..JsonConfig::default()
        })
        .build()
        .unwrap(),
    );
    parsers.push(ParserConfig::None(NoneConfig::default()).build().unwrap());
    parsers
}

/// The fields of one combined line, before nginx writes them.
#[derive(Debug, Clone)]
struct Request {
    addr: String,
    user: Option<String>,
    seconds: i64,
    offset_minutes: i64,
    method: &'static str,
    path: String,
    query: Option<String>,
    protocol: &'static str,
    status: i64,
    bytes: Option<i64>,
    referer: Option<String>,
    agent: Option<String>,
    json_escapes: bool,
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|g| g.map(|x| format!("{x:x}")).join(":")),
    ]
}

/// Header text nginx would log: anything but nginx's own "no value".
fn header() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>().prop_filter("`-` means no value", |s| s != "-"))
}

fn request() -> impl Strategy<Value = Request> {
    (
        (address(), proptest::option::of("[a-z][a-z0-9_]{0,11}")),
        (0i64..7_000_000_000, -1080i64..=1080),
        (
            prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
            "/[a-zA-Z0-9/._~%-]{0,40}",
            proptest::option::of("[a-zA-Z0-9=&%._-]{0,30}"),
            prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]),
        ),
        (100i64..600, proptest::option::of(0i64..10_000_000_000)),
        (header(), header(), any::<bool>()),
    )
        .prop_map(
            |(
                (addr, user),
                (seconds, offset_minutes),
                (method, path, query, protocol),
                (status, bytes),
                (referer, agent, json_escapes),
            )| Request {
                addr,
                user,
                seconds,
                offset_minutes,
                method,
                path,
                query,
                protocol,
                status,
                bytes,
                referer,
                agent,
                json_escapes,
            },
        )
}

/// Escapes text as nginx's `escape=default` does: `"`, `\` and bytes
/// outside printable ASCII as `\xHH`.
fn escape_default(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        match b {
            b'"' | b'\\' => out.push_str(&format!("\\x{b:02X}")),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    out
}

/// Escapes text as nginx's `escape=json` does: `\"`, `\\`, control
/// characters as `\u00HH`, and UTF-8 kept as is.
fn escape_json(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

impl Request {
    fn time_local(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let local = UtcTime::from_nanos((self.seconds + self.offset_minutes * 60) * NANOS_PER_SEC);
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        format!(
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
            local.day,
            MONTHS[local.month as usize - 1],
            local.year,
            local.hour,
            local.minute,
            local.second,
            self.offset_minutes.abs() / 60,
            self.offset_minutes.abs() % 60
        )
    }

    fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    fn line(&self) -> String {
        let or_dash = |v: &Option<String>| {
            v.as_deref().map_or("-".to_owned(), |s| {
                if self.json_escapes {
                    escape_json(s)
                } else {
                    escape_default(s)
                }
            })
        };
        format!(
            r#"{} - {} [{}] "{} {} {}" {} {} "{}" "{}""#,
            self.addr,
            self.user.as_deref().unwrap_or("-"),
            self.time_local(),
            self.method,
            self.target(),
            self.protocol,
            self.status,
            self.bytes.map_or("-".to_owned(), |b| b.to_string()),
            or_dash(&self.referer),
            or_dash(&self.agent),
        )
    }
}

fn text_or_null(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::from)
}

/// A variable's value as the nginx parser gives it: no value and an empty
/// one are both null.
fn variable(v: &Option<String>) -> Value {
    text_or_null(&v.clone().filter(|s| !s.is_empty()))
}

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_bytes(line in proptest::collection::vec(any::<u8>(), 0..512)) {
        for parser in all_parsers() {
            if let Err(error) = parser.parse(&line) {
                prop_assert!(error.position <= line.len(), "{} for {} bytes", error, line.len());
            }
        }
    }

    #[test]
    fn no_parser_panics_on_damaged_valid_lines(
        req in request(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut line = req.line().into_bytes();
        for (at, byte, op) in edits {
            let i = at.index(line.len() + 1);
            match op {
                0 => line.insert(i, byte),
                1 if i < line.len() => { line.remove(i); }
                _ if i < line.len() => line[i] = byte,
                _ => {}
            }
        }
        for parser in all_parsers() {
            let _ = parser.parse(&line);
        }
    }

    #[test]
    fn combined_line_round_trips_its_fields(req in request()) {
        let line = req.line();
        let parsed = nginx("combined").parse(line.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{line}")))?;
        let r = &parsed.record;
        prop_assert_eq!(&r["remote_addr"], &Value::from(req.addr.clone()));
        prop_assert_eq!(&r["remote_user"], &variable(&req.user));
        prop_assert_eq!(&r["time_local"], &Value::from(req.time_local()));
        prop_assert_eq!(parsed.time, Some(req.seconds * NANOS_PER_SEC));
        prop_assert_eq!(&r["method"], &Value::from(req.method));
        prop_assert_eq!(&r["path"], &Value::from(req.path.clone()));
        prop_assert_eq!(&r["query"], &text_or_null(&req.query));
        prop_assert_eq!(&r["protocol"], &Value::from(req.protocol));
        prop_assert_eq!(&r["status"], &Value::Int(req.status));
        prop_assert_eq!(&r["body_bytes_sent"], &req.bytes.map_or(Value::Null, Value::Int));
        prop_assert_eq!(&r["http_referer"], &variable(&req.referer));
        prop_assert_eq!(&r["http_user_agent"], &variable(&req.agent));
        prop_assert_eq!(r.len(), 12);
    }

    #[test]
    fn arbitrary_formats_compile_or_refuse_and_never_panic(
        format in r#"[$a-z_{}'" \[\]\\-]{0,40}"#,
        line in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let config = ParserConfig::Nginx(NginxConfig {
            format,
            ..NginxConfig::default()
        });
        if let Ok(parser) = config.build() {
            let _ = parser.parse(&line);
        }
    }
}
