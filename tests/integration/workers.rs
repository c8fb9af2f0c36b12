//! `bulkops submit` and `bulkops worker` on a PostgreSQL store (a scratch
//! database of the test server): a worker killed (SIGKILL) in the middle of a
//! 200,000-row import is replaced by another once its lease runs out, and
//! the run ends exactly as one never interrupted (memberships, counts,
//! result file); a worker paused (SIGSTOP) until another took its run over
//! writes nothing when it wakes; runs are taken once each and tenants in
//! turn; SIGTERM drains a worker.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Child;

use bulkops::store::testing::{ScratchDatabase, scratch_database};
use bulkops::store::{Create, JobStore, Status};

use crate::emulator_support::{Emulator, SECRET_ENV};
use crate::support::{Held, bulkops_env, command, generate_users, membership_pairs, wait_until};
use crate::watch_support::PATIENCE;

/// A workflow that downloads the groups to a file of its run's own.
const REPORT: &str = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: report\nspec:\n  steps:\n    - id: groups\n      downloadGroups:\n        output: \"groups-{{run.id}}.csv\"\n";

/// A folder with `users` generated users, one empty group, a list of them
/// all and a manifest that imports it.
fn import_folder(users: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate_users(dir.path(), users, &[]);
    let mut list = String::from("ObjectId\n");
    for user in 0..users {
        let _ = writeln!(list, "user{user:07}@generated.example");
    }
    list.push_str("nobody@generated.example\nnot-an-id\n");
    std::fs::write(dir.path().join("list.csv"), list).unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: big\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: group-00000 }\n        input: list.csv\n        results: results.csv\n",
    )
    .unwrap();
    dir
}

