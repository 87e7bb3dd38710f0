//! `record`: sets, renames and removes fields, and re-tags.
//!
//! ```toml
//! [[filters]]
//! match = "nginx.**"
//! type = "record"
//! set = { api_call = "${method|lower}_${path|segment(2)}", env = "prod" }
//! rename = { remote_addr = "client_ip" }
//! remove = ["remote_user"]
//! types = { status = "int", request_time = "float" }
//! retag = "firehose_parsed.nginx"
//! ```
//!
//! Per event, in this order: `set` (every template sees the record as it
//! came in, so sets never see each other), `rename`, `remove`, `types`,
//! `retag` (which sees the record as changed). Field order is kept: a
//! renamed field stays in its place, new fields go at the end.

use std::collections::{BTreeMap, BTreeSet};

use levee_event::{Event, FieldPath, Record, Tag, Value};
use levee_parse::FieldType;
use prometheus_client::metrics::counter::Counter;

use super::{FilterError, field_path, with_scratch};
use crate::template::Template;

/// Config of a `record` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Tag pattern of the events this filter applies to, such as `nginx.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// Fields to set, name to value, replacing any field of that name. A
    /// string is a template: plain text, `${field|function}` references, and
    /// the variables `${tag}`, `${tag_parts[N]}` (negative from the end),
    /// `${tag_prefix[N]}`, `${tag_suffix[N]}`, `${time}` (RFC 3339 UTC, or
    /// `${time|strftime(%Y-%m-%d)}`) and `${hostname}`; an unknown variable
    /// is refused when the config is built. A template that is just a
    /// field, `$.field` or `${field}`, copies the value
    /// with its type (an integer stays an integer; a missing field gives
    /// null). Other TOML values (numbers, booleans, arrays, tables) are set
    /// as they are.
    #[serde(default)]
    pub set: Record,
    /// Fields to rename, old name to new name. A field already named like
    /// the new name is replaced. A name may not be both renamed and a target.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Names of fields to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Fields whose value to convert, field path to type: `int`, `float`,
    /// `bool` or `string`, as in a parser's `types` (`integer` and
    /// `boolean` too). For a JSON log whose numbers arrive as text
    /// (`"status":"200"`). Text converts by the parsers' rules (blank text
    /// of a number or boolean is null); an integer widens to a float, a
    /// whole float narrows to an integer, and `string` writes numbers,
    /// booleans, lists and maps as their JSON text; null and missing fields
    /// stay as they are. A value that does not convert (`"OK"` for `int`,
    /// `true` for `float`) is left as it was, so nothing is lost, and
    /// counted in `levee_filter_conversion_errors_total`. Runs after
    /// `rename` and `remove`, so it names fields as they are then.
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
    /// The event's new tag: literal text (a tag as a source's `tag` is), or
    /// a template such as `nginx.${status|status_class}` or
    /// `${tag_parts[0]}.parsed`. If a template renders empty text, or text
    /// starting with `@` (reserved for levee's own routes, such as
    /// `@ERROR`), the tag is left as it was.
    #[serde(default)]
    pub retag: Option<String>,
}

impl RecordConfig {
    pub(super) fn build(&self) -> Result<RecordFilter, FilterError> {
        if self.set.is_empty()
            && self.rename.is_empty()
            && self.remove.is_empty()
            && self.types.is_empty()
            && self.retag.is_none()
        {
            return Err(FilterError::Empty {
                kind: "record",
                needs: "`set`, `rename`, `remove`, `types` or `retag`",
            });
        }
        let set = self
            .set
            .iter()
            .map(|(name, value)| Ok((check_name("set", name)?, SetValue::new(name, value)?)))
            .collect::<Result<Vec<_>, FilterError>>()?;
        // A set reading a field another set writes must see the old value,
        // so those sets are all rendered before any is stored.
        let set_names: BTreeSet<&str> = self.set.keys().map(|k| k.as_str()).collect();
        let two_phase = set
            .iter()
            .flat_map(|(_, value)| value.fields())
            .any(|path| set_names.contains(path.root()));
        Ok(RecordFilter {
            set,
            two_phase,
            rename: check_renames(&self.rename)?,
            remove: self
                .remove
                .iter()
                .map(|name| check_name("remove", name))
                .collect::<Result<_, _>>()?,
            types: self
                .types
                .iter()
                .map(|(path, ty)| Ok((field_path("types", path)?, *ty)))
                .collect::<Result<_, FilterError>>()?,
            conversion_errors: Counter::default(),
            retag: self.retag.as_deref().map(Retag::new).transpose()?,
        })
    }
}

