//! CPU time and peak memory, from getrusage for this process and from
//! wait4 for each child, so that every run of the collector gets its own
//! figures (RUSAGE_CHILDREN would give the largest peak of them all).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// What a finished child cost.
pub struct ChildUsage {
    pub status: ExitStatus,
    pub cpu: Duration,
    pub peak_rss: Option<u64>,
}

#[cfg(unix)]
mod sys {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, ExitStatus};
    use std::time::Duration;

    fn to_duration(t: libc::timeval) -> Duration {
        Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000)
    }

    fn rusage(who: libc::c_int) -> Option<libc::rusage> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct we own; a non-zero return leaves it unused.
        let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
        // SAFETY: rc == 0 means the kernel wrote the whole struct.
        (rc == 0).then(|| unsafe { usage.assume_init() })
    }

    pub fn self_cpu() -> Duration {
        rusage(libc::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
            to_duration(u.ru_utime) + to_duration(u.ru_stime)
        })
    }

    /// ru_maxrss is in KiB on Linux.
    pub fn self_peak_rss() -> Option<u64> {
        rusage(libc::RUSAGE_SELF).map(|u| u.ru_maxrss as u64 * 1024)
    }

    /// Waits for `child` and takes its own resource usage. The `Child` is
    /// consumed: once reaped here, it must not be waited for again.
    pub fn wait(child: Child) -> std::io::Result<(ExitStatus, Duration, Option<u64>)> {
        let pid = child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        loop {
            // SAFETY: wait4 writes the status and usage we own; `pid` is our
            // child, not reaped yet (the `Child` is consumed and never waited on).
            let rc = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
            if rc == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        // SAFETY: wait4 returned the child's pid, so it wrote the whole struct.
        let usage = unsafe { usage.assume_init() };
        let cpu = to_duration(usage.ru_utime) + to_duration(usage.ru_stime);
        Ok((
            ExitStatus::from_raw(status),
            cpu,
            Some(usage.ru_maxrss as u64 * 1024),
        ))
    }
}

#[cfg(not(unix))]
mod sys {
    use std::process::{Child, ExitStatus};
    use std::time::Duration;

    pub fn self_cpu() -> Duration {
        Duration::ZERO
    }

    pub fn self_peak_rss() -> Option<u64> {
        None
    }

    pub fn wait(mut child: Child) -> std::io::Result<(ExitStatus, Duration, Option<u64>)> {
        Ok((child.wait()?, Duration::ZERO, None))
    }
}

pub use sys::{self_cpu, self_peak_rss};

/// Runs `command` to its end with its output in `log` (a file, so that a
/// chatty child never blocks on a full pipe), and measures it.
pub fn run_child(command: &mut Command, log: &Path) -> Result<ChildUsage> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    run_child_into(command, out.try_clone()?, out)
}

/// Runs `command` to its end with its standard output and error in the
/// files given, and measures it.
pub fn run_child_into(
    command: &mut Command,
    stdout: std::fs::File,
    stderr: std::fs::File,
) -> Result<ChildUsage> {
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .context("starting the child")?;
    wait_child(child)
}

/// Starts `command` with its output in `log`, for a caller that talks to
/// it before [`wait_child`] measures it.
pub fn spawn_child(command: &mut Command, log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting the child")
}

/// Waits for `child` to end and takes what it cost. It must not have been
/// waited for before.
pub fn wait_child(child: Child) -> Result<ChildUsage> {
    let (status, cpu, peak_rss) = sys::wait(child).context("waiting for the child")?;
    Ok(ChildUsage {
        status,
        cpu,
        peak_rss,
    })
}
