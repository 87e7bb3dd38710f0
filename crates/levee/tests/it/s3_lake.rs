//! The lake on a real S3-compatible server: `s3s-fs` (crates.io's s3s, a
//! server over a folder; `scripts/test-deps` installs it), started on
//! 127.0.0.1 on a free port. levee writes, compacts, lists and queries the
//! lake through it as it would AWS S3 or MinIO; the server is killed in the
//! middle of a write; three writers and two compactors share one table.
//!
//! Without s3s-fs the tests say so and pass, except under CI (`CI` set)
//! or `scripts/test` (which sets `LEVEE_S3S_FS`), where its absence fails
//! them.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{Running, levee, ok, stdout, toml_path, wait_until};

const BUCKET: &str = "levee-lake";
const KEY_ID: &str = "levee-test";
const SECRET: &str = "levee-test-secret";
const DB: &str = "s3db";

/// The s3s-fs binary: `LEVEE_S3S_FS` (which `scripts/test` sets: then it
/// must be there), else on `PATH`, else in `~/.cargo/bin`. `None` (the
/// test skips) only outside CI.
fn s3s_fs() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LEVEE_S3S_FS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "LEVEE_S3S_FS={path:?} is not there: run scripts/test-deps"
        );
        return Some(path);
    }
    let found = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("s3s-fs"))
                .find(|p| p.is_file())
        })
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"))
                .filter(|p| p.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "s3s-fs is not installed: run scripts/test-deps"
        );
        eprintln!("skipped: s3s-fs is not installed (scripts/test-deps installs it)");
    }
    found
}

/// An s3s-fs serving `root` (whose folders are buckets) on one port.
struct S3Server {
    binary: PathBuf,
    root: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl S3Server {
    /// Starts a server with one bucket, [`BUCKET`], under `root`.
    fn start(binary: PathBuf, root: &Path) -> S3Server {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        // A port the system says is free now; s3s-fs takes no port 0.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = S3Server {
            binary,
            root: root.to_owned(),
            port,
            child: None,
        };
        server.restart();
        server
    }

    /// (Re)starts the server on its port, once it accepts connections.
    fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", KEY_ID, "--secret-key", SECRET])
            .arg(&self.root)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        wait_until(Duration::from_secs(20), "s3s-fs did not start", || {
            TcpStream::connect(&addr).ok()
        });
    }

    /// Kills the server at once (SIGKILL), mid-request if it is in one.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a `levee` needs to reach the server (and no AWS
    /// profile of the machine's).
    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        no_aws_env(cmd)
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_ALLOW_HTTP", "true")
    }

    /// The lake's folder as the server keeps it, for DuckDB.
    fn lake_dir(&self, prefix: &str) -> PathBuf {
        self.root.join(BUCKET).join(prefix)
    }
}

