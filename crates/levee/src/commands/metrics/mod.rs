//! `levee metrics export`: read a Prometheus endpoint and print its samples
//! in a format for systems that don't scrape.

pub(crate) mod fetch;
pub mod format;
pub(crate) mod http;
mod push;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use levee_pipeline::metrics::parse::parse;
use tokio::time::MissedTickBehavior;

use format::{Format, Naming};
use push::{Pusher, Target};

#[derive(clap::Subcommand)]
pub enum MetricsCommand {
    /// Read a Prometheus endpoint (levee's, Fluentd's, anyone's) and print
    /// one line per sample. A timeout, an unreachable endpoint or a
    /// malformed page prints no line and exits 1; with `--every` it is said
    /// on stderr and polling goes on.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The page to read, `http://host:port/path` or `https://…` (trusting
    /// the system's roots, or `SSL_CERT_FILE`'s).
    #[arg(long, value_parser = url)]
    url: String,
    /// The line format. With `--push` it may be left out: graphite for
    /// `tcp://`, json for `http(s)://`.
    #[arg(long, value_enum, required_unless_present = "push")]
    format: Option<Format>,
    /// Put before every metric name, as given (include a separator).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Remove from the start of metric names, e.g. `fluentd_`.
    #[arg(long)]
    strip_prefix: Option<String>,
    /// How long the fetch may take in all (`5s`, `500ms`).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Poll this often (`60s`) until stopped (Ctrl-C or SIGTERM, between
    /// polls), instead of once. A failed poll is said on stderr, writes no
    /// line, and the next poll comes on time.
    #[arg(long, value_parser = every)]
    every: Option<Duration>,
    /// Send the lines here instead of stdout: `tcp://host:2003` (a
    /// Graphite-compatible receiver; the connection is kept and remade when
    /// it fails) or `http(s)://…` (one POST of the lines per poll). The
    /// timeout bounds each send too.
    #[arg(long, value_parser = Target::parse)]
    push: Option<Target>,
}

/// `--url`: checked at start, so a URL that can never work is a usage error
/// rather than a failed poll every minute.
fn url(text: &str) -> Result<String, String> {
    http::parse_url(text).map_err(|e| e.to_string())?;
    Ok(text.to_owned())
}

/// `--every`: a duration of at least a millisecond.
fn every(text: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if every < Duration::from_millis(1) {
        return Err("must be at least 1ms".to_owned());
    }
    Ok(every)
}

pub async fn metrics(command: &MetricsCommand) -> Result<ExitCode> {
    match command {
        MetricsCommand::Export(args) => export(args).await,
    }
}

async fn export(args: &ExportArgs) -> Result<ExitCode> {
    let naming = Naming {
        strip_prefix: args.strip_prefix.clone(),
        prefix: args.prefix.clone(),
    };
    let format = match (args.format, &args.push) {
        (Some(format), _) => format,
        (None, Some(target)) => target.default_format(),
        (None, None) => bail!("--format is needed without --push"),
    };
    let mut pusher = args
        .push
        .clone()
        .map(|target| Pusher::new(target, format, args.timeout));
    let trap = pusher.as_ref().is_some_and(Pusher::is_httptrap);
    let Some(every) = args.every else {
        let lines = poll(args, format, &naming, trap).await?;
        match &mut pusher {
            Some(pusher) => pusher.send(&lines).await?,
            None => write_stdout(&lines)?,
        }
        return Ok(ExitCode::SUCCESS);
    };
    let mut ticks = poll_clock(every);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        // A stop drops a fetch under way, never a send: no receiver is
        // left with part of a poll.
        let polled = tokio::select! {
            () = &mut stop => return Ok(ExitCode::SUCCESS),
            polled = async {
                ticks.tick().await;
                poll(args, format, &naming, trap).await
            } => polled,
        };
        let sent = match (polled, &mut pusher) {
            (Ok(lines), Some(pusher)) => pusher.send(&lines).await,
            // Stdout gone (a closed pipe) ends the export: no later poll
            // could be written either.
            (Ok(lines), None) => {
                write_stdout(&lines)?;
                Ok(())
            }
            (Err(e), _) => Err(e),
        };
        if let Err(e) = sent {
            eprintln!(
                "levee: {}: {}; polling goes on",
                humantime::format_rfc3339_seconds(SystemTime::now()),
                crate::said_once(&e)
            );
        }
    }
}

/// When polls start: at 0, `every`, 2 × `every`, … from the first. After a
/// poll that runs past the next start, one poll starts at once and the
/// ones after it are back on that clock: no burst of the missed ones, no
/// drift.
fn poll_clock(every: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticks
}

/// One poll: the page of `args.url` as lines, or why there are none.
async fn poll(args: &ExportArgs, format: Format, naming: &Naming, trap: bool) -> Result<String> {
    let page = fetch::get(&args.url, args.timeout)
        .await
        .with_context(|| format!("reading {}", args.url))?;
    let families = parse(&page).with_context(|| format!("parsing the page of {}", args.url))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // The whole output is made before any of it is written.
    let mut out = String::new();
    if trap {
        format::write_httptrap(&families, naming, &mut out);
    } else {
        format::write(&families, format, naming, now_ms, &mut out);
    }
    Ok(out)
}

/// Writes one poll's lines with one call, so they go out whole.
fn write_stdout(lines: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(lines.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::poll_clock;

    /// A poll that overran its minute (to 70 s): the next starts at once,
    /// the one after at 120 s on the first poll's clock, then 180 s.
    #[tokio::test(start_paused = true)]
    async fn a_slow_poll_skips_a_start_and_the_clock_holds() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut ticks = poll_clock(minute);
        ticks.tick().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(70)).await;
        ticks.tick().await;
        assert_eq!(start.elapsed(), Duration::from_secs(70));
        ticks.tick().await;
        assert_eq!(start.elapsed(), 2 * minute);
        ticks.tick().await;
        assert_eq!(start.elapsed(), 3 * minute);
    }
}