/// A copy of a prepared folder (its directory, list and manifest).
fn copy_of(prepared: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".bulkops")).unwrap();
    for file in ["list.csv", "m.yaml", ".bulkops/directory.db"] {
        std::fs::copy(prepared.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

/// What a run leaves that must not depend on who ran it.
#[derive(Debug, PartialEq, Eq)]
struct End {
    memberships: Vec<(String, String)>,
    job: (u64, u64, u64, u64, Status),
    results: String,
}

fn end_of(dir: &Path, store: &JobStore) -> End {
    let jobs = store.jobs().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    End {
        memberships: membership_pairs(&dir.join(".bulkops/directory.db")),
        job: (
            job.total,
            job.succeeded,
            job.failed,
            job.changed,
            job.status,
        ),
        results: std::fs::read_to_string(dir.join("results.csv")).unwrap(),
    }
}

/// Submits `m.yaml` in `dir`; returns the run id.
fn submit(dir: &Path, database: &ScratchDatabase) -> String {
    let submitted = bulkops_env(
        dir,
        &["submit", "m.yaml"],
        &[("BULKOPS_STATE_URL", database.url.as_str())],
    );
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    submitted
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("queued run "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a queued run")
        .to_owned()
}

/// A worker process, its log in a file.
pub(crate) struct Worker {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Worker {
    pub(crate) fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = command()
            .arg("worker")
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// SIGTERM, then the exit code and log.
    fn drain(mut self) -> (i32, String) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.log())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker that takes the run, holds at `point`, gets `meanwhile` done,
/// then SIGTERM: it drains and ends (exit 0). Its log.
fn drained_at(dir: &Path, env: &[(&str, &str)], point: &str, meanwhile: impl FnOnce()) -> String {
    let worker = Held::start(dir, &["worker", "--poll", "100ms"], env, point);
    meanwhile();
    worker.signal("TERM");
    worker.wait_for("stopping: no more runs are taken");
    worker.release();
    let (code, log) = worker.finish();
    assert_eq!(code, 0, "{log}");
    log
}

/// Waits until the run ended; its status.
fn wait_for_end(store: &JobStore, run_id: &str) -> Status {
    let ended = |status: &Status| {
        matches!(
            status,
            Status::Completed | Status::Failed | Status::Cancelled
        )
    };
    wait_until(&format!("run {run_id} to end"), PATIENCE, || {
        store.run(run_id).is_ok_and(|run| ended(&run.status))
    });
    store.run(run_id).unwrap().status
}

#[test]
fn a_worker_killed_mid_import_is_replaced_and_the_run_ends_as_one_never_interrupted() {
    let prepared = import_folder(200_000);
    let reference = copy_of(prepared.path());
    let whole = bulkops_env(
        reference.path(),
        &["apply", "m.yaml"],
        &[("BULKOPS_CHUNK_ROWS", "10000")],
    );
    assert_eq!(whole.code, 1, "two bad rows fail the job: {}", whole.stderr);
    let reference_store = JobStore::open(&reference.path().join(".bulkops/state.db")).unwrap();
    let whole = end_of(reference.path(), &reference_store);
    assert_eq!(whole.job.0, 200_002);

    let dir = copy_of(prepared.path());
    let database = scratch_database();
    let run_id = submit(dir.path(), &database);
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_CHUNK_ROWS", "10000"),
    ];
    let worker_args = ["worker", "--lease", "2s", "--poll", "100ms"];
    // The first worker takes the run and is killed after its ninth chunk
    // was journaled and before it was applied.
    let first = Held::start(dir.path(), &worker_args, &env, "after-journal:9");
    let others: Vec<Worker> = (0..2)
        .map(|_| Worker::start(dir.path(), &env, &worker_args[1..]))
        .collect();
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    let killed = first.id();
    first.kill();
    assert_eq!(
        wait_for_end(&store, &run_id),
        Status::Failed,
        "the two bad rows fail it, as they did the uninterrupted run"
    );
    assert_eq!(
        end_of(dir.path(), &store),
        whole,
        "the same end as one uninterrupted run"
    );
    let owner = store.owner_of(&run_id).unwrap().unwrap();
    assert!(!owner.contains(&format!(":{killed}:")), "{owner}");
    let mut logs = String::new();
    for worker in others {
        let (code, log) = worker.drain();
        assert_eq!(code, 0, "{log}");
        logs.push_str(&log);
    }
    assert_eq!(
        logs.matches("took run").count(),
        1,
        "one worker took it over: {logs}"
    );
    assert!(logs.contains("fresh=false"), "and resumed it: {logs}");
}

#[test]
fn a_paused_worker_woken_after_a_takeover_writes_nothing() {
    let dir = import_folder(20_000);
    let database = scratch_database();
    let run_id = submit(dir.path(), &database);
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_CHUNK_ROWS", "2000"),
    ];
    let first = Held::start(
        dir.path(),
        &[
            "worker",
            "--lease",
            "1s",
            "--poll",
            "100ms",
            "--max-runs",
            "1",
        ],
        &env,
        "after-journal:4",
    );
    first.signal("STOP");
    let second = Worker::start(dir.path(), &env, &["--lease", "1s", "--poll", "100ms"]);
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    assert_eq!(wait_for_end(&store, &run_id), Status::Failed);
    let job = store.jobs().unwrap().remove(0);
    let snapshot = |store: &JobStore| {
        let results = dir.path().join("results.csv");
        (
            store.chunks(&job.id).unwrap(),
            store.job(&job.id).unwrap(),
            store.run(&run_id).unwrap(),
            std::fs::read(&results).unwrap(),
            std::fs::metadata(&results).unwrap().modified().unwrap(),
            membership_pairs(&dir.path().join(".bulkops/directory.db")),
        )
    };
    let after_takeover = snapshot(&store);
    first.signal("CONT");
    first.release();
    let (code, log) = first.finish();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("another worker took the run over; this one wrote nothing more"),
        "{log}"
    );
    assert!(
        snapshot(&store) == after_takeover,
        "the woken worker wrote nothing"
    );
    let (code, log) = second.drain();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn queued_runs_are_taken_once_each_tenants_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("tenant.db");
    let made = bulkops_env(
        dir.path(),
        &["directory", "init", "--db", demo.to_str().unwrap()],
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let emulator = Emulator::start(&demo, &[]);
    let url = emulator.url();
    let profile = |name: &str| {
        format!(
            "  {name}:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   secret: {{ env: {SECRET_ENV} }}\n    loginUrl: {url}\n    graphUrl: {url}\n"
        )
    };
    std::fs::write(
        dir.path().join("bulkops.yaml"),
        format!("profiles:\n{}{}", profile("t2"), profile("t3")),
    )
    .unwrap();
    let database = scratch_database();
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        (SECRET_ENV, "emulated-secret"),
    ];
    let manifest = |name: &str| {
        format!(
            "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: {name}\nspec:\n  steps:\n    - id: groups\n      downloadGroups:\n        output: {name}-{{{{run.id}}}}.csv\n"
        )
    };
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    for name in ["a1", "a2", "a3"] {
        std::fs::write(dir.path().join(format!("m/{name}.yaml")), manifest(name)).unwrap();
    }
    // Three runs for the local directory, then one for each of two tenants.
    let first = bulkops_env(dir.path(), &["submit", "m"], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.stdout.matches("queued run").count(),
        3,
        "{}",
        first.stdout
    );
    std::fs::write(dir.path().join("b.yaml"), manifest("b")).unwrap();
    let second = bulkops_env(
        dir.path(),
        &["submit", "b.yaml", "--profile", "t2", "--profile", "t3"],
        &env,
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        second.stdout.matches("queued run").count(),
        2,
        "{}",
        second.stdout
    );
    let worked = bulkops_env(
        dir.path(),
        &["worker", "--max-runs", "5", "--poll", "100ms"],
        &env,
    );
    assert_eq!(worked.code, 0, "{}", worked.stderr);
    assert!(
        worked.stdout.contains("took 5 runs: 5 completed"),
        "{}\n{}",
        worked.stdout,
        worked.stderr
    );
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    let mut runs = store.runs().unwrap();
    assert!(
        runs.iter().all(|run| run.status == Status::Completed),
        "{runs:?}"
    );
    runs.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    let mut order: Vec<&str> = runs.iter().map(|run| run.directory.as_str()).collect();
    // The two tenants submitted together go in either order.
    order[1..3].sort_unstable();
    assert_eq!(
        order,
        ["local", "t2", "t3", "local", "local"],
        "each tenant gets a turn before one gets a second"
    );
}

/// An import of `users` users followed by a download, submitted: its
/// folder, database and run id.
fn two_steps_submitted(users: u64) -> (tempfile::TempDir, ScratchDatabase, String) {
    let dir = import_folder(users);
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: big\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: group-00000 }\n        input: list.csv\n        results: results.csv\n    - id: export\n      needs: [add]\n      downloadGroups:\n        output: groups.csv\n",
    )
    .unwrap();
    let database = scratch_database();
    let run_id = submit(dir.path(), &database);
    (dir, database, run_id)
}

