//! The console's SQL API through the real binary: `levee console --lake`
//! with a token, raw HTTP/1.1. (Each route's details are tested beside it,
//! in `src/console/sql/tests.rs`.)

use crate::console::levee_console;
use crate::support::{self, Answer, run_with_stdin, stdin_to_lake};

const DB: &str = "glue-data-lake-usw2-prd";
const TOKEN: &str = "s3cret-token";

/// One request, its body JSON, with the token when `token`.
fn request(addr: &str, method: &str, path: &str, token: bool, body: &[u8]) -> Answer {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("Content-Type", "application/json")];
    if token {
        headers.push(("Authorization", &auth));
    }
    support::request(addr, method, path, &headers, body)
}

fn sql(addr: &str, path: &str, sql: &str) -> Answer {
    let body = serde_json::json!({ "sql": sql }).to_string();
    request(addr, "POST", path, true, body.as_bytes())
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
    let (_levee, addr) = levee_console(tmp.path(), TOKEN);

    // The token is asked for; with it, the tables and an answer.
    let status = request(&addr, "GET", "/api/tables", false, b"").status;
    assert_eq!(status, 401);
    let answer = request(&addr, "GET", "/api/tables", true, b"");
    let (status, body) = (answer.status, answer.text());
    assert_eq!(status, 200, "{body}");
    let tables: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tables["tables"][0]["name"], format!("\"{DB}\".eventlog"));

    let by_day = format!(
        "select dt, count_if(routing_domain = 'gmail.com') as google, count(*) as n \
         from \"{DB}\".eventlog where bounce_class = 21 group by 1 order by 1"
    );
    let answer = sql(&addr, "/api/query", &by_day);
    let (status, body) = (answer.status, answer.text());
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

    let answer = sql(&addr, "/api/query.csv", &by_day);
    let (status, body) = (answer.status, answer.text());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"levee-query.csv\"")
    );
    assert_eq!(
        body,
        "dt,google,n\n2018-09-01,10,10\n2018-09-02,0,10\n2018-09-03,0,10\n"
    );

    // The examples ask the demo's first question of this lake.
    let answer = request(&addr, "GET", "/api/examples", true, b"");
    let (status, body) = (answer.status, answer.text());
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
        let answer = sql(&addr, "/api/query", &statement);
        let (status, body) = (answer.status, answer.text());
        assert_eq!(status, 400, "{statement}: {body}");
        assert!(body.contains("\"error\""), "{body}");
    }
    assert!(!written.exists());
    let huge = format!("{{\"sql\": \"select '{}'\"}}", "x".repeat(2 << 20));
    let status = request(&addr, "POST", "/api/query", true, huge.as_bytes()).status;
    assert_eq!(status, 413);
    let status = request(&addr, "POST", "/api/query", true, b"{\"sql\": \"\xff\"}").status;
    assert_eq!(status, 400);
    let status = request(&addr, "DELETE", "/api/query", true, b"").status;
    assert_eq!(status, 405);
}
