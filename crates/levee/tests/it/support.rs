//! Running the binary and the DuckDB oracle.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `levee` binary cargo built for these tests.
pub fn levee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_levee"))
}

/// Runs a command, failing the test with its output if it fails.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Python that has DuckDB and prometheus_client: `LEVEE_PYTHON`, or the `.venv` that
/// `scripts/test-deps` makes.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LEVEE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "DuckDB and prometheus_client are the oracles: run scripts/test (or scripts/test-deps) first"
    );
    venv
}

/// Runs SQL in DuckDB with the working folder `dir`, returning CSV.
pub fn duckdb(dir: &Path, sql: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/duckdb_oracle.py");
    let out = ok(Command::new(python()).arg(script).arg(sql).current_dir(dir));
    stdout(&out)
}

/// Quotes a path for TOML.
pub fn toml_path(path: &Path) -> String {
    format!("{:?}", path.to_string_lossy())
}

/// A config that reads JSON events (their time in `timestamp`) from stdin
/// into the table `database.table` of a lake at `dir/lake`.
pub fn stdin_to_lake(dir: &Path, database: &str, table: &str) -> String {
    format!(
        r#"
data_dir = {data}
[sources.in]
type = "stdin"
tag = "in"
parser = {{ type = "json", time_key = "timestamp" }}
[outputs.lake]
match = "in"
type = "lake"
lake = {lake}
database = "{database}"
table = "{table}"
"#,
        data = toml_path(&dir.join("data")),
        lake = toml_path(&dir.join("lake")),
    )
}

/// Runs `levee run` on a config written into `dir`, feeding `input` on
/// stdin until it closes; returns what the process printed.
pub fn run_with_stdin(dir: &Path, config: &str, input: &[u8]) -> Output {
    use std::io::Write;
    let path = dir.join("c.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = levee()
        .args(["run", "-c"])
        .arg(&path)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A levee started in the background, killed if the test fails first, so
/// that no levee outlives its test.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `/metrics` from a running levee at `addr`, fetched as a scraper does;
/// empty if it did not answer.
pub fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err()
        || stream.read_to_string(&mut response).is_err()
    {
        return String::new();
    }
    response
}

/// Sends SIGTERM, as a service manager stops levee.
#[cfg(unix)]
pub fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits, polling every 20 ms, until `check` gives a value; fails the test
/// with `what` after `within`. Tests wait on a condition, never on time.
pub fn wait_until<T>(
    within: Duration,
    what: impl std::fmt::Display,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Running {
    /// Waits up to `within` for levee to exit on its own; fails the test
    /// unless it exits with success.
    pub fn exits_ok(&mut self, within: Duration) {
        let status = wait_until(within, "levee did not exit", || self.0.try_wait().unwrap());
        assert!(status.success(), "{status}");
    }
}

/// The metrics address (the port the system chose) that levee logs at
/// start, read from its stderr (run with `LEVEE_LOG=info`).
pub fn metrics_addr(stderr: &mut impl BufRead) -> String {
    addr_after(stderr, "metrics on http://")
}

/// Writes `config` into `dir/c.toml` and starts `levee run` on it in the
/// background, logging at info; returns it and its stderr, where it says
/// the addresses it listens on.
pub fn start_run(dir: &Path, config: &str) -> (Running, BufReader<ChildStderr>) {
    let path = dir.join("c.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = levee()
        .args(["run", "-c"])
        .arg(&path)
        .env("LEVEE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    (Running(child), stderr)
}

/// Keeps reading the rest of `stderr`, so levee never blocks on a full pipe.
pub fn drain(mut stderr: BufReader<ChildStderr>) {
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
}

/// The address in the first line of `stderr` that says `{marker}ADDR/`
/// (`console on http://`); fails the test if levee exits first.
pub fn addr_after(stderr: &mut impl BufRead, marker: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "levee exited early"
        );
        if let Some((_, rest)) = line.split_once(marker) {
            return rest.split('/').next().unwrap().trim().to_owned();
        }
    }
}

/// [`start_run`], once it serves metrics: it, and the address they are on.
pub fn run_with_metrics(dir: &Path, config: &str) -> (Running, String) {
    let (running, mut stderr) = start_run(dir, config);
    let addr = metrics_addr(&mut stderr);
    drain(stderr);
    (running, addr)
}

/// An HTTP answer: status, headers (names lowercased) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request over raw HTTP/1.1 and reads the whole answer
/// (`Connection: close`); fails the test if there is none.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    try_request(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// [`request`], for a test that polls: why there is no answer, if none.
pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    // A server may answer (413) before it has read all of a big body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no head in {:?}", String::from_utf8_lossy(&raw)))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    // Bodies come whole with a length: axum does not chunk a full body.
    Ok(Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// A `levee run` tailing `lines` numbered lines into a `file` output (with
/// `output_extra`, TOML keys added to that output) and serving metrics on a
/// port the system chose; returned once `/metrics` says every line was
/// read, with that address.
pub fn tailing_with_metrics(dir: &Path, lines: usize, output_extra: &str) -> (Running, String) {
    let log = dir.join("app.log");
    let text: String = (0..lines).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, text).unwrap();
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
         [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n{output_extra}\n",
        data = toml_path(&dir.join("data")),
        log = toml_path(&log),
        out = toml_path(&dir.join("out.ndjson")),
    );
    let (running, mut stderr) = start_run(dir, &config);
    let addr = metrics_addr(&mut stderr);
    let read = format!("levee_source_events_total{{source=\"app\"}} {lines}\n");
    wait_until(
        Duration::from_secs(60),
        format_args!("{lines} lines not read"),
        || scrape(&addr).contains(&read).then_some(()),
    );
    (running, addr)
}

/// The single number a DuckDB query such as `select count(*) …` returns.
pub fn count(dir: &Path, sql: &str) -> u64 {
    let csv = duckdb(dir, sql);
    csv.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no count in {csv:?}"))
}

/// Every file under `dir`, at any depth; none if `dir` is not there (yet).
/// The JSON lines of a file another process is still writing: a reader
/// can see the first half of a write, so a last line without its newline
/// is left for the next look.
pub fn written_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every record in the lake's JSON chunks under `lake`, as levee wrote
/// them (read directly, for tests that need no SQL).
pub fn lake_records(lake: &Path) -> Vec<serde_json::Value> {
    let mut records = Vec::new();
    for path in files(lake) {
        if !path.to_string_lossy().ends_with(".ndjson.zst") {
            continue;
        }
        let bytes = zstd::stream::decode_all(std::fs::File::open(&path).unwrap()).unwrap();
        for line in String::from_utf8(bytes).unwrap().lines() {
            records.push(serde_json::from_str(line).unwrap());
        }
    }
    records
}
