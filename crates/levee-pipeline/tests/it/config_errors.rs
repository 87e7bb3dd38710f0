//! Every bad config under `config_errors/` must be refused with exactly the
//! message in its `.expected` file, and a config that runs with warnings
//! must give exactly those. `LEVEE_BLESS=1` rewrites them.

use std::path::Path;

#[test]
fn bad_configs_are_refused_with_file_line_column_and_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/config_errors");
    let bless = std::env::var_os("LEVEE_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "golden cases missing in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in cases {
        let text = std::fs::read_to_string(&case).unwrap();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let actual = match levee_pipeline::config::build(&text, &name) {
            Ok(pipeline) if pipeline.warnings.is_empty() => "accepted".to_owned(),
            Ok(pipeline) => levee_pipeline::config::ConfigErrors(pipeline.warnings).to_string(),
            Err(errors) => errors.to_string(),
        };
        let expected_path = case.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, format!("{actual}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != actual {
            failures.push(format!(
                "{name}\n  expected: {}\n  actual:   {actual}",
                expected.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_example_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            match levee_pipeline::config::load(&path) {
                Err(e) => panic!("{e}"),
                Ok(p) => assert!(
                    p.warnings.is_empty(),
                    "{}",
                    levee_pipeline::config::ConfigErrors(p.warnings)
                ),
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "examples missing");
}
