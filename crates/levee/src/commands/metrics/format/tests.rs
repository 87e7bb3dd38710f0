//! Golden tests: a hand-made page with Fluentd's names (tests/data/metrics/
//! fluentd.prom) in each format. `LEVEE_BLESS=1` rewrites the expectations.

use super::*;
use levee_pipeline::metrics::parse::parse;

const PAGE: &str = include_str!("../../../../tests/data/metrics/fluentd.prom");
/// 2025-12-05T02:00:00Z, for samples without a timestamp.
const NOW_MS: i64 = 1_764_900_000_000;

fn golden(format: Format, naming: &Naming, file: &str) {
    let families = parse(PAGE).expect("the fixture parses");
    let mut out = String::new();
    write(&families, format, naming, NOW_MS, &mut out);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/metrics")
        .join(file);
    if std::env::var_os("LEVEE_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(out, expected, "{file} differs");
}

#[test]
fn circonus_golden() {
    golden(Format::Circonus, &Naming::default(), "fluentd.circonus");
}

#[test]
fn graphite_golden_with_prefix_and_strip_prefix() {
    let naming = Naming {
        strip_prefix: Some("fluentd_".to_owned()),
        prefix: "td.".to_owned(),
    };
    golden(Format::Graphite, &naming, "fluentd.graphite");
}

#[test]
fn influx_golden() {
    golden(Format::Influx, &Naming::default(), "fluentd.influx");
}

#[test]
fn json_golden() {
    golden(Format::Json, &Naming::default(), "fluentd.json");
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
