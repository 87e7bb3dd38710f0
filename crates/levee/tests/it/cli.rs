//! The commands' contracts: exit codes, messages, signals.

use std::time::Duration;

#[cfg(unix)]
use crate::support::sigterm;
use crate::support::{
    levee, metrics_addr, ok, run_with_stdin, scrape, start_run, stdout, toml_path, wait_until,
};

#[test]
fn validate_reports_each_error_with_its_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(
        &path,
        "[sources.a]\ntype = \"stdin\"\ntag = \"a\"\n\n[outputs.x]\nmatch = \"a.{b\"\ntype = \"stdout\"\n\n[outputs.y]\nmatch = \"a\"\ntype = \"lake\"\ndatabase = \"..\"\ntable = \"t\"\n",
    )
    .unwrap();
    let out = levee()
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0]
            .ends_with("bad.toml:6:1: outputs.x: match: unbalanced braces in tag pattern `a.{b`"),
        "{err}"
    );
    assert!(
        lines[1].contains("bad.toml:12:1: outputs.y: database: invalid database name `..`"),
        "{err}"
    );

    let good = tmp.path().join("good.toml");
    std::fs::write(&good, "[sources.a]\ntype = \"stdin\"\ntag = \"a\"\n[outputs.x]\nmatch = \"a\"\ntype = \"stdout\"\n").unwrap();
    let out = ok(levee().args(["validate", "-c"]).arg(&good));
    assert!(stdout(&out).contains("ok (1 sources, 0 filters, 1 outputs)"));
}

/// How often `needle` appears in `text`.
fn times(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn a_lake_url_of_an_unsupported_kind_is_refused_by_validate_and_run_and_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = format!(
        "data_dir = {}\n[sources.in]\ntype = \"stdin\"\ntag = \"in\"\n\n[outputs.lake]\nmatch = \"**\"\ntype = \"lake\"\nlake = \"ftp://x\"\ndatabase = \"db\"\ntable = \"t\"\n",
        toml_path(&data)
    );
    let path = tmp.path().join("c.toml");
    std::fs::write(&path, &config).unwrap();
    let sentence = "a lake is a local folder, a file:// URL or an s3:// URL";

    let out = levee()
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.toml:9:1: outputs.lake: lake: "), "{err}");
    assert_eq!(times(&err, sentence), 1, "{err}");

    let out = run_with_stdin(tmp.path(), &config, b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(times(&err, sentence), 1, "{err}");
    // Refused before anything started: not even the state folder is made.
    assert!(!data.exists());
}

#[test]
fn a_busy_metrics_port_is_said_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = format!(
        "data_dir = {}\n[metrics]\nlisten = \"{addr}\"\n[sources.in]\ntype = \"stdin\"\ntag = \"in\"\n[outputs.out]\nmatch = \"**\"\ntype = \"stdout\"\n",
        toml_path(&tmp.path().join("data"))
    );
    let out = run_with_stdin(tmp.path(), &config, b"");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("metrics listen {addr}: ")), "{err}");
    assert_eq!(times(&err, "(os error"), 1, "{err}");
    drop(busy);
}

#[test]
fn validate_warns_that_decimal_units_may_mean_mib_and_still_accepts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.toml");
    std::fs::write(
        &path,
        "[sources.in]\ntype = \"stdin\"\ntag = \"in\"\n[outputs.out]\nmatch = \"**\"\ntype = \"stdout\"\nbuffer = { max_bytes = \"64MB\" }\n",
    )
    .unwrap();
    let out = ok(levee().args(["validate", "-c"]).arg(&path));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.toml:7:12: warning: outputs.out: buffer.max_bytes: \"64MB\" is read as 64000000 bytes (decimal units); write \"64MiB\" for 67108864 bytes"),
        "{err}"
    );
    assert!(stdout(&out).contains("ok (1 sources, 0 filters, 1 outputs, 1 warning)"));
}

#[test]
fn stdin_to_stdout_parses_and_routes_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_with_stdin(
        tmp.path(),
        "[sources.in]\ntype = \"stdin\"\ntag = \"in\"\nparser = \"json\"\n[outputs.out]\nmatch = \"in @ERROR\"\ntype = \"stdout\"\n",
        b"{\"a\":1}\n{broken\n{\"a\":2}\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(rows.iter().filter(|r| r["a"].is_i64()).count(), 2);
    assert!(rows.iter().any(|r| r["raw"] == "{broken"), "{text}");
}

