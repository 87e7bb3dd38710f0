//! Golden tests: every exposition page in tests/data/metrics (`*.prom`) in
//! every format, `<page>.<format>` beside it. `LEVEE_BLESS=1` rewrites the
//! expectations; read the diff before committing it.
//!
//! The pages: `td-agent.prom` as td-agent's Prometheus plugin writes it
//! (TYPE before HELP, families without samples, Fluentd's own names), with a
//! metric filter's counter, histogram and summary; `fluentd.prom`, hand-made
//! edge cases; `openmetrics.prom`, OpenMetrics with `_created`, an exemplar,
//! info, stateset and timestamps in seconds; `levee.prom` and
//! `levee-openmetrics.prom`, a real `levee run`'s page in both formats (a
//! JSON log through counter, histogram and summary metric filters, label
//! values with quotes, a backslash, a comma and a backtick);
//! `levee-fluentd-names.prom`, the same with `[metrics] names = "fluentd"`
//! and two outputs.

use std::path::{Path, PathBuf};

use super::*;
use levee_pipeline::metrics::parse::parse;

const PAGE: &str = include_str!("../../../../tests/data/metrics/fluentd.prom");
/// 2025-12-05T02:00:00Z, for samples without a timestamp.
const NOW_MS: i64 = 1_764_900_000_000;

const FORMATS: [(Format, &str); 4] = [
    (Format::Circonus, "circonus"),
    (Format::Graphite, "graphite"),
    (Format::Influx, "influx"),
    (Format::Json, "json"),
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/metrics")
}

/// The pages, by stem (`td-agent` for `td-agent.prom`), sorted.
fn pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".prom").map(str::to_owned)
        })
        .collect();
    pages.sort();
    pages
}

/// Compares (or with `LEVEE_BLESS` writes) `file`; a difference is pushed
/// to `failures` so one run shows (and blesses) every file.
fn golden(page: &str, format: Format, naming: &Naming, file: &str, failures: &mut Vec<String>) {
    let families = parse(page).unwrap_or_else(|e| panic!("{file}: the page parses: {e}"));
    let mut out = String::new();
    write(&families, format, naming, NOW_MS, &mut out);
    let path = data_dir().join(file);
    if std::env::var_os("LEVEE_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == out => {}
        Ok(expected) => failures.push(format!(
            "{file} differs (LEVEE_BLESS=1 rewrites it):\n--- expected\n{expected}--- got\n{out}"
        )),
        Err(e) => failures.push(format!("{file}: {e} (LEVEE_BLESS=1 writes it)")),
    }
}

/// As [`golden`], for the HTTPTrap body of `page`, which must be one JSON
/// object holding every finite sample.
fn golden_httptrap(page: &str, file: &str, failures: &mut Vec<String>) {
    let families = parse(page).unwrap();
    let mut out = String::new();
    write_httptrap(&families, &Naming::default(), &mut out);
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{file}: {e}\n{out}"));
    let finite = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.value.is_finite())
        .count();
    // Keys are unique on these pages: one per finite sample.
    assert_eq!(object.len(), finite, "{file}");
    assert_eq!(out.lines().count(), 1, "{file}");
    let path = data_dir().join(file);
    if std::env::var_os("LEVEE_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == out => {}
        Ok(expected) => failures.push(format!(
            "{file} differs (LEVEE_BLESS=1 rewrites it):\n--- expected\n{expected}--- got\n{out}"
        )),
        Err(e) => failures.push(format!("{file}: {e} (LEVEE_BLESS=1 writes it)")),
    }
}

