//! The measured stages: reading, parsing, and the collector as a child.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use levee_parse::ParserConfig;

use super::usage::{self, run_child};
use super::{FORMAT, Sample};

/// Runs `work` in this process, timing wall and CPU.
pub fn measure(bytes: u64, work: impl FnOnce() -> Result<u64>) -> Result<Sample> {
    let cpu0 = usage::self_cpu();
    let t = Instant::now();
    let lines = work()?;
    Ok(Sample {
        lines,
        bytes,
        wall: t.elapsed(),
        cpu: usage::self_cpu().saturating_sub(cpu0),
        peak_rss: usage::self_peak_rss(),
    })
}

pub fn read_lines(path: &Path) -> Result<u64> {
    count_lines(std::fs::File::open(path)?)
}

/// Newlines read from `input`, a megabyte at a time. Never more in memory:
/// a child started later inherits this process's peak RSS in its own.
pub fn count_lines(mut input: impl Read) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

pub fn parse_lines(path: &Path) -> Result<u64> {
    let parser = toml::from_str::<ParserHolder>(&format!(
        "parser = {{ type = \"nginx\", format = \"{FORMAT}\" }}"
    ))?
    .parser
    .build()?;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = Vec::new();
    let (mut lines, mut failed) = (0u64, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&buf[..n]);
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &carry) {
            match parser.parse(&carry[start..nl]) {
                Ok(parsed) => drop(std::hint::black_box(parsed)),
                Err(_) => failed += 1,
            }
            lines += 1;
            start = nl + 1;
        }
        carry.drain(..start);
    }
    if failed > lines / 1000 {
        bail!("{failed} of {lines} lines failed to parse");
    }
    Ok(lines)
}

#[derive(serde::Deserialize)]
struct ParserHolder {
    parser: ParserConfig,
}

/// A counter labelled by a record field, as the user meters API calls: what
/// `--metric` adds after the record filter.
pub const METRIC_FILTER: &str = r#"
[[filters]]
match = "firehose_parsed.**"
type = "metric"
name = "outgoing_msg"
kind = "counter"
labels = { type = "$.api_call" }
"#;

/// Writes the collector's config into `dir` as `name`: tail -> nginx ->
/// record -> `extra_filters` -> lake, with failed lines to a file.
pub fn write_config(
    dir: &Path,
    log: &Path,
    name: &str,
    extra_filters: &str,
) -> Result<std::path::PathBuf> {
    let config = format!(
        r#"data_dir = {data:?}

[sources.nginx]
type = "tail"
paths = [{log:?}]
tag = "nginx.access"
parser = {{ type = "nginx", format = "{FORMAT}" }}

[[filters]]
match = "nginx.**"
type = "record"
set = {{ api_call = "${{method|lower}}_${{path|segment(2)}}", status_class = "${{status|status_class}}" }}
retag = "firehose_parsed.nginx"
{extra_filters}
[outputs.lake]
match = "firehose_parsed.**"
type = "lake"
lake = {lake:?}
database = "bench"
table = "api_calls"

[outputs.errors]
match = "@ERROR"
type = "file"
path = {errors:?}
"#,
        data = dir.join("data").to_string_lossy(),
        log = log.to_string_lossy(),
        lake = dir.join("lake").to_string_lossy(),
        errors = dir.join("errors.ndjson").to_string_lossy(),
    );
    let path = dir.join(name);
    std::fs::write(&path, config)?;
    Ok(path)
}

/// One run of `levee run --exit-on-eof` by the binary `exe`, as a user runs
/// it, in a child process, from an empty lake; checks that every line
/// arrived. The child's output goes to `run_log`.
pub fn whole_path(
    exe: &Path,
    dir: &Path,
    config: &Path,
    run_log: &Path,
    lines: u64,
    bytes: u64,
) -> Result<Sample> {
    for leftover in ["lake", "data"] {
        let path = dir.join(leftover);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    let errors_path = dir.join("errors.ndjson");
    if errors_path.exists() {
        std::fs::remove_file(&errors_path)?;
    }
    let sample = run_collector(
        Command::new(exe)
            .args(["run", "--exit-on-eof", "-c"])
            .arg(config)
            .env("LEVEE_LOG", "warn"),
        run_log,
        lines,
        bytes,
    )?;
    let delivered = count_lake_lines(&dir.join("lake"))?;
    let errors = std::fs::read_to_string(&errors_path).map_or(0, |t| t.lines().count() as u64);
    if delivered + errors != lines {
        bail!(
            "{}: the lake holds {delivered} lines and the error file {errors}, not {lines}",
            exe.display()
        );
    }
    Ok(sample)
}

/// Runs a collector to its end as a child, timed, with its output in
/// `run_log`; fails with what it said unless it succeeded. What it
/// delivered is for the caller to check.
pub fn run_collector(
    command: &mut Command,
    run_log: &Path,
    lines: u64,
    bytes: u64,
) -> Result<Sample> {
    let name = command.get_program().to_string_lossy().into_owned();
    let t = Instant::now();
    let usage = run_child(command, run_log).with_context(|| format!("running {name}"))?;
    let wall = t.elapsed();
    if !usage.status.success() {
        let said = std::fs::read_to_string(run_log).unwrap_or_default();
        bail!("{name} failed ({}): {said}", usage.status);
    }
    Ok(Sample {
        lines,
        bytes,
        wall,
        cpu: usage.cpu,
        peak_rss: usage.peak_rss,
    })
}

/// Every line of every zstd chunk under `dir`: proof that all arrived.
fn count_lake_lines(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            total += count_lake_lines(&path)?;
        } else if path.to_string_lossy().ends_with(".ndjson.zst") {
            total += count_lines(zstd::Decoder::new(std::fs::File::open(&path)?)?)?;
        }
    }
    Ok(total)
}
