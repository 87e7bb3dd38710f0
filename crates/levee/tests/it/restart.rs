//! Stopping and starting levee again: a clean stop lets a restart read on
//! where it stopped; a kill makes it read again from the last clean stop.

use std::path::Path;

use crate::support::{levee, ok, sigterm};
use crate::tailing::{TailToFile, numbered as lines};

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// Fails with where the delivered lines first differ from `want`.
fn assert_delivered(run: &TailToFile, want: &[String]) {
    let got = run.delivered();
    if got != want {
        let at = got.iter().zip(want).take_while(|(g, w)| g == w).count();
        panic!(
            "{} lines delivered, {} expected; they differ at line {at}: {:?} against {:?}",
            got.len(),
            want.len(),
            got.get(at),
            want.get(at)
        );
    }
}

fn owned(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

#[cfg(unix)]
#[test]
fn a_restart_reads_on_where_the_last_clean_stop_left_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let run = TailToFile::new(tmp.path(), "");
    let log = &run.log;
    let backfill = || {
        ok(levee()
            .args(["run", "--exit-on-eof", "-c"])
            .arg(&run.config))
    };

    // A backfill to the end, then another: the second reads only what came.
    append(log, &lines("a", 0..1000));
    backfill();
    append(log, &lines("a", 1000..1500));
    backfill();
    assert_delivered(&run, &owned(&lines("a", 0..1500)));

    // Stopped by SIGTERM while following: read on from there.
    let mut running = run.start();
    append(log, &lines("a", 1500..2000));
    run.wait_for(2000);
    sigterm(&running.0);
    assert!(running.0.wait().unwrap().success());
    drop(running);
    append(log, &lines("a", 2000..2100));
    backfill();
    assert_delivered(&run, &owned(&lines("a", 0..2100)));

    // Killed: its checkpoint was never committed, so the next start reads
    // again from the last clean stop. Lines repeat; none is lost.
    let mut running = run.start();
    append(log, &lines("a", 2100..2300));
    run.wait_for(2300);
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    drop(running);
    backfill();
    let want = owned(&(lines("a", 0..2300) + &lines("a", 2100..2300)));
    assert_delivered(&run, &want);
}
