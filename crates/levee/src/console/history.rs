//! The history behind the console's graphs (placeholder).

use std::sync::Arc;
use std::time::Duration;

use levee_pipeline::metrics::Metrics;

/// The last samples of the registry.
pub(crate) struct History {
    pub(crate) resolution: Duration,
}

impl History {
    pub(crate) fn new(resolution: Duration) -> History {
        History { resolution }
    }
}

/// Takes a point every `resolution`, until dropped.
pub(crate) async fn sample(history: Arc<History>, metrics: Arc<Metrics>) {
    let mut every = tokio::time::interval(history.resolution);
    loop {
        every.tick().await;
        let _ = metrics.encode_classic();
    }
}
