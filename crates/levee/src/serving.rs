//! Serving HTTP beside the collector: the query API and the console each
//! run on a thread of their own, with a runtime of their own whose workers
//! run at a lower priority, so a query or a page's polling never takes the
//! collector's workers.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use levee_pipeline::http_server::{self, HttpLimits};
use tokio::sync::watch;

/// The nice value of the servers' threads: below the collector, above
/// nothing in particular (compaction's default is 10 too).
const NICE: i32 = 10;

/// Work to run beside the server on its runtime until it stops.
pub type Background = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How a server's threads are named and its errors logged.
pub struct Names {
    /// What the log calls it ("query API").
    pub what: &'static str,
    /// The thread that runs the server.
    pub thread: &'static str,
    /// The runtime's worker threads.
    pub workers: &'static str,
}

/// A server running on its own thread.
pub struct Server {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
    /// The address it listens on (the port chosen, for `:0`).
    pub local_addr: SocketAddr,
}

/// Binds the address now, so a port in use is an error at start, not later.
pub fn bind(what: &str, listen: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| anyhow::anyhow!("{what}: cannot listen on {listen}: {e}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `app` on `listener` from a thread of its own, with `threads`
/// workers; `background`, if any, runs on the same runtime until the server
/// is stopped.
pub fn start(
    names: Names,
    listener: std::net::TcpListener,
    threads: usize,
    app: Router,
    background: Option<Background>,
) -> anyhow::Result<Server> {
    let local_addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(names.workers)
        .on_thread_start(|| crate::commands::scheduled::lower_priority(NICE))
        .enable_all()
        .build()?;
    let (stop, stopped) = watch::channel(false);
    let what = names.what;
    let thread = std::thread::Builder::new()
        .name(names.thread.into())
        .spawn(move || {
            crate::commands::scheduled::lower_priority(NICE);
            runtime.block_on(async move {
                if let Some(background) = background {
                    let mut stopped = stopped.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = background => {}
                            _ = stopped.wait_for(|s| *s) => {}
                        }
                    });
                }
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("{what}: cannot listen: {e}");
                        return;
                    }
                };
                let mut stopped = stopped;
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) =
                    http_server::serve(listener, app, HttpLimits::default(), shutdown).await
                {
                    tracing::error!("{what}: {e}");
                }
            });
            // Queries still running are abandoned, not waited for.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
    Ok(Server {
        stop,
        thread,
        local_addr,
    })
}

impl Server {
    /// Stops accepting, lets answers being written finish, and waits for
    /// the thread.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}
