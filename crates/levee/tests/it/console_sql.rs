//! The console's SQL API through the real binary: `levee console --lake`
//! with a token, raw HTTP/1.1. (Each route's details are tested beside it,
//! in `src/console/sql/tests.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Running, levee, run_with_stdin, stdin_to_lake};

const DB: &str = "glue-data-lake-usw2-prd";
const TOKEN: &str = "s3cret-token";

/// Status, head (lowercased) and body of one request.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: bool,
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let auth = if token {
        format!("Authorization: Bearer {TOKEN}\r\n")
    } else {
        String::new()
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before it has read all of a big body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn sql(addr: &str, path: &str, sql: &str) -> (u16, String, String) {
    let body = serde_json::json!({ "sql": sql }).to_string();
    request(addr, "POST", path, true, body.as_bytes())
}

/// `levee console` over `dir/lake` with the token, port chosen by the system.
fn console(dir: &Path) -> (Running, String) {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let mut child = levee()
        .arg("console")
        .arg("--lake")
        .arg(dir.join("lake"))
        .args(["--listen", "127.0.0.1:0", "--token-file"])
        .arg(dir.join("token"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "levee exited early"
        );
        if let Some((_, rest)) = line.split_once(" on http://") {
            break rest.trim().trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (running, addr)
}

#[test]
fn console_answers_sql_over_its_lake_and_refuses_to_write_or_read_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let mut input = String::new();
    for i in 0..30 {
        input.push_str(&format!(
            "{{\"timestamp\":\"2018-09-0{}T05:00:00Z\",\"routing_domain\":\"{}\",\"bounce_class\":21}}\n",
            1 + i % 3,
            ["gmail.com", "yahoo.com", "hotmail.com"][i % 3],
        ));
    }
    let out = run_with_stdin(
        tmp.path(),
        &stdin_to_lake(tmp.path(), DB, "eventlog"),
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_levee, addr) = console(tmp.path());

    // The token is asked for; with it, the tables and an answer.
    let (status, _, _) = request(&addr, "GET", "/api/tables", false, b"");
    assert_eq!(status, 401);
    let (status, _, body) = request(&addr, "GET", "/api/tables", true, b"");
    assert_eq!(status, 200, "{body}");
    let tables: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tables["tables"][0]["name"], format!("\"{DB}\".eventlog"));

    let by_day = format!(
        "select dt, count_if(routing_domain = 'gmail.com') as google, count(*) as n \
         from \"{DB}\".eventlog where bounce_class = 21 group by 1 order by 1"
    );
    let (status, _, body) = sql(&addr, "/api/query", &by_day);
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc["rows"],
        serde_json::json!([
            {"dt": "2018-09-01", "google": 10, "n": 10},
            {"dt": "2018-09-02", "google": 0, "n": 10},
            {"dt": "2018-09-03", "google": 0, "n": 10},
        ])
    );
    assert_eq!(doc["stats"]["files_read"], 3);
    assert!(doc["stats"]["cost_usd"].as_f64().unwrap() > 0.0);

    let (status, head, body) = sql(&addr, "/api/query.csv", &by_day);
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("content-disposition: attachment; filename=\"levee-query.csv\""),
        "{head}"
    );
    assert_eq!(
        body,
        "dt,google,n\n2018-09-01,10,10\n2018-09-02,0,10\n2018-09-03,0,10\n"
    );

    // The examples ask the demo's first question of this lake.
    let (status, _, body) = request(&addr, "GET", "/api/examples", true, b"");
    assert_eq!(status, 200, "{body}");
    let examples: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        examples[0]["sql"]
            .as_str()
            .unwrap()
            .contains("dt >= '2018-09-01'"),
        "{examples}"
    );

    // Nothing written, nothing read outside the lake, whatever is sent.
    let written = tmp.path().join("written.csv");
    for statement in [
        "select * from '/etc/passwd'".to_owned(),
        "select * from read_csv('/etc/passwd')".to_owned(),
        format!("copy (select 1 as a) to '{}'", written.display()),
        format!("drop table \"{DB}\".eventlog_json"),
        "create table t as select 1".to_owned(),
    ] {
        let (status, _, body) = sql(&addr, "/api/query", &statement);
        assert_eq!(status, 400, "{statement}: {body}");
        assert!(body.contains("\"error\""), "{body}");
    }
    assert!(!written.exists());
    let huge = format!("{{\"sql\": \"select '{}'\"}}", "x".repeat(2 << 20));
    let (status, _, _) = request(&addr, "POST", "/api/query", true, huge.as_bytes());
    assert_eq!(status, 413);
    let (status, _, _) = request(&addr, "POST", "/api/query", true, b"{\"sql\": \"\xff\"}");
    assert_eq!(status, 400);
    let (status, _, _) = request(&addr, "DELETE", "/api/query", true, b"");
    assert_eq!(status, 405);
}
