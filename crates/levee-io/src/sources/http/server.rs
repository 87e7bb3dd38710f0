//! The http source's listener, its connections (hyper's HTTP/1.1) and the
//! answer to each request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use levee_event::{Event, Ledger, Record, Sent, Tag, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Http;
use super::body::{self, BodyError, Encoding};
use crate::SourceError;
use crate::sources::accept::Acceptor;
use crate::sources::lines::{BATCH_EVENTS, now_nanos};
use crate::sources::{SourceContext, SourceMetrics};

/// How often a request whose events were sent looks at its ledger: the
/// answer goes out within this of its events being stored.
const ACK_POLL: Duration = Duration::from_millis(5);

/// The most bytes of a request line and headers (hyper's read buffer): a
/// client's headers are a few hundred bytes; more is answered 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Bodies larger than this are decoded on a blocking thread, so that a
/// large one does not hold up the other connections' tasks.
const DECODE_INLINE_BYTES: usize = 64 * 1024;

/// The longest tag a path may carry.
const MAX_TAG_BYTES: usize = 256;

/// What every connection of the source shares.
pub(super) struct Shared {
    pub(super) config: Http,
    pub(super) out: mpsc::Sender<Sent>,
    pub(super) metrics: SourceMetrics,
    pub(super) name: String,
    pub(super) shutdown: watch::Receiver<bool>,
}

pub(crate) async fn run(config: Http, ctx: SourceContext) -> Result<(), SourceError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| SourceError::Listen {
            addr: config.listen.to_string(),
            error,
        })?;
    let local = listener.local_addr().map_err(|error| SourceError::Listen {
        addr: config.listen.to_string(),
        error,
    })?;
    tracing::info!(source = %ctx.name, listen = %local, "http source listening");
    let shared = Arc::new(Shared {
        config,
        out: ctx.out.clone(),
        metrics: ctx.metrics.clone(),
        name: ctx.name.clone(),
        shutdown: ctx.shutdown.clone(),
    });
    drop(ctx);
    serve(listener, shared).await;
    Ok(())
}

/// Accepts connections until shutdown, then lets the requests in flight
/// finish (each is bounded by its timeouts).
pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let acceptor = Acceptor {
        name: &shared.name,
        kind: "http",
        max_connections: shared.config.max_connections,
        metrics: &shared.metrics,
    };
    let serve = |stream, _peer| {
        let shared = shared.clone();
        async move { connection(stream, &shared).await }
    };
    let mut connections = acceptor
        .run(&listener, shared.shutdown.clone(), serve)
        .await;
    // Each connection closes once its request in flight is answered; that
    // takes at most the body and ack timeouts.
    let config = &shared.config;
    let drain = async { while connections.join_next().await.is_some() {} };
    let bound = config.body_timeout + config.queue_timeout + config.ack_timeout;
    if tokio::time::timeout(bound, drain).await.is_err() {
        connections.shutdown().await;
    }
}

/// Serves one connection's requests until it closes.
async fn connection(stream: tokio::net::TcpStream, shared: &Arc<Shared>) {
    let service = {
        let shared = shared.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(answer(&shared, request).await) }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut shutdown = shared.shutdown.clone();
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.changed() => {
            // Finish the request in flight, take no other.
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        let reason = if e.is_timeout() {
            "header_timeout"
        } else if e.is_parse() || e.is_parse_too_large() {
            "bad_request"
        } else {
            "io"
        };
        shared.metrics.connection_errors.inc(reason);
        tracing::debug!(source = %shared.name, reason, "http: connection closed: {e}");
    }
}

/// Why a request was refused: its status, the reason it is counted under
/// (`levee_source_connection_errors_total`), and what the client is told.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason,
            message: message.into(),
        }
    }
}

