//! The job store on PostgreSQL (`--state postgres://…`, `BULKOPS_STATE_URL`),
//! each test on a scratch database of the test server: the quickstart ends
//! as on SQLite; `jobs`, `runs` and `serve` read it; runs killed at every
//! phase resume to the same end once their lease ran out; a run another
//! process holds is not taken; a watch service runs each file once; and the
//! URL's password never shows.

use std::path::{Path, PathBuf};

use bulkops::store::testing::{ScratchDatabase, scratch_database};
use bulkops::store::{Create, JobStore, Status};

use crate::apply::{quickstart_dir, run_id};
use crate::kill_points::{CHUNK, EVERY_PHASE, End, Work, end_in, prepare, uninterrupted};
use crate::support::{Held, bulkops_env, generate_users, membership_pairs, wait_until};
use crate::watch_support::{PATIENCE, Service, member_file, names_in, project};
use crate::web_support::Served;

const PASSWORD: &str = "s3cret-never-shown";

/// The database's URL with a password in it (the test server trusts
/// loopback, so any password signs in).
fn with_password(database: &ScratchDatabase) -> String {
    database
        .url
        .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1)
}

fn store_of(database: &ScratchDatabase) -> JobStore {
    JobStore::open_at(&database.location(), Create::Never).unwrap()
}

/// The one result file below `results/` of a quickstart folder.
fn import_results(dir: &Path) -> String {
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    std::fs::read_to_string(runs[0].join("add-new-hires-eng-platform.csv")).unwrap()
}

#[test]
fn the_quickstart_on_postgres_ends_as_on_sqlite_and_every_command_reads_it() {
    let on_sqlite = quickstart_dir();
    let sqlite_run = bulkops_env(
        on_sqlite.path(),
        &["apply", "manifests/quickstart.yaml"],
        &[],
    );
    assert_eq!(sqlite_run.code, 0, "{}", sqlite_run.stderr);

    let database = scratch_database();
    let url = with_password(&database);
    let dir = quickstart_dir();
    let run = bulkops_env(
        dir.path(),
        &["apply", "manifests/quickstart.yaml", "--state", &url],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let id = run_id(&run);
    assert!(
        !dir.path().join(".bulkops/state.db").exists(),
        "no SQLite store beside a database"
    );
    assert_eq!(
        membership_pairs(&dir.path().join(".bulkops/directory.db")),
        membership_pairs(&on_sqlite.path().join(".bulkops/directory.db")),
        "the same memberships"
    );
    assert_eq!(import_results(dir.path()), import_results(on_sqlite.path()));

    let store = store_of(&database);
    let jobs = store.jobs().unwrap();
    assert_eq!(jobs.len(), 19);
    assert!(
        jobs.iter()
            .all(|job| job.status == Status::Completed && job.run_id == id)
    );
    let import = jobs.iter().find(|job| job.step == "add-new-hires").unwrap();
    assert_eq!(
        (
            import.total,
            import.succeeded,
            import.failed,
            import.changed
        ),
        (7, 7, 0, 6)
    );

    // The URL from the environment does the same as `--state`.
    let env = [("BULKOPS_STATE_URL", url.as_str())];
    let listed = bulkops_env(dir.path(), &["jobs", "list"], &env);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(listed.stdout.lines().count(), 20, "{}", listed.stdout);
    assert!(listed.stdout.contains(&import.id));
    let runs = bulkops_env(dir.path(), &["runs", "list", "--format", "json"], &env);
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(runs[0]["status"], "completed");
    let shown = bulkops_env(dir.path(), &["jobs", "show", &import.id], &env);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("add-new-hires"), "{}", shown.stdout);

    let served = Served::start(dir.path(), &["--state", &url]);
    let page = served.get("/").text();
    assert!(page.contains(&import.id), "{page}");
    assert!(page.contains("19 matching jobs"), "{page}");
    let job_page = served.get(&format!("/jobs/{}", import.id)).text();
    assert!(
        job_page.contains("pradeep.murphy@contoso.example"),
        "{job_page}"
    );

    for text in [
        &run.stdout,
        &run.stderr,
        &listed.stdout,
        &listed.stderr,
        &page,
    ] {
        assert!(!text.contains(PASSWORD), "the password showed: {text}");
    }
}