fn check_name(key: &'static str, name: &str) -> Result<String, FilterError> {
    if name.is_empty() {
        return Err(FilterError::BadField {
            key,
            name: name.to_owned(),
            reason: "a field name cannot be empty",
        });
    }
    Ok(name.to_owned())
}

/// Refuses renames whose outcome would depend on the order they run in.
fn check_renames(rename: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, FilterError> {
    let mut targets = BTreeSet::new();
    for (from, to) in rename {
        check_name("rename", from)?;
        check_name("rename", to)?;
        if rename.contains_key(to) {
            return Err(FilterError::RenameConflict {
                reason: format!(
                    "`{to}` is both renamed and a rename target (from `{from}`); use two filters to chain renames"
                ),
            });
        }
        if !targets.insert(to.as_str()) {
            return Err(FilterError::RenameConflict {
                reason: format!("more than one field is renamed to `{to}`"),
            });
        }
    }
    Ok(rename
        .iter()
        .map(|(from, to)| (from.clone(), to.clone()))
        .collect())
}

/// A built `record` filter.
#[derive(Debug, Clone)]
pub(crate) struct RecordFilter {
    set: Vec<(String, SetValue)>,
    two_phase: bool,
    rename: Vec<(String, String)>,
    remove: Vec<String>,
    types: Vec<(FieldPath, FieldType)>,
    /// Values `types` could not convert.
    conversion_errors: Counter,
    retag: Option<Retag>,
}

#[derive(Debug, Clone)]
enum SetValue {
    /// Plain text or a non-string TOML value.
    Constant(Value),
    /// `$.field` or `${field}`: the value itself, typed.
    Copy(FieldPath),
    Render(Template),
}

#[derive(Debug, Clone)]
enum Retag {
    /// Shared, so re-tagging clones a pointer.
    Fixed(Tag),
    Render(Template),
}

impl SetValue {
    fn new(name: &str, value: &Value) -> Result<SetValue, FilterError> {
        let Value::String(text) = value else {
            return Ok(SetValue::Constant(value.clone()));
        };
        let template = Template::parse(text).map_err(|source| FilterError::Template {
            key: format!("set.{name}"),
            source,
        })?;
        Ok(if let Some(literal) = template.as_literal() {
            SetValue::Constant(Value::from(literal))
        } else if let Some(path) = template.as_field() {
            SetValue::Copy(path.clone())
        } else {
            SetValue::Render(template)
        })
    }

    fn fields(&self) -> Box<dyn Iterator<Item = &FieldPath> + '_> {
        match self {
            SetValue::Constant(_) => Box::new(std::iter::empty()),
            SetValue::Copy(path) => Box::new(std::iter::once(path)),
            SetValue::Render(template) => Box::new(template.fields()),
        }
    }

    fn produce(&self, event: &Event) -> Value {
        match self {
            SetValue::Constant(value) => value.clone(),
            SetValue::Copy(path) => path.get(&event.record).cloned().unwrap_or(Value::Null),
            // Rendering into scratch, then copying, allocates nothing for
            // a short value and the exact size for a long one.
            SetValue::Render(template) => with_scratch(|text| {
                template.render_into(event, text);
                Value::from(text.as_str())
            }),
        }
    }
}

impl Retag {
    fn new(text: &str) -> Result<Retag, FilterError> {
        let template = Template::parse(text).map_err(|source| FilterError::Template {
            key: "retag".to_owned(),
            source,
        })?;
        match template.as_literal() {
            Some(tag) => Tag::parse(tag)
                .map(Retag::Fixed)
                .map_err(|source| FilterError::BadTag { source }),
            None => Ok(Retag::Render(template)),
        }
    }
}