/// SIGTERM while tailing: every line already read is flushed, exit 0.
#[cfg(unix)]
#[test]
fn sigterm_flushes_every_buffer_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("app.log");
    let lines = 5_000;
    let body: String = (0..lines).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, body).unwrap();
    let out_path = dir.join("out.ndjson");
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
         [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n\
         buffer = {{ flush_interval = \"1h\" }}\n",
        data = toml_path(&dir.join("data")),
        log = toml_path(&log),
        out = toml_path(&out_path),
    );
    let (mut child, mut stderr) = start_run(dir, &config);
    let metrics = metrics_addr(&mut stderr);
    // Read, as the source's counter says: the test waits on that, not on time.
    let read = format!("levee_source_events_total{{source=\"app\"}} {lines}\n");
    wait_until(
        Duration::from_secs(60),
        format_args!("{lines} lines not read"),
        || scrape(&metrics).contains(&read).then_some(()),
    );
    // The hour-long flush interval means nothing was written yet.
    assert_eq!(
        std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .lines()
            .count(),
        0
    );
    sigterm(&child.0);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        written.lines().count(),
        lines,
        "every line read before SIGTERM is flushed"
    );
}

/// logrotate while levee runs: the log is renamed, a new one made, and the
/// server writes to the old one until it reopens. Every line is delivered
/// once.
#[cfg(unix)]
#[test]
fn a_log_rotated_while_running_loses_and_repeats_no_line() {
    use std::io::Write as _;

    use crate::tailing::{TailToFile, numbered as lines};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = TailToFile::new(dir, "rotate_wait = \"30s\"");
    let log = &run.log;
    let mut server = std::fs::File::create(log).unwrap();
    server.write_all(lines("a", 0..1000).as_bytes()).unwrap();
    let mut child = run.start();
    let delivered = || run.delivered();
    let wait_for = |count: usize| run.wait_for(count);
    wait_for(1000);

    std::fs::rename(log, dir.join("access.log.1")).unwrap();
    std::fs::write(log, lines("b", 0..500)).unwrap();
    wait_for(1500);
    // The server has not reopened yet: it still writes to the old file.
    server.write_all(lines("a", 1000..1500).as_bytes()).unwrap();
    wait_for(2000);

    sigterm(&child.0);
    assert!(child.0.wait().unwrap().success());
    let mut got = delivered();
    got.sort();
    let mut want: Vec<String> = lines("a", 0..1500)
        .lines()
        .chain(lines("b", 0..500).lines())
        .map(str::to_owned)
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn generate_is_deterministic() {
    let run = |seed: &str| {
        stdout(&ok(
            levee().args(["generate", "events", "--lines", "50", "--seed", seed])
        ))
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
    assert_eq!(run("3").lines().count(), 50);
}

/// `levee generate` and a `generate` source check their options with one
/// set of rules and say the same thing about a bad one.
#[test]
fn generate_command_and_source_refuse_bad_options_alike() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value, key) in [
        ("--days", "0", "days = 0"),
        ("--start", "2018-13-01", "start = \"2018-13-01\""),
    ] {
        let out = levee()
            .args(["generate", "nginx", flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{flag} {value}");
        let command = String::from_utf8_lossy(&out.stderr);
        let message = command
            .trim()
            .strip_prefix("levee: ")
            .unwrap_or_else(|| panic!("{command}"));

        let path = tmp.path().join("gen.toml");
        std::fs::write(
            &path,
            format!("[sources.g]\ntype = \"generate\"\ndataset = \"nginx\"\ntag = \"g\"\n{key}\n[outputs.x]\nmatch = \"g\"\ntype = \"blackhole\"\n"),
        )
        .unwrap();
        let out = levee()
            .args(["validate", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}");
        let config = String::from_utf8_lossy(&out.stderr);
        assert!(
            config.trim_end().ends_with(&format!(
                "gen.toml:5:1: sources.g: {}: {message}",
                flag.trim_start_matches('-')
            )),
            "levee generate said {message:?}; levee validate said {config:?}"
        );
    }
}

/// The user's own pipeline, exactly as shipped in examples/, from the folder
/// the example's comment says to run it in.
#[test]
fn the_nginx_example_runs_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nginx-to-lake.toml");
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    std::fs::copy(&example, dir.join("examples/nginx-to-lake.toml")).unwrap();
    ok(levee()
        .args(["generate", "nginx", "--lines", "3000", "-o", "access.log"])
        .current_dir(dir));
    let out = ok(levee()
        .args(["run", "-c", "examples/nginx-to-lake.toml", "--exit-on-eof"])
        .current_dir(dir));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("source nginx: 3000 events"), "{err}");
    ok(levee()
        .args(["compact", "--lake", "./lake"])
        .current_dir(dir));
    let out = ok(levee()
        .args(["query", "--format", "json", "--lake", "./lake"])
        .arg("select count(*) as n, count_if(api_call = 'post_transmissions') as posts from \"glue-data-lake-usw2-prd\".api_calls_parquet")
        .current_dir(dir));
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let row = &answer["rows"][0];
    let errors = std::fs::read_to_string(dir.join("levee-data/errors.ndjson"))
        .unwrap_or_default()
        .lines()
        .count() as i64;
    assert_eq!(row["n"].as_i64().unwrap() + errors, 3000, "{row}");
    assert!(row["posts"].as_i64().unwrap() > 0, "{row}");
}

/// A time that does not parse keeps the line (with its ingest time) and is
/// counted where the user sees it.
#[test]
fn unparseable_times_are_counted_in_the_run_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_with_stdin(
        tmp.path(),
        "[sources.in]\ntype = \"stdin\"\ntag = \"in\"\nparser = { type = \"json\", time_key = \"t\" }\n\
         [outputs.out]\nmatch = \"in\"\ntype = \"stdout\"\n",
        b"{\"t\":\"2018-09-01T00:00:00Z\",\"n\":1}\n{\"t\":\"yesterday\",\"n\":2}\n",
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 2, "both lines are kept");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("source in: 2 events"), "{err}");
    assert!(err.contains("1 with a time that did not parse"), "{err}");
}

