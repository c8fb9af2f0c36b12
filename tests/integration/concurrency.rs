//! Several bulkops processes on one folder at once: databases are created
//! whole by one of them, every run reports what the directory really did
//! (a member two runs add is `added` once), `jobs delete` and `emulate` work
//! beside running applies, and the end state is the serial runs' end state.
//! Empty or unfilled database files are refused, never used as empty.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::emulator_support::{Emulator, SECRET_ENV};
use crate::support::{bulkops_in, command, membership_pairs};

const ENG_WEB: &str = "ea667e41-e369-433b-bc84-bb902ea775ad";

/// The demo tenant's user principal names, in file order.
fn demo_users() -> Vec<String> {
    let text = std::fs::read_to_string(crate::support::repo_path("examples/demo-tenant/users.csv"))
        .unwrap();
    text.lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().to_owned())
        .collect()
}

fn manifest(name: &str, directory: &str, list: &str) -> String {
    format!(
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: {name}\nspec:\n  directory: {directory}\n  steps:\n    - id: add\n      importMembers:\n        group: {{ id: {ENG_WEB} }}\n        input: {list}\n        results: \"{name}.csv\"\n"
    )
}

/// Three overlapping lists of 40 users each.
fn write_lists(dir: &Path) {
    let users = demo_users();
    for (name, start) in [("a", 0), ("b", 20), ("c", 30)] {
        let mut list = String::from("userPrincipalName\n");
        for upn in &users[start..start + 40] {
            let _ = writeln!(list, "{upn}");
        }
        std::fs::write(dir.join(format!("{name}.txt")), list).unwrap();
    }
    std::fs::write(dir.join("a.yaml"), manifest("a", "local", "a.txt")).unwrap();
    std::fs::write(dir.join("b.yaml"), manifest("b", "local", "b.txt")).unwrap();
    std::fs::write(dir.join("c.yaml"), manifest("c", "emu", "c.txt")).unwrap();
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    command()
        .args(args)
        .current_dir(dir)
        .env(SECRET_ENV, "emulated-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child, what: &str) -> String {
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Members whose rows a result file reports as `added`.
fn added(results: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(results)
        .unwrap()
        .lines()
        .filter(|line| line.ends_with(",added,"))
        .map(|line| line.split(',').next().unwrap().to_owned())
        .collect()
}

fn eng_web(db: &Path) -> BTreeSet<String> {
    membership_pairs(db)
        .into_iter()
        .filter(|(group, _)| group == ENG_WEB)
        .map(|(_, member)| member)
        .collect()
}

/// The members of eng-web after the three lists were applied one by one.
fn serial_end_state() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    for name in ["a", "b"] {
        let run = bulkops_in(dir.path(), &["apply", &format!("{name}.yaml")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    std::fs::write(dir.path().join("c.yaml"), manifest("c", "local", "c.txt")).unwrap();
    assert_eq!(bulkops_in(dir.path(), &["apply", "c.yaml"]).code, 0);
    eng_web(&dir.path().join(".bulkops/directory.db"))
}

/// Deletes the job of workflow `a` once its run completed.
fn delete_when_completed(dir: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let limit = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            assert!(
                std::time::Instant::now() < limit,
                "workflow a never completed"
            );
            let list = command()
                .args(["jobs", "list", "--format", "json", "--workflow", "a"])
                .current_dir(&dir)
                .output()
                .unwrap();
            let jobs: Vec<serde_json::Value> =
                serde_json::from_slice(&list.stdout).unwrap_or_default();
            if let Some(job) = jobs.iter().find(|job| job["status"] == "completed") {
                let id = job["id"].as_str().unwrap();
                let deleted = command()
                    .args(["jobs", "delete", id, "--yes", "--keep-files"])
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                assert_eq!(
                    deleted.status.code(),
                    Some(0),
                    "{}",
                    String::from_utf8_lossy(&deleted.stderr)
                );
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })
}

#[test]
fn three_applies_a_jobs_delete_and_an_emulator_on_one_folder_agree_for_twenty_rounds() {
    let expected = serial_end_state();
    let demo = {
        let dir = tempfile::tempdir().unwrap();
        bulkops_in(dir.path(), &["directory", "stats"]);
        eng_web(&dir.path().join(".bulkops/directory.db"))
    };
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        write_lists(dir.path());
        let db = dir.path().join(".bulkops/directory.db");
        // Everything starts in a fresh folder at once: the two local applies
        // and the emulator all find no databases.
        let a = spawn(dir.path(), &["apply", "a.yaml"]);
        let b = spawn(dir.path(), &["apply", "b.yaml"]);
        let emulator = Emulator::start(&db, &[]);
        emulator.write_profiles(dir.path(), 1);
        let c = spawn(dir.path(), &["apply", "c.yaml"]);
        let deleter = delete_when_completed(dir.path().to_path_buf());
        let runs = [
            finish(a, "apply a"),
            finish(b, "apply b"),
            finish(c, "apply c"),
        ];
        deleter.join().unwrap();
        drop(emulator);
        for summary in &runs {
            assert!(
                summary.contains(": completed\n"),
                "round {round}: {summary}"
            );
        }
        let end = eng_web(&db);
        assert_eq!(
            end, expected,
            "round {round}: the end state is the serial one"
        );
        // Each member added once in all: reported `added` by exactly one run.
        let mut reported = Vec::new();
        for name in ["a", "b", "c"] {
            reported.extend(added(&dir.path().join(format!("{name}.csv"))));
        }
        let distinct: BTreeSet<String> = reported.iter().cloned().collect();
        assert_eq!(
            reported.len(),
            distinct.len(),
            "round {round}: a member was reported added by two runs"
        );
        assert_eq!(
            reported.len(),
            end.len() - demo.len(),
            "round {round}: the runs report as many additions as the directory made"
        );
    }
}

#[test]
fn empty_and_unfilled_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: report\nspec:\n  steps:\n    - id: groups\n      downloadGroups:\n        output: groups.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::create_dir(dir.path().join(".bulkops")).unwrap();
    std::fs::write(dir.path().join(".bulkops/directory.db"), "").unwrap();
    let empty = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(empty.code, 65, "{}", empty.stderr);
    assert!(
        empty
            .stderr_text()
            .contains(".bulkops/directory.db` is empty (0 bytes): it is not a directory"),
        "{}",
        empty.stderr
    );
    assert!(!dir.path().join("groups.csv").exists());

    std::fs::remove_file(dir.path().join(".bulkops/directory.db")).unwrap();
    bulkops_in(dir.path(), &["directory", "stats"]);
    let connection = rusqlite::Connection::open(dir.path().join(".bulkops/directory.db")).unwrap();
    connection.execute("DELETE FROM meta", []).unwrap();
    drop(connection);
    let unfilled = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(unfilled.code, 65, "{}", unfilled.stderr);
    assert!(
        unfilled.stderr_text().contains("it was never filled"),
        "{}",
        unfilled.stderr
    );
    let recreated = bulkops_in(dir.path(), &["directory", "init", "--force"]);
    assert_eq!(recreated.code, 0, "{}", recreated.stderr);

    std::fs::write(dir.path().join(".bulkops/state.db"), "").unwrap();
    let history = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(history.code, 65, "{}", history.stderr);
    assert!(
        history
            .stderr_text()
            .contains(".bulkops/state.db` is empty (0 bytes): it holds no job history"),
        "{}",
        history.stderr
    );
    let listed = bulkops_in(dir.path(), &["jobs", "list"]);
    assert_eq!(listed.code, 65, "{}", listed.stderr);
    assert!(!dir.path().join("groups.csv").exists());
}

#[test]
fn an_invalid_manifest_creates_no_job_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\n",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(!dir.path().join(".bulkops").exists(), "nothing was created");
}

