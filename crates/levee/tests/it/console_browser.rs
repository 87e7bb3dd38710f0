//! The web console in a real browser: `levee run` with generated traffic
//! flowing into a lake and `[console]`, Debian's Chromium driven by
//! playwright-core (`crates/levee/tests/browser/console.mjs`, installed by
//! `scripts/test-deps`). The script loads each page, runs the SQL page's
//! "try this" queries, downloads a CSV and saves screenshots; this test
//! judges its JSON report. Chromium that cannot start fails the test, with
//! the reason: it is never skipped.
//!
//! `LEVEE_SCREENSHOTS=docs/console` also copies the screenshots there (as
//! the README's are made).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Running, addr_after, drain, lake_records, levee, try_request, wait_until};

const DB: &str = "glue-data-lake-usw2-prd";
/// The email events, spread over the demo's 8 days and sent in 20 s, so
/// that the metrics page sees them arrive.
const EVENTS: u64 = 20_000;

/// The demo's pipeline, fed by `generate` sources instead of files: the
/// email events at 1,000 a second, and nginx lines at 200 a second for as
/// long as the test runs, so the pipeline page always has rates to show.
/// Its paths are relative to the folder levee runs in, so that the
/// screenshots show `./lake`, not a temporary folder's name.
fn config() -> String {
    format!(
        r#"
data_dir = "./data"

[console]
listen = "127.0.0.1:0"
resolution = "1s"

[sources.events]
type = "generate"
dataset = "events"
lines = {EVENTS}
rate = 1000
start = "2018-09-01"
days = 8
tag = "events.sparkpost"
parser = {{ type = "json", time_key = "timestamp" }}

[sources.nginx]
type = "generate"
dataset = "nginx"
lines = 100000000
rate = 200
start = "2018-09-01"
days = 8
tag = "nginx.access"
parser = {{ type = "nginx", format = "combined_request_time" }}

[[filters]]
match = "nginx.**"
type = "record"
set = {{ api_call = "${{method|lower}}_${{path|segment(2)}}", status_class = "${{status|status_class}}" }}
retag = "firehose_parsed.nginx"

[[filters]]
match = "events.**"
type = "metric"
name = "outgoing_msg"
help = "Email events by type"
labels = {{ type = "$.type" }}

[outputs.api_calls]
match = "firehose_parsed.**"
type = "lake"
lake = "./lake"
database = "{DB}"
table = "api_calls"
chunk_interval = "1s"

[outputs.eventlog]
match = "events.**"
type = "lake"
lake = "./lake"
database = "{DB}"
table = "eventlog"
chunk_interval = "1s"
"#
    )
}

/// `POST /api/query` with `sql`; the JSON answer, or `None` if it failed.
fn query(addr: &str, sql: &str) -> Option<Value> {
    let body = serde_json::json!({ "sql": sql }).to_string();
    let headers = [("Content-Type", "application/json")];
    let answer = try_request(addr, "POST", "/api/query", &headers, body.as_bytes()).ok()?;
    if answer.status != 200 {
        return None;
    }
    serde_json::from_slice(&answer.body).ok()
}

