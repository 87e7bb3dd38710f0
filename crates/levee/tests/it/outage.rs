//! The outage test: the lake stops taking chunks for a while, then takes
//! them again. Without `max_attempts` nothing is lost, the retries and
//! their backoff show on `/metrics`, and memory stays within the buffer
//! while the source is held back; with `max_attempts = 1` what is lost is
//! exactly what levee reports dropped. Lines go in on stdin; the lake's
//! chunks are counted by decompressing them here, not by levee.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Running, lake_records, levee, scrape, toml_path};

/// The buffer's bound, in bytes.
const BUFFER_BYTES: u64 = 1024 * 1024;

/// A levee reading stdin into the lake under `dir`.
struct Outage {
    dir: PathBuf,
    child: Running,
    stdin: Option<ChildStdin>,
    /// Everything levee wrote on stderr so far (drained by a thread, so a
    /// retry warning per try never fills the pipe).
    stderr: Arc<Mutex<String>>,
    metrics: String,
}

impl Outage {
    fn start(dir: &Path, max_attempts: Option<u32>) -> Outage {
        let max_attempts = max_attempts.map_or(String::new(), |n| format!(", max_attempts = {n}"));
        let config = format!(
            "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\nunhealthy_after = \"300ms\"\n\
             [sources.in]\ntype = \"stdin\"\ntag = \"in\"\n\
             [outputs.lake]\nmatch = \"in\"\ntype = \"lake\"\nlake = {lake}\n\
             database = \"db\"\ntable = \"t\"\nchunk_interval = \"200ms\"\n\
             buffer = {{ max_bytes = \"{BUFFER_BYTES}B\", batch_max_bytes = \"256KiB\", flush_interval = \"50ms\" }}\n\
             retry = {{ initial_backoff = \"50ms\", max_backoff = \"400ms\"{max_attempts} }}\n",
            data = toml_path(&dir.join("data")),
            lake = toml_path(&dir.join("lake")),
        );
        std::fs::write(dir.join("c.toml"), config).unwrap();
        let mut child = levee()
            .args(["run", "-c"])
            .arg(dir.join("c.toml"))
            .env("LEVEE_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut outage = Outage {
            dir: dir.to_owned(),
            child: Running(child),
            stdin,
            stderr,
            metrics: String::new(),
        };
        // The metrics address (the port the system chose) is logged at start.
        outage.metrics = outage.until("the metrics address", |o| {
            let text = o.stderr.lock().unwrap();
            let (_, rest) = text.split_once("metrics on http://")?;
            Some(rest.split('/').next()?.to_owned())
        });
        outage
    }

    /// Waits up to a minute until `check` gives a value.
    fn until<T>(&self, what: &str, mut check: impl FnMut(&Outage) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} after 60 s; levee said:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A sample of the lake output's series on `/metrics`, such as
    /// `levee_output_retries_total`, summed over its other labels; 0 until
    /// it shows.
    fn metric(&self, name: &str) -> f64 {
        self.metric_of(name, "output=\"lake\"")
    }

    fn metric_of(&self, name: &str, label: &str) -> f64 {
        let text = scrape(&self.metrics);
        let series = format!("{name}{{{label}");
        text.lines()
            .filter(|l| l.starts_with(&series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Writes lines `line N` for `range` on levee's stdin, from another
    /// thread (it blocks while levee holds back); the stdin comes back
    /// when all are written.
    fn feed(&mut self, range: std::ops::Range<usize>) -> std::thread::JoinHandle<ChildStdin> {
        let mut stdin = self.stdin.take().expect("stdin is ours");
        std::thread::spawn(move || {
            let text: String = range.map(|i| format!("line {i}\n")).collect();
            stdin.write_all(text.as_bytes()).unwrap();
            stdin
        })
    }

    /// Closes stdin and waits for levee to exit; returns its report line
    /// for the lake output.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        self.child.exits_ok(Duration::from_secs(120));
        self.until("report", |o| {
            let text = o.stderr.lock().unwrap();
            let line = text.lines().find(|l| l.starts_with("output lake: "))?;
            Some(line.to_owned())
        })
    }

    /// `GET /health`: the status code and the body.
    fn health(&self) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(&self.metrics).unwrap();
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    }

    fn lake_lines(&self) -> usize {
        lake(&self.dir).values().sum()
    }

    /// Resident and peak resident memory, in bytes.
    fn rss(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id())).unwrap();
        let kib = |key: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 1024
        };
        (kib("VmRSS:"), kib("VmHWM:"))
    }
}

