//! Filters: per-event steps between routing and the outputs.
//!
//! Each `[[filters]]` entry of the config becomes one [`FilterConfig`]; it is
//! validated once by [`FilterConfig::build`] into a [`Filter`], which the
//! pipeline applies, in file order, to the events whose tag its `match`
//! pattern matches. A filter may change the record, re-tag the event, or drop
//! it ([`Verdict::Drop`]).
//!
//! Adding a filter is a module, a variant of [`FilterConfig`] and a match arm.

use std::cell::RefCell;

use levee_event::{Event, PatternError, TagPattern};

use crate::template::TemplateError;

pub mod grep;
pub mod record;

/// One `[[filters]]` entry, as the user writes it; `type` picks the variant.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilterConfig {
    /// Keeps or drops events by regexes over their fields.
    Grep(grep::GrepConfig),
    /// Sets, renames and removes fields, and re-tags.
    Record(record::RecordConfig),
}

impl FilterConfig {
    /// The `match` pattern as written.
    pub fn match_pattern(&self) -> &str {
        match self {
            FilterConfig::Grep(config) => &config.r#match,
            FilterConfig::Record(config) => &config.r#match,
        }
    }

    /// Validates once (regexes, templates, the pattern) and builds the runnable filter.
    pub fn build(&self) -> Result<Filter, FilterError> {
        let pattern =
            TagPattern::new(self.match_pattern()).map_err(|source| FilterError::Pattern {
                pattern: self.match_pattern().to_owned(),
                source,
            })?;
        let action = match self {
            FilterConfig::Grep(config) => Action::Grep(config.build()?),
            FilterConfig::Record(config) => Action::Record(config.build()?),
        };
        Ok(Filter { pattern, action })
    }
}

/// A validated filter, ready to run. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Filter {
    pattern: TagPattern,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    Grep(grep::GrepFilter),
    Record(record::RecordFilter),
}

/// What a filter decided about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The event goes on to the next filter and the outputs.
    Keep,
    /// The event stops here.
    Drop,
}

impl Filter {
    /// The compiled `match` pattern.
    pub fn pattern(&self) -> &TagPattern {
        &self.pattern
    }

    /// Applies the filter to one event whose tag matched (may change record and tag).
    pub fn apply(&self, event: &mut Event) -> Verdict {
        match &self.action {
            Action::Grep(grep) => grep.apply(event),
            Action::Record(record) => {
                record.apply(event);
                Verdict::Keep
            }
        }
    }

    /// The filter's type name, for metrics and messages ("grep", "record").
    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Grep(_) => "grep",
            Action::Record(_) => "record",
        }
    }
}

/// Why a filter's config was refused. Each message names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The `match` pattern does not compile.
    #[error("bad `match` pattern `{pattern}`: {source}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// Why it was refused.
        #[source]
        source: PatternError,
    },
    /// A regex does not compile.
    #[error("`{key}`: invalid regex: {source}")]
    Regex {
        /// The config key holding it, as `include.status`.
        key: String,
        /// The regex crate's explanation, which shows the regex.
        #[source]
        source: regex::Error,
    },
    /// A template does not compile.
    #[error("`{key}`: {source}")]
    Template {
        /// The config key holding it, as `set.api_call` or `retag`.
        key: String,
        /// Why it was refused.
        #[source]
        source: TemplateError,
    },
    /// A field name or path that is empty or malformed.
    #[error("`{key}`: bad field name `{name}`: {reason}")]
    BadField {
        /// The config key, as `rename` or `include`.
        key: &'static str,
        /// The name as written.
        name: String,
        /// What a valid one looks like.
        reason: &'static str,
    },
    /// Renames that chain or collide, whose outcome would depend on order.
    #[error("`rename`: {reason}")]
    RenameConflict {
        /// Which names collide, and how.
        reason: String,
    },
    /// A literal `retag` that no `match` pattern could ever select.
    #[error("`retag`: bad tag `{tag}`: a tag is dot-separated non-empty parts without spaces")]
    BadTag {
        /// The tag as written.
        tag: String,
    },
    /// A filter with nothing to do, which is always a mistake.
    #[error("this `{kind}` filter does nothing: give it {needs}")]
    Empty {
        /// The filter's type.
        kind: &'static str,
        /// The keys it needs at least one of.
        needs: &'static str,
    },
}

thread_local! {
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Scratch buffers above this size are released after use, so one huge
/// record does not pin memory in every worker thread.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Runs `f` with an empty per-thread buffer, so the hot path can build
/// temporary text (a value's text form, a rendered tag) without allocating
/// per event.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut String) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let result = f(&mut buf);
            if buf.capacity() > SCRATCH_KEEP {
                *buf = String::new();
            }
            result
        }
        // Only reachable if `f` itself asks for scratch; give it its own.
        Err(_) => f(&mut String::new()),
    })
}

#[cfg(test)]
mod tests {
    use levee_event::{Record, Tag, Value};

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct File {
        filters: Vec<FilterConfig>,
    }

