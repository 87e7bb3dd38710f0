//! The README's two commands: what a newcomer types first.

use std::path::Path;

/// The commands of the README's first `sh` block, comments cut off.
fn first_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md at the workspace root");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```sh block");
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A release build compiles DataFusion under full optimization for about
/// 19 minutes on 2 cores; the first command must show the demo's answers
/// within 6, so it runs the unoptimized build the tests use too.
#[test]
fn readme_first_command_is_the_quick_build() {
    let commands = first_commands();
    assert_eq!(
        commands,
        ["cargo run -- demo", "scripts/test"],
        "the README's two commands"
    );
}

/// CI runs exactly the README's test command.
#[test]
fn ci_runs_the_readme_test_command() {
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/run"))
        .expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "exec scripts/test"),
        ".ci/run must run scripts/test:\n{ci}"
    );
}
