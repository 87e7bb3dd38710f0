//! `parse`: parses one field of an already parsed record with any of
//! levee's parsers, such as a JSON body inside a `message`.
//!
//! ```toml
//! [[filters]]
//! match = "app.**"
//! type = "parse"
//! field = "message"
//! parser = "json"              # or a table: { type = "nginx", format = "main" }
//! reserve_data = true          # keep the record's other fields
//! remove_key = true            # and drop `message` once it parsed
//! into = "body"                # nest the parsed fields under `body` (or: prefix = "body_")
//! ```
//!
//! When the field does not parse (or is missing, or is not text) the event
//! goes on as it was and `levee_filter_parse_errors_total` counts it; with
//! `on_error = "error"` it is re-tagged `@ERROR` instead, with the reason.

use levee_event::{Event, FieldPath, Record, Tag, Value};
use levee_parse::{ParseError, Parser, ParserConfig};
use prometheus_client::metrics::counter::Counter;

use super::{FilterError, field_path};

/// Config of a `parse` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseConfig {
    /// Tag pattern of the events this filter applies to, such as `app.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// Path of the field to parse, such as `message` or `payload.body`. Its
    /// value must be text.
    pub field: String,
    /// The parser, as a source's `parser` is written: `"json"`, `"none"`,
    /// `"nginx"`, or a table such as `{ type = "nginx", format = "main" }`.
    /// If it reads a time (`time_key` of `json`, `$time_local` of nginx),
    /// that becomes the event's time unless `reserve_time` is set.
    pub parser: ParserConfig,
    /// Keep the record's other fields, adding the parsed ones (a parsed
    /// field replaces one of the same name, in its place). Without it, the
    /// record becomes the parsed fields alone.
    #[serde(default)]
    pub reserve_data: bool,
    /// Drop `field` once it parsed. Needs `reserve_data = true` (without
    /// it the record is replaced, `field` included).
    #[serde(default)]
    pub remove_key: bool,
    /// Keep the event's time even if the parser read one.
    #[serde(default)]
    pub reserve_time: bool,
    /// Text put before each parsed field's name, as `body_` makes `status`
    /// into `body_status`, so parsed fields cannot replace the record's own.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Path of a field to hold the parsed fields as one map, such as
    /// `body`, instead of adding them at the top level. May be `field`
    /// itself, to parse a field in place.
    #[serde(default)]
    pub into: Option<String>,
    /// What happens to an event whose field does not parse: `keep` (the
    /// default) passes it on unchanged; `error` re-tags it `@ERROR` and adds
    /// `error` (why), `position` (the byte where parsing failed, when known)
    /// and `tag` (its tag until then), replacing fields of those names.
    /// Either way it is counted in `levee_filter_parse_errors_total`.
    #[serde(default)]
    pub on_error: OnError,
}

/// What a `parse` filter does with an event whose field does not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Pass the event on unchanged.
    #[default]
    Keep,
    /// Re-tag the event `@ERROR`, with the reason.
    Error,
}

impl ParseConfig {
    pub(super) fn build(&self) -> Result<ParseFilter, FilterError> {
        let field = field_path("field", &self.field)?;
        let parser = self
            .parser
            .build()
            .map_err(|source| FilterError::Parser { source })?;
        if self.remove_key && !self.reserve_data {
            return Err(FilterError::Invalid {
                key: "remove_key",
                reason: "only applies with `reserve_data = true`; without it the record \
                         is replaced by the parsed fields, `field` included"
                    .to_owned(),
            });
        }
        let place = match (&self.prefix, &self.into) {
            (Some(_), Some(_)) => {
                return Err(FilterError::Invalid {
                    key: "prefix",
                    reason: "give `prefix` or `into`, not both".to_owned(),
                });
            }
            (Some(prefix), None) if prefix.is_empty() => {
                return Err(FilterError::Invalid {
                    key: "prefix",
                    reason: "an empty prefix does nothing; leave it out".to_owned(),
                });
            }
            (Some(prefix), None) => Place::Prefix(prefix.clone()),
            (None, Some(into)) => {
                let into = field_path("into", into)?;
                if field.contains(&into) && field != into {
                    return Err(FilterError::Invalid {
                        key: "into",
                        reason: format!(
                            "`{into}` is inside `field` (`{field}`), which holds the text being parsed"
                        ),
                    });
                }
                Place::Into(into)
            }
            (None, None) => Place::Top,
        };
        Ok(ParseFilter {
            field,
            parser,
            reserve_data: self.reserve_data,
            remove_key: self.remove_key,
            reserve_time: self.reserve_time,
            place,
            on_error: self.on_error,
            error_tag: Tag::error(),
            errors: Counter::default(),
        })
    }
}

