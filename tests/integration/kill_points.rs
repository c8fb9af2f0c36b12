//! Runs killed with SIGKILL at every phase of a chunk (planned, journaled,
//! half applied, applied), for additions, removals and device changes,
//! against the local directory and through Microsoft Graph, then resumed:
//! each ends exactly as the same run never interrupted (memberships, devices,
//! job counts, result file). And a resume never continues from something
//! other than what the run was planned from: a changed batch size is ignored
//! for the recorded one, an edited, re-sorted or grown input is refused.

use std::fmt::Write as _;
use std::path::Path;

use bulkops::store::JobStore;

use crate::emulator_support::{Emulator, SECRET_ENV};
use crate::support::{Held, bulkops_env, bulkops_in, membership_pairs};

/// Rows of each list: a few chunks of [`CHUNK`].
pub(crate) const ROWS: u64 = 1_200;
/// The batch size of the killed runs.
pub(crate) const CHUNK: &str = "250";

/// What the killed run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    Add,
    Remove,
    Disable,
}

impl Work {
    fn manifest(self, graph: bool) -> String {
        let directory = if graph { "emu" } else { "local" };
        let action = match self {
            Work::Add => {
                "importMembers:\n        group: { displayName: group-00000 }\n        input: list.csv"
            }
            Work::Remove => {
                "removeMembers:\n        group: { displayName: group-00000 }\n        input: list.csv"
            }
            Work::Disable => "disableDevices:\n        input: list.csv",
        };
        format!(
            "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: killed\nspec:\n  directory: {directory}\n  guards: {{ maxRemovals: 100000 }}\n  steps:\n    - id: work\n      {action}\n        results: results.csv\n"
        )
    }
}

/// A folder with a generated directory, the manifest and its list.
pub(crate) fn prepare(dir: &Path, work: Work, graph: bool) {
    let members = if work == Work::Remove { ROWS } else { 0 };
    let devices = if work == Work::Disable { ROWS } else { 0 };
    let generated = bulkops_in(
        dir,
        &[
            "directory",
            "generate",
            "--users",
            &ROWS.to_string(),
            "--groups",
            "1",
            "--devices",
            &devices.to_string(),
            "--members",
            &members.to_string(),
            "--seed",
            "5",
        ],
    );
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let list = if work == Work::Disable {
        device_list(dir)
    } else {
        member_list()
    };
    std::fs::write(dir.join("list.csv"), list).unwrap();
    std::fs::write(dir.join("m.yaml"), work.manifest(graph)).unwrap();
}

/// Every user, with bad rows, repeats and an unknown name mixed in.
fn member_list() -> String {
    let mut list = String::from("ObjectId\n");
    for user in 0..ROWS {
        let _ = writeln!(list, "user{user:07}@generated.example");
        if user % 300 == 7 {
            list.push_str("not-an-id\n");
            let _ = writeln!(list, "USER{user:07}@generated.example");
        }
    }
    list.push_str("nobody@generated.example\n");
    list
}

/// Every device's object id, from a download.
fn device_list(dir: &Path) -> String {
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: inventory\nspec:\n  steps:\n    - id: all\n      downloadDevices:\n        output: devices.csv\n";
    std::fs::write(dir.join("inventory.yaml"), manifest).unwrap();
    let run = bulkops_in(dir, &["apply", "inventory.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dir.join("devices.csv")).unwrap();
    std::fs::remove_file(dir.join("devices.csv")).unwrap();
    let mut list = String::from("Object ID\n");
    for line in text.lines().skip(1) {
        let _ = writeln!(list, "{}", line.split(',').next().unwrap());
    }
    list
}

/// What a run leaves that must not depend on whether it was interrupted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct End {
    memberships: Vec<(String, String)>,
    devices: Vec<(String, bool)>,
    pub(crate) job: (u64, u64, u64, u64, String),
    results: String,
}

fn end_of(dir: &Path) -> End {
    end_in(
        dir,
        &JobStore::open(&dir.join(".bulkops/state.db")).unwrap(),
    )
}

/// The end of the run in `dir` whose job history is `store`.
pub(crate) fn end_in(dir: &Path, store: &JobStore) -> End {
    let db = dir.join(".bulkops/directory.db");
    let devices = crate::support::device_states(&db);
    let jobs: Vec<_> = store
        .jobs()
        .unwrap()
        .into_iter()
        .filter(|job| job.workflow == "killed")
        .collect();
    assert_eq!(jobs.len(), 1, "one job: {jobs:?}");
    let job = &jobs[0];
    End {
        memberships: membership_pairs(&db),
        devices,
        job: (
            job.total,
            job.succeeded,
            job.failed,
            job.changed,
            job.status.key().to_owned(),
        ),
        results: std::fs::read_to_string(dir.join("results.csv")).unwrap_or_default(),
    }
}

/// The run id of the only run of workflow `killed`.
fn killed_run(dir: &Path) -> String {
    JobStore::open(&dir.join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()
        .into_iter()
        .find(|job| job.workflow == "killed")
        .expect("the killed run started a job")
        .run_id
}

/// Where the runs go, and the environment they need.
struct Target {
    emulator: Option<Emulator>,
}

impl Target {
    fn open(dir: &Path, graph: bool) -> Self {
        let emulator = graph.then(|| {
            let emulator = Emulator::start(&dir.join(".bulkops/directory.db"), &[]);
            emulator.write_profiles(dir, 1);
            emulator
        });
        Self { emulator }
    }

    fn env(&self, chunk: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut env = vec![("BULKOPS_CHUNK_ROWS", chunk)];
        if self.emulator.is_some() {
            env.push((SECRET_ENV, "emulated-secret"));
        }
        env
    }
}

/// The end of the run never interrupted.
pub(crate) fn uninterrupted(work: Work, graph: bool) -> End {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), work, graph);
    let target = Target::open(dir.path(), graph);
    let run = bulkops_env(dir.path(), &["apply", "m.yaml"], &target.env(CHUNK));
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    end_of(dir.path())
}

