//! `levee top`: a terminal view of a running pipeline, read from its
//! metrics endpoint (levee's, Fluentd's or Fluent Bit's) every `--every`:
//! a row per source, filter and output with its rates, buffer and the row
//! falling behind highlighted.
//!
//! The page is fetched on the runtime; the terminal (keys and drawing) is
//! driven from a blocking thread, so a slow endpoint never freezes the
//! keys and a key press never waits on the network.

mod draw;
mod view;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use levee_pipeline::metrics::flow::{Snapshot, Watch, rates};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::time::MissedTickBehavior;

use super::metrics::{fetch, http};
use view::{Key, View};

/// Intervals in a row a component must be behind before its row is
/// highlighted (a full buffer is at once): one slow flush is not news.
const BEHIND_FOR: u32 = 2;

#[derive(clap::Args)]
pub struct TopArgs {
    /// The metrics page to read: levee's (`[metrics] listen`), Fluentd's
    /// or Fluent Bit's (`http://host:2020/api/v2/metrics/prometheus`).
    /// Without a path, `/metrics`.
    #[arg(long, default_value = "http://127.0.0.1:24231", value_parser = page_url)]
    url: String,
    /// Read the page this often (`2s`, `500ms`); rates are per second
    /// between two readings.
    #[arg(long, default_value = "2s", value_parser = every)]
    every: Duration,
    /// A file holding the bearer token the endpoint asks for.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Print one plain table (from two readings `--every` apart) and exit,
    /// for scripts.
    #[arg(long)]
    once: bool,
}

/// `--url`: checked at start; `/metrics` when no path is given.
fn page_url(text: &str) -> Result<String, String> {
    http::parse_url(text).map_err(|e| e.to_string())?;
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    if after_scheme.contains('/') {
        Ok(text.to_owned())
    } else {
        Ok(format!("{text}/metrics"))
    }
}

/// `--every`: at least 100 ms, so the view never spins on the endpoint.
fn every(text: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if every < Duration::from_millis(100) {
        return Err("must be at least 100ms".to_owned());
    }
    Ok(every)
}

/// Where to read and how.
#[derive(Clone)]
struct Endpoint {
    url: String,
    token: Option<String>,
    timeout: Duration,
}

impl Endpoint {
    /// The page's components now, or why not.
    async fn read(&self) -> Result<Snapshot> {
        let page = fetch::get_with_token(&self.url, self.timeout, self.token.as_deref())
            .await
            .with_context(|| format!("reading {}", self.url))?;
        Snapshot::from_page(&page).with_context(|| format!("parsing the page of {}", self.url))
    }
}

/// The token in `path`: one line of visible text.
fn read_token(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let token = text.trim();
    if !levee_pipeline::http_server::valid_token(token) {
        bail!(
            "the token file {} must hold one line: the token (visible ASCII, no spaces)",
            path.display()
        );
    }
    Ok(token.to_owned())
}

pub async fn top(args: &TopArgs) -> Result<ExitCode> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let endpoint = Endpoint {
        url: args.url.clone(),
        token,
        // A reading that takes longer than the interval is late anyway;
        // a second at least, for a busy endpoint polled fast.
        timeout: args.every.max(Duration::from_secs(1)),
    };
    if args.once {
        return once(&endpoint, args.every).await;
    }
    if !std::io::stdout().is_terminal() {
        bail!("levee top draws on a terminal; --once prints a plain table");
    }
    live(endpoint, args.every).await
}