    fn parse(text: &str) -> Result<Vec<FilterConfig>, toml::de::Error> {
        toml::from_str::<File>(text).map(|file| file.filters)
    }

    fn configs(text: &str) -> Vec<FilterConfig> {
        parse(text).unwrap()
    }

    fn event(tag: &str, fields: &[(&str, Value)]) -> Event {
        let record: Record = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        Event::new(Tag::new(tag), 0, record)
    }

    const EXAMPLE: &str = r#"
        [[filters]]
        match = "nginx.**"
        type = "record"
        set = { api_call = "${method|lower}_${path|segment(2)}", status_class = "${status|status_class}", env = "prod" }
        rename = { remote_addr = "client_ip" }
        remove = ["remote_user"]
        retag = "firehose_parsed.nginx"

        [[filters]]
        match = "firehose_parsed.**"
        type = "grep"
        include = { status = "^[45]" }
        exclude = { path = "^/healthz" }
    "#;

    /// Runs filters as the pipeline does: in order, only where the tag matches.
    fn run(filters: &[Filter], event: &mut Event) -> Verdict {
        for filter in filters {
            if filter.pattern().matches(event.tag.as_str()) && filter.apply(event) == Verdict::Drop
            {
                return Verdict::Drop;
            }
        }
        Verdict::Keep
    }

    #[test]
    fn the_documented_example_runs() {
        let configs = configs(EXAMPLE);
        assert_eq!(configs[0].match_pattern(), "nginx.**");
        let filters: Vec<Filter> = configs.iter().map(|c| c.build().unwrap()).collect();
        assert_eq!(
            filters.iter().map(Filter::kind).collect::<Vec<_>>(),
            ["record", "grep"]
        );

        let mut failed = event(
            "nginx.access",
            &[
                ("remote_addr", "10.0.0.1".into()),
                ("remote_user", "bob".into()),
                ("method", "GET".into()),
                ("path", "/api/v1/webhooks/abc?x=1".into()),
                ("status", Value::Int(404)),
            ],
        );
        assert_eq!(run(&filters, &mut failed), Verdict::Keep);
        assert_eq!(failed.tag.as_str(), "firehose_parsed.nginx");
        // The renamed field keeps its place and set fields come last; the
        // toml crate (without `preserve_order`) hands `set` over sorted by name.
        let keys: Vec<&str> = failed.record.keys().map(String::as_str).collect();
        assert_eq!(keys[..4], ["client_ip", "method", "path", "status"]);
        assert_eq!(keys.len(), 7);
        assert_eq!(failed.record["api_call"], Value::from("get_webhooks"));
        assert_eq!(failed.record["status_class"], Value::from("4xx"));
        assert_eq!(failed.record["env"], Value::from("prod"));
        assert_eq!(failed.record["client_ip"], Value::from("10.0.0.1"));

        let mut ok = event(
            "nginx.access",
            &[("path", "/".into()), ("status", Value::Int(200))],
        );
        assert_eq!(run(&filters, &mut ok), Verdict::Drop);
        let mut health = event(
            "nginx.access",
            &[("path", "/healthz".into()), ("status", Value::Int(503))],
        );
        assert_eq!(run(&filters, &mut health), Verdict::Drop);
        let mut other = event("app.log", &[("status", Value::Int(200))]);
        assert_eq!(run(&filters, &mut other), Verdict::Keep);
        assert_eq!(other.tag.as_str(), "app.log");
    }

    #[test]
    fn unknown_keys_and_types_are_refused() {
        let typo = "[[filters]]\nmatch = \"a\"\ntype = \"grep\"\nincldue = { a = \"b\" }\n";
        let err = parse(typo).unwrap_err();
        assert!(err.to_string().contains("incldue"), "{err}");
        let err = parse("[[filters]]\nmatch = \"a\"\ntype = \"shout\"\n").unwrap_err();
        assert!(err.to_string().contains("shout"), "{err}");
        let err = parse("[[filters]]\ntype = \"grep\"\ninclude = { a = \"b\" }\n").unwrap_err();
        assert!(err.to_string().contains("match"), "{err}");
    }

    #[test]
    fn hostile_match_patterns_are_refused() {
        for pattern in ["", "   ", "a.{b", "a**"] {
            let text =
                format!("[[filters]]\nmatch = {pattern:?}\ntype = \"record\"\nremove = [\"x\"]\n");
            let err = configs(&text)[0].build().unwrap_err();
            assert!(
                matches!(err, FilterError::Pattern { .. }),
                "{pattern:?}: {err}"
            );
            assert!(err.to_string().contains("`match`"), "{err}");
        }
    }

    #[test]
    fn filters_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Filter>();
        assert_send_sync::<FilterConfig>();
    }

    #[test]
    fn scratch_is_empty_each_time_and_reentrant() {
        with_scratch(|buf| buf.push_str("left over"));
        let nested = with_scratch(|outer| {
            assert!(outer.is_empty());
            outer.push('x');
            with_scratch(|inner| {
                inner.push('y');
                inner.clone()
            })
        });
        assert_eq!(nested, "y");
    }
}
