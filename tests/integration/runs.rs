//! `runs list|show` and the filters of `jobs list`, `jobs show --format
//! json`, and `jobs delete --run` / `--older-than`: the admin center's
//! results page on the command line.

use crate::support::{Held, bulkops_in};

const TWO_STEPS: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: two-steps
spec:
  steps:
    - id: add
      importMembers:
        group: { displayName: eng-sre }
        input: add.csv
    - id: list
      downloadGroups:
        output: \"groups-{{run.id}}.csv\"
";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), TWO_STEPS).unwrap();
    std::fs::write(
        dir.path().join("add.csv"),
        "memberObjectIdOrUpn\nzoe.rossi@contoso.example\nnobody@contoso.example\n",
    )
    .unwrap();
    dir
}

fn json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let run = bulkops_in(dir, args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn runs_are_listed_with_their_counts_and_filtered() {
    let dir = project();
    let first = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(first.code, 1, "a row fails: {}", first.stderr);
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &[], "before-journal:1");
    held.kill();
    let runs = json(dir.path(), &["runs", "list", "--format", "json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "interrupted", "newest first: {runs:?}");
    assert_eq!(runs[1]["status"], "failed");
    assert_eq!(runs[1]["failed"], 1, "{:?}", runs[1]);
    assert_eq!(
        runs[1]["succeeded"].as_u64().unwrap() + 1,
        runs[1]["total"].as_u64().unwrap(),
        "{:?}",
        runs[1]
    );
    assert_eq!(runs[1]["reason"], "1 job failed");
    assert_eq!(runs[1]["source"], runs[1]["manifestPath"]);
    let interrupted = json(
        dir.path(),
        &[
            "runs",
            "list",
            "--status",
            "interrupted",
            "--format",
            "json",
        ],
    );
    assert_eq!(interrupted.as_array().unwrap().len(), 1);
    let limited = json(
        dir.path(),
        &["runs", "list", "--limit", "1", "--format", "json"],
    );
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let future = json(
        dir.path(),
        &["runs", "list", "--since", "2999-01-01", "--format", "json"],
    );
    assert!(future.as_array().unwrap().is_empty());
    let recent = json(
        dir.path(),
        &["runs", "list", "--since", "1h", "--format", "json"],
    );
    assert_eq!(recent.as_array().unwrap().len(), 2);
    let id = runs[0]["id"].as_str().unwrap();
    let shown = bulkops_in(dir.path(), &["runs", "show", id]);
    assert!(
        shown
            .stdout
            .contains(&format!("finish it with `bulkops apply --resume {id}`")),
        "{}",
        shown.stdout
    );
    let text = bulkops_in(dir.path(), &["runs", "list"]);
    assert!(text.stdout.starts_with("run "), "{}", text.stdout);
    assert!(text.stdout.contains("# Success"), "{}", text.stdout);
}

#[test]
fn jobs_are_filtered_and_shown_as_json() {
    let dir = project();
    assert_eq!(bulkops_in(dir.path(), &["apply", "m.yaml"]).code, 1);
    let failed = json(
        dir.path(),
        &["jobs", "list", "--status", "failed", "--format", "json"],
    );
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["reason"], "NotAllRowsSuccessfullyProcessed");
    let id = failed[0]["id"].as_str().unwrap();
    let shown = json(dir.path(), &["jobs", "show", id, "--format", "json"]);
    assert_eq!(shown["failed"], 1);
    assert_eq!(shown["files"][0]["kind"], "results");
    let limited = json(
        dir.path(),
        &["jobs", "list", "--limit", "1", "--format", "json"],
    );
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let text = bulkops_in(dir.path(), &["jobs", "list"]);
    assert!(
        text.stdout.contains("# Success # Failure    Total"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("NotAllRowsSuccessfullyProcessed"),
        "{}",
        text.stdout
    );
}

#[test]
fn jobs_are_deleted_by_run_or_by_age() {
    let dir = project();
    assert_eq!(bulkops_in(dir.path(), &["apply", "m.yaml"]).code, 1);
    assert_eq!(bulkops_in(dir.path(), &["apply", "m.yaml"]).code, 1);
    let runs = json(dir.path(), &["runs", "list", "--format", "json"]);
    let older = runs[1]["id"].as_str().unwrap().to_owned();
    let deleted = bulkops_in(dir.path(), &["jobs", "delete", "--run", &older, "--yes"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let left = json(dir.path(), &["jobs", "list", "--format", "json"]);
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|job| job["runId"] != older.as_str())
    );
    assert_eq!(left.as_array().unwrap().len(), 2);
    // Nothing is older than a day; everything is older than a millisecond from now on.
    let none = bulkops_in(
        dir.path(),
        &["jobs", "delete", "--older-than", "1d", "--yes"],
    );
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert_eq!(
        json(dir.path(), &["jobs", "list", "--format", "json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let all = bulkops_in(
        dir.path(),
        &["jobs", "delete", "--older-than", "1ms", "--yes"],
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(
        json(dir.path(), &["jobs", "list", "--format", "json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}