impl From<BodyError> for Refusal {
    fn from(e: BodyError) -> Refusal {
        let (status, reason) = match &e {
            BodyError::DecompressedTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "decompressed_too_large")
            }
            BodyError::TooManyRecords { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            BodyError::Compression {
                encoding: "gzip", ..
            } => (StatusCode::BAD_REQUEST, "bad_gzip"),
            BodyError::Compression { .. } => (StatusCode::BAD_REQUEST, "bad_zstd"),
            BodyError::Empty | BodyError::Invalid { .. } | BodyError::Truncated { .. } => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
        };
        Refusal::new(
            status,
            reason,
            format!("{e}; none of the body's records were taken"),
        )
    }
}

/// The answer to one request, counted.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match take(shared, request).await {
        Ok(n) => respond(StatusCode::OK, format!("{{\"accepted\":{n}}}\n"), None),
        Err(refusal) => {
            shared.metrics.connection_errors.inc(refusal.reason);
            tracing::debug!(
                source = %shared.name,
                status = refusal.status.as_u16(),
                "http: refused: {}",
                refusal.message
            );
            let retry = matches!(
                refusal.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
            .then_some(shared.config.retry_after_secs);
            let mut body = serde_json::json!({ "error": refusal.message }).to_string();
            body.push('\n');
            let mut response = respond(refusal.status, body, retry);
            match refusal.status {
                StatusCode::UNAUTHORIZED => {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                StatusCode::METHOD_NOT_ALLOWED => {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("POST"));
                }
                _ => {}
            }
            response
        }
    }
}

fn respond(status: StatusCode, body: String, retry_after: Option<u64>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Takes a request's records into the pipeline: how many, once stored.
async fn take(shared: &Shared, request: Request<Incoming>) -> Result<usize, Refusal> {
    let config = &shared.config;
    if let Some(want) = &config.authorization {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map_or(&b""[..], HeaderValue::as_bytes);
        if !same_bytes(given, want) {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "auth_failed",
                "this source wants `Authorization: Bearer <token>` with its token",
            ));
        }
    }
    if request.method() != Method::POST {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not_found",
            "POST records to /v1/logs/<tag> or /<tag>",
        ));
    }
    let tag = tag_of(request.uri().path())?;
    let encoding = match request.headers().get(header::CONTENT_ENCODING) {
        None => Encoding::Identity,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Encoding::from_header)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_encoding",
                    format!("Content-Encoding {value:?}: this source reads gzip, zstd or none"),
                )
            })?,
    };
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is larger than max_body_bytes ({} bytes); none of it was taken",
                config.max_body_bytes
            ),
        )
    };
    // A declared length over the limit is refused before reading a byte
    // (and before hyper sends `100 Continue`).
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > config.max_body_bytes as u64) {
        return Err(too_large());
    }
    let received = tokio::time::timeout(
        config.body_timeout,
        read_body(request.into_body(), config.max_body_bytes),
    )
    .await
    .map_err(|_| {
        Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within body_timeout ({:?})",
                config.body_timeout
            ),
        )
    })?;
    let bytes = match received {
        Ok(bytes) => bytes,
        Err(BodyRead::TooLarge) => return Err(too_large()),
        Err(BodyRead::Io(e)) => return Err(Refusal::new(StatusCode::BAD_REQUEST, "io", e)),
    };
    shared.metrics.bytes.inc_by(bytes.len() as u64);
    let received_at = now_nanos();
    let (max_decompressed, max_records) = (config.max_decompressed_bytes, config.max_records);
    // A small compressed body may inflate to a large one.
    let inline = bytes.len() <= DECODE_INLINE_BYTES && encoding == Encoding::Identity;
    let decode = move || -> Result<Vec<Record>, BodyError> {
        let text = body::decompress(&bytes, encoding, max_decompressed)?;
        body::records(&text, max_records)
    };
    let records = if inline {
        decode()?
    } else {
        tokio::task::spawn_blocking(decode).await.map_err(|e| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("decoding the body failed: {e}"),
            )
        })??
    };
    let events: Vec<Event> = records
        .into_iter()
        .map(|record| {
            let time = event_time(&record, config.time_key.as_deref(), &shared.metrics)
                .unwrap_or(received_at);
            Event::new(tag.clone(), time, record)
        })
        .collect();
    send(shared, events).await
}

