//! The web console: `levee run` with `[console]` (the generator feeding a
//! metric filter, a grep filter and two outputs), and `levee console` over
//! a lake alone; the real binary, a real socket, raw HTTP/1.1.

use std::io::BufReader;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    self, Answer, Running, addr_after, drain, levee, run_with_stdin, start_run, stdin_to_lake,
    toml_path, wait_until,
};

pub(crate) const TOKEN: &str = "c0nsole.t0ken";

/// Sends one request with no body, with the token when `token` is given.
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut all = headers.to_vec();
    if let Some(auth) = &auth {
        all.push(("Authorization", auth));
    }
    support::request(addr, method, path, &all, b"")
}

fn get(addr: &str, path: &str) -> Answer {
    request(addr, "GET", path, Some(TOKEN), &[])
}

/// A config: the generator's email events at `rate` a second through a
/// metric filter (`outgoing_msg{type}`) and a grep filter into a blackhole
/// and a lake at `dir/lake`, with `[console]` (a point a second, `TOKEN`)
/// on a port the system chooses.
pub(crate) fn generator_config(dir: &Path, rate: u64) -> String {
    format!(
        r#"
data_dir = {data}
[console]
listen = "127.0.0.1:0"
token = "{TOKEN}"
resolution = "1s"
[sources.traffic]
type = "generate"
dataset = "events"
lines = 1000000000
rate = {rate}
days = 1
tag = "events.sparkpost"
parser = {{ type = "json", time_key = "timestamp" }}
[[filters]]
type = "metric"
match = "events.**"
name = "outgoing_msg"
help = "Email events by type"
labels = {{ type = "$.type" }}
[[filters]]
type = "grep"
match = "events.**"
exclude = {{ type = "^policy_rejection$" }}
[outputs.nothing]
match = "events.**"
type = "blackhole"
[outputs.lake]
match = "events.**"
type = "lake"
lake = {lake}
database = "db"
table = "events"
"#,
        data = toml_path(&dir.join("data")),
        lake = toml_path(&dir.join("lake")),
    )
}

/// `levee run` on `config`; the console's address.
pub(crate) fn run_console(dir: &Path, config: &str) -> (Running, String) {
    let (running, mut stderr) = start_run(dir, config);
    let addr = addr_after(&mut stderr, "console on http://");
    drain(stderr);
    (running, addr)
}

/// `levee console` over `dir/lake`, asking for `token`; its address.
pub(crate) fn levee_console(dir: &Path, token: &str) -> (Running, String) {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut child = levee()
        .arg("console")
        .arg("--lake")
        .arg(dir.join("lake"))
        .args(["--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let addr = addr_after(&mut stderr, " on http://");
    drain(stderr);
    (running, addr)
}

/// The files `index.html` loads (`/assets/...`).
fn assets_of(page: &str) -> Vec<String> {
    page.split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

/// The node of `/api/pipeline` with this id.
fn node<'a>(pipeline: &'a Value, id: &str) -> &'a Value {
    pipeline["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {pipeline}"))
}

