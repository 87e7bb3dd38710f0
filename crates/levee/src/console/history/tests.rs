use super::breakdown::{CANDIDATES, TOP};
use super::*;

/// A page with one counter family `sent_total`, a series per `(type, count)`.
fn page(series: &[(&str, f64)]) -> Vec<Family> {
    let mut text = String::from("# HELP sent_total Messages sent\n# TYPE sent_total counter\n");
    for (value, count) in series {
        text.push_str(&format!("sent_total{{type=\"{value}\"}} {count}\n"));
    }
    parse(&text).unwrap()
}

/// Records `pages` one second apart.
fn history(pages: impl IntoIterator<Item = Vec<Family>>) -> History {
    let history = History::new(Duration::from_secs(1));
    let start = Instant::now();
    for (i, families) in pages.into_iter().enumerate() {
        history.record(
            start + Duration::from_secs(i as u64),
            1000 * i as i64,
            &families,
        );
    }
    history
}

fn sum(ring: &Ring, at: usize) -> f64 {
    f64::from(ring[at]).max(0.0)
}

/// The breakdown's series at point `at`, by value, with `other`.
fn point(state: &State, at: usize) -> BTreeMap<String, f64> {
    let by = &state.families["sent_total"].by["type"];
    let mut point: BTreeMap<String, f64> = by
        .shown
        .iter()
        .filter(|s| !s.ring[at].is_nan())
        .map(|s| (s.value.clone(), f64::from(s.ring[at])))
        .collect();
    point.insert(OTHER.into(), sum(&by.other, at));
    point
}

#[test]
fn the_first_page_sets_the_start_and_rates_come_after() {
    let h = history([page(&[("a", 100.0)]), page(&[("a", 130.0)])]);
    h.read(|s| {
        assert_eq!(s.times.len(), 1);
        let family = &s.families["sent_total"];
        assert_eq!(family.help, "Messages sent");
        assert_eq!(family.total[0], 30.0);
        assert_eq!(point(s, 0)["a"], 30.0);
    });
}

#[test]
fn a_counter_that_restarts_counts_from_zero_never_negative() {
    let h = history([
        page(&[("a", 100.0)]),
        page(&[("a", 150.0)]),
        page(&[("a", 20.0)]),
    ]);
    h.read(|s| assert_eq!(s.families["sent_total"].total, [50.0, 20.0]));
}

#[test]
fn history_keeps_the_last_points_and_no_more() {
    let pages = (0..POINTS + 40).map(|i| page(&[("a", i as f64), ("b", 2.0 * i as f64)]));
    let h = history(pages);
    h.read(|s| {
        assert_eq!(s.times.len(), POINTS);
        // The oldest kept is the 41st point (the first page made none).
        assert_eq!(s.times[0], 40_000);
        let family = &s.families["sent_total"];
        assert_eq!(family.total.len(), POINTS);
        let by = &family.by["type"];
        assert!(by.shown.iter().all(|s| s.ring.len() == POINTS));
        assert_eq!(by.other.len(), POINTS);
        assert!(family.total.iter().all(|&v| v == 3.0));
    });
}

/// 30 values: the 20 busiest are shown, the 10 others summed in `other`,
/// and the breakdown adds up to the total.
#[test]
fn the_top_values_are_shown_and_the_rest_folded() {
    let rates: Vec<(String, f64)> = (1..=30).map(|i| (format!("v{i:02}"), i as f64)).collect();
    let at = |t: f64| -> Vec<Family> {
        let series: Vec<(&str, f64)> = rates.iter().map(|(v, r)| (v.as_str(), r * t)).collect();
        page(&series)
    };
    let h = history((0..5).map(|t| at(t as f64)));
    h.read(|s| {
        let by = &s.families["sent_total"].by["type"];
        assert_eq!(by.shown.len(), TOP);
        let last = point(s, 3);
        for i in 11..=30 {
            assert_eq!(last[&format!("v{i:02}")], i as f64, "v{i:02}");
        }
        assert_eq!(last[OTHER], (1..=10).sum::<i32>() as f64);
        let shown: f64 = last.values().sum();
        assert_eq!(shown, f64::from(s.families["sent_total"].total[3]));
    });
}

/// A folded value that becomes the busiest gets its own series; the value
/// it replaces goes to `other`, past points included, so every point
/// still adds up to the total.
#[test]
fn a_value_that_grows_is_promoted_and_the_sum_still_holds() {
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    let mut pages = Vec::new();
    for t in 0..60 {
        for i in 1..=TOP {
            *counts.entry(format!("v{i:02}")).or_default() += 10.0;
        }
        // Quiet at first, then far the busiest.
        *counts.entry("late".into()).or_default() += if t < 10 { 1.0 } else { 1000.0 };
        let series: Vec<(&str, f64)> = counts.iter().map(|(v, c)| (v.as_str(), *c)).collect();
        pages.push(page(&series));
    }
    let h = history(pages);
    h.read(|s| {
        let family = &s.families["sent_total"];
        let by = &family.by["type"];
        assert_eq!(by.shown.len(), TOP);
        assert!(by.shown.iter().any(|s| s.value == "late"), "late not shown");
        let newest = s.times.len() - 1;
        assert_eq!(point(s, newest)["late"], 1000.0);
        for at in 0..s.times.len() {
            let shown: f64 = point(s, at).values().sum();
            assert_eq!(shown, f64::from(family.total[at]), "point {at}");
        }
    });
}

/// Thousands of values (a label from data) keep the memory bounded.
#[test]
fn values_not_shown_are_remembered_up_to_a_bound() {
    let mut pages = Vec::new();
    let names: Vec<String> = (0..3 * CANDIDATES).map(|i| format!("v{i}")).collect();
    for t in 0..3 {
        let series: Vec<(&str, f64)> = names
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_str(), (t * (i + 1)) as f64))
            .collect();
        pages.push(page(&series));
    }
    let h = history(pages);
    h.read(|s| {
        let by = &s.families["sent_total"].by["type"];
        assert_eq!(by.shown.len(), TOP);
        assert!(by.remembered() <= TOP + CANDIDATES, "{}", by.remembered());
        // The busiest values are the ones shown.
        assert!(
            by.shown
                .iter()
                .any(|s| s.value == format!("v{}", 3 * CANDIDATES - 1))
        );
    });
}

#[test]
fn components_get_their_events_per_second() {
    let at = |n: f64| {
        parse(&format!(
            "# TYPE levee_source_events_total counter\nlevee_source_events_total{{source=\"in\"}} {n}\n"
        ))
        .unwrap()
    };
    let h = history([at(0.0), at(50.0), at(150.0)]);
    h.read(|s| {
        let ring = &s.components[&(Kind::Source, "in".to_owned())];
        assert_eq!(ring, &[50.0, 100.0]);
    });
}

#[test]
fn series_go_out_rounded_with_gaps_as_null() {
    let ring: Ring = [f32::NAN, 1_996.917_8, 0.1].into_iter().collect();
    assert_eq!(to_json(&ring).to_string(), "[null,1996.918,0.1]");
}
