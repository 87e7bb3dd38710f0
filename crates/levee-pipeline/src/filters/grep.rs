//! `grep`: keeps or drops events by regexes over their fields.
//!
//! ```toml
//! [[filters]]
//! match = "nginx.**"
//! type = "grep"
//! include = { status = "^[45]" }     # keep events whose fields all match
//! exclude = { path = "^/healthz" }   # then drop events with any field matching
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use levee_event::{Event, FieldPath, Record, Value};
use regex::Regex;

use super::{FilterError, Verdict, field_path, with_scratch};

/// Config of a `grep` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrepConfig {
    /// Tag pattern of the events this filter applies to, such as `nginx.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// Field path (`status`, or `geo_ip.country` for a nested field) to
    /// regex: an event is kept only if every listed field is present and
    /// matches. Regexes use the `regex` crate's syntax and match anywhere in
    /// the text unless anchored (`^`, `$`); a non-string value is matched on
    /// its text (`404`, `true`).
    #[serde(default)]
    pub include: BTreeMap<String, String>,
    /// Field path to regex: an event is dropped if any listed field is
    /// present and matches. A missing field never matches, so it never drops.
    #[serde(default)]
    pub exclude: BTreeMap<String, String>,
}

impl GrepConfig {
    pub(super) fn build(&self) -> Result<GrepFilter, FilterError> {
        if self.include.is_empty() && self.exclude.is_empty() {
            return Err(FilterError::Empty {
                kind: "grep",
                needs: "`include` or `exclude`",
            });
        }
        Ok(GrepFilter {
            include: compile("include", &self.include)?,
            exclude: compile("exclude", &self.exclude)?,
        })
    }
}

fn compile(key: &'static str, rules: &BTreeMap<String, String>) -> Result<Vec<Rule>, FilterError> {
    rules
        .iter()
        .map(|(path, regex)| {
            let checked = field_path(key, path)?;
            let regex = Regex::new(regex).map_err(|source| FilterError::Regex {
                key: format!("{key}.{path}"),
                source,
            })?;
            Ok(Rule {
                path: checked,
                regex,
            })
        })
        .collect()
}

/// A built `grep` filter.
#[derive(Debug, Clone)]
pub(crate) struct GrepFilter {
    include: Vec<Rule>,
    exclude: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    path: FieldPath,
    regex: Regex,
}

impl GrepFilter {
    pub(super) fn apply(&self, event: &Event) -> Verdict {
        let record = &event.record;
        let kept = self
            .include
            .iter()
            .all(|rule| rule.matches(record) == Some(true))
            && !self
                .exclude
                .iter()
                .any(|rule| rule.matches(record) == Some(true));
        if kept { Verdict::Keep } else { Verdict::Drop }
    }
}

impl Rule {
    /// Whether the field matches, or `None` if the record lacks it.
    fn matches(&self, record: &Record) -> Option<bool> {
        Some(match self.path.get(record)? {
            Value::String(text) => self.regex.is_match(text),
            other => with_scratch(|text| {
                // Writing into a String cannot fail.
                let _ = write!(text, "{other}");
                self.regex.is_match(text)
            }),
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn grep(include: &[(&str, &str)], exclude: &[(&str, &str)]) -> Result<GrepFilter, FilterError> {
        let map = |rules: &[(&str, &str)]| {
            rules
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        GrepConfig {
            r#match: "**".to_owned(),
            include: map(include),
            exclude: map(exclude),
        }
        .build()
    }

    fn event(fields: &[(&str, Value)]) -> Event {
        crate::filters::testkit::event_at("t", 0, fields)
    }

    #[test]
    fn include_needs_every_field_to_match() {
        let g = grep(&[("status", "^[45]"), ("method", "^(GET|POST)$")], &[]).unwrap();
        let keep = event(&[("status", Value::Int(404)), ("method", "GET".into())]);
        assert_eq!(g.apply(&keep), Verdict::Keep);
        let wrong_method = event(&[("status", Value::Int(500)), ("method", "PUT".into())]);
        assert_eq!(g.apply(&wrong_method), Verdict::Drop);
        let wrong_status = event(&[("status", "200".into()), ("method", "GET".into())]);
        assert_eq!(g.apply(&wrong_status), Verdict::Drop);
    }

    #[test]
    fn exclude_drops_on_any_match() {
        let g = grep(&[], &[("path", "^/healthz"), ("agent", "bot")]).unwrap();
        assert_eq!(
            g.apply(&event(&[("path", "/healthz/live".into())])),
            Verdict::Drop
        );
        assert_eq!(
            g.apply(&event(&[
                ("path", "/api".into()),
                ("agent", "Googlebot".into())
            ])),
            Verdict::Drop
        );
        assert_eq!(
            g.apply(&event(&[("path", "/api".into()), ("agent", "curl".into())])),
            Verdict::Keep
        );
    }

    #[test]
    fn missing_fields_fail_include_and_pass_exclude() {
        let include = grep(&[("status", ".*")], &[]).unwrap();
        assert_eq!(include.apply(&event(&[])), Verdict::Drop);
        let exclude = grep(&[], &[("status", ".*")]).unwrap();
        assert_eq!(exclude.apply(&event(&[])), Verdict::Keep);
    }

    #[test]
    fn non_string_values_match_on_their_text() {
        let g = grep(
            &[("ok", "^true$"), ("ms", r"^1\.5$"), ("code", "^-3$")],
            &[],
        )
        .unwrap();
        let e = event(&[
            ("ok", Value::Bool(true)),
            ("ms", Value::Float(1.5)),
            ("code", Value::Int(-3)),
        ]);
        assert_eq!(g.apply(&e), Verdict::Keep);
    }

    #[test]
    fn nested_paths_reach_into_maps() {
        let g = grep(&[("geo.country", "^US$")], &[]).unwrap();
        let geo: Record = [("country".to_owned(), Value::from("US"))]
            .into_iter()
            .collect();
        assert_eq!(g.apply(&event(&[("geo", Value::from(geo))])), Verdict::Keep);
        assert_eq!(g.apply(&event(&[("geo", "US".into())])), Verdict::Drop);
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        let err = grep(&[("status", "^[45")], &[]).unwrap_err();
        assert!(matches!(&err, FilterError::Regex { key, .. } if key == "include.status"));
        assert!(err.to_string().contains("`include.status`"), "{err}");
        assert!(err.to_string().contains("^[45"), "{err}");

        let err = grep(&[], &[("path", "(unclosed")]).unwrap_err();
        assert!(err.to_string().contains("`exclude.path`"), "{err}");

        let err = grep(&[("a..b", "x")], &[]).unwrap_err();
        assert!(
            matches!(err, FilterError::BadPath { key: "include", .. }),
            "{err}"
        );
        let err = grep(&[], &[("", "x")]).unwrap_err();
        assert!(
            matches!(err, FilterError::BadPath { key: "exclude", .. }),
            "{err}"
        );

        let err = grep(&[], &[]).unwrap_err();
        assert!(
            matches!(err, FilterError::Empty { kind: "grep", .. }),
            "{err}"
        );
    }
}
