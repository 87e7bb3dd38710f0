//! Lines per second for the syslog parser, time formats and the multiline
//! joiner, on generated lines.
//!
//! `cargo bench -p levee-parse --bench syslog -- --quick`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_parse::time::TimeSpec;
use levee_parse::{Multiline, Parser, ParserConfig};

const LINES: usize = 1_000;
/// 2024-06-15T12:00:00Z.
const NOW: i64 = 1_718_452_800 * 1_000_000_000;

fn from_toml(text: &str) -> Parser {
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let source: Source = toml::from_str(text).expect("bench config parses");
    source.parser.build().expect("bench parser builds")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn rfc3164_lines() -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|i| {
            format!(
                "<{}>{} {:>2} {:02}:{:02}:{:02} web{} sshd[{}]: Accepted publickey for user{} from 10.0.{}.{} port {} ssh2",
                i % 192,
                MONTHS[i % 12],
                1 + i % 28,
                i % 24,
                i % 60,
                (i * 7) % 60,
                i % 9,
                1000 + i,
                i % 50,
                i % 256,
                (i * 3) % 256,
                40000 + i
            )
            .into_bytes()
        })
        .collect()
}

fn rfc5424_lines() -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|i| {
            format!(
                "<165>1 2024-06-{:02}T{:02}:{:02}:{:02}.{:03}Z host{}.example.com app {} ID{} [req@32473 id=\"{}\" user=\"u{}\"] request handled in {} ms",
                1 + i % 28,
                i % 24,
                i % 60,
                (i * 7) % 60,
                i % 1000,
                i % 9,
                1000 + i,
                i % 50,
                i,
                i % 77,
                i % 500
            )
            .into_bytes()
        })
        .collect()
}

fn bench_lines(c: &mut Criterion, name: &str, lines: &[Vec<u8>], mut f: impl FnMut(&[u8])) {
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function(format!("{} bytes/line", bytes / lines.len()), |b| {
        b.iter(|| {
            for line in lines {
                f(black_box(line));
            }
        })
    });
    group.finish();
}

fn syslog(c: &mut Criterion) {
    let parser = from_toml(r#"parser = "syslog""#);
    bench_lines(c, "syslog_rfc3164", &rfc3164_lines(), |line| {
        black_box(parser.parse_at(line, NOW).ok());
    });
    let berlin = from_toml(r#"parser = { type = "syslog", time_zone = "Europe/Berlin" }"#);
    bench_lines(c, "syslog_rfc3164_berlin", &rfc3164_lines(), |line| {
        black_box(berlin.parse_at(line, NOW).ok());
    });
    bench_lines(c, "syslog_rfc5424", &rfc5424_lines(), |line| {
        black_box(parser.parse_at(line, NOW).ok());
    });
}

fn time_formats(c: &mut Criterion) {
    let texts: Vec<Vec<u8>> = (0..LINES)
        .map(|i| {
            format!(
                "{:02}/Oct/2023:{:02}:{:02}:{:02} +0000",
                1 + i % 28,
                i % 24,
                i % 60,
                i % 60
            )
            .into_bytes()
        })
        .collect();
    let strftime = TimeSpec::new(Some("%d/%b/%Y:%H:%M:%S %z"), None).expect("format compiles");
    bench_lines(c, "time_strftime", &texts, |t| {
        black_box(strftime.parse_at(t, NOW));
    });
    let local: Vec<Vec<u8>> = (0..LINES)
        .map(|i| {
            format!(
                "2023-10-{:02} {:02}:{:02}:{:02}",
                1 + i % 28,
                i % 24,
                i % 60,
                i % 60
            )
            .into_bytes()
        })
        .collect();
    let zoned = TimeSpec::new(Some("%Y-%m-%d %H:%M:%S"), Some("America/Los_Angeles"))
        .expect("format compiles");
    bench_lines(c, "time_strftime_named_zone", &local, |t| {
        black_box(zoned.parse_at(t, NOW));
    });
}

fn multiline(c: &mut Criterion) {
    // A dated line followed by a 9-line stack trace, 100 times.
    let mut lines = Vec::new();
    for i in 0..100 {
        lines.push(format!("2024-06-15 12:00:{:02} ERROR request {i} failed", i % 60).into_bytes());
        for depth in 0..9 {
            lines.push(
                format!(
                    "\tat com.example.Service{depth}.call(Service{depth}.java:{})",
                    10 + i
                )
                .into_bytes(),
            );
        }
    }
    let rule = Multiline::new(r"^\d{4}-\d{2}-\d{2} ", 1000, 1 << 20).expect("rule builds");
    let mut joiner = rule.joiner();
    bench_lines(c, "multiline_join", &lines, |line| {
        joiner.push(line, 0, &mut |record| {
            black_box(record.text.len());
        });
    });
}

criterion_group!(benches, syslog, time_formats, multiline);
criterion_main!(benches);
