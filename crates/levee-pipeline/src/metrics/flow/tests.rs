use proptest::prelude::*;

use super::*;
use crate::metrics::{Metrics, Names};

fn component(snapshot: &Snapshot, kind: Kind, name: &str) -> (Component, Figures) {
    snapshot
        .components
        .iter()
        .find(|(c, _)| c.kind == kind && c.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} {name} in {snapshot:#?}"))
}

/// A registry counted into as a running pipeline would, read back row by
/// row from its own classic page.
fn counted_registry() -> Metrics {
    let m = Metrics::new();
    let source = m.source("nginx");
    source.events.inc_by(1000);
    source.bytes.inc_by(150_000);
    source.parse_errors.inc_by(2);
    source.connection_errors.inc("bad_gzip");
    source.checkpoint_lag.set(4096);
    let filter = m.filter("drop_health");
    filter.events_in.inc_by(1000);
    filter.events_out.inc_by(900);
    filter.dropped.inc_by(100);
    m.filter_parse_errors("drop_health").inc();
    let out = m.output("lake", "lake");
    m.route("lake", "lake").inc_by(900);
    out.events.inc_by(800);
    out.bytes.inc_by(40_000);
    out.errors.write.inc();
    out.errors.flush.inc_by(2);
    out.retries.inc_by(3);
    out.dropped_full.inc_by(5);
    out.dropped_failed.inc();
    out.buffer_limit.set(1000);
    out.buffer_bytes.set(250);
    m
}

#[test]
fn levees_own_page_gives_a_row_per_component() {
    let m = counted_registry();
    let snapshot = Snapshot::from_page(&m.encode_classic()).unwrap();
    let kinds: Vec<(Kind, &str)> = snapshot
        .components
        .iter()
        .map(|(c, _)| (c.kind, c.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Source, "nginx"),
            (Kind::Filter, "drop_health"),
            (Kind::Output, "lake")
        ]
    );
    let (c, source) = component(&snapshot, Kind::Source, "nginx");
    assert_eq!(c.plugin, None);
    assert_eq!(source.events_in, Some(1000.0));
    assert_eq!(source.bytes, Some(150_000.0));
    assert_eq!(
        source.errors,
        Some(3.0),
        "parse errors and connection errors"
    );
    assert_eq!(source.checkpoint_lag_bytes, Some(4096.0));
    let (_, filter) = component(&snapshot, Kind::Filter, "drop_health");
    assert_eq!(
        (
            filter.events_in,
            filter.events_out,
            filter.drops,
            filter.errors
        ),
        (Some(1000.0), Some(900.0), Some(100.0), Some(1.0))
    );
    let (c, output) = component(&snapshot, Kind::Output, "lake");
    assert_eq!(c.plugin.as_deref(), Some("lake"));
    assert_eq!(output.events_in, Some(900.0));
    assert_eq!(output.events_out, Some(800.0));
    assert_eq!(output.bytes, Some(40_000.0));
    assert_eq!(output.errors, Some(3.0), "summed over kind");
    assert_eq!(output.retries, Some(3.0));
    assert_eq!(output.drops, Some(6.0), "summed over reason");
    assert_eq!(output.buffer_bytes, Some(250.0));
    assert_eq!(output.buffer_limit, Some(1000.0));
    assert_eq!(output.buffer_fill, Some(0.25));
    assert_eq!(output.oldest_age_seconds, Some(0.0));
    // The OpenMetrics page reads the same.
    assert_eq!(Snapshot::from_page(&m.encode()).unwrap(), snapshot);
}

/// levee serving Fluentd's names beside its own: each output once.
#[test]
fn levee_with_fluentd_names_counts_nothing_twice() {
    let m = counted_registry();
    let plain = Snapshot::from_page(&m.encode_classic()).unwrap();
    m.serve_names(Names::Fluentd);
    let page = m.encode_classic();
    assert!(
        page.contains("fluentd_output_status_emit_records"),
        "{page}"
    );
    assert_eq!(Snapshot::from_page(&page).unwrap(), plain);
}

