//! Sources: where events enter the pipeline.
//!
//! Each source runs as one task, sends [`Batch`]es into a bounded channel and
//! waits when it is full: that wait is how backpressure reaches a file being
//! tailed. Sources stop when the shutdown signal turns true, or at end of
//! input when `exit_on_eof` is set, and send what they hold before returning.

mod accept;
pub mod forward;
pub mod generate;
pub mod http;
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
    /// Required, except for `forward`, whose events keep their client's
    /// tag, and `http`, whose events take the tag of the request's path.
    #[serde(default)]
    pub tag: Option<String>,
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
    /// Take events from Fluentd-protocol clients (Fluent Bit, Fluentd).
    Forward(forward::ForwardConfig),
    /// Take JSON records POSTed over HTTP (Fluentd's `in_http`).
    Http(http::HttpConfig),
}

/// A source kind's run, with its settings checked and inside it: over
/// lines it cuts and parses, or over events its protocol carries whole.
enum Run {
    Lines(LinesRun),
    Events(EventsRun),
}

/// A line source's run.
type LinesRun = Box<
    dyn FnOnce(
            lines::LineDecoder,
            SourceContext,
        ) -> Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>
        + Send,
>;

/// An event source's run (its events come with their tags and records).
type EventsRun = Box<
    dyn FnOnce(SourceContext) -> Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>
        + Send,
>;

/// Boxes a kind's `run(config, decoder, ctx)` with its config bound.
fn run_with<F, R>(run: F) -> Run
where
    F: FnOnce(lines::LineDecoder, SourceContext) -> R + Send + 'static,
    R: Future<Output = Result<(), SourceError>> + Send + 'static,
{
    Run::Lines(Box::new(move |decoder, ctx| Box::pin(run(decoder, ctx))))
}

/// A source checked and ready to run.
pub struct Source {
    /// `None` for a source whose events carry their own tags.
    tag: Option<Tag>,
    /// Its `type`, as written.
    kind: &'static str,
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
        let tag = match (&self.tag, &self.kind) {
            (Some(_), SourceKind::Forward(_)) => {
                return Err(SourceConfigError::invalid(
                    "tag",
                    "a forward source's events keep the tag their client sent; leave `tag` out",
                ));
            }
            (None, SourceKind::Forward(_)) => None,
            (Some(_), SourceKind::Http(_)) => {
                return Err(SourceConfigError::invalid(
                    "tag",
                    "an http source's events take the tag of the request's path \
                     (/v1/logs/<tag>); leave `tag` out",
                ));
            }
            (None, SourceKind::Http(_)) => None,
            (Some(tag), _) => Some(
                Tag::parse(tag).map_err(|e| SourceConfigError::invalid("tag", e.to_string()))?,
            ),
            (None, _) => return Err(SourceConfigError::Kind("missing field `tag`".into())),
        };
        if self.time_error_field.as_deref() == Some("") {
            return Err(SourceConfigError::invalid(
                "time_error_field",
                "must not be empty; leave it out to only count time errors",
            ));
        }
        let kind = match &self.kind {
            SourceKind::Tail(_) => "tail",
            SourceKind::Stdin(_) => "stdin",
            SourceKind::Generate(_) => "generate",
            SourceKind::Forward(_) => "forward",
            SourceKind::Http(_) => "http",
        };
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
            SourceKind::Forward(c) => {
                let c = c.build()?;
                if self.multiline.is_some() {
                    return Err(SourceConfigError::invalid(
                        "multiline",
                        "multiline applies to tail and stdin sources; forward takes whole records",
                    ));
                }
                Run::Events(Box::new(move |ctx| Box::pin(forward::run(c, ctx))))
            }
            SourceKind::Http(c) => {
                let c = c.build()?;
                if self.multiline.is_some() {
                    return Err(SourceConfigError::invalid(
                        "multiline",
                        "multiline applies to tail and stdin sources; http takes whole records",
                    ));
                }
                if self.parser != ParserConfig::default() {
                    return Err(SourceConfigError::invalid(
                        "parser",
                        "an http source takes JSON records whole; leave `parser` out (its \
                         `time_key` names the time field)",
                    ));
                }
                Run::Events(Box::new(move |ctx| Box::pin(http::run(c, ctx))))
            }
        };
        Ok(Source {
            tag,
            kind,
            parser: self.parser.build().map_err(SourceConfigError::Parser)?,
            multiline: self.multiline.as_ref().map(|m| m.build()).transpose()?,
            time_error_field: self.time_error_field,
            run,
        })
    }
}

