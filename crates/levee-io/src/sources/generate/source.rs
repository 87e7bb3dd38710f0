//! The `generate` source: the generator's lines fed through a parser, at a
//! rate, as if they were read from a file.

use std::time::Duration;

use levee_event::time::{NANOS_PER_SEC, parse_date};
use serde::Deserialize;

use super::{Dataset, GenerateOptions, Generator};
use crate::SourceError;
use crate::sources::SourceContext;
use crate::sources::lines::{BATCH_EVENTS, LineDecoder, now_nanos};

/// `type = "generate"`: realistic nginx access logs or email events.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    /// `nginx` (combined log format plus `$request_time`) or `events` (JSON email events).
    pub dataset: Dataset,
    /// How many lines in all.
    #[serde(default = "default_lines")]
    pub lines: u64,
    /// The date of the first event, `YYYY-MM-DD` (UTC). Default: `days` days before today.
    #[serde(default)]
    pub start: Option<String>,
    /// Event times spread over this many days.
    #[serde(default = "default_days")]
    pub days: u32,
    /// The same seed gives the same lines.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Lines per second; 0 sends as fast as the pipeline takes them.
    #[serde(default)]
    pub rate: u64,
}

fn default_lines() -> u64 {
    10_000
}

fn default_days() -> u32 {
    1
}

fn default_seed() -> u64 {
    1
}

impl GenerateConfig {
    pub(crate) fn validate(&self) -> Result<(), SourceError> {
        self.options().map(|_| ())
    }

    /// The generator's options, with `start` resolved.
    pub fn options(&self) -> Result<GenerateOptions, SourceError> {
        if self.days == 0 {
            return Err(SourceError::Config(
                "generate: `days` must be at least 1".into(),
            ));
        }
        let start = match &self.start {
            Some(date) => parse_date(date).ok_or_else(|| {
                SourceError::Config(format!(
                    "generate: `start` must be a date such as \"2018-09-01\", not {date:?}"
                ))
            })?,
            None => now_nanos().div_euclid(86_400 * NANOS_PER_SEC) - i64::from(self.days),
        };
        Ok(GenerateOptions {
            dataset: self.dataset,
            lines: self.lines,
            start: start * 86_400 * NANOS_PER_SEC,
            days: self.days,
            seed: self.seed,
        })
    }
}

pub(crate) async fn run(
    config: GenerateConfig,
    mut decoder: LineDecoder,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let mut generator = Generator::new(config.options()?);
    let mut line = Vec::with_capacity(1024);
    let started = tokio::time::Instant::now();
    let mut sent: u64 = 0;
    // With a rate, send a tenth of a second's lines at a time, not bursts.
    let per_batch = match config.rate {
        0 => BATCH_EVENTS,
        rate => usize::try_from(rate / 10)
            .unwrap_or(BATCH_EVENTS)
            .clamp(1, BATCH_EVENTS),
    };
    loop {
        if ctx.shutting_down() {
            break;
        }
        let mut done = false;
        for _ in 0..per_batch {
            line.clear();
            if generator.next_line(&mut line).is_none() {
                done = true;
                break;
            }
            decoder.metrics().bytes.inc_by(line.len() as u64);
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            decoder.push_line(text, now_nanos());
            sent += 1;
        }
        if !ctx.send(decoder.take()).await || done {
            break;
        }
        if config.rate > 0 {
            // Sleep until the schedule catches up with what was sent.
            let due = started + Duration::from_secs_f64(sent as f64 / config.rate as f64);
            tokio::time::sleep_until(due).await;
        }
    }
    ctx.send(decoder.take()).await;
    Ok(())
}
