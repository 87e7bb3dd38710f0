//! The HTTP query API, `POST /v1/query`: served by `levee serve` for a lake
//! alone and by `levee run` with `[query_api]`; the real binary, a real
//! socket, raw HTTP/1.1.

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{
    Answer, Running, addr_after, drain, levee, ok, request, run_with_stdin, sigterm, stdin_to_lake,
    toml_path, wait_until,
};

const DB: &str = "glue-data-lake-usw2-prd";

fn sql(addr: &str, sql: &str) -> Answer {
    request(
        addr,
        "POST",
        "/v1/query",
        &[("Content-Type", "text/plain")],
        sql.as_bytes(),
    )
}

/// Events in two hours of 2018-09-01 into `DB.table` of `dir/lake`.
fn write_events(dir: &Path, table: &str, hours: &[u32], per_hour: usize) {
    let mut input = String::new();
    for h in hours {
        for i in 0..per_hour {
            input.push_str(&format!(
                "{{\"timestamp\":\"2018-09-01T{h:02}:{:02}:00Z\",\"routing_domain\":\"{}\",\"bounce_class\":{}}}\n",
                i % 60,
                ["gmail.com", "yahoo.com", "hotmail.com"][i % 3],
                if i % 2 == 0 { 21 } else { 10 }
            ));
        }
    }
    let out = run_with_stdin(dir, &stdin_to_lake(dir, DB, table), input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `levee serve` on `dir/lake`, port chosen by the system; its address.
fn serve(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Running, String) {
    let mut cmd = levee();
    cmd.arg("serve")
        .arg("--lake")
        .arg(dir.join("lake"))
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let addr = addr_after(&mut stderr, " on http://");
    drain(stderr);
    (running, addr)
}

#[test]
fn serve_answers_sql_with_rows_and_the_accounting() {
    let tmp = tempfile::tempdir().unwrap();
    write_events(tmp.path(), "eventlog", &[5, 6], 30);
    let (_server, addr) = serve(tmp.path(), &[], &[]);

    // The user's query, as written for Athena.
    let a = sql(
        &addr,
        &format!(
            r#"select dt, count_if(routing_domain='gmail.com') as google, count(*) as n
            from "{DB}".eventlog_json where bounce_class=21 and dt >= '2018-09-01' group by 1"#
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("content-type"), Some("application/json"));
    let doc = a.json();
    let names: Vec<&str> = doc["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dt", "google", "n"]);
    assert_eq!(
        doc["rows"],
        serde_json::json!([{"dt": "2018-09-01", "google": 10, "n": 30}])
    );
    let stats = &doc["stats"];
    assert_eq!(stats["rows"], 1);
    assert_eq!(stats["partitions_read"], 2);
    assert!(stats["bytes_scanned"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["cost_usd"].as_f64().unwrap() > 0.0, "{stats}");

    // The same as JSON, and an empty answer still has its columns.
    let a = request(
        &addr,
        "POST",
        "/v1/query",
        &[("Content-Type", "application/json")],
        format!(r#"{{"sql": "select hour from \"{DB}\".eventlog where dt = '1999-01-01'"}}"#)
            .as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let doc = a.json();
    assert_eq!(doc["rows"], serde_json::json!([]));
    assert_eq!(doc["columns"][0]["name"], "hour");
}

#[test]
fn serve_refuses_bad_requests_with_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_events(tmp.path(), "eventlog", &[5], 3);
    let (_server, addr) = serve(tmp.path(), &[], &[]);

    let a = sql(&addr, "select nope from eventlog_json");
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(
        a.json()["error"].as_str().unwrap().contains("nope"),
        "{}",
        a.text()
    );

    let a = sql(&addr, "selec 1");
    assert_eq!(a.status, 400);
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("SQL syntax error"),
        "{}",
        a.text()
    );

    let a = request(
        &addr,
        "POST",
        "/v1/query",
        &[("Content-Type", "application/json")],
        b"{\"sql\": 1}",
    );
    assert_eq!(a.status, 400, "{}", a.text());
    a.json();

    let a = request(
        &addr,
        "POST",
        "/v1/query",
        &[("Content-Type", "image/png")],
        b"\x89PNG",
    );
    assert_eq!(a.status, 415, "{}", a.text());

    let a = request(&addr, "POST", "/v1/nothing", &[], b"select 1");
    assert_eq!(a.status, 404);
    assert!(a.json()["error"].is_string());

    let a = request(&addr, "GET", "/v1/query", &[], b"");
    assert_eq!(a.status, 405);

    let big = vec![b'x'; 2 * 1024 * 1024];
    let a = request(&addr, "POST", "/v1/query", &[], &big);
    assert_eq!(a.status, 413);

    // Read-only: a COPY is refused and writes nothing.
    let target = tmp.path().join("leak.csv");
    let a = sql(
        &addr,
        &format!(
            "copy (select * from eventlog_json) to '{}'",
            target.display()
        ),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(
        a.json()["error"].as_str().unwrap().contains("COPY"),
        "{}",
        a.text()
    );
    assert!(!target.exists());
    // Nor can a table be made over a file outside the lake, nor rows added.
    let secret = tmp.path().join("secret.csv");
    std::fs::write(&secret, "password\nhunter2\n").unwrap();
    for (statement, says) in [
        (
            format!(
                "create external table leak stored as csv location '{}'",
                secret.display()
            ),
            "DDL not supported",
        ),
        (format!("select * from '{}'", secret.display()), ""),
        (
            "insert into eventlog_json (routing_domain) values ('x')".to_owned(),
            "not supported",
        ),
    ] {
        let a = sql(&addr, &statement);
        assert_eq!(a.status, 400, "{statement}: {}", a.text());
        let error = a.json()["error"].as_str().unwrap().to_owned();
        assert!(!error.contains("hunter2"), "{statement}: {error}");
        assert!(error.contains(says), "{statement}: {error}");
    }
    let a = sql(&addr, "select * from leak");
    assert_eq!(a.status, 400, "{}", a.text());

    // After all that, it still answers.
    let a = sql(&addr, "select count(*) as n from eventlog_json");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["rows"][0]["n"], 3);
}

#[test]
fn serve_asks_for_the_token_when_given_one() {
    let tmp = tempfile::tempdir().unwrap();
    write_events(tmp.path(), "eventlog", &[5], 3);
    std::fs::write(tmp.path().join("token"), "Zm9vYmFy\n").unwrap();
    let token_file = tmp.path().join("token");
    let (_server, addr) = serve(
        tmp.path(),
        &["--token-file", token_file.to_str().unwrap()],
        &[],
    );
    let q = b"select count(*) as n from eventlog_json";
    let a = request(&addr, "POST", "/v1/query", &[], q);
    assert_eq!(a.status, 401, "{}", a.text());
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    assert!(a.json()["error"].as_str().unwrap().contains("token"));
    let a = request(
        &addr,
        "POST",
        "/v1/query",
        &[("Authorization", "Bearer Zm9vYmFx")],
        q,
    );
    assert_eq!(a.status, 401);
    let a = request(
        &addr,
        "POST",
        "/v1/query",
        &[("Authorization", "Bearer Zm9vYmFy")],
        q,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["rows"][0]["n"], 3);
}

#[test]
fn serve_sees_tables_and_hours_written_after_it_started() {
    let tmp = tempfile::tempdir().unwrap();
    write_events(tmp.path(), "eventlog", &[5], 3);
    let (_server, addr) = serve(tmp.path(), &[], &[]);
    let a = sql(
        &addr,
        &format!(r#"select count(*) as n from "{DB}".eventlog"#),
    );
    assert_eq!(a.json()["rows"][0]["n"], 3);
    let a = sql(
        &addr,
        &format!(r#"select count(*) as n from "{DB}".clicks"#),
    );
    assert_eq!(a.status, 400, "{}", a.text());

    // A new hour of a table it knows, and a table it does not.
    write_events(tmp.path(), "eventlog", &[7], 4);
    write_events(tmp.path(), "clicks", &[8], 5);

    let a = sql(
        &addr,
        &format!(r#"select count(*) as n, count(distinct hour) as hours from "{DB}".eventlog"#),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["rows"][0], serde_json::json!({"n": 7, "hours": 2}));
    let a = sql(
        &addr,
        &format!(r#"select count(*) as n from "{DB}".clicks"#),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["rows"][0]["n"], 5);
}

/// A self-join of the demo's size: over HTTP it ends on a limit, with a
/// status and a message that say which, and the server answers the next.
#[test]
fn serve_stops_a_query_over_its_limits_and_says_which() {
    let tmp = tempfile::tempdir().unwrap();
    write_events(tmp.path(), "eventlog", &[1, 2, 3, 4], 1000);
    let join = format!(
        r#"select count(*) from "{DB}".eventlog_json a join "{DB}".eventlog_json b on a.bounce_class = b.bounce_class"#
    );
    // 16 billion rows to count: it would run for hours.
    let three_way =
        format!(r#"{join} join "{DB}".eventlog_json c on b.bounce_class = c.bounce_class"#);
    let (mut server, addr) = serve(tmp.path(), &["--timeout", "1s"], &[]);
    let a = sql(&addr, &three_way);
    assert_eq!(a.status, 408, "{}", a.text());
    let e = a.json();
    assert_eq!(e["limit"], "time");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("time limit: stopped after 1s"),
        "{e}"
    );
    let a = sql(&addr, "select 1 as one");
    assert_eq!(a.status, 200, "{}", a.text());
    sigterm(&server.0);
    server.exits_ok(Duration::from_secs(20));

    let (_server, addr) = serve(tmp.path(), &["--memory-limit", "2MiB"], &[]);
    let a = sql(&addr, &join.replace("count(*)", "a.*, b.routing_domain"));
    assert_eq!(a.status, 503, "{}", a.text());
    let e = a.json();
    assert_eq!(e["limit"], "memory");
    assert!(
        e["error"].as_str().unwrap().starts_with("memory limit: "),
        "{e}"
    );
    let a = sql(&addr, "select 1 as one");
    assert_eq!(a.status, 200, "{}", a.text());
}

#[test]
fn serve_says_when_the_lake_is_not_there() {
    let tmp = tempfile::tempdir().unwrap();
    let out = levee()
        .arg("serve")
        .arg("--lake")
        .arg(tmp.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no lake at"), "{said}");
    assert!(!tmp.path().join("nope").exists());
}

/// `[query_api]` in `levee run`: the lake its output writes is queryable
/// while it runs, and what arrives later is seen.
#[test]
fn run_serves_the_lake_its_outputs_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("events.ndjson");
    let line = |i: usize| {
        format!(
            "{{\"timestamp\":\"2018-09-01T05:{:02}:00Z\",\"n\":{i}}}\n",
            i % 60
        )
    };
    std::fs::write(&log, (0..10).map(line).collect::<String>()).unwrap();
    let config = format!(
        r#"
data_dir = {data}
[query_api]
listen = "127.0.0.1:0"
token = "t0k3n"
[sources.events]
type = "tail"
paths = [{log}]
tag = "events"
parser = {{ type = "json", time_key = "timestamp" }}
[outputs.lake]
match = "events"
type = "lake"
lake = {lake}
database = "{DB}"
table = "eventlog"
chunk_interval = "1s"
"#,
        data = toml_path(&dir.join("data")),
        log = toml_path(&log),
        lake = toml_path(&dir.join("lake")),
    );
    std::fs::write(dir.join("levee.toml"), &config).unwrap();
    ok(levee().args(["validate", "-c"]).arg(dir.join("levee.toml")));
    let mut child = levee()
        .args(["run", "-c"])
        .arg(dir.join("levee.toml"))
        .env("LEVEE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut running = Running(child);
    let addr = addr_after(&mut stderr, "query API on http://");
    drain(stderr);

    let count = |addr: &str| {
        let a = request(
            addr,
            "POST",
            "/v1/query",
            &[("Authorization", "Bearer t0k3n")],
            format!(r#"select count(*) as n from "{DB}".eventlog"#).as_bytes(),
        );
        // 400 until the table's first chunk is there.
        (a.status == 200).then(|| a.json()["rows"][0]["n"].as_u64().unwrap())
    };
    wait_until(Duration::from_secs(60), "10 events queryable", || {
        (count(&addr) == Some(10)).then_some(())
    });
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all((10..25).map(line).collect::<String>().as_bytes())
        .unwrap();
    drop(f);
    wait_until(Duration::from_secs(60), "25 events queryable", || {
        (count(&addr) == Some(25)).then_some(())
    });

    #[cfg(target_os = "linux")]
    assert_eq!(query_thread_nice(running.0.id()), Some(10));

    sigterm(&running.0);
    running.exits_ok(Duration::from_secs(30));
}

/// The nice value of the query API's worker threads, from /proc.
#[cfg(target_os = "linux")]
fn query_thread_nice(pid: u32) -> Option<i64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?.path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.trim() == "levee-query" {
            let stat = std::fs::read_to_string(task.join("stat")).ok()?;
            // Field 19 is nice; fields after the `)` of the name, from 3.
            let after = stat.rsplit_once(')')?.1;
            return after.split_whitespace().nth(16)?.parse().ok();
        }
    }
    None
}