/// Every `message` in the lake's chunks under `dir`, with how often it
/// is there.
fn lake(dir: &Path) -> HashMap<String, usize> {
    let mut found = HashMap::new();
    for record in lake_records(&dir.join("lake")) {
        let message = record["message"].as_str().unwrap().to_owned();
        *found.entry(message).or_default() += 1;
    }
    found
}

/// A lake table that cannot be written, then can again: a real fault of
/// the file system, not a mock.
///
/// As a normal user, every folder under the table's chunk folder is made
/// read-only, as in the outage this test is about. The tests run as root
/// too, and root writes through permissions (CAP_DAC_OVERRIDE), so when a
/// file can still be made in a read-only folder the fault is another one:
/// a plain file takes the chunk folder's place, so every put fails in the
/// kernel (ENOTDIR) until the folder is back. Both swaps are atomic
/// (`renameat2` with `RENAME_EXCHANGE`): a put never finds the name free
/// and makes a fresh folder there.
enum Fault {
    ReadOnly(Vec<PathBuf>),
    FileInTheWay { json: PathBuf, aside: PathBuf },
}

impl Fault {
    fn start(table: &Path) -> Fault {
        use std::os::unix::fs::PermissionsExt;
        let json = table.join("json");
        let mut folders: Vec<PathBuf> = vec![json.clone()];
        let mut i = 0;
        while i < folders.len() {
            for entry in std::fs::read_dir(&folders[i]).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                }
            }
            i += 1;
        }
        let set = |mode| {
            for folder in &folders {
                std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        };
        set(0o555);
        let probe = json.join("probe");
        if std::fs::write(&probe, b"").is_err() {
            return Fault::ReadOnly(folders);
        }
        // Root: permissions hold nothing back.
        std::fs::remove_file(&probe).unwrap();
        set(0o755);
        let aside = table.join("json.aside");
        std::fs::write(&aside, b"in the way").unwrap();
        exchange(&json, &aside);
        Fault::FileInTheWay { json, aside }
    }

    fn end(self) {
        use std::os::unix::fs::PermissionsExt;
        match self {
            Fault::ReadOnly(folders) => {
                for folder in &folders {
                    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755))
                        .unwrap();
                }
            }
            Fault::FileInTheWay { json, aside } => {
                exchange(&json, &aside);
                std::fs::remove_file(&aside).unwrap();
            }
        }
    }
}

/// Swaps what two paths name, in one step.
fn exchange(a: &Path, b: &Path) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: two NUL-terminated paths that outlive the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    assert_eq!(done, 0, "renameat2: {}", std::io::Error::last_os_error());
}

/// `(events, retries, dropped)` from the report line levee prints at exit.
fn report_counts(line: &str) -> (u64, u64, u64) {
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers.as_slice() {
        [events, _batches, retries, dropped] => (*events, *retries, *dropped),
        _ => panic!("not a report: {line}"),
    }
}

#[test]
fn a_lake_outage_loses_nothing_retries_with_backoff_and_holds_memory_to_the_buffer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Outage::start(tmp.path(), None);
    let before = 1_000;
    let during = 200_000;
    let stdin = run.feed(0..before).join().unwrap();
    run.stdin = Some(stdin);
    run.until("first chunks", |o| (o.lake_lines() == before).then_some(()));
    let (rss_before, _) = run.rss();

    let fault = Fault::start(&tmp.path().join("lake/db/t"));
    let writer = run.feed(before..before + during);
    // Retried with a backoff that grows, as /metrics shows.
    run.until("retries", |o| {
        (o.metric("levee_output_retries_total") >= 4.0).then_some(())
    });
    let backoff = run.metric("levee_output_retry_backoff_seconds");
    assert!(backoff > 0.0, "backoff {backoff}");
    // The buffer fills and the source is held back, not the memory grown.
    run.until("a full buffer", |o| {
        (o.metric("levee_buffer_bytes") >= BUFFER_BYTES as f64 * 0.75).then_some(())
    });
    assert!(
        !writer.is_finished(),
        "stdin was read on while the lake was down"
    );
    let (rss_during, _) = run.rss();
    eprintln!(
        "outage: RSS {:.1} MiB before, {:.1} MiB with the buffer full",
        rss_before as f64 / 1048576.0,
        rss_during as f64 / 1048576.0
    );
    // The buffer (1MiB of events, about 1.5 times that in RSS), the source
    // channel's few batches, an open chunk and its zstd context; the
    // 200,000 lines held would be some 60MiB.
    assert!(
        rss_during < rss_before + 24 * 1024 * 1024,
        "RSS {rss_during} during the outage, {rss_before} before"
    );

    fault.end();
    run.stdin = Some(writer.join().unwrap());
    run.until("the backoff to clear", |o| {
        (o.metric("levee_output_retry_backoff_seconds") == 0.0).then_some(())
    });
    let report = run.finish();
    let total = before + during;
    let lake = lake(tmp.path());
    let missing = (0..total)
        .filter(|i| !lake.contains_key(&format!("line {i}")))
        .count();
    let repeated = lake.values().filter(|&&n| n > 1).count();
    assert_eq!((missing, repeated), (0, 0), "{report}");
    let (events, retries, dropped) = report_counts(&report);
    assert_eq!((events, dropped), (total as u64, 0), "{report}");
    assert!(retries >= 4, "{report}");
}

