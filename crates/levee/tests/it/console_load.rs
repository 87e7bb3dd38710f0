//! How long the console's pages take to load in Chromium: measured, not
//! asserted (a shared machine's load decides too much of it), so it is
//! run by hand:
//!
//! ```sh
//! cargo test -p levee --test it console_load -- --ignored --nocapture
//! ```
//!
//! `levee run` with the generator and `[console]`, then
//! `crates/levee/tests/browser/load.mjs`: each page loaded `LOADS` times
//! as a first visit (a new browser context, an empty cache).

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::console::{TOKEN, generator_config, request, run_console};
use crate::console_browser::browser_dir;
use crate::support::wait_until;

const LOADS: usize = 9;

#[test]
#[ignore = "a measurement, run by hand: see the module's docs"]
fn console_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_levee, addr) = run_console(dir.path(), &generator_config(dir.path(), 200));
    let api = |path: &str| request(&addr, "GET", path, Some(TOKEN), &[]).json();
    // Every page with its data: live rates, a point of history, a table.
    wait_until(Duration::from_secs(120), "no table in the lake", || {
        let rates = api("/api/pipeline")["edges"][0]["rate"].as_f64();
        let tables = api("/api/tables");
        let some = tables["tables"].as_array().is_some_and(|t| !t.is_empty());
        (rates.is_some() && some).then_some(())
    });
    let out = Command::new("node")
        .arg(browser_dir().join("load.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(LOADS.to_string())
        .arg(TOKEN)
        .output()
        .expect("cannot run node: the browser tests need Node.js (20 or later)");
    assert!(
        out.status.success(),
        "load.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for page in ["pipeline", "metrics", "sql"] {
        let p = &report[page];
        println!(
            "{page}: load event median {} ms, data drawn median {} ms ({LOADS} first visits; loads {}, drawn {})",
            p["median_load_ms"], p["median_ready_ms"], p["load_ms"], p["ready_ms"]
        );
        assert_eq!(
            p["load_ms"].as_array().map(Vec::len),
            Some(LOADS),
            "{report}"
        );
    }
}
