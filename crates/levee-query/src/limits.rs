//! What one query may take: time, memory, a place among the queries running,
//! and threads.
//!
//! A query runs beside the collector (`levee run` serves the HTTP API from
//! the same process) or beside other users of the API, so none may run
//! without bounds: today's worst case, a self-join of a demo-sized table,
//! would otherwise grow until the kernel kills the process. Each bound fails
//! the query with a [`QueryError`] that names it:
//!
//! - the time limit covers planning, execution and the accounting;
//! - the memory limit is DataFusion's memory pool, shared by every session
//!   made from the same [`QueryLimits`] (so it bounds all the queries of an
//!   API server together, not each). Nothing spills to disk: a query cannot
//!   fill the disk the collector's buffers live on, and one that needs more
//!   memory fails instead;
//! - the concurrency cap refuses a query at once, rather than queueing it,
//!   when that many already run: a client can retry, and a queue would only
//!   hide the load;
//! - target partitions bound the threads one query keeps busy.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryPool, TrackConsumersPool,
};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::QueryError;

/// The bounds every query runs under, as a user sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryOptions {
    /// How long a query may take, from its text to its last row and its
    /// accounting. Default 30 s.
    pub timeout: Duration,
    /// How much memory the queries of a session (or of every session made
    /// from one [`QueryLimits`]) may hold at once, in bytes: hash tables,
    /// sort buffers, aggregates. Default 512 MiB.
    pub memory_limit: usize,
    /// How many queries may run at once; one more is refused. Default 2.
    pub max_concurrent: usize,
    /// How many partitions (threads) one query's plan is split into.
    /// Default 2, a 2-core host's cores: the collector keeps the rest of
    /// the machine's time.
    pub target_partitions: usize,
}

/// 30 s: a log query over a day of a busy host's Parquet takes well under
/// a second; one that takes half a minute is scanning far more than meant.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// 512 MiB: a quarter of a small 2 GiB collector host, and ten times what
/// the demo's and the queries need.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 * 1024 * 1024;
/// Two queries at once: each gets a core of a 2-core host at most.
pub const DEFAULT_MAX_CONCURRENT: usize = 2;
/// See [`QueryOptions::target_partitions`].
pub const DEFAULT_TARGET_PARTITIONS: usize = 2;

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            timeout: DEFAULT_TIMEOUT,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            target_partitions: DEFAULT_TARGET_PARTITIONS,
        }
    }
}

/// Which bound a query went over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// [`QueryOptions::timeout`].
    Time,
    /// [`QueryOptions::memory_limit`].
    Memory,
    /// [`QueryOptions::max_concurrent`].
    Concurrency,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Time => "time limit",
            Limit::Memory => "memory limit",
            Limit::Concurrency => "concurrent query limit",
        })
    }
}

/// [`QueryOptions`] made into the shared things that enforce them: the
/// memory pool and the permits. Cloning shares them, so sessions reopened
/// over a lake (to see its new tables) keep one budget.
#[derive(Clone)]
pub struct QueryLimits {
    options: QueryOptions,
    pool: Arc<dyn MemoryPool>,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for QueryLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryLimits")
            .field("options", &self.options)
            .field("reserved", &self.pool.reserved())
            .field("free_permits", &self.permits.available_permits())
            .finish()
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits::new(QueryOptions::default())
    }
}

impl From<QueryOptions> for QueryLimits {
    fn from(options: QueryOptions) -> Self {
        QueryLimits::new(options)
    }
}

/// How many of the biggest memory users an out-of-memory error names.
const TOP_CONSUMERS: NonZeroUsize = NonZeroUsize::MIN.saturating_add(2);

impl QueryLimits {
    /// A fresh budget: an empty pool of `memory_limit` bytes and
    /// `max_concurrent` permits (0 counts as 1, as does a 0 partition count).
    pub fn new(options: QueryOptions) -> QueryLimits {
        let options = QueryOptions {
            max_concurrent: options.max_concurrent.max(1),
            target_partitions: options.target_partitions.max(1),
            ..options
        };
        // Greedy, not fair-spill: nothing spills (see the module's docs), so
        // there is nothing to share fairly between spilling operators; the
        // tracking wrapper names the biggest users in the error.
        let pool =
            TrackConsumersPool::new(GreedyMemoryPool::new(options.memory_limit), TOP_CONSUMERS);
        QueryLimits {
            options,
            pool: Arc::new(pool),
            permits: Arc::new(Semaphore::new(options.max_concurrent)),
        }
    }

