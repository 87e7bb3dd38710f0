//! Lines per second for the parsers on the hot path, on generated lines.
//!
//! `cargo bench -p levee-parse --bench parsers -- --quick`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_parse::{JsonConfig, NginxConfig, Parser, ParserConfig};

mod support;
use support::Rng;

const LINES: usize = 1_000;

const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &[
    "/",
    "/api/v1/webhooks",
    "/api/v1/users/1234/orders",
    "/static/js/app.4f3c2a.js",
    "/healthz",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.4.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    r#"python-requests/2.31.0 \"bot\""#,
    "-",
];

fn nginx_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let query = match rng.below(3) {
                0 => String::new(),
                _ => format!("?limit={}&page={}", rng.below(100), rng.below(10)),
            };
            let line = format!(
                r#"{}.{}.{}.{} - {} [{:02}/Oct/2023:{:02}:{:02}:{:02} +0000] "{} {}{} HTTP/1.1" {} {} "{}" "{}" {}.{:03}"#,
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.pick(&["-", "-", "alice"]),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.pick(METHODS),
                rng.pick(PATHS),
                query,
                rng.pick(&["200", "200", "200", "304", "404", "502"]),
                rng.below(100_000),
                rng.pick(&["-", "https://example.com/start"]),
                rng.pick(AGENTS),
                rng.below(3),
                rng.below(1000),
            );
            line.into_bytes()
        })
        .collect()
}

fn json_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let line = format!(
                r#"{{"time":"2023-10-{:02}T{:02}:{:02}:{:02}.{:03}Z","level":"{}","msg":"request handled","method":"{}","path":"{}","status":{},"duration_ms":{}.{},"user":{{"id":{},"roles":["reader","writer"]}},"agent":"{}"}}"#,
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1000),
                rng.pick(&["info", "info", "warn", "error"]),
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.pick(&["200", "404", "500"]),
                rng.below(500),
                rng.below(10),
                rng.below(1_000_000),
                rng.pick(&["curl/8.4.0", "Mozilla/5.0 (X11; Linux x86_64)"]),
            );
            line.into_bytes()
        })
        .collect()
}

fn bench_parser(c: &mut Criterion, name: &str, parser: &Parser, lines: &[Vec<u8>]) {
    // Every generated line must parse, or the benchmark measures the error path.
    for line in lines {
        if let Err(e) = parser.parse(line) {
            panic!("{name}: generated line does not parse: {e}");
        }
    }
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function(format!("lines ({} bytes avg)", bytes / lines.len()), |b| {
        b.iter(|| {
            for line in lines {
                black_box(parser.parse(black_box(line)).ok());
            }
        })
    });
    group.finish();
}

fn parsers(c: &mut Criterion) {
    let mut rng = Rng(0x5EED_1E7E_E000_0001);
    let nginx = ParserConfig::Nginx(NginxConfig {
        format: "combined_request_time".into(),
        ..NginxConfig::default()
    })
    .build()
    .expect("named nginx format builds");
    let json = ParserConfig::Json(JsonConfig {
        time_key: Some("time".into()),
        ..JsonConfig::default()
    })
    .build()
    .expect("json config builds");
    let none = Parser::default();

    let nginx_input = nginx_lines(&mut rng);
    let json_input = json_lines(&mut rng);
    bench_parser(c, "nginx_combined_request_time", &nginx, &nginx_input);
    bench_parser(c, "json", &json, &json_input);
    bench_parser(c, "none", &none, &nginx_input);
}

/// A parser from a source's `parser = ...` line, as a user writes it.
fn from_toml(line: &str) -> Parser {
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let source: Source = toml::from_str(line).expect("bench parser config parses");
    source.parser.build().expect("bench parser config builds")
}

/// Apache `combined` lines, the same traffic as [`nginx_lines`].
fn apache_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    nginx_lines(rng)
        .into_iter()
        .map(|mut line| {
            // Drop nginx's trailing ` $request_time`.
            let cut = line.iter().rposition(|&b| b == b' ').unwrap_or(line.len());
            line.truncate(cut);
            line
        })
        .collect()
}

fn logfmt_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let line = format!(
                r#"at=info ts=2023-10-{:02}T{:02}:{:02}:{:02}Z method={} path={} host=api.example.com request_id={:016x} fwd="{}.{}.{}.{}" dyno=web.{} connect={} service={} status={} bytes={} msg="{}""#,
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.next(),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                1 + rng.below(4),
                rng.below(10),
                rng.below(500),
                rng.pick(&["200", "200", "304", "404", "503"]),
                rng.below(100_000),
                rng.pick(&["request done", r#"client said \"hi\""#, "ok"]),
            );
            line.into_bytes()
        })
        .collect()
}

fn ltsv_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let line = format!(
                "time:[{:02}/Oct/2023:{:02}:{:02}:{:02} +0000]\thost:{}.{}.{}.{}\tforwardedfor:-\treq:{} {} HTTP/1.1\tstatus:{}\tsize:{}\treferer:-\tua:{}\treqtime:{}.{:03}",
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.pick(&["200", "200", "304", "404", "502"]),
                rng.below(100_000),
                rng.pick(AGENTS),
                rng.below(3),
                rng.below(1000),
            );
            line.into_bytes()
        })
        .collect()
}

fn csv_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let line = format!(
                r#"2023-10-{:02}T{:02}:{:02}:{:02}Z,{}.{}.{}.{},{},{},{},{}.{:03},"{}""#,
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.pick(&["200", "200", "304", "404", "502"]),
                rng.below(3),
                rng.below(1000),
                rng.pick(&["done", r#"client said ""hi"", then left"#, "ok, cached"]),
            );
            line.into_bytes()
        })
        .collect()
}

/// The apache, regex, logfmt, ltsv and csv parsers, each with types and a
/// time field, as a user would configure them.
fn more_parsers(c: &mut Criterion) {
    let mut rng = Rng(0x5EED_1E7E_E000_0002);
    let apache_input = apache_lines(&mut rng);
    let apache = from_toml(r#"parser = { type = "apache", format = "combined" }"#);
    bench_parser(c, "apache_combined", &apache, &apache_input);

    // Fluent Bit's apache2 regex, the parser the issue's comparison runs.
    let regex = from_toml(
        r#"parser = { type = "regex", pattern = '^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>.*)")?$', types = { code = "int", size = "int" }, time_key = "time", time_format = "%d/%b/%Y:%H:%M:%S %z" }"#,
    );
    bench_parser(c, "regex_apache2", &regex, &apache_input);

    let logfmt = from_toml(
        r#"parser = { type = "logfmt", types = { status = "int", bytes = "int", connect = "float", service = "float" }, time_key = "ts" }"#,
    );
    bench_parser(c, "logfmt", &logfmt, &logfmt_lines(&mut rng));

    let ltsv = from_toml(
        r#"parser = { type = "ltsv", types = { status = "int", size = "int", reqtime = "float" }, time_key = "time", time_format = "%d/%b/%Y:%H:%M:%S %z" }"#,
    );
    bench_parser(c, "ltsv", &ltsv, &ltsv_lines(&mut rng));

    let csv = from_toml(
        r#"parser = { type = "csv", columns = ["time", "client", "method", "path", "status", "took", "message"], types = { status = "int", took = "float" }, time_key = "time" }"#,
    );
    bench_parser(c, "csv", &csv, &csv_lines(&mut rng));
}

criterion_group!(benches, parsers, more_parsers);
criterion_main!(benches);
