//! `levee bench forward`: how fast the `forward` input takes what Fluent
//! Bit sends, as a whole process.
//!
//! Generated nginx requests, parsed into records as Fluent Bit's `nginx`
//! parser would have them, are encoded as PackedForward messages of
//! `--per-message` entries (`[[EventTime, {}], record]`, Fluent Bit's
//! default entry) into one file before any clock starts. Each run starts
//! `levee run` as a child with a `forward` source routed to a `blackhole`
//! output, sends the whole file over one loopback connection, and stops
//! the clock once the child's `/metrics` says the output counted every
//! event. The child is then stopped with SIGTERM and must say, in its
//! report, that its output counted exactly `--events`, no more; a run that
//! falls short fails the bench.
//!
//! Each row says events/s, CPU seconds (the child's user + system, its
//! start and shutdown included) and its peak RSS. `--against` runs another
//! levee build on the same bytes, alternating with this one, and
//! `--fluent-bit` a Fluent Bit binary (its `forward` input into its
//! `counter` output), as the issue's goal was measured.
//!
//! The messages are sent from a file (by `sendfile` where the system has
//! it) rather than from memory: a child inherits the peak RSS of the
//! process that starts it, so this one keeps small.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use levee_generate::{Dataset, GenerateOptions, Generator};
use levee_io::forward::{msgpack, sample};
use levee_parse::ParserConfig;

use super::usage::{self, ChildUsage};
use super::{Sample, Stage, Turns, fresh_dir, mib, stage};

#[derive(clap::Args)]
pub struct ForwardBenchArgs {
    /// Events sent in each run.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Events in each PackedForward message (Fluent Bit's chunks hold a
    /// few thousand).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub per_message: u32,
    /// Scratch folder for the encoded messages and the runs' logs; made anew.
    #[arg(long, default_value = "./levee-bench-forward")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub turns: Turns,
    /// A Fluent Bit binary: its `forward` input into its `counter` output,
    /// on the same bytes, alternating with this build.
    #[arg(long, value_name = "FLUENT_BIT")]
    pub fluent_bit: Option<PathBuf>,
    /// Keep the encoded messages (`messages.msgpack` in `--dir`), say to
    /// send them again by hand to a levee under a profiler.
    #[arg(long)]
    pub keep: bool,
}

/// The tag every message carries.
const TAG: &str = "nginx.access";

/// How long a contender may go without counting one more event before the
/// run is called failed.
const STALL: Duration = Duration::from_secs(60);

/// How often the child's count is read once everything is sent.
const POLL: Duration = Duration::from_millis(2);

/// The messages, encoded, in a file.
struct Encoded {
    path: PathBuf,
    bytes: u64,
    events: u64,
}

