//! Guards are a budget for the whole run: a step whose removals or device
//! deletions the preview cannot count (its input is written earlier in the
//! same run) is counted when it starts and refused before its first change;
//! every journaled chunk is charged before it is applied, so a directory that
//! grew after the check cannot push a run past its limit; a resume keeps the
//! run's budget and may raise it with `--allow-removals`.

use std::path::Path;

use crate::support::{Held, bulkops_in, membership_pairs};

const ENG_ALL: &str = "8dcbd643-3978-461e-88c6-95cee6c384c4";

fn pairs(dir: &Path) -> Vec<(String, String)> {
    membership_pairs(&dir.join(".bulkops/directory.db"))
}

fn members_of(dir: &Path, group: &str) -> usize {
    pairs(dir).iter().filter(|(g, _)| g == group).count()
}

fn device_count(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join(".bulkops/directory.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM devices", [], |row| row.get(0))
        .unwrap()
}

const REMOVE_FROM_SNAPSHOT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: empty-eng-all
spec:
  guards: { maxRemovals: 5 }
  steps:
    - id: eng
      filterGroups:
        displayName: { equals: eng-all }
    - id: snapshot
      downloadMembers:
        groups: eng
        output: \"snap/{{group.displayName}}.csv\"
    - id: remove
      needs: [snapshot]
      removeMembers:
        group: { displayName: eng-all }
        input: snap/eng-all.csv
";

#[test]
fn removals_the_preview_cannot_count_are_refused_before_their_first_change() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    std::fs::write(dir.path().join("m.yaml"), REMOVE_FROM_SNAPSHOT).unwrap();
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 2,
        "an unknown effect is a possible change: {}",
        plan.stderr
    );
    assert!(
        plan.stdout.contains(
            "cannot be known before the run: it reads `snap/eng-all.csv`, which step `snapshot` writes in this run"
        ),
        "{}",
        plan.stdout
    );
    let before = members_of(dir.path(), ENG_ALL);
    assert_eq!(before, 70);
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "remove                   removeMembers    failed: removing 70 more members would exceed the guard: 0 removed or planned so far in this run, `guards.maxRemovals` allows 5"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(members_of(dir.path(), ENG_ALL), 70, "nobody was removed");
    assert!(dir.path().join("snap/eng-all.csv").exists());

    let run_id = crate::apply::run_id(&run);
    let allowed = bulkops_in(
        dir.path(),
        &["apply", "--resume", &run_id, "--allow-removals", "70"],
    );
    assert_eq!(allowed.code, 0, "{}\n{}", allowed.stdout, allowed.stderr);
    assert_eq!(members_of(dir.path(), ENG_ALL), 0);
    assert!(
        !dir.path().join("snap/eng-all-1.csv").exists(),
        "the finished download was not done again"
    );
}

#[test]
fn device_deletions_the_preview_cannot_count_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: purge\nspec:\n  guards: { maxDeviceDeletions: 1 }\n  steps:\n    - id: inventory\n      downloadDevices:\n        output: devices.csv\n    - id: purge\n      needs: [inventory]\n      deleteDevices:\n        input: devices.csv\n        requireDisabled: false\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    bulkops_in(dir.path(), &["directory", "stats"]);
    let devices = device_count(dir.path());
    assert!(devices > 1);
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "failed: deleting {devices} more devices would exceed the guard: 0 deleted or planned so far in this run, `guards.maxDeviceDeletions` allows 1"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(device_count(dir.path()), devices, "no device was deleted");
}

#[test]
fn a_directory_that_grew_after_the_check_cannot_push_a_run_past_its_guard() {
    let dir = tempfile::tempdir().unwrap();
    // Two removals of the same list; the second group gains members while
    // the first step works, after the check counted 2 + 0 removals.
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: leavers\nspec:\n  guards: { maxRemovals: 3 }\n  steps:\n    - id: web\n      removeMembers:\n        group: { displayName: eng-web }\n        input: leavers.csv\n    - id: data\n      needs: [web]\n      removeMembers:\n        group: { displayName: eng-data }\n        input: leavers.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    // Two members of eng-web, not in eng-data.
    std::fs::write(
        dir.path().join("leavers.csv"),
        "carla.kowalski@contoso.example\ndana.kim@contoso.example\n",
    )
    .unwrap();
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &[], "after-apply:1");
    // Somebody adds them to eng-data meanwhile (in the admin center: an
    // apply of bulkops would wait for this run).
    rusqlite::Connection::open(dir.path().join(".bulkops/directory.db"))
        .unwrap()
        .execute(
            "INSERT INTO memberships (group_id, member_id, member_type) \
             SELECT 'b84b3641-f41b-456c-9cde-88ec4caf65e5', id, 'user' FROM users \
             WHERE user_principal_name IN ('carla.kowalski@contoso.example', 'dana.kim@contoso.example')",
            [],
        )
        .unwrap();
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 3, "{stderr}");
    let data = "b84b3641-f41b-456c-9cde-88ec4caf65e5";
    assert_eq!(
        members_of(dir.path(), data),
        14,
        "eng-data keeps the two members added after the check"
    );
}

