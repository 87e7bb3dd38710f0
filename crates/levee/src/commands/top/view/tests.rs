use levee_pipeline::metrics::flow::{Snapshot, Watch, rates};

use super::*;

/// Two pages a second apart: a source, a filter and two outputs, one of
/// them (`slow`) with a buffer that fills.
fn view() -> View {
    let page = |n: u64| {
        format!(
            "levee_source_events_total{{source=\"gen\"}} {gen}\n\
             levee_filter_events_in_total{{filter=\"grep\"}} {gen}\n\
             levee_filter_events_out_total{{filter=\"grep\"}} {kept}\n\
             levee_route_events_total{{output=\"lake\",type=\"lake\"}} {kept}\n\
             levee_route_events_total{{output=\"slow\",type=\"http\"}} {kept}\n\
             levee_output_events_total{{output=\"lake\",type=\"lake\"}} {kept}\n\
             levee_output_events_total{{output=\"slow\",type=\"http\"}} {slow}\n\
             levee_output_retries_total{{output=\"lake\",type=\"lake\"}} 0\n\
             levee_output_retries_total{{output=\"slow\",type=\"http\"}} 7\n\
             levee_buffer_bytes{{output=\"lake\",type=\"lake\"}} 0\n\
             levee_buffer_bytes{{output=\"slow\",type=\"http\"}} {buffer}\n\
             levee_buffer_limit_bytes{{output=\"lake\",type=\"lake\"}} 1000\n\
             levee_buffer_limit_bytes{{output=\"slow\",type=\"http\"}} 1000\n",
            gen = n * 1000,
            kept = n * 900,
            slow = n * 100,
            buffer = n * 300,
        )
    };
    let prev = Snapshot::from_page(&page(1)).unwrap();
    let now = Snapshot::from_page(&page(2)).unwrap();
    let r = rates(&prev, &now, 1.0);
    let behind = Watch::new(1).update(&r);
    let mut view = View::default();
    view.set_rows(r, behind);
    view
}

fn names(view: &View) -> Vec<&str> {
    view.visible()
        .iter()
        .map(|r| r.component.name.as_str())
        .collect()
}

fn press(view: &mut View, keys: &str) {
    for c in keys.chars() {
        assert!(!view.key(Key::Char(c)), "{c} quit");
    }
}

#[test]
fn rows_start_in_pipeline_order() {
    assert_eq!(names(&view()), ["gen", "grep", "lake", "slow"]);
}

#[test]
fn a_column_key_sorts_by_it_and_again_reverses() {
    let mut v = view();
    press(&mut v, "o");
    assert_eq!(v.sort(), (Column::Out, true));
    assert_eq!(
        names(&v),
        ["grep", "lake", "slow", "gen"],
        "largest first, none last"
    );
    press(&mut v, "o");
    assert_eq!(
        names(&v),
        ["slow", "grep", "lake", "gen"],
        "smallest first, none still last"
    );
    press(&mut v, "n");
    assert_eq!(names(&v), ["gen", "grep", "lake", "slow"]);
    press(&mut v, "r");
    assert_eq!(names(&v)[0], "slow");
    // `s` moves to the next column.
    press(&mut v, "s");
    assert_eq!(v.sort(), (Column::Buffer, true));
    assert_eq!(names(&v)[..2], ["slow", "lake"]);
    // A key that sorts nothing changes nothing.
    press(&mut v, "z");
    assert_eq!(v.sort(), (Column::Buffer, true));
}

#[test]
fn slash_filters_by_name_type_or_plugin() {
    let mut v = view();
    press(&mut v, "/sl");
    assert_eq!(v.filter(), ("sl", true));
    assert_eq!(names(&v), ["slow"]);
    // While typing, letters are text, not keys: `q` does not quit.
    press(&mut v, "q");
    assert!(names(&v).is_empty());
    v.key(Key::Backspace);
    v.key(Key::Backspace);
    v.key(Key::Backspace);
    press(&mut v, "OUTPUT");
    v.key(Key::Enter);
    assert_eq!(v.filter(), ("OUTPUT", false));
    assert_eq!(names(&v), ["lake", "slow"], "by type, any case");
    press(&mut v, "/http");
    v.key(Key::Enter);
    assert_eq!(names(&v), ["slow"], "by plugin");
    // Esc clears it.
    v.key(Key::Esc);
    assert_eq!(names(&v).len(), 4);
    assert!(v.key(Key::Char('q')));
}

#[test]
fn the_row_falling_behind_is_marked() {
    let v = view();
    let behind: Vec<&str> = v
        .visible()
        .into_iter()
        .filter(|r| v.is_behind(r))
        .map(|r| r.component.name.as_str())
        .collect();
    assert_eq!(behind, ["slow"]);
    let line = v.behind_line().unwrap();
    assert!(line.starts_with("output slow is falling behind"), "{line}");
    let plain = v.plain();
    let slow = plain.lines().find(|l| l.contains("slow")).unwrap();
    assert!(slow.contains("<- behind"), "{plain}");
    assert!(
        !plain
            .lines()
            .any(|l| l.contains("lake") && l.contains("<- behind"))
    );
}

#[test]
fn the_plain_table_has_a_header_and_a_line_per_row() {
    let plain = view().plain();
    let lines: Vec<&str> = plain.lines().collect();
    assert!(lines[0].starts_with("(t)ype"), "{plain}");
    assert!(lines[1].starts_with("source  gen"), "{plain}");
    // 1000 events a second in at the source, 900 out of the filter.
    assert!(lines[1].contains(" 1000 "), "{plain}");
    assert!(lines[2].contains(" 900 "), "{plain}");
    let slow = lines.iter().find(|l| l.contains("slow")).unwrap();
    assert!(slow.contains("slow (http)"), "{plain}");
    assert!(slow.contains("######....  60%"), "{plain}");
    assert_eq!(lines.len(), 6, "{plain}");
}

#[test]
fn numbers_read_at_a_glance() {
    assert_eq!(count(None), "-");
    assert_eq!(count(Some(f64::NAN)), "-");
    assert_eq!(count(Some(2.5)), "2.5");
    assert_eq!(count(Some(0.0)), "0");
    assert_eq!(count(Some(9999.0)), "9999");
    assert_eq!(count(Some(12_345.0)), "12.3k");
    assert_eq!(count(Some(4.2e6)), "4.2M");
    assert_eq!(bytes(Some(512.0)), "512B");
    assert_eq!(bytes(Some(1536.0)), "1.5KiB");
    assert_eq!(bytes(Some(3.0 * 1024.0 * 1024.0)), "3.0MiB");
    assert_eq!(age(Some(0.42)), "0.4s");
    assert_eq!(age(Some(42.0)), "42s");
    assert_eq!(age(Some(187.0)), "3m07s");
    assert_eq!(age(Some(7500.0)), "2h05m");
    assert_eq!(age(Some(-1.0)), "-");
    assert_eq!(bar(Some(0.0), true), "..........   0%");
    assert_eq!(bar(Some(1.5), false), "██████████ 150%");
}
