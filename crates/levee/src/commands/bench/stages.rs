//! The measured stages: reading, parsing, and the collector as a child.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use levee_lake::{ChunkCompression, Lake, TableRef};
use levee_parse::ParserConfig;
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStoreExt};

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
/// record -> `extra_filters` -> `lake`, with failed lines to a file.
pub fn write_config(
    dir: &Path,
    log: &Path,
    lake: &BenchLake,
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
        lake = lake.location(),
        errors = dir.join("errors.ndjson").to_string_lossy(),
    );
    let path = dir.join(name);
    std::fs::write(&path, config)?;
    Ok(path)
}

/// One run of `levee run --exit-on-eof` by the binary `exe`, as a user runs
/// it, in a child process, from an empty lake; checks that every line
/// arrived, and says what the lake holds. The child's output goes to
/// `run_log`.
pub fn whole_path(
    exe: &Path,
    dir: &Path,
    lake: &BenchLake,
    config: &Path,
    run_log: &Path,
    lines: u64,
    bytes: u64,
) -> Result<(Sample, LakeReport)> {
    let data = dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    lake.clear()?;
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
    let report = lake.report()?;
    let delivered = report.lines;
    let errors = std::fs::read_to_string(&errors_path).map_or(0, |t| t.lines().count() as u64);
    if delivered + errors != lines {
        bail!(
            "{}: the lake holds {delivered} lines and the error file {errors}, not {lines}",
            exe.display()
        );
    }
    Ok((sample, report))
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

/// The benchmark's table in its lake.
const DATABASE: &str = "bench";
const TABLE: &str = "api_calls";

/// The object that marks a lake on an object store as the benchmark's, so
/// that it may be emptied before each run (as `.levee-bench` marks `--dir`).
const MARKER: &str = ".levee-bench";

/// Where the collector writes: `<dir>/lake`, or `--lake`'s URL.
pub struct BenchLake {
    lake: Lake,
    /// The folder of a local lake, emptied by removing it.
    local: Option<PathBuf>,
}

impl BenchLake {
    /// `url` (an `s3://` lake, reached as the AWS environment and profile
    /// say), else `<dir>/lake`. A lake on a store must be empty or the
    /// benchmark's (its root holds [`MARKER`]): it is emptied before each
    /// run.
    pub fn prepare(url: Option<&str>, dir: &Path) -> Result<BenchLake> {
        let Some(url) = url else {
            let local = dir.join("lake");
            let lake = Lake::open(&local.to_string_lossy())?;
            return Ok(BenchLake {
                lake,
                local: Some(local),
            });
        };
        if Lake::local_path(url).is_ok() {
            bail!(
                "--lake {url}: give an object store's URL (s3://bucket/prefix); a local lake is <--dir>/lake"
            );
        }
        let lake = Lake::open(url)?;
        let bench = BenchLake { lake, local: None };
        let keys = bench.keys()?;
        let marker = Key::from(MARKER);
        if !keys.is_empty() && !keys.contains(&marker) {
            bail!(
                "--lake {url} holds {} objects and is not a levee bench lake (no {MARKER}); \
                 choose an empty prefix",
                keys.len()
            );
        }
        block_on(
            bench
                .lake
                .store
                .put(&marker, "made by `levee bench`\n".into()),
        )
        .with_context(|| format!("writing {url}/{MARKER}"))?;
        Ok(bench)
    }

    /// The lake's location in the collector's config.
    pub fn location(&self) -> String {
        match &self.local {
            Some(path) => path.to_string_lossy().into_owned(),
            None => self.lake.location.clone(),
        }
    }

    /// Every object's key under the lake's root.
    fn keys(&self) -> Result<Vec<Key>> {
        let listed: Vec<ObjectMeta> = block_on(self.lake.store.list(None).try_collect())
            .with_context(|| format!("listing {}", self.lake.location))?;
        Ok(listed.into_iter().map(|m| m.location).collect())
    }

    /// Empties the lake (but its marker) before a run.
    fn clear(&self) -> Result<()> {
        if let Some(local) = &self.local {
            if local.exists() {
                std::fs::remove_dir_all(local)?;
            }
            return Ok(());
        }
        for key in self.keys()? {
            if key.as_ref() != MARKER {
                block_on(self.lake.store.delete(&key))
                    .with_context(|| format!("deleting {key} from {}", self.lake.location))?;
            }
        }
        Ok(())
    }

    /// The table's chunks after a run: their sizes by hour, and their
    /// lines (every zstd chunk read back: proof that all arrived).
    fn report(&self) -> Result<LakeReport> {
        let table = TableRef::new(DATABASE, TABLE)?;
        let lake = &self.lake;
        block_on(async {
            let mut report = LakeReport::default();
            for (_, chunks) in lake.list_chunk_hours(&table).await? {
                let mut sizes = Vec::with_capacity(chunks.len());
                for chunk in chunks {
                    if chunk.compression != ChunkCompression::Zstd {
                        bail!("{}: the benchmark writes zstd chunks", chunk.key);
                    }
                    let body = lake.store.get(&chunk.key).await?.bytes().await?;
                    report.lines += count_lines(zstd::Decoder::new(&body[..])?)?;
                    sizes.push(chunk.size);
                }
                report.hours.push(sizes);
            }
            Ok(report)
        })
    }
}

/// What one run left in the lake: each hour's chunk sizes, and the lines
/// in them.
#[derive(Default)]
pub struct LakeReport {
    /// Per partition (hour of event time), the sizes of its chunks.
    pub hours: Vec<Vec<u64>>,
    /// Lines in all chunks.
    pub lines: u64,
}

impl LakeReport {
    /// Objects per hour and bytes per object, as lines to print.
    pub fn summary(&self, location: &str) -> String {
        let mut per_hour: Vec<u64> = self.hours.iter().map(|h| h.len() as u64).collect();
        let mut sizes: Vec<u64> = self.hours.iter().flatten().copied().collect();
        let objects = sizes.len() as u64;
        let total: u64 = sizes.iter().sum();
        if objects == 0 {
            return format!("lake {location}: no chunks");
        }
        let spread = |v: &mut Vec<u64>| {
            v.sort_unstable();
            (v[0], v[v.len() / 2], v[v.len() - 1])
        };
        let (h_min, h_med, h_max) = spread(&mut per_hour);
        let (s_min, s_med, s_max) = spread(&mut sizes);
        let kib = |b: u64| b as f64 / 1024.0;
        format!(
            "lake {location}: {objects} chunk objects, {:.1} MiB, over {} hours of event time\n\
             objects per hour: {:.1} on average (min {h_min}, median {h_med}, max {h_max})\n\
             bytes per object: {:.1} KiB on average (min {:.1}, median {:.1}, max {:.1} KiB)",
            total as f64 / 1_048_576.0,
            self.hours.len(),
            objects as f64 / self.hours.len() as f64,
            kib(total / objects),
            kib(s_min),
            kib(s_med),
            kib(s_max),
        )
    }
}

/// Runs `work` on the runtime from the synchronous stages (the benchmark
/// runs on the multi-threaded one).
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(work))
}