#[test]
fn bench_collect_compares_two_builds_run_by_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bench");
    let out = ok(levee()
        .args([
            "bench",
            "collect",
            "--lines",
            "3000",
            "--runs",
            "2",
            "--against",
        ])
        .arg(env!("CARGO_BIN_EXE_levee"))
        .arg("--dir")
        .arg(&dir));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| stage"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 4, "read, parse, this build, the other:\n{text}");
    for row in &rows {
        assert_eq!(row.len(), 9, "{row:?}");
        let lines_per_sec: f64 = row[1].parse().unwrap();
        assert!(lines_per_sec > 0.0, "{row:?}");
        let (lo, hi) = row[7].split_once('-').unwrap();
        let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        assert!(
            lo <= lines_per_sec && lines_per_sec <= hi,
            "median within the range: {row:?}"
        );
        let rss: f64 = row[6].parse().unwrap();
        let (lo, hi) = row[8].split_once('-').unwrap();
        let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        assert!(
            0.0 < lo && lo <= rss && rss <= hi,
            "the median run's peak RSS within the range: {row:?}"
        );
    }
    assert!(
        rows[3][0].ends_with("tail -> nginx -> record -> lake"),
        "{:?}",
        rows[3]
    );
    // Each run of each build logged on its own, and each found every line.
    for log in [
        "run-0.log",
        "run-1.log",
        "run-0-against.log",
        "run-1-against.log",
    ] {
        assert!(dir.join(log).exists(), "{log}");
    }
    let ratio = text
        .lines()
        .find_map(|l| l.strip_prefix("this build against the other: "))
        .unwrap_or_else(|| panic!("no ratio line:\n{text}"));
    let times: f64 = ratio.split('x').next().unwrap().parse().unwrap();
    assert!(times > 0.0, "{ratio}");
}

/// `--metric` runs the collector again with a metric filter, turn about
/// with the path without it, and prints what metering costs.
#[test]
fn bench_collect_metric_alternates_with_the_path_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bench");
    let out = ok(levee()
        .args([
            "bench", "collect", "--lines", "3000", "--runs", "2", "--metric",
        ])
        .arg("--dir")
        .arg(&dir));
    let text = stdout(&out);
    let stages: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| stage"))
        .map(|l| l.trim_matches('|').split('|').next().unwrap().trim())
        .collect();
    assert_eq!(
        stages[2..],
        [
            "levee run: tail -> nginx -> record -> lake",
            "levee run: tail -> nginx -> record -> metric -> lake"
        ],
        "{text}"
    );
    // Both ways ran each run, each checked to have delivered every line.
    for log in [
        "run-0.log",
        "run-1.log",
        "run-0-metric.log",
        "run-1-metric.log",
    ] {
        assert!(dir.join(log).exists(), "{log}");
    }
    let metered = std::fs::read_to_string(dir.join("bench-metric.toml")).unwrap();
    assert!(metered.contains("type = \"metric\""), "{metered}");
    assert!(
        metered.contains("labels = { type = \"$.api_call\" }"),
        "{metered}"
    );
    let ratio = text
        .lines()
        .find_map(|l| l.strip_prefix("with the metric filter against without: "))
        .unwrap_or_else(|| panic!("no ratio line:\n{text}"));
    let times: f64 = ratio.split('x').next().unwrap().parse().unwrap();
    assert!(times > 0.0, "{ratio}");
}

