//! `levee query` with a `.sql` file, SQL on standard input and each
//! `--format`, and `levee sql` fed statements through a pipe: the real
//! binary over a small lake.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::support::{levee, ok, stdout};

const DB: &str = "glue-data-lake-usw2-prd";

/// Six events in two hours of one day, in the JSON copy (nothing is
/// compacted: the whole table reads it), made once for every test here.
fn lake() -> &'static Path {
    static LAKE: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAKE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut events = String::new();
        for (hour, domain, class) in [
            ("05", "gmail.com", 21),
            ("05", "gmail.com", 21),
            ("05", "yahoo.com", 10),
            ("06", "gmail.com", 21),
            ("06", "hotmail.com", 21),
            ("06", "yahoo.com", 21),
        ] {
            events.push_str(&format!(
                "{{\"timestamp\":\"2018-09-01T{hour}:10:00Z\",\"routing_domain\":\"{domain}\",\"bounce_class\":{class}}}\n"
            ));
        }
        let config = crate::support::stdin_to_lake(dir, DB, "eventlog");
        let run = crate::support::run_with_stdin(dir, &config, events.as_bytes());
        assert!(run.status.success(), "{run:?}");
        tmp
    })
    .path()
}

fn lake_arg() -> PathBuf {
    lake().join("lake")
}

/// `levee <args> --lake LAKE` with `input` on its standard input.
fn with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = levee()
        .args(args)
        .arg("--lake")
        .arg(lake_arg())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn query(args: &[&str]) -> Command {
    let mut cmd = levee();
    cmd.arg("query").arg("--lake").arg(lake_arg()).args(args);
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Two statements, a `;` in a string, in a line comment and in a block
/// comment, and a last statement without its `;`.
const SCRIPT: &str = "-- bounces; by domain\n\
    select routing_domain as domain, count(*) as n from \"glue-data-lake-usw2-prd\".eventlog\n\
    where bounce_class = 21 and routing_domain <> 'a;b' /* ; */ group by 1 order by 1;\n\
    \n\
    select count_if(routing_domain = 'gmail.com') as google from \"glue-data-lake-usw2-prd\".eventlog\n";

#[test]
fn a_sql_file_runs_every_statement_in_order_each_with_its_accounting() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("q.sql");
    std::fs::write(&file, SCRIPT).unwrap();
    let out = ok(query(&["-f"]).arg(&file));
    let text = stdout(&out);
    let gmail = text.find("| gmail.com   | 3 |").expect(&text);
    let hotmail = text.find("| hotmail.com | 1 |").expect(&text);
    let google = text.find("| google |").expect(&text);
    assert!(gmail < hotmail && hotmail < google, "{text}");
    // Each answer's accounting follows its rows, on standard output.
    let accounting: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Athena would charge"))
        .collect();
    assert_eq!(accounting.len(), 2, "{text}");
    assert!(accounting[0].starts_with("3 rows in"), "{text}");
    assert!(accounting[1].starts_with("1 row in"), "{text}");
    assert!(text.find(accounting[0]).unwrap() > hotmail, "{text}");
    assert!(
        !stderr(&out).contains("Athena would charge"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sql_on_standard_input_runs_as_a_file_does() {
    for args in [&["query"][..], &["query", "-"], &["query", "-f", "-"]] {
        let out = with_stdin(args, SCRIPT);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("| hotmail.com | 1 |"), "{args:?}: {text}");
        assert!(text.contains("| 3      |"), "{args:?}: {text}");
    }
}

#[test]
fn json_answers_carry_their_accounting_as_a_field() {
    // `--`: the SQL starts with a comment, which would read as a flag.
    let out = ok(query(&["--format", "json", "--"]).arg(SCRIPT));
    let text = stdout(&out);
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "one document per statement: {text}");
    let first = &docs[0];
    assert_eq!(
        first["columns"],
        serde_json::json!([{"name": "domain", "type": "Utf8"}, {"name": "n", "type": "Int64"}])
    );
    assert_eq!(
        first["rows"][0],
        serde_json::json!({"domain": "gmail.com", "n": 3})
    );
    assert_eq!(first["stats"]["rows"], 3);
    assert_eq!(first["stats"]["files_read"], 2, "{first}");
    assert_eq!(first["stats"]["partitions_read"], 2, "{first}");
    assert!(
        first["stats"]["bytes_scanned"].as_u64().unwrap() > 0,
        "{first}"
    );
    assert_eq!(first["stats"]["minimum_applies"], true);
    assert_eq!(docs[1]["rows"], serde_json::json!([{"google": 3}]));
    assert!(
        !stderr(&out).contains("Athena would charge"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn csv_and_ndjson_keep_the_accounting_on_standard_error() {
    let sql = "select routing_domain as d from \"glue-data-lake-usw2-prd\".eventlog \
               where dt = '2018-09-01' and hour = '06' order by 1";
    let out = ok(&mut query(&["--format", "csv", sql]));
    assert_eq!(stdout(&out), "d\ngmail.com\nhotmail.com\nyahoo.com\n");
    assert!(stderr(&out).starts_with("3 rows in"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("read 1 of 2 files"),
        "{}",
        stderr(&out)
    );

    let out = ok(&mut query(&["--format", "ndjson", sql]));
    assert_eq!(stdout(&out).lines().next(), Some("{\"d\":\"gmail.com\"}"));
    assert!(stderr(&out).starts_with("3 rows in"), "{}", stderr(&out));
}

#[test]
fn output_writes_the_answer_to_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("a.csv");
    let out = ok(query(&["--format", "csv", "--output"])
        .arg(&csv)
        .arg("select 1 as one"));
    assert_eq!(stdout(&out), "");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "one\n1\n");

    // A table keeps its accounting with its rows, in the file.
    let table = tmp.path().join("a.txt");
    ok(query(&["-o"]).arg(&table).arg("select 1 as one"));
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(
        text.contains("| one |") && text.contains("1 row in"),
        "{text}"
    );
}

#[test]
fn parquet_answers_go_to_a_file_another_engine_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(query(&["--format", "parquet", "--output", "a.parquet"])
        .current_dir(tmp.path())
        .arg(
            "select routing_domain as domain, count(*) as n from \"glue-data-lake-usw2-prd\".eventlog \
             group by 1",
        ));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).starts_with("3 rows in"), "{}", stderr(&out));
    let theirs = crate::support::duckdb(
        tmp.path(),
        "select domain, n from 'a.parquet' order by domain",
    );
    assert_eq!(
        theirs,
        "domain,n\ngmail.com,3\nhotmail.com,1\nyahoo.com,2\n"
    );
}

