//! `/metrics` read by a parser that is not ours: the `prometheus_client`
//! package's classic (0.0.4) and OpenMetrics parsers, against a real
//! `levee run`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    metrics_addr, python, scrape, start_run, tailing_with_metrics, toml_path, wait_until,
};

/// `GET /metrics` with this `Accept` (none if empty): the content type
/// and the body.
pub(crate) fn get_metrics(addr: &str, accept: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let accept = if accept.is_empty() {
        String::new()
    } else {
        format!("Accept: {accept}\r\n")
    };
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (content_type, body.to_owned())
}

/// What `prometheus_parse.py` read from `page` in `format`.
pub(crate) fn parse(format: &str, page: &str) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/prometheus_parse.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the {format} parser refused the page: {}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The family holding samples named `sample`, and those samples' values by
/// their `source` or `output` label.
fn family_of<'a>(families: &'a [Value], sample: &str) -> &'a Value {
    families
        .iter()
        .find(|f| {
            f["samples"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == sample)
        })
        .unwrap_or_else(|| panic!("no family has a {sample} sample: {families:#?}"))
}

fn value(family: &Value, sample: &str, label: &str, of: &str) -> f64 {
    family["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == sample && s["labels"][label] == of)
        .unwrap_or_else(|| panic!("no {sample}{{{label}={of:?}}} in {family:#?}"))["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The defect: the page was OpenMetrics whatever the scraper asked for, and
/// the classic parser read `levee_source_events` as a counter family
/// without samples (its `_total` samples landing in another, untyped one).
/// Now both parsers read every family typed, with its samples and the
/// values levee counted.
#[test]
fn classic_parser_no_longer_reads_source_events_as_a_family_without_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lines = 25;
    let (_child, addr) = tailing_with_metrics(dir, lines, "buffer = { flush_interval = \"1h\" }");

    let (content_type, classic_page) = get_metrics(&addr, "");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let (content_type, open_page) = get_metrics(
        &addr,
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4",
    );
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );

    for (format, page) in [("classic", &classic_page), ("openmetrics", &open_page)] {
        let families = parse(format, page);
        for family in &families {
            assert!(
                !family["samples"].as_array().unwrap().is_empty(),
                "{format}: a family without samples: {family:#?}\n{page}"
            );
            assert_ne!(family["type"], "unknown", "{format}: {family:#?}\n{page}");
            assert_ne!(family["help"], "", "{format}: {family:#?}\n{page}");
        }
        let events = family_of(&families, "levee_source_events_total");
        assert_eq!(events["type"], "counter", "{format}: {events:#?}");
        assert_eq!(
            value(events, "levee_source_events_total", "source", "app"),
            lines as f64,
            "{format}"
        );
        let bytes = family_of(&families, "levee_source_bytes_total");
        assert_eq!(
            value(bytes, "levee_source_bytes_total", "source", "app"),
            std::fs::metadata(dir.join("app.log")).unwrap().len() as f64,
            "{format}"
        );
        // The hour-long flush interval holds everything in the buffer.
        let buffered = family_of(&families, "levee_buffer_bytes");
        assert_eq!(buffered["type"], "gauge", "{format}");
        assert!(
            value(buffered, "levee_buffer_bytes", "output", "out") > 0.0,
            "{format}: {buffered:#?}"
        );
        let stored = family_of(&families, "levee_output_events_total");
        assert_eq!(
            value(stored, "levee_output_events_total", "output", "out"),
            0.0,
            "{format}"
        );
    }
}

/// The samples named `sample` whose `label` is `of`, summed (over the
/// other labels, such as `kind`), with the labels of the first.
fn sum_of(families: &[Value], sample: &str, label: &str, of: &str) -> (f64, Value) {
    let mut found = families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .filter(|s| s["name"] == sample && s["labels"][label] == of)
        .peekable();
    let labels = found
        .peek()
        .unwrap_or_else(|| panic!("no {sample}{{{label}={of:?}}}"))["labels"]
        .clone();
    let sum = found
        .map(|s| s["value"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    (sum, labels)
}

/// `[metrics] names = "fluentd"`: td-agent's names for the outputs, read
/// by `prometheus_client`'s parsers, typed as fluent-plugin-prometheus
/// types them (gauges), labelled `plugin_id` and `type`, and each equal to
/// levee's own figure on the same page.
#[test]
fn fluentd_names_read_by_prometheus_client_equal_levees_own_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lines = 200;
    let log = dir.join("app.log");
    std::fs::write(
        &log,
        (0..lines)
            .map(|i| format!("line {i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    // `held` keeps everything in its buffer (an hour's flush interval).
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\nnames = \"fluentd\"\n\
         [sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
         [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n\
         [outputs.held]\nmatch = \"app\"\ntype = \"blackhole\"\n\
         buffer = {{ flush_interval = \"1h\", max_bytes = \"4MiB\" }}\n",
        data = toml_path(&dir.join("data")),
        log = toml_path(&log),
        out = toml_path(&dir.join("out.ndjson")),
    );
    let (_running, mut stderr) = start_run(dir, &config);
    let addr = metrics_addr(&mut stderr);
    let stored = format!("levee_output_events_total{{output=\"out\",type=\"file\"}} {lines}\n");
    wait_until(
        Duration::from_secs(60),
        format_args!("{lines} lines not stored"),
        || scrape(&addr).contains(&stored).then_some(()),
    );

    let (_, classic_page) = get_metrics(&addr, "");
    let (_, open_page) = get_metrics(&addr, "application/openmetrics-text");
    for (format, page) in [("classic", &classic_page), ("openmetrics", &open_page)] {
        let families = parse(format, page);
        for family in families
            .iter()
            .filter(|f| f["name"].as_str().unwrap().starts_with("fluentd_"))
        {
            assert_eq!(family["type"], "gauge", "{format}: {family:#?}");
            assert_eq!(
                family["samples"].as_array().unwrap().len(),
                2,
                "{family:#?}"
            );
        }
        for (output, kind) in [("out", "file"), ("held", "blackhole")] {
            let levee = |name: &str| sum_of(&families, name, "output", output).0;
            let fluentd = |name: &str| {
                let (value, labels) = sum_of(
                    &families,
                    &format!("fluentd_output_status_{name}"),
                    "plugin_id",
                    output,
                );
                assert_eq!(labels["type"], kind, "{format}: {name} {labels}");
                value
            };
            let bytes = levee("levee_buffer_bytes");
            let limit = levee("levee_buffer_limit_bytes");
            for (theirs, ours) in [
                ("emit_records", levee("levee_route_events_total")),
                ("emit_count", levee("levee_output_batches_total")),
                ("retry_count", levee("levee_output_retries_total")),
                ("num_errors", levee("levee_output_errors_total")),
                ("buffer_queue_length", levee("levee_buffer_queue_length")),
                ("buffer_total_bytes", bytes),
                (
                    "buffer_available_space_ratio",
                    100.0 * (1.0 - bytes / limit),
                ),
            ] {
                assert_eq!(fluentd(theirs), ours, "{format}: {output} {theirs}\n{page}");
            }
            // What entered the output, stored or still in its buffer.
            assert_eq!(fluentd("emit_records"), lines as f64);
            match output {
                "out" => assert_eq!(levee("levee_output_events_total"), lines as f64),
                _ => {
                    assert_eq!(levee("levee_output_events_total"), 0.0);
                    assert!(bytes > 0.0 && fluentd("buffer_queue_length") == 1.0);
                    assert!(fluentd("buffer_available_space_ratio") < 100.0);
                }
            }
        }
    }
}