/// `cmd` without the test's own `AWS_*` variables, and with shared files
/// that are not there, so a profile on the machine running the tests
/// plays no part.
fn no_aws_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    let none = std::env::temp_dir().join("levee-no-aws-profile");
    cmd.env("AWS_CONFIG_FILE", none.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", none.join("credentials"))
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `levee query --format csv` on the lake at `url`: the rows, header left out.
fn query(server: &S3Server, url: &str, sql: &str) -> Vec<String> {
    let out = ok(server
        .env(&mut levee())
        .args(["query", "--format", "csv", "--lake", url])
        .arg(sql));
    stdout(&out).lines().skip(1).map(str::to_owned).collect()
}

fn count(server: &S3Server, url: &str, sql: &str) -> u64 {
    let rows = query(server, url, sql);
    rows.first()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no count in {rows:?} for {sql}"))
}

fn compact(server: &S3Server, url: &str) {
    ok(server.env(&mut levee()).args(["compact", "--lake", url]));
}

/// `events` generated events of 2018-09-01 (seeded) in `<dir>/<name>`.
fn generate(dir: &Path, name: &str, events: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    ok(levee()
        .args(["generate", "events", "--lines", &events.to_string()])
        .args([
            "--start",
            "2018-09-01",
            "--days",
            "1",
            "--seed",
            &seed.to_string(),
        ])
        .arg("-o")
        .arg(&path));
    path
}

/// A config: `source` (TOML of `[sources.in]`'s keys) into the table
/// `eventlog` of the lake `url`, every record marked with `writer`, and the
/// extra keys `output` for the lake output.
fn config(dir: &Path, source: &str, url: &str, writer: &str, output: &str) -> PathBuf {
    let text = format!(
        r#"
data_dir = {data}
[sources.in]
tag = "in"
parser = {{ type = "json", time_key = "timestamp" }}
{source}
[[filters]]
match = "in"
type = "record"
set = {{ writer = "{writer}" }}
[outputs.lake]
match = "in"
type = "lake"
lake = "{url}"
database = "{DB}"
table = "eventlog"
{output}
"#,
        data = toml_path(&dir.join(format!("data-{writer}"))),
    );
    let path = dir.join(format!("{writer}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn tail_of(file: &Path) -> String {
    format!("type = \"tail\"\npaths = [{}]", toml_path(file))
}

/// Write, compact, list, query: the whole path on S3, the server reached
/// through the output's own `s3` settings (no environment) and, for the
/// commands, through the AWS environment variables.
#[test]
fn a_lake_on_s3_is_written_compacted_listed_and_queried() {
    let Some(binary) = s3s_fs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = S3Server::start(binary, &dir.join("s3"));
    let url = format!("s3://{BUCKET}/lake");
    let events = generate(dir, "events.ndjson", 3_000, 3);
    let s3 = format!(
        "s3 = {{ endpoint = \"{}\", region = \"us-east-1\", access_key_id = \"{KEY_ID}\", \
         secret_access_key = \"{SECRET}\" }}",
        server.endpoint()
    );
    let cfg = config(dir, &tail_of(&events), &url, "w1", &s3);
    ok(levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(&cfg)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID"));

    assert_eq!(
        count(
            &server,
            &url,
            &format!("select count(*) from {DB}.eventlog_json")
        ),
        3_000
    );
    compact(&server, &url);
    assert_eq!(
        count(
            &server,
            &url,
            &format!("select count(*) from {DB}.eventlog_parquet")
        ),
        3_000
    );
    assert_eq!(
        count(
            &server,
            &url,
            &format!("select count(*) from {DB}.eventlog")
        ),
        3_000
    );
    let tables = stdout(&ok(server
        .env(&mut levee())
        .args(["tables", "--lake", &url])));
    let row: Vec<&str> = tables
        .lines()
        .find(|l| l.starts_with(DB))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row.get(1..6),
        Some(&["eventlog", "24", "24", "0", "3000"][..]),
        "{tables}"
    );

    // DuckDB reads the Parquet as the server keeps it: the same count.
    let parquet = server.lake_dir("lake").join(DB).join("eventlog/parquet");
    let sql = format!(
        "select count(*) from read_parquet('{}/**/*.parquet', hive_partitioning = true)",
        parquet.display()
    );
    assert_eq!(crate::support::count(dir, &sql), 3_000);
}

/// The server killed in the middle of a write (and a dead port in its
/// place until levee has tried it), then started again: levee's uploads
/// are retried, and every record is in the lake once.
#[test]
fn an_s3_server_restarted_in_the_middle_of_a_write_loses_nothing() {
    let Some(binary) = s3s_fs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut server = S3Server::start(binary, &dir.join("s3"));
    let url = format!("s3://{BUCKET}/lake");
    let events = generate(dir, "events.ndjson", 4_000, 5);
    let lines: Vec<String> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    // Small chunks, sealed fast: many uploads, some of them in flight.
    let cfg = config(
        dir,
        "type = \"stdin\"",
        &url,
        "w1",
        "chunk_interval = \"50ms\"\nchunk_max_bytes = \"16KiB\"",
    );
    let mut child = server
        .env(&mut levee())
        .args(["run", "-c"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut levee = Running(child);
    stdin.write_all(first.concat().as_bytes()).unwrap();
    stdin.flush().unwrap();
    let json = server.lake_dir("lake").join(DB).join("eventlog/json");
    wait_until(Duration::from_secs(30), "no chunk in the lake", || {
        (!crate::support::files(&json).is_empty()).then_some(())
    });

    // Killed while levee writes; in its place a port that takes
    // connections and drops them, until levee has been refused twice.
    server.kill();
    let dead = TcpListener::bind(("127.0.0.1", server.port)).unwrap();
    stdin.write_all(second.concat().as_bytes()).unwrap();
    stdin.flush().unwrap();
    dead.set_nonblocking(true).unwrap();
    let mut refused = 0;
    wait_until(
        Duration::from_secs(30),
        "levee did not try the dead port",
        || {
            while let Ok((conn, _)) = dead.accept() {
                drop(conn);
                refused += 1;
            }
            (refused >= 2).then_some(())
        },
    );
    drop(dead);
    server.restart();
    drop(stdin);
    levee.exits_ok(Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut levee.0.stderr.take().unwrap(), &mut stderr).unwrap();

    let total = lines.len() as u64;
    let sql = format!("select count(*), count(distinct event_id) from {DB}.eventlog_json");
    assert_eq!(
        query(&server, &url, &sql),
        vec![format!("{total},{total}")],
        "{stderr}"
    );
    compact(&server, &url);
    let sql = format!("select count(*), count(distinct event_id) from {DB}.eventlog_parquet");
    assert_eq!(query(&server, &url, &sql), vec![format!("{total},{total}")]);
}

/// Many writers and no coordinator: three `levee run` (three writer ids)
/// write one table while two `levee compact` run over it at once, then a
/// last compaction: every record is counted once.
#[test]
fn three_writers_and_two_compactors_on_s3_count_every_record_once() {
    const EVENTS: u64 = 2_000;
    let Some(binary) = s3s_fs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = S3Server::start(binary, &dir.join("s3"));
    let url = format!("s3://{BUCKET}/shared");
    // Each writer is fed its events in two halves on stdin, the second
    // while the compactors run; chunks are sealed fast, so they land
    // during the compactions.
    let mut writers: Vec<(Running, std::process::ChildStdin, Vec<u8>)> = (1..=3)
        .map(|w| {
            let events = generate(dir, &format!("events-{w}.ndjson"), EVENTS, w);
            let text = std::fs::read(&events).unwrap();
            let half = text.len() / 2;
            let cut = half + text[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
            let cfg = config(
                dir,
                "type = \"stdin\"",
                &url,
                &format!("w{w}"),
                "chunk_interval = \"100ms\"\nchunk_max_bytes = \"64KiB\"",
            );
            let mut child = server
                .env(&mut levee())
                .args(["run", "-c"])
                .arg(&cfg)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&text[..cut]).unwrap();
            stdin.flush().unwrap();
            (Running(child), stdin, text[cut..].to_vec())
        })
        .collect();
    let json = server.lake_dir("shared").join(DB).join("eventlog/json");
    wait_until(Duration::from_secs(30), "no chunk in the lake", || {
        (!crate::support::files(&json).is_empty()).then_some(())
    });
    // Two compactions at once (one waits for the table's lock while the
    // other holds it), while the writers write their second halves.
    let compactors: Vec<Child> = (0..2)
        .map(|_| {
            server
                .env(&mut levee())
                .args(["compact", "--lake", &url])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (_, stdin, rest) in &mut writers {
        stdin.write_all(rest).unwrap();
        stdin.flush().unwrap();
    }
    for (mut levee, stdin, _) in writers {
        drop(stdin);
        levee.exits_ok(Duration::from_secs(60));
    }
    for c in compactors {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    compact(&server, &url);

    let total = 3 * EVENTS;
    for table in ["eventlog_json", "eventlog_parquet", "eventlog"] {
        let sql = format!("select count(*), count(distinct writer || event_id) from {DB}.{table}");
        assert_eq!(
            query(&server, &url, &sql),
            vec![format!("{total},{total}")],
            "{table}"
        );
    }
    let sql = format!("select writer, count(*) from {DB}.eventlog group by writer order by writer");
    assert_eq!(
        query(&server, &url, &sql),
        (1..=3)
            .map(|w| format!("w{w},{EVENTS}"))
            .collect::<Vec<_>>()
    );
}

/// `cmd` with `home` as its home, where `~/.aws` is read, and nothing else
/// from the AWS environment.
fn in_home<'a>(home: &Path, cmd: &'a mut Command) -> &'a mut Command {
    no_aws_env(cmd)
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env("HOME", home)
}

/// Keys, region and endpoint only in AWS profiles: `levee run` names its
/// profile in the output's `s3` (and so wins over wrong keys in the
/// environment, as the AWS CLI's `--profile` does), `levee compact` and
/// `levee query` take it from `AWS_PROFILE` in `~/.aws`, and from files
/// elsewhere; a broken profile file stops a command with its file and line.
#[test]
fn a_lake_on_s3_is_reached_with_keys_only_in_an_aws_profile() {
    let Some(binary) = s3s_fs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = S3Server::start(binary, &dir.join("s3"));
    let url = format!("s3://{BUCKET}/profiled");
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let credentials = home.join(".aws/credentials");
    let config_file = home.join(".aws/config");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [levee]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &config_file,
        format!(
            "[profile levee]\nregion = us-east-1\nendpoint_url = {}\ns3 =\n  addressing_style = path\n",
            server.endpoint()
        ),
    )
    .unwrap();
    let events = generate(dir, "events.ndjson", 500, 7);
    let cfg = config(
        dir,
        &tail_of(&events),
        &url,
        "w1",
        "s3 = { profile = \"levee\" }",
    );
    ok(in_home(
        &home,
        levee().args(["run", "--exit-on-eof", "-c"]).arg(&cfg),
    )
    .env("AWS_ACCESS_KEY_ID", "wrong-env-key")
    .env("AWS_SECRET_ACCESS_KEY", "wrong-env-secret"));

    ok(in_home(&home, levee().args(["compact", "--lake", &url])).env("AWS_PROFILE", "levee"));
    let sql = format!("select count(*) from {DB}.eventlog_parquet");
    let out = ok(in_home(
        &home,
        levee().args(["query", "--format", "csv", "--lake", &url, &sql]),
    )
    .env("AWS_PROFILE", "levee"));
    assert_eq!(stdout(&out).lines().nth(1), Some("500"));

    // The files elsewhere, named by their variables; no home at all.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::rename(&credentials, elsewhere.join("creds")).unwrap();
    std::fs::rename(&config_file, elsewhere.join("conf")).unwrap();
    let out = ok(
        no_aws_env(levee().args(["query", "--format", "csv", "--lake", &url, &sql]))
            .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("creds"))
            .env("AWS_CONFIG_FILE", elsewhere.join("conf"))
            .env("AWS_PROFILE", "levee")
            .env_remove("HOME"),
    );
    assert_eq!(stdout(&out).lines().nth(1), Some("500"));

    // A broken file: refused, naming it and the line.
    std::fs::write(
        elsewhere.join("conf"),
        "[profile levee]\nregion us-east-1\n",
    )
    .unwrap();
    let out = no_aws_env(levee().args(["query", "--lake", &url, &sql]))
        .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("creds"))
        .env("AWS_CONFIG_FILE", elsewhere.join("conf"))
        .env("AWS_PROFILE", "levee")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("conf, line 2: neither a [section] nor `key = value`"),
        "{stderr}"
    );
}

/// `levee bench collect --lake s3://...`: the collector's path with its
/// lake on the server, every line checked in the lake after each run (the
/// lake emptied before each), objects per hour and bytes per object
/// printed; a prefix holding objects that are not the bench's is refused,
/// and left as it was.
#[test]
fn bench_collect_puts_its_lake_on_s3_and_says_objects_per_hour() {
    let Some(binary) = s3s_fs() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = S3Server::start(binary, &dir.join("s3"));
    let url = format!("s3://{BUCKET}/bench");
    let out = ok(server
        .env(&mut levee())
        .args(["bench", "collect", "--lines", "3000", "--runs", "2"])
        .arg("--dir")
        .arg(dir.join("scratch"))
        .args(["--lake", &url]));
    let text = stdout(&out);
    assert!(text.contains(&format!("lake {url}: ")), "{text}");
    assert!(text.contains("objects per hour: "), "{text}");
    assert!(text.contains("bytes per object: "), "{text}");
    // Only the last run's chunks are left.
    assert_eq!(
        count(&server, &url, "select count(*) from bench.api_calls_json"),
        3_000
    );

    let foreign = server.lake_dir("theirs");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "not levee's").unwrap();
    let out = server
        .env(&mut levee())
        .args(["bench", "collect", "--lines", "10"])
        .arg("--dir")
        .arg(dir.join("scratch"))
        .args(["--lake", &format!("s3://{BUCKET}/theirs")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("is not a levee bench lake"), "{stderr}");
    assert!(foreign.join("keep.txt").is_file());
}