pub async fn bench(args: &ForwardBenchArgs) -> Result<ExitCode> {
    let this = std::env::current_exe().context("finding the levee binary")?;
    let against = args.turns.against()?;
    let dir = fresh_dir(&args.dir)?;
    let encoded = encode(&dir.join("messages.msgpack"), args.events, args.per_message)?;
    let config = write_config(&dir)?;
    let fluent_bit = match &args.fluent_bit {
        Some(exe) => Some(FluentBit::prepare(exe, &dir)?),
        None => None,
    };

    let path = "forward -> blackhole";
    let mut this_stage = stage(&format!("levee run: {path}"));
    let mut other = against
        .as_ref()
        .map(|exe| stage(&format!("{}: {path}", exe.display())));
    let mut fluent = fluent_bit
        .as_ref()
        .map(|fb| stage(&format!("{}: forward -> counter", fb.version)));
    type Contender<'a> = Box<dyn FnMut(usize) -> Result<()> + 'a>;
    let mut contenders: Vec<Contender> = vec![Box::new(|run| {
        let run_log = dir.join(format!("run-{run}.log"));
        let sample = run_levee(&this, &config, &run_log, &encoded)?;
        report(run, &this_stage.name, &sample);
        this_stage.samples.push(sample);
        Ok(())
    })];
    if let (Some(exe), Some(other)) = (&against, &mut other) {
        contenders.push(Box::new(|run| {
            let run_log = dir.join(format!("run-{run}-against.log"));
            let sample = run_levee(exe, &config, &run_log, &encoded)?;
            report(run, &other.name, &sample);
            other.samples.push(sample);
            Ok(())
        }));
    }
    if let (Some(fb), Some(fluent)) = (&fluent_bit, &mut fluent) {
        contenders.push(Box::new(|run| {
            let run_log = dir.join(format!("run-{run}-fluent-bit.log"));
            let sample = fb.run(&run_log, &encoded)?;
            report(run, &fluent.name, &sample);
            fluent.samples.push(sample);
            Ok(())
        }));
    }
    // The order turns by one each run, so that no contender always runs
    // right after the same other one.
    let runs = args.turns.runs();
    for run in 0..runs {
        for turn in 0..contenders.len() {
            let next = (run + turn) % contenders.len();
            contenders[next](run)?;
        }
    }
    drop(contenders);
    if !args.keep {
        // A gigabyte at the default size: made again in seconds.
        std::fs::remove_file(&encoded.path)?;
    }

    print_table(
        std::iter::once(&this_stage)
            .chain(other.as_ref())
            .chain(fluent.as_ref()),
        runs,
    );
    if let Some(other) = &other {
        print_ratios("this build against the other", &this_stage, other);
    }
    if let Some(fluent) = &fluent {
        print_ratios("this build against Fluent Bit", &this_stage, fluent);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `events` generated nginx requests as PackedForward messages of
/// `per_message` entries into `path`, a message at a time.
fn encode(path: &Path, events: u64, per_message: u32) -> Result<Encoded> {
    let t = Instant::now();
    let options = GenerateOptions::builder(Dataset::Nginx)
        .lines(events)
        .start("2018-09-01")
        .days(7)
        .build()?;
    let mut generator = Generator::new(options);
    let parser = toml::from_str::<ParserHolder>(&format!(
        "parser = {{ type = \"nginx\", format = \"{}\" }}",
        super::FORMAT
    ))?
    .parser
    .build()?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let (mut line, mut entries, mut message) = (Vec::new(), Vec::new(), Vec::new());
    let (mut in_message, mut entry_bytes, mut messages) = (0u32, 0u64, 0u64);
    let mut events_made = 0u64;
    loop {
        line.clear();
        let time = generator.next_line(&mut line);
        if let Some(time) = time {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let parsed = parser
                .parse(text)
                .with_context(|| format!("parsing {}", String::from_utf8_lossy(text)))?;
            let before = entries.len();
            // Fluent Bit's default entry: `[[time, metadata], record]`.
            msgpack::write_array_header(2, &mut entries);
            msgpack::write_array_header(2, &mut entries);
            msgpack::write_time(time, &mut entries);
            msgpack::write_map_header(0, &mut entries);
            sample::write_fluent_bit_record(&parsed.record, events_made, &mut entries);
            events_made += 1;
            entry_bytes += (entries.len() - before) as u64;
            in_message += 1;
        }
        if in_message > 0 && (in_message == per_message || time.is_none()) {
            // `[tag, bin(entries), {"size": n}]`.
            message.clear();
            msgpack::write_array_header(3, &mut message);
            msgpack::write_str(TAG.as_bytes(), &mut message);
            msgpack::write_bin_header(entries.len(), &mut message);
            message.extend_from_slice(&entries);
            msgpack::write_map_header(1, &mut message);
            msgpack::write_str(b"size", &mut message);
            msgpack::write_int(i64::from(in_message), &mut message);
            out.write_all(&message)?;
            entries.clear();
            in_message = 0;
            messages += 1;
        }
        if time.is_none() {
            break;
        }
    }
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_data()
        .ok();
    let bytes = std::fs::metadata(path)?.len();
    println!(
        "encoded {events} events ({:.0} bytes of msgpack each) in {messages} PackedForward messages ({:.1} MiB) in {:.2} s",
        entry_bytes as f64 / events as f64,
        mib(bytes),
        t.elapsed().as_secs_f64(),
    );
    Ok(Encoded {
        path: path.to_owned(),
        bytes,
        events,
    })
}

#[derive(serde::Deserialize)]
struct ParserHolder {
    parser: ParserConfig,
}

/// forward -> blackhole, on ports the system chooses; the output's batches
/// leave after 50 ms at most, so that the last one is not held for the
/// default second.
fn write_config(dir: &Path) -> Result<PathBuf> {
    let config = format!(
        r#"data_dir = {data:?}

[metrics]
listen = "127.0.0.1:0"

[sources.fw]
type = "forward"
listen = "127.0.0.1:0"

[outputs.count]
match = "**"
type = "blackhole"
buffer = {{ flush_interval = "50ms" }}
"#,
        data = dir.join("data").to_string_lossy(),
    );
    let path = dir.join("bench-forward.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// A child that is killed if the bench fails before it is reaped.
struct Running(Option<Child>);

impl Running {
    /// Stops the child as a service manager would, and reaps it.
    fn stop(mut self) -> Result<ChildUsage> {
        let child = self.0.take().context("the child is gone")?;
        terminate(&child);
        usage::wait_child(child)
    }

    /// Fails with what the child said if it has exited.
    fn check_alive(&mut self, run_log: &Path) -> Result<()> {
        if let Some(child) = &mut self.0
            && let Some(status) = child.try_wait()?
        {
            self.0 = None;
            let said = std::fs::read_to_string(run_log).unwrap_or_default();
            bail!("the child exited ({status}): {said}");
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(unix)]
fn terminate(child: &Child) {
    // SAFETY: kill only sends a signal, to our own child, not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}

/// One run of `levee run` by `exe`: sends every message, waits until the
/// blackhole counted every event, stops the child and checks its report.
fn run_levee(exe: &Path, config: &Path, run_log: &Path, encoded: &Encoded) -> Result<Sample> {
    let mut command = Command::new(exe);
    command
        .args(["run", "-c"])
        .arg(config)
        .env("LEVEE_LOG", "info");
    let mut child = Running(Some(
        usage::spawn_child(&mut command, run_log).with_context(|| exe.display().to_string())?,
    ));
    let (forward, metrics) = wait_for(STALL, || {
        child.check_alive(run_log)?;
        let said = std::fs::read_to_string(run_log).unwrap_or_default();
        Ok(listening(&said))
    })
    .with_context(|| format!("{} did not start listening", exe.display()))?;

    let want = encoded.events;
    let t = Instant::now();
    send(&forward, encoded)?;
    let mut counted = 0;
    let mut last_progress = Instant::now();
    wait_for(Duration::MAX, || {
        child.check_alive(run_log)?;
        let now = output_events(&scrape(&metrics), "count").unwrap_or(0);
        if now > counted {
            counted = now;
            last_progress = Instant::now();
        }
        if counted > want {
            bail!("the blackhole counted {counted} events, more than the {want} sent");
        }
        if last_progress.elapsed() > STALL {
            bail!("the blackhole counted {counted} of {want} events, then nothing for {STALL:?}");
        }
        Ok((counted == want).then_some(()))
    })
    .with_context(|| format!("{}; its log is {}", exe.display(), run_log.display()))?;
    let wall = t.elapsed();

    let usage = child.stop()?;
    let said = std::fs::read_to_string(run_log).unwrap_or_default();
    if !usage.status.success() {
        bail!("{} failed ({}): {said}", exe.display(), usage.status);
    }
    // Its own last word, after the clock: nothing more came, none twice.
    let reported = said
        .lines()
        .find_map(|l| l.strip_prefix("output count: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    if reported != Some(want) {
        bail!(
            "{}: its report says the blackhole counted {reported:?} events, not {want}; its log is {}",
            exe.display(),
            run_log.display()
        );
    }
    Ok(sample(encoded, wall, &usage))
}

/// The forward and metrics addresses a `levee run` logged at start.
fn listening(said: &str) -> Option<(String, String)> {
    let mut forward = None;
    let mut metrics = None;
    for line in said.lines() {
        if let Some((_, rest)) = line.split_once("metrics on http://") {
            metrics = rest.split('/').next().map(str::to_owned);
        }
        if line.contains("forward source listening")
            && let Some((_, rest)) = line.split_once("listen=")
        {
            forward = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    Some((forward?, metrics?))
}

/// Calls `check` every [`POLL`] until it gives a value or fails; fails
/// after `within`.
fn wait_for<T>(within: Duration, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() > within {
            bail!("nothing after {within:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// Every message over one connection, then the end of the stream.
fn send(addr: &str, encoded: &Encoded) -> Result<()> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    let mut file = File::open(&encoded.path)?;
    // From a file to a socket, std copies inside the kernel (sendfile).
    let sent = std::io::copy(&mut file, &mut stream).context("sending the messages")?;
    if sent != encoded.bytes {
        bail!("sent {sent} of {} bytes", encoded.bytes);
    }
    stream.shutdown(Shutdown::Write)?;
    Ok(())
}

/// `/metrics` of the child at `addr`; empty if it did not answer.
fn scrape(addr: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err()
        || stream.read_to_string(&mut response).is_err()
    {
        return String::new();
    }
    response
}

/// `levee_output_events_total` of the output `name`, from Prometheus text.
fn output_events(text: &str, name: &str) -> Option<u64> {
    let label = format!("output=\"{name}\"");
    text.lines()
        .filter(|l| l.starts_with("levee_output_events_total{") && l.contains(&label))
        .find_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|n| n as u64)
}

fn sample(encoded: &Encoded, wall: Duration, usage: &ChildUsage) -> Sample {
    Sample {
        lines: encoded.events,
        bytes: encoded.bytes,
        wall,
        cpu: usage.cpu,
        peak_rss: usage.peak_rss,
    }
}

/// One line per run, as it ends: the count is the proof.
fn report(run: usize, name: &str, s: &Sample) {
    println!(
        "run {}: {name}: counted {} of {} events in {:.2} s",
        run + 1,
        s.lines,
        s.lines,
        s.wall.as_secs_f64()
    );
}

/// Fluent Bit's forward input into its counter output.
struct FluentBit {
    exe: PathBuf,
    config: PathBuf,
    port: u16,
    /// `Fluent Bit v5.1.1`, as the binary says.
    version: String,
}

impl FluentBit {
    /// Checks that `exe` runs and writes its config under `dir`.
    fn prepare(exe: &Path, dir: &Path) -> Result<FluentBit> {
        let version = super::fluent_bit::version(exe)?;
        // A port free now; Fluent Bit can't be asked for port 0 and tell.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // Flush as often as levee's blackhole is (50 ms), so that neither
        // holds its last batch longer.
        let config = format!(
            "[SERVICE]
    Flush        0.05
    Grace        1
    Log_Level    info
    HTTP_Server  Off

[INPUT]
    Name   forward
    Listen 127.0.0.1
    Port   {port}

[OUTPUT]
    Name   counter
    Match  *
"
        );
        let path = dir.join("fluent-bit-forward.conf");
        std::fs::write(&path, config)?;
        Ok(FluentBit {
            exe: exe.to_owned(),
            config: path,
            port,
            version,
        })
    }

    /// One run: its counter's `(total = N)` must reach the events sent.
    fn run(&self, run_log: &Path, encoded: &Encoded) -> Result<Sample> {
        let mut command = Command::new(&self.exe);
        command.arg("-c").arg(&self.config);
        let mut child = Running(Some(usage::spawn_child(&mut command, run_log)?));
        let addr = format!("127.0.0.1:{}", self.port);
        wait_for(STALL, || {
            child.check_alive(run_log)?;
            Ok(TcpStream::connect(&addr).ok().map(drop))
        })
        .with_context(|| format!("{} did not listen on {addr}", self.exe.display()))?;
        let want = encoded.events;
        let t = Instant::now();
        send(&addr, encoded)?;
        let mut counted = 0;
        let mut last_progress = Instant::now();
        wait_for(Duration::MAX, || {
            child.check_alive(run_log)?;
            let said = std::fs::read_to_string(run_log).unwrap_or_default();
            let now = said
                .rsplit("(total = ")
                .next()
                .filter(|_| said.contains("(total = "))
                .and_then(|rest| rest.split(')').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if now > counted {
                counted = now;
                last_progress = Instant::now();
            }
            if counted > want {
                bail!("its counter says {counted} events, more than the {want} sent");
            }
            if last_progress.elapsed() > STALL {
                bail!("its counter says {counted} of {want} events, then nothing for {STALL:?}");
            }
            Ok((counted == want).then_some(()))
        })
        .with_context(|| format!("{}; its log is {}", self.exe.display(), run_log.display()))?;
        let wall = t.elapsed();
        let usage = child.stop()?;
        Ok(sample(encoded, wall, &usage))
    }
}

fn print_table<'a>(stages: impl IntoIterator<Item = &'a Stage>, runs: usize) {
    let range = if runs > 1 {
        format!(" | events/s, {runs} runs | peak RSS MiB, {runs} runs")
    } else {
        String::new()
    };
    let range_rule = if runs > 1 { "---|---|" } else { "" };
    println!(
        "\n| contender | events/s | MiB/s | wall s | CPU s | events per CPU-s | peak RSS MiB{range} |\n|---|---:|---:|---:|---:|---:|---:|{range_rule}"
    );
    for stage in stages {
        let s = stage.median();
        let (wall, cpu) = (s.wall.as_secs_f64(), s.cpu.as_secs_f64());
        let spread = if runs > 1 {
            let (lo, hi) = min_max(stage.samples.iter().map(events_per_sec));
            let rss = stage.samples.iter().filter_map(|s| s.peak_rss).map(mib);
            let rss = if stage.samples.iter().any(|s| s.peak_rss.is_some()) {
                let (lo, hi) = min_max(rss);
                format!("{lo:.0}-{hi:.0}")
            } else {
                "n/a".to_owned()
            };
            format!(" | {lo:.0}-{hi:.0} | {rss}")
        } else {
            String::new()
        };
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {}{spread} |",
            stage.name,
            events_per_sec(&s),
            mib(s.bytes) / wall,
            wall,
            cpu,
            if cpu > 0.0 { s.lines as f64 / cpu } else { 0.0 },
            s.peak_rss
                .map_or("n/a".to_owned(), |b| format!("{:.0}", mib(b))),
        );
    }
    if runs > 1 {
        println!("\n(each row is the run with the median wall time)");
    }
    println!(
        "(wall: from connecting to the last event counted; CPU and peak RSS: the whole child)"
    );
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// This build against another contender, medians of each.
fn print_ratios(label: &str, this: &Stage, other: &Stage) {
    let (a, b) = (this.median(), other.median());
    let rss = |s: &Sample| s.peak_rss.map_or(f64::NAN, mib);
    println!(
        "\n{label}: {:.2}x the events/s, {:.2}x the CPU seconds, peak RSS {:.0} against {:.0} MiB",
        events_per_sec(&a) / events_per_sec(&b),
        a.cpu.as_secs_f64() / b.cpu.as_secs_f64(),
        rss(&a),
        rss(&b),
    );
}

fn events_per_sec(s: &Sample) -> f64 {
    s.lines as f64 / s.wall.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_addresses_come_from_the_start_up_log() {
        let said = "2026-12-05T15:00:00Z  INFO metrics on http://127.0.0.1:4000/metrics\n\
                    2026-12-05T15:00:00Z  INFO forward source listening source=fw listen=127.0.0.1:4001\n";
        assert_eq!(
            listening(said),
            Some(("127.0.0.1:4001".to_owned(), "127.0.0.1:4000".to_owned()))
        );
        assert_eq!(
            listening("metrics on http://127.0.0.1:4000/metrics\n"),
            None
        );
    }

    #[test]
    fn the_count_is_the_blackholes_own() {
        let text = "levee_output_events_total{output=\"other\",type=\"file\"} 7\n\
                    levee_output_events_total{output=\"count\",type=\"blackhole\"} 5000000\n";
        assert_eq!(output_events(text, "count"), Some(5_000_000));
        assert_eq!(output_events(text, "none"), None);
    }
}