#[test]
fn a_missing_or_unreachable_database_is_named_without_its_password() {
    let database = scratch_database();
    let dir = tempfile::tempdir().unwrap();
    let empty = bulkops_env(
        dir.path(),
        &["jobs", "list", "--state", &with_password(&database)],
        &[],
    );
    assert_eq!(empty.code, 66, "{}", empty.stderr);
    let shown = database.url.replacen("://postgres@", "://postgres:***@", 1);
    let flat: String = empty.stderr.split(['\n', '│']).map(str::trim).collect();
    assert!(
        flat.contains(&format!("there is no job history at `{shown}`")),
        "{}",
        empty.stderr
    );
    assert!(
        store_of_missing(&database),
        "reading a history never creates one"
    );
    let unreachable = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/nothing");
    let refused = bulkops_env(dir.path(), &["runs", "list", "--state", &unreachable], &[]);
    assert_eq!(refused.code, 75, "{}", refused.stderr);
    assert!(
        refused.stderr_text().contains(
            "cannot reach the job store at `postgres://postgres:***@127.0.0.1:1/nothing`"
        ),
        "{}",
        refused.stderr
    );
    let nameless = bulkops_env(
        dir.path(),
        &[
            "jobs",
            "list",
            "--state",
            &format!("postgres://postgres:{PASSWORD}@127.0.0.1"),
        ],
        &[],
    );
    assert_eq!(nameless.code, 64, "{}", nameless.stderr);
    assert!(
        nameless.stderr_text().contains("names no database"),
        "{}",
        nameless.stderr
    );
    for text in [&empty.stderr, &refused.stderr, &nameless.stderr] {
        assert!(!text.contains(PASSWORD), "the password showed: {text}");
    }
}

fn store_of_missing(database: &ScratchDatabase) -> bool {
    matches!(
        JobStore::open_at(&database.location(), Create::Never),
        Err(bulkops::store::StoreError::Missing { .. })
    )
}

/// Kills the run on a PostgreSQL store at `point`, waits for its lease to
/// run out, resumes it, and returns its end.
fn killed_and_resumed_on_postgres(work: Work, point: &str) -> End {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), work, false);
    let database = scratch_database();
    let env = [
        ("BULKOPS_CHUNK_ROWS", CHUNK),
        ("BULKOPS_STATE_URL", database.url.as_str()),
        ("BULKOPS_LEASE_MS", "1000"),
    ];
    Held::start(dir.path(), &["apply", "m.yaml"], &env, point).kill();
    let store = store_of(&database);
    let run_id = store.jobs().unwrap()[0].run_id.clone();
    wait_until("the killed run's lease runs out", PATIENCE, || {
        !store.run_is_held(&run_id).unwrap()
    });
    assert_eq!(store.run(&run_id).unwrap().status, Status::Interrupted);
    let resumed = bulkops_env(dir.path(), &["apply", "--resume", &run_id], &env[1..]);
    assert!(
        resumed.code == 0 || resumed.code == 1,
        "{point}: {}\n{}",
        resumed.stdout,
        resumed.stderr
    );
    end_in(dir.path(), &store)
}

#[test]
fn runs_on_postgres_killed_at_every_phase_resume_to_the_same_end() {
    for work in [Work::Add, Work::Remove] {
        let whole = uninterrupted(work, false);
        for point in EVERY_PHASE {
            let resumed = killed_and_resumed_on_postgres(work, point);
            assert!(
                resumed == whole,
                "{work:?} killed at {point} ended differently:\n{:?}\nvs\n{:?}",
                resumed.job,
                whole.job
            );
        }
    }
}

