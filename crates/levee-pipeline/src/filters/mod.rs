//! Filters: per-event steps between routing and the outputs.
//!
//! Each `[[filters]]` entry of the config becomes one [`FilterConfig`]; it is
//! validated once by [`FilterConfig::build`] into a [`Filter`], which the
//! pipeline applies, in file order, to the events whose tag its `match`
//! pattern matches. A filter may change the record, re-tag the event, or drop
//! it ([`Verdict::Drop`]).
//!
//! One [`Filter`] serves every source's router task at once. The filters
//! that remember (`sample` without a key, `dedupe`, `throttle`) share that
//! memory between all of them, bounded in size.
//!
//! Adding a filter is a module, a variant of [`FilterConfig`] and a match arm.

use std::cell::RefCell;

use levee_event::{Event, FieldPath, PathError, PatternError, TagError, TagPattern};

use crate::metrics::Metrics;
use crate::template::TemplateError;

pub mod dedupe;
pub mod grep;
mod key;
mod key_table;
pub mod metric;
pub mod parse;
pub mod record;
pub mod remove;
pub mod rename;
pub mod sample;
#[cfg(test)]
mod testkit;
pub mod throttle;

/// One `[[filters]]` entry, as the user writes it; `type` picks the variant.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilterConfig {
    /// Keeps or drops events by regexes over their fields.
    Grep(grep::GrepConfig),
    /// Sets, renames and removes fields, and re-tags.
    Record(record::RecordConfig),
    /// Parses a field with one of levee's parsers.
    Parse(parse::ParseConfig),
    /// Renames fields, nested ones too.
    Rename(rename::RenameConfig),
    /// Removes fields, nested ones too.
    Remove(remove::RemoveConfig),
    /// Keeps 1 event in N, by count or by a stable hash of a key.
    Sample(sample::SampleConfig),
    /// Drops events whose key was seen within a window.
    Dedupe(dedupe::DedupeConfig),
    /// Limits the rate of events per key.
    Throttle(throttle::ThrottleConfig),
    /// Counts events into a metric of its own, labelled from the events.
    Metric(metric::MetricConfig),
}

impl FilterConfig {
    /// The `match` pattern as written.
    pub fn match_pattern(&self) -> &str {
        match self {
            FilterConfig::Grep(config) => &config.r#match,
            FilterConfig::Record(config) => &config.r#match,
            FilterConfig::Parse(config) => &config.r#match,
            FilterConfig::Rename(config) => &config.r#match,
            FilterConfig::Remove(config) => &config.r#match,
            FilterConfig::Sample(config) => &config.r#match,
            FilterConfig::Dedupe(config) => &config.r#match,
            FilterConfig::Throttle(config) => &config.r#match,
            FilterConfig::Metric(config) => &config.r#match,
        }
    }

    /// Validates once (regexes, templates, parsers, numbers, the pattern)
    /// and builds the runnable filter.
    pub fn build(&self) -> Result<Filter, FilterError> {
        let pattern =
            TagPattern::new(self.match_pattern()).map_err(|source| FilterError::Pattern {
                pattern: self.match_pattern().to_owned(),
                source,
            })?;
        let action = match self {
            FilterConfig::Grep(config) => Action::Grep(config.build()?),
            FilterConfig::Record(config) => Action::Record(config.build()?),
            FilterConfig::Parse(config) => Action::Parse(config.build()?),
            FilterConfig::Rename(config) => Action::Rename(config.build()?),
            FilterConfig::Remove(config) => Action::Remove(config.build()?),
            FilterConfig::Sample(config) => Action::Sample(config.build()?),
            FilterConfig::Dedupe(config) => Action::Dedupe(config.build()?),
            FilterConfig::Throttle(config) => Action::Throttle(config.build()?),
            FilterConfig::Metric(config) => Action::Metric(config.build()?),
        };
        Ok(Filter { pattern, action })
    }
}