#[test]
fn a_drained_worker_hands_its_run_back_and_another_finishes_it() {
    let (dir, database, run_id) = two_steps_submitted(20_000);
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_CHUNK_ROWS", "2000"),
    ];
    let log = drained_at(dir.path(), &env, "after-apply:3", || {});
    assert!(log.contains("handed_back=1"), "{log}");
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    assert_eq!(
        store.run(&run_id).unwrap().status,
        Status::Cancelled,
        "the running step finished, the next never started"
    );
    assert!(!dir.path().join("groups.csv").exists());
    // Handed back: the next worker takes it at once, without waiting for a lease.
    let second = bulkops_env(
        dir.path(),
        &["worker", "--max-runs", "1", "--poll", "100ms"],
        &env,
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stdout.contains("took 1 runs: 0 completed, 1 failed"),
        "the two bad rows fail the run: {}",
        second.stdout
    );
    assert!(second.stderr.contains("fresh=false"), "{}", second.stderr);
    assert!(dir.path().join("groups.csv").exists());
    let job = store
        .jobs()
        .unwrap()
        .into_iter()
        .find(|job| job.step == "add")
        .unwrap();
    assert_eq!((job.total, job.failed), (20_002, 2));
}

#[test]
fn runs_submitted_together_are_listed_together() {
    let dir = tempfile::tempdir().unwrap();
    let database = scratch_database();
    let env = [("BULKOPS_STATE_URL", database.url.as_str())];
    std::fs::create_dir_all(dir.path().join("two")).unwrap();
    for name in ["first", "second"] {
        std::fs::write(
            dir.path().join(format!("two/{name}.yaml")),
            REPORT.replace("name: report", &format!("name: {name}")),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("m.yaml"), REPORT).unwrap();
    let group_of = |stdout: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("group "))
            .and_then(|rest| rest.split(':').next())
            .expect("a group line")
            .to_owned()
    };
    let first = bulkops_env(dir.path(), &["submit", "two"], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.ends_with(": 2 runs for workers\n"),
        "{}",
        first.stdout
    );
    let other = bulkops_env(dir.path(), &["submit", "m.yaml"], &env);
    assert_eq!(other.code, 0, "{}", other.stderr);
    let group = group_of(&first.stdout);
    let queued = bulkops_env(
        dir.path(),
        &["runs", "list", "--group", &group, "--status", "queued"],
        &env,
    );
    assert_eq!(queued.code, 0, "{}", queued.stderr);
    assert_eq!(
        queued.stdout.lines().count(),
        3,
        "a header and the group's two runs: {}",
        queued.stdout
    );
    let worked = bulkops_env(
        dir.path(),
        &["worker", "--max-runs", "3", "--poll", "100ms"],
        &env,
    );
    assert!(
        worked.stdout.contains("took 3 runs: 3 completed"),
        "{}\n{}",
        worked.stdout,
        worked.stderr
    );
    let jobs = bulkops_env(
        dir.path(),
        &["jobs", "list", "--group", &group, "--format", "json"],
        &env,
    );
    assert_eq!(jobs.code, 0, "{}", jobs.stderr);
    let jobs: serde_json::Value = serde_json::from_str(&jobs.stdout).unwrap();
    assert_eq!(
        jobs.as_array().unwrap().len(),
        2,
        "one job for each run of the group"
    );
    let unknown = bulkops_env(dir.path(), &["jobs", "list", "--group", "g-nothing"], &env);
    assert_eq!(unknown.code, 64, "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("no runs were submitted as group `g-nothing`"),
        "{}",
        unknown.stderr
    );
}

