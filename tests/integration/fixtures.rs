//! Every invalid manifest under `tests/fixtures/invalid/` fails validation with
//! exit code 65 and exactly the diagnostics in its snapshot. Adding a case means
//! adding a YAML file and reviewing its new snapshot.

use crate::support::{bulkops, relative};

#[test]
fn every_invalid_fixture_reports_its_exact_diagnostics() {
    insta::glob!(
        crate::support::repo_path("tests/fixtures"),
        "invalid/*.yaml",
        |path| {
            let run = bulkops(&["validate", &relative(path)]);
            assert_eq!(run.code, 65, "{}: {}", path.display(), run.stderr);
            assert!(
                run.stdout.is_empty(),
                "nothing is valid in {}",
                path.display()
            );
            insta::assert_snapshot!(run.transcript());
        }
    );
}

#[test]
fn every_problem_has_a_help_line_and_a_position() {
    for path in invalid_fixtures() {
        let run = bulkops(&["validate", "--message-format", "json", &relative(&path)]);
        let problems: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
        assert!(!problems.is_empty(), "{}", path.display());
        for problem in problems {
            let shown = format!("{}: {problem}", path.display());
            assert!(problem["help"].is_string(), "no help in {shown}");
            let message = problem["message"].as_str().unwrap();
            let whole_file = message.contains("the manifest is empty")
                || message.contains("the file is larger than");
            assert_eq!(problem["line"].is_u64(), !whole_file, "{shown}");
        }
    }
}

fn invalid_fixtures() -> Vec<std::path::PathBuf> {
    let dir = crate::support::repo_path("tests/fixtures/invalid");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
}

#[test]
fn there_are_enough_fixtures_to_cover_every_error_class() {
    let count = invalid_fixtures().len();
    assert!(count >= 30, "only {count} invalid fixtures");
}

#[test]
fn two_workflows_with_one_name_in_a_folder_are_refused() {
    let run = bulkops(&["validate", "tests/fixtures/duplicate-names"]);
    assert_eq!(run.code, 65);
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn problems_can_be_reported_as_json_for_tools() {
    let run = bulkops(&[
        "validate",
        "--message-format",
        "json",
        "tests/fixtures/invalid/unknown-needs.yaml",
    ]);
    assert_eq!(run.code, 65);
    let problems: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        problems,
        serde_json::json!([
            {
                "file": "tests/fixtures/invalid/unknown-needs.yaml",
                "line": 11, "column": 15,
                "code": "unknown-step",
                "message": "no step has the id `snapshots`",
                "help": "did you mean `snapshot`?"
            },
            {
                "file": "tests/fixtures/invalid/unknown-needs.yaml",
                "line": 11, "column": 26,
                "code": "unknown-step",
                "message": "no step has the id `cleanup`",
                "help": "a `needs` entry must be the id of a step of this workflow"
            }
        ])
    );
}

#[test]
fn problems_can_be_reported_as_github_annotations() {
    let run = bulkops(&[
        "validate",
        "--message-format",
        "github",
        "tests/fixtures/invalid/schema-two-actions.yaml",
    ]);
    assert_eq!(run.code, 65);
    assert_eq!(
        run.stdout,
        "::error file=tests/fixtures/invalid/schema-two-actions.yaml,line=9,col=7,title=bulkops one-of::\
         `filterGroups` and `filterDevices` cannot be combined%0Ahelp: a step has exactly one action; \
         keep one of `filterGroups` or `filterDevices`\n"
    );
}