/// Run `first` held after planning its chunk, the other run in full, then
/// `first` released: each member both lists add is reported `added` once.
fn assert_each_addition_reported_once(first_directory: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    let db = dir.path().join(".bulkops/directory.db");
    bulkops_in(dir.path(), &["directory", "stats"]);
    let before = eng_web(&db);
    let emulator = Emulator::start(&db, &[]);
    emulator.write_profiles(dir.path(), 1);
    std::fs::write(
        dir.path().join("a.yaml"),
        manifest("a", first_directory, "a.txt"),
    )
    .unwrap();
    let held = crate::support::Held::start(
        dir.path(),
        &["apply", "a.yaml"],
        &[(SECRET_ENV, "emulated-secret")],
        "before-journal:1",
    );
    let b = bulkops_in(dir.path(), &["apply", "b.yaml"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 0, "{stderr}");
    let a = added(&dir.path().join("a.csv"));
    let b = added(&dir.path().join("b.csv"));
    assert!(
        a.is_disjoint(&b),
        "both runs reported {:?} added",
        a.intersection(&b).collect::<Vec<_>>()
    );
    assert_eq!(a.len() + b.len(), eng_web(&db).len() - before.len());
    let already = std::fs::read_to_string(dir.path().join("a.csv"))
        .unwrap()
        .lines()
        .filter(|line| line.ends_with(",alreadyMember,"))
        .count();
    assert!(
        already >= 20,
        "the overlap is reported as already there: {already}"
    );
}

#[test]
fn two_applies_on_one_local_directory_go_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    let db = dir.path().join(".bulkops/directory.db");
    bulkops_in(dir.path(), &["directory", "stats"]);
    let before = eng_web(&db);
    let held =
        crate::support::Held::start(dir.path(), &["apply", "a.yaml"], &[], "before-journal:1");
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut second = command()
        .args(["apply", "b.yaml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    crate::support::wait_until(
        "the second apply to say whom it waits for",
        std::time::Duration::from_secs(300),
        || {
            std::fs::read_to_string(log.path())
                .unwrap_or_default()
                .contains("waiting: another apply is changing this directory (run ")
        },
    );
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second apply waits while the first holds the directory"
    );
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 0, "{stderr}");
    let status = second.wait().unwrap();
    let log = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    let a = added(&dir.path().join("a.csv"));
    let b = added(&dir.path().join("b.csv"));
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), eng_web(&db).len() - before.len());
    // Nothing interleaved: the second run started after the first ended.
    let state = rusqlite::Connection::open(dir.path().join(".bulkops/state.db")).unwrap();
    let times: Vec<(String, String, Option<String>)> = state
        .prepare("SELECT workflow, started_at, finished_at FROM runs ORDER BY started_at")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(times.len(), 2, "{times:?}");
    assert_eq!((times[0].0.as_str(), times[1].0.as_str()), ("a", "b"));
    let first_end: jiff::Timestamp = times[0].2.as_deref().unwrap().parse().unwrap();
    let second_start: jiff::Timestamp = times[1].1.parse().unwrap();
    assert!(second_start >= first_end, "{times:?}");
}

