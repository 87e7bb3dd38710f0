use super::*;

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn error_at(page: &str) -> (usize, ParseErrorKind) {
    let e = parse(page).expect_err("a malformed page");
    (e.line, e.kind)
}

#[test]
fn classic_page_with_help_type_and_fluentd_names() {
    let page = "# HELP fluentd_output_status_emit_count Current emit counts\n\
                # TYPE fluentd_output_status_emit_count gauge\n\
                fluentd_output_status_emit_count{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 570277.0\n\
                \n\
                # a free comment\n\
                up 1 1700000000123\n";
    let families = parse(page).unwrap();
    assert_eq!(families.len(), 2);
    let f = &families[0];
    assert_eq!(f.name, "fluentd_output_status_emit_count");
    assert_eq!(f.help.as_deref(), Some("Current emit counts"));
    assert_eq!(f.kind, MetricType::Gauge);
    assert_eq!(
        f.samples[0].labels,
        labels(&[("plugin_id", "object:3f86dc5b80cc"), ("type", "amazon_sns")])
    );
    assert_eq!(f.samples[0].value, 570277.0);
    assert_eq!(families[1].kind, MetricType::Untyped);
    assert_eq!(families[1].samples[0].timestamp_ms, Some(1_700_000_000_123));
}

#[test]
fn label_values_keep_commas_quotes_and_escapes() {
    let page =
        "m{a=\"x,y\",b=\"say \\\"hi\\\"\",c=\"back\\\\slash\",d=\"two\\nlines\",e=\"\",} 1\n";
    let s = &parse(page).unwrap()[0].samples[0];
    assert_eq!(
        s.labels,
        labels(&[
            ("a", "x,y"),
            ("b", "say \"hi\""),
            ("c", "back\\slash"),
            ("d", "two\nlines"),
            ("e", ""),
        ])
    );
}

#[test]
fn special_values() {
    let page = "a NaN\nb +Inf\nc -Inf\nd 1.5e3\ne -0\n";
    let v: Vec<f64> = parse(page)
        .unwrap()
        .iter()
        .map(|f| f.samples[0].value)
        .collect();
    assert!(v[0].is_nan());
    assert_eq!(&v[1..], &[f64::INFINITY, f64::NEG_INFINITY, 1500.0, 0.0]);
}

#[test]
fn histogram_and_summary_samples_join_their_family() {
    let page = "# TYPE lat histogram\n\
                lat_bucket{le=\"0.1\"} 3\n\
                lat_bucket{le=\"+Inf\"} 5\n\
                lat_sum 0.7\n\
                lat_count 5\n\
                # TYPE rpc summary\n\
                rpc{quantile=\"0.5\"} 0.2\n\
                rpc_sum 9\n\
                rpc_count 40\n";
    let families = parse(page).unwrap();
    assert_eq!(families.len(), 2);
    assert_eq!(families[0].samples.len(), 4);
    assert_eq!(families[0].samples[1].labels, labels(&[("le", "+Inf")]));
    assert_eq!(families[1].kind, MetricType::Summary);
    assert_eq!(families[1].samples.len(), 3);
}

#[test]
fn open_metrics_page_with_counter_total_exemplar_and_seconds() {
    let page = "# TYPE levee_source_events counter\n\
                # HELP levee_source_events Events read.\n\
                levee_source_events_total{source=\"app\"} 12 1700000000.5\n\
                levee_source_events_total{source=\"b\"} 3 # {trace_id=\"x\"} 1.0\n\
                # EOF\n";
    let families = parse(page).unwrap();
    assert_eq!(families.len(), 1);
    assert_eq!(families[0].kind, MetricType::Counter);
    assert_eq!(families[0].samples[0].timestamp_ms, Some(1_700_000_000_500));
    assert_eq!(families[0].samples[1].value, 3.0);
}

#[test]
fn crlf_and_missing_final_newline_are_read() {
    let families = parse("# TYPE a gauge\r\na 1\r\nb 2").unwrap();
    assert_eq!(families.len(), 2);
}

#[test]
fn errors_name_the_line() {
    assert_eq!(error_at("a 1\nb{x=\"1\" 2\n").0, 2, "an unclosed label set");
    assert_eq!(
        error_at("a 1\n\nb{x=\"\\t\"} 2\n"),
        (3, ParseErrorKind::InvalidEscape('t'))
    );
}

#[test]
fn hostile_pages_are_errors() {
    let cases: &[(&str, &str)] = &[
        ("value missing", "a\n"),
        ("value not a number", "a one\n"),
        ("rust-only float word", "a infinity\n"),
        ("hex value", "a 0x10\n"),
        ("fractional classic timestamp", "a 1 1.5\n"),
        ("text after timestamp", "a 1 2 3\n"),
        ("name starts with a digit", "1a 1\n"),
        ("bad character in name", "a-b 1\n"),
        ("label without quotes", "a{x=1} 1\n"),
        ("label without =", "a{x} 1\n"),
        ("labels without comma", "a{x=\"1\" y=\"2\"} 1\n"),
        ("duplicate label", "a{x=\"1\",x=\"2\"} 1\n"),
        ("label value cut", "a{x=\"1\n"),
        ("backslash at the end", "a{x=\"1\\"),
        ("unknown type", "# TYPE a meter\n"),
        ("type without name", "# TYPE\n"),
        ("two types", "# TYPE a gauge\n# TYPE a counter\n"),
        ("type after samples", "a 1\n# TYPE a gauge\n"),
        ("family split", "a 1\nb 1\na 2\n"),
        ("bucket without le", "# TYPE h histogram\nh_bucket 1\n"),
        ("text after EOF", "a 1\n# EOF\nb 1\n# EOF\n"),
        ("value glued to labels", "a{x=\"1\"}1\n"),
        ("exemplar in classic", "a 1 # {x=\"1\"} 1\n"),
        ("lone brace", "{\n"),
        ("nul byte", "a\0 1\n"),
    ];
    for (why, page) in cases {
        assert!(parse(page).is_err(), "{why}: {page:?} parsed");
    }
}

#[test]
fn a_malformed_page_yields_no_samples() {
    // The error is the whole answer: no half page to export.
    let result = parse("good 1\ngood_too 2\nbad{ 3\n");
    assert!(matches!(result, Err(ParseError { line: 3, .. })));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep beside the fuzz target.
    let alphabet = [
        "a", "{", "}", "\"", "\\", "=", ",", " ", "\n", "#", "1", ".", "e", "+", "I", "N", "é",
        "_bucket", "le", "TYPE", "EOF",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut page = String::new();
        for _ in 0..(state % 24) {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            page.push_str(alphabet[(state >> 33) as usize % alphabet.len()]);
        }
        let _ = parse(&page);
        state = state.wrapping_add(1);
    }
}
