//! From generated logs to SQL answers, checked by DuckDB.

use std::path::Path;

use crate::support::{count, duckdb, files, levee, ok, stdin_to_lake, stdout, toml_path};

const EVENTS: u64 = 20_000;
const NGINX: u64 = 12_000;
const DB: &str = "glue-data-lake-usw2-prd";

fn config(dir: &Path) -> String {
    format!(
        r#"
data_dir = {data}

[sources.events]
type = "tail"
paths = [{events}]
tag = "events.sparkpost"
parser = {{ type = "json", time_key = "timestamp" }}

[sources.nginx]
type = "tail"
paths = [{access}]
tag = "nginx.access"
parser = {{ type = "nginx", format = "combined_request_time" }}

[[filters]]
match = "nginx.**"
type = "record"
set = {{ api_call = "${{method|lower}}_${{path|segment(2)}}" }}
retag = "firehose_parsed.nginx"

[outputs.eventlog]
match = "events.**"
type = "lake"
lake = {lake}
database = "{DB}"
table = "eventlog"
buffer = {{ batch_max_bytes = "1MiB" }}

[outputs.api_calls]
match = "firehose_parsed.**"
type = "lake"
lake = {lake}
database = "{DB}"
table = "api_calls"

[outputs.errors]
match = "@ERROR"
type = "file"
path = {errors}
"#,
        data = toml_path(&dir.join("data")),
        events = toml_path(&dir.join("events.ndjson")),
        access = toml_path(&dir.join("access.log")),
        lake = toml_path(&dir.join("lake")),
        errors = toml_path(&dir.join("errors.ndjson")),
    )
}

fn generate(dir: &Path, dataset: &str, lines: u64, file: &str) {
    ok(levee()
        .args(["generate", dataset, "--lines", &lines.to_string()])
        .args(["--start", "2018-09-01", "--days", "3", "--seed", "7", "-o"])
        .arg(dir.join(file)));
}

fn lines(path: &Path) -> u64 {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count() as u64)
}

#[test]
fn generated_logs_reach_parquet_whole_and_our_answers_equal_duckdbs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "events", EVENTS, "events.ndjson");
    generate(dir, "nginx", NGINX, "access.log");
    std::fs::write(dir.join("levee.toml"), config(dir)).unwrap();

    ok(levee().args(["validate", "-c"]).arg(dir.join("levee.toml")));
    ok(levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(dir.join("levee.toml")));
    ok(levee().args(["compact", "--lake"]).arg(dir.join("lake")));

    // Every generated record is in the lake, as JSON and as Parquet, or
    // (for nginx lines that don't parse) in the error file.
    let events_parquet = format!(
        "read_parquet('lake/{DB}/eventlog/parquet/*/*/*.parquet', hive_partitioning = true)"
    );
    let events_json =
        format!("read_json_auto('lake/{DB}/eventlog/json/*/*/*.ndjson.zst', compression = 'zstd')");
    let api_parquet = format!(
        "read_parquet('lake/{DB}/api_calls/parquet/*/*/*.parquet', hive_partitioning = true)"
    );
    assert_eq!(
        count(dir, &format!("select count(*) from {events_parquet}")),
        EVENTS
    );
    assert_eq!(
        count(dir, &format!("select count(*) from {events_json}")),
        EVENTS
    );
    let errors = lines(&dir.join("errors.ndjson"));
    assert_eq!(
        count(dir, &format!("select count(*) from {api_parquet}")) + errors,
        NGINX
    );
    assert!(
        errors < NGINX / 1000,
        "{errors} nginx lines failed to parse"
    );

    // The user's question, asked of levee and of DuckDB over the same files.
    let ours = |sql: &str| {
        let out = ok(levee()
            .args(["query", "--format", "csv", "--lake"])
            .arg(dir.join("lake"))
            .arg(sql));
        stdout(&out)
    };
    let seed_query = |table: &str| {
        format!(
            "select dt, count_if(routing_domain = 'gmail.com') as google, count_if(routing_domain = 'yahoo.com') as yahoo, \
             count_if(routing_domain = 'hotmail.com') as hotmail from \"{DB}\".{table} \
             where bounce_class = 21 and dt >= '2018-09-02' group by 1 order by 1"
        )
    };
    let theirs = duckdb(
        dir,
        &format!(
            "select cast(dt as varchar) as dt, count(*) filter (where routing_domain = 'gmail.com') as google, \
             count(*) filter (where routing_domain = 'yahoo.com') as yahoo, \
             count(*) filter (where routing_domain = 'hotmail.com') as hotmail from {events_parquet} \
             where bounce_class = 21 and dt >= '2018-09-02' group by 1 order by 1"
        ),
    );
    let from_parquet = ours(&seed_query("eventlog_parquet"));
    assert_eq!(from_parquet, theirs);
    assert_eq!(
        from_parquet.lines().count(),
        3,
        "a header and two days: {from_parquet}"
    );
    assert_eq!(
        ours(&seed_query("eventlog_json")),
        theirs,
        "the JSON table answers as the Parquet one"
    );

    let top_reasons = ours(&format!(
        "select raw_reason, count(*) as n from \"{DB}\".eventlog_parquet where bounce_class = 21 group by 1 order by 2 desc, 1 limit 10"
    ));
    let duck_reasons = duckdb(
        dir,
        &format!(
            "select raw_reason, count(*) as n from {events_parquet} where bounce_class = 21 group by 1 order by 2 desc, 1 limit 10"
        ),
    );
    assert_eq!(top_reasons, duck_reasons);

    // Compaction is idempotent: a second run changes nothing.
    ok(levee()
        .args(["compact", "--all", "--lake"])
        .arg(dir.join("lake")));
    assert_eq!(
        count(dir, &format!("select count(*) from {events_parquet}")),
        EVENTS
    );
}