/// A built `parse` filter.
#[derive(Debug, Clone)]
pub(crate) struct ParseFilter {
    field: FieldPath,
    parser: Parser,
    reserve_data: bool,
    remove_key: bool,
    reserve_time: bool,
    place: Place,
    on_error: OnError,
    /// Shared, so re-tagging clones a pointer.
    error_tag: Tag,
    errors: Counter,
}

/// Where the parsed fields go.
#[derive(Debug, Clone)]
enum Place {
    Top,
    Prefix(String),
    Into(FieldPath),
}

/// Why a field could not be parsed.
enum Failure {
    Missing,
    NotText(&'static str),
    Parse(ParseError),
    /// `into` runs through a field (this path) that holds no map.
    Blocked {
        at: String,
        kind: &'static str,
    },
}

impl ParseFilter {
    /// Counts parse failures into `counter` from now on.
    pub(super) fn count_errors_into(&mut self, counter: Counter) {
        self.errors = counter;
    }

    pub(super) fn apply(&self, event: &mut Event) {
        let parsed = match self.field.get(&event.record) {
            Some(Value::String(text)) => self.parser.parse(text.as_bytes()).map_err(Failure::Parse),
            Some(other) => Err(Failure::NotText(kind_of(other))),
            None => Err(Failure::Missing),
        }
        .and_then(|parsed| self.can_place(&event.record).map(|()| parsed));
        match parsed {
            Ok(parsed) => {
                if let (Some(time), false) = (parsed.time, self.reserve_time) {
                    event.time = time;
                }
                self.merge(&mut event.record, parsed.record);
            }
            Err(failure) => {
                self.errors.inc();
                if self.on_error == OnError::Error {
                    self.to_error(event, failure);
                }
            }
        }
    }

    /// Checks that the parsed fields can go where `into` says, before the
    /// record is touched, so a failure leaves the event as it was.
    fn can_place(&self, record: &Record) -> Result<(), Failure> {
        let Place::Into(path) = &self.place else {
            return Ok(());
        };
        if !self.reserve_data {
            return Ok(());
        }
        let Some((parents, _)) = path.as_str().rsplit_once('.') else {
            return Ok(());
        };
        let mut map = record;
        let mut walked = 0;
        for part in parents.split('.') {
            walked += usize::from(walked > 0) + part.len();
            match map.get(part) {
                None => return Ok(()),
                Some(Value::Map(inner)) => map = inner,
                Some(other) => {
                    return Err(Failure::Blocked {
                        at: path
                            .as_str()
                            .get(..walked)
                            .unwrap_or(path.as_str())
                            .to_owned(),
                        kind: kind_of(other),
                    });
                }
            }
        }
        Ok(())
    }

    fn merge(&self, record: &mut Record, parsed: Record) {
        if !self.reserve_data {
            record.clear();
        } else if self.remove_key {
            self.field.remove(record);
        }
        match &self.place {
            Place::Into(path) => {
                if let Err(parsed) = path.put(record, Value::from(parsed)) {
                    // `can_place` ruled this out; still, lose nothing.
                    record.insert(path.as_str(), parsed);
                }
            }
            Place::Top if record.is_empty() => *record = parsed,
            Place::Top => {
                record.reserve(parsed.len());
                for (name, value) in parsed {
                    record.insert(name, value);
                }
            }
            Place::Prefix(prefix) => {
                record.reserve(parsed.len());
                for (name, value) in parsed {
                    record.insert(format!("{prefix}{name}"), value);
                }
            }
        }
    }

