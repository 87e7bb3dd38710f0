//! Opening the outputs' sinks at start, so that no sink's opening holds
//! back the others.
//!
//! Every sink opens at once, each on a blocking-pool thread of its own: an
//! open may block (create folders, read its state, wait in the `open` of a
//! FIFO nobody reads), and a blocked runtime worker would stall every route.
//! The start waits for all of them together, up to [`OPEN_GRACE`]:
//!
//! - An open that fails within it stops the start, as a wrong path should:
//!   `outputs.NAME: opening ...`, before anything is read.
//! - An open still running after it (a FIFO with no reader, a hung mount)
//!   is left to finish in its output's worker, and the pipeline starts
//!   without it. Its buffer takes that output's events meanwhile and its
//!   `when_full` applies: `block` holds back the sources routed to it (and
//!   only those), `drop_*` drops and counts. Should that late open fail, the
//!   worker opens again with the output's backoff (each failure counted in
//!   `levee_output_errors_total` and `levee_output_retries_total`), for as
//!   long as it takes: an open has no batch to give up on.

use std::time::Duration;

use levee_io::SinkError;
use levee_io::sinks::{BuiltSink, Sink, SinkContext};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use crate::PipelineError;
use crate::metrics::OutputMetrics;
use crate::output::RetryConfig;

/// How long the start waits for every sink to open. Local opens take well
/// under a millisecond; a second is a hang, not a slow disk, and is what a
/// hanging output costs the others once, at start.
pub(crate) const OPEN_GRACE: Duration = Duration::from_secs(1);

/// A sink as the start left it: open, or still opening.
pub(crate) enum Opened {
    /// Opened within the grace.
    Ready(Sink),
    /// Still opening when the pipeline started.
    Late(Late),
}

/// A sink whose open outlasted the grace.
pub(crate) struct Late {
    sink: BuiltSink,
    ctx: SinkContext,
    pending: JoinHandle<Result<Sink, SinkError>>,
}

/// Opens a sink on a blocking-pool thread, driving its future there.
fn spawn_open(sink: BuiltSink, ctx: SinkContext) -> JoinHandle<Result<Sink, SinkError>> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(sink.open(&ctx)))
}

/// What an open's thread returned; a panic in a sink's open is a bug and
/// goes on as one.
fn joined(result: Result<Result<Sink, SinkError>, JoinError>) -> Result<Sink, SinkError> {
    match result {
        Ok(opened) => opened,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(SinkError::io(
            "opening",
            std::io::Error::other("the runtime shut down"),
        )),
    }
}

/// Opens every output's sink at once and waits for them together, up to
/// `grace`; see the module docs. In the order given.
pub(crate) async fn open_all(
    sinks: Vec<(String, BuiltSink, SinkContext)>,
    grace: Duration,
) -> Result<Vec<Opened>, PipelineError> {
    let pending: Vec<_> = sinks
        .into_iter()
        .map(|(name, sink, ctx)| (name, sink.clone(), ctx.clone(), spawn_open(sink, ctx)))
        .collect();
    let deadline = Instant::now() + grace;
    let mut opened = Vec::with_capacity(pending.len());
    for (name, sink, ctx, mut handle) in pending {
        match tokio::time::timeout_at(deadline, &mut handle).await {
            Ok(result) => match joined(result) {
                Ok(open) => opened.push(Opened::Ready(open)),
                Err(error) => return Err(PipelineError::Output { name, error }),
            },
            Err(_elapsed) => {
                tracing::warn!(
                    output = %name,
                    "still opening after {grace:?} (a FIFO with no reader? a hung mount?); \
                     starting without it: its buffer takes its events meanwhile, and its \
                     when_full applies"
                );
                opened.push(Opened::Late(Late {
                    sink,
                    ctx,
                    pending: handle,
                }));
            }
        }
    }
    Ok(opened)
}

impl Opened {
    /// The open sink: at once if it was ready, else once its open returns,
    /// opening again with backoff after each failure.
    pub(crate) async fn into_sink(
        self,
        output: &str,
        retry: &RetryConfig,
        metrics: &OutputMetrics,
    ) -> Sink {
        let late = match self {
            Opened::Ready(sink) => return sink,
            Opened::Late(late) => late,
        };
        let started = Instant::now();
        let mut pending = late.pending;
        let mut backoff = Backoff::new(retry);
        metrics.health.down(format_args!(
            "its sink is still opening after {OPEN_GRACE:?}"
        ));
        loop {
            match joined(pending.await) {
                Ok(sink) => {
                    tracing::info!(output, after = ?started.elapsed(), "opened late; writing what its buffer holds");
                    metrics.health.ok();
                    return sink;
                }
                Err(error) => {
                    metrics
                        .health
                        .down(format_args!("its sink does not open: {error}"));
                    metrics.errors.open.inc();
                    metrics.retries.inc();
                    let wait = backoff.next();
                    tracing::warn!(output, %error, retry_in = ?wait, "open failed; will try again");
                    tokio::time::sleep(wait).await;
                    pending = spawn_open(late.sink.clone(), late.ctx.clone());
                }
            }
        }
    }
}

/// Waits between tries: doubling from `initial_backoff` up to
/// `max_backoff`, each wait drawn between half and one and a half times the
/// step, so that many writers failing together do not retry together.
pub(crate) struct Backoff {
    step: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at the config's `initial_backoff`.
    pub(crate) fn new(retry: &RetryConfig) -> Backoff {
        Backoff {
            step: retry.initial_backoff.0,
            max: retry.max_backoff.0,
        }
    }

