//! `levee run` and `levee validate`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::stderr::say;
use anyhow::Result;
use levee_pipeline::config::{self, Pipeline};
use levee_pipeline::metrics::Metrics;
use levee_pipeline::topology::{self, RunOptions, RunReport};

pub async fn run(config_path: &Path, exit_on_eof: bool) -> Result<ExitCode> {
    let pipeline = match config::load(config_path) {
        Ok(p) => p,
        Err(errors) => {
            say!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    for warning in &pipeline.warnings {
        tracing::warn!("{warning}");
    }
    let report = run_pipeline(pipeline, exit_on_eof).await?;
    print_report(&report);
    Ok(if report.source_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a checked pipeline until its inputs end or a signal comes.
pub async fn run_pipeline(pipeline: Pipeline, exit_on_eof: bool) -> Result<RunReport> {
    let metrics = Arc::new(Metrics::new());
    // Before the pipeline starts, so a port in use stops `levee run` at once.
    let query_api = match pipeline.query_api.clone() {
        Some(settings) => {
            let server = crate::query_api::start(settings.into())?;
            tracing::info!("query API on http://{}/v1/query", server.local_addr);
            Some(server)
        }
        None => None,
    };
    let console = match pipeline.console.clone() {
        Some(settings) => {
            let settings = crate::console::Settings::of(settings, &pipeline, metrics.clone());
            let server = crate::console::start(settings)?;
            tracing::info!("console on http://{}/", server.local_addr);
            Some(server)
        }
        None => None,
    };
    let compactor = pipeline.compaction.clone().and_then(|settings| {
        let targets = pipeline
            .outputs
            .iter()
            .filter_map(|o| o.lake.clone())
            .collect();
        super::scheduled::start(settings, targets)
    });
    let report = topology::run(
        pipeline,
        metrics,
        RunOptions {
            exit_on_eof,
            parquet: Some(Arc::new(super::parquet::LakeParquet)),
        },
        shutdown_signal(),
    )
    .await;
    if let Some(compactor) = compactor {
        compactor.stop().await;
    }
    if let Some(server) = query_api {
        server.stop().await;
    }
    if let Some(server) = console {
        server.stop().await;
    }
    Ok(report?)
}

pub fn validate(config_path: &Path) -> Result<ExitCode> {
    match config::load(config_path) {
        Ok(p) => {
            for warning in &p.warnings {
                say!("{warning}");
            }
            println!(
                "{}: ok ({} sources, {} filters, {} outputs{})",
                config_path.display(),
                p.sources.len(),
                p.filters.len(),
                p.outputs.len(),
                match p.warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_owned(),
                    n => format!(", {n} warnings"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            say!("{errors}");
            Ok(ExitCode::from(2))
        }
    }
}

fn print_report(report: &RunReport) {
    for (name, m) in &report.sources {
        let mut line = format!(
            "source {name}: {} events from {} bytes, {} failed to parse (routed to @ERROR)",
            m.events.get(),
            m.bytes.get(),
            m.parse_errors.get()
        );
        // Only worth a word when it happened: both are rare and mean a look.
        if m.time_errors.get() > 0 {
            line.push_str(&format!(
                ", {} with a time that did not parse (ingest time kept)",
                m.time_errors.get()
            ));
        }
        if m.multiline_cuts.get() > 0 {
            line.push_str(&format!(
                ", {} multi-line records cut at their limit",
                m.multiline_cuts.get()
            ));
        }
        say!("{line}");
    }
    for (name, m) in &report.outputs {
        let dropped = m.dropped_full.get() + m.dropped_failed.get() + m.dropped_disk.get();
        let mut line = format!(
            "output {name}: {} events in {} batches, {} retries, {} dropped",
            m.events.get(),
            m.batches.get(),
            m.retries.get(),
            dropped
        );
        if m.buffer_damage.get() > 0 {
            line.push_str(&format!(
                ", {} damaged places in its disk buffer skipped ({} bytes)",
                m.buffer_damage.get(),
                m.buffer_damaged_bytes.get()
            ));
        }
        say!("{line}");
    }
    for (name, error) in &report.source_errors {
        say!("source {name} failed: {error}");
    }
}

/// Resolves at the first Ctrl-C or SIGTERM; a second one exits at once.
pub(crate) async fn shutdown_signal() {
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        say!("levee: second signal: exiting without draining the buffers");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
