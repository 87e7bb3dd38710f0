//! A real slow (or stopped) output: a `file` output whose path is a named
//! pipe that the test reads at its own pace.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Makes a named pipe at `path`.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// The reading end of a named pipe, in a thread: reads at about `rate`
/// bytes a second while `go` is set (and not at all while it is clear),
/// until the last writer closes it.
pub struct SlowReader {
    /// Reading is paused while this is false.
    pub go: Arc<AtomicBool>,
    thread: JoinHandle<Vec<u8>>,
}

impl SlowReader {
    /// Opens `fifo` for reading (in the thread: the open waits for a
    /// writer) and reads it at `rate` bytes a second.
    pub fn start(fifo: &Path, rate: u64, go: bool) -> SlowReader {
        let fifo: PathBuf = fifo.to_owned();
        let go = Arc::new(AtomicBool::new(go));
        let g = go.clone();
        let thread = std::thread::spawn(move || {
            let mut file = std::fs::File::open(&fifo).unwrap();
            let mut all = Vec::new();
            let mut chunk = vec![0; 64 * 1024];
            let start = Instant::now();
            let mut paced = 0u64;
            loop {
                if !g.load(Ordering::Relaxed) {
                    // Stopped: the output is down until the test says.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let n = file.read(&mut chunk).unwrap();
                if n == 0 {
                    return all;
                }
                all.extend_from_slice(&chunk[..n]);
                // Pace: the deliberate slowness of this sink, not a wait
                // for a condition.
                paced += n as u64;
                let due = Duration::from_secs_f64(paced as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
        });
        SlowReader { go, thread }
    }

    /// Everything read, once the writer closed the pipe.
    pub fn finish(self) -> Vec<u8> {
        self.go.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The highest resident set size of process `pid` so far, in KiB
/// (`VmHWM` in /proc/<pid>/status).
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child` to exit, reading its peak RSS every 20ms meanwhile;
/// returns its output and the last peak read (KiB).
pub fn wait_measuring(child: std::process::Child) -> (std::process::Output, u64) {
    let pid = child.id();
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = vm_hwm_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    (out, peak.load(Ordering::Relaxed))
}