    /// The next wait, with jitter; the step after it doubles, up to the cap.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.step.mul_f64(0.5 + fastrand::f64());
        self.step = (self.step * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

    use levee_event::{Ack, Event};
    use levee_io::sinks::{OpenSink, SinkFuture, WriteSink};
    use levee_io::units::Interval;

    use super::*;
    use crate::metrics::Metrics;

    struct Nothing;

    impl WriteSink for Nothing {
        fn write<'a>(&'a mut self, _: &'a [Event], _: &'a mut Vec<Ack>) -> SinkFuture<'a, u64> {
            Box::pin(async { Ok(0) })
        }
    }

    /// A sink whose open blocks its thread until the test says how it ends.
    #[derive(Debug)]
    struct Gate(Mutex<Receiver<bool>>);

    impl OpenSink for Gate {
        fn open<'a>(&'a self, _: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
            // Blocks the thread, as the open of a FIFO with no reader does.
            let ok = self.0.lock().unwrap().recv().unwrap_or(true);
            Box::pin(async move {
                if ok {
                    Ok(Box::new(Nothing) as Box<dyn WriteSink>)
                } else {
                    Err(SinkError::io(
                        "opening gate",
                        std::io::Error::other("refused"),
                    ))
                }
            })
        }
    }

    fn gate(name: &str) -> (String, SyncSender<bool>, BuiltSink, SinkContext) {
        let (tx, rx) = sync_channel(8);
        let ctx = SinkContext {
            output: name.into(),
            data_dir: "unused".into(),
            metrics: Default::default(),
            parquet: None,
        };
        (name.into(), tx, BuiltSink::new(Gate(Mutex::new(rx))), ctx)
    }

    fn quick_retry() -> RetryConfig {
        RetryConfig {
            initial_backoff: Interval(Duration::from_millis(1)),
            max_backoff: Interval(Duration::from_millis(2)),
            max_attempts: Some(1),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sink_that_hangs_in_open_holds_back_neither_the_runtime_nor_the_others() {
        let (a, release, stuck, a_ctx) = gate("stuck");
        let (b, quick, ready, b_ctx) = gate("ready");
        quick.send(true).unwrap();
        // One runtime thread: were an open run on it, nothing would move.
        let opened = open_all(
            vec![(a, stuck, a_ctx), (b, ready, b_ctx)],
            // The ready sink opens on a blocking thread: room for a loaded
            // machine to start one (50ms once was not).
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        let [Opened::Late(late), Opened::Ready(_)] = <[Opened; 2]>::try_from(opened).ok().unwrap()
        else {
            panic!("the hanging sink is late, the other ready");
        };
        // It fails once it returns, then opens: tried again, and counted.
        release.send(false).unwrap();
        release.send(true).unwrap();
        let metrics = Metrics::new().output("stuck", "test");
        Opened::Late(late)
            .into_sink("stuck", &quick_retry(), &metrics)
            .await;
        assert_eq!(metrics.errors.open.get(), 1);
        assert_eq!(metrics.retries.get(), 1);
    }

    /// An output whose sink has not opened makes `/health` 503 while it
    /// is late, with why, and 200 once it opens.
    #[tokio::test(flavor = "current_thread")]
    async fn a_late_sink_is_down_on_health_until_it_opens() {
        let (a, release, stuck, a_ctx) = gate("stuck");
        let opened = open_all(vec![(a, stuck, a_ctx)], Duration::from_millis(20))
            .await
            .unwrap();
        let [late @ Opened::Late(_)] = <[Opened; 1]>::try_from(opened).ok().unwrap() else {
            panic!("the hanging sink is late");
        };
        let registry = Metrics::new();
        let metrics = registry.output("stuck", "test");
        let opening = tokio::spawn({
            let metrics = metrics.clone();
            async move { late.into_sink("stuck", &quick_retry(), &metrics).await }
        });
        let health = |registry: &Metrics| registry.health().check(Duration::from_secs(60));
        tokio::time::timeout(Duration::from_secs(10), async {
            while health(&registry).is_ok() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        // One line, the output's, saying why (the seconds vary).
        let said = |registry: &Metrics, why: &str| {
            let lines = health(registry).unwrap_err();
            lines.len() == 1
                && lines[0].starts_with("output stuck: down for ")
                && lines[0].ends_with(why)
        };
        assert!(said(&registry, "s: its sink is still opening after 1s"));
        // It fails, and is tried again.
        release.send(false).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while metrics.errors.open.get() == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
        assert!(said(
            &registry,
            "s: its sink does not open: opening gate: refused"
        ));
        release.send(true).unwrap();
        opening.await.unwrap();
        assert_eq!(health(&registry), Ok(()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sink_that_fails_to_open_in_time_stops_the_start_naming_its_output() {
        let (b, fail, bad, b_ctx) = gate("bad");
        fail.send(false).unwrap();
        let (a, _hang, stuck, a_ctx) = gate("stuck");
        let err = open_all(
            vec![(a, stuck, a_ctx), (b, bad, b_ctx)],
            Duration::from_millis(50),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(err.to_string(), "outputs.bad: opening gate: refused");
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        let retry = RetryConfig {
            initial_backoff: Interval(Duration::from_millis(100)),
            max_backoff: Interval(Duration::from_millis(300)),
            max_attempts: None,
        };
        let mut b = Backoff::new(&retry);
        for step in [100, 200, 300, 300] {
            let wait = b.next().as_secs_f64() * 1000.0;
            assert!(
                (step as f64 * 0.5..=step as f64 * 1.5).contains(&wait),
                "{wait}ms for step {step}ms"
            );
        }
    }
}