pub(crate) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// A cell as the page shows it: text as is, numbers as JavaScript writes them.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_console_in_chromium_shows_the_flow_and_answers_the_users_queries() {
    assert!(
        browser_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed: run scripts/test-deps (it installs Chromium and, \
         with npm ci in crates/levee/tests/browser, playwright-core)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("c.toml"), config()).unwrap();
    let mut child = levee()
        .args(["run", "-c", "c.toml"])
        .current_dir(dir)
        .env("LEVEE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let _levee = Running(child);
    let addr = addr_after(&mut stderr, "console on http://");
    drain(stderr);

    // Every event in the lake's sealed chunks before the browser asks.
    let count = format!("select count(*) as n from \"{DB}\".eventlog");
    wait_until(
        Duration::from_secs(120),
        format_args!("{EVENTS} events not in the lake"),
        || {
            let doc = query(&addr, &count)?;
            (doc["rows"][0]["n"] == EVENTS).then_some(())
        },
    );

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-browser");
    let _ = std::fs::remove_dir_all(&artifacts);
    let out = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(&artifacts)
        .output()
        .expect("cannot run node: the browser tests need Node.js (20 or later)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "the browser script gave no report ({}):\n{stdout}\n{stderr}",
                out.status
            )
        });
    assert!(
        out.status.success(),
        "the browser test failed ({}): {}\nscreenshots in {}\n{stderr}",
        out.status,
        report["error"].as_str().unwrap_or("?"),
        artifacts.display()
    );
    assert_eq!(report["page_errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["console_errors"], serde_json::json!([]), "{report}");
    let pages = &report["pages"];

    // The pipeline page: every component, and traffic moving.
    let pipeline = &pages["pipeline"];
    let nodes: Vec<&str> = pipeline["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    for name in ["events", "nginx", "api_calls", "eventlog"] {
        assert!(nodes.contains(&name), "no node {name} in {nodes:?}");
    }
    let moving = pipeline["rates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["per_second"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(moving, "no live rate above 0: {}", pipeline["rates"]);

    // The metrics page draws the user's graph: the metric filter's
    // counter by `type`, a line (or area) per event type.
    let metrics = &pages["metrics"]["chart"];
    assert!(
        metrics["family"]
            .as_str()
            .unwrap()
            .starts_with("outgoing_msg"),
        "{metrics}"
    );
    assert_eq!(metrics["by"], "type", "{metrics}");
    let names: Vec<&str> = metrics["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for t in ["delivery", "injection", "bounce"] {
        assert!(names.contains(&t), "no {t} in {names:?}");
    }
    assert!(metrics["series"].as_u64().unwrap() >= 3, "{metrics}");

    // The SQL page: the lake's tables, and every query of the list answered
    // as the API answers it (its table cell for cell, but for the nginx
    // table, which grows as the test runs).
    let sql = &pages["sql"];
    assert_eq!(
        sql["tables"],
        serde_json::json!(["api_calls", "eventlog"]),
        "{sql}"
    );
    let queries = sql["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 5, "{sql}");
    for q in queries {
        assert!(q["error"].is_null(), "{}: {}", q["title"], q["error"]);
        let api = query(&addr, q["sql"].as_str().unwrap())
            .unwrap_or_else(|| panic!("the API refused {}", q["sql"]));
        let columns: Vec<String> = api["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(q["columns"], serde_json::json!(columns), "{}", q["title"]);
        let rows: Vec<Vec<String>> = api["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| columns.iter().map(|c| shown(&r[c])).collect())
            .collect();
        assert!(!rows.is_empty(), "{}: no rows", q["title"]);
        if q["sql"].as_str().unwrap().contains(".api_calls") {
            // Still growing: the same shape, and the same first cell.
            let shown = q["rows"].as_array().unwrap();
            assert_eq!(shown.len(), rows.len(), "{}", q["title"]);
            assert_eq!(shown[0][0], rows[0][0], "{}", q["title"]);
        } else {
            assert_eq!(q["rows"], serde_json::json!(rows), "{}", q["title"]);
        }
        let accounting = q["accounting"].as_str().unwrap();
        assert!(
            accounting.contains(" files (") && accounting.contains("Athena would charge $"),
            "{accounting}"
        );
    }

    // The bounce question, counted again from the lake's own chunks: a
    // line per provider, a row per day, and the spike on the 5th.
    let mut expected: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for record in lake_records(&dir.join("lake").join(DB).join("eventlog")) {
        if record["bounce_class"] != 21 {
            continue;
        }
        let day = record["time"].as_str().unwrap()[..10].to_owned();
        let slot = match record["routing_domain"].as_str() {
            Some("gmail.com") => 0,
            Some("yahoo.com") => 1,
            Some("hotmail.com") => 2,
            _ => continue,
        };
        expected.entry(day).or_default()[slot] += 1;
    }
    let bounces = &queries[0];
    let table: Vec<Vec<String>> = expected
        .iter()
        .map(|(day, n)| {
            std::iter::once(day.clone())
                .chain(n.iter().map(u64::to_string))
                .collect()
        })
        .collect();
    assert_eq!(table.len(), 8);
    assert_eq!(bounces["rows"], serde_json::json!(table));
    assert_eq!(bounces["chart"]["lines"], 3, "{bounces}");
    assert_eq!(
        bounces["chart"]["legend"],
        serde_json::json!(["google", "yahoo", "hotmail"])
    );
    let hotmail = |day: &str| expected[day][2];
    assert!(
        hotmail("2018-09-05") > 2 * hotmail("2018-09-03"),
        "no spike: {expected:?}"
    );

    // Typed: a click put the table's name in, Ctrl+Enter ran it; a
    // statement that writes is refused with a message.
    let typed = &sql["typed"];
    assert_eq!(
        typed["sql"],
        format!("select count(*) as n from \"{DB}\".api_calls"),
        "{typed}"
    );
    assert!(typed["error"].is_null(), "{typed}");
    assert_eq!(typed["rows"].as_array().map(Vec::len), Some(1), "{typed}");
    let refused = &sql["refused"];
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("not supported"),
        "a write was not refused: {refused}"
    );

    // Its CSV, as downloaded by the browser.
    let download = &sql["download"];
    assert_eq!(download["file"], "levee-query.csv");
    assert_eq!(download["header"], "dt,google,yahoo,hotmail");
    assert_eq!(download["lines"], 8);
    assert_eq!(download["first"], table[0].join(","));
    assert!(sql["history"].as_u64().unwrap() >= 5, "{sql}");

    // Every page small and quick to load, and seen.
    for name in ["pipeline", "metrics", "sql"] {
        let page = &pages[name];
        let bytes = page["bytes"].as_u64().unwrap();
        assert!(bytes < 200 * 1024, "{name} weighs {bytes} bytes");
        eprintln!(
            "{name}: {bytes} bytes in {} files, loaded in {} ms",
            page["files"], page["load_ms"]
        );
        let shot = PathBuf::from(page["screenshot"].as_str().unwrap());
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "{shot:?}");
        if let Some(to) = std::env::var_os("LEVEE_SCREENSHOTS") {
            let to = Path::new(&to);
            let to = if to.is_relative() {
                // Relative to the repository, not to the crate cargo runs in.
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(to)
            } else {
                to.to_owned()
            };
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(&shot, to.join(format!("{name}.png"))).unwrap();
        }
    }
}
