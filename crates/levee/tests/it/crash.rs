//! Exactly once from a tailed file into the lake, across `kill -9`: an
//! nginx log of 500,000 lines, each with its own id, written while levee
//! tails it, renamed away (`access.log` to `access.log.1`) halfway, and
//! levee killed with SIGKILL at ten random moments (three within a second
//! of the rotation) and started again each time. At the end DuckDB, not
//! levee, counts the ids in the lake's chunks: each is there once.
//!
//! `LEVEE_CRASH_SEED` replays a run's kill moments (the test prints its
//! seed); `LEVEE_CRASH_LINES` and `LEVEE_CRASH_RATE` (lines a second)
//! make it longer, as `scripts/crash-soak` does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::{duckdb, levee, ok, sigterm, toml_path};

const KILLS: usize = 10;
/// Lines written to the renamed file before the writer opens a new one,
/// as nginx writes on to its old file until it reopens its logs.
const AFTER_RENAME: u64 = 2_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &Path) -> String {
    format!(
        r#"
data_dir = {data}

[sources.nginx]
type = "tail"
paths = [{logs}]
tag = "nginx.access"
parser = {{ type = "nginx", format = "combined" }}
poll_interval = "50ms"
checkpoint_interval = "200ms"

[outputs.lake]
match = "nginx.**"
type = "lake"
lake = {lake}
database = "web"
table = "access"
chunk_interval = "1s"

[outputs.errors]
match = "@ERROR"
type = "file"
path = {errors}
"#,
        data = toml_path(&dir.join("data")),
        logs = toml_path(&dir.join("logs").join("access.log*")),
        lake = toml_path(&dir.join("lake")),
        errors = toml_path(&dir.join("errors.ndjson")),
    )
}

/// Line `n`: its id in the path, its time 20ms after line `n - 1`'s (from
/// 2026-12-05 00:00:00 UTC, so the log spans hours and chunks turn over).
fn line(n: u64, out: &mut String) {
    use std::fmt::Write as _;
    let secs = n / 50;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let _ = writeln!(
        out,
        "10.{}.{}.{} - - [05/Dec/2026:{h:02}:{m:02}:{s:02} +0000] \"GET /id/{n:07} HTTP/1.1\" 200 {} \"-\" \"crash/1.0\"",
        n >> 16 & 0xff,
        n >> 8 & 0xff,
        n & 0xff,
        n % 5000
    );
}

/// Writes `lines` lines at `rate` a second into `logs/access.log`,
/// renaming it to `access.log.1` at line `rotate_at` and going on in the
/// old file for [`AFTER_RENAME`] lines before opening a new one. `written`
/// counts the lines written so far; `rotated` says when the rename was
/// done (as lines written then).
fn write_log(dir: PathBuf, lines: u64, rate: u64, rotate_at: u64, written: Arc<AtomicU64>) {
    let log = dir.join("access.log");
    let mut file = std::fs::File::create(&log).unwrap();
    let start = Instant::now();
    let mut text = String::new();
    let step = (rate / 100).max(1);
    let mut n = 0;
    while n < lines {
        let end = (n + step).min(lines);
        text.clear();
        for k in n..end {
            if k == rotate_at {
                file.write_all(text.as_bytes()).unwrap();
                text.clear();
                std::fs::rename(&log, dir.join("access.log.1")).unwrap();
            }
            if k == rotate_at + AFTER_RENAME {
                file.write_all(text.as_bytes()).unwrap();
                text.clear();
                file = std::fs::File::create(&log).unwrap();
            }
            line(k, &mut text);
        }
        file.write_all(text.as_bytes()).unwrap();
        n = end;
        written.store(n, Ordering::SeqCst);
        // Paced: line n is due at n / rate seconds.
        let due = start + Duration::from_secs_f64(n as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn start(config: &Path, log: &Path) -> Child {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    levee()
        .args(["run", "-c"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// The line counts at which levee is killed: three within a second of
/// the rotation (before it, just after it, and after
/// the new file appears), the rest anywhere.
fn kill_moments(rng: &mut Rng, lines: u64, rate: u64, rotate_at: u64) -> Vec<u64> {
    let second = rate;
    let mut at = vec![
        rotate_at.saturating_sub(rng.below(second)),
        rotate_at + rng.below(second / 2),
        rotate_at + AFTER_RENAME + rng.below(second),
    ];
    while at.len() < KILLS {
        at.push(lines / 20 + rng.below(lines * 9 / 10));
    }
    at.sort_unstable();
    at
}

/// xorshift64*: the test's own randomness, replayable from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[cfg(unix)]
#[test]
fn every_line_reaches_the_lake_once_across_ten_kills_and_a_rotation() {
    let lines = env_u64("LEVEE_CRASH_LINES", 500_000);
    let rate = env_u64("LEVEE_CRASH_RATE", 8_000);
    let seed = env_u64(
        "LEVEE_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1),
    );
    eprintln!("crash test: seed {seed} (LEVEE_CRASH_SEED), {lines} lines at {rate} a second");
    let mut rng = Rng(seed);
    let rotate_at = lines / 2;
    let kills = kill_moments(&mut rng, lines, rate, rotate_at);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let config_path = dir.join("levee.toml");
    std::fs::write(&config_path, config(dir)).unwrap();
    let stderr_log = dir.join("levee.stderr");

    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (logs, written) = (dir.join("logs"), written.clone());
        std::thread::spawn(move || write_log(logs, lines, rate, rotate_at, written))
    };

    let mut running = start(&config_path, &stderr_log);
    for (i, &at) in kills.iter().enumerate() {
        while written.load(Ordering::SeqCst) < at {
            std::thread::sleep(Duration::from_millis(5));
        }
        running.kill().unwrap();
        running.wait().unwrap();
        eprintln!(
            "kill {}: at line {} of {lines}",
            i + 1,
            written.load(Ordering::SeqCst)
        );
        // Down a moment, sometimes across the rotation.
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        running = start(&config_path, &stderr_log);
    }
    writer.join().unwrap();
    // Stopped cleanly, then a backfill to the end of every file.
    sigterm(&running);
    running.wait().unwrap();
    ok(levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(&config_path));

    let csv = duckdb(
        dir,
        "select count(*) as rows, count(distinct path) as ids, \
         count(*) - count(distinct path) as repeats, \
         min(path) as first, max(path) as last \
         from read_json_auto('lake/web/access/json/*/*/*.ndjson.zst', compression = 'zstd')",
    );
    eprintln!("DuckDB over the chunks:\n{csv}");
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let errors = std::fs::read_to_string(dir.join("errors.ndjson")).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_log).unwrap_or_default();
    assert_eq!(errors, "", "every line parses");
    assert_eq!(
        (row[0], row[1]),
        (lines.to_string().as_str(), lines.to_string().as_str()),
        "rows and distinct ids in the lake, of {lines} lines (seed {seed}); levee said:\n{}",
        stderr.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(row[3], "/id/0000000");
    assert_eq!(row[4], format!("/id/{:07}", lines - 1));
}
