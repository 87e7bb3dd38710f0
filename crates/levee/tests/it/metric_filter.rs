//! The metric filter on the live page: a real `levee run` meters a log,
//! `prometheus_client`'s parsers read `/metrics`, and every value is
//! compared with one made here from the same file, not by levee.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::metrics_endpoint::{get_metrics, parse};
use crate::support::{levee, ok, run_with_metrics, scrape, toml_path, wait_until};

/// The config: `log` tailed with `parser`, the `[[filters]]` in `filters`,
/// then a `metered_events` counter that sees every event after them, into
/// a blackhole.
fn config(dir: &Path, log: &Path, parser: &str, filters: &str) -> String {
    format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"email.events\"\nparser = {parser}\n\
         {filters}\n\
         [[filters]]\nmatch = \"email.**\"\ntype = \"metric\"\nname = \"metered_events\"\n\
         [outputs.out]\nmatch = \"email.**\"\ntype = \"blackhole\"\n",
        data = toml_path(&dir.join("data")),
        log = toml_path(log),
    )
}

/// Waits until the filter after the metric filters has seen `lines` events:
/// they have seen them all too.
fn wait_for_all(addr: &str, lines: usize) {
    let done = format!("\nmetered_events_total {lines}\n");
    wait_until(
        Duration::from_secs(60),
        format_args!("{lines} events not metered"),
        || scrape(addr).contains(&done).then_some(()),
    );
}

/// Both formats of the page, each read by `prometheus_client`.
fn both_pages(addr: &str) -> [(&'static str, Vec<Value>); 2] {
    let (_, classic) = get_metrics(addr, "");
    let (_, open) = get_metrics(addr, "application/openmetrics-text; version=1.0.0");
    [
        ("classic", parse("classic", &classic)),
        ("openmetrics", parse("openmetrics", &open)),
    ]
}

/// The samples named `sample`: their labels and values.
fn samples<'a>(
    families: &'a [Value],
    sample: &'a str,
) -> impl Iterator<Item = (&'a serde_json::Map<String, Value>, u64)> + 'a {
    families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .filter(move |s| s["name"] == sample)
        .map(|s| {
            let value: f64 = s["value"].as_str().unwrap().parse().unwrap();
            assert_eq!(value.fract(), 0.0, "{s}");
            (s["labels"].as_object().unwrap(), value as u64)
        })
}

/// A generated day of email events metered by `type` and the nested
/// `geo_ip.country`: every `outgoing_msg_total` on the page, in both
/// formats, equals the count of the file's own lines, read here with
/// serde_json.
#[test]
fn every_outgoing_msg_value_equals_an_independent_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("events.log");
    let lines = 20_000;
    ok(levee()
        .args(["generate", "events", "--seed", "16", "--days", "1"])
        .args(["--lines", &lines.to_string(), "--output"])
        .arg(&log));

    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), lines);
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let text_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let key = (
            text_of(&record["type"]),
            text_of(&record["geo_ip"]["country"]),
        );
        *expected.entry(key).or_default() += 1;
    }
    // An uneven spread over several types and countries, with and
    // without the nested field, or the test would prove little.
    assert!(expected.len() >= 10, "{expected:?}");
    assert!(expected.keys().any(|(_, country)| country.is_empty()));

    let filters = r#"
[[filters]]
match = "email.**"
type = "metric"
name = "outgoing_msg"
help = "Email events by type and country"
labels = { type = "$.type", country = "$.geo_ip.country", tag = "${tag}", env = "prd" }
"#;
    let (_levee, addr) = run_with_metrics(dir, &config(dir, &log, "\"json\"", filters));
    wait_for_all(&addr, lines);

    for (format, families) in both_pages(&addr) {
        let family = families
            .iter()
            .find(|f| f["name"] == "outgoing_msg")
            .unwrap_or_else(|| panic!("{format}: no outgoing_msg family"));
        assert_eq!(family["type"], "counter", "{format}");
        assert_eq!(
            family["help"], "Email events by type and country",
            "{format}"
        );
        let mut counted: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (labels, value) in samples(&families, "outgoing_msg_total") {
            assert_eq!(labels["tag"], "email.events", "{format}");
            assert_eq!(labels["env"], "prd", "{format}");
            let key = (
                labels["type"].as_str().unwrap().to_owned(),
                labels["country"].as_str().unwrap().to_owned(),
            );
            assert!(counted.insert(key, value).is_none(), "{format}: twice");
        }
        assert_eq!(counted, expected, "{format}");
    }
}