/// SQL on the test database through `psql`; its one value.
fn psql(database: &ScratchDatabase, sql: &str) -> String {
    let output = std::process::Command::new("psql")
        .args([database.url.as_str(), "-tAc", sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn many_runs_submitted_at_once_are_all_queued_under_distinct_ids() {
    let dir = tempfile::tempdir().unwrap();
    let database = scratch_database();
    std::fs::write(dir.path().join("m.yaml"), REPORT).unwrap();
    // Ids drawn in one second share their time part: 400 runs meet ids
    // taken already, which are drawn again. One run for each of 400
    // tenants (never signed in to: the runs are only queued).
    let mut profiles = String::from("profiles:\n");
    for tenant in 0..400 {
        let _ = write!(
            profiles,
            "  p{tenant}:\n    tenant: t{tenant}.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n    secret: {{ env: {SECRET_ENV} }}\n    loginUrl: http://127.0.0.1:9\n    graphUrl: http://127.0.0.1:9\n"
        );
    }
    std::fs::write(dir.path().join("bulkops.yaml"), profiles).unwrap();
    let names: Vec<String> = (0..400).map(|tenant| format!("p{tenant}")).collect();
    let mut args = vec!["submit", "m.yaml"];
    for name in &names {
        args.extend(["--profile", name.as_str()]);
    }
    let submitted = bulkops_env(
        dir.path(),
        &args,
        &[("BULKOPS_STATE_URL", database.url.as_str())],
    );
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    let mut ids: Vec<&str> = submitted
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("queued run "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(ids.len(), 400);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 400, "every id printed once");
    assert_eq!(
        psql(
            &database,
            "select count(*) from runs where status = 'queued'"
        ),
        "400"
    );
}

#[test]
fn a_run_with_unreadable_settings_is_given_up_and_the_worker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let database = scratch_database();
    let env = [("BULKOPS_STATE_URL", database.url.as_str())];
    std::fs::write(dir.path().join("m.yaml"), REPORT).unwrap();
    let broken = submit(dir.path(), &database);
    let sound = submit(dir.path(), &database);
    psql(
        &database,
        &format!("update runs set submitted = 'not json' where id = '{broken}'"),
    );
    let worked = bulkops_env(
        dir.path(),
        &["worker", "--max-runs", "2", "--poll", "100ms"],
        &env,
    );
    assert_eq!(worked.code, 0, "{}", worked.stderr);
    assert!(
        worked
            .stdout
            .contains("took 2 runs: 1 completed, 0 failed, 0 cancelled, 0 handed back, 1 given up"),
        "{}",
        worked.stdout
    );
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    let run = store.run(&broken).unwrap();
    assert_eq!(run.status, Status::Failed);
    assert!(
        run.reason
            .unwrap()
            .contains("submitted settings cannot be read")
    );
    assert_eq!(store.run(&sound).unwrap().status, Status::Completed);
}

#[test]
fn a_cancel_asked_while_a_run_has_no_live_worker_holds_when_another_takes_it() {
    let (dir, database, run_id) = two_steps_submitted(4_000);
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_CHUNK_ROWS", "500"),
    ];
    let first = Held::start(
        dir.path(),
        &["worker", "--lease", "1s", "--poll", "100ms"],
        &env,
        "after-journal:2",
    );
    // The worker's own lease length from the start, not the store's default.
    let left: i64 = psql(
        &database,
        "select lease_until - (extract(epoch from clock_timestamp()) * 1000)::bigint from runs",
    )
    .parse()
    .unwrap();
    assert!(
        left <= 1_000,
        "the first lease lasts the worker's --lease: {left} ms left"
    );
    first.kill();
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    assert!(
        store
            .request_cancel(&run_id, jiff::Timestamp::now())
            .unwrap()
    );
    let second = bulkops_env(
        dir.path(),
        &["worker", "--max-runs", "1", "--poll", "100ms"],
        &env,
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second
            .stdout
            .contains("took 1 runs: 0 completed, 0 failed, 1 cancelled"),
        "{}",
        second.stdout
    );
    let run = store.run(&run_id).unwrap();
    assert_eq!(run.status, Status::Cancelled);
    assert_eq!(
        run.reason.as_deref(),
        Some("cancelled: 2 steps stopped or never started"),
        "the import was stopped mid-way, the download never started"
    );
    assert!(
        !dir.path().join("groups.csv").exists(),
        "no step started after the cancel"
    );
    assert_eq!(
        psql(&database, "select queue from runs"),
        "done",
        "no worker takes it again"
    );
}

#[test]
fn a_queued_run_cancelled_before_a_worker_took_it_is_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let database = scratch_database();
    let env = [("BULKOPS_STATE_URL", database.url.as_str())];
    std::fs::write(dir.path().join("m.yaml"), REPORT).unwrap();
    let withdrawn = submit(dir.path(), &database);
    let kept = submit(dir.path(), &database);
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    assert!(
        store
            .request_cancel(&withdrawn, jiff::Timestamp::now())
            .unwrap()
    );
    let run = store.run(&withdrawn).unwrap();
    assert_eq!(
        (run.status, run.reason.as_deref()),
        (
            Status::Cancelled,
            Some("cancelled before a worker started it")
        )
    );
    let worked = bulkops_env(
        dir.path(),
        &["worker", "--max-runs", "1", "--poll", "100ms"],
        &env,
    );
    assert!(
        worked.stdout.contains("took 1 runs: 1 completed"),
        "{}",
        worked.stdout
    );
    assert!(
        worked.stderr.contains(&format!("took run run={kept}")),
        "{}",
        worked.stderr
    );
    assert_eq!(store.run(&withdrawn).unwrap().status, Status::Cancelled);
    assert!(!dir.path().join(format!("groups-{withdrawn}.csv")).exists());
}