/// `levee bench compact` runs levee's compaction and DuckDB's COPY turn
/// about on the same events, checks each wrote every row, and prints both.
#[test]
fn bench_compact_runs_levee_and_duckdb_on_the_same_events() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bench");
    let out = ok(levee()
        .args([
            "bench",
            "compact",
            "--events",
            "3000",
            "--hours",
            "2",
            "--runs",
            "2",
            "--partition-by",
            "hour",
            "--keep",
        ])
        .arg("--python")
        .arg(crate::support::python())
        .arg("--dir")
        .arg(&dir));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| contender"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 2, "levee, DuckDB:\n{text}");
    assert_eq!(rows[0][0], "levee compact");
    assert!(rows[1][0].starts_with("DuckDB "), "{:?}", rows[1]);
    for row in &rows {
        assert_eq!(row.len(), 10, "{row:?}");
        let records_per_sec: f64 = row[1].parse().unwrap();
        let bytes_per_record: f64 = row[7].parse().unwrap();
        assert!(records_per_sec > 0.0 && bytes_per_record > 0.0, "{row:?}");
    }
    // Two hours of event time: two hourly folders of Parquet.
    let parquet = dir.join("lake/bench/events/parquet/dt=2018-09-01");
    let hours = std::fs::read_dir(&parquet).unwrap().count();
    assert_eq!(hours, 2, "{}", parquet.display());
    for log in [
        "run-0-levee.log",
        "run-1-levee.log",
        "run-0-duckdb.log",
        "run-1-duckdb.log",
    ] {
        assert!(dir.join(log).exists(), "{log}");
    }
    assert!(
        text.contains("levee against DuckDB: "),
        "no ratio line:\n{text}"
    );
}

/// By default the bench's table is partitioned by day, as a table whose
/// hours are small should be: a folder per day, with no hour folders.
#[test]
fn bench_compact_partitions_by_day_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bench");
    let out = ok(levee()
        .args([
            "bench",
            "compact",
            "--events",
            "2000",
            "--hours",
            "48",
            "--no-duckdb",
            "--keep",
        ])
        .arg("--dir")
        .arg(&dir));
    let text = stdout(&out);
    assert!(
        text.contains(r#"levee's Parquet: partition_by = "day""#),
        "{text}"
    );
    let parquet = dir.join("lake/bench/events/parquet");
    let mut days: Vec<String> = std::fs::read_dir(&parquet)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    days.sort();
    assert_eq!(days, ["dt=2018-09-01", "dt=2018-09-02"]);
    for day in days {
        let names: Vec<String> = std::fs::read_dir(parquet.join(&day))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.is_empty() && names.iter().all(|n| n.ends_with(".parquet")),
            "{day}: {names:?}"
        );
    }
}

#[test]
fn bench_collect_refuses_what_it_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    let zero = levee()
        .args(["bench", "collect", "--lines", "10", "--runs", "0", "--dir"])
        .arg(tmp.path().join("a"))
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2), "clap refuses --runs 0");
    let missing = levee()
        .args([
            "bench",
            "collect",
            "--lines",
            "10",
            "--against",
            "/nonexistent/levee",
            "--dir",
        ])
        .arg(tmp.path().join("b"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("--against /nonexistent/levee"), "{err}");
    // --fluent-bit needs a binary that runs and says it is Fluent Bit.
    for (fluent_bit, says) in [
        (
            "/nonexistent/fluent-bit",
            "--fluent-bit /nonexistent/fluent-bit",
        ),
        (env!("CARGO_BIN_EXE_levee"), "did not name Fluent Bit"),
    ] {
        let refused = levee()
            .args(["bench", "collect", "--lines", "10", "--fluent-bit"])
            .arg(fluent_bit)
            .arg("--dir")
            .arg(tmp.path().join("c"))
            .output()
            .unwrap();
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(says), "{err}");
    }
    // A folder that levee bench did not make is never emptied.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("keep.txt"), "x").unwrap();
    let refused = levee()
        .args(["bench", "collect", "--lines", "10", "--dir"])
        .arg(&mine)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(mine.join("keep.txt").exists());
    // --lake is for an object store; a folder is not emptied through it.
    for lake in [mine.to_str().unwrap(), "file:///tmp/x", "s3://NO"] {
        let refused = levee()
            .args(["bench", "collect", "--lines", "10", "--lake", lake, "--dir"])
            .arg(tmp.path().join("d"))
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{lake}");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(lake), "{lake}: {err}");
    }
    assert!(mine.join("keep.txt").exists());
}