#[test]
fn parquet_takes_one_statement() {
    let tmp = tempfile::tempdir().unwrap();
    let out = query(&["--format", "parquet", "-o"])
        .arg(tmp.path().join("a.parquet"))
        .arg("select 1 as a; select 2 as b")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("2 statements"), "{}", stderr(&out));
}

#[test]
fn a_failing_statement_stops_the_script_and_names_its_line() {
    let out = query(&["select 1 as one;\n\nselect nope from nowhere;\nselect 3 as three;"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("| one |"),
        "the answer before it is kept: {text}"
    );
    assert!(!text.contains("three"), "nothing after it runs: {text}");
    assert!(
        stderr(&out).contains("the statement on line 3"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unclosed_string_is_a_syntax_error_not_a_hang() {
    let out = query(&["select 'abc; select 1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("syntax error"), "{}", stderr(&out));
}

#[test]
fn the_shell_answers_statements_piped_into_it() {
    let input = "select count(*)\n  as n\n  from \"glue-data-lake-usw2-prd\".eventlog\n  where hour = '05';\n\
                 .tables\n\
                 select 'a;b' as s; select 2 as two;\n\
                 .schema eventlog_json\n\
                 select 7 as seven";
    let out = with_stdin(&["sql"], input);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // No prompts or banner when nobody types.
    assert!(!text.contains("levee>"), "{text}");
    let n = text.find("| 3 |").expect(&text);
    let listed = text
        .find("\"glue-data-lake-usw2-prd\".eventlog_parquet")
        .expect(&text);
    let s = text.find("| a;b |").expect(&text);
    let two = text.find("| two |").expect(&text);
    let column = text.find("routing_domain Utf8").expect(&text);
    let seven = text.find("| seven |").expect(&text);
    assert!(
        n < listed && listed < s && s < two && two < column && column < seven,
        "{text}"
    );
    assert_eq!(text.matches("Athena would charge").count(), 4, "{text}");
}

#[test]
fn the_shell_goes_on_after_an_error_and_exits_2() {
    let out = with_stdin(
        &["sql"],
        "select 1 as one;\nselect nope;\nselect 2 as two;\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).contains("| one |"), "{}", stdout(&out));
    assert!(stdout(&out).contains("| two |"), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("error: ") && err.contains("nope"), "{err}");
    assert!(err.contains("on line 2"), "{err}");
}

/// `--timeout` and `--memory-limit` reach `levee query` and `levee sql`: a
/// tiny one stops the query with a message that names the limit and the
/// flag that raises it.
#[test]
fn a_query_over_a_tiny_limit_fails_naming_the_limit() {
    let cross = |n: usize| {
        (0..n)
            .map(|i| format!("\"{DB}\".eventlog t{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Six rows, twelve times over: two billion rows to count.
    let slow = format!("select count(*) from {}", cross(12));
    // 46,656 rows of about 60 bytes: more than 1 MiB to hold.
    let domains = (0..6)
        .map(|i| format!("t{i}.routing_domain"))
        .collect::<Vec<_>>()
        .join(" || ");
    let big = format!("select {domains} as s from {}", cross(6));

    let out = query(&["--timeout", "1s", &slow]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("query failed: time limit: stopped after 1s"),
        "{said}"
    );
    assert!(said.contains("--timeout"), "{said}");

    let out = query(&["--memory-limit", "1MiB", &big]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("query failed: memory limit: "), "{said}");
    assert!(
        said.contains("1.0 MiB") && said.contains("--memory-limit"),
        "{said}"
    );

    // Without the tiny limit, the same rows are answered.
    let out = query(&["--format", "csv", &big]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1 + 46_656);

    let out = with_stdin(
        &["sql", "--timeout", "1s", "--memory-limit", "1MiB"],
        &format!("{slow};\n{big};\nselect 1 as one;\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    let said = stderr(&out);
    assert!(
        said.contains("error: time limit: stopped after 1s"),
        "{said}"
    );
    assert!(said.contains("error: memory limit: "), "{said}");
    assert!(stdout(&out).contains("one"), "{}", stdout(&out));

    let out = query(&["--timeout", "0s", "select 1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
}