/// Two readings `every` apart, one plain table.
async fn once(endpoint: &Endpoint, every: Duration) -> Result<ExitCode> {
    let start = Instant::now();
    let first = endpoint.read().await?;
    tokio::time::sleep_until((start + every).into()).await;
    let seconds = start.elapsed().as_secs_f64();
    let second = endpoint.read().await?;
    let rates = rates(&first, &second, seconds);
    let behind = Watch::new(1).update(&rates);
    let mut view = View::default();
    view.set_rows(rates, behind);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(view.plain().as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// One reading: when it started, and the page or why there is none.
struct Reading {
    at: Instant,
    page: Result<Snapshot, String>,
}

async fn live(endpoint: Endpoint, every: Duration) -> Result<ExitCode> {
    // A few readings of slack: if the view falls behind, readings are
    // skipped (the next rate spans the gap), never queued without end.
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let reader = tokio::spawn(read_every(endpoint.clone(), every, tx));
    // SIGTERM (a `kill`) ends the view as `q` does, so the terminal is
    // put back; in raw mode Ctrl-C arrives as a key.
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = tokio::spawn({
        let stop = stop.clone();
        async move {
            super::metrics::stop_signal().await;
            stop.store(true, Ordering::Relaxed);
        }
    });
    let url = endpoint.url.clone();
    let shown = tokio::task::spawn_blocking(move || show(rx, url, every, &stop)).await;
    reader.abort();
    stopper.abort();
    shown.context("the terminal view stopped")??;
    Ok(ExitCode::SUCCESS)
}

/// Reads the page every `every` (on one clock: a slow reading is followed
/// at once by the next, then back on time) until the view is gone.
async fn read_every(endpoint: Endpoint, every: Duration, tx: SyncSender<Reading>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let at = Instant::now();
        let page = endpoint.read().await.map_err(|e| crate::said_once(&e));
        if let Err(TrySendError::Disconnected(_)) = tx.try_send(Reading { at, page }) {
            return;
        }
    }
}

/// What the screen shows besides the table.
pub(crate) struct Live {
    view: View,
    watch: Watch,
    previous: Option<(Instant, Snapshot)>,
    url: String,
    every: Duration,
    /// The last reading's error, if it failed, and when the last good one was.
    failing: Option<String>,
    last_good: Option<Instant>,
}

impl Live {
    fn new(url: String, every: Duration) -> Live {
        Live {
            view: View::default(),
            watch: Watch::new(BEHIND_FOR),
            previous: None,
            url,
            every,
            failing: None,
            last_good: None,
        }
    }

    fn add(&mut self, reading: Reading) {
        let snapshot = match reading.page {
            Ok(snapshot) => snapshot,
            Err(why) => {
                self.failing = Some(why);
                return;
            }
        };
        self.failing = None;
        self.last_good = Some(reading.at);
        match &self.previous {
            Some((at, before)) => {
                let seconds = reading.at.duration_since(*at).as_secs_f64();
                let rates = rates(before, &snapshot, seconds);
                let behind = self.watch.update(&rates);
                self.view.set_rows(rates, behind);
            }
            // The first reading: figures, no rates yet.
            None => self
                .view
                .set_rows(rates(&Snapshot::default(), &snapshot, 0.0), None),
        }
        self.previous = Some((reading.at, snapshot));
    }
}

/// Puts the terminal back as it was, however the view ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The terminal's loop: draw when something changed, take keys, take
/// readings, until `q`, Ctrl-C or `stop`.
fn show(rx: Receiver<Reading>, url: String, every: Duration, stop: &AtomicBool) -> Result<()> {
    // ratatui's init also restores the terminal on a panic.
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let _restore = Restore;
    let mut live = Live::new(url, every);
    let mut dirty = true;
    while !stop.load(Ordering::Relaxed) {
        if dirty {
            terminal
                .draw(|frame| draw::draw(frame, &live))
                .context("drawing")?;
            dirty = false;
        }
        // Keys are answered within 100 ms; readings are taken as they come.
        if event::poll(Duration::from_millis(100)).context("reading keys")? {
            match event::read().context("reading keys")? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    let ctrl_c =
                        k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
                    let key = match k.code {
                        KeyCode::Char(c) => Some(Key::Char(c)),
                        KeyCode::Enter => Some(Key::Enter),
                        KeyCode::Esc => Some(Key::Esc),
                        KeyCode::Backspace => Some(Key::Backspace),
                        _ => None,
                    };
                    if ctrl_c || key.is_some_and(|key| live.view.key(key)) {
                        return Ok(());
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        loop {
            match rx.try_recv() {
                Ok(reading) => {
                    live.add(reading);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => bail!("the page reader stopped"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_a_path_reads_metrics() {
        assert_eq!(
            page_url("http://127.0.0.1:24231").unwrap(),
            "http://127.0.0.1:24231/metrics"
        );
        assert_eq!(
            page_url("http://h:2020/api/v2/metrics/prometheus").unwrap(),
            "http://h:2020/api/v2/metrics/prometheus"
        );
        assert!(page_url("127.0.0.1:24231").is_err());
    }

    #[test]
    fn a_failed_reading_keeps_the_rows_and_says_why() {
        let page = |n: u64| {
            Snapshot::from_page(&format!(
                "levee_source_events_total{{source=\"gen\"}} {n}\n"
            ))
            .map_err(|e| e.to_string())
        };
        let start = Instant::now();
        let mut live = Live::new("http://x/metrics".into(), Duration::from_secs(1));
        live.add(Reading {
            at: start,
            page: page(100),
        });
        assert_eq!(live.view.visible()[0].rates.events_in_per_s, None);
        live.add(Reading {
            at: start + Duration::from_secs(2),
            page: page(300),
        });
        assert_eq!(live.view.visible()[0].rates.events_in_per_s, Some(100.0));
        live.add(Reading {
            at: start + Duration::from_secs(4),
            page: Err("connection refused".into()),
        });
        assert_eq!(live.failing.as_deref(), Some("connection refused"));
        assert_eq!(live.view.visible().len(), 1, "the last rows stay");
        live.add(Reading {
            at: start + Duration::from_secs(6),
            page: page(700),
        });
        assert_eq!(live.failing, None);
        assert_eq!(live.view.visible()[0].rates.events_in_per_s, Some(100.0));
    }
}
