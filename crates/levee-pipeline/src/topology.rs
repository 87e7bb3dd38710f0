//! Wiring a validated [`Pipeline`] into running tasks, and taking them down
//! in order so nothing accepted is lost.
//!
//! ```text
//! source task ─► bounded channel ─► router task (filters, routes) ─► output buffer ─► worker ─► sink
//! ```
//!
//! Shutdown runs front to back: sources stop and send what they hold, the
//! router tasks finish when their channels drain, then every buffer closes
//! and each worker writes what is left before closing its sink.

use std::future::Future;
use std::sync::Arc;

use levee_io::{SinkContext, SinkMetrics, SourceContext, SourceError, SourceMetrics};
use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinError, JoinSet};

use crate::buffer::{self, Buffer, DiskBuffer, MemoryBuffer};
use crate::config::Pipeline;
use crate::metrics::{self, Metrics, OutputMetrics};
use crate::router::{self, Route, Router};
use crate::{PipelineError, opening, output};

/// Batches in flight between a source and its router: small, because the
/// buffers behind the router are where events wait.
const SOURCE_CHANNEL_BATCHES: usize = 4;

/// How a run ends.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop when every source reaches the end of its input (as Fluent Bit's
    /// `Exit_On_Eof`): for backfills, the demo and benchmarks.
    pub exit_on_eof: bool,
    /// Makes the Parquet chunks of lake outputs with `format = "parquet"`
    /// or `"both"`: the binary gives levee-lake's, which the collector
    /// crates never build. Without it, such an output refuses to open.
    pub parquet: Option<Arc<dyn levee_io::sinks::lake::ParquetEncoder>>,
}

/// What a finished run did, per output.
#[derive(Debug)]
pub struct RunReport {
    /// Each source's name and counters.
    pub sources: Vec<(String, SourceMetrics)>,
    /// Each output's name and counters.
    pub outputs: Vec<(String, OutputMetrics)>,
    /// Sources that stopped with an error, and why.
    pub source_errors: Vec<(String, String)>,
}

