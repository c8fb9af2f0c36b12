//! Saved plans: `plan --out` records exact changes, `apply plan.json` makes
//! exactly those or refuses a stale plan (manifest, input, a group's
//! members, a device's state, another directory, an edited plan file, a plan
//! applied before) with exit 4 and nothing changed; runs of a saved plan are
//! journaled and resumable, and held to the plan while they run.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{
    Held, bulkops_env, bulkops_in, device_states, membership_pairs, unwrap_lines,
};

/// A diagnostic's text with the lines its renderer wrapped joined again
/// (ids wrap at their hyphens).
fn joined(text: &str) -> String {
    let text = unwrap_lines(text);
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if out.ends_with('-') || out.is_empty() {
            out.push_str(trimmed);
        } else {
            out.push(' ');
            out.push_str(trimmed);
        }
    }
    out
}

const ENG_SECURITY: &str = "19d40885-7383-42cc-a03a-748ea8a5e797";
const ENG_SRE: &str = "c12b1130-8f94-440f-a477-ee4e059c0cfe";
const FINANCE_TEAM: &str = "098aa0c4-9cf6-46ab-801c-46bcd78c6544";
const ENG_ALL: &str = "8dcbd643-3978-461e-88c6-95cee6c384c4";
const ZOE: &str = "07ad6364-cc51-41d1-a00b-4dc77a03d94f";
const SAMI: &str = "0e963105-5162-4e2b-9247-01ac0e594e0a";
const NORA: &str = "01dcd204-496a-41f0-98d0-431338d89a75";
const DEVICE: &str = "0191d9b1-658d-4434-a9e2-1557c7c4dd78";

const GRANT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: grant-sre
spec:
  steps:
    - id: eng-s
      filterGroups:
        displayName: { startsWith: eng-s }
    - id: grant
      importMembers:
        groups: eng-s
        input: add.csv
        results: \"results/{{group.displayName}}.csv\"
";

const ADD_CSV: &str = "memberObjectIdOrUpn\nzoe.rossi@contoso.example\nsami.ali@contoso.example\n";

