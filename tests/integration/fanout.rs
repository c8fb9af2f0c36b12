//! One manifest, many directories: `spec.directories` makes one run per
//! directory, in turn under `apply` and for workers under `submit`, listed
//! together by group; `plan` previews each directory; a profile that is not
//! configured is refused before anything is queued; `directory` and
//! `directories` together are refused with their place.

use std::path::Path;

use bulkops::store::testing::scratch_database;
use bulkops::store::{Create, JobStore, Location, Status};

use crate::emulator_support::{Emulator, SECRET_ENV};
use crate::support::{Run, bulkops_env, bulkops_in};

/// A manifest downloading the groups of `directories`, each run to a file of
/// its own.
fn fanned_out(directories: &str) -> String {
    format!(
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: report\nspec:\n  directories: {directories}\n  steps:\n    - id: groups\n      downloadGroups:\n        output: \"{{{{run.directory}}}}/groups-{{{{run.id}}}}.csv\"\n"
    )
}

/// A folder with an emulator's demo tenant behind profiles `t2` and `t3`.
fn two_tenants() -> (tempfile::TempDir, Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("tenant.db");
    let made = bulkops_in(
        dir.path(),
        &["directory", "init", "--db", demo.to_str().unwrap()],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let emulator = Emulator::start(&demo, &[]);
    let url = emulator.url();
    let profile = |name: &str| {
        format!(
            "  {name}:\n    tenant: {name}.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   secret: {{ env: {SECRET_ENV} }}\n    loginUrl: {url}\n    graphUrl: {url}\n"
        )
    };
    std::fs::write(
        dir.path().join("bulkops.yaml"),
        format!("profiles:\n{}{}", profile("t2"), profile("t3")),
    )
    .unwrap();
    std::fs::write(dir.path().join("m.yaml"), fanned_out("[t2, t3]")).unwrap();
    (dir, emulator)
}

fn run_in(dir: &Path, args: &[&str], state: &str) -> Run {
    bulkops_env(
        dir,
        args,
        &[
            (SECRET_ENV, "emulated-secret"),
            ("BULKOPS_STATE_URL", state),
        ],
    )
}

/// The group id a command printed.
fn group_of(out: &str) -> String {
    out.lines()
        .find_map(|line| line.strip_prefix("group "))
        .and_then(|rest| rest.split([' ', ':']).next())
        .unwrap_or_else(|| panic!("no group in {out}"))
        .to_owned()
}

#[test]
fn apply_runs_each_directory_in_turn_and_lists_the_runs_as_one_group() {
    let (dir, _emulator) = two_tenants();
    let state = dir.path().join("state.db");
    let state = state.to_str().unwrap();
    let planned = run_in(dir.path(), &["plan", "m.yaml"], state);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    for profile in ["`t2`", "`t3`"] {
        assert!(planned.stdout.contains(profile), "{}", planned.stdout);
    }
    let applied = run_in(dir.path(), &["apply", "m.yaml"], state);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    let group = group_of(&applied.stdout);
    let store = JobStore::open_at(&Location::File(state.into()), Create::Never).unwrap();
    let runs = store.runs().unwrap();
    let mut directories: Vec<&str> = runs.iter().map(|run| run.directory.as_str()).collect();
    directories.sort_unstable();
    assert_eq!(directories, ["t2", "t3"]);
    assert!(runs.iter().all(|run| run.status == Status::Completed));
    let mut grouped = store.runs_of_group(&group).unwrap();
    grouped.sort_unstable();
    let mut ids: Vec<String> = runs.iter().map(|run| run.id.clone()).collect();
    ids.sort_unstable();
    assert_eq!(grouped, ids);
    for run in &runs {
        let file = dir
            .path()
            .join(format!("{}/groups-{}.csv", run.directory, run.id));
        assert!(file.exists(), "{} wrote no file", run.id);
    }
    let listed = run_in(dir.path(), &["runs", "list", "--group", &group], state);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    for id in &ids {
        assert!(listed.stdout.contains(id.as_str()), "{}", listed.stdout);
    }
    // The second directory's run, found interrupted, resumes against its
    // own directory.
    let second = runs.iter().find(|run| run.directory == "t3").unwrap();
    let db = rusqlite::Connection::open(state).unwrap();
    db.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = NULL WHERE id = ?1",
        [&second.id],
    )
    .unwrap();
    drop(db);
    let resumed = run_in(dir.path(), &["apply", "--resume", &second.id], state);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(store.run(&second.id).unwrap().status, Status::Completed);
}

