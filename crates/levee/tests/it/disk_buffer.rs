//! The disk buffer with the real binary: what it holds survives a `kill -9`
//! and is delivered by the next start; a damaged segment is reported,
//! skipped, and everything before the damage delivered.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::slow_pipe::{SlowReader, mkfifo};
use crate::support::{Running, levee, toml_path, wait_until};

/// Fast enough that reading is not what a test waits for.
const FAST: u64 = 200_000_000;

/// A `stdin` source into a `file` output whose path is a named pipe, with
/// a disk buffer.
struct Setup {
    config: PathBuf,
    fifo: PathBuf,
    buffer: PathBuf,
}

impl Setup {
    fn new(dir: &Path) -> Setup {
        let fifo = dir.join("out.pipe");
        mkfifo(&fifo);
        let data = dir.join("data");
        let config = dir.join("c.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {data}\n\
                 [sources.in]\ntype = \"stdin\"\ntag = \"in\"\nparser = \"json\"\n\
                 [outputs.out]\nmatch = \"in\"\ntype = \"file\"\npath = {fifo}\n\
                 buffer = {{ type = \"disk\", flush_interval = \"50ms\", segment_bytes = \"256KiB\" }}\n",
                data = toml_path(&data),
                fifo = toml_path(&fifo),
            ),
        )
        .unwrap();
        Setup {
            config,
            fifo,
            buffer: data.join("buffers/out"),
        }
    }

    /// Starts levee with its output down (a reader that opens the pipe and
    /// reads nothing), feeds it `n` records, waits until the disk buffer
    /// holds them all, and kills it. Returns what reached the pipe before
    /// the kill.
    fn fill_and_kill(&self, n: u64) -> Vec<u8> {
        let stalled = SlowReader::start(&self.fifo, FAST, false);
        let mut running = Running(
            levee()
                .args(["run", "-c"])
                .arg(&self.config)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut stdin = running.0.stdin.take().unwrap();
        let mut input = String::new();
        for id in 0..n {
            input.push_str(&format!("{{\"id\":{id},\"pad\":\"{}\"}}\n", "x".repeat(40)));
        }
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
        // Kept open: at its end levee would drain and stop on its own.
        wait_until(
            Duration::from_secs(60),
            format_args!("the disk buffer never held {n} events"),
            || (self.inspect().1 == Some(n)).then_some(()),
        );
        running.0.kill().unwrap();
        running.0.wait().unwrap();
        drop(stdin);
        stalled.finish()
    }

    /// `levee buffer inspect` on the buffer: its report, and the events
    /// it counts in whole records.
    fn inspect(&self) -> (std::process::Output, Option<u64>) {
        let out = levee()
            .args(["buffer", "inspect"])
            .arg(&self.buffer)
            .output()
            .unwrap();
        let events = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("segments "))
            .and_then(|l| l.split(", ").find_map(|p| p.strip_suffix(" events")))
            .and_then(|n| n.trim().parse().ok());
        (out, events)
    }

    /// Starts levee with the output up and nothing more on stdin: it
    /// delivers what the buffer holds and stops. Returns what it wrote and
    /// its stderr.
    fn deliver(&self) -> (Vec<u8>, String) {
        let reader = SlowReader::start(&self.fifo, FAST, true);
        let out = levee()
            .args(["run", "--exit-on-eof", "-c"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        (reader.finish(), stderr)
    }
}

/// How many times each id came out. A line cut by the kill (the pipe
/// held part of a batch) is not a record and is left out.
fn ids(outputs: &[&[u8]]) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    for out in outputs {
        for line in String::from_utf8_lossy(out).lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            *seen.entry(record["id"].as_u64().unwrap()).or_insert(0) += 1;
        }
    }
    seen
}