#[test]
fn every_page_in_every_format_matches_its_golden_file() {
    let pages = pages();
    assert!(pages.len() >= 6, "{pages:?}");
    let mut failures = Vec::new();
    for stem in &pages {
        let page = std::fs::read_to_string(data_dir().join(format!("{stem}.prom"))).unwrap();
        for (format, ext) in FORMATS {
            let file = format!("{stem}.{ext}");
            golden(&page, format, &Naming::default(), &file, &mut failures);
        }
        golden_httptrap(&page, &format!("{stem}.httptrap"), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn graphite_golden_with_prefix_and_strip_prefix() {
    let naming = Naming {
        strip_prefix: Some("fluentd_".to_owned()),
        prefix: "td.".to_owned(),
    };
    let page = std::fs::read_to_string(data_dir().join("td-agent.prom")).unwrap();
    let mut failures = Vec::new();
    golden(
        &page,
        Format::Graphite,
        &naming,
        "td-agent.td-prefix.graphite",
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_golden_file_is_left_without_its_page() {
    let pages = pages();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.split('.').next().unwrap();
        assert!(pages.iter().any(|p| p == stem), "{name} belongs to no page");
    }
}

#[test]
fn json_lines_are_json() {
    let families = parse(PAGE).unwrap();
    let mut out = String::new();
    write(
        &families,
        Format::Json,
        &Naming::default(),
        NOW_MS,
        &mut out,
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(lines.len(), samples, "one object per sample");
    assert_eq!(lines[0]["labels"]["plugin_id"], "object:3f86dc5b80cc");
    assert_eq!(lines[0]["value"], 570277.0);
}

#[test]
fn circonus_lines_never_break() {
    // Backticks and newlines from a label value can't add fields or lines.
    let families = parse(PAGE).unwrap();
    let mut out = String::new();
    write(
        &families,
        Format::Circonus,
        &Naming::default(),
        NOW_MS,
        &mut out,
    );
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(out.lines().count(), samples);
    for (line, family_sample) in out
        .lines()
        .zip(families.iter().flat_map(|f| f.samples.iter()))
    {
        assert_eq!(
            line.split('`').count(),
            family_sample.labels.len() + 2,
            "{line}"
        );
    }
}

#[test]
fn numbers_are_written_as_the_readme_says() {
    for (value, text) in [
        (570_277.0, "570277.0"),
        (0.042, "0.042"),
        (0.0001, "0.0001"),
        (1e-7, "1e-7"),
        (9_999_999_999_999_998.0, "9999999999999998.0"),
        (1.5e16, "1.5e16"),
        (-0.0, "-0.0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ] {
        assert_eq!(number(value), text);
    }
}

#[test]
fn a_prefix_cannot_break_a_circonus_line() {
    let families = parse("m{a=\"x\"} 1\n").unwrap();
    let naming = Naming {
        strip_prefix: None,
        prefix: "my`team\n".to_owned(),
    };
    let mut out = String::new();
    write(&families, Format::Circonus, &naming, NOW_MS, &mut out);
    assert_eq!(out, "my_team_m`x`1.0\n");
}

/// Splits `line` at `sep` where it is not escaped by a backslash.
fn split_unescaped(line: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            parts.last_mut().unwrap().push(c);
            if let Some(next) = chars.next() {
                parts.last_mut().unwrap().push(next);
            }
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    parts
}

/// Label values made of every character that means something to one of
/// the formats: no line of any format gains a field, a tag or a line.
#[test]
fn hostile_label_values_never_break_a_line_in_any_format() {
    use levee_pipeline::metrics::parse::{Family, MetricType, Sample};

    let alphabet: Vec<char> = "`\n\r\t ,=;~\"\\{}#é\u{0}\u{7f}\u{2028}ab_"
        .chars()
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut samples = Vec::new();
    for i in 0..2_000 {
        let labels = (0..next() % 4)
            .map(|l| {
                let value: String = (0..next() % 6)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                (format!("l{l}"), value)
            })
            .collect();
        samples.push(Sample {
            name: "m".to_owned(),
            labels,
            value: f64::from(i),
            timestamp_ms: None,
        });
    }
    let families = vec![Family {
        name: "m".to_owned(),
        help: None,
        kind: MetricType::Gauge,
        samples: samples.clone(),
    }];
    let naming = Naming::default();
    let lines = |format| {
        let mut out = String::new();
        write(&families, format, &naming, NOW_MS, &mut out);
        assert!(out.ends_with('\n'));
        let lines: Vec<String> = out.lines().map(str::to_owned).collect();
        assert_eq!(
            lines.len(),
            samples.len(),
            "{format:?}: one line per sample"
        );
        lines
    };
    for (line, sample) in lines(Format::Circonus).iter().zip(&samples) {
        assert_eq!(line.split('`').count(), sample.labels.len() + 2, "{line:?}");
    }
    for (line, sample) in lines(Format::Graphite).iter().zip(&samples) {
        let tags = sample.labels.iter().filter(|(_, v)| !v.is_empty()).count();
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line:?}");
        let series: Vec<&str> = fields[0].split(';').collect();
        assert_eq!(series.len(), tags + 1, "{line:?}");
        assert!(series[1..].iter().all(|t| t.contains('=')), "{line:?}");
    }
    for (line, sample) in lines(Format::Influx).iter().zip(&samples) {
        let tags = sample.labels.iter().filter(|(_, v)| !v.is_empty()).count();
        let fields = split_unescaped(line, ' ');
        assert_eq!(fields.len(), 3, "{line:?}");
        assert_eq!(split_unescaped(&fields[0], ',').len(), tags + 1, "{line:?}");
    }
    for (line, sample) in lines(Format::Json).iter().zip(&samples) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels: Vec<(String, String)> = v["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(labels, sample.labels, "{line:?}");
    }
}
