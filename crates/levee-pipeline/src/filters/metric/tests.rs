use std::collections::HashMap;

use levee_event::{Record, Tag, Value};

use super::*;
use crate::filters::{Filter, FilterConfig, Verdict};
use crate::metrics::Metrics;

#[derive(Debug, serde::Deserialize)]
struct File {
    filters: Vec<FilterConfig>,
}

fn filter(toml_text: &str) -> Result<Filter, FilterError> {
    let file: File = toml::from_str(toml_text).unwrap();
    file.filters[0].build()
}

fn event(fields: Record) -> Event {
    Event::new(Tag::new("firehose_parsed.api"), 0, fields)
}

fn record(fields: &[(&str, Value)]) -> Record {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

const OUTGOING: &str = r#"
    [[filters]]
    match = "firehose_parsed.**"
    type = "metric"
    name = "outgoing_msg"
    kind = "counter"
    help = "API calls by type"
    labels = { type = "$.type", country = "$.geo_ip.country", env = "prd", tag = "${tag}" }
"#;

#[test]
fn counts_by_label_set_and_events_pass_unchanged() {
    let metrics = Metrics::new();
    let mut f = filter(OUTGOING).unwrap();
    assert_eq!(f.kind(), "metric");
    f.count_into(&metrics, "1_metric");
    let geo = Value::Map(Box::new(record(&[("country", "NL".into())])));
    for _ in 0..3 {
        let mut e = event(record(&[("type", "get".into()), ("geo_ip", geo.clone())]));
        let before = e.clone();
        assert_eq!(f.apply(&mut e), Verdict::Keep);
        assert_eq!(e, before);
    }
    let mut e = event(record(&[("type", "send".into())]));
    f.apply(&mut e);
    let text = metrics.encode();
    assert!(
        text.contains("# HELP outgoing_msg API calls by type"),
        "{text}"
    );
    assert!(text.contains("# TYPE outgoing_msg counter"), "{text}");
    assert!(
        text.contains(
            "outgoing_msg_total{country=\"NL\",env=\"prd\",tag=\"firehose_parsed.api\",type=\"get\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "outgoing_msg_total{country=\"\",env=\"prd\",tag=\"firehose_parsed.api\",type=\"send\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn two_filters_observe_the_same_events() {
    let metrics = Metrics::new();
    let mut a = filter(OUTGOING).unwrap();
    let mut b = filter(
        r#"
        [[filters]]
        match = "**"
        type = "metric"
        name = "all_events"
        "#,
    )
    .unwrap();
    a.count_into(&metrics, "1_metric");
    b.count_into(&metrics, "2_metric");
    for _ in 0..5 {
        let mut e = event(record(&[("type", "get".into())]));
        a.apply(&mut e);
        b.apply(&mut e);
    }
    let text = metrics.encode();
    assert!(text.contains("all_events_total 5"), "{text}");
    assert!(text.contains("type=\"get\"} 5"), "{text}");
}

#[test]
fn label_sets_past_the_limit_fold_into_overflow() {
    let metrics = Metrics::new();
    let mut f = filter(
        r#"
        [[filters]]
        match = "**"
        type = "metric"
        name = "by_user"
        labels = { user = "$.user", env = "prd" }
        max_label_sets = 3
        "#,
    )
    .unwrap();
    f.count_into(&metrics, "1_metric");
    for i in 0..10 {
        f.apply(&mut event(record(&[("user", format!("u{i}").into())])));
    }
    // A set seen before the limit still counts as itself.
    f.apply(&mut event(record(&[("user", "u0".into())])));
    let text = metrics.encode();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("by_user_total{"))
        .collect();
    assert_eq!(series.len(), 4, "{text}");
    assert!(
        text.contains("by_user_total{env=\"prd\",user=\"u0\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("by_user_total{env=\"__overflow__\",user=\"__overflow__\"} 7"),
        "{text}"
    );
    assert!(
        text.contains("levee_metric_folded_events_total{metric=\"by_user\"} 7"),
        "{text}"
    );
}

/// Label values from records can hold anything; the page must stay
/// parseable and each value come back as it was.
#[test]
fn hostile_label_values_are_escaped() {
    let metrics = Metrics::new();
    let mut f = filter(
        r#"
        [[filters]]
        match = "**"
        type = "metric"
        name = "hostile"
        labels = { v = "$.v" }
        "#,
    )
    .unwrap();
    f.count_into(&metrics, "1_metric");
    // Invalid UTF-8 reaches a record as replacement characters.
    let invalid = String::from_utf8_lossy(b"a\xff\xfeb").into_owned();
    let values = [
        "say \"hi\"",
        "back\\slash",
        "two\nlines",
        "3:len:like:a:key",
        "} 1\nfake_total 9",
        invalid.as_str(),
    ];
    for v in values {
        f.apply(&mut event(record(&[("v", v.into())])));
    }
    let text = metrics.encode();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("hostile")).collect();
    assert_eq!(lines.len(), values.len(), "{text}");
    assert!(!text.contains("\nfake_total"), "{text}");
    assert!(
        text.contains(r#"hostile_total{v="say \"hi\""} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hostile_total{v="back\\slash"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hostile_total{v="two\nlines"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("hostile_total{v=\"a\u{fffd}\u{fffd}b\"} 1"),
        "{text}"
    );

    // A real parser reads every value back exactly.
    let families = crate::metrics::parse::parse(&text).unwrap();
    let hostile = families.iter().find(|f| f.name == "hostile").unwrap();
    let mut read: Vec<&str> = hostile
        .samples
        .iter()
        .map(|s| s.labels[0].1.as_str())
        .collect();
    let mut written = values.to_vec();
    read.sort_unstable();
    written.sort_unstable();
    assert_eq!(read, written);
}

/// Every count equals one made independently over the same data.
#[test]
fn counts_are_exact() {
    let metrics = Metrics::new();
    let mut f = filter(OUTGOING).unwrap();
    f.count_into(&metrics, "1_metric");
    let types = ["get_sending-domains", "post_send", "get_events", "delete_x"];
    let mut expected: HashMap<&str, u64> = HashMap::new();
    // A fixed pseudo-random sequence (xorshift), so counts are uneven.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let t = types[(state % types.len() as u64) as usize];
        *expected.entry(t).or_default() += 1;
        f.apply(&mut event(record(&[("type", t.into())])));
    }
    let text = metrics.encode();
    let mut seen = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("outgoing_msg_total{"))
    {
        let (labels, value) = line.rsplit_once(' ').unwrap();
        let t = labels
            .split("type=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches("\"}");
        assert_eq!(value.parse::<u64>().unwrap(), expected[t], "{line}");
        seen += 1;
    }
    assert_eq!(seen, expected.len(), "{text}");
}

#[test]
fn bad_configs_name_the_key() {
    let cases = [
        ("name = \"9lives\"", "name"),
        ("name = \"levee_x\"", "name"),
        ("name = \"ok\"\nlabels = { \"bad-name\" = \"x\" }", "labels"),
        ("name = \"ok\"\nlabels = { __x = \"x\" }", "labels"),
        ("name = \"ok\"\nlabels = { t = \"${nope\" }", "labels.t"),
        ("name = \"ok\"\nmax_label_sets = 0", "max_label_sets"),
        ("name = \"ok\"\nhelp = \"two\\nlines\"", "help"),
    ];
    for (body, key) in cases {
        let text = format!("[[filters]]\nmatch = \"**\"\ntype = \"metric\"\n{body}\n");
        let err = filter(&text).unwrap_err();
        assert_eq!(err.key(), Some(key), "{body}: {err}");
    }
    let unknown =
        "[[filters]]\nmatch = \"**\"\ntype = \"metric\"\nname = \"x\"\nkind = \"timer\"\n";
    assert!(toml::from_str::<File>(unknown).is_err());
}

#[test]
fn keys_split_back_into_values() {
    let values = split_key("3:a:b0:5:x\ny:z");
    let values: Vec<&str> = values.iter().map(|v| &**v).collect();
    assert_eq!(values, ["a:b", "", "x\ny:z"]);
}

/// A filter of `body` (after `match` and `type`), counting into `metrics`.
fn measuring(metrics: &Metrics, body: &str) -> Filter {
    let text = format!("[[filters]]\nmatch = \"**\"\ntype = \"metric\"\n{body}\n");
    let mut f = filter(&text).unwrap();
    f.count_into(metrics, "1_metric");
    f
}

/// The page's samples named `name` with these labels, as the text parser
/// reads them, by their `le` label (or "" without one).
fn read_samples(text: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let families = crate::metrics::parse::parse(text).unwrap();
    families
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter(|s| s.name == name)
        .map(|s| (s.labels.clone(), s.value))
        .collect()
}

#[test]
fn gauge_shows_the_last_value_by_label_set() {
    let metrics = Metrics::new();
    let f = measuring(
        &metrics,
        "name = \"queue_time\"\nkind = \"gauge\"\nfield = \"timing.queue\"\nlabels = { pool = \"$.pool\" }",
    );
    let timing = |v: Value| Value::Map(Box::new(record(&[("queue", v)])));
    for (pool, v) in [("a", 3.into()), ("b", 7.5.into()), ("a", (-2).into())] {
        f.apply(&mut event(record(&[
            ("pool", pool.into()),
            ("timing", timing(v)),
        ])));
    }
    let text = metrics.encode();
    assert!(text.contains("# TYPE queue_time gauge"), "{text}");
    assert!(text.contains("queue_time{pool=\"a\"} -2"), "{text}");
    assert!(text.contains("queue_time{pool=\"b\"} 7.5"), "{text}");
    let classic = metrics.encode_classic();
    assert!(classic.contains("# TYPE queue_time gauge"), "{classic}");
}

#[test]
fn histogram_counts_values_into_cumulative_buckets() {
    let metrics = Metrics::new();
    let f = measuring(
        &metrics,
        "name = \"request_time_seconds\"\nkind = \"histogram\"\nfield = \"request_time\"\n\
         buckets = [0.1, 1, 5]\nlabels = { method = \"$.method\" }",
    );
    // A bound is inclusive (`le`): 0.1 is in the first bucket, 5.0 in the last.
    let values: [Value; 6] = [
        0.05.into(),
        0.1.into(),
        "0.5".into(),
        1.into(),
        5.0.into(),
        99.into(),
    ];
    for v in values {
        f.apply(&mut event(record(&[
            ("method", "get".into()),
            ("request_time", v),
        ])));
    }
    let text = metrics.encode();
    assert!(
        text.contains("# TYPE request_time_seconds histogram"),
        "{text}"
    );
    let buckets: Vec<(String, f64)> = read_samples(&text, "request_time_seconds_bucket")
        .into_iter()
        .map(|(labels, v)| {
            let le = labels.iter().find(|(n, _)| n == "le").unwrap().1.clone();
            assert!(
                labels.contains(&("method".into(), "get".into())),
                "{labels:?}"
            );
            (le, v)
        })
        .collect();
    let les: Vec<f64> = buckets.iter().map(|(le, _)| le.parse().unwrap()).collect();
    assert_eq!(les, [0.1, 1.0, 5.0, f64::INFINITY], "{text}");
    let counts: Vec<f64> = buckets.iter().map(|(_, v)| *v).collect();
    assert_eq!(counts, [2.0, 4.0, 5.0, 6.0], "{text}");
    assert_eq!(read_samples(&text, "request_time_seconds_count")[0].1, 6.0);
    let sum = read_samples(&text, "request_time_seconds_sum")[0].1;
    assert!((sum - 105.65).abs() < 1e-9, "{sum}");
}

#[test]
fn histogram_without_buckets_has_prometheus_defaults() {
    let metrics = Metrics::new();
    let f = measuring(
        &metrics,
        "name = \"rt\"\nkind = \"histogram\"\nfield = \"request_time\"",
    );
    f.apply(&mut event(record(&[("request_time", 0.3.into())])));
    let text = metrics.encode();
    let les: Vec<f64> = read_samples(&text, "rt_bucket")
        .iter()
        .map(|(labels, _)| labels[0].1.parse().unwrap())
        .collect();
    let mut want = DEFAULT_BUCKETS.to_vec();
    want.push(f64::INFINITY);
    assert_eq!(les, want, "{text}");
}

/// The registry crate has no summary: ours writes `_sum` and `_count`, in
/// both formats, and both read back.
#[test]
fn summary_shows_sum_and_count_without_quantiles() {
    let metrics = Metrics::new();
    let f = measuring(
        &metrics,
        "name = \"msg_size_bytes\"\nkind = \"summary\"\nfield = \"msg_size\"\nhelp = \"Sizes\"\n\
         labels = { v = \"$.v\" }",
    );
    for (v, size) in [("a \"q\"\n\\", 100), ("a \"q\"\n\\", 250), ("b", 7)] {
        f.apply(&mut event(record(&[
            ("v", v.into()),
            ("msg_size", size.into()),
        ])));
    }
    let text = metrics.encode();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for page in [text.clone(), metrics.encode_classic()] {
        assert!(page.contains("# HELP msg_size_bytes Sizes\n"), "{page}");
        assert!(page.contains("# TYPE msg_size_bytes summary\n"), "{page}");
        assert!(!page.contains("quantile"), "{page}");
        let families = crate::metrics::parse::parse(&page).unwrap();
        let family = families
            .iter()
            .find(|f| f.name == "msg_size_bytes")
            .unwrap();
        let mut samples: Vec<(String, String, f64)> = family
            .samples
            .iter()
            .map(|s| (s.name.clone(), s.labels[0].1.clone(), s.value))
            .collect();
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            samples,
            [
                ("msg_size_bytes_count".into(), "a \"q\"\n\\".into(), 2.0),
                ("msg_size_bytes_count".into(), "b".into(), 1.0),
                ("msg_size_bytes_sum".into(), "a \"q\"\n\\".into(), 350.0),
                ("msg_size_bytes_sum".into(), "b".into(), 7.0),
            ],
            "{page}"
        );
    }
}

/// An event whose field is missing, null or not a number is not observed,
/// and says why in `levee_metric_skipped_events_total`.
#[test]
fn events_without_a_number_are_skipped_and_counted() {
    let metrics = Metrics::new();
    let f = measuring(
        &metrics,
        "name = \"rt\"\nkind = \"summary\"\nfield = \"request_time\"",
    );
    let values: [Option<Value>; 9] = [
        None,
        Some(Value::Null),
        Some("fast".into()),
        Some(true.into()),
        Some("NaN".into()),
        Some(f64::INFINITY.into()),
        Some(Value::Map(Box::new(record(&[("a", 1.into())])))),
        Some(" 0.25 ".into()),
        Some(2.into()),
    ];
    for v in values {
        let fields = match v {
            Some(v) => record(&[("request_time", v)]),
            None => record(&[("other", 1.into())]),
        };
        f.apply(&mut event(fields));
    }
    let text = metrics.encode();
    assert!(text.contains("rt_count 2\n"), "{text}");
    assert!(text.contains("rt_sum 2.25\n"), "{text}");
    assert!(
        text.contains("levee_metric_skipped_events_total{metric=\"rt\",reason=\"missing\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("levee_metric_skipped_events_total{metric=\"rt\",reason=\"not_a_number\"} 5"),
        "{text}"
    );
}

#[test]
fn histogram_label_sets_past_the_limit_fold_into_overflow() {
    let metrics = Metrics::new();
    let f = measuring(
        &metrics,
        "name = \"rt\"\nkind = \"histogram\"\nfield = \"t\"\nbuckets = [1]\n\
         labels = { user = \"$.user\" }\nmax_label_sets = 1",
    );
    for (user, t) in [("a", 0.5), ("b", 2.0), ("c", 0.5)] {
        f.apply(&mut event(record(&[
            ("user", user.into()),
            ("t", t.into()),
        ])));
    }
    let text = metrics.encode();
    assert!(text.contains("rt_count{user=\"a\"} 1"), "{text}");
    assert!(text.contains("rt_count{user=\"__overflow__\"} 2"), "{text}");
    assert!(
        text.contains("rt_bucket{le=\"1.0\",user=\"__overflow__\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("levee_metric_folded_events_total{metric=\"rt\"} 2"),
        "{text}"
    );
}

/// Filters of one name share the metric: equal label sets add up.
#[test]
fn histograms_of_one_name_add_up() {
    let metrics = Metrics::new();
    let body = "name = \"rt\"\nkind = \"histogram\"\nfield = \"t\"\nbuckets = [1]";
    let a = measuring(&metrics, body);
    let b = measuring(&metrics, body);
    a.apply(&mut event(record(&[("t", 0.5.into())])));
    b.apply(&mut event(record(&[("t", 3.into())])));
    let text = metrics.encode();
    assert_eq!(text.matches("# TYPE rt histogram").count(), 1, "{text}");
    assert!(text.contains("rt_count 2"), "{text}");
    assert!(text.contains("rt_bucket{le=\"1.0\"} 1"), "{text}");
    assert!(text.contains("rt_bucket{le=\"+Inf\"} 2"), "{text}");
}

#[test]
fn bad_kinds_fields_and_buckets_name_the_key() {
    let cases = [
        ("kind = \"counter\"\nfield = \"t\"", "field"),
        ("kind = \"gauge\"", "field"),
        ("kind = \"summary\"\nfield = \"a..b\"", "field"),
        ("kind = \"summary\"\nfield = \"$.t\"", "field"),
        (
            "kind = \"summary\"\nfield = \"t\"\nbuckets = [1]",
            "buckets",
        ),
        (
            "kind = \"histogram\"\nfield = \"t\"\nbuckets = []",
            "buckets",
        ),
        (
            "kind = \"histogram\"\nfield = \"t\"\nbuckets = [1, 1]",
            "buckets",
        ),
        (
            "kind = \"histogram\"\nfield = \"t\"\nbuckets = [2, 1]",
            "buckets",
        ),
        (
            "kind = \"histogram\"\nfield = \"t\"\nbuckets = [nan]",
            "buckets",
        ),
        (
            "kind = \"histogram\"\nfield = \"t\"\nlabels = { le = \"x\" }",
            "labels",
        ),
        (
            "kind = \"summary\"\nfield = \"t\"\nlabels = { quantile = \"x\" }",
            "labels",
        ),
    ];
    for (body, key) in cases {
        let text =
            format!("[[filters]]\nmatch = \"**\"\ntype = \"metric\"\nname = \"m\"\n{body}\n");
        let err = filter(&text).unwrap_err();
        assert_eq!(err.key(), Some(key), "{body}: {err}");
    }
    // A last +Inf may be written; it is always there.
    let text = "[[filters]]\nmatch = \"**\"\ntype = \"metric\"\nname = \"m\"\n\
                kind = \"histogram\"\nfield = \"t\"\nbuckets = [1, 2, inf]\n";
    let metrics = Metrics::new();
    let mut f = filter(text).unwrap();
    f.count_into(&metrics, "1_metric");
    f.apply(&mut event(record(&[("t", 5.into())])));
    let page = metrics.encode();
    assert_eq!(page.matches("m_bucket{").count(), 3, "{page}");
}

/// Keys are made by hand now: every length, and values holding `:` and
/// digits, must come back apart as they went in.
#[test]
fn label_set_keys_split_back_into_their_values() {
    for values in [
        vec!["".to_owned(), "a".to_owned()],
        vec!["12:34".to_owned(), ":".to_owned(), "9".repeat(1234)],
        vec!["x".repeat(10), "é".repeat(100)],
    ] {
        let mut key = String::new();
        for v in &values {
            super::push_len(&mut key, v.len());
            key.push_str(v);
        }
        let back: Vec<String> = super::split_key(&key)
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(back, values);
    }
}