/// The lake writes a big chunk as several zstd frames, one after another:
/// DuckDB, levee's own query and the compaction job read such a chunk whole.
#[test]
fn a_chunk_of_several_zstd_frames_reads_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = stdin_to_lake(dir, "frames", "big");
    // 4,000 events of about 2.5KiB, all in one hour: 10MiB of JSON in one
    // chunk, past two 4MiB frames.
    let rows = 4_000u64;
    let mut input = String::new();
    for n in 0..rows {
        input.push_str(&format!(
            "{{\"timestamp\":\"2018-09-01T00:{:02}:00Z\",\"n\":{n},\"pad\":\"{}\"}}\n",
            n % 60,
            format!("{n:04x}").repeat(600)
        ));
    }
    let out = crate::support::run_with_stdin(dir, &config, input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let chunks: Vec<_> = files(&dir.join("lake"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".ndjson.zst"))
        .collect();
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    let body = std::fs::read(&chunks[0]).unwrap();
    assert!(frames(&body) >= 2, "{} frames", frames(&body));

    let json = "read_json_auto('lake/frames/big/json/*/*/*.ndjson.zst', compression = 'zstd')";
    assert_eq!(count(dir, &format!("select count(*) from {json}")), rows);
    assert_eq!(
        count(dir, &format!("select sum(n) from {json}")),
        rows * (rows - 1) / 2
    );
    let ours = ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg("select count(*) as c, sum(n) as s from frames.big_json"));
    assert_eq!(
        stdout(&ours).lines().nth(1),
        Some(format!("{rows},{}", rows * (rows - 1) / 2).as_str())
    );
    ok(levee().args(["compact", "--lake"]).arg(dir.join("lake")));
    let parquet = "read_parquet('lake/frames/big/parquet/*/*/*.parquet')";
    assert_eq!(count(dir, &format!("select count(*) from {parquet}")), rows);
}

/// How many zstd frames `body` holds.
fn frames(mut body: &[u8]) -> usize {
    let mut n = 0;
    while !body.is_empty() {
        let size = zstd::zstd_safe::find_frame_compressed_size(body).unwrap();
        body = &body[size..];
        n += 1;
    }
    n
}

/// An nginx record's event time is in the lake as a timestamp column
/// `time`, not only as the `time_local` text: DuckDB reads the Parquet's
/// column as a timestamp, and levee's SQL truncates it as one.
#[test]
fn the_event_time_is_a_timestamp_column_duckdb_reads_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = format!(
        r#"
data_dir = {data}
[sources.in]
type = "stdin"
tag = "nginx.access"
parser = {{ type = "nginx", format = "combined" }}
[outputs.lake]
match = "nginx.**"
type = "lake"
lake = {lake}
database = "web"
table = "access"
"#,
        data = toml_path(&dir.join("data")),
        lake = toml_path(&dir.join("lake")),
    );
    let line = |time: &str| {
        format!("10.0.0.1 - - [{time}] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8.4.0\"\n")
    };
    let input = [
        line("05/Dec/2026:01:02:03 +0000"),
        line("05/Dec/2026:01:02:40 +0000"),
        // 01:03:10 in UTC.
        line("05/Dec/2026:02:03:10 +0100"),
    ]
    .concat();
    let out = crate::support::run_with_stdin(dir, &config, input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(levee().args(["compact", "--lake"]).arg(dir.join("lake")));

    let parquet = "read_parquet('lake/web/access/parquet/*/*/*.parquet')";
    let theirs = duckdb(
        dir,
        &format!(
            "select any_value(typeof(time)) as t, cast(epoch(min(time)) as bigint) as first, \
             cast(epoch(max(time)) as bigint) as last from {parquet}"
        ),
    );
    // 2026-12-05T01:02:03Z and 01:03:10Z.
    assert_eq!(
        theirs,
        "t,first,last\nTIMESTAMP WITH TIME ZONE,1796432523,1796432590\n"
    );

    for table in ["access_json", "access_parquet"] {
        let ours = ok(levee()
            .args(["query", "--format", "csv", "--lake"])
            .arg(dir.join("lake"))
            .arg(format!(
                "select date_trunc('minute', time) as m, count(*) as n from web.{table} group by 1 order by 1"
            )));
        assert_eq!(
            stdout(&ours),
            "m,n\n2026-12-05T01:02:00Z,2\n2026-12-05T01:03:00Z,1\n",
            "{table}"
        );
    }
}