/// A validated filter, ready to run. Cheap to share between threads; clones
/// share the state of `sample`, `dedupe` and `throttle`.
#[derive(Debug, Clone)]
pub struct Filter {
    pattern: TagPattern,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    Grep(grep::GrepFilter),
    Record(record::RecordFilter),
    Parse(parse::ParseFilter),
    Rename(rename::RenameFilter),
    Remove(remove::RemoveFilter),
    Sample(sample::SampleFilter),
    Dedupe(dedupe::DedupeFilter),
    Throttle(throttle::ThrottleFilter),
    Metric(metric::MetricFilter),
}

/// What a filter does to the tags of the events it matches.
#[derive(Debug, Clone, Copy)]
pub enum Retags<'a> {
    /// They keep their tags.
    Keep,
    /// They all get this tag.
    To(&'a levee_event::Tag),
    /// Each gets the tag this template renders, known only at run time
    /// (an empty rendering keeps the tag).
    Rendered(&'a crate::template::Template),
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
            Action::Parse(parse) => {
                parse.apply(event);
                Verdict::Keep
            }
            Action::Rename(rename) => {
                rename.apply(event);
                Verdict::Keep
            }
            Action::Remove(remove) => {
                remove.apply(event);
                Verdict::Keep
            }
            Action::Sample(sample) => sample.apply(event),
            Action::Dedupe(dedupe) => dedupe.apply(event),
            Action::Throttle(throttle) => throttle.apply(event),
            Action::Metric(metric) => {
                metric.apply(event);
                Verdict::Keep
            }
        }
    }

    /// What the filter does to the tags of the events it matches, as far
    /// as its config says (`levee validate` follows tags with it). The
    /// `@ERROR` of a failed parse is not counted: any source makes it.
    pub fn retags(&self) -> Retags<'_> {
        match &self.action {
            Action::Record(record) => record.retag().unwrap_or(Retags::Keep),
            _ => Retags::Keep,
        }
    }

    /// The metric filter this is, if it is one.
    pub fn as_metric(&self) -> Option<&metric::MetricFilter> {
        match &self.action {
            Action::Metric(metric) => Some(metric),
            _ => None,
        }
    }

    /// The filter's type name, for metrics and messages ("grep", "record").
    pub fn kind(&self) -> &'static str {
        match self.action {
            Action::Grep(_) => "grep",
            Action::Record(_) => "record",
            Action::Parse(_) => "parse",
            Action::Rename(_) => "rename",
            Action::Remove(_) => "remove",
            Action::Sample(_) => "sample",
            Action::Dedupe(_) => "dedupe",
            Action::Throttle(_) => "throttle",
            Action::Metric(_) => "metric",
        }
    }

    /// Counts what the filter notices besides drops (parse failures,
    /// evicted keys) into the registry, labelled `name`, from now on; until
    /// then it counts into handles of its own. Filters that count nothing
    /// more add nothing to the registry.
    pub fn count_into(&mut self, metrics: &Metrics, name: &str) {
        match &mut self.action {
            Action::Parse(parse) => parse.count_errors_into(metrics.filter_parse_errors(name)),
            Action::Dedupe(dedupe) => {
                dedupe.count_evictions_into(metrics.filter_evicted_keys(name))
            }
            Action::Throttle(throttle) => {
                throttle.count_evictions_into(metrics.filter_evicted_keys(name));
            }
            Action::Record(record) if record.converts() => {
                record.count_conversion_errors_into(metrics.filter_conversion_errors(name));
            }
            Action::Metric(metric) => metrics.metric_filter(metric),
            Action::Record(_)
            | Action::Grep(_)
            | Action::Rename(_)
            | Action::Remove(_)
            | Action::Sample(_) => {}
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
    /// A field path that breaks [`FieldPath::parse`]'s rule.
    #[error("`{key}`: {source}")]
    BadPath {
        /// The config key, as `rename` or `include`.
        key: &'static str,
        /// Why the path was refused.
        #[source]
        source: PathError,
    },
    /// Renames that chain or collide, whose outcome would depend on order.
    #[error("`rename`: {reason}")]
    RenameConflict {
        /// Which names collide, and how.
        reason: String,
    },
    /// A literal `retag` that breaks [`levee_event::Tag::parse`]'s rule.
    #[error("`retag`: {source}")]
    BadTag {
        /// Why the tag was refused.
        #[source]
        source: TagError,
    },
    /// A value out of range, or options that contradict each other.
    #[error("`{key}`: {reason}")]
    Invalid {
        /// The config key at fault.
        key: &'static str,
        /// What is wrong, and what to write instead.
        reason: String,
    },
    /// A `parser` whose config is refused.
    #[error("`parser`: {source}")]
    Parser {
        /// Why the parser refused it.
        #[source]
        source: levee_parse::ParserConfigError,
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

impl FilterError {
    /// The config key at fault, as a dotted path inside the filter's table
    /// (`include.status`), so `levee validate` can point at it.
    pub fn key(&self) -> Option<&str> {
        match self {
            FilterError::Pattern { .. } => Some("match"),
            FilterError::Regex { key, .. } | FilterError::Template { key, .. } => Some(key),
            FilterError::BadField { key, .. } | FilterError::Invalid { key, .. } => Some(key),
            FilterError::RenameConflict { .. } => Some("rename"),
            FilterError::BadPath { key, .. } => Some(key),
            FilterError::BadTag { .. } => Some("retag"),
            FilterError::Parser { .. } => Some("parser"),
            FilterError::Empty { .. } => None,
        }
    }
}

/// Checks a field path from the config key `key`.
fn field_path(key: &'static str, path: &str) -> Result<FieldPath, FilterError> {
    FieldPath::parse(path).map_err(|source| FilterError::BadPath { key, source })
}

/// A whole number of at least 1 from config key `key`, such as a rate.
fn at_least_one(key: &'static str, value: i64) -> Result<u64, FilterError> {
    u64::try_from(value)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| FilterError::Invalid {
            key,
            reason: format!("must be a whole number of at least 1, got {value}"),
        })
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
        let keys: Vec<&str> = failed.record.keys().map(|k| k.as_str()).collect();
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

    const MORE: &str = r#"
        [[filters]]
        match = "app.**"
        type = "parse"
        field = "message"
        parser = "json"
        reserve_data = true
        remove_key = true
        on_error = "error"

        [[filters]]
        match = "app.**"
        type = "rename"
        rename = { "user.id" = "user_id" }

        [[filters]]
        match = "app.**"
        type = "remove"
        remove = ["user", "secret"]

        [[filters]]
        match = "app.**"
        type = "dedupe"
        key = "request_id"
        window = "10s"
        max_keys = 1

        [[filters]]
        match = "app.**"
        type = "throttle"
        key = "${user_id}"
        rate = 2
        per = "1h"

        [[filters]]
        match = "app.**"
        type = "sample"
        rate = 1
    "#;

    #[tokio::test(start_paused = true)]
    async fn the_new_filters_run_in_order_and_count_into_the_registry() {
        let metrics = crate::metrics::Metrics::new();
        let filters: Vec<Filter> = configs(MORE)
            .iter()
            .enumerate()
            .map(|(i, config)| {
                let mut filter = config.build().unwrap();
                let name = format!("{}_{}", i + 1, filter.kind());
                filter.count_into(&metrics, &name);
                filter
            })
            .collect();
        assert_eq!(
            filters.iter().map(Filter::kind).collect::<Vec<_>>(),
            ["parse", "rename", "remove", "dedupe", "throttle", "sample"]
        );
        let request = |id: &str, user: &str| {
            let body = format!(r#"{{"request_id":"{id}","user":{{"id":"{user}"}},"secret":"x"}}"#);
            event(
                "app.web",
                &[("host", "h1".into()), ("message", body.into())],
            )
        };

        let mut first = request("r1", "u1");
        assert_eq!(run(&filters, &mut first), Verdict::Keep);
        let keys: Vec<&str> = first.record.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["host", "request_id", "user_id"]);
        assert_eq!(first.record["user_id"], Value::from("u1"));

        // The same request again is a duplicate.
        assert_eq!(run(&filters, &mut request("r1", "u1")), Verdict::Drop);
        // u1's third request is over its limit; r1 was evicted by r2 (max_keys = 1).
        assert_eq!(run(&filters, &mut request("r2", "u1")), Verdict::Keep);
        assert_eq!(run(&filters, &mut request("r1", "u1")), Verdict::Drop);
        assert_eq!(run(&filters, &mut request("r3", "u2")), Verdict::Keep);

        let mut bad = event("app.web", &[("message", "{oops".into())]);
        assert_eq!(run(&filters, &mut bad), Verdict::Keep);
        assert_eq!(bad.tag.as_str(), levee_event::ERROR_TAG);

        let text = metrics.encode();
        for line in [
            "levee_filter_parse_errors_total{filter=\"1_parse\"} 1",
            "levee_filter_evicted_keys_total{filter=\"4_dedupe\"} 3",
            "levee_filter_evicted_keys_total{filter=\"5_throttle\"} 0",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        assert!(!text.contains("2_rename"), "{text}");
    }

    #[test]
    fn hostile_numbers_are_refused_through_the_config_file() {
        for (filter, key) in [
            ("type = \"sample\"\nrate = 0", "`rate`"),
            ("type = \"sample\"\nrate = -3", "`rate`"),
            ("type = \"throttle\"\nrate = 0", "`rate`"),
            ("type = \"throttle\"\nrate = 5\nburst = -1", "`burst`"),
            ("type = \"throttle\"\nrate = 5\nper = \"0s\"", "`per`"),
            (
                "type = \"dedupe\"\nkey = \"id\"\nwindow = \"0s\"",
                "`window`",
            ),
            ("type = \"dedupe\"\nkey = \"\"\nwindow = \"1s\"", "`key`"),
        ] {
            let text = format!("[[filters]]\nmatch = \"a\"\n{filter}\n");
            let err = configs(&text)[0].build().unwrap_err();
            assert!(err.to_string().contains(key), "{filter}: {err}");
        }
        for (filter, needle) in [
            ("type = \"sample\"\nrate = 2\nrat = 3", "rat"),
            ("type = \"dedupe\"\nkey = \"id\"", "window"),
            ("type = \"throttle\"\nrate = 1.5", "1.5"),
            ("type = \"throttle\"\nrate = 1\nper = \"soon\"", "soon"),
            ("type = \"parse\"\nfield = \"m\"", "parser"),
            ("type = \"remove\"\nremove = [1]", "string"),
        ] {
            let text = format!("[[filters]]\nmatch = \"a\"\n{filter}\n");
            let err = parse(&text).unwrap_err();
            assert!(err.to_string().contains(needle), "{filter}: {err}");
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

    #[test]
    fn record_types_count_what_does_not_convert_into_the_registry() {
        let text = "[[filters]]\nmatch = \"**\"\ntype = \"record\"\ntypes = { status = \"int\" }\n\
                    [[filters]]\nmatch = \"**\"\ntype = \"record\"\nset = { a = \"b\" }\n";
        let metrics = Metrics::new();
        let mut filters: Vec<Filter> = configs(text).iter().map(|c| c.build().unwrap()).collect();
        for (i, filter) in filters.iter_mut().enumerate() {
            filter.count_into(&metrics, &format!("{}_record", i + 1));
        }
        let mut e = event("a", &[("status", "OK".into())]);
        assert_eq!(run(&filters, &mut e), Verdict::Keep);
        let text = metrics.encode();
        assert!(
            text.contains("levee_filter_conversion_errors_total{filter=\"1_record\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("2_record"),
            "a filter without types adds no series: {text}"
        );
    }
}