/// A project with the demo directory, `m.yaml` and `add.csv`.
fn project(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(dir.path().join("add.csv"), ADD_CSV).unwrap();
    let init = bulkops_in(dir.path(), &["directory", "init"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    dir
}

fn db(dir: &Path) -> std::path::PathBuf {
    dir.join(".bulkops/directory.db")
}

fn pairs(dir: &Path) -> BTreeSet<(String, String)> {
    membership_pairs(&db(dir)).into_iter().collect()
}

fn sql(dir: &Path, statement: &str) {
    rusqlite::Connection::open(db(dir))
        .unwrap()
        .execute_batch(statement)
        .unwrap();
}

fn save_plan(dir: &Path) -> String {
    let plan = bulkops_in(dir, &["plan", "m.yaml", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    let id = document["planId"].as_str().unwrap().to_owned();
    assert!(
        plan.stdout
            .contains(&format!("saved plan {id} to plan.json")),
        "{}",
        plan.stdout
    );
    id
}

fn run_count(dir: &Path) -> i64 {
    let state = dir.join(".bulkops/state.db");
    if !state.exists() {
        return 0;
    }
    rusqlite::Connection::open(state)
        .unwrap()
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .unwrap()
}

/// Applies the plan expecting a stale refusal that names `change`, and
/// checks nothing changed: memberships, devices and the job history.
fn assert_stale(dir: &Path, change: &str) {
    let memberships = pairs(dir);
    let devices = device_states(&db(dir));
    let runs = run_count(dir);
    let apply = bulkops_in(dir, &["apply", "plan.json"]);
    let text = joined(&apply.stderr_text());
    assert_eq!(apply.code, 4, "{}\n{text}", apply.stdout);
    assert!(text.contains("is stale"), "{text}");
    assert!(text.contains(change), "{text}");
    assert!(
        text.contains("bulkops plan m.yaml --out plan.json"),
        "the message says how to plan again: {text}"
    );
    assert_eq!(pairs(dir), memberships, "no membership changed");
    assert_eq!(device_states(&db(dir)), devices, "no device changed");
    assert_eq!(run_count(dir), runs, "no run was recorded");
}

#[test]
fn a_saved_plan_applies_its_changes_even_when_the_filter_would_now_select_other_groups() {
    let dir = project(GRANT);
    let before = pairs(dir.path());
    save_plan(dir.path());
    // Another group comes to match the filter after the plan was made.
    sql(
        dir.path(),
        &format!("UPDATE groups SET display_name = 'eng-s-finance' WHERE id = '{FINANCE_TEAM}'"),
    );
    let apply = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let mut expected = before.clone();
    for group in [ENG_SECURITY, ENG_SRE] {
        for member in [ZOE, SAMI] {
            expected.insert((group.to_owned(), member.to_owned()));
        }
    }
    assert_eq!(
        pairs(dir.path()),
        expected,
        "exactly the planned groups changed"
    );
    assert!(dir.path().join("results/eng-security.csv").exists());
    assert!(!dir.path().join("results/eng-s-finance.csv").exists());
}

#[test]
fn a_plan_applied_once_is_refused_the_second_time() {
    let dir = project(GRANT);
    let id = save_plan(dir.path());
    let first = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let after = pairs(dir.path());
    let again = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(again.code, 4, "{}", again.stderr);
    let text = again.stderr_text();
    assert!(
        text.contains(&format!("the saved plan {id} was applied before, as run")),
        "{text}"
    );
    assert_eq!(pairs(dir.path()), after);
    assert_eq!(run_count(dir.path()), 1);
}

#[test]
fn an_edited_manifest_makes_the_plan_stale() {
    let dir = project(GRANT);
    save_plan(dir.path());
    std::fs::write(dir.path().join("m.yaml"), format!("{GRANT}# reviewed\n")).unwrap();
    assert_stale(dir.path(), "manifest `m.yaml` changed");
}

#[test]
fn an_edited_input_makes_the_plan_stale() {
    let dir = project(GRANT);
    save_plan(dir.path());
    std::fs::write(
        dir.path().join("add.csv"),
        format!("{ADD_CSV}nora.larsen@contoso.example\n"),
    )
    .unwrap();
    assert_stale(dir.path(), "input `add.csv` changed");
}

#[test]
fn a_member_added_outside_bulkops_makes_the_plan_stale() {
    let dir = project(GRANT);
    save_plan(dir.path());
    let count = pairs(dir.path())
        .iter()
        .filter(|(group, _)| group == ENG_SRE)
        .count();
    sql(
        dir.path(),
        &format!(
            "INSERT INTO memberships (group_id, member_id, member_type) VALUES ('{ENG_SRE}', '{NORA}', 'user')"
        ),
    );
    assert_stale(
        dir.path(),
        &format!(
            "group `eng-sre ({ENG_SRE})` in step `grant`: {count} members when planned, {} now",
            count + 1
        ),
    );
}

#[test]
fn a_member_removed_outside_bulkops_makes_the_plan_stale() {
    let dir = project(GRANT);
    save_plan(dir.path());
    let member = pairs(dir.path())
        .into_iter()
        .find(|(group, _)| group == ENG_SECURITY)
        .unwrap()
        .1;
    sql(
        dir.path(),
        &format!(
            "DELETE FROM memberships WHERE group_id = '{ENG_SECURITY}' AND member_id = '{member}'"
        ),
    );
    assert_stale(dir.path(), "group `eng-security");
}

#[test]
fn a_planned_member_added_outside_keeps_the_count_from_hiding_it() {
    // One member out, a planned one in: the count is the same, the members
    // the plan changes are not.
    let dir = project(GRANT);
    save_plan(dir.path());
    let other = pairs(dir.path())
        .into_iter()
        .find(|(group, member)| group == ENG_SRE && member != ZOE && member != SAMI)
        .unwrap()
        .1;
    sql(
        dir.path(),
        &format!(
            "DELETE FROM memberships WHERE group_id = '{ENG_SRE}' AND member_id = '{other}';
             INSERT OR IGNORE INTO memberships (group_id, member_id, member_type) VALUES ('{ENG_SRE}', '{ZOE}', 'user')"
        ),
    );
    assert_stale(
        dir.path(),
        "members this plan adds or removes were added or removed since",
    );
}

const DISABLE: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: disable-one
spec:
  steps:
    - id: disable
      disableDevices:
        devices: [ { id: 0191d9b1-658d-4434-a9e2-1557c7c4dd78 } ]
";

#[test]
fn a_device_changed_outside_bulkops_makes_the_plan_stale() {
    let dir = project(DISABLE);
    save_plan(dir.path());
    sql(
        dir.path(),
        &format!("UPDATE devices SET account_enabled = 0 WHERE id = '{DEVICE}'"),
    );
    assert_stale(
        dir.path(),
        &format!("device `MB-GARCIA-055` ({DEVICE}) was enabled when planned, disabled now"),
    );
}

#[test]
fn a_saved_device_plan_applies() {
    let dir = project(DISABLE);
    save_plan(dir.path());
    let apply = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let states = device_states(&db(dir.path()));
    assert!(states.contains(&(DEVICE.to_owned(), false)));
}

#[test]
fn another_directory_makes_the_plan_stale() {
    let dir = project(GRANT);
    save_plan(dir.path());
    let other = bulkops_in(dir.path(), &["directory", "init", "--db", "other.db"]);
    assert_eq!(other.code, 0, "{}", other.stderr);
    let before = membership_pairs(&dir.path().join("other.db"));
    let apply = bulkops_in(dir.path(), &["apply", "plan.json", "--db", "other.db"]);
    let text = apply.stderr_text();
    assert_eq!(apply.code, 4, "{text}");
    assert!(
        text.contains("the plan was made against local directory "),
        "{text}"
    );
    assert_eq!(membership_pairs(&dir.path().join("other.db")), before);
}

#[test]
fn a_plan_file_edited_by_hand_is_refused() {
    let dir = project(GRANT);
    save_plan(dir.path());
    let text = std::fs::read_to_string(dir.path().join("plan.json")).unwrap();
    std::fs::write(dir.path().join("plan.json"), text.replacen(ZOE, NORA, 1)).unwrap();
    let before = pairs(dir.path());
    let apply = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(apply.code, 65, "{}", apply.stderr);
    assert!(
        apply
            .stderr_text()
            .contains("was changed after it was made: its content does not match its id"),
        "{}",
        apply.stderr_text()
    );
    assert_eq!(pairs(dir.path()), before);
}

const REMOVE_ALL: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: remove-eng
spec:
  guards: { maxRemovals: 1 }
  steps:
    - id: remove
      removeMembers:
        group: { displayName: eng-all }
        input: add.csv
";

/// A project whose `add.csv` lists two members of eng-all.
fn removing_two(manifest: &str) -> tempfile::TempDir {
    let dir = project(manifest);
    let members: Vec<String> = pairs(dir.path())
        .into_iter()
        .filter(|(group, _)| group == ENG_ALL)
        .map(|(_, member)| member)
        .take(2)
        .collect();
    std::fs::write(
        dir.path().join("add.csv"),
        format!("memberObjectIdOrUpn\n{}\n{}\n", members[0], members[1]),
    )
    .unwrap();
    dir
}

#[test]
fn a_plan_the_guard_would_refuse_is_not_saved() {
    // Two members of eng-all to remove; the guard allows one.
    let dir = removing_two(REMOVE_ALL);
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml", "--out", "plan.json"]);
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    assert!(!dir.path().join("plan.json").exists());
}

#[test]
fn a_lower_removal_limit_at_apply_refuses_the_plan_and_changes_nothing() {
    let dir = removing_two(&REMOVE_ALL.replace("maxRemovals: 1", "maxRemovals: 5"));
    save_plan(dir.path());
    let before = pairs(dir.path());
    let apply = bulkops_in(dir.path(), &["apply", "plan.json", "--allow-removals", "1"]);
    assert_eq!(apply.code, 3, "{}", apply.stderr);
    assert_eq!(pairs(dir.path()), before);
    let apply = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(pairs(dir.path()).len(), before.len() - 2);
}

#[test]
fn a_killed_run_of_a_saved_plan_resumes_to_the_same_end_and_the_plan_is_not_applied_again() {
    let uninterrupted = project(GRANT);
    save_plan(uninterrupted.path());
    assert_eq!(
        bulkops_in(uninterrupted.path(), &["apply", "plan.json"]).code,
        0
    );
    let dir = project(GRANT);
    save_plan(dir.path());
    let env = [("BULKOPS_CHUNK_ROWS", "1")];
    let held = Held::start(dir.path(), &["apply", "plan.json"], &env, "after-apply:2");
    held.kill();
    let again = bulkops_env(dir.path(), &["apply", "plan.json"], &env);
    assert_eq!(again.code, 4, "{}", again.stderr);
    let text = again.stderr_text();
    assert!(text.contains("interrupted"), "{text}");
    let run_id = text
        .split("as run `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap()
        .to_owned();
    let resumed = bulkops_env(dir.path(), &["apply", "--resume", &run_id], &env);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(pairs(dir.path()), pairs(uninterrupted.path()));
}

#[test]
fn a_change_during_the_run_is_refused_before_that_chunk_is_journaled() {
    let dir = project(GRANT);
    save_plan(dir.path());
    let env = [("BULKOPS_CHUNK_ROWS", "1")];
    // Held after the first chunk of the first group is journaled.
    let held = Held::start(dir.path(), &["apply", "plan.json"], &env, "after-journal:1");
    // Meanwhile somebody adds the second planned member to that group.
    sql(
        dir.path(),
        &format!(
            "INSERT INTO memberships (group_id, member_id, member_type) VALUES ('{ENG_SECURITY}', '{SAMI}', 'user')"
        ),
    );
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "no longer matches the saved plan: row 2: planned `added`, now `alreadyMember`"
        ),
        "{stderr}"
    );
}

const REVIEWED: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: reviewed
spec:
  guards: { maxRemovals: 5 }
  steps:
    - id: eng-s
      filterGroups:
        displayName: { startsWith: eng-s }
    - id: grant
      importMembers:
        groups: eng-s
        input: add.csv
    - id: revoke
      removeMembers:
        group: { displayName: eng-all }
        input: leavers.csv
    - id: disable
      disableDevices:
        devices: [ { id: 0191d9b1-658d-4434-a9e2-1557c7c4dd78 } ]
";

/// The plan id, run ids and dates in a plan's output, made stable.
fn redacted(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha256:") {
        out.push_str(&rest[..at]);
        out.push_str("sha256:PLAN_ID");
        rest = &rest[(at + 7 + 64).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

fn reviewed_project() -> tempfile::TempDir {
    let dir = project(REVIEWED);
    std::fs::write(
        dir.path().join("leavers.csv"),
        "memberObjectIdOrUpn\nben.patel@contoso.example\ngrace.silva@contoso.example\n",
    )
    .unwrap();
    // Display names are the directory's, and anyone may have set them.
    sql(
        dir.path(),
        &format!(
            "UPDATE groups SET display_name = 'eng-sre <img src=x onerror=alert(1)> | **@admins**' WHERE id = '{ENG_SRE}'"
        ),
    );
    dir
}

#[test]
fn the_markdown_comment_names_who_with_removals_first_and_names_made_inert() {
    let dir = reviewed_project();
    let plan = bulkops_in(
        dir.path(),
        &[
            "plan",
            "m.yaml",
            "--format",
            "markdown",
            "--out",
            "plan.json",
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stdout.contains("<img"), "{}", plan.stdout);
    insta::assert_snapshot!(redacted(&plan.stdout));
}

#[test]
fn the_text_plan_names_who_and_caps_each_list() {
    let dir = reviewed_project();
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml", "--detail", "1"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let who = plan
        .stdout
        .split("who and what, by step")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", plan.stdout));
    insta::assert_snapshot!(who);
}

/// A folder `m/` with two manifests: grant (eng-s groups, from add.csv) and disable.
fn two_manifests() -> tempfile::TempDir {
    let dir = project(GRANT);
    std::fs::create_dir(dir.path().join("m")).unwrap();
    std::fs::rename(dir.path().join("m.yaml"), dir.path().join("m/a-grant.yaml")).unwrap();
    std::fs::write(dir.path().join("m/b-disable.yaml"), DISABLE).unwrap();
    dir
}

#[test]
fn a_folder_is_planned_as_one_plan_whose_workflows_apply_in_order() {
    let dir = two_manifests();
    let plan = bulkops_in(dir.path(), &["plan", "m", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("── m/a-grant.yaml ──"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("── m/b-disable.yaml ──"),
        "{}",
        plan.stdout
    );
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    let workflows: Vec<&str> = document["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|workflow| workflow["workflow"].as_str().unwrap())
        .collect();
    assert_eq!(workflows, ["grant-sre", "disable-one"]);
    let before = pairs(dir.path());
    let apply = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(pairs(dir.path()).len(), before.len() + 4);
    assert!(device_states(&db(dir.path())).contains(&(DEVICE.to_owned(), false)));
    assert_eq!(run_count(dir.path()), 2);
}

#[test]
fn changed_only_skips_manifests_unchanged_since_their_last_completed_apply() {
    let dir = two_manifests();
    let first = bulkops_in(dir.path(), &["apply", "--changed-only", "m"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first.stdout.contains("applied 2 manifests, skipped 0"),
        "{}",
        first.stdout
    );
    let again = bulkops_in(dir.path(), &["apply", "--changed-only", "m"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains("skipped m/a-grant.yaml: unchanged since run "),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("skipped m/b-disable.yaml: unchanged since run "),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("applied 0 manifests, skipped 2"),
        "{}",
        again.stdout
    );
    assert_eq!(run_count(dir.path()), 2, "nothing ran");
    // An input changes: only its manifest runs.
    std::fs::write(
        dir.path().join("add.csv"),
        format!("{ADD_CSV}nora.larsen@contoso.example\n"),
    )
    .unwrap();
    let input_changed = bulkops_in(dir.path(), &["apply", "--changed-only", "m"]);
    assert_eq!(input_changed.code, 0, "{}", input_changed.stderr);
    assert!(
        input_changed.stdout.contains("run "),
        "{}",
        input_changed.stdout
    );
    assert!(
        input_changed.stdout.contains("skipped m/b-disable.yaml"),
        "{}",
        input_changed.stdout
    );
    assert!(
        input_changed
            .stdout
            .contains("applied 1 manifest, skipped 1"),
        "{}",
        input_changed.stdout
    );
    // A manifest changes: it runs.
    std::fs::write(
        dir.path().join("m/b-disable.yaml"),
        format!("{DISABLE}# reviewed\n"),
    )
    .unwrap();
    let manifest_changed = bulkops_in(dir.path(), &["apply", "--changed-only", "m"]);
    assert!(
        manifest_changed.stdout.contains("skipped m/a-grant.yaml"),
        "{}",
        manifest_changed.stdout
    );
    assert!(
        manifest_changed
            .stdout
            .contains("applied 1 manifest, skipped 1"),
        "{}",
        manifest_changed.stdout
    );
    assert_eq!(run_count(dir.path()), 4);
}

#[test]
fn a_saved_plan_of_device_steps_does_what_a_run_of_the_manifest_does() {
    // A filter that no step depends on runs before the disable step in a
    // run, so the plan must not count the devices that step disables.
    let manifest =
        std::fs::read_to_string(crate::support::repo_path("manifests/stale-devices.yaml")).unwrap();
    let direct = project(&manifest);
    let saved = project(&manifest);
    let run = bulkops_in(direct.path(), &["apply", "m.yaml"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    save_plan(saved.path());
    let apply = bulkops_in(saved.path(), &["apply", "plan.json"]);
    assert_eq!(apply.code, run.code, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(
        device_states(&db(saved.path())),
        device_states(&db(direct.path())),
        "the same devices disabled and deleted"
    );
}

#[test]
fn a_folder_plan_goes_on_after_its_first_run_was_resumed() {
    let dir = two_manifests();
    let plan = bulkops_in(dir.path(), &["plan", "m", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let env = [("BULKOPS_CHUNK_ROWS", "1")];
    let held = Held::start(dir.path(), &["apply", "plan.json"], &env, "after-apply:2");
    held.kill();
    let first: String = rusqlite::Connection::open(dir.path().join(".bulkops/state.db"))
        .unwrap()
        .query_row("SELECT id FROM runs", [], |row| row.get(0))
        .unwrap();
    let resumed = bulkops_env(dir.path(), &["apply", "--resume", &first], &env);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let rest = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(
        rest.code, 0,
        "the second workflow runs: {}\n{}",
        rest.stdout, rest.stderr
    );
    assert!(device_states(&db(dir.path())).contains(&(DEVICE.to_owned(), false)));
    let again = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(again.code, 4, "{}", again.stderr);
}

#[test]
fn a_plan_file_with_extra_fields_or_a_step_left_out_is_refused() {
    let dir = project(GRANT);
    save_plan(dir.path());
    let text = std::fs::read_to_string(dir.path().join("plan.json")).unwrap();
    std::fs::write(
        dir.path().join("plan.json"),
        text.replacen("{\n", "{\n  \"approvedBy\": \"CISO\",\n", 1),
    )
    .unwrap();
    let extra = bulkops_in(dir.path(), &["apply", "plan.json"]);
    assert_eq!(extra.code, 65, "{}", extra.stderr);
    // A step removed, with the id made to match again.
    let mut file: bulkops::lifecycle::saved::format::PlanFile =
        serde_json::from_str(&text).unwrap();
    file.body.workflows[0]
        .steps
        .retain(|step| step.id != "grant");
    file.plan_id = file.body.id();
    std::fs::write(
        dir.path().join("plan.json"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();
    assert_stale(dir.path(), "step `grant` is not in the plan");
}

#[test]
fn changed_only_applies_again_to_another_directory() {
    let dir = two_manifests();
    assert_eq!(
        bulkops_in(dir.path(), &["apply", "--changed-only", "m"]).code,
        0
    );
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--db", "other.db"]).code,
        0
    );
    let other = bulkops_in(
        dir.path(),
        &["apply", "--changed-only", "m", "--db", "other.db"],
    );
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert!(
        other.stdout.contains("applied 2 manifests, skipped 0"),
        "{}",
        other.stdout
    );
}