/// Sends the events, all or none, and waits until they are stored.
async fn send(shared: &Shared, mut events: Vec<Event>) -> Result<usize, Refusal> {
    let config = &shared.config;
    let n = events.len();
    if n == 0 {
        return Ok(0);
    }
    let stopping = || {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "levee is shutting down; none of the records were taken",
        )
    };
    if *shared.shutdown.borrow() {
        return Err(stopping());
    }
    // Room for every batch at once, or none: a request is never half
    // taken because the pipeline filled in the middle of it.
    let batches = n
        .div_ceil(BATCH_EVENTS)
        .clamp(1, shared.out.max_capacity().max(1));
    let per_batch = n.div_ceil(batches);
    let permits =
        match tokio::time::timeout(config.queue_timeout, shared.out.reserve_many(batches)).await {
            Ok(Ok(permits)) => permits,
            Ok(Err(_)) => return Err(stopping()),
            Err(_) => {
                return Err(Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "busy",
                    format!(
                        "the outputs these records go to are full (no room within queue_timeout, \
                     {:?}); none were taken: retry later",
                        config.queue_timeout
                    ),
                ));
            }
        };
    let ledger = Ledger::new();
    for permit in permits {
        let rest = events.split_off(per_batch.min(events.len()));
        let batch = std::mem::replace(&mut events, rest);
        let (_, ack) = ledger.issue();
        permit.send(Sent::acked(batch, ack));
    }
    shared.metrics.events.inc_by(n as u64);
    let deadline = Instant::now() + config.ack_timeout;
    while ledger.outstanding() > 0 {
        if Instant::now() >= deadline {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "the records were taken but not stored within ack_timeout ({:?}); they may \
                     still be delivered, so a retry may duplicate them",
                    config.ack_timeout
                ),
            ));
        }
        tokio::time::sleep(ACK_POLL).await;
    }
    Ok(n)
}

/// Why reading a body stopped.
enum BodyRead {
    TooLarge,
    Io(String),
}

/// The whole body, at most `max` bytes of it.
async fn read_body(mut body: Incoming, max: usize) -> Result<Vec<u8>, BodyRead> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyRead::Io(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max {
                return Err(BodyRead::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// The tag a path names: `/v1/logs/<tag>` or `/<tag>`.
fn tag_of(path: &str) -> Result<Tag, Refusal> {
    let tag = path
        .strip_prefix("/v1/logs/")
        .or_else(|| path.strip_prefix('/'))
        .unwrap_or("");
    if tag.is_empty() || tag.contains('/') {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{path:?}: POST records to /v1/logs/<tag> or /<tag>"),
        ));
    }
    if tag.len() > MAX_TAG_BYTES {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_tag",
            format!("the tag is longer than {MAX_TAG_BYTES} bytes"),
        ));
    }
    Tag::check(tag).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_tag",
            format!("the tag {tag:?} in the path: {e}"),
        )
    })?;
    Ok(Tag::new(tag))
}

/// The event time a record carries in `time_key`, if it reads as one; an
/// unreadable one is counted.
fn event_time(record: &Record, time_key: Option<&str>, metrics: &SourceMetrics) -> Option<i64> {
    use levee_parse::time::{epoch_from_float, epoch_from_int, parse_epoch, parse_iso8601};
    let time = match record.get(time_key?)? {
        Value::Null => return None,
        Value::String(text) => {
            parse_iso8601(text.as_bytes()).or_else(|| parse_epoch(text.as_bytes()))
        }
        Value::Int(n) => epoch_from_int(*n),
        Value::Float(x) => epoch_from_float(*x),
        _ => None,
    };
    if time.is_none() {
        metrics.time_errors.inc();
    }
    time
}

/// Compares in time that depends on the lengths only, so that a token is
/// not guessed a byte at a time from how fast it is refused.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
