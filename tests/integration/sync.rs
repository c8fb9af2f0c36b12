//! `syncMembers`: a group made to match a list in each mode, with the
//! removal guard as a count or a share of the group; an empty list or a row
//! that names nobody refused before any change; a killed sync resumed
//! removing exactly the members it planned to; saved plans of syncs.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{Held, bulkops_env, bulkops_in, membership_pairs};

const ENG_SRE: &str = "c12b1130-8f94-440f-a477-ee4e059c0cfe";
const ZOE: &str = "07ad6364-cc51-41d1-a00b-4dc77a03d94f";
const NORA: &str = "01dcd204-496a-41f0-98d0-431338d89a75";

fn manifest(mode: &str, guard: &str) -> String {
    format!(
        "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: sync-sre
spec:
  guards: {{ maxRemovals: {guard} }}
  steps:
    - id: sync
      syncMembers:
        group: {{ displayName: eng-sre }}
        input: list.csv
        mode: {mode}
"
    )
}

fn db(dir: &Path) -> std::path::PathBuf {
    dir.join(".bulkops/directory.db")
}

/// The members of eng-sre.
fn members(dir: &Path) -> BTreeSet<String> {
    membership_pairs(&db(dir))
        .into_iter()
        .filter(|(group, _)| group == ENG_SRE)
        .map(|(_, member)| member)
        .collect()
}

