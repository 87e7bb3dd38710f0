//! The routes on a real socket, over a lake of JSON chunks written here.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const DB: &str = "glue-data-lake-usw2-prd";

/// A JSON chunk of `records` in `db.table`'s hour `dt`/`05`.
fn chunk(lake: &Path, table: &str, dt: &str, records: &[serde_json::Value]) {
    let dir = lake.join(format!("{DB}/{table}/json/dt={dt}/hour=05"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = Vec::new();
    for r in records {
        writeln!(text, "{r}").unwrap();
    }
    let bytes = zstd::encode_all(&text[..], 1).unwrap();
    std::fs::write(dir.join("00-test-00000001.ndjson.zst"), bytes).unwrap();
}

/// Eight days of bounces, as `levee demo`'s: every day three of class
/// 21, one per provider; the 5th also two more at hotmail.
fn bounces(lake: &Path) {
    for day in 1..=8 {
        let dt = format!("2018-09-0{day}");
        let mut records = Vec::new();
        for domain in ["gmail.com", "yahoo.com", "hotmail.com"] {
            records.push(serde_json::json!({"time": format!("{dt}T05:00:00Z"),
                "bounce_class": 21, "routing_domain": domain, "raw_reason": "DNS failure"}));
        }
        if day == 5 {
            for _ in 0..2 {
                records.push(serde_json::json!({"time": format!("{dt}T05:30:00Z"),
                    "bounce_class": 21, "routing_domain": "hotmail.com", "raw_reason": "no MX"}));
            }
        }
        records.push(serde_json::json!({"time": format!("{dt}T05:40:00Z"),
            "bounce_class": 10, "routing_domain": "gmail.com", "raw_reason": "no such user"}));
        chunk(lake, "eventlog", &dt, &records);
    }
}

/// The routes over `lake`, served on a port the system chose.
async fn serve(lake: Option<&Path>) -> SocketAddr {
    let router = routes(
        lake.map(|p| p.to_string_lossy().into_owned()),
        QueryOptions::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request, raw HTTP/1.1, the whole answer read (`Connection: close`).
async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A server may answer (413) before it has read all of a big body.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    Answer { status, head, body }
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 4 + size..];
    }
}

async fn query(addr: SocketAddr, path: &str, sql: &str) -> Answer {
    let body = serde_json::json!({ "sql": sql }).to_string();
    request(addr, "POST", path, body.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_lists_each_table_with_its_columns_copies_and_size() {
    let tmp = tempfile::tempdir().unwrap();
    bounces(tmp.path());
    let addr = serve(Some(tmp.path())).await;
    let a = request(addr, "GET", "/api/tables", b"").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let doc = a.json();
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{doc}");
    let t = &tables[0];
    assert_eq!(t["name"], format!("\"{DB}\".eventlog"));
    assert_eq!(t["copies"]["json"], format!("\"{DB}\".eventlog_json"));
    assert_eq!(t["copies"]["parquet"], format!("\"{DB}\".eventlog_parquet"));
    let columns: Vec<&str> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in ["bounce_class", "routing_domain", "raw_reason", "dt", "hour"] {
        assert!(columns.contains(&c), "{c} not in {columns:?}");
    }
    assert_eq!(t["hours"], 8);
    assert!(t["json_bytes"].as_u64().unwrap() > 0, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_answers_the_query_apis_document_with_the_accounting() {
    let tmp = tempfile::tempdir().unwrap();
    bounces(tmp.path());
    let addr = serve(Some(tmp.path())).await;
    let a = query(
        addr,
        "/api/query",
        &format!("select dt, count(*) as n from \"{DB}\".eventlog where bounce_class = 21 group by 1 order by 1"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.head.contains("content-type: application/json"),
        "{}",
        a.head
    );
    let doc = a.json();
    assert_eq!(doc["columns"][0]["name"], "dt");
    assert_eq!(
        doc["rows"][0],
        serde_json::json!({"dt": "2018-09-01", "n": 3})
    );
    assert_eq!(
        doc["rows"][4],
        serde_json::json!({"dt": "2018-09-05", "n": 5})
    );
    let stats = &doc["stats"];
    assert_eq!(stats["rows"], 8);
    assert_eq!(stats["files_read"], 8);
    assert!(stats["bytes_scanned"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["cost_usd"].as_f64().unwrap() > 0.0, "{stats}");
}

/// The page shows at most [`MAX_ROWS`]; the accounting says how many there were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_is_cut_for_the_page_but_not_for_the_download() {
    let tmp = tempfile::tempdir().unwrap();
    let records: Vec<_> = (0..MAX_ROWS + 5)
        .map(|i| serde_json::json!({"time": "2018-09-01T05:00:00Z", "i": i}))
        .collect();
    chunk(tmp.path(), "many", "2018-09-01", &records);
    let addr = serve(Some(tmp.path())).await;
    let sql = format!("select i from \"{DB}\".many");
    let doc = query(addr, "/api/query", &sql).await.json();
    assert_eq!(doc["rows"].as_array().unwrap().len(), MAX_ROWS);
    assert_eq!(doc["stats"]["rows"], MAX_ROWS + 5);
    let csv = query(addr, "/api/query.csv", &sql).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.text().lines().count(), 1 + MAX_ROWS + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_csv_and_parquet_attachments() {
    let tmp = tempfile::tempdir().unwrap();
    bounces(tmp.path());
    let addr = serve(Some(tmp.path())).await;
    let sql = format!("select dt, count(*) as n from \"{DB}\".eventlog group by 1 order by 1");
    let csv = query(addr, "/api/query.csv", &sql).await;
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv.head.contains("content-type: text/csv"), "{}", csv.head);
    assert!(
        csv.head
            .contains("content-disposition: attachment; filename=\"levee-query.csv\""),
        "{}",
        csv.head
    );
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "dt,n");
    assert_eq!(lines[5], "2018-09-05,6");
    assert_eq!(lines.len(), 9);

    let parquet = query(addr, "/api/query.parquet", &sql).await;
    assert_eq!(parquet.status, 200);
    assert!(
        parquet.head.contains("filename=\"levee-query.parquet\""),
        "{}",
        parquet.head
    );
    assert!(parquet.body.starts_with(b"PAR1") && parquet.body.ends_with(b"PAR1"));
}

/// The "try this" list asks the demo's questions, word for word but for
/// the whole table, and every one of them runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_are_the_demos_questions_and_they_run() {
    let tmp = tempfile::tempdir().unwrap();
    bounces(tmp.path());
    let addr = serve(Some(tmp.path())).await;
    let a = request(addr, "GET", "/api/examples", b"").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let list = a.json();
    let list = list.as_array().unwrap();
    let titles: Vec<&str> = list.iter().map(|e| e["title"].as_str().unwrap()).collect();
    // The API calls question needs a table this lake lacks.
    assert_eq!(
        titles,
        [
            crate::commands::demo::QUESTIONS[0].title,
            crate::commands::demo::QUESTIONS[1].title,
            "Events per day in glue-data-lake-usw2-prd.eventlog"
        ]
    );
    let demo = crate::commands::demo::QUESTIONS[1].sql(
        &format!("\"{DB}\".eventlog"),
        &crate::commands::demo::Days {
            first: "2018-09-01",
            jump_first: "2018-09-04",
            jump_last: "2018-09-06",
        },
    );
    assert_eq!(list[1]["sql"], demo);
    for example in list {
        let a = query(addr, "/api/query", example["sql"].as_str().unwrap()).await;
        assert_eq!(a.status, 200, "{example}: {}", a.text());
        assert!(
            !a.json()["rows"].as_array().unwrap().is_empty(),
            "{example}"
        );
    }
    let by_day = query(addr, "/api/query", list[0]["sql"].as_str().unwrap())
        .await
        .json();
    assert_eq!(
        by_day["rows"][4],
        serde_json::json!({"dt": "2018-09-05", "google": 1, "yahoo": 1, "hotmail": 3})
    );
}

/// Whatever a request carries, the console reads the lake and nothing else,
/// and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    bounces(tmp.path());
    let outside = tmp.path().join("outside.csv");
    std::fs::write(&outside, "a,b\n1,2\n").unwrap();
    let written = tmp.path().join("written.csv");
    let addr = serve(Some(tmp.path().join(DB).parent().unwrap())).await;

    let bad = |a: &Answer, status: u16, what: &str| {
        assert_eq!(a.status, status, "{what}: {}", a.text());
        assert!(a.json()["error"].is_string(), "{what}: {}", a.text());
    };
    for body in [
        &b"{\"sql\": "[..],
        b"select 1",
        b"{\"query\": \"select 1\"}",
        b"\xff\xfe{}",
    ] {
        let a = request(addr, "POST", "/api/query", body).await;
        bad(&a, 400, &String::from_utf8_lossy(body));
    }
    let json_with_bad_utf8 = b"{\"sql\": \"select '\xff'\"}";
    bad(
        &request(addr, "POST", "/api/query", json_with_bad_utf8).await,
        400,
        "not UTF-8",
    );
    let huge = format!("{{\"sql\": \"select '{}'\"}}", "x".repeat(2 << 20));
    let a = request(addr, "POST", "/api/query", huge.as_bytes()).await;
    assert_eq!(a.status, 413, "{}", a.text());

    let o = outside.display();
    let w = written.display();
    for sql in [
        format!("select * from '{o}'"),
        "select * from '/etc/passwd'".to_owned(),
        format!("select * from read_csv('{o}')"),
        "select * from read_parquet('/etc/passwd')".to_owned(),
        format!("create external table x stored as csv location '{o}'"),
        format!("copy (select 1 as a) to '{w}'"),
        format!("insert into \"{DB}\".eventlog_json select * from \"{DB}\".eventlog_json"),
        format!("drop table \"{DB}\".eventlog_json"),
        "create table t as select 1".to_owned(),
        "set datafusion.execution.target_partitions = 64".to_owned(),
    ] {
        for path in ["/api/query", "/api/query.csv", "/api/query.parquet"] {
            bad(
                &query(addr, path, &sql).await,
                400,
                &format!("{path}: {sql}"),
            );
        }
    }
    assert!(!written.exists(), "a COPY wrote {w}");
    // The lake is as it was: one table, still answering.
    let doc = query(
        addr,
        "/api/query",
        &format!("select count(*) as n from \"{DB}\".eventlog"),
    )
    .await
    .json();
    assert_eq!(doc["rows"][0]["n"], 34);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_lake_the_page_is_told_so() {
    let addr = serve(None).await;
    let doc = request(addr, "GET", "/api/tables", b"").await.json();
    assert_eq!(doc["lake"], serde_json::Value::Null);
    assert!(
        doc["message"].as_str().unwrap().contains("no lake"),
        "{doc}"
    );
    assert_eq!(
        request(addr, "GET", "/api/examples", b"").await.json(),
        serde_json::json!([])
    );
    let a = query(addr, "/api/query", "select 1").await;
    assert_eq!(a.status, 404, "{}", a.text());
    assert!(a.json()["error"].as_str().unwrap().contains("no lake"));
}