/// Kills the run at `point`, resumes it (with another batch size asked for,
/// which the resume must ignore), and returns its end.
fn killed_and_resumed(work: Work, graph: bool, point: &str) -> End {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), work, graph);
    let target = Target::open(dir.path(), graph);
    Held::start(dir.path(), &["apply", "m.yaml"], &target.env(CHUNK), point).kill();
    let run_id = killed_run(dir.path());
    let resumed = bulkops_env(
        dir.path(),
        &["apply", "--resume", &run_id],
        &target.env("7"),
    );
    assert!(
        resumed.code == 0 || resumed.code == 1,
        "{point}: {}\n{}",
        resumed.stdout,
        resumed.stderr
    );
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|entry| entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")),
        "the resume removed the temporary files of the killed run"
    );
    end_of(dir.path())
}

fn assert_every_phase(work: Work, graph: bool, points: &[&str]) {
    let whole = uninterrupted(work, graph);
    assert!(
        !whole.results.is_empty(),
        "the uninterrupted run wrote results"
    );
    for point in points {
        let resumed = killed_and_resumed(work, graph, point);
        assert!(
            resumed == whole,
            "{work:?} killed at {point} (graph: {graph}) ended differently:\n{:?}\nvs\n{:?}",
            resumed.job,
            whole.job
        );
    }
}

pub(crate) const EVERY_PHASE: [&str; 4] = [
    "before-journal:2",
    "after-journal:2",
    "mid-apply:2",
    "after-apply:2",
];

#[test]
fn additions_killed_at_every_phase_resume_to_the_same_end() {
    assert_every_phase(Work::Add, false, &EVERY_PHASE);
}

#[test]
fn removals_killed_at_every_phase_resume_to_the_same_end() {
    assert_every_phase(Work::Remove, false, &EVERY_PHASE);
}

#[test]
fn device_changes_killed_at_every_phase_resume_to_the_same_end() {
    assert_every_phase(Work::Disable, false, &EVERY_PHASE);
}

#[test]
fn graph_additions_and_removals_killed_at_every_phase_resume_to_the_same_end() {
    assert_every_phase(Work::Add, true, &EVERY_PHASE);
    assert_every_phase(Work::Remove, true, &["after-journal:1", "mid-apply:3"]);
}

#[test]
fn graph_device_changes_killed_mid_apply_resume_to_the_same_end() {
    assert_every_phase(Work::Disable, true, &["after-journal:1", "mid-apply:2"]);
}

