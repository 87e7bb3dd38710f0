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
//! values with quotes, a backslash, a comma and a backtick).

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

#[test]
fn every_page_in_every_format_matches_its_golden_file() {
    let pages = pages();
    assert!(pages.len() >= 5, "{pages:?}");
    let mut failures = Vec::new();
    for stem in &pages {
        let page = std::fs::read_to_string(data_dir().join(format!("{stem}.prom"))).unwrap();
        for (format, ext) in FORMATS {
            let file = format!("{stem}.{ext}");
            golden(&page, format, &Naming::default(), &file, &mut failures);
        }
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
