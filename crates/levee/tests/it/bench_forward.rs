//! `levee bench forward`: PackedForward messages over one connection into
//! a `levee run` child (forward -> blackhole), every event counted, on a
//! small `--events`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{levee, ok, python, stdout};

/// The table's rows: each a list of its cells.
fn rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| contender"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

/// `fake_fluent_bit.py` behind an executable that runs it with the
/// oracle's Python (which has msgpack), with `env` set.
fn fake_fluent_bit(dir: &Path, env: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fake_fluent_bit.py");
    let exe = dir.join("fluent-bit");
    std::fs::write(
        &exe,
        format!(
            "#!/bin/sh\n{env} exec {:?} {:?} \"$@\"\n",
            python().to_string_lossy(),
            script.to_string_lossy()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    exe
}

fn bench(dir: &Path, extra: &[&str]) -> Output {
    levee()
        .args([
            "bench",
            "forward",
            "--events",
            "4500",
            "--per-message",
            "1000",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn bench_forward_counts_every_event_of_both_builds_run_by_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bench");
    let out = ok(levee()
        .args([
            "bench",
            "forward",
            "--events",
            "4500",
            "--per-message",
            "1000",
            "--runs",
            "2",
            "--against",
        ])
        .arg(env!("CARGO_BIN_EXE_levee"))
        .arg("--dir")
        .arg(&dir));
    let text = stdout(&out);
    // 4,500 events: four whole messages and one of 500.
    assert!(
        text.contains("encoded 4500 events (") && text.contains(" in 5 PackedForward messages"),
        "{text}"
    );
    // Every run of each build counted every event.
    let counted = text
        .lines()
        .filter(|l| l.contains(": counted 4500 of 4500 events in "))
        .count();
    assert_eq!(counted, 4, "{text}");
    let rows = rows(&text);
    assert_eq!(rows.len(), 2, "this build, the other:\n{text}");
    assert_eq!(rows[0][0], "levee run: forward -> blackhole");
    for row in &rows {
        assert_eq!(row.len(), 9, "{row:?}");
        let events_per_sec: f64 = row[1].parse().unwrap();
        let (lo, hi) = row[7].split_once('-').unwrap();
        let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        assert!(
            0.0 < lo && lo <= events_per_sec && events_per_sec <= hi,
            "median within the range: {row:?}"
        );
        let cpu: f64 = row[4].parse().unwrap();
        let rss: f64 = row[6].parse().unwrap();
        assert!(cpu > 0.0 && rss > 0.0, "{row:?}");
    }
    assert!(
        text.contains("this build against the other: "),
        "no ratio line:\n{text}"
    );
    // The child's own report agrees, after the clock stopped.
    for log in ["run-0.log", "run-1-against.log"] {
        let said = std::fs::read_to_string(dir.join(log)).unwrap();
        assert!(said.contains("output count: 4500 events"), "{log}: {said}");
        assert!(said.contains("source fw: 4500 events"), "{log}: {said}");
    }
    // The gigabyte a full run would leave is gone.
    assert!(!dir.join("messages.msgpack").exists());
}

/// `--fluent-bit` runs its forward input into `counter` on the same bytes
/// (here a stand-in that speaks enough of both), and a count above what
/// was sent fails the bench: the count must be exact.
#[test]
fn bench_forward_runs_fluent_bit_and_refuses_a_wrong_count() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = fake_fluent_bit(tmp.path(), "");
    let out = ok(levee()
        .args(["bench", "forward", "--events", "2500", "--fluent-bit"])
        .arg(&exe)
        .arg("--dir")
        .arg(tmp.path().join("a")));
    let text = stdout(&out);
    let rows = rows(&text);
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(
        rows[1][0],
        "Fluent Bit v0.0.0 (a stand-in for tests): forward -> counter"
    );
    assert!(
        text.contains("(a stand-in for tests): forward -> counter: counted 2500 of 2500 events"),
        "{text}"
    );
    assert!(text.contains("this build against Fluent Bit: "), "{text}");

    let liar = fake_fluent_bit(tmp.path(), "FAKE_FLUENT_BIT_EXTRA=1");
    let out = bench(
        &tmp.path().join("b"),
        &["--fluent-bit", liar.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than the 4500 sent"), "{err}");
}

#[test]
fn bench_forward_fails_when_a_contender_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("dead-levee");
    std::fs::write(&dead, "#!/bin/sh\necho 'no such pipeline' >&2\nexit 3\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dead, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = bench(
        &tmp.path().join("bench"),
        &["--against", dead.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not start listening") && err.contains("no such pipeline"),
        "{err}"
    );
    // --fluent-bit needs a binary that says it is Fluent Bit.
    let out = bench(
        &tmp.path().join("bench2"),
        &["--fluent-bit", env!("CARGO_BIN_EXE_levee")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not name Fluent Bit"), "{err}");
}