/// The list as written by `edit`, after the run was killed: the resume
/// refuses, changes nothing, and once the list is back resumes to the end of
/// the uninterrupted run.
fn assert_resume_refuses(work: Work, point: &str, edit: impl Fn(&str) -> String) {
    let whole = uninterrupted(work, false);
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), work, false);
    let target = Target::open(dir.path(), false);
    Held::start(dir.path(), &["apply", "m.yaml"], &target.env(CHUNK), point).kill();
    let run_id = killed_run(dir.path());
    let original = std::fs::read_to_string(dir.path().join("list.csv")).unwrap();
    let before = membership_pairs(&dir.path().join(".bulkops/directory.db"));
    std::fs::write(dir.path().join("list.csv"), edit(&original)).unwrap();
    let refused = bulkops_env(dir.path(), &["apply", "--resume", &run_id], &[]);
    assert_eq!(refused.code, 64, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr_text().contains(&format!(
            "list.csv` changed since run `{run_id}` was planned from it"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(
        membership_pairs(&dir.path().join(".bulkops/directory.db")),
        before,
        "a refused resume changes nothing"
    );
    std::fs::write(dir.path().join("list.csv"), original).unwrap();
    let resumed = bulkops_env(dir.path(), &["apply", "--resume", &run_id], &[]);
    assert!(resumed.code == 0 || resumed.code == 1, "{}", resumed.stderr);
    assert!(
        end_of(dir.path()) == whole,
        "resumed to the uninterrupted end"
    );
}

fn resorted(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].sort_unstable();
    lines.join("\n") + "\n"
}

#[test]
fn a_resume_refuses_a_resorted_or_edited_input() {
    assert_resume_refuses(Work::Add, "after-apply:1", resorted);
    assert_resume_refuses(Work::Add, "mid-apply:2", |text| {
        text.replacen(
            "user0000003@generated.example",
            "user0000004@generated.example",
            1,
        )
    });
}

#[test]
fn a_resume_refuses_a_grown_removal_list() {
    assert_resume_refuses(Work::Remove, "after-journal:1", |text| {
        format!("{text}user0000001@generated.example\n")
    });
}

/// Kill moments that do not come from a kill point: after a random delay,
/// anywhere in the run (before it is recorded, while it is checked, while
/// it works). Every state a kill can leave must resume to the same end.
#[test]
fn runs_killed_at_random_moments_resume_to_the_same_end() {
    let whole = uninterrupted(Work::Add, false);
    let mut seed: u64 = 0x5eed_1234_abcd_0042;
    for round in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = std::time::Duration::from_millis(seed % 600);
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), Work::Add, false);
        let mut child = crate::support::command()
            .args(["apply", "m.yaml"])
            .current_dir(dir.path())
            .env("BULKOPS_CHUNK_ROWS", CHUNK)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let run_id = JobStore::open(&dir.path().join(".bulkops/state.db"))
            .ok()
            .and_then(|store| store.jobs().ok())
            .and_then(|jobs| jobs.into_iter().find(|job| job.workflow == "killed"))
            .map(|job| job.run_id);
        let finished = match run_id {
            // Killed before the run's first job: run it again from the start.
            None => bulkops_env(
                dir.path(),
                &["apply", "m.yaml"],
                &[("BULKOPS_CHUNK_ROWS", CHUNK)],
            ),
            Some(run_id) => bulkops_env(dir.path(), &["apply", "--resume", &run_id], &[]),
        };
        // A run that had finished before the kill is complete already (64).
        assert!(
            [0, 1, 64].contains(&finished.code),
            "round {round} ({delay:?}): {}",
            finished.stderr
        );
        assert!(
            end_of(dir.path()) == whole,
            "round {round}: killed after {delay:?}, the run ended differently"
        );
    }
}

#[test]
fn an_input_rewritten_in_place_during_the_run_changes_nothing_it_applies() {
    let whole = uninterrupted(Work::Add, false);
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), Work::Add, false);
    let target = Target::open(dir.path(), false);
    let held = Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &target.env(CHUNK),
        "after-apply:1",
    );
    // The same file, rewritten where it is: other rows, same name and inode.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.path().join("list.csv"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"ObjectId\nsomebody.else@generated.example\n").unwrap();
    drop(file);
    held.release();
    let (code, stderr) = held.finish();
    assert!(code == 0 || code == 1, "{stderr}");
    assert!(
        end_of(dir.path()) == whole,
        "the rows applied are the rows checked"
    );
}

#[test]
fn a_resume_goes_to_the_directory_the_run_started_with() {
    let whole = uninterrupted(Work::Add, false);
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), Work::Add, false);
    let target = Target::open(dir.path(), false);
    Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &target.env(CHUNK),
        "after-apply:1",
    )
    .kill();
    let run_id = killed_run(dir.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let state = dir.path().join(".bulkops/state.db");
    let other_db = elsewhere.path().join("other.db");
    let refused = bulkops_in(
        elsewhere.path(),
        &[
            "apply",
            "--resume",
            &run_id,
            "--state",
            state.to_str().unwrap(),
            "--db",
            other_db.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(
        refused
            .stderr_text()
            .contains(&format!("run `{run_id}` was planned against ")),
        "{}",
        refused.stderr
    );
    assert!(!other_db.exists(), "no directory was made for it");
    // From another folder, without `--db`: the recorded directory.
    let resumed = bulkops_in(
        elsewhere.path(),
        &[
            "apply",
            "--resume",
            &run_id,
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert!(resumed.code == 0 || resumed.code == 1, "{}", resumed.stderr);
    assert!(
        !elsewhere.path().join(".bulkops").exists(),
        "nothing made in the other folder"
    );
    assert!(end_of(dir.path()) == whole);
}

#[test]
fn a_resume_refuses_a_limit_below_what_its_journal_planned() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), Work::Remove, false);
    let target = Target::open(dir.path(), false);
    let before = membership_pairs(&dir.path().join(".bulkops/directory.db"));
    Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &target.env(CHUNK),
        "after-journal:1",
    )
    .kill();
    let run_id = killed_run(dir.path());
    let refused = bulkops_in(
        dir.path(),
        &["apply", "--resume", &run_id, "--allow-removals", "10"],
    );
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr_text()
            .contains("cannot be resumed within this limit"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        membership_pairs(&dir.path().join(".bulkops/directory.db")),
        before,
        "nothing was removed"
    );
}