    fn to_error(&self, event: &mut Event, failure: Failure) {
        let field = &self.field;
        let (reason, position) = match failure {
            Failure::Missing => (format!("parse: field `{field}` is missing"), None),
            Failure::NotText(kind) => (format!("parse: field `{field}` is {kind}, not text"), None),
            Failure::Blocked { at, kind } => (
                format!(
                    "parse: cannot nest the parsed fields under `{at}`: it is {kind}, not a map"
                ),
                None,
            ),
            Failure::Parse(err) => (format!("parse: field `{field}`: {err}"), Some(err.position)),
        };
        let tag = std::mem::replace(&mut event.tag, self.error_tag.clone());
        let record = &mut event.record;
        record.insert("error", Value::from(reason));
        if let Some(p) = position {
            let p = i64::try_from(p).unwrap_or(i64::MAX);
            record.insert("position", Value::Int(p));
        }
        record.insert("tag", Value::from(tag.as_str()));
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(toml_text: &str) -> Result<ParseFilter, FilterError> {
        let config: ParseConfig = toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
        config.build()
    }

    fn event(fields: &[(&str, Value)]) -> Event {
        crate::filters::testkit::event_at("app.web", 7, fields)
    }

    fn keys(event: &Event) -> Vec<&str> {
        event.record.keys().map(|k| k.as_str()).collect()
    }

    const BODY: &str = r#"{"status":404,"user":{"id":"u1"},"host":"parsed"}"#;

    #[test]
    fn without_reserve_data_the_record_becomes_the_parsed_fields() {
        let f = build(
            r#"field = "message"
                         parser = "json""#,
        )
        .unwrap();
        let mut e = event(&[("host", "web-1".into()), ("message", BODY.into())]);
        f.apply(&mut e);
        assert_eq!(keys(&e), ["status", "user", "host"]);
        assert_eq!(e.record["status"], Value::Int(404));
        assert_eq!(e.record["host"], Value::from("parsed"));
        assert_eq!(e.time, 7, "no time_key: the time stays");
        assert_eq!(e.tag.as_str(), "app.web");
        assert_eq!(f.errors.get(), 0);
    }

    #[test]
    fn reserve_data_merges_in_place_and_remove_key_drops_the_source() {
        let f = build(
            r#"field = "message"
               parser = "json"
               reserve_data = true
               remove_key = true"#,
        )
        .unwrap();
        let mut e = event(&[
            ("host", "web-1".into()),
            ("message", BODY.into()),
            ("level", "info".into()),
        ]);
        f.apply(&mut e);
        // `host` is replaced where it was; new fields come last.
        assert_eq!(keys(&e), ["host", "level", "status", "user"]);
        assert_eq!(e.record["host"], Value::from("parsed"));

        let keep = build(
            r#"field = "message"
               parser = "json"
               reserve_data = true"#,
        )
        .unwrap();
        let mut e = event(&[("message", BODY.into())]);
        keep.apply(&mut e);
        assert_eq!(keys(&e), ["message", "status", "user", "host"]);
    }

    #[test]
    fn prefix_and_into_keep_parsed_fields_apart() {
        let f = build(
            r#"field = "message"
               parser = "json"
               reserve_data = true
               prefix = "body_""#,
        )
        .unwrap();
        let mut e = event(&[("host", "web-1".into()), ("message", BODY.into())]);
        f.apply(&mut e);
        assert_eq!(
            keys(&e),
            ["host", "message", "body_status", "body_user", "body_host"]
        );
        assert_eq!(e.record["host"], Value::from("web-1"));

        let f = build(
            r#"field = "message"
               parser = "json"
               reserve_data = true
               remove_key = true
               into = "req.body""#,
        )
        .unwrap();
        let mut e = event(&[("host", "web-1".into()), ("message", BODY.into())]);
        f.apply(&mut e);
        assert_eq!(keys(&e), ["host", "req"]);
        assert_eq!(
            Value::get_path(&e.record, "req.body.user.id"),
            Some(&Value::from("u1"))
        );

        let f = build(
            r#"field = "message"
                         parser = "json"
                         into = "body""#,
        )
        .unwrap();
        let mut e = event(&[("host", "web-1".into()), ("message", BODY.into())]);
        f.apply(&mut e);
        assert_eq!(keys(&e), ["body"]);
    }

    #[test]
    fn into_the_field_itself_parses_in_place() {
        let f = build(
            r#"field = "payload.message"
               parser = "json"
               reserve_data = true
               into = "payload.message""#,
        )
        .unwrap();
        let payload: Record = [
            ("message".to_owned(), Value::from(BODY)),
            ("size".to_owned(), Value::Int(3)),
        ]
        .into_iter()
        .collect();
        let mut e = event(&[("payload", Value::from(payload))]);
        f.apply(&mut e);
        let Some(Value::Map(payload)) = e.record.get("payload") else {
            panic!("payload is a map: {e:?}")
        };
        assert_eq!(
            payload.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["message", "size"]
        );
        assert_eq!(
            Value::get_path(&e.record, "payload.message.status"),
            Some(&Value::Int(404))
        );
    }

    #[test]
    fn a_parsed_time_becomes_the_event_time_unless_reserved() {
        let text = r#"field = "message"
                      parser = { type = "json", time_key = "ts" }
                      reserve_data = true"#;
        let line = r#"{"ts":1536235200,"n":1}"#;
        let f = build(text).unwrap();
        let mut e = event(&[("message", line.into())]);
        f.apply(&mut e);
        assert_eq!(e.time, 1_536_235_200_000_000_000);

        let f = build(&format!("{text}\nreserve_time = true")).unwrap();
        let mut e = event(&[("message", line.into())]);
        f.apply(&mut e);
        assert_eq!(e.time, 7);
        assert_eq!(e.record["n"], Value::Int(1));
    }

    #[test]
    fn any_levee_parser_works_on_a_field() {
        let f = build(
            r#"field = "log"
               parser = { type = "nginx", format = "common" }
               reserve_data = true
               remove_key = true"#,
        )
        .unwrap();
        let line = r#"10.0.0.1 - - [06/Sep/2018:12:00:00 +0000] "GET /api/v1/x HTTP/1.1" 200 12"#;
        let mut e = event(&[("container", "web".into()), ("log", line.into())]);
        f.apply(&mut e);
        assert_eq!(f.errors.get(), 0, "{e:?}");
        assert_eq!(e.record["container"], Value::from("web"));
        assert_eq!(e.record["status"], Value::Int(200));
        assert!(!e.record.contains_key("log"));
        assert_eq!(e.time, 1_536_235_200_000_000_000);
    }

    #[test]
    fn a_failure_keeps_the_event_as_it_was_and_counts() {
        let f = build(
            r#"field = "message"
               parser = "json"
               reserve_data = true
               remove_key = true
               into = "geo.body""#,
        )
        .unwrap();
        let cases = [
            event(&[("message", "{not json".into())]),
            event(&[("msg", BODY.into())]),
            event(&[("message", Value::Int(3))]),
            // `into` runs through a field that is not a map.
            event(&[("message", BODY.into()), ("geo", "NO".into())]),
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let mut e = case.clone();
            f.apply(&mut e);
            assert_eq!(e, case);
            assert_eq!(f.errors.get(), i as u64 + 1);
        }
    }

    #[test]
    fn on_error_error_retags_with_the_reason() {
        let f = build(
            r#"field = "message"
               parser = "json"
               on_error = "error""#,
        )
        .unwrap();
        let mut e = event(&[("message", "{\"a\":".into()), ("tag", "mine".into())]);
        f.apply(&mut e);
        assert_eq!(e.tag.as_str(), levee_event::ERROR_TAG);
        assert_eq!(keys(&e), ["message", "tag", "error", "position"]);
        assert_eq!(e.record["tag"], Value::from("app.web"));
        assert_eq!(e.record["message"], Value::from("{\"a\":"));
        let Value::String(error) = &e.record["error"] else {
            panic!("error is text")
        };
        assert!(
            error.starts_with("parse: field `message`: at byte"),
            "{error}"
        );
        assert!(matches!(e.record["position"], Value::Int(_)));
        assert_eq!(f.errors.get(), 1);

        let mut missing = event(&[]);
        f.apply(&mut missing);
        assert_eq!(
            missing.record["error"],
            Value::from("parse: field `message` is missing")
        );
        assert!(!missing.record.contains_key("position"));

        let f = build(
            r#"field = "message"
               parser = "json"
               reserve_data = true
               into = "a.b"
               on_error = "error""#,
        )
        .unwrap();
        let mut blocked = event(&[("message", BODY.into()), ("a", Value::Int(1))]);
        f.apply(&mut blocked);
        assert_eq!(
            blocked.record["error"],
            Value::from(
                "parse: cannot nest the parsed fields under `a`: it is an integer, not a map"
            )
        );
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        let refused = |text: &str, key: &str| {
            let err = build(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        };
        refused(
            "field = \"message\"\nparser = \"json\"\nremove_key = true",
            "`remove_key`",
        );
        refused(
            "field = \"m\"\nparser = \"json\"\nprefix = \"a\"\ninto = \"b\"",
            "`prefix`",
        );
        refused(
            "field = \"m\"\nparser = \"json\"\nprefix = \"\"",
            "`prefix`",
        );
        refused("field = \"\"\nparser = \"json\"", "`field`");
        refused("field = \"a..b\"\nparser = \"json\"", "`field`");
        refused("field = \"m\"\nparser = \"json\"\ninto = \"\"", "`into`");
        refused("field = \"m\"\nparser = \"json\"\ninto = \"m.x\"", "`into`");
        refused(
            "field = \"m\"\nparser = { type = \"nginx\", format = \"fancy\" }",
            "`parser`",
        );
        refused(
            "field = \"m\"\nparser = { type = \"json\", time_key = \"\" }",
            "`parser`",
        );

        let parse = |text: &str| {
            toml::from_str::<ParseConfig>(&format!("match = \"**\"\n{text}"))
                .unwrap_err()
                .to_string()
        };
        let err = parse("field = \"m\"\nparser = \"json\"\non_error = \"drop\"");
        assert!(err.contains("keep") && err.contains("error"), "{err}");
        let err = parse("field = \"m\"\nparser = \"json\"\nreserve = true");
        assert!(err.contains("reserve"), "{err}");
        let err = parse("field = \"m\"\nparser = \"yaml\"");
        assert!(err.contains("yaml"), "{err}");
        let err = parse("field = \"m\"");
        assert!(err.contains("parser"), "{err}");
    }
}
