//! A large import killed with SIGKILL in the middle and then resumed ends in
//! exactly the directory state, job records and result file of a run that was
//! never interrupted, with no row applied twice.

use std::fmt::Write as _;
use std::path::Path;

use bulkops::directory::local::LocalDirectory;
use bulkops::store::JobStore;

use crate::support::{Held, bulkops_env, bulkops_in};

pub(crate) const USERS: u64 = 23_000;

const MANIFEST: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: big-import
spec:
  steps:
    - id: import
      importMembers:
        group: { displayName: group-00000 }
        input: members.csv
        results: results.csv
";

pub(crate) fn prepare(dir: &Path) {
    let args = [
        "directory",
        "generate",
        "--users",
        "23000",
        "--groups",
        "1",
        "--devices",
        "0",
        "--members",
        "0",
        "--seed",
        "5",
    ];
    assert_eq!(bulkops_in(dir, &args).code, 0);
    std::fs::write(dir.join("m.yaml"), MANIFEST).unwrap();
    let mut list =
        String::from("Member object ID or user principal name [memberObjectIdOrUpn] Required\n");
    for user in 0..USERS {
        let _ = writeln!(list, "user{user:07}@generated.example");
        if user % 1_000 == 7 {
            list.push_str("not-an-id\n");
            let _ = writeln!(list, "USER{user:07}@generated.example");
        }
    }
    list.push_str("nobody@generated.example\n");
    std::fs::write(dir.join("members.csv"), list).unwrap();
}

pub(crate) fn group_members(dir: &Path) -> u64 {
    let directory = LocalDirectory::open(&dir.join(".bulkops/directory.db")).unwrap();
    let group = directory.groups().unwrap().remove(0);
    directory.member_count(&group.id).unwrap()
}

pub(crate) fn job_counts(dir: &Path) -> (u64, u64, u64, u64, String) {
    let job = JobStore::open(&dir.join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()
        .remove(0);
    (
        job.total,
        job.succeeded,
        job.failed,
        job.changed,
        job.status.key().to_owned(),
    )
}

/// Starts the import and kills it with SIGKILL once `chunks` batches of
/// 5,000 rows are journaled as applied: at a kill point, not after a time.
pub(crate) fn kill_after_chunks(dir: &Path, chunks: u32, env: &[(&str, &str)]) {
    let mut all = env.to_vec();
    all.push(("BULKOPS_CHUNK_ROWS", "5000"));
    Held::start(
        dir,
        &["apply", "m.yaml"],
        &all,
        &format!("after-apply:{chunks}"),
    )
    .kill();
}

#[test]
fn a_killed_import_resumes_to_the_same_end() {
    let whole = tempfile::tempdir().unwrap();
    prepare(whole.path());
    let uninterrupted = bulkops_env(
        whole.path(),
        &["apply", "m.yaml"],
        &[("BULKOPS_CHUNK_ROWS", "5000")],
    );
    assert_eq!(
        uninterrupted.code, 1,
        "the list has bad rows: {}",
        uninterrupted.stderr
    );

    let broken = tempfile::tempdir().unwrap();
    prepare(broken.path());
    kill_after_chunks(broken.path(), 2, &[]);
    assert!(
        !broken.path().join("results.csv").exists(),
        "no result file from the killed run"
    );
    let partial = group_members(broken.path());
    assert!(
        partial > 0 && partial < USERS,
        "killed in the middle: {partial} members"
    );

    let run_id = JobStore::open(&broken.path().join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()[0]
        .run_id
        .clone();
    let resumed = bulkops_env(
        broken.path(),
        &["apply", "--resume", &run_id],
        &[("BULKOPS_CHUNK_ROWS", "5000")],
    );
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    assert!(
        resumed
            .stdout
            .contains(&format!("run {run_id} of workflow `big-import`: failed")),
        "{}",
        resumed.stdout
    );

    assert_eq!(group_members(broken.path()), USERS);
    assert_eq!(group_members(whole.path()), USERS);
    assert_eq!(job_counts(broken.path()), job_counts(whole.path()));
    let expected = (
        USERS + 2 * 23 + 1,
        USERS + 23,
        23 + 1,
        USERS,
        "failed".to_owned(),
    );
    assert_eq!(job_counts(whole.path()), expected);
    let resumed_results = std::fs::read(broken.path().join("results.csv")).unwrap();
    let whole_results = std::fs::read(whole.path().join("results.csv")).unwrap();
    assert!(resumed_results == whole_results, "the result files differ");
}

#[test]
fn ctrl_c_twice_stops_at_once_and_resume_finishes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());
    let held = Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &[("BULKOPS_CHUNK_ROWS", "5000")],
        "after-apply:1",
    );
    held.interrupt();
    held.wait_for(
        "stopping: no step starts from now on; waiting for 1 running step to finish (import); press Ctrl-C again to stop at once",
    );
    held.interrupt();
    let (code, stderr) = held.finish();
    assert_eq!(code, 130, "{stderr}");
    let hint = stderr
        .lines()
        .find(|line| line.contains("stopped; finish the run with `bulkops apply --resume "))
        .unwrap_or_else(|| panic!("a resume hint in {stderr}"));
    let run_id = hint
        .rsplit("--resume ")
        .next()
        .unwrap()
        .trim_end_matches('`')
        .to_owned();
    let listed = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(
        jobs[0]["status"], "interrupted",
        "a job of a run stopped at once is shown as interrupted, not running"
    );

    let resumed = bulkops_env(
        dir.path(),
        &["apply", "--resume", &run_id],
        &[("BULKOPS_CHUNK_ROWS", "5000")],
    );
    assert!(
        resumed
            .stdout
            .contains(&format!("run {run_id} of workflow `big-import`: failed")),
        "{}",
        resumed.stdout
    );
    assert_eq!(group_members(dir.path()), USERS);
    let expected = (
        USERS + 2 * 23 + 1,
        USERS + 23,
        23 + 1,
        USERS,
        "failed".to_owned(),
    );
    assert_eq!(job_counts(dir.path()), expected);
}
