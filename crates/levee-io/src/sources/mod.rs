//! Sources: where events enter the pipeline.
//!
//! Each source runs as one task, sends [`Batch`]es into a bounded channel and
//! waits when it is full: that wait is how backpressure reaches a file being
//! tailed. Sources stop when the shutdown signal turns true, or at end of
//! input when `exit_on_eof` is set, and send what they hold before returning.

pub mod generate;
mod lines;
pub mod multiline;
pub mod stdin;
pub mod tail;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use levee_event::{Ack, Batch, Sent, Tag};
use levee_parse::{Parser, ParserConfig};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::{SourceConfigError, SourceError};

/// A source as the user configures it under `[sources.NAME]`.
///
/// The keys below are every source's; the `type` picks a [`SourceKind`],
/// whose own keys sit beside them in the same table. The pipeline's config
/// loader hands serde the `type` as the kind's variant, holding those keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The tag of every event this source makes, such as `nginx.access`.
    pub tag: String,
    /// How each line is parsed: `"json"`, `"none"`, `"nginx"` or a table
    /// such as `{ type = "nginx", format = "combined" }`. Default: `none`.
    #[serde(default)]
    pub parser: ParserConfig,
    /// Joins continuation lines (stack traces) to the line that starts
    /// their record before parsing, e.g. `{ first_line = '^\d{4}-' }`; see
    /// [`multiline::MultilineConfig`]. For `tail` and `stdin`. Default: off.
    #[serde(default)]
    pub multiline: Option<multiline::MultilineConfig>,
    /// A field set to `true` on events whose time field did not read as a
    /// time (they keep the time of ingest), e.g. `"_time_error"`. Default:
    /// none; such events are always counted in `levee_time_errors_total`.
    #[serde(default)]
    pub time_error_field: Option<String>,
    /// What kind of source (`type = "tail"`), and its own settings.
    #[serde(rename = "type")]
    pub kind: SourceKind,
}

/// Every kind of source, by its `type`.
///
/// Adding a source: a module with its config struct and its `run`, a
/// variant here, and its arm in [`SourceConfig::build`].
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Follow files as they grow.
    Tail(tail::TailConfig),
    /// Read standard input.
    Stdin(stdin::StdinConfig),
    /// Make realistic traffic (nginx access logs or email events).
    Generate(generate::GenerateConfig),
}

/// A source kind's run, with its settings checked and inside it.
type Run = Box<
    dyn FnOnce(
            lines::LineDecoder,
            SourceContext,
        ) -> Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>
        + Send,
>;

/// Boxes a kind's `run(config, decoder, ctx)` with its config bound.
fn run_with<F, R>(run: F) -> Run
where
    F: FnOnce(lines::LineDecoder, SourceContext) -> R + Send + 'static,
    R: Future<Output = Result<(), SourceError>> + Send + 'static,
{
    Box::new(move |decoder, ctx| Box::pin(run(decoder, ctx)))
}

/// A source checked and ready to run.
pub struct Source {
    tag: Tag,
    parser: Parser,
    multiline: Option<multiline::MultilineRule>,
    time_error_field: Option<String>,
    run: Run,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("tag", &self.tag).finish()
    }
}

impl SourceConfig {
    /// Checks the config once: the tag, the parser, the kind's settings.
    pub fn build(self) -> Result<Source, SourceConfigError> {
        let tag =
            Tag::parse(&self.tag).map_err(|e| SourceConfigError::invalid("tag", e.to_string()))?;
        if self.time_error_field.as_deref() == Some("") {
            return Err(SourceConfigError::invalid(
                "time_error_field",
                "must not be empty; leave it out to only count time errors",
            ));
        }
        let run = match self.kind {
            SourceKind::Tail(c) => {
                let c = c.build()?;
                run_with(move |decoder, ctx| tail::run(c, decoder, ctx))
            }
            SourceKind::Stdin(c) => run_with(move |decoder, ctx| stdin::run(c, decoder, ctx)),
            SourceKind::Generate(c) => {
                let c = c.build().map_err(|e| match e {
                    SourceError::Generate(e) => {
                        let key = match e {
                            levee_generate::OptionsError::NoDays => "days",
                            levee_generate::OptionsError::Start(_) => "start",
                        };
                        SourceConfigError::invalid(key, e.to_string())
                    }
                    e => SourceConfigError::Kind(e.to_string()),
                })?;
                if self.multiline.is_some() {
                    return Err(SourceConfigError::invalid(
                        "multiline",
                        "multiline applies to tail and stdin sources; generate makes whole lines",
                    ));
                }
                run_with(move |decoder, ctx| generate::run(c, decoder, ctx))
            }
        };
        Ok(Source {
            tag,
            parser: self.parser.build().map_err(SourceConfigError::Parser)?,
            multiline: self.multiline.as_ref().map(|m| m.build()).transpose()?,
            time_error_field: self.time_error_field,
            run,
        })
    }
}

impl Source {
    /// The tag of every event this source makes (a line that does not
    /// parse goes to `@ERROR` instead).
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// Runs until its input ends (with `exit_on_eof`) or shutdown.
    pub async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        let decoder = lines::LineDecoder::new(self.tag, self.parser, &ctx)
            .with_multiline(self.multiline)
            .with_time_error_field(self.time_error_field);
        (self.run)(decoder, ctx).await
    }
}

/// What a running source is given by the pipeline.
pub struct SourceContext {
    /// The source's name, from `[sources.NAME]`.
    pub name: String,
    /// Where batches go, each with its ack if the source can replay it.
    /// Bounded: a full channel makes the source wait.
    pub out: mpsc::Sender<Sent>,
    /// Turns true when the process is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Stop at the end of the input instead of waiting for more.
    pub exit_on_eof: bool,
    /// The pipeline's state folder (checkpoints live under it).
    pub data_dir: PathBuf,
    /// The source's counters.
    pub metrics: SourceMetrics,
}

impl SourceContext {
    /// True once shutdown was asked for.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sends a batch downstream, waiting while the pipeline is full: for
    /// sources that cannot read their input again (stdin, generate).
    ///
    /// Returns false if the pipeline is gone and the source should stop.
    pub async fn send(&self, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.out.send(Sent::new(batch)).await.is_ok()
    }

    /// Sends a batch with the ack that covers it, from the source's
    /// [`levee_event::Ledger`]: the ack is done once every output that got
    /// the events stored them (or dropped and counted them). An empty
    /// batch's ack is done at once.
    ///
    /// Returns false if the pipeline is gone and the source should stop.
    pub async fn send_acked(&self, batch: Batch, ack: Ack) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.out.send(Sent::acked(batch, ack)).await.is_ok()
    }
}

/// Counters every source keeps; the pipeline registers them.
#[derive(Clone, Debug, Default)]
pub struct SourceMetrics {
    /// Events made (parse failures included, as `@ERROR` events).
    pub events: Counter,
    /// Bytes of input read.
    pub bytes: Counter,
    /// Lines that failed to parse.
    pub parse_errors: Counter,
    /// Events whose time field did not read as a time (they keep the time
    /// of ingest).
    pub time_errors: Counter,
    /// Multiline records cut at `max_lines` or `max_bytes`.
    pub multiline_cuts: Counter,
    /// Bytes read from the files a `tail` source follows and not yet
    /// delivered by every output (what a crash now would read again).
    pub checkpoint_lag: Gauge,
    /// Files a `tail` source follows now.
    pub files_watched: Gauge,
}
