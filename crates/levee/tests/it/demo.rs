//! `levee demo` end to end, on a small data set.

use crate::support::{levee, ok, stdout};

#[test]
fn demo_runs_the_whole_flow_and_answers_three_questions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let run = || {
        ok(levee()
            .args([
                "demo",
                "--nginx-lines",
                "4000",
                "--event-lines",
                "8000",
                "--dir",
            ])
            .arg(&dir))
    };
    let text = stdout(&run());
    assert!(text.contains("generated 4000 nginx lines"), "{text}");
    assert!(text.contains("generated 8000 events lines"), "{text}");
    assert_eq!(text.matches("Athena would charge").count(), 3, "{text}");
    assert!(
        text.contains("454 4.4.4 [internal] no MX or A for domain"),
        "{text}"
    );
    assert!(text.contains("The lake is at"), "{text}");
    assert!(
        dir.join("lake/glue-data-lake-usw2-prd/eventlog/parquet")
            .is_dir()
    );
    // A second run starts from scratch and gives the same answers.
    let again = stdout(&run());
    let answers = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with('|'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(answers(&text), answers(&again));
    // It refuses to wipe a folder that is not its own.
    let other = tmp.path().join("mine");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("precious.txt"), "keep").unwrap();
    let out = levee()
        .args(["demo", "--dir"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(other.join("precious.txt").exists());
}