/// Runs the pipeline until its sources end (with `exit_on_eof`) or
/// `shutdown` resolves, then drains every buffer.
pub async fn run(
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport, PipelineError> {
    // Off the runtime's workers, as every file-system call: a hung mount
    // must not take a worker with it.
    let data_dir = pipeline.data_dir.clone();
    tokio::task::spawn_blocking(move || std::fs::create_dir_all(&data_dir))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        .map_err(|e| PipelineError::DataDir {
            path: pipeline.data_dir.clone(),
            error: e,
        })?;

    metrics.serve_names(pipeline.metrics.names);
    // Bind first: a port in use stops the start, before anything is read.
    let metrics_server = match pipeline.metrics.listen {
        Some(addr) => {
            let listener = metrics::bind(addr)
                .await
                .map_err(|e| PipelineError::Metrics { addr, error: e })?;
            // The port the system chose, if the config asked for port 0.
            let addr = listener.local_addr().unwrap_or(addr);
            tracing::info!(%addr, "metrics on http://{addr}/metrics");
            let (done, until_done) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(metrics::serve(
                listener,
                metrics.clone(),
                pipeline.metrics.clone(),
                async {
                    let _ = until_done.await;
                },
            ));
            Some((done, server))
        }
        None => None,
    };

    // A disk buffer no output reads any more holds events nobody delivers.
    let with_disk: Vec<String> = pipeline
        .outputs
        .iter()
        .filter(|o| o.disk.is_some())
        .map(|o| o.name.clone())
        .collect();
    let data_dir = pipeline.data_dir.clone();
    if let Ok(orphans) =
        tokio::task::spawn_blocking(move || buffer::disk::orphans(&data_dir, &with_disk)).await
    {
        for (dir, bytes) in orphans {
            tracing::warn!(dir = %dir.display(), bytes,
                "a disk buffer of an output that has none now (renamed, or switched to memory); its events are not delivered (see `levee buffer inspect`)");
        }
    }

    // Outputs first, so that nothing is read before it has somewhere to go;
    // all at once, so that no sink's opening holds back the others.
    // Each output's sink, then its secondary's if it has one.
    let ctx = |metrics: SinkMetrics, state: String| SinkContext {
        metrics,
        output: state,
        data_dir: pipeline.data_dir.clone(),
        parquet: options.parquet.clone(),
    };
    let mut sinks = Vec::new();
    for o in &pipeline.outputs {
        let counts = metrics.output(&o.name, o.kind);
        let own = SinkMetrics {
            replay_skipped: counts.replay_skipped.clone(),
            bytes: counts.bytes.clone(),
        };
        // One sink per worker (`workers`): only sinks that allow it get more.
        for _ in 0..o.workers {
            sinks.push((
                o.name.clone(),
                o.sink.clone(),
                ctx(own.clone(), o.name.clone()),
            ));
        }
        if let Some(secondary) = &o.secondary {
            // A state folder of its own (a lake's writer id and journal).
            // Its bytes are not the output's: what it stores is counted in
            // `levee_output_secondary_events_total`, not as stored.
            let state = format!("{}.secondary", o.name);
            let theirs = SinkMetrics {
                replay_skipped: counts.replay_skipped.clone(),
                bytes: Default::default(),
            };
            sinks.push((state.clone(), secondary.clone(), ctx(theirs, state)));
        }
    }
    let opened = opening::open_all(sinks, opening::OPEN_GRACE).await?;
    let mut workers = JoinSet::new();
    let mut routes = Vec::new();
    let mut buffers = Vec::new();
    let mut reports = Vec::new();
    let mut opened = opened.into_iter();
    for output in pipeline.outputs {
        let own: Vec<_> = opened.by_ref().take(output.workers).collect();
        let mut secondary = if output.secondary.is_some() {
            opened.next()
        } else {
            None
        };
        let output_metrics = metrics.output(&output.name, output.kind);
        let buffer = match output.disk {
            None => Buffer::Memory(MemoryBuffer::new(output.buffer, output_metrics.clone())),
            Some(disk) => {
                let dir = buffer::disk::dir_for(&pipeline.data_dir, &output.name);
                let disk_buffer = DiskBuffer::open(
                    dir.clone(),
                    output.name.clone(),
                    output.buffer,
                    disk,
                    output_metrics.clone(),
                )
                .await
                .map_err(|e| PipelineError::DataDir {
                    path: dir,
                    error: e,
                })?;
                Buffer::Disk(disk_buffer)
            }
        };
        let buffer = Arc::new(buffer);
        for sink in own {
            let (name, worker_buffer, worker_metrics, retry) = (
                output.name.clone(),
                buffer.clone(),
                output_metrics.clone(),
                output.retry.clone(),
            );
            // Only with one worker (checked in config).
            // Its open is reported apart: the output's own calls, working,
            // would otherwise clear a secondary that does not open.
            let secondary = secondary.take().map(|s| {
                let health = format!("output {}.secondary", output.name);
                (s, metrics.health().component(&health))
            });
            workers.spawn(async move {
                let running = worker_metrics
                    .health
                    .guard("its worker stopped: a panic (a bug: see the log)");
                let sink = sink.into_sink(&name, &retry, &worker_metrics).await;
                // Opened on its own: a secondary that hangs holds back only
                // the first batch that needs it.
                let secondary = secondary.map(|(s, health)| {
                    let (name, retry) = (name.clone(), retry.clone());
                    let mut metrics = worker_metrics.clone();
                    metrics.health = health;
                    output::Secondary::opening(tokio::spawn(async move {
                        s.into_sink(&name, &retry, &metrics).await
                    }))
                });
                output::run_worker(name, worker_buffer, sink, secondary, retry, worker_metrics)
                    .await;
                running.finish();
            });
        }
        routes.push(Route {
            pattern: output.pattern,
            buffer: buffer.clone(),
            events: metrics.route(&output.name, output.kind),
        });
        buffers.push(buffer);
        reports.push((output.name, output_metrics));
    }

    let filters = pipeline
        .filters
        .into_iter()
        .enumerate()
        .map(|(i, mut f)| {
            let name = format!("{}_{}", i + 1, f.kind());
            f.count_into(&metrics, &name);
            (f, metrics.filter(&name))
        })
        .collect();
    let router = Arc::new(Router::new(filters, routes, metrics.clone()));

    let (stop, stopped) = watch::channel(false);
    let mut routers = JoinSet::new();
    let mut sources = JoinSet::new();
    let mut source_reports = Vec::new();
    // A source task that panics is known only by its id.
    let mut source_names = std::collections::HashMap::new();
    for built in pipeline.sources {
        let (tx, rx) = mpsc::channel::<levee_event::Sent>(SOURCE_CHANNEL_BATCHES);
        // A router that panics (a filter's bug) ends its source's events.
        let running = metrics
            .health()
            .component(&format!("source {}", built.name))
            .guard("its router stopped: a panic (a bug: see the log)");
        routers.spawn({
            let router = router.clone();
            async move {
                router::run(router, rx).await;
                running.finish();
            }
        });
        let ctx = SourceContext {
            name: built.name.clone(),
            out: tx,
            shutdown: stopped.clone(),
            exit_on_eof: options.exit_on_eof,
            data_dir: pipeline.data_dir.clone(),
            metrics: metrics.source(&built.name),
        };
        source_reports.push((built.name.clone(), ctx.metrics.clone()));
        let id = sources.spawn(built.source.run(ctx)).id();
        source_names.insert(id, built.name);
    }
    drop(router);
    // The buffers close once every source has let go of its channel, not
    // once every source task ended: a tail source then waits for its last
    // acks, which come back only as the outputs drain.
    let to_close = buffers.clone();
    let closing = tokio::spawn(async move {
        while routers.join_next().await.is_some() {}
        for buffer in &to_close {
            buffer.close();
        }
    });

    let mut source_errors = Vec::new();
    // A source that ended by itself (its input ended) is fine; one that
    // stopped with an error is down for `/health` from then on.
    let mut note = |joined: Result<(Id, Result<(), SourceError>), JoinError>| {
        let (id, error) = match joined {
            Ok((_, Ok(()))) => return,
            Ok((id, Err(e))) => (id, e.to_string()),
            Err(e) => (e.id(), format!("source task failed: {e}")),
        };
        let name = source_names.get(&id).cloned().unwrap_or_else(|| "?".into());
        tracing::error!(source = %name, %error, "source stopped");
        metrics
            .health()
            .component(&format!("source {name}"))
            .down(format_args!("stopped: {error}"));
        source_errors.push((name, error));
    };

    tokio::pin!(shutdown);
    let mut signalled = false;
    loop {
        tokio::select! {
            joined = sources.join_next_with_id() => match joined {
                Some(j) => note(j),
                None => break,
            },
            () = &mut shutdown => {
                signalled = true;
                tracing::info!("shutting down: stopping sources, then draining buffers");
                let _ = stop.send(true);
                while let Some(j) = sources.join_next_with_id().await {
                    note(j);
                }
                break;
            }
        }
    }
    let drain = async {
        let _ = closing.await;
        while workers.join_next().await.is_some() {}
    };
    tokio::pin!(drain);
    // The sources ended by themselves: a drain that hangs (an output that
    // never opens or never takes a write) must still heed a signal, so that
    // the second one ends the process.
    if !signalled {
        tokio::select! {
            () = &mut drain => {}
            () = &mut shutdown => {
                tracing::info!("signal while draining the buffers: still draining");
                drain.await;
            }
        }
    } else {
        drain.await;
    }
    // What the sinks stored is where a disk buffer reads on after a restart.
    for buffer in &buffers {
        buffer.finish().await;
    }
    // Scrapers see the final counts until the very end.
    if let Some((done, server)) = metrics_server {
        let _ = done.send(());
        let _ = server.await;
    }

    Ok(RunReport {
        sources: source_reports,
        outputs: reports,
        source_errors,
    })
}
