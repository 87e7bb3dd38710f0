//! One compaction per table at a time: a lock taken by a conditional write.
//!
//! The lock is `<db>/<table>/_levee/lock.json`, created with
//! [`PutMode::Create`] (an `If-None-Match: *` PUT on object stores, a
//! create-exclusive link on a local disk): of two compactors that try at
//! once, on one machine or two, the store lets exactly one create it.
//!
//! It is a lease, not a flag: it says who holds it and until when, and the
//! holder renews it every third of the lease while it works. A compactor
//! that crashed stops renewing, and once its lease has run out the lock is
//! stale; on the machine that held it, a holder whose process is gone is
//! stale at once. Breaking a stale lock is itself decided by a conditional
//! create (of `lock.broken-<holder>-<expiry>`, unique to that lease), so of
//! two compactors that find the same stale lock only one removes it.
//!
//! A holder that could not renew in time (a stall longer than two thirds of
//! the lease) learns it at its next renewal and stops before committing
//! another hour: [`TableLock::check`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::{Lake, LakeError, TableRef};

/// How long a lock lasts unless renewed, by default. Long enough that a
/// busy store's slow PUT does not lose it; short enough that a compactor
/// that died on another machine holds its table for at most a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long to wait for a table someone else is compacting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Give up at once with [`LakeError::Locked`] (the scheduler: the
    /// table is being compacted, which is what it wanted).
    No,
    /// Try again until this long has passed.
    Up(Duration),
}

/// `lock.json` as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockFile {
    /// Tells one holding from every other: host, process and a nonce.
    pub owner: String,
    /// The machine and process, to notice a holder that died here.
    pub host: String,
    pub pid: u32,
    /// When it was taken, in milliseconds since the epoch (for people).
    pub acquired_ms: u64,
    /// When it lapses unless renewed, in milliseconds since the epoch.
    pub expires_ms: u64,
}

impl LockFile {
    /// Whether its holder can no longer be working: its lease ran out, or
    /// it was a process of this machine that is gone.
    fn is_stale(&self, now_ms: u64) -> bool {
        self.expires_ms <= now_ms || (self.host == host_name() && !process_alive(self.pid))
    }
}