/// As fluent-plugin-prometheus serves a td-agent's outputs, with the
/// incoming records counted by a `prometheus` filter per tag.
#[test]
fn a_fluentd_page() {
    let page = "\
# TYPE fluentd_input_status_num_records_total counter
# HELP fluentd_input_status_num_records_total The total number of incoming records
fluentd_input_status_num_records_total{tag=\"nginx.access\",hostname=\"web-1\"} 5120.0
# TYPE fluentd_output_status_buffer_queue_length gauge
# HELP fluentd_output_status_buffer_queue_length Current length of queue buffers.
fluentd_output_status_buffer_queue_length{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 2.0
# TYPE fluentd_output_status_buffer_total_bytes gauge
fluentd_output_status_buffer_total_bytes{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 6291456.0
# TYPE fluentd_output_status_retry_count gauge
fluentd_output_status_retry_count{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 4.0
# TYPE fluentd_output_status_num_errors gauge
fluentd_output_status_num_errors{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 1.0
# TYPE fluentd_output_status_emit_count gauge
fluentd_output_status_emit_count{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 12.0
# TYPE fluentd_output_status_emit_records gauge
fluentd_output_status_emit_records{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 570277.0
# TYPE fluentd_output_status_buffer_available_space_ratio gauge
fluentd_output_status_buffer_available_space_ratio{plugin_id=\"object:3f86dc5b80cc\",type=\"amazon_sns\"} 25.0
";
    let snapshot = Snapshot::from_page(page).unwrap();
    assert_eq!(snapshot.components.len(), 2, "{snapshot:#?}");
    let (_, source) = component(&snapshot, Kind::Source, "nginx.access");
    assert_eq!(source.events_in, Some(5120.0));
    let (c, out) = component(&snapshot, Kind::Output, "object:3f86dc5b80cc");
    assert_eq!(c.plugin.as_deref(), Some("amazon_sns"));
    assert_eq!(out.events_in, Some(570_277.0));
    assert_eq!(out.events_out, None, "Fluentd counts no records out");
    assert_eq!((out.errors, out.retries), (Some(1.0), Some(4.0)));
    assert_eq!(out.buffer_bytes, Some(6_291_456.0));
    assert_eq!(out.buffer_fill, Some(0.75));
}

/// A Fluent Bit v2 page (`/api/v2/metrics/prometheus`), and v1's with
/// timestamps.
#[test]
fn a_fluent_bit_page() {
    let page = "\
# HELP fluentbit_uptime Number of seconds that Fluent Bit has been running.
# TYPE fluentbit_uptime counter
fluentbit_uptime{hostname=\"node-1\"} 1189
# HELP fluentbit_input_bytes_total Number of input bytes.
# TYPE fluentbit_input_bytes_total counter
fluentbit_input_bytes_total{name=\"tail.0\"} 2562345
# HELP fluentbit_input_records_total Number of input records.
# TYPE fluentbit_input_records_total counter
fluentbit_input_records_total{name=\"tail.0\"} 12426
# HELP fluentbit_filter_records_total Fluentbit metrics.
# TYPE fluentbit_filter_records_total counter
fluentbit_filter_records_total{name=\"grep.0\"} 12426
# HELP fluentbit_filter_drop_records_total Fluentbit metrics.
# TYPE fluentbit_filter_drop_records_total counter
fluentbit_filter_drop_records_total{name=\"grep.0\"} 426
# HELP fluentbit_filter_add_records_total Fluentbit metrics.
# TYPE fluentbit_filter_add_records_total counter
fluentbit_filter_add_records_total{name=\"grep.0\"} 0
# HELP fluentbit_output_proc_records_total Number of processed output records.
# TYPE fluentbit_output_proc_records_total counter
fluentbit_output_proc_records_total{name=\"s3_archive\"} 11990
# HELP fluentbit_output_proc_bytes_total Number of processed output bytes.
# TYPE fluentbit_output_proc_bytes_total counter
fluentbit_output_proc_bytes_total{name=\"s3_archive\"} 2460202
# HELP fluentbit_output_errors_total Number of output errors.
# TYPE fluentbit_output_errors_total counter
fluentbit_output_errors_total{name=\"s3_archive\"} 2
# HELP fluentbit_output_retries_total Number of output retries.
# TYPE fluentbit_output_retries_total counter
fluentbit_output_retries_total{name=\"s3_archive\"} 7
# HELP fluentbit_output_retries_failed_total Number of abandoned batches because the maximum number of re-tries was reached.
# TYPE fluentbit_output_retries_failed_total counter
fluentbit_output_retries_failed_total{name=\"s3_archive\"} 1
# HELP fluentbit_output_dropped_records_total Number of dropped records.
# TYPE fluentbit_output_dropped_records_total counter
fluentbit_output_dropped_records_total{name=\"s3_archive\"} 10
# HELP fluentbit_output_chunk_available_capacity_percent Available chunk capacity (percent)
# TYPE fluentbit_output_chunk_available_capacity_percent gauge
fluentbit_output_chunk_available_capacity_percent{name=\"s3_archive\"} 60
";
    let snapshot = Snapshot::from_page(page).unwrap();
    let (c, input) = component(&snapshot, Kind::Source, "tail.0");
    assert_eq!(c.plugin.as_deref(), Some("tail"));
    assert_eq!(
        (input.events_in, input.bytes),
        (Some(12426.0), Some(2_562_345.0))
    );
    let (c, filter) = component(&snapshot, Kind::Filter, "grep.0");
    assert_eq!(c.plugin.as_deref(), Some("grep"));
    assert_eq!(filter.events_out, Some(12000.0), "in - dropped + added");
    let (c, out) = component(&snapshot, Kind::Output, "s3_archive");
    assert_eq!(c.plugin, None, "an alias names no plugin");
    assert_eq!(out.events_in, None);
    assert_eq!(out.events_out, Some(11990.0));
    assert_eq!(
        (out.bytes, out.errors, out.retries, out.drops),
        (Some(2_460_202.0), Some(2.0), Some(7.0), Some(10.0))
    );
    assert_eq!(out.buffer_fill, Some(0.4));
    assert_eq!(snapshot.components.len(), 3);

    let v1 = "fluentbit_input_records_total{name=\"cpu.0\"} 57 1509150350542\n\
              fluentbit_output_proc_records_total{name=\"stdout.0\"} 54 1509150350542\n";
    let snapshot = Snapshot::from_page(v1).unwrap();
    assert_eq!(
        component(&snapshot, Kind::Output, "stdout.0").1.events_out,
        Some(54.0)
    );
}

fn output_page(routed: u64, stored: u64, buffer: u64, oldest: f64) -> Snapshot {
    let page = format!(
        "levee_route_events_total{{output=\"o\",type=\"file\"}} {routed}\n\
         levee_output_events_total{{output=\"o\",type=\"file\"}} {stored}\n\
         levee_buffer_bytes{{output=\"o\",type=\"file\"}} {buffer}\n\
         levee_buffer_limit_bytes{{output=\"o\",type=\"file\"}} 1000\n\
         levee_buffer_oldest_age_seconds{{output=\"o\",type=\"file\"}} {oldest}\n"
    );
    Snapshot::from_page(&page).unwrap()
}

#[test]
fn rates_per_second_and_none_across_a_restart() {
    let m = counted_registry();
    let first = Snapshot::from_page(&m.encode_classic()).unwrap();
    m.source("nginx").events.inc_by(500);
    m.output("lake", "lake").retries.inc_by(2);
    let second = Snapshot::from_page(&m.encode_classic()).unwrap();
    let r = rates(&first, &second, 2.0);
    let (_, source) = r.iter().find(|(c, _)| c.kind == Kind::Source).unwrap();
    assert_eq!(source.events_in_per_s, Some(250.0));
    assert_eq!(source.bytes_per_s, Some(0.0));
    assert_eq!(source.now.checkpoint_lag_bytes, Some(4096.0));
    let (_, out) = r.iter().find(|(c, _)| c.kind == Kind::Output).unwrap();
    assert_eq!(out.retries_per_s, Some(1.0));
    assert_eq!(out.now.buffer_fill, Some(0.25));

    // levee restarted: its counters began again from zero.
    let restarted = Snapshot::from_page(&Metrics::new().encode_classic()).unwrap();
    assert!(
        rates(&second, &restarted, 2.0).is_empty(),
        "no components yet"
    );
    let fresh = counted_registry();
    fresh.source("nginx").events.inc_by(1);
    let after = Snapshot::from_page(&fresh.encode_classic()).unwrap();
    let r = rates(&second, &after, 2.0);
    let (_, source) = r.iter().find(|(c, _)| c.kind == Kind::Source).unwrap();
    assert_eq!(source.events_in_per_s, None, "a counter reset is no rate");
    // A component new on the second page, and a zero interval.
    assert_eq!(
        rates(&Snapshot::default(), &second, 2.0)[0]
            .1
            .events_in_per_s,
        None
    );
    assert!(
        rates(&first, &second, 0.0)
            .iter()
            .all(|(_, r)| r.events_in_per_s.is_none())
    );
    assert!(
        rates(&first, &second, f64::NAN)
            .iter()
            .all(|(_, r)| r.bytes_per_s.is_none())
    );
}

#[test]
fn an_output_falls_behind_when_its_buffer_fills_for_long() {
    let mut watch = Watch::new(3);
    // Healthy: out keeps up, the buffer stays small.
    let mut prev = output_page(0, 0, 10, 0.1);
    for i in 1..=5 {
        let now = output_page(i * 100, i * 100, 10, 0.1);
        let r = rates(&prev, &now, 1.0);
        assert_eq!(r[0].1.behind, None);
        assert_eq!(watch.update(&r), None);
        prev = now;
    }
    // Filling: half of what comes in leaves, the buffer grows.
    let mut named = Vec::new();
    for i in 1..=4 {
        let now = output_page(500 + i * 100, 500 + i * 50, 10 + i * 100, 6.0);
        let r = rates(&prev, &now, 1.0);
        assert_eq!(r[0].1.behind, Some(Behind::Filling));
        named.push(watch.update(&r));
        prev = now;
    }
    assert_eq!(named, [None, None, Some(0), Some(0)], "after 3 in a row");
    // The same, but its oldest event young: the next flush not yet come.
    let young = output_page(1000, 800, 500, 0.9);
    assert_eq!(rates(&prev, &young, 1.0)[0].1.behind, None);
    // One interval caught up: the streak starts again.
    let now = output_page(1000, 1000, 0, 0.0);
    assert_eq!(watch.update(&rates(&prev, &now, 1.0)), None);
    // Full: named at once.
    let full = output_page(1100, 1000, 950, 1.0);
    let r = rates(&now, &full, 1.0);
    assert_eq!(r[0].1.behind, Some(Behind::Full));
    assert_eq!(watch.update(&r), Some(0));
    // Stalled: the oldest event aged the whole interval, past 10 s.
    let a = output_page(1100, 1000, 100, 20.0);
    let b = output_page(1100, 1000, 100, 22.0);
    assert_eq!(rates(&a, &b, 2.0)[0].1.behind, Some(Behind::Stalled));
}

/// The worst of several: a full buffer over one merely filling.
#[test]
fn the_most_serious_component_is_named() {
    let page = |filling: u64, full: u64| {
        format!(
            "levee_route_events_total{{output=\"a\",type=\"file\"}} {filling}\n\
             levee_output_events_total{{output=\"a\",type=\"file\"}} 0\n\
             levee_buffer_bytes{{output=\"a\",type=\"file\"}} {filling}\n\
             levee_buffer_bytes{{output=\"b\",type=\"file\"}} {full}\n\
             levee_buffer_limit_bytes{{output=\"a\",type=\"file\"}} 30\n\
             levee_buffer_limit_bytes{{output=\"b\",type=\"file\"}} 1000\n"
        )
    };
    let mut watch = Watch::new(1);
    let prev = Snapshot::from_page(&page(10, 950)).unwrap();
    let now = Snapshot::from_page(&page(20, 990)).unwrap();
    let r = rates(&prev, &now, 1.0);
    assert_eq!(r[0].1.behind, Some(Behind::Filling));
    assert_eq!(watch.update(&r), Some(1));
}

/// Rows in the same order whatever the page's: levee's filters by their
/// number, the rest by name.
#[test]
fn rows_are_in_pipeline_order() {
    let page = "\
levee_filter_events_in_total{filter=\"10_record\"} 1
levee_filter_events_in_total{filter=\"2_grep\"} 1
levee_route_events_total{output=\"void\",type=\"blackhole\"} 1
levee_route_events_total{output=\"archive\",type=\"file\"} 1
levee_source_events_total{source=\"gen\"} 1
";
    let names: Vec<String> = Snapshot::from_page(page)
        .unwrap()
        .components
        .into_iter()
        .map(|(c, _)| c.name)
        .collect();
    assert_eq!(names, ["gen", "2_grep", "10_record", "archive", "void"]);
}

#[test]
fn garbage_is_an_error_and_odd_samples_are_left_out() {
    for bad in [
        "<html><body>404</body></html>",
        "levee_source_events_total{source=\"a\" 3\n",
        "levee_source_events_total{source=\"a\"} three\n",
        "\u{0}\u{1}binary",
    ] {
        assert!(Snapshot::from_page(bad).is_err(), "{bad:?}");
    }
    let odd = "\
levee_source_events_total 5
levee_source_events_total{src=\"a\"} 5
levee_source_events_total{source=\"a\"} NaN
levee_output_events_total{output=\"o\"} +Inf
levee_buffer_bytes{output=\"o\"} -5
levee_buffer_limit_bytes{output=\"o\"} 0
levee_output_retries_total{output=\"o\",type=\"x\"} 1e308
levee_output_retries_total{output=\"o\",type=\"x\"} 1e308
unrelated_total{source=\"a\"} 1
";
    let snapshot = Snapshot::from_page(odd).unwrap();
    assert_eq!(snapshot.components.len(), 2, "{snapshot:#?}");
    let (_, out) = component(&snapshot, Kind::Output, "o");
    assert_eq!(out.buffer_fill, None, "no limit, no fill");
    assert_eq!(out.retries, Some(f64::INFINITY));
    let r = rates(&snapshot, &snapshot, 1.0);
    assert!(r.iter().all(|(_, r)| r.events_in_per_s.is_none()), "NaN");
    assert!(r.iter().all(|(_, r)| r.events_out_per_s.is_none()), "Inf");
    assert_eq!(Snapshot::from_page("").unwrap(), Snapshot::default());
}

proptest! {
    /// Whatever the page, reading it and its rates never panics.
    #[test]
    fn any_page_reads_without_a_panic(page in "(levee_|fluentbit_|fluentd_|[a-z_{}=\",.0-9 #\\-+]|\n|NaN|Inf){0,300}") {
        if let Ok(snapshot) = Snapshot::from_page(&page) {
            let r = rates(&snapshot, &snapshot, 1.0);
            Watch::new(1).update(&r);
        }
    }
}
