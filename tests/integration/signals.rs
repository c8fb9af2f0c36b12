//! Ctrl-C and closed outputs: a stop asked for at any moment before a step
//! starts means the step never starts, the run ends cancelled (exit 130) and
//! can be resumed, which does only what is left; a closed stdout or stderr
//! never ends a run.

use std::path::Path;

use bulkops::store::{JobStore, Status};

use crate::support::{Held, bulkops_in, membership_pairs};

const TWO_STEPS: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: two-steps
spec:
  steps:
    - id: add
      importMembers:
        group: { displayName: eng-web }
        input: add.csv
        results: add-results.csv
    - id: snapshot
      needs: [add]
      downloadGroups:
        output: groups.csv
";

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), TWO_STEPS).unwrap();
    std::fs::write(
        dir.path().join("add.csv"),
        "allan.moreau@contoso.example\npradeep.murphy@contoso.example\n",
    )
    .unwrap();
    dir
}

fn pairs(dir: &Path) -> Vec<(String, String)> {
    membership_pairs(&dir.join(".bulkops/directory.db"))
}

fn only_run(dir: &Path) -> bulkops::store::RunRecord {
    let store = JobStore::open(&dir.join(".bulkops/state.db")).unwrap();
    let summary = bulkops_in(dir, &["jobs", "list", "--format", "json"]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    let connection = rusqlite::Connection::open(dir.join(".bulkops/state.db")).unwrap();
    let id: String = connection
        .query_row("SELECT id FROM runs", [], |row| row.get(0))
        .expect("one run");
    store.run(&id).unwrap()
}

#[test]
fn ctrl_c_while_the_run_is_checked_starts_no_step_and_the_run_can_be_resumed() {
    let dir = folder();
    // The directory as it is before anything runs, for comparison.
    let fresh = tempfile::tempdir().unwrap();
    bulkops_in(fresh.path(), &["directory", "stats"]);
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &[], "check:1");
    held.interrupt();
    held.wait_for("stopping: no step starts from now on");
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 130, "{stderr}");
    assert_eq!(pairs(dir.path()), pairs(fresh.path()), "nothing changed");
    assert!(!dir.path().join("add-results.csv").exists());
    assert!(!dir.path().join("groups.csv").exists());
    let run = only_run(dir.path());
    assert_eq!(run.status, Status::Cancelled);
    let resumed = bulkops_in(dir.path(), &["apply", "--resume", &run.id]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(dir.path().join("add-results.csv").exists());
    assert!(dir.path().join("groups.csv").exists());
}

#[test]
fn the_first_ctrl_c_lets_the_running_step_finish_and_starts_no_other() {
    let dir = folder();
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &[], "after-apply:1");
    held.interrupt();
    held.wait_for("stopping: no step starts from now on");
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 130, "{stderr}");
    let results = std::fs::read_to_string(dir.path().join("add-results.csv")).unwrap();
    assert_eq!(
        results,
        "memberObjectIdOrUpn,line,status,error\nallan.moreau@contoso.example,1,added,\npradeep.murphy@contoso.example,2,added,\n",
        "the running step finished"
    );
    assert!(
        !dir.path().join("groups.csv").exists(),
        "the step after it never started"
    );
    let run = only_run(dir.path());
    assert_eq!(run.status, Status::Cancelled);

    let resumed = bulkops_in(dir.path(), &["apply", "--resume", &run.id]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(
        resumed
            .stdout
            .contains("add                      importMembers    finished (before the resume)"),
        "{}",
        resumed.stdout
    );
    assert!(dir.path().join("groups.csv").exists());
    assert!(
        !dir.path().join("add-results-1.csv").exists(),
        "the finished step was not done again"
    );
    let again = bulkops_in(dir.path(), &["apply", "--resume", &run.id]);
    assert_eq!(
        again.code, 64,
        "a completed run is not resumed: {}",
        again.stderr
    );
    assert!(
        again.stderr.contains("has already completed"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_resume_of_a_run_another_process_executes_is_refused() {
    let dir = folder();
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &[], "after-apply:1");
    let run = only_run(dir.path());
    assert_eq!(run.status, Status::Running);
    let second = bulkops_in(dir.path(), &["apply", "--resume", &run.id]);
    assert_eq!(second.code, 64, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "run `{}` is being executed by another bulkops process",
            run.id
        )),
        "{}",
        second.stderr
    );
    held.kill();
    assert_eq!(only_run(dir.path()).status, Status::Interrupted);
    let resumed = bulkops_in(dir.path(), &["apply", "--resume", &run.id]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let unknown = bulkops_in(dir.path(), &["apply", "--resume", "20200101-000000-dead"]);
    assert_eq!(unknown.code, 64, "{}", unknown.stderr);
}

#[test]
fn closed_outputs_never_end_a_run() {
    use std::process::Stdio;
    let dir = folder();
    // Both pipes are closed before bulkops writes a byte, as `| head -0` does.
    let mut child = crate::support::command()
        .args(["apply", "m.yaml"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(74),
        "the run completes; only its summary could not be written"
    );
    let run = only_run(dir.path());
    assert_eq!(run.status, Status::Completed);
    assert!(dir.path().join("groups.csv").exists());
}