impl RecordFilter {
    /// Where `retag` sends the events: a fixed tag, or a template
    /// rendered per event.
    pub(crate) fn retag(&self) -> Option<super::Retags<'_>> {
        self.retag.as_ref().map(|retag| match retag {
            Retag::Fixed(tag) => super::Retags::To(tag),
            Retag::Render(template) => super::Retags::Rendered(template),
        })
    }

    /// True if the filter has `types` to convert.
    pub(super) fn converts(&self) -> bool {
        !self.types.is_empty()
    }

    /// Counts values `types` could not convert into `counter` from now on.
    pub(super) fn count_conversion_errors_into(&mut self, counter: Counter) {
        self.conversion_errors = counter;
    }

    pub(super) fn apply(&self, event: &mut Event) {
        // One growth step for all new fields, rather than one per table.
        event.record.reserve(self.set.len());
        if self.two_phase {
            let values: Vec<Value> = self
                .set
                .iter()
                .map(|(_, value)| value.produce(event))
                .collect();
            for ((name, _), value) in self.set.iter().zip(values) {
                event.record.insert(name.as_str(), value);
            }
        } else {
            // Insert keeps an existing field's place, or appends a new one.
            for (name, value) in &self.set {
                let value = value.produce(event);
                event.record.insert(name.as_str(), value);
            }
        }
        let record = &mut event.record;
        for (from, to) in &self.rename {
            record.rename_in_place(from, to);
        }
        for name in &self.remove {
            record.shift_remove(name.as_str());
        }
        for (path, ty) in &self.types {
            if let Some(slot) = path.get_mut(record) {
                let value = std::mem::take(slot);
                *slot = ty.convert_value(value).unwrap_or_else(|kept| {
                    self.conversion_errors.inc();
                    kept
                });
            }
        }
        match &self.retag {
            None => {}
            Some(Retag::Fixed(tag)) => event.tag = tag.clone(),
            Some(Retag::Render(template)) => with_scratch(|text| {
                template.render_into(event, text);
                // A rendered tag is data: it may not reach a reserved route.
                if !text.is_empty() && !text.starts_with('@') {
                    event.tag = Tag::new(text);
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(toml_text: &str) -> Result<RecordFilter, FilterError> {
        let config: RecordConfig = toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
        config.build()
    }

    fn event(fields: &[(&str, Value)]) -> Event {
        crate::filters::testkit::event_at("nginx.access", 0, fields)
    }

    fn keys(event: &Event) -> Vec<&str> {
        event.record.keys().map(|k| k.as_str()).collect()
    }

    #[test]
    fn set_renders_templates_and_copies_typed_values() {
        let f = build(
            r#"set = { api_call = "${method|lower}_${path|last_segment}", code = "$.status",
                       code_text = "${status}", sampled = true, weight = 2, env = "prod", cost = "$$1" }"#,
        )
        .unwrap();
        let mut e = event(&[
            ("method", "POST".into()),
            ("path", "/api/v1/transmissions".into()),
            ("status", Value::Int(404)),
        ]);
        f.apply(&mut e);
        assert_eq!(e.record["api_call"], Value::from("post_transmissions"));
        assert_eq!(e.record["code"], Value::Int(404));
        assert_eq!(
            e.record["code_text"],
            Value::Int(404),
            "a bare ${{field}} copies the type too"
        );
        assert_eq!(e.record["sampled"], Value::Bool(true));
        assert_eq!(e.record["weight"], Value::Int(2));
        assert_eq!(e.record["env"], Value::from("prod"));
        assert_eq!(e.record["cost"], Value::from("$1"));
        assert_eq!(keys(&e)[..3], ["method", "path", "status"]);
    }

    #[test]
    fn copying_a_missing_field_sets_null() {
        let f = build(r#"set = { copy = "$.nope", text = "${nope}!" }"#).unwrap();
        let mut e = event(&[]);
        f.apply(&mut e);
        assert_eq!(e.record["copy"], Value::Null);
        assert_eq!(e.record["text"], Value::from("!"));
    }

    #[test]
    fn sets_do_not_see_each_other() {
        let f = build(r#"set = { a = "${b}-new", b = "$.a", c = "${a|upper}" }"#).unwrap();
        assert!(f.two_phase);
        let mut e = event(&[("a", "x".into()), ("b", "y".into())]);
        f.apply(&mut e);
        assert_eq!(e.record["a"], Value::from("y-new"));
        assert_eq!(e.record["b"], Value::from("x"));
        assert_eq!(e.record["c"], Value::from("X"));
        assert_eq!(keys(&e), ["a", "b", "c"]);

        let independent = build(r#"set = { a = "${x}", b = "${y.z}" }"#).unwrap();
        assert!(!independent.two_phase);
    }

    #[test]
    fn rename_keeps_the_field_in_place_and_replaces_the_target() {
        let f = build(r#"rename = { remote_addr = "client_ip", ua = "agent" }"#).unwrap();
        let mut e = event(&[
            ("agent", "old".into()),
            ("remote_addr", "10.0.0.1".into()),
            ("ua", "curl".into()),
            ("status", Value::Int(200)),
        ]);
        f.apply(&mut e);
        assert_eq!(keys(&e), ["client_ip", "agent", "status"]);
        assert_eq!(e.record["client_ip"], Value::from("10.0.0.1"));
        assert_eq!(e.record["agent"], Value::from("curl"));

        // A target after the source, and a source that is missing.
        let mut e = event(&[
            ("remote_addr", "a".into()),
            ("client_ip", "b".into()),
            ("z", Value::Null),
        ]);
        f.apply(&mut e);
        assert_eq!(keys(&e), ["client_ip", "z"]);
        assert_eq!(e.record["client_ip"], Value::from("a"));
    }

    #[test]
    fn order_is_set_rename_remove_retag() {
        let f = build(
            r#"set = { user = "${remote_user|default(anonymous)}", gone = "x" }
               rename = { user = "who" }
               remove = ["remote_user", "gone", "absent"]
               retag = "web.${who}.${status|status_class}""#,
        )
        .unwrap();
        let mut e = event(&[("remote_user", "bob".into()), ("status", Value::Int(503))]);
        f.apply(&mut e);
        assert_eq!(keys(&e), ["status", "who"]);
        assert_eq!(e.record["who"], Value::from("bob"));
        assert_eq!(e.tag.as_str(), "web.bob.5xx");
    }

    #[test]
    fn retag_literal_and_empty_render() {
        let f = build(r#"retag = "firehose_parsed.nginx""#).unwrap();
        let mut e = event(&[]);
        f.apply(&mut e);
        assert_eq!(e.tag.as_str(), "firehose_parsed.nginx");

        let f = build(r#"retag = "${route}""#).unwrap();
        let mut e = event(&[]);
        f.apply(&mut e);
        assert_eq!(
            e.tag.as_str(),
            "nginx.access",
            "an empty render keeps the tag"
        );
        let mut e = event(&[("route", "a.b".into())]);
        f.apply(&mut e);
        assert_eq!(e.tag.as_str(), "a.b");
        let mut e = event(&[("route", "@ERROR".into())]);
        f.apply(&mut e);
        assert_eq!(
            e.tag.as_str(),
            "nginx.access",
            "data cannot make a reserved tag"
        );
    }

    /// The issue's own example came out as three nulls.
    #[test]
    fn set_tag_time_and_hostname_are_not_silently_null() {
        let f = build(r#"set = { t = "${tag}", ts = "${time}", hn = "${hostname}" }"#).unwrap();
        let mut e =
            crate::filters::testkit::event_at("nginx.access", 1_535_803_384_000_000_000, &[]);
        f.apply(&mut e);
        assert_eq!(e.record["t"], Value::from("nginx.access"));
        assert_eq!(e.record["ts"], Value::from("2018-09-01T12:03:04.000Z"));
        let Value::String(host) = &e.record["hn"] else {
            panic!("hostname is text: {:?}", e.record["hn"])
        };
        assert!(!host.is_empty());

        let f = build(r#"retag = "${tag_parts[0]}.${time|strftime(%Y%m%d)}""#).unwrap();
        f.apply(&mut e);
        assert_eq!(e.tag.as_str(), "nginx.20180901");

        let err = build(r#"set = { t = "${tag_part[0]}" }"#).unwrap_err();
        assert!(err.to_string().contains("`set.t`"), "{err}");
        assert!(err.to_string().contains("unknown variable"), "{err}");
    }

    /// With `parser = "json"`, nginx's JSON log gives `"status":"200"`: the
    /// record filter had no way to give the number back its type.
    #[test]
    fn json_strings_get_their_types_back() {
        let f = build(
            r#"types = { status = "int", request_time = "float", ok = "bool", code = "string",
                         "upstream.bytes" = "integer", blank = "int", whole = "int", missing = "int",
                         n = "float", list = "string", nothing = "bool" }"#,
        )
        .unwrap();
        let upstream: Record = [("bytes", Value::from(" 12 "))].into_iter().collect();
        let mut e = event(&[
            ("status", "200".into()),
            ("request_time", "0.005".into()),
            ("ok", "TRUE".into()),
            ("code", Value::Int(404)),
            ("upstream", Value::from(upstream)),
            ("blank", "".into()),
            ("whole", Value::Float(3.0)),
            ("n", Value::Int(2)),
            ("list", Value::from(vec![Value::Int(1), "a".into()])),
            ("nothing", Value::Null),
        ]);
        f.apply(&mut e);
        assert_eq!(e.record["status"], Value::Int(200));
        assert_eq!(e.record["request_time"], Value::Float(0.005));
        assert_eq!(e.record["ok"], Value::Bool(true));
        assert_eq!(e.record["code"], Value::from("404"));
        assert_eq!(
            Value::get_path(&e.record, "upstream.bytes"),
            Some(&Value::Int(12))
        );
        assert_eq!(
            e.record["blank"],
            Value::Null,
            "blank text of a number is null"
        );
        assert_eq!(e.record["whole"], Value::Int(3));
        assert_eq!(e.record["n"], Value::Float(2.0));
        assert_eq!(e.record["list"], Value::from(r#"[1,"a"]"#));
        assert_eq!(e.record["nothing"], Value::Null);
        assert!(!e.record.contains_key("missing"));
        assert_eq!(f.conversion_errors.get(), 0);

        // What does not convert is left as it was, and counted.
        let mut e = event(&[
            ("status", "OK".into()),
            ("request_time", Value::Bool(true)),
            ("whole", Value::Float(2.5)),
        ]);
        f.apply(&mut e);
        assert_eq!(e.record["status"], Value::from("OK"));
        assert_eq!(e.record["request_time"], Value::Bool(true));
        assert_eq!(e.record["whole"], Value::Float(2.5));
        assert_eq!(f.conversion_errors.get(), 3);
    }

    #[test]
    fn types_run_after_rename_and_refuse_bad_names() {
        let f = build(
            r#"rename = { st = "status" }
                         types = { status = "int" }"#,
        )
        .unwrap();
        let mut e = event(&[("st", "201".into())]);
        f.apply(&mut e);
        assert_eq!(e.record["status"], Value::Int(201));

        let err = build(r#"types = { "a..b" = "int" }"#).unwrap_err();
        assert!(
            matches!(err, FilterError::BadPath { key: "types", .. }),
            "{err}"
        );
        let config = toml::from_str::<RecordConfig>("match = \"**\"\ntypes = { a = \"number\" }");
        let err = config.unwrap_err().to_string();
        assert!(err.contains("number") && err.contains("int"), "{err}");
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        let err = build(r#"set = { a = "${method" }"#).unwrap_err();
        assert!(err.to_string().contains("`set.a`"), "{err}");
        assert!(err.to_string().contains("unclosed"), "{err}");
        let err = build(r#"set = { a = "${method|shout}" }"#).unwrap_err();
        assert!(
            err.to_string().contains("shout") && err.to_string().contains("lower"),
            "{err}"
        );
        let err = build(r#"set = { a = "${path|segment(x)}" }"#).unwrap_err();
        assert!(err.to_string().contains("segment"), "{err}");
        let err = build(r#"retag = "a.${b""#).unwrap_err();
        assert!(err.to_string().contains("`retag`"), "{err}");
        for tag in ["", "a..b", "a b", ".a", "@ERROR", "a.*"] {
            let err = build(&format!("retag = {tag:?}")).unwrap_err();
            assert!(matches!(err, FilterError::BadTag { .. }), "{tag:?}: {err}");
        }
        let err = build(r#"set = { "" = "x" }"#).unwrap_err();
        assert!(
            matches!(err, FilterError::BadField { key: "set", .. }),
            "{err}"
        );
        let err = build(r#"remove = [""]"#).unwrap_err();
        assert!(
            matches!(err, FilterError::BadField { key: "remove", .. }),
            "{err}"
        );
        let err = build(r#"rename = { a = "b", b = "c" }"#).unwrap_err();
        assert!(matches!(err, FilterError::RenameConflict { .. }), "{err}");
        let err = build(r#"rename = { a = "c", b = "c" }"#).unwrap_err();
        assert!(err.to_string().contains("`c`"), "{err}");
        let err = build(r#"rename = { a = "a" }"#).unwrap_err();
        assert!(matches!(err, FilterError::RenameConflict { .. }), "{err}");
        let err = build("").unwrap_err();
        assert!(
            matches!(err, FilterError::Empty { kind: "record", .. }),
            "{err}"
        );
    }
}