#[test]
fn a_handed_back_run_whose_jobs_are_abandoned_leaves_the_queue() {
    let (dir, database, run_id) = two_steps_submitted(4_000);
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_CHUNK_ROWS", "500"),
    ];
    drained_at(dir.path(), &env, "after-apply:2", || {});
    assert_eq!(psql(&database, "select queue from runs"), "resume");
    let abandoned = bulkops_env(
        dir.path(),
        &[
            "jobs",
            "delete",
            "--run",
            &run_id,
            "--abandon",
            "--yes",
            "--keep-files",
        ],
        &env,
    );
    assert_eq!(abandoned.code, 0, "{}", abandoned.stderr);
    assert_eq!(
        psql(&database, "select queue from runs"),
        "done",
        "no worker takes it again"
    );
}

#[test]
fn a_run_cancelled_while_its_worker_stops_is_not_handed_back() {
    let (dir, database, run_id) = two_steps_submitted(4_000);
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_CHUNK_ROWS", "500"),
    ];
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    drained_at(dir.path(), &env, "after-journal:2", || {
        assert!(
            store
                .request_cancel(&run_id, jiff::Timestamp::now())
                .unwrap()
        );
    });
    assert_eq!(store.run(&run_id).unwrap().status, Status::Cancelled);
    assert_eq!(
        psql(&database, "select queue from runs"),
        "done",
        "a person's cancel holds"
    );
}