/// A project whose list keeps the first two members of eng-sre and adds Zoe.
fn project(mode: &str, guard: &str) -> (tempfile::TempDir, BTreeSet<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    let before = members(dir.path());
    assert_eq!(before.len(), 11, "{before:?}");
    let kept: Vec<String> = before.iter().take(2).cloned().collect();
    std::fs::write(
        dir.path().join("list.csv"),
        format!(
            "memberObjectIdOrUpn\n{}\n{}\nzoe.rossi@contoso.example\n",
            kept[0], kept[1]
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("m.yaml"), manifest(mode, guard)).unwrap();
    (dir, before, kept)
}

fn apply(dir: &Path) -> crate::support::Run {
    bulkops_in(dir, &["apply", "m.yaml"])
}

#[test]
fn additive_adds_who_is_missing_and_removes_nobody() {
    let (dir, before, _) = project("additive", "0");
    let run = apply(dir.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut expected = before;
    expected.insert(ZOE.to_owned());
    assert_eq!(members(dir.path()), expected);
}

#[test]
fn remove_only_removes_who_is_not_listed_and_adds_nobody() {
    let (dir, _, kept) = project("removeOnly", "500");
    let run = apply(dir.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(members(dir.path()), kept.into_iter().collect());
}

#[test]
fn authoritative_makes_the_group_equal_to_the_list() {
    let (dir, _, kept) = project("authoritative", "500");
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert!(
        plan.stdout
            .contains("eng-sre: would add 1, would remove 9, already 2, not found 0, invalid 0"),
        "{}",
        plan.stdout
    );
    let run = apply(dir.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut expected: BTreeSet<String> = kept.into_iter().collect();
    expected.insert(ZOE.to_owned());
    assert_eq!(members(dir.path()), expected);
    assert!(
        run.stdout
            .contains("completed eng-sre: 12 rows, 10 changed, 0 failed"),
        "{}",
        run.stdout
    );
    let results = crate::support::only_result_file(dir.path());
    assert!(
        results.starts_with("memberObjectIdOrUpn,line,status,error\n"),
        "{results}"
    );
    assert!(
        results.contains("zoe.rossi@contoso.example,4,added,"),
        "the list's rows carry their line: {results}"
    );
    assert_eq!(
        results.matches(",,removed,").count(),
        9,
        "a member the list does not name has no line: {results}"
    );
}

#[test]
fn members_written_in_the_manifest_are_a_list_too() {
    let (dir, _, kept) = project("authoritative", "500");
    let text = manifest("authoritative", "500").replace(
        "        input: list.csv\n",
        &format!("        members: [{}, {}]\n", kept[0], kept[1]),
    );
    std::fs::write(dir.path().join("m.yaml"), text).unwrap();
    let run = apply(dir.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(members(dir.path()), kept.into_iter().collect());
}

#[test]
fn an_empty_list_is_refused_and_nobody_is_removed() {
    let (dir, before, _) = project("authoritative", "500");
    std::fs::write(dir.path().join("list.csv"), "memberObjectIdOrUpn\n").unwrap();
    let run = apply(dir.path());
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(
        run.stderr_text().contains("is empty"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(members(dir.path()), before);
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    assert!(
        plan.stdout.contains("cannot be previewed"),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_row_that_names_nobody_stops_a_removing_sync() {
    let (dir, before, kept) = project("authoritative", "500");
    std::fs::write(
        dir.path().join("list.csv"),
        format!(
            "memberObjectIdOrUpn\n{}\n{}\nzoe.rosi@contoso.example\n",
            kept[0], kept[1]
        ),
    )
    .unwrap();
    let run = apply(dir.path());
    assert_eq!(run.code, 65, "{}", run.stderr);
    let text = crate::support::unwrap_lines(&run.stderr_text());
    assert!(
        text.contains(
            "1 row of the list names nobody in the directory (line 4 `zoe.rosi@contoso.example`)"
        ),
        "{text}"
    );
    assert_eq!(members(dir.path()), before);
}

#[test]
fn a_percentage_guard_limits_the_removals_from_each_group() {
    // 9 of 11 members would go; 50% allows 5.
    let (dir, before, _) = project("authoritative", "\"50%\"");
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 3, "apply would refuse it: {}", plan.stdout);
    assert!(
        plan.stdout.contains(
            "removing 9 of the 11 members of `eng-sre` would exceed the guard: `guards.maxRemovals: 50%` allows 5"
        ),
        "{}",
        plan.stdout
    );
    let run = apply(dir.path());
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(members(dir.path()), before);
    std::fs::write(
        dir.path().join("m.yaml"),
        manifest("authoritative", "\"90%\""),
    )
    .unwrap();
    assert_eq!(apply(dir.path()).code, 0);
    assert_eq!(members(dir.path()).len(), 3);
}

#[test]
fn a_count_guard_limits_the_removals_of_the_run() {
    let (dir, before, _) = project("removeOnly", "8");
    let run = apply(dir.path());
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("would remove 9 members; the guard allows 8"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(members(dir.path()), before);
}

#[test]
fn a_killed_sync_resumes_removing_exactly_the_members_it_planned_to() {
    let (dir, _, kept) = project("authoritative", "500");
    let env = [("BULKOPS_CHUNK_ROWS", "2")];
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &env, "after-apply:2");
    held.kill();
    // Somebody joins the group while the run is stopped.
    rusqlite::Connection::open(db(dir.path()))
        .unwrap()
        .execute(
            "INSERT INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, 'user')",
            [ENG_SRE, NORA],
        )
        .unwrap();
    let run_id: String = rusqlite::Connection::open(dir.path().join(".bulkops/state.db"))
        .unwrap()
        .query_row("SELECT id FROM runs", [], |row| row.get(0))
        .unwrap();
    let resumed = bulkops_env(dir.path(), &["apply", "--resume", &run_id], &env);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    let mut expected: BTreeSet<String> = kept.into_iter().collect();
    expected.insert(ZOE.to_owned());
    expected.insert(NORA.to_owned());
    assert_eq!(
        members(dir.path()),
        expected,
        "the member who joined after the sync planned its removals stays"
    );
}

#[test]
fn a_saved_sync_plan_applies_and_goes_stale_when_the_group_changes() {
    let (dir, _, kept) = project("authoritative", "500");
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let copy = tempfile::tempdir().unwrap();
    crate::support::copy_tree(dir.path(), copy.path());
    let applied = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let mut expected: BTreeSet<String> = kept.into_iter().collect();
    expected.insert(ZOE.to_owned());
    assert_eq!(members(dir.path()), expected);
    // The same plan in a copy of the project where somebody joined the group.
    rusqlite::Connection::open(db(copy.path()))
        .unwrap()
        .execute(
            "INSERT INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, 'user')",
            [ENG_SRE, NORA],
        )
        .unwrap();
    let before = members(copy.path());
    let stale = bulkops_in(copy.path(), &["apply", "plan.json"]);
    assert_eq!(stale.code, 4, "{}", stale.stderr);
    let text = stale
        .stderr_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains("11 members when planned, 12 now"), "{text}");
    assert_eq!(members(copy.path()), before);
}

#[test]
fn a_dynamic_group_plans_no_removals() {
    let (dir, _, _) = project("authoritative", "500");
    std::fs::write(
        dir.path().join("m.yaml"),
        manifest("authoritative", "500")
            .replace("displayName: eng-sre", "displayName: eng-dynamic-engineers"),
    )
    .unwrap();
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert!(
        plan.stdout.contains("would remove 0"),
        "rule-based members are not removed by hand: {}",
        plan.stdout
    );
    assert!(plan.stdout.contains("dynamic group 3"), "{}", plan.stdout);
}