#[test]
fn console_serves_its_page_with_the_pipeline_live_and_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (_levee, addr) = run_console(dir.path(), &generator_config(dir.path(), 2000));

    // The page and its files: open, typed, cached by ETag, under 200 KB.
    let page = request(&addr, "GET", "/", None, &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    for link in [
        "href=\"#/pipeline\"",
        "href=\"#/metrics\"",
        "href=\"#/sql\"",
        "id=\"page\"",
    ] {
        assert!(html.contains(link), "{link} not in the page");
    }
    let assets = assets_of(&html);
    assert!(assets.len() >= 6, "{assets:?}");
    let mut weight = page.body.len();
    for asset in &assets {
        let a = request(&addr, "GET", asset, None, &[]);
        assert_eq!(a.status, 200, "{asset}");
        let kind = a.header("content-type").unwrap_or_default();
        let want = if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(kind.starts_with(want), "{asset}: {kind}");
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        let etag = a.header("etag").expect("an ETag").to_owned();
        let again = request(&addr, "GET", asset, None, &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{asset}");
        assert!(again.body.is_empty());
        weight += a.body.len();
    }
    assert!(weight < 200 * 1024, "the page weighs {weight} bytes");

    // The API asks for the token.
    for token in [None, Some("c0nsole.t0ke"), Some("wrong")] {
        let refused = request(&addr, "GET", "/api/pipeline", token, &[]);
        assert_eq!(refused.status, 401, "{token:?}");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
        assert!(refused.json()["error"].as_str().unwrap().contains("token"));
    }

    // The graph: every component, wired by tags, with live rates on its
    // edges and a sparkline per component, once two points are taken.
    let pipeline = wait_until(Duration::from_secs(60), "no live rates", || {
        let p = get(&addr, "/api/pipeline").json();
        let live = p["edges"]
            .as_array()?
            .iter()
            .all(|e| e["rate"].as_f64().is_some_and(|r| r > 0.0));
        let sparks = p["nodes"].as_array()?.iter().all(|n| {
            n["spark"]
                .as_array()
                .is_some_and(|s| s.iter().filter(|v| v.is_number()).count() >= 2)
        });
        (live && sparks).then_some(p)
    });
    assert_eq!(pipeline["running"], true);
    let ids: Vec<&str> = pipeline["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "source:traffic",
            "filter:1_metric",
            "filter:2_grep",
            "output:nothing",
            "output:lake"
        ]
    );
    let edges: Vec<(&str, &str)> = pipeline["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        edges,
        [
            ("source:traffic", "filter:1_metric"),
            ("filter:1_metric", "filter:2_grep"),
            ("filter:2_grep", "output:nothing"),
            ("filter:2_grep", "output:lake"),
        ]
    );
    let source = node(&pipeline, "source:traffic");
    assert_eq!(source["type"], "generate");
    assert_eq!(source["pattern"], "events.sparkpost");
    // 2000 a second, give or take what a busy test machine does to it.
    let rate = source["in_per_s"].as_f64().unwrap();
    assert!((200.0..20_000.0).contains(&rate), "{rate}");
    let lake = node(&pipeline, "output:lake");
    assert_eq!(lake["type"], "lake");
    assert!(lake["buffer_limit"].as_f64().unwrap() > 0.0, "{lake}");
    assert!(lake["buffer_fill"].as_f64().is_some(), "{lake}");
    for key in ["errors", "drops", "retries"] {
        assert_eq!(lake[key].as_f64(), Some(0.0), "{key}: {lake}");
    }

    // The metric filter's counter by its label, over time.
    let families = get(&addr, "/api/metrics").json();
    let outgoing = families["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "outgoing_msg_total")
        .unwrap_or_else(|| panic!("no outgoing_msg_total in {families}"));
    assert_eq!(outgoing["labels"], serde_json::json!(["type"]));
    assert_eq!(outgoing["help"], "Email events by type");
    // The user's counters come before levee's own.
    assert_eq!(families["families"][0]["name"], "outgoing_msg_total");
    let series = get(&addr, "/api/metrics/series?name=outgoing_msg_total&by=type").json();
    let x = series["x"].as_array().unwrap();
    assert!(x.len() >= 2, "{series}");
    let names: Vec<&str> = series["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"delivery") && names.contains(&"bounce"),
        "{names:?}"
    );
    assert!(names.len() <= 21, "{names:?}");
    for s in series["series"].as_array().unwrap() {
        assert_eq!(s["values"].as_array().unwrap().len(), x.len(), "{s}");
    }
    let total = get(&addr, "/api/metrics/series?name=outgoing_msg_total").json();
    assert_eq!(total["series"][0]["name"], "total");

    // Mistakes and unknown paths, said in JSON.
    for (path, status) in [
        ("/api/metrics/series", 400),
        ("/api/metrics/series?name=nope_total", 404),
        ("/api/metrics/series?name=outgoing_msg_total&by=colour", 400),
        ("/api/nope", 404),
        ("/nope", 404),
        ("/assets/nope.js", 404),
        ("/assets/../Cargo.toml", 404),
    ] {
        let a = get(&addr, path);
        assert_eq!(a.status, status, "{path}");
        assert!(a.json()["error"].is_string(), "{path}");
    }
    // Outside the page's shell, even a 404 asks for the token first.
    assert_eq!(request(&addr, "GET", "/nope", None, &[]).status, 401);

    // Read-only: nothing can be written, token or not.
    for (method, path) in [
        ("DELETE", "/api/pipeline"),
        // No route: refused for its method before it is looked for.
        ("DELETE", "/api/nope"),
        ("PUT", "/assets/new.js"),
        ("PUT", "/"),
        ("PATCH", "/api/metrics"),
        ("POST", "/api/pipeline"),
        ("POST", "/api/metrics/series?name=outgoing_msg_total"),
        ("POST", "/"),
        ("POST", "/assets/console.js"),
    ] {
        let a = request(&addr, method, path, Some(TOKEN), &[]);
        assert_eq!(a.status, 405, "{method} {path}");
    }
}

#[test]
fn levee_console_serves_a_lake_alone_and_says_there_is_no_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let input = "{\"timestamp\":\"2018-09-01T00:00:00Z\",\"n\":1}\n";
    let out = run_with_stdin(
        dir.path(),
        &stdin_to_lake(dir.path(), "db", "t"),
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_levee, addr) = levee_console(dir.path(), TOKEN);

    assert_eq!(request(&addr, "GET", "/", None, &[]).status, 200);
    assert_eq!(
        request(&addr, "GET", "/api/pipeline", None, &[]).status,
        401
    );
    let pipeline = get(&addr, "/api/pipeline").json();
    assert_eq!(pipeline["running"], false);
    assert!(pipeline["reason"].as_str().unwrap().contains("no pipeline"));
    assert_eq!(pipeline["nodes"], serde_json::json!([]));
    let metrics = get(&addr, "/api/metrics").json();
    assert_eq!(metrics["running"], false);

    // A lake that is not there is said, not made.
    let missing = levee()
        .arg("console")
        .arg("--lake")
        .arg(dir.path().join("no-lake"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

/// utime + stime of a process, in clock ticks, from /proc.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command's name in parentheses: state is field 3, utime 14.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// What the console costs: the page's load on loopback, and levee's CPU
/// with the pipeline page polled every 2 s for 60 s against 60 s without.
/// The generator sends 50 events a second, so the collector's own CPU
/// (and its noise) is small beside what is measured: the console's cost
/// does not depend on the traffic, only on how many series the registry
/// has.
/// Measured, never asserted (the machine is shared): run it with
/// `cargo test -p levee --test it console_cost -- --ignored --nocapture`.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "a measurement, a few minutes long: run it by name"]
fn console_cost() {
    let dir = tempfile::tempdir().unwrap();
    let (levee, addr) = run_console(dir.path(), &generator_config(dir.path(), 50));
    let pid = levee.0.id();
    wait_until(Duration::from_secs(60), "no live rates", || {
        let p = get(&addr, "/api/pipeline").json();
        p["edges"][0]["rate"].as_f64()
    });

    // The page and every file it loads, one after another, as a browser
    // with an empty cache would (a browser fetches them in parallel).
    let mut loads = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let page = request(&addr, "GET", "/", None, &[]);
        let html = String::from_utf8(page.body).unwrap();
        let mut bytes = html.len();
        for asset in assets_of(&html) {
            bytes += request(&addr, "GET", &asset, None, &[]).body.len();
        }
        bytes += get(&addr, "/api/pipeline").body.len();
        loads.push((start.elapsed(), bytes));
    }
    loads.sort();
    let (median, bytes) = loads[loads.len() / 2];
    println!("page load (page, its files and /api/pipeline): median {median:?}, {bytes} bytes");

    let ticks_per_s = 100.0; // USER_HZ on Linux
    let window = Duration::from_secs(60);
    let measure = |poll: bool| {
        let before = cpu_ticks(pid);
        let start = Instant::now();
        while start.elapsed() < window {
            if poll {
                let answer = get(&addr, "/api/pipeline");
                assert_eq!(answer.status, 200);
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        let ticks = cpu_ticks(pid) - before;
        100.0 * (ticks as f64 / ticks_per_s) / start.elapsed().as_secs_f64()
    };
    let idle = measure(false);
    let polled = measure(true);
    println!(
        "levee's CPU over 60 s at 50 events/s: {idle:.2}% of a core without the console open, \
         {polled:.2}% with /api/pipeline polled every 2 s: the console's share {:.2}%",
        polled - idle
    );
}