#[test]
fn plan_says_when_apply_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: many\nspec:\n  guards: { maxRemovals: 2 }\n  steps:\n    - id: eng\n      filterGroups:\n        displayName: { equals: eng-all }\n    - id: remove\n      removeMembers:\n        groups: eng\n        input: leavers.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(
        dir.path().join("leavers.csv"),
        "ben.patel@contoso.example\ngrace.silva@contoso.example\njamal.rossi@contoso.example\n",
    )
    .unwrap();
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert!(
        plan.stdout.contains(
            "apply would refuse this run: it removes 3 members, `guards.maxRemovals` allows 2"
        ),
        "{}",
        plan.stdout
    );
    let detailed = bulkops_in(dir.path(), &["plan", "m.yaml", "--detailed-exitcode"]);
    assert_eq!(detailed.code, 1, "{}", detailed.stderr);
    let apply = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(apply.code, 3, "{}", apply.stderr);
    assert_eq!(members_of(dir.path(), ENG_ALL), 70);
}

#[test]
fn removals_after_additions_to_the_same_group_are_counted_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    // 70 members of eng-all and 30 people who are not.
    let users: Vec<String> =
        std::fs::read_to_string(crate::support::repo_path("examples/demo-tenant/users.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(1).unwrap().to_owned())
            .collect();
    let mut list = String::from("userPrincipalName\n");
    for upn in users.iter().take(100) {
        list.push_str(upn);
        list.push('\n');
    }
    std::fs::write(dir.path().join("everyone.csv"), list).unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: churn\nspec:\n  guards: { maxRemovals: 80 }\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-all }\n        input: everyone.csv\n    - id: rm\n      needs: [add]\n      removeMembers:\n        group: { displayName: eng-all }\n        input: everyone.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("eng-all: would remove 100, not a member 0"),
        "the removal counts the members the addition brings: {}",
        plan.stdout
    );
    let before = pairs(dir.path());
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("this run would remove 100 members; the guard allows 80"),
        "{}",
        run.stderr
    );
    assert_eq!(pairs(dir.path()), before, "refused before anything changed");
}

#[test]
fn the_jobs_of_a_guard_refused_run_are_kept_until_it_is_resumed_or_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), REMOVE_FROM_SNAPSHOT).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let run_id = crate::apply::run_id(&run);
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let ids: Vec<&str> = jobs.iter().map(|job| job["id"].as_str().unwrap()).collect();
    let mut args = vec!["jobs", "delete", "--yes"];
    args.extend(&ids);
    let kept = bulkops_in(dir.path(), &args);
    assert_eq!(kept.code, 64, "{}", kept.stderr);
    assert!(
        kept.stderr_text().contains("can still be resumed"),
        "{}",
        kept.stderr
    );
    args.push("--abandon");
    let abandoned = bulkops_in(dir.path(), &args);
    assert_eq!(abandoned.code, 0, "{}", abandoned.stderr);
    let resumed = bulkops_in(dir.path(), &["apply", "--resume", &run_id]);
    assert_eq!(resumed.code, 64, "{}", resumed.stderr);
    assert!(
        resumed.stderr_text().contains("can no longer be resumed"),
        "{}",
        resumed.stderr
    );
}

#[test]
fn device_selections_after_device_changes_are_counted_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: retire\nspec:\n  guards: { maxDeviceDeletions: 5 }\n  steps:\n    - id: kiosks\n      filterDevices:\n        displayName: { startsWith: KIOSK }\n    - id: disable\n      disableDevices:\n        devices: kiosks\n    - id: disabled\n      needs: [disable]\n      filterDevices:\n        enabled: false\n    - id: delete\n      deleteDevices:\n        devices: disabled\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    bulkops_in(dir.path(), &["directory", "stats"]);
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 3, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("would disable 6, already disabled 0"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("apply would refuse this run: it deletes "),
        "the kiosks the run disables are counted: {}",
        plan.stdout
    );
    let before = crate::support::device_states(&dir.path().join(".bulkops/directory.db"));
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        crate::support::device_states(&dir.path().join(".bulkops/directory.db")),
        before,
        "refused before any device changed"
    );
}