/// A held table lock. Release it with [`TableLock::release`]; dropped
/// without that, it stops renewing and lapses after its lease.
#[derive(Debug)]
pub struct TableLock {
    lake: Lake,
    key: Path,
    owner: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl TableLock {
    /// Takes the table's lock, waiting as `wait` says while another holds it.
    pub async fn acquire(
        lake: &Lake,
        table: &TableRef,
        lease: Duration,
        wait: LockWait,
    ) -> Result<TableLock, LakeError> {
        let key = table.catalog_root().join("lock.json");
        let deadline = match wait {
            LockWait::No => None,
            LockWait::Up(d) => Some(tokio::time::Instant::now() + d),
        };
        let owner = format!(
            "{}-{}-{:x}",
            host_name(),
            std::process::id(),
            now_ms() ^ u64::from(std::process::id()).rotate_left(32)
        );
        let mut pause = Duration::from_millis(50);
        let mut said_waiting = false;
        loop {
            let file = LockFile {
                owner: owner.clone(),
                host: host_name(),
                pid: std::process::id(),
                acquired_ms: now_ms(),
                expires_ms: now_ms() + millis(lease),
            };
            let created = lake
                .store
                .put_opts(
                    &key,
                    payload(&key, &file)?,
                    PutOptions::from(PutMode::Create),
                )
                .await;
            match created {
                Ok(_) => {
                    let lock = TableLock::held(lake, key, file, lease);
                    clean_break_markers(lake, table, lease).await;
                    return Ok(lock);
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            match read_lock(lake, &key).await? {
                // Released since: try again at once.
                None => continue,
                Some(Holder::Live(holder)) => {
                    let waited_enough = deadline.is_none_or(|d| tokio::time::Instant::now() >= d);
                    if waited_enough {
                        return Err(LakeError::Locked {
                            table: table.to_string(),
                            holder: holder.owner,
                        });
                    }
                    if !said_waiting {
                        tracing::info!(
                            "{table}: waiting for the compaction lock, held by {}",
                            holder.owner
                        );
                        said_waiting = true;
                    }
                }
                Some(Holder::Stale(mark)) => {
                    let marker = table.catalog_root().join(format!("lock.broken-{mark}"));
                    let claim = lake
                        .store
                        .put_opts(
                            &marker,
                            PutPayload::from(owner.clone()),
                            PutMode::Create.into(),
                        )
                        .await;
                    match claim {
                        Ok(_) => {
                            tracing::warn!("{table}: breaking a stale compaction lock ({mark})");
                            delete_if_present(lake, &key).await?;
                            continue;
                        }
                        // Another compactor is breaking it.
                        Err(object_store::Error::AlreadyExists { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    fn held(lake: &Lake, key: Path, file: LockFile, lease: Duration) -> TableLock {
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(
            lake.clone(),
            key.clone(),
            file.clone(),
            lease,
            lost.clone(),
        ));
        TableLock {
            lake: lake.clone(),
            key,
            owner: file.owner,
            lost,
            renewer,
        }
    }

    /// Fails if the lease was lost (a renewal found another holder, or
    /// none): the caller must not commit anything more.
    pub fn check(&self) -> Result<(), LakeError> {
        if self.lost.load(Ordering::Acquire) {
            Err(LakeError::LockLost {
                key: self.key.to_string(),
            })
        } else {
            Ok(())
        }
    }

    /// The holder's id, as written in the lock.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stops renewing and removes the lock, if it is still ours.
    pub async fn release(self) -> Result<(), LakeError> {
        self.renewer.abort();
        if let Ok(Some(file)) = read_file(&self.lake, &self.key).await
            && file.owner == self.owner
        {
            delete_if_present(&self.lake, &self.key).await?;
        }
        Ok(())
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Renews the lease every third of it, until aborted or the lock is not ours.
async fn renew(lake: Lake, key: Path, mut file: LockFile, lease: Duration, lost: Arc<AtomicBool>) {
    let every = (lease / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        let ours = matches!(read_file(&lake, &key).await, Ok(Some(f)) if f.owner == file.owner);
        if !ours {
            lost.store(true, Ordering::Release);
            tracing::error!("the compaction lock {key} is no longer ours");
            return;
        }
        file.expires_ms = now_ms() + millis(lease);
        let Ok(bytes) = payload(&key, &file) else {
            return;
        };
        // A failed renewal is tried again next time; the lease has two
        // more thirds to run.
        if let Err(e) = lake.store.put(&key, bytes).await {
            tracing::warn!("renewing the compaction lock {key}: {e}");
        }
    }
}

/// Deletes the `lock.broken-*` markers of leases broken long ago. A marker
/// only matters while its stale lock may still be read: to a compactor
/// that read that lock and is about to claim the break, for which a
/// deleted marker would let it break the lock again, now someone else's.
/// That takes it two requests, so a marker older than two leases (by the
/// store's clock and ours, which may differ by less) is safe to delete.
/// Best effort: a marker left for next time costs nothing but a file.
async fn clean_break_markers(lake: &Lake, table: &TableRef, lease: Duration) {
    let root = table.catalog_root();
    let Ok(listing) = lake.store.list_with_delimiter(Some(&root)).await else {
        return;
    };
    let age = millis(lease.max(DEFAULT_LEASE)).saturating_mul(2);
    let now = now_ms();
    for meta in listing.objects {
        let is_marker = meta
            .location
            .filename()
            .is_some_and(|n| n.starts_with("lock.broken-"));
        let written = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(u64::MAX);
        if is_marker
            && written.saturating_add(age) <= now
            && let Err(e) = delete_if_present(lake, &meta.location).await
        {
            tracing::debug!("{}: {e}", meta.location);
        }
    }
}

enum Holder {
    Live(LockFile),
    /// Stale, with a mark unique to that lease (for the break marker).
    Stale(String),
}

async fn read_lock(lake: &Lake, key: &Path) -> Result<Option<Holder>, LakeError> {
    let got = match lake.store.get(key).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let modified = got.meta.last_modified;
    let bytes = match got.bytes().await {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let now = now_ms();
    Ok(Some(match serde_json::from_slice::<LockFile>(&bytes) {
        Ok(file) if file.is_stale(now) => {
            Holder::Stale(format!("{}-{}", file.owner, file.expires_ms))
        }
        Ok(file) => Holder::Live(file),
        // Not ours to read (a torn or foreign file): stale once it is a
        // lease old by the store's clock, as any lock would be.
        Err(_) => {
            let age = now.saturating_sub(u64::try_from(modified.timestamp_millis()).unwrap_or(0));
            if age > millis(DEFAULT_LEASE) {
                Holder::Stale(format!("unreadable-{}", modified.timestamp_millis()))
            } else {
                Holder::Live(LockFile {
                    owner: "an unreadable lock file".to_owned(),
                    host: String::new(),
                    pid: 0,
                    acquired_ms: 0,
                    expires_ms: 0,
                })
            }
        }
    }))
}

async fn read_file(lake: &Lake, key: &Path) -> Result<Option<LockFile>, LakeError> {
    match lake.store.get(key).await {
        Ok(got) => Ok(serde_json::from_slice(&got.bytes().await?).ok()),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn payload(key: &Path, file: &LockFile) -> Result<PutPayload, LakeError> {
    serde_json::to_vec(file)
        .map(PutPayload::from)
        .map_err(|e| LakeError::Catalog {
            key: key.to_string(),
            reason: e.to_string(),
        })
}

async fn delete_if_present(lake: &Lake, key: &Path) -> Result<(), LakeError> {
    match lake.store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// This machine's name, to tell its processes from another machine's.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Whether a process of this machine still runs. Where that cannot be
/// told, it is taken as running, so only the lease ends its lock.
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake() -> (tempfile::TempDir, Lake, TableRef) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        (dir, lake, TableRef::new("db", "t").unwrap())
    }

    #[tokio::test]
    async fn a_second_compactor_is_refused_while_the_first_holds_the_lock() {
        let (_dir, lake, table) = lake();
        let first = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No)
            .await
            .unwrap();
        let second = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No).await;
        assert!(
            matches!(second, Err(LakeError::Locked { .. })),
            "{second:?}"
        );
        first.release().await.unwrap();
        let third = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No)
            .await
            .unwrap();
        third.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_waiting_compactor_gets_the_lock_once_it_is_released() {
        let (_dir, lake, table) = lake();
        let first = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No)
            .await
            .unwrap();
        let waiter = {
            let (lake, table) = (lake.clone(), table.clone());
            tokio::spawn(async move {
                TableLock::acquire(
                    &lake,
                    &table,
                    DEFAULT_LEASE,
                    LockWait::Up(Duration::from_secs(30)),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished());
        first.release().await.unwrap();
        let second = waiter.await.unwrap().unwrap();
        second.release().await.unwrap();
    }

    /// A lock whose lease ran out, or whose process here is gone, is broken.
    #[tokio::test]
    async fn a_stale_lock_is_broken_by_the_next_compactor() {
        let (_dir, lake, table) = lake();
        let key = table.catalog_root().join("lock.json");
        for stale in [
            LockFile {
                owner: "elsewhere-1-1".into(),
                host: "another-machine".into(),
                pid: 1,
                acquired_ms: 0,
                expires_ms: now_ms() - 1,
            },
            LockFile {
                owner: "here-dead".into(),
                host: host_name(),
                // Above Linux's pid_max: no such process.
                pid: 1 << 23,
                acquired_ms: now_ms(),
                expires_ms: now_ms() + 3_600_000,
            },
        ] {
            lake.store
                .put(&key, payload(&key, &stale).unwrap())
                .await
                .unwrap();
            let lock = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No)
                .await
                .unwrap();
            lock.release().await.unwrap();
        }
        // A live holder elsewhere is not broken.
        let live = LockFile {
            owner: "elsewhere-2-2".into(),
            host: "another-machine".into(),
            pid: 2,
            acquired_ms: now_ms(),
            expires_ms: now_ms() + 3_600_000,
        };
        lake.store
            .put(&key, payload(&key, &live).unwrap())
            .await
            .unwrap();
        let refused = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No).await;
        assert!(
            matches!(refused, Err(LakeError::Locked { holder, .. }) if holder == "elsewhere-2-2")
        );
    }

    /// Two compactors racing for one lock: exactly one holds it at a time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_compactors_never_both_hold_the_lock() {
        let (_dir, lake, table) = lake();
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (lake, table, inside) = (lake.clone(), table.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    let lock = TableLock::acquire(
                        &lake,
                        &table,
                        DEFAULT_LEASE,
                        LockWait::Up(Duration::from_secs(30)),
                    )
                    .await
                    .unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    lock.release().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// Markers of locks broken long ago go; a fresh one stays, as a
    /// compactor may be about to claim it.
    #[tokio::test]
    async fn old_break_markers_are_cleaned_by_the_next_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let table = TableRef::new("db", "t").unwrap();
        let old = table.catalog_root().join("lock.broken-a-1");
        let fresh = table.catalog_root().join("lock.broken-b-2");
        for key in [&old, &fresh] {
            lake.store
                .put(key, PutPayload::from("x".as_bytes()))
                .await
                .unwrap();
        }
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(old.as_ref()))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let lock = TableLock::acquire(&lake, &table, DEFAULT_LEASE, LockWait::No)
            .await
            .unwrap();
        lock.release().await.unwrap();
        assert!(lake.store.head(&old).await.is_err(), "old marker kept");
        assert!(
            lake.store.head(&fresh).await.is_ok(),
            "fresh marker deleted"
        );
    }

    #[tokio::test]
    async fn a_lock_taken_over_is_noticed_as_lost() {
        let (_dir, lake, table) = lake();
        let lock = TableLock::acquire(&lake, &table, Duration::from_millis(60), LockWait::No)
            .await
            .unwrap();
        lock.check().unwrap();
        let key = table.catalog_root().join("lock.json");
        let other = LockFile {
            owner: "thief".into(),
            host: "another-machine".into(),
            pid: 3,
            acquired_ms: now_ms(),
            expires_ms: now_ms() + 3_600_000,
        };
        lake.store
            .put(&key, payload(&key, &other).unwrap())
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lock.check().is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "loss not noticed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Releasing leaves the other's lock alone.
        lock.release().await.unwrap();
        assert!(read_file(&lake, &key).await.unwrap().is_some());
    }
}
