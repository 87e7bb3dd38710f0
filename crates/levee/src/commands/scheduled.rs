//! Scheduled compaction inside `levee run` (`[compaction]`).
//!
//! It runs on a thread of its own, at a lower priority (`nice`), with its
//! own single-threaded runtime: compaction is CPU work (JSON decoding,
//! Parquet encoding) that must never take the collector's workers, and the
//! kernel gives the collector's threads the CPU first when both want it.
//!
//! At each time of the schedule it compacts, in every lake a lake output of
//! the config writes to, every table (not only those the outputs write:
//! a table another process or an earlier config fed is compacted, and its
//! retention applied, too), the complete hours (those that have ended)
//! that are not compacted yet or changed since; a table another compactor
//! is working on is left for the next time. Errors are logged, never fatal
//! to the pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use levee_lake::compact::{CompactOptions, HourSelection, LockWait, compact_table};
use levee_lake::{Lake, LakeError, Partition, S3Options, TableRef, catalog};
use levee_pipeline::compaction::{CompactionSettings, LakeTarget};
use tokio::sync::watch;

/// The scheduled compactor, running.
pub struct Compactor {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the compactor for `targets` (deduplicated); `None` when there is
/// no table to compact or the thread could not start (said in the log).
pub fn start(settings: CompactionSettings, mut targets: Vec<LakeTarget>) -> Option<Compactor> {
    targets.sort();
    targets.dedup();
    if targets.is_empty() {
        tracing::warn!("[compaction] is set, but no lake output writes a table to compact");
        return None;
    }
    let (stop, stopped) = watch::channel(false);
    // 15 bytes at most, as the kernel keeps a thread's name.
    let thread = std::thread::Builder::new()
        .name("levee-compact".into())
        .spawn(move || run(settings, targets, stopped));
    match thread {
        Ok(thread) => Some(Compactor { stop, thread }),
        Err(e) => {
            tracing::error!("cannot start the compaction thread: {e}");
            None
        }
    }
}

impl Compactor {
    /// Stops it, abandoning a compaction in progress (safe: an hour is
    /// committed whole or not at all), and waits for the thread.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// A test hook, not a setting: `LEVEE_TEST_COMPACTION_EVERY_MS` replaces
/// the schedule by a run every that many milliseconds, so an end-to-end
/// test need not wait for the clock's next minute.
fn test_interval() -> Option<Duration> {
    std::env::var("LEVEE_TEST_COMPACTION_EVERY_MS")
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

fn run(settings: CompactionSettings, targets: Vec<LakeTarget>, mut stopped: watch::Receiver<bool>) {
    lower_priority(settings.nice);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the compaction runtime: {e}");
            return;
        }
    };
    let every = test_interval();
    let lakes: BTreeSet<&str> = targets.iter().map(|t| t.lake.as_str()).collect();
    tracing::info!(
        "compaction scheduled at \"{}\" (UTC) for every table of {} lakes",
        settings.schedule,
        lakes.len()
    );
    runtime.block_on(async move {
        loop {
            let wait = match every {
                Some(every) => every,
                None => {
                    let now = now_secs();
                    let Some(next) = settings.schedule.next_after(now) else {
                        tracing::warn!("the compaction schedule never runs again");
                        return;
                    };
                    Duration::from_secs(u64::try_from(next - now).unwrap_or(0))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => return,
            }
            tokio::select! {
                _ = compact_all(&targets, settings.grace) => {}
                _ = stopped.changed() => return,
            }
        }
    });
}

/// One scheduled run over every table.
async fn compact_all(targets: &[LakeTarget], grace: Duration) {
    // Complete hours only: up to the one before the hour now.
    let last_complete = Partition::of_time(now_nanos() - 3_600_000_000_000).0;
    let first = Partition {
        dt: "0000-01-01".into(),
        hour: 0,
    };
    let options = CompactOptions {
        hours: HourSelection::Pending,
        within: Some((first, last_complete)),
        lock_wait: LockWait::No,
        grace,
        ..CompactOptions::default()
    };
    for (lake, table) in tables_of(targets).await {
        match compact_table(&lake, &table, &options).await {
            Ok(report)
                if report.hours.is_empty()
                    && report.purged_files.is_empty()
                    && report.expired.is_empty() => {}
            Ok(report) => {
                tracing::info!("compaction: {table}: {}", super::compact::summary(&report));
                for warning in report.warnings() {
                    tracing::warn!("compaction: {warning}");
                }
            }
            Err(LakeError::Locked { holder, .. }) => {
                tracing::info!(
                    "compaction: {table} is being compacted by {holder}; left for next time"
                );
            }
            Err(e) => tracing::warn!("compaction of {table} failed: {e}"),
        }
    }
}

/// Every table of every lake the targets name: the targets' own, and any
/// other the lake holds.
async fn tables_of(targets: &[LakeTarget]) -> Vec<(Lake, TableRef)> {
    // A lake is its root and how it is reached (two outputs may name one
    // bucket through two endpoints).
    let mut by_lake: BTreeMap<(&str, &S3Options), BTreeSet<TableRef>> = BTreeMap::new();
    for target in targets {
        match TableRef::new(&target.database, &target.table) {
            Ok(t) => {
                by_lake
                    .entry((&target.lake, &target.s3))
                    .or_default()
                    .insert(t);
            }
            Err(e) => tracing::warn!("compaction: {e}"),
        }
    }
    let mut out = Vec::new();
    for ((location, s3), mut tables) in by_lake {
        let lake = match Lake::open_with(location, s3) {
            Ok(lake) => lake,
            Err(e) => {
                tracing::warn!("compaction of the lake {location}: {e}");
                continue;
            }
        };
        match catalog::list_tables(&lake).await {
            Ok(found) => tables.extend(found),
            Err(e) => tracing::warn!("compaction: listing the tables of {location}: {e}"),
        }
        out.extend(tables.into_iter().map(|t| (lake.clone(), t)));
    }
    out
}

/// Makes this thread yield the CPU to the collector's: on Linux, a
/// thread's nice value is its own (elsewhere a no-op). The compactor's and
/// the query API's threads use it.
pub(crate) fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on this thread's own id.
        let failed = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) != 0
        };
        if failed {
            tracing::warn!(
                "cannot lower the priority of thread {:?}: {}",
                std::thread::current().name().unwrap_or("?"),
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