#[test]
fn submit_queues_one_run_per_directory_and_refuses_a_profile_not_configured() {
    let (dir, _emulator) = two_tenants();
    let database = scratch_database();
    let submitted = run_in(dir.path(), &["submit", "m.yaml"], &database.url);
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    assert_eq!(submitted.stdout.matches("queued run").count(), 2);
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    let group = group_of(&submitted.stdout);
    assert_eq!(store.runs_of_group(&group).unwrap().len(), 2);
    let mut directories: Vec<String> = store
        .runs()
        .unwrap()
        .into_iter()
        .map(|run| run.directory)
        .collect();
    directories.sort_unstable();
    assert_eq!(directories, ["t2", "t3"]);

    std::fs::write(dir.path().join("m.yaml"), fanned_out("[t2, nowhere]")).unwrap();
    let refused = run_in(dir.path(), &["submit", "m.yaml"], &database.url);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("nowhere"), "{}", refused.stderr);
    assert_eq!(store.runs().unwrap().len(), 2, "nothing more was queued");
}

#[test]
fn directory_and_directories_together_are_refused_where_written() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = fanned_out("[t2, t3]").replace("spec:\n", "spec:\n  directory: t2\n");
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let checked = bulkops_in(dir.path(), &["validate", "m.yaml"]);
    assert_ne!(checked.code, 0);
    let text = crate::support::unwrap_lines(&checked.stderr);
    assert!(
        text.contains("`directory` and `directories` cannot be combined"),
        "{text}"
    );
    assert!(text.contains("m.yaml:7:3"), "{text}");
}

#[test]
fn a_saved_plan_holds_a_run_per_directory_and_applies_each_against_its_own() {
    let (dir, _emulator) = two_tenants();
    let state = dir.path().join("state.db");
    let state = state.to_str().unwrap();
    let planned = run_in(dir.path(), &["plan", "m.yaml", "--out", "plan.json"], state);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("plan.json")).unwrap()).unwrap();
    let names: Vec<&str> = saved["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|workflow| workflow["directory"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t2", "t3"]);
    let applied = run_in(dir.path(), &["apply", "plan.json"], state);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    let store = JobStore::open_at(&Location::File(state.into()), Create::Never).unwrap();
    let mut ran: Vec<(String, Status)> = store
        .runs()
        .unwrap()
        .into_iter()
        .map(|run| (run.directory, run.status))
        .collect();
    ran.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ran,
        [
            ("t2".to_owned(), Status::Completed),
            ("t3".to_owned(), Status::Completed)
        ]
    );
}

#[test]
fn apply_refuses_a_profile_not_configured_before_any_directory_changes() {
    let (dir, _emulator) = two_tenants();
    std::fs::write(dir.path().join("m.yaml"), fanned_out("[t2, nowhere]")).unwrap();
    let state = dir.path().join("state.db");
    let refused = run_in(dir.path(), &["apply", "m.yaml"], state.to_str().unwrap());
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("nowhere"), "{}", refused.stderr);
    assert!(
        !dir.path().join("t2").exists(),
        "the first directory's run never started"
    );
    if state.exists() {
        let store = JobStore::open_at(&Location::File(state), Create::Never).unwrap();
        assert!(store.runs().unwrap().is_empty());
    }
}
