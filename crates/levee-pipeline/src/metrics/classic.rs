//! Prometheus' classic text format (0.0.4), made from the OpenMetrics text
//! the registry crate writes (it writes nothing else).
//!
//! The two differ in a few places, and the classic parsers are strict
//! about them: a counter's family is named with its `_total` suffix (else
//! the classic parser of `prometheus_client` sees a family without samples
//! and the samples as another, untyped one), `_created` samples, `# UNIT`,
//! exemplars and `# EOF` do not exist, and OpenMetrics' `info` and
//! `unknown` types are classic `gauge` and `untyped`.

/// The media type of [`to_classic`]'s text.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The media type of the registry's own text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The family being copied: its OpenMetrics name and type.
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
}

/// Rewrites OpenMetrics text, as the registry crate writes it, in the
/// classic format.
pub fn to_classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // The crate writes HELP before TYPE; the classic name needs the type.
    let mut help: Option<(&str, &str)> = None;
    let mut family: Option<Family> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (classic_name, classic_kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gauge" | "histogram" | "summary" => (name.to_owned(), kind),
                "gaugehistogram" => (name.to_owned(), "histogram"),
                "stateset" => (name.to_owned(), "gauge"),
                _ => (name.to_owned(), "untyped"),
            };
            if let Some((help_name, text)) = help.take()
                && help_name == name
            {
                out.push_str("# HELP ");
                out.push_str(&classic_name);
                out.push(' ');
                escape_help(&mut out, text);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(&classic_name);
            out.push(' ');
            out.push_str(classic_kind);
            out.push('\n');
            family = Some(Family { name, kind });
        } else if line.starts_with('#') || line.is_empty() {
            // `# UNIT`, `# EOF`: nothing in the classic format.
        } else {
            let (name, labels, rest) = split_sample(line);
            if let Some(f) = &family
                && matches!(f.kind, "counter" | "histogram" | "summary")
                && name.strip_suffix("_created") == Some(f.name)
            {
                continue;
            }
            // An exemplar follows the value (and timestamp) after " # ".
            let rest = rest.split(" # ").next().unwrap_or(rest);
            out.push_str(name);
            out.push_str(labels);
            out.push_str(rest.trim_end());
            out.push('\n');
        }
    }
    out
}

/// A sample line's name, `{labels}` (or nothing) and the rest (value,
/// perhaps a timestamp and an exemplar), with the rest's leading space.
fn split_sample(line: &str) -> (&str, &str, &str) {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let (name, after) = line.split_at(name_end);
    if !after.starts_with('{') {
        return (name, "", after);
    }
    // Braces inside quoted label values do not end the label set.
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in after.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return (name, &after[..=i], &after[i + 1..]),
            _ => {}
        }
    }
    (name, after, "")
}

/// HELP text as the classic format wants it: backslashes doubled. The
/// registry crate writes HELP as given, so a backslash in it is a lone
/// one here.
fn escape_help(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page in every type the registry crate writes, with labels that
    /// need escaping and hold what looks like syntax.
    const OPENMETRICS_PAGE: &str = r#"# HELP levee_source_events Events made by a source
# TYPE levee_source_events counter
levee_source_events_total{source="nginx"} 7
levee_source_events_total{source="a \"q\" } # {x} \\ \n"} 1
# HELP levee_requests Requests.
# TYPE levee_requests counter
levee_requests_total 3 # {trace="ab"} 1.0 1.5
levee_requests_created 1700000000.0
# HELP levee_buffer_bytes Bytes waiting in C:\logs
# TYPE levee_buffer_bytes gauge
levee_buffer_bytes{output="lake"} 0
# HELP levee_latency_seconds Flush latency.
# TYPE levee_latency_seconds histogram
# UNIT levee_latency_seconds seconds
levee_latency_seconds_sum{output="lake"} 0.5
levee_latency_seconds_count{output="lake"} 2
levee_latency_seconds_bucket{le="0.1",output="lake"} 1
levee_latency_seconds_bucket{le="+Inf",output="lake"} 2
levee_latency_seconds_created{output="lake"} 1700000000.0
# HELP levee_build Build.
# TYPE levee_build info
levee_build_info{version="1"} 1
# HELP levee_thing_created A gauge that ends in _created.
# TYPE levee_thing_created gauge
levee_thing_created NaN
# EOF
"#;

    const CLASSIC_PAGE: &str = r#"# HELP levee_source_events_total Events made by a source
# TYPE levee_source_events_total counter
levee_source_events_total{source="nginx"} 7
levee_source_events_total{source="a \"q\" } # {x} \\ \n"} 1
# HELP levee_requests_total Requests.
# TYPE levee_requests_total counter
levee_requests_total 3
# HELP levee_buffer_bytes Bytes waiting in C:\\logs
# TYPE levee_buffer_bytes gauge
levee_buffer_bytes{output="lake"} 0
# HELP levee_latency_seconds Flush latency.
# TYPE levee_latency_seconds histogram
levee_latency_seconds_sum{output="lake"} 0.5
levee_latency_seconds_count{output="lake"} 2
levee_latency_seconds_bucket{le="0.1",output="lake"} 1
levee_latency_seconds_bucket{le="+Inf",output="lake"} 2
# HELP levee_build_info Build.
# TYPE levee_build_info gauge
levee_build_info{version="1"} 1
# HELP levee_thing_created A gauge that ends in _created.
# TYPE levee_thing_created gauge
levee_thing_created NaN
"#;

    #[test]
    fn openmetrics_page_in_the_classic_format() {
        assert_eq!(to_classic(OPENMETRICS_PAGE), CLASSIC_PAGE);
    }

    /// What the registry itself writes, so that a change in the crate's
    /// output shows here.
    #[test]
    fn the_registry_in_the_classic_format() {
        let m = super::super::Metrics::new();
        m.source("nginx").events.inc_by(7);
        m.output("lake", "lake").buffer_bytes.set(12);
        let text = m.encode_classic();
        assert!(
            text.contains(
                "# TYPE levee_source_events_total counter\n\
                 levee_source_events_total{source=\"nginx\"} 7\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "# TYPE levee_buffer_bytes gauge\nlevee_buffer_bytes{output=\"lake\",type=\"lake\"} 12\n"
            ),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    /// Hostile input: whatever the lines are, the rewrite neither panics
    /// nor makes a line out of nothing.
    #[test]
    fn hostile_lines_do_not_panic() {
        for page in [
            "",
            "#",
            "# HELP",
            "# TYPE",
            "# TYPE x",
            "x{",
            "x{a=\"\\",
            "x{a=\"}\"",
            "{}",
            " # ",
            "\n\n# EOF",
            "x{a=\"é\"} 1 # {",
        ] {
            let out = to_classic(page);
            assert!(out.lines().count() <= page.lines().count(), "{page:?}");
        }
    }
}
