//! Fluent Bit on the same file, for the comparison the collector's goal is
//! set against: its `tail` input with the `nginx` regex parser of its stock
//! parsers file, into a `file` output, run as a child between levee's runs.
//!
//! levee does not build or ship Fluent Bit; `--fluent-bit` takes a binary
//! the user has.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Sample;
use super::stages::{read_lines, run_collector};

/// The `nginx` parser of Fluent Bit's `conf/parsers.conf`.
const NGINX_PARSER: &str = r#"[PARSER]
    Name        nginx
    Format      regex
    Regex       ^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")
    Time_Key    time
    Time_Format %d/%b/%Y:%H:%M:%S %z
"#;

const OUT_FILE: &str = "fluent-bit.ndjson";

/// `Fluent Bit v5.1.1`, as `exe --version` says; fails unless `exe` is
/// Fluent Bit.
pub fn version(exe: &Path) -> Result<String> {
    let said = Command::new(exe)
        .arg("--version")
        .output()
        .with_context(|| format!("--fluent-bit {}", exe.display()))?;
    let version = String::from_utf8_lossy(&said.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !said.status.success() || !version.starts_with("Fluent Bit") {
        bail!(
            "--fluent-bit {}: `--version` did not name Fluent Bit ({})",
            exe.display(),
            said.status
        );
    }
    Ok(version)
}

/// A Fluent Bit binary with its config written.
pub struct FluentBit {
    exe: PathBuf,
    config: PathBuf,
    out: PathBuf,
    /// `Fluent Bit v5.1.1`, as the binary says.
    pub version: String,
}

impl FluentBit {
    /// Checks that `exe` runs and writes its config under `dir`.
    pub fn prepare(exe: &Path, dir: &Path, log: &Path) -> Result<FluentBit> {
        let version = version(exe)?;
        let parsers = dir.join("fluent-bit-parsers.conf");
        std::fs::write(&parsers, NGINX_PARSER)?;
        let out = dir.join("fluent-bit-out");
        // Flush 1 and Exit_On_Eof as the issue's measurement ran it: the
        // time includes Fluent Bit's last flush and its shutdown.
        let config = format!(
            "[SERVICE]
    Parsers_File {parsers}
    Flush        1
    Grace        60
    Log_Level    warn
    HTTP_Server  Off

[INPUT]
    Name           tail
    Tag            nginx.access
    Path           {log}
    Read_from_Head On
    Exit_On_Eof    On
    Parser         nginx

[OUTPUT]
    Name   file
    Match  *
    Path   {out}
    File   {OUT_FILE}
    Format plain
",
            parsers = parsers.display(),
            log = log.display(),
            out = out.display(),
        );
        let config_path = dir.join("fluent-bit.conf");
        std::fs::write(&config_path, config)?;
        Ok(FluentBit {
            exe: exe.to_owned(),
            config: config_path,
            out,
            version,
        })
    }

    /// One run from an empty output folder; checks that every line arrived.
    pub fn run(&self, run_log: &Path, lines: u64, bytes: u64) -> Result<Sample> {
        if self.out.exists() {
            std::fs::remove_dir_all(&self.out)?;
        }
        std::fs::create_dir_all(&self.out)?;
        let mut command = Command::new(&self.exe);
        command.arg("-c").arg(&self.config);
        let sample = run_collector(&mut command, run_log, lines, bytes)?;
        let out = self.out.join(OUT_FILE);
        let delivered = read_lines(&out).with_context(|| format!("reading {}", out.display()))?;
        // Its 400 MB of output, gone before the kernel writes it back
        // during the next collector's run.
        std::fs::remove_dir_all(&self.out)?;
        if delivered != lines {
            bail!(
                "{} wrote {delivered} of {lines} lines; its log is {}",
                self.exe.display(),
                run_log.display()
            );
        }
        Ok(sample)
    }
}