impl Source {
    /// The tag of every event this source makes (a line that does not
    /// parse goes to `@ERROR` instead); `None` when its events carry
    /// their own (`forward`, `http`), so any tag may come from it.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// Its `type` (`tail`, `forward`, ...), as the console shows it.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Runs until its input ends (with `exit_on_eof`) or shutdown.
    pub async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        match (self.run, self.tag) {
            (Run::Lines(run), Some(tag)) => {
                let decoder = lines::LineDecoder::new(tag, self.parser, &ctx)
                    .with_multiline(self.multiline)
                    .with_time_error_field(self.time_error_field);
                run(decoder, ctx).await
            }
            (Run::Events(run), _) => run(ctx).await,
            // `build` gives every line source its tag.
            (Run::Lines(_), None) => Err(SourceError::Config("a line source without a tag".into())),
        }
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
    /// Connections a network source has open now.
    pub connections: Gauge,
    /// Connections a network source closed for a fault, by reason.
    pub connection_errors: ConnectionErrors,
}

/// Why a network source closes a connection: the `reason` label of
/// `levee_source_connection_errors_total`.
pub const CONNECTION_ERROR_REASONS: &[&str] = &[
    // The frame's size, or its gzip entries', is over the limit.
    "frame_too_large",
    "decompressed_too_large",
    "bad_gzip",
    // Not the protocol: wrong types, garbage, a cut frame.
    "invalid_frame",
    // Empty, or starting with `@`.
    "bad_tag",
    // Fluent Bit's metrics or traces.
    "unsupported_signal",
    // Trickling: a frame not whole within `frame_timeout`.
    "frame_timeout",
    "idle_timeout",
    // Over `max_connections`, closed at accept.
    "too_many_connections",
    // The `shared_key` handshake failed.
    "auth_failed",
    "tls",
    // Reset by the peer, or another socket error.
    "io",
    // http: a request refused. A malformed body (400, and headers hyper
    // could not read), a body or record count over its limit (413), a
    // Content-Encoding not read (415), a wrong path or method (404, 405).
    "bad_request",
    "body_too_large",
    "bad_zstd",
    "unsupported_encoding",
    "not_found",
    // http: headers or body not whole within their timeouts.
    "header_timeout",
    "body_timeout",
    // http: answered 429 or 503 (the routes full, shutting down, or not
    // stored within ack_timeout).
    "busy",
];

/// One counter per [`CONNECTION_ERROR_REASONS`] entry.
#[derive(Clone, Debug)]
pub struct ConnectionErrors(Vec<(&'static str, Counter)>);

impl ConnectionErrors {
    /// Counters made by `make` for each reason (the registry's).
    pub fn new(mut make: impl FnMut(&'static str) -> Counter) -> ConnectionErrors {
        ConnectionErrors(
            CONNECTION_ERROR_REASONS
                .iter()
                .map(|&r| (r, make(r)))
                .collect(),
        )
    }

    /// Counts one connection closed for `reason` (one of
    /// [`CONNECTION_ERROR_REASONS`]).
    pub fn inc(&self, reason: &str) {
        debug_assert!(CONNECTION_ERROR_REASONS.contains(&reason), "{reason}");
        if let Some((_, c)) = self.0.iter().find(|(r, _)| *r == reason) {
            c.inc();
        }
    }

    /// The count for `reason`.
    pub fn get(&self, reason: &str) -> u64 {
        self.0
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, c)| c.get())
    }
}

impl Default for ConnectionErrors {
    fn default() -> ConnectionErrors {
        ConnectionErrors::new(|_| Counter::default())
    }
}
