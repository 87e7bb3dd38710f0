//! Parser output on odd lines, pinned in golden files.
//!
//! Each folder under `tests/golden/` holds a `parser.toml` (a source's
//! `parser = ...` line) and cases: `<case>.log` is one raw line (its final
//! `\n`, if any, is dropped; nothing else is), `<case>.expected` is the
//! parser's output as pretty JSON. After a deliberate change, rewrite the
//! expectations with `LEVEE_BLESS=1 cargo test -p levee-parse --test it`
//! and review the diff.
//!
//! Lines are parsed as if read at [`NOW`], so a time written without its
//! year (syslog's `Oct 11 22:14:15`) lands in the same year every run.

use std::fs;
use std::path::{Path, PathBuf};

use levee_event::Record;
use levee_parse::{Parser, ParserConfig};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    parser: ParserConfig,
}

/// 2024-06-15T12:00:00Z: "now" for every golden line.
const NOW: i64 = 1_718_452_800 * 1_000_000_000;

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// What a parse result looks like in an `.expected` file; serialized from
/// structs, not `json!`, so the record keeps the order the line gave it.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Shown {
    Parsed {
        time: Option<i64>,
        /// Shown only when set: the line had a time that did not read.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        time_error: bool,
        record: Record,
    },
    Failed {
        error: String,
    },
    /// A header row the config says to drop, as a source drops it.
    Skipped {
        skipped: &'static str,
    },
}

fn render(parser: &Parser, line: &[u8]) -> String {
    if parser.is_header(line) {
        let mut text = serde_json::to_string_pretty(&Shown::Skipped {
            skipped: "header row",
        })
        .unwrap();
        text.push('\n');
        return text;
    }
    let shown = match parser.parse_at(line, NOW) {
        Ok(parsed) => Shown::Parsed {
            time: parsed.time,
            time_error: parsed.time_error,
            record: parsed.record,
        },
        Err(error) => Shown::Failed {
            error: error.to_string(),
        },
    };
    let mut text = serde_json::to_string_pretty(&shown).unwrap();
    text.push('\n');
    text
}

fn check_folder(folder: &Path, bless: bool) -> Vec<String> {
    let setup: Setup = toml::from_str(&fs::read_to_string(folder.join("parser.toml")).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let parser = setup.parser.build().unwrap();
    let mut cases: Vec<PathBuf> = fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", folder.display());
    let mut failures = Vec::new();
    for case in cases {
        let mut line = fs::read(&case).unwrap();
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let actual = render(&parser, &line);
        let expected_path = case.with_extension("expected");
        if bless {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}\n--- expected\n{expected}--- actual\n{actual}",
                case.display()
            ));
        }
    }
    failures
}

#[test]
fn odd_lines_match_their_golden_output() {
    let bless = std::env::var_os("LEVEE_BLESS").is_some();
    let mut folders: Vec<PathBuf> = fs::read_dir(golden_root())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    assert!(folders.len() >= 3, "golden folders missing");
    let failures: Vec<String> = folders
        .iter()
        .flat_map(|folder| check_folder(folder, bless))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