/// Label values from a log (quotes, backslashes, newlines, invalid UTF-8
/// bytes, text that looks like a sample) reach the live page escaped: both
/// parsers read the page, and every value back as the record held it, with
/// its count.
#[test]
fn hostile_label_values_from_the_log_keep_the_page_parseable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("hostile.log");
    // logfmt's quoted values take backslash escapes; bytes that are not
    // UTF-8 become U+FFFD in the record.
    let cases: [(&[u8], &str); 8] = [
        (br#"v="say \"hi\"""#, "say \"hi\""),
        (br#"v="back\\slash\\""#, "back\\slash\\"),
        (br#"v="two\nlines\r\n""#, "two\nlines\r\n"),
        (b"v=a\xff\xfeb", "a\u{fffd}\u{fffd}b"),
        (b"v=\"in \xc3 quotes\"", "in \u{fffd} quotes"),
        (br#"v="} 1\nfake_total 9""#, "} 1\nfake_total 9"),
        (br#"v="a,b=\"c\",d""#, "a,b=\"c\",d"),
        (
            "v=\"caf\u{e9} \u{1f600}\"".as_bytes(),
            "caf\u{e9} \u{1f600}",
        ),
    ];
    let mut text = Vec::new();
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    // Case i comes i + 1 times, so a value read under another's name
    // shows in its count.
    for (i, (line, value)) in cases.iter().enumerate() {
        for _ in 0..=i {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        expected.insert(value, i as u64 + 1);
    }
    std::fs::write(&log, &text).unwrap();
    let lines = expected.values().sum::<u64>() as usize;

    let filters = r#"
[[filters]]
match = "email.**"
type = "metric"
name = "hostile"
labels = { v = "$.v" }
"#;
    let (_levee, addr) = run_with_metrics(dir, &config(dir, &log, "\"logfmt\"", filters));
    wait_for_all(&addr, lines);

    for (format, families) in both_pages(&addr) {
        let read: BTreeMap<&str, u64> = samples(&families, "hostile_total")
            .map(|(labels, value)| (labels["v"].as_str().unwrap(), value))
            .collect();
        assert_eq!(read, expected, "{format}");
        assert!(
            families.iter().all(|f| f["name"] != "fake"),
            "{format}: a label value became a sample"
        );
    }
}

/// What one `type` of event held, counted here from the log.
#[derive(Debug, Default, PartialEq)]
struct Observed {
    count: u64,
    sum: f64,
    /// Cumulative, by upper bound, as the page shows them.
    buckets: BTreeMap<String, u64>,
}

/// A histogram, a summary and a gauge over fields of generated email
/// events, on the live page read by `prometheus_client`: every bucket,
/// count and sum, the gauge's last value and the skipped events equal what
/// the test computes from the same file.
#[test]
fn histogram_summary_and_gauge_values_equal_an_independent_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("events.log");
    let lines = 5_000;
    ok(levee()
        .args(["generate", "events", "--seed", "18", "--days", "1"])
        .args(["--lines", &lines.to_string(), "--output"])
        .arg(&log));
    let bounds = [500.0, 1000.0, 2000.0, 5000.0, f64::INFINITY];
    let le = |b: f64| {
        if b.is_finite() {
            format!("{b:?}")
        } else {
            "+Inf".into()
        }
    };

    let mut queue: BTreeMap<String, Observed> = BTreeMap::new();
    let mut size: BTreeMap<String, Observed> = BTreeMap::new();
    let (mut no_queue_time, mut last_size) = (0, None);
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let kind = record["type"].as_str().unwrap().to_owned();
        match record["queue_time"].as_f64() {
            Some(t) => {
                let o = queue.entry(kind.clone()).or_default();
                o.count += 1;
                o.sum += t;
                for b in bounds {
                    *o.buckets.entry(le(b)).or_default() += u64::from(t <= b);
                }
            }
            None => no_queue_time += 1,
        }
        if let Some(s) = record["msg_size"].as_f64() {
            let o = size.entry(kind).or_default();
            o.count += 1;
            o.sum += s;
            last_size = Some(s);
        }
    }
    assert!(queue.len() >= 2 && size.len() >= 2 && no_queue_time > 0);

    let filters = r#"
[[filters]]
match = "email.**"
type = "metric"
name = "queue_time_ms"
kind = "histogram"
field = "queue_time"
buckets = [500, 1000, 2000, 5000]
labels = { type = "$.type" }

[[filters]]
match = "email.**"
type = "metric"
name = "msg_size_bytes"
kind = "summary"
field = "msg_size"
labels = { type = "$.type" }

[[filters]]
match = "email.**"
type = "metric"
name = "last_msg_size_bytes"
kind = "gauge"
field = "msg_size"
"#;
    let (_levee, addr) = run_with_metrics(dir, &config(dir, &log, "\"json\"", filters));
    wait_for_all(&addr, lines);

    for (format, families) in both_pages(&addr) {
        let kind_of = |name: &str| {
            let family = families.iter().find(|f| f["name"] == name);
            family.map(|f| f["type"].as_str().unwrap().to_owned())
        };
        assert_eq!(kind_of("queue_time_ms").as_deref(), Some("histogram"));
        assert_eq!(kind_of("msg_size_bytes").as_deref(), Some("summary"));
        assert_eq!(kind_of("last_msg_size_bytes").as_deref(), Some("gauge"));

        let mut read_queue: BTreeMap<String, Observed> = BTreeMap::new();
        let mut read_size: BTreeMap<String, Observed> = BTreeMap::new();
        // The gauge and the three filters' two reasons each.
        let mut checked = 0;
        for f in &families {
            for s in f["samples"].as_array().unwrap() {
                let name = s["name"].as_str().unwrap();
                let value: f64 = s["value"].as_str().unwrap().parse().unwrap();
                let labels = s["labels"].as_object().unwrap();
                let kind = || labels["type"].as_str().unwrap().to_owned();
                match name {
                    "queue_time_ms_count" => {
                        read_queue.entry(kind()).or_default().count = value as u64
                    }
                    "queue_time_ms_sum" => read_queue.entry(kind()).or_default().sum = value,
                    "queue_time_ms_bucket" => {
                        let bound: f64 = labels["le"].as_str().unwrap().parse().unwrap();
                        read_queue
                            .entry(kind())
                            .or_default()
                            .buckets
                            .insert(le(bound), value as u64);
                    }
                    "msg_size_bytes_count" => {
                        read_size.entry(kind()).or_default().count = value as u64
                    }
                    "msg_size_bytes_sum" => read_size.entry(kind()).or_default().sum = value,
                    "last_msg_size_bytes" => {
                        assert_eq!(Some(value), last_size, "{format}");
                        checked += 1;
                    }
                    "levee_metric_skipped_events_total" => {
                        let want = match (labels["metric"].as_str(), labels["reason"].as_str()) {
                            (Some("queue_time_ms"), Some("missing")) => no_queue_time,
                            (Some("msg_size_bytes" | "last_msg_size_bytes"), Some("missing")) => {
                                lines as u64 - size.values().map(|o| o.count).sum::<u64>()
                            }
                            _ => 0,
                        };
                        assert_eq!(value as u64, want, "{format}: {s}");
                        checked += 1;
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(checked, 7, "{format}");
        assert_eq!(read_queue, queue, "{format}");
        assert_eq!(read_size, size, "{format}");
    }
}
