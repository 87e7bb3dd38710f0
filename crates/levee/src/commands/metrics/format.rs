//! The line formats of `levee metrics export`: one line per sample.
//!
//! - `circonus`: `` name`value1`value2`…`number ``. The metric name, then the
//!   value of each label in the page's order (label names are left out), then
//!   the number, all joined by backticks. No labels: `` name`number ``. A
//!   backtick, carriage return or newline in a label value (or in the name,
//!   through `--prefix`) becomes `_`, so a value can never add a field or a
//!   line; an empty value stays an empty field. No timestamp. The README
//!   gives the grammar.
//! - `graphite`: the plaintext protocol with tags,
//!   `name;label=value;… number seconds`. Characters Graphite does not allow
//!   in tags (`;`, `~`, spaces, control characters) become `_`; a label with
//!   an empty value is left out (Graphite refuses empty tags).
//! - `influx`: line protocol, `name,label=value,… value=number nanoseconds`,
//!   with commas, spaces, `=` and backslashes escaped by a backslash and
//!   control characters turned into `_`; empty tags are left out.
//! - `json`: `{"name":…,"type":…,"labels":{…},"value":…,"timestamp_ms":…}`,
//!   labels in the page's order; NaN and ±Inf as the strings `"NaN"`,
//!   `"+Inf"`, `"-Inf"`.
//!
//! - `circonus` pushed to `http(s)://` ([`write_httptrap`]): one JSON
//!   object per poll for a Circonus HTTPTrap, keyed by the circonus names.
//!
//! Graphite and Influx cannot store NaN or ±Inf: those samples are left out
//! in these two formats. The timestamp is the sample's own if the page gives
//! one, else the time of the fetch.

use std::fmt::Write;

use levee_pipeline::metrics::parse::{Family, Sample};

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `` name`label values`…`number ``
    Circonus,
    /// Graphite's plaintext protocol with tags.
    Graphite,
    /// InfluxDB's line protocol.
    Influx,
    /// One JSON object per line.
    Json,
}

/// How metric names are rewritten before they are written.
#[derive(Clone, Debug, Default)]
pub struct Naming {
    /// Removed from the start of every name that starts with it.
    pub strip_prefix: Option<String>,
    /// Put before every name, as given (include your own separator).
    pub prefix: String,
}

impl Naming {
    fn name(&self, name: &str) -> String {
        let name = self
            .strip_prefix
            .as_deref()
            .and_then(|p| name.strip_prefix(p))
            .unwrap_or(name);
        format!("{}{name}", self.prefix)
    }
}

/// Writes every sample of `families` to `out`, one line each.
/// `now_ms` stands for the timestamp of samples without one.
pub fn write(families: &[Family], format: Format, naming: &Naming, now_ms: i64, out: &mut String) {
    for family in families {
        for sample in &family.samples {
            let name = naming.name(&sample.name);
            let ts = sample.timestamp_ms.unwrap_or(now_ms);
            match format {
                Format::Circonus => circonus(&name, sample, out),
                Format::Graphite => graphite(&name, sample, ts, out),
                Format::Influx => influx(&name, sample, ts, out),
                Format::Json => json(&name, family, sample, ts, out),
            }
        }
    }
}

/// The body of a Circonus HTTPTrap submission: one JSON object whose keys
/// are the circonus names (`` name`value1`… ``, the backtick being the
/// trap's own separator of nested names) and whose values are the numbers,
/// on one line. NaN and ±Inf, which JSON has no number for, are left out.
/// Two samples with one circonus name (labels that differ only in their
/// names) both go in; the trap keeps the later.
pub fn write_httptrap(families: &[Family], naming: &Naming, out: &mut String) {
    out.push('{');
    let mut key = String::new();
    let mut first = true;
    for family in families {
        for sample in family.samples.iter().filter(|s| s.value.is_finite()) {
            if !first {
                out.push(',');
            }
            first = false;
            key.clear();
            circonus_key(&naming.name(&sample.name), sample, &mut key);
            json_string(&key, out);
            out.push(':');
            out.push_str(&number(sample.value));
        }
    }
    out.push_str("}\n");
}

/// A number as Prometheus pages write it: `570277.0`, `NaN`, `+Inf`, `-Inf`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Debug keeps the `.0` of whole numbers, as the seed's lines had.
        format!("{value:?}")
    }
}

/// Copies `text` with the characters that would end a circonus field or
/// line turned into `_`.
fn circonus_field(text: &str, out: &mut String) {
    out.extend(text.chars().map(|c| {
        if matches!(c, '`' | '\n' | '\r') {
            '_'
        } else {
            c
        }
    }));
}

/// The circonus metric name of a sample: `` name`value1`value2… ``.
fn circonus_key(name: &str, sample: &Sample, out: &mut String) {
    // A name from the page can't hold these, but `--prefix` can.
    circonus_field(name, out);
    for (_, value) in &sample.labels {
        out.push('`');
        circonus_field(value, out);
    }
}

fn circonus(name: &str, sample: &Sample, out: &mut String) {
    circonus_key(name, sample, out);
    out.push('`');
    out.push_str(&number(sample.value));
    out.push('\n');
}

fn graphite_safe(text: &str, out: &mut String) {
    out.extend(text.chars().map(|c| {
        if matches!(c, ';' | '~' | ' ') || c.is_control() {
            '_'
        } else {
            c
        }
    }));
}

fn graphite(name: &str, sample: &Sample, ts_ms: i64, out: &mut String) {
    if !sample.value.is_finite() {
        return;
    }
    graphite_safe(name, out);
    for (label, value) in &sample.labels {
        if value.is_empty() {
            continue;
        }
        out.push(';');
        graphite_safe(label, out);
        out.push('=');
        graphite_safe(value, out);
    }
    let _ = writeln!(out, " {} {}", number(sample.value), ts_ms.div_euclid(1000));
}

/// Escapes for line protocol: `specials` and the backslash get a backslash.
fn influx_escape(text: &str, specials: &[char], out: &mut String) {
    for c in text.chars() {
        if c.is_control() {
            out.push('_');
            continue;
        }
        if c == '\\' || specials.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

fn influx(name: &str, sample: &Sample, ts_ms: i64, out: &mut String) {
    if !sample.value.is_finite() {
        return;
    }
    influx_escape(name, &[',', ' '], out);
    for (label, value) in &sample.labels {
        if value.is_empty() {
            continue;
        }
        out.push(',');
        influx_escape(label, &[',', '=', ' '], out);
        out.push('=');
        influx_escape(value, &[',', '=', ' '], out);
    }
    let _ = write!(out, " value={}", number(sample.value));
    // Far-off timestamps that don't fit in nanoseconds go without one.
    if let Some(ns) = ts_ms.checked_mul(1_000_000) {
        let _ = write!(out, " {ns}");
    }
    out.push('\n');
}

fn json_string(text: &str, out: &mut String) {
    // Serializing a &str cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

fn json(name: &str, family: &Family, sample: &Sample, ts_ms: i64, out: &mut String) {
    out.push_str("{\"name\":");
    json_string(name, out);
    out.push_str(",\"type\":");
    json_string(family.kind.as_str(), out);
    out.push_str(",\"labels\":{");
    for (i, (label, value)) in sample.labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(label, out);
        out.push(':');
        json_string(value, out);
    }
    out.push_str("},\"value\":");
    if sample.value.is_finite() {
        out.push_str(&number(sample.value));
    } else {
        json_string(&number(sample.value), out);
    }
    let _ = writeln!(out, ",\"timestamp_ms\":{ts_ms}}}");
}

#[cfg(test)]
mod tests;