#[cfg(unix)]
#[test]
fn a_restart_delivers_what_the_disk_buffer_held_when_levee_was_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = Setup::new(tmp.path());
    let n = 30_000;
    let before = setup.fill_and_kill(n);
    let (after, stderr) = setup.deliver();
    let seen = ids(&[&before, &after]);
    // Every record, at least once; only the batch the sink was writing at
    // the kill may come twice.
    assert_eq!(seen.len() as u64, n, "{stderr}");
    assert_eq!(seen.keys().last(), Some(&(n - 1)));
    let twice = seen.values().filter(|&&c| c > 1).count();
    assert!(twice < 5_000, "{twice} records came twice");
    assert!(!stderr.contains("damage"), "{stderr}");
    // Delivered, so the next start has nothing to send.
    let (again, _) = setup.deliver();
    assert!(again.is_empty(), "{} bytes sent again", again.len());
}

#[cfg(unix)]
#[test]
fn a_damaged_disk_buffer_segment_is_reported_and_everything_before_it_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = Setup::new(tmp.path());
    let n = 30_000;
    let before = setup.fill_and_kill(n);

    // Tear the tail of the newest segment that holds records, as a crash
    // in the middle of a write (or a bad disk) leaves it.
    let newest = std::fs::read_dir(&setup.buffer)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .filter(|p| std::fs::metadata(p).unwrap().len() > 8)
        .max()
        .unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    file.set_len(len - 25).unwrap();
    drop(file);

    // Inspect sees the damage, and counts the events still whole.
    let (report, whole) = setup.inspect();
    let text = String::from_utf8_lossy(&report.stdout);
    assert_eq!(report.status.code(), Some(1), "{text}");
    assert!(text.contains("DAMAGE at byte"), "{text}");
    let whole = whole.unwrap();
    assert!(whole < n && whole > 0, "{text}");

    // levee starts, says so once, and delivers everything before it.
    let (after, stderr) = setup.deliver();
    assert_eq!(
        stderr.matches("damage in the disk buffer").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("1 damaged places in its disk buffer skipped"),
        "{stderr}"
    );
    let seen = ids(&[&before, &after]);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..whole).collect::<Vec<_>>(),
        "{stderr}"
    );

    // Skipped once, not at every start.
    let (again, stderr) = setup.deliver();
    assert!(again.is_empty());
    assert!(!stderr.contains("damage"), "{stderr}");
    let (report, _) = setup.inspect();
    assert!(
        report.status.success(),
        "the damaged segment is gone once passed:\n{}",
        String::from_utf8_lossy(&report.stdout)
    );
}

/// Cuts `path` after its last newline: what a kill left half written is
/// not a record (the next run writes the whole batch again).
fn drop_torn_line(path: &Path) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(keep as u64).unwrap();
}

#[cfg(unix)]
#[test]
fn kill_9_at_random_moments_of_the_drain_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = Setup::new(tmp.path());
    let n = 100_000;
    let before = setup.fill_and_kill(n);

    // The same output, now into a plain file that is always up.
    let out = tmp.path().join("out.ndjson");
    let config = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace(&toml_path(&setup.fifo), &toml_path(&out));
    let drain = tmp.path().join("drain.toml");
    std::fs::write(&drain, config).unwrap();
    let start = || {
        levee()
            .args(["run", "--exit-on-eof", "-c"])
            .arg(&drain)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut kills = 0;
    for round in 0..6u64 {
        let mut child = start();
        // A moment picked at random; what is checked does not depend on it.
        let pause = (round * 7919 + u64::from(std::process::id())) % 400;
        std::thread::sleep(Duration::from_millis(pause));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        drop_torn_line(&out);
    }
    let status = start().wait().unwrap();
    assert!(status.success());
    let after = std::fs::read(&out).unwrap();
    let seen = ids(&[&before, &after]);
    assert_eq!(seen.len() as u64, n, "after {kills} kills");
    assert_eq!(seen.keys().last(), Some(&(n - 1)));
    eprintln!(
        "{kills} kills; {} records came more than once",
        seen.values().filter(|&&c| c > 1).count()
    );
}
