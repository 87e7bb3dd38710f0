//! Deterministic, realistic traffic: nginx access logs of an email-sending
//! API, or SparkPost-like email events as JSON lines.
//!
//! Demo traffic, not part of the collector: `levee generate`, the `generate`
//! source, the demo, the tests and the benchmarks all read the same
//! [`Generator`], with options checked once by [`GenerateOptions::builder`]:
//! the same options give the same bytes. Lines come in increasing event
//! time, spread over `days` with a daily rhythm, and each is written into a
//! caller's buffer without allocating.

#![warn(missing_docs)]

mod events;
mod nginx;
mod pick;
mod reasons;
mod timeline;
mod vocab;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use std::time::{SystemTime, UNIX_EPOCH};

use levee_event::time::{NANOS_PER_SEC, parse_date};

use events::Events;
use nginx::Nginx;
use timeline::Timeline;

/// Which kind of traffic to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// nginx `combined` access log lines plus ` $request_time`, from API
    /// servers behind nginx.
    Nginx,
    /// SparkPost-like email events, one JSON object per line.
    Events,
}

impl Dataset {
    /// The name used in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Nginx => "nginx",
            Dataset::Events => "events",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset name that is neither `nginx` nor `events`.
#[derive(Debug, thiserror::Error)]
#[error("unknown dataset {0:?}: expected \"nginx\" or \"events\"")]
pub struct UnknownDataset(pub String);

impl FromStr for Dataset {
    type Err = UnknownDataset;

    fn from_str(s: &str) -> Result<Dataset, UnknownDataset> {
        match s {
            "nginx" => Ok(Dataset::Nginx),
            "events" => Ok(Dataset::Events),
            other => Err(UnknownDataset(other.to_owned())),
        }
    }
}

/// What to generate: options checked by [`GenerateOptions::builder`], the
/// one place where `levee generate` and the `generate` source check theirs.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Which kind of lines.
    pub(crate) dataset: Dataset,
    /// How many lines in all.
    pub(crate) lines: u64,
    /// Where the span of event times begins, nanoseconds since the epoch,
    /// UTC.
    pub(crate) start: i64,
    /// The lines spread over this many days of event time, in increasing
    /// time order. 0 is taken as 1 (the builder refuses 0).
    pub(crate) days: u32,
    /// The same seed (and options) give byte-identical output.
    pub(crate) seed: u64,
}

impl GenerateOptions {
    /// Options for `dataset`, to be set and then checked by
    /// [`OptionsBuilder::build`].
    pub fn builder(dataset: Dataset) -> OptionsBuilder {
        OptionsBuilder {
            dataset,
            lines: 10_000,
            start: None,
            days: 1,
            seed: 1,
        }
    }

    /// Which kind of lines.
    pub fn dataset(&self) -> Dataset {
        self.dataset
    }

    /// How many lines in all.
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

/// Options as a user wrote them, before they are checked; see
/// [`GenerateOptions::builder`].
#[derive(Clone, Debug)]
pub struct OptionsBuilder {
    dataset: Dataset,
    lines: u64,
    start: Option<String>,
    days: u32,
    seed: u64,
}

impl OptionsBuilder {
    /// How many lines in all. Default: 10,000.
    pub fn lines(mut self, lines: u64) -> Self {
        self.lines = lines;
        self
    }

    /// The date of the first event, `YYYY-MM-DD` (UTC). Default: `days`
    /// days before today.
    pub fn start(mut self, date: impl Into<String>) -> Self {
        self.start = Some(date.into());
        self
    }

    /// Event times spread over this many days, at least 1. Default: 1.
    pub fn days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// The same seed gives the same lines. Default: 1.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the options; the only place they are checked.
    pub fn build(self) -> Result<GenerateOptions, OptionsError> {
        if self.days == 0 {
            return Err(OptionsError::NoDays);
        }
        let day = match self.start {
            Some(date) => parse_date(&date).ok_or(OptionsError::Start(date))?,
            None => today() - i64::from(self.days),
        };
        Ok(GenerateOptions {
            dataset: self.dataset,
            lines: self.lines,
            start: day.saturating_mul(DAY_NANOS),
            days: self.days,
            seed: self.seed,
        })
    }
}

/// Why options were refused. The messages name the option as both the
/// config key and the command-line flag spell it (`days`, `--days`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// `days` was 0.
    #[error("days must be at least 1")]
    NoDays,
    /// `start` did not read as a date.
    #[error("start must be a date such as 2018-09-01, not {0:?}")]
    Start(String),
}

/// Days since the epoch, UTC, today.
fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    secs.div_euclid(86_400)
}

/// Nanoseconds in a day.
const DAY_NANOS: i64 = 86_400 * NANOS_PER_SEC;

/// Makes lines one at a time; see the module docs.
pub struct Generator {
    lines: u64,
    emitted: u64,
    start: i64,
    rng: fastrand::Rng,
    timeline: Timeline,
    /// Written times are whole units of this many ns (a second for nginx's
    /// `$time_local`, a millisecond for events), kept within the span.
    unit: i64,
    first: i64,
    last: i64,
    kind: Kind,
}

enum Kind {
    Nginx(Box<Nginx>),
    Events(Box<Events>),
}

impl Generator {
    /// A generator for `opts`; building its tables is the only allocation.
    pub fn new(opts: GenerateOptions) -> Generator {
        let days = opts.days.max(1);
        let mut rng = fastrand::Rng::with_seed(opts.seed);
        let (unit, kind) = match opts.dataset {
            Dataset::Nginx => (NANOS_PER_SEC, Kind::Nginx(Box::new(Nginx::new(&mut rng)))),
            Dataset::Events => (
                1_000_000,
                Kind::Events(Box::new(Events::new(&mut rng, opts.seed, days))),
            ),
        };
        let end = opts
            .start
            .saturating_add(i64::from(days).saturating_mul(DAY_NANOS));
        // The first and last whole unit inside [start, end].
        let first = opts
            .start
            .div_euclid(unit)
            .saturating_add(i64::from(opts.start.rem_euclid(unit) != 0))
            .saturating_mul(unit);
        let last = end.div_euclid(unit).saturating_mul(unit).max(first);
        Generator {
            lines: opts.lines,
            emitted: 0,
            start: opts.start,
            timeline: Timeline::new(opts.start, opts.lines, days, opts.seed),
            rng,
            unit,
            first,
            last,
            kind,
        }
    }

    /// Appends the next line and a `'\n'` to `out`; returns its event time
    /// (ns, exactly the time written in the line), or `None` when `lines`
    /// are done.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> Option<i64> {
        if self.emitted >= self.lines {
            return None;
        }
        let raw = self.timeline.time_of(self.emitted, &mut self.rng);
        self.emitted += 1;
        let time = (raw.div_euclid(self.unit) * self.unit).clamp(self.first, self.last);
        let day = u32::try_from((time - self.start).div_euclid(DAY_NANOS)).unwrap_or(0);
        match &mut self.kind {
            Kind::Nginx(n) => n.write_line(&mut self.rng, time, out),
            Kind::Events(e) => e.write_line(&mut self.rng, time, day, out),
        }
        out.push(b'\n');
        Some(time)
    }

    /// How many lines are still to come.
    pub fn remaining(&self) -> u64 {
        self.lines - self.emitted
    }
}

/// Writes `s` as a JSON string, escaped by serde_json.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail: no I/O, no non-string keys.
    let _ = serde_json::to_writer(out, s);
}