#[test]
fn with_max_attempts_1_an_outage_drops_exactly_the_lines_reported_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Outage::start(tmp.path(), Some(1));
    let before = 1_000;
    let during = 20_000;
    let stdin = run.feed(0..before).join().unwrap();
    run.stdin = Some(stdin);
    run.until("first chunks", |o| (o.lake_lines() == before).then_some(()));

    let fault = Fault::start(&tmp.path().join("lake/db/t"));
    // Every line is read while the lake is down, and chunks are given up on.
    run.stdin = Some(run.feed(before..before + during).join().unwrap());
    run.until("every line read", |o| {
        let read = o.metric_of("levee_source_events_total", "source=\"in\"");
        (read == (before + during) as f64).then_some(())
    });
    run.until("a give-up", |o| {
        (o.metric("levee_output_dropped_events_total") > 0.0).then_some(())
    });
    fault.end();
    // Lines after the outage are stored again.
    let after = 1_000;
    let total = before + during + after;
    run.stdin = Some(run.feed(before + during..total).join().unwrap());
    let report = run.finish();
    let lake_after = lake(tmp.path());
    let stored_after = (before + during..total)
        .filter(|i| lake_after.contains_key(&format!("line {i}")))
        .count();
    assert_eq!(stored_after, after, "{report}");

    let lake = lake(tmp.path());
    let repeated = lake.values().filter(|&&n| n > 1).count();
    assert_eq!(repeated, 0);
    let missing = (0..total)
        .filter(|i| !lake.contains_key(&format!("line {i}")))
        .count() as u64;
    let (events, retries, dropped) = report_counts(&report);
    eprintln!("max_attempts = 1: {missing} of {total} lines missing; {report}");
    assert!(missing > 0, "the outage lost nothing: {report}");
    assert_eq!(dropped, missing, "{report}");
    assert_eq!(events, total as u64 - missing, "{report}");
    assert_eq!(retries, 0, "{report}");
}

/// `/health` answered 200 whatever happened. Now an output whose sink calls
/// keep failing makes it 503, naming the output, once that has lasted
/// `unhealthy_after` (300ms here), and it is 200 again once a call works.
#[test]
fn health_is_503_naming_the_output_while_the_lake_is_down_and_200_once_it_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Outage::start(tmp.path(), None);
    run.stdin = Some(run.feed(0..100).join().unwrap());
    run.until("first chunks", |o| (o.lake_lines() == 100).then_some(()));
    assert_eq!(run.health(), (200, "ok\n".to_owned()));

    let fault = Fault::start(&tmp.path().join("lake/db/t"));
    run.stdin = Some(run.feed(100..200).join().unwrap());
    let sick = run.until("/health to say 503", |o| {
        let (status, body) = o.health();
        (status == 503).then_some(body)
    });
    assert_eq!(sick.lines().count(), 1, "{sick}");
    assert!(sick.starts_with("output lake: failing for "), "{sick}");
    // The sink's own error, whichever fault this user gets (see Fault).
    assert!(
        sick.contains("Not a directory") || sick.contains("Permission denied"),
        "{sick}"
    );

    fault.end();
    run.until("/health to say 200 again", |o| {
        (o.health() == (200, "ok\n".to_owned())).then_some(())
    });
    run.finish();
    assert_eq!(lake(tmp.path()).len(), 200);
}
