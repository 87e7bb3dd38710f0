//! A `tail` -> `file` pipeline run by the real binary, for tests that
//! write a log while levee follows it and count what comes out.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Running, levee, toml_path};

/// The files of one such pipeline, in a test's folder.
pub struct TailToFile {
    pub config: PathBuf,
    pub log: PathBuf,
    pub out: PathBuf,
}

impl TailToFile {
    /// Writes the config: `access.log` tailed every 20ms, with `tail_extra`
    /// config lines, into `out.ndjson` flushed every 50ms.
    pub fn new(dir: &Path, tail_extra: &str) -> TailToFile {
        let files = TailToFile {
            config: dir.join("c.toml"),
            log: dir.join("access.log"),
            out: dir.join("out.ndjson"),
        };
        let config = format!(
            "data_dir = {data}\n[sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
             poll_interval = \"20ms\"\n{tail_extra}\n\
             [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n\
             buffer = {{ flush_interval = \"50ms\" }}\n",
            data = toml_path(&dir.join("data")),
            log = toml_path(&files.log),
            out = toml_path(&files.out),
        );
        std::fs::write(&files.config, config).unwrap();
        files
    }

    /// `levee run` in the background, following the log until stopped.
    pub fn start(&self) -> Running {
        Running(
            levee()
                .args(["run", "-c"])
                .arg(&self.config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    /// The messages in the output file, in order.
    pub fn delivered(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|r| r["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until `count` messages are out; fails after 60 s.
    pub fn wait_for(&self, count: usize) {
        let started = Instant::now();
        while self.delivered().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} of {count} lines after 60 s",
                self.delivered().len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `prefix0`, `prefix1`, ... one per line, for `range`.
pub fn numbered(prefix: &str, range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{prefix}{i}\n")).collect()
}