#[test]
fn a_killed_apply_leaves_no_lock_behind() {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    let held =
        crate::support::Held::start(dir.path(), &["apply", "a.yaml"], &[], "before-journal:1");
    held.kill();
    let second = bulkops_in(dir.path(), &["apply", "b.yaml", "--lock-timeout", "1s"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(!second.stderr.contains("waiting"), "{}", second.stderr);
}

#[test]
fn an_apply_gives_up_after_its_lock_timeout_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    let db = dir.path().join(".bulkops/directory.db");
    bulkops_in(dir.path(), &["directory", "stats"]);
    let held =
        crate::support::Held::start(dir.path(), &["apply", "a.yaml"], &[], "before-journal:1");
    let before = eng_web(&db);
    let second = bulkops_in(dir.path(), &["apply", "b.yaml", "--lock-timeout", "300ms"]);
    assert_eq!(second.code, 75, "{}", second.stderr);
    assert!(
        second
            .stderr_text()
            .contains("another apply kept directory"),
        "{}",
        second.stderr_text()
    );
    assert_eq!(eng_web(&db), before);
    held.kill();
}

#[test]
fn a_graph_run_and_a_local_run_adding_the_same_members_report_each_addition_once() {
    assert_each_addition_reported_once("emu");
}

#[test]
fn a_directory_in_use_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path());
    let held = crate::support::Held::start(dir.path(), &["apply", "a.yaml"], &[], "after-apply:1");
    let replaced = bulkops_in(dir.path(), &["directory", "init", "--force"]);
    assert_eq!(replaced.code, 64, "{}", replaced.stderr);
    assert!(
        replaced
            .stderr_text()
            .contains("is in use by another bulkops process"),
        "{}",
        replaced.stderr
    );
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 0, "{stderr}");
    let db = dir.path().join(".bulkops/directory.db");
    let emulator = Emulator::start(&db, &[]);
    let generated = bulkops_in(
        dir.path(),
        &["directory", "generate", "--users", "10", "--force"],
    );
    assert_eq!(
        generated.code, 64,
        "the emulator has it open: {}",
        generated.stderr
    );
    drop(emulator);
    let replaced = bulkops_in(dir.path(), &["directory", "init", "--force"]);
    assert_eq!(replaced.code, 0, "{}", replaced.stderr);
}