    /// The bounds.
    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// The memory pool every session made from these limits draws from.
    pub(crate) fn pool(&self) -> Arc<dyn MemoryPool> {
        self.pool.clone()
    }

    /// No temporary files: see the module's docs.
    pub(crate) fn disk_manager() -> DiskManagerBuilder {
        DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled)
    }

    /// A place among the running queries, or the error that says there is none.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| QueryError::Limit {
                limit: Limit::Concurrency,
                message: format!(
                    "{} queries are running already, the most allowed at once; try again when one has finished",
                    self.options.max_concurrent
                ),
            })
    }

    /// Runs `plan` to its end and gathers its rows, which count against the
    /// memory limit too: a self-join's answer can outgrow any hash table
    /// that made it, and held outside the pool it would be unbounded.
    pub(crate) async fn collect(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> Result<Vec<RecordBatch>, DataFusionError> {
        let held = MemoryConsumer::new("the answer's rows").register(&self.pool);
        let mut rows = execute_stream(plan, task)?;
        let mut batches = Vec::new();
        while let Some(batch) = rows.next().await {
            let batch = batch?;
            held.try_grow(batch.get_array_memory_size())?;
            batches.push(batch);
        }
        // The caller holds them from here; the query's budget is freed.
        drop(held);
        Ok(batches)
    }

    /// The error for a query that ran out of time.
    pub(crate) fn timed_out(&self) -> QueryError {
        QueryError::Limit {
            limit: Limit::Time,
            message: format!(
                "stopped after {}, the longest a query may run",
                humanize(self.options.timeout)
            ),
        }
    }

    /// The error for a query that asked for more memory than is left;
    /// `detail` is DataFusion's account of who holds it.
    pub(crate) fn out_of_memory(&self, detail: &str) -> QueryError {
        QueryError::Limit {
            limit: Limit::Memory,
            message: format!(
                "the query needs more than the {} queries may hold at once ({})",
                ByteSize::b(self.options.memory_limit as u64)
                    .display()
                    .iec(),
                detail.trim()
            ),
        }
    }
}

/// `plan` with every operator's output drawing on tokio's task budget, so
/// that a query yields to the scheduler, and its time limit can stop it,
/// however many batches an operator makes from one: a join that pairs each
/// row with thousands, feeding a `count(*)`, would otherwise run inside one
/// poll for as long as it takes (DataFusion only budgets the scans).
pub(crate) fn cooperative(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
    plan.transform_up(|node| {
        if node.downcast_ref::<CooperativeExec>().is_some() {
            return Ok(Transformed::no(node));
        }
        let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
        Ok(Transformed::yes(wrapped))
    })
    .map(|t| t.data)
}

/// `30s`, `1m 30s`, `250ms`: as a user writes durations.
fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    } else {
        humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_refuses_one_query_more_and_frees_its_place_when_one_ends() {
        let limits = QueryLimits::new(QueryOptions {
            max_concurrent: 2,
            ..QueryOptions::default()
        });
        let a = limits.admit().expect("first");
        let _b = limits.admit().expect("second");
        let err = limits.admit().expect_err("third is over the cap");
        assert!(err.to_string().contains("concurrent query limit"), "{err}");
        drop(a);
        let _again = limits.admit().expect("a place is free again");
    }

    #[test]
    fn zero_means_one_not_a_session_that_can_never_answer() {
        let limits = QueryLimits::new(QueryOptions {
            max_concurrent: 0,
            target_partitions: 0,
            ..QueryOptions::default()
        });
        assert_eq!(limits.options().max_concurrent, 1);
        assert_eq!(limits.options().target_partitions, 1);
        let _one = limits.admit().expect("one place");
    }

    #[test]
    fn the_errors_name_their_limit_and_its_value() {
        let limits = QueryLimits::new(QueryOptions {
            timeout: Duration::from_millis(1500),
            memory_limit: 64 * 1024 * 1024,
            ..QueryOptions::default()
        });
        assert_eq!(
            limits.timed_out().to_string(),
            "time limit: stopped after 1s 500ms, the longest a query may run"
        );
        let oom = limits
            .out_of_memory("HashJoinInput consumed 60 MiB")
            .to_string();
        assert!(oom.starts_with("memory limit: "), "{oom}");
        assert!(oom.contains("64.0 MiB"), "{oom}");
    }
}