#[test]
fn a_run_held_on_postgres_is_not_taken_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), Work::Add, false);
    let database = scratch_database();
    let env = [
        ("BULKOPS_CHUNK_ROWS", CHUNK),
        ("BULKOPS_STATE_URL", database.url.as_str()),
        // Renewed every third of a second: a holder that lives keeps it.
        ("BULKOPS_LEASE_MS", "1000"),
    ];
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &env, "after-journal:2");
    let store = store_of(&database);
    let run_id = store.jobs().unwrap()[0].run_id.clone();
    let owner = store.owner_of(&run_id).unwrap().expect("an owner");
    let second = bulkops_env(dir.path(), &["apply", "--resume", &run_id], &env[1..]);
    assert_eq!(second.code, 64, "{}", second.stderr);
    assert!(
        second.stderr_text().contains(&format!(
            "run `{run_id}` is being executed by another bulkops process"
        )),
        "{}",
        second.stderr
    );
    let listed = bulkops_env(dir.path(), &["jobs", "list"], &env[1..]);
    let line = listed
        .stdout
        .lines()
        .find(|line| line.contains(&run_id))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(
        line.contains("running") && line.ends_with(&owner),
        "{}",
        listed.stdout
    );
    held.release();
    let (code, stderr) = held.finish();
    assert!(code == 0 || code == 1, "{stderr}");
    let run = store.run(&run_id).unwrap();
    assert!(matches!(run.status, Status::Completed | Status::Failed));
    assert!(
        !store.run_is_held(&run_id).unwrap(),
        "the lease was handed back"
    );
}

#[test]
fn a_watch_service_on_postgres_runs_each_file_once() {
    let dir = project("      concurrency: 2\n");
    let database = scratch_database();
    let env = [("BULKOPS_STATE_URL", database.url.as_str())];
    let service = Service::start(dir.path(), &["m"], &env);
    let count = 40_u32;
    for number in 1..=count {
        std::fs::write(
            dir.path().join(format!("drop/f{number:04}.csv")),
            member_file(number),
        )
        .unwrap();
    }
    let store = store_of(&database);
    wait_until("every file's run ended", PATIENCE, || {
        let rows = store.ledger().unwrap();
        rows.len() == count as usize && rows.iter().all(|row| row.status == "processed")
    });
    let rows = store.ledger().unwrap();
    let mut names: Vec<String> = rows.iter().map(|row| row.entry.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count as usize, "one ledger row per file");
    let mut runs: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.run_id.as_deref())
        .collect();
    runs.sort_unstable();
    runs.dedup();
    assert_eq!(runs.len(), count as usize, "one run per file");
    assert_eq!(
        store.jobs().unwrap().len(),
        count as usize,
        "one job per file"
    );
    wait_until("every file archived", PATIENCE, || {
        names_in(&dir.path().join("drop/processed")).len() == count as usize
    });
    let log = service.kill();
    assert_eq!(log.matches("run started").count(), count as usize, "{log}");
    assert!(!dir.path().join(".bulkops/state.db").exists());
}

/// A run on a database store in a folder with no `.bulkops/` of its own
/// (its directory elsewhere): the input's private copy goes to the system's
/// temporary folder, and nothing is created here.
#[test]
fn a_run_on_postgres_needs_no_folder_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    generate_users(dir.path(), 20, &["--db", "d.db"]);
    std::fs::write(
        dir.path().join("list.csv"),
        "ObjectId\nuser0000001@generated.example\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: small\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: group-00000 }\n        input: list.csv\n        results: results.csv\n",
    )
    .unwrap();
    let database = scratch_database();
    let run = bulkops_env(
        dir.path(),
        &["apply", "m.yaml", "--db", "d.db", "--state", &database.url],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!dir.path().join(".bulkops").exists());
    assert_eq!(store_of(&database).jobs().unwrap()[0].changed, 1);
}
