//! Tests of the job store, each on both backends: a real SQLite file and a
//! real PostgreSQL database (a scratch one on the server `BULKOPS_TEST_PG`
//! names).

use super::*;
use crate::directory::outcome::RowOutcome;
use jiff::Timestamp;

/// An open store and what keeps its place alive.
struct Open {
    store: JobStore,
    _place: Place,
}

enum Place {
    Folder(tempfile::TempDir),
    Database(testing::ScratchDatabase),
}

impl Place {
    fn location(&self) -> Location {
        match self {
            Self::Folder(dir) => Location::File(dir.path().join("state.db")),
            Self::Database(database) => database.location(),
        }
    }
}

fn open(place: Place) -> Open {
    let store = JobStore::open_at(&place.location(), Create::IfMissing).unwrap();
    Open {
        store,
        _place: place,
    }
}

fn sqlite() -> Open {
    open(Place::Folder(tempfile::tempdir().unwrap()))
}

fn postgres() -> Open {
    open(Place::Database(testing::scratch_database()))
}

/// Each named test, once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                let mut open = super::sqlite();
                super::$name(&mut open.store);
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                let mut open = super::postgres();
                super::$name(&mut open.store);
            })*
        }
    };
}

on_both_backends!(
    records_runs_and_jobs,
    a_run_without_a_holder_is_interrupted_and_one_holder_at_a_time,
    a_resumed_job_is_the_same_job,
    inputs_are_recorded_once_and_checked_after,
    journals_chunks_of_outcomes_and_charges_them_once,
    job_pages_walk_forwards_and_back_over_every_job_once,
    a_cancel_request_holds_until_the_run_ends_or_resumes,
    the_watch_ledger_records_a_file_once,
);

fn now() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

/// Records run `r1`, held by this store.
fn run(store: &mut JobStore) -> RunLock {
    let lock = store.lock_run("r1").unwrap();
    store
        .start_run(&NewRun {
            id: "r1",
            workflow: "quickstart",
            manifest_path: "manifests/quickstart.yaml",
            manifest_text: "apiVersion: bulkops/v1",
            directory: "local",
            output_root: "/tmp/out",
            input_base: "/tmp",
            directory_location: "/tmp/.bulkops/directory.db",
            trigger_file: None,
            started_at: now(),
            chunk_rows: 50_000,
            max_removals: 500,
            max_device_deletions: 100,
            inputs: &[("/tmp/in.csv".to_owned(), "ab".repeat(32))],
            ledger: None,
            saved: None,
        })
        .unwrap();
    lock
}

fn job(store: &JobStore) -> JobRecord {
    store
        .start_job(&NewJob {
            run_id: "r1",
            workflow: "quickstart",
            step: "add",
            operation: "importMembers",
            target_id: "g1",
            target_name: Some("eng-platform"),
            input_file: Some("add.csv"),
            started_at: now(),
        })
        .unwrap()
}

fn records_runs_and_jobs(store: &mut JobStore) {
    let lock = run(store);
    let job = job(store);
    assert_eq!(job.status, Status::Running);
    assert_eq!(job.name(), "quickstart/add");
    let counts = JobCounts {
        total: 3,
        succeeded: 2,
        failed: 1,
        changed: 1,
    };
    store
        .finish_job(&job.id, Status::Failed, Some(NOT_ALL_ROWS), counts, now())
        .unwrap();
    let stored = store.job(&job.id).unwrap();
    assert_eq!(
        (stored.status, stored.reason.as_deref(), stored.failed),
        (Status::Failed, Some(NOT_ALL_ROWS), 1)
    );
    store
        .finish_run("r1", Status::Failed, Some("1 job failed"), now())
        .unwrap();
    lock.release();
    let record = store.run("r1").unwrap();
    assert_eq!(record.status, Status::Failed);
    assert_eq!(
        (record.chunk_rows, record.max_removals),
        (Some(50_000), Some(500))
    );
    assert_eq!(
        store.inputs("r1").unwrap(),
        [("/tmp/in.csv".to_owned(), "ab".repeat(32))]
    );
    assert!(matches!(
        store.run("nope"),
        Err(StoreError::UnknownRun { .. })
    ));
    assert!(matches!(
        store.run("../../etc"),
        Err(StoreError::UnknownRun { .. })
    ));
}

fn a_run_without_a_holder_is_interrupted_and_one_holder_at_a_time(store: &mut JobStore) {
    let lock = run(store);
    let job = job(store);
    assert_eq!(store.run("r1").unwrap().status, Status::Running);
    assert_eq!(store.jobs().unwrap()[0].status, Status::Running);
    assert!(matches!(
        store.lock_run("r1"),
        Err(StoreError::RunHeld { .. })
    ));
    assert!(
        store
            .why_kept(&store.job(&job.id).unwrap())
            .unwrap()
            .is_some()
    );
    lock.release();
    assert_eq!(store.run("r1").unwrap().status, Status::Interrupted);
    assert_eq!(store.job(&job.id).unwrap().status, Status::Interrupted);
    let kept = store.why_kept(&store.job(&job.id).unwrap()).unwrap();
    assert!(kept.unwrap().contains("can still be resumed"));
    let again = store.lock_run("r1").unwrap();
    assert_eq!(store.run("r1").unwrap().status, Status::Running);
    again.release();
}

fn a_resumed_job_is_the_same_job(store: &mut JobStore) {
    let _lock = run(store);
    let first = job(store);
    let again = job(store);
    assert_eq!(first.id, again.id);
    assert_eq!(store.jobs_of_run("r1").unwrap().len(), 1);
}

fn inputs_are_recorded_once_and_checked_after(store: &mut JobStore) {
    let _lock = run(store);
    assert_eq!(store.record_input("r1", "/tmp/b.csv", "11").unwrap(), None);
    assert_eq!(store.record_input("r1", "/tmp/b.csv", "11").unwrap(), None);
    assert_eq!(
        store.record_input("r1", "/tmp/b.csv", "22").unwrap(),
        Some("11".to_owned())
    );
}

fn journals_chunks_of_outcomes_and_charges_them_once(store: &mut JobStore) {
    let _lock = run(store);
    let job = job(store);
    let chunk = Chunk {
        index: 0,
        first_row: 0,
        outcomes: vec![
            RowOutcome::Removed,
            RowOutcome::NotMember,
            RowOutcome::Removed,
        ],
        applied: false,
    };
    store.plan_chunk(&job.id, &chunk).unwrap();
    assert_eq!(store.chunks(&job.id).unwrap(), std::slice::from_ref(&chunk));
    assert_eq!(store.charged("r1").unwrap().removals, 2);
    store.mark_chunk_applied(&job.id, 0).unwrap();
    assert!(store.chunks(&job.id).unwrap()[0].applied);
    assert_eq!(store.charged("r1").unwrap().removals, 2);
    let reported = [
        RowOutcome::NotFound,
        RowOutcome::NotMember,
        RowOutcome::Removed,
    ];
    store
        .mark_chunk_applied_with(&job.id, 0, &reported)
        .unwrap();
    assert_eq!(store.chunks(&job.id).unwrap()[0].outcomes, reported);
    store
        .add_file(
            &job.id,
            &JobFile {
                kind: "results".into(),
                path: "/tmp/out/r.csv".into(),
                rows: 3,
                identity: None,
            },
        )
        .unwrap();
    let files = store.delete_job(&job.id).unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        store.chunks(&job.id).unwrap().is_empty(),
        "the journal goes with the job"
    );
    assert!(store.run("r1").unwrap().closed.is_some());
}

#[test]
fn refuses_empty_missing_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        JobStore::open(&empty),
        Err(StoreError::Empty { .. })
    ));
    let foreign = dir.path().join("foreign.db");
    std::fs::write(&foreign, "not sqlite at all, not at all, not at all").unwrap();
    assert!(matches!(
        JobStore::open(&foreign),
        Err(StoreError::NotAStore { .. })
    ));
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (a)")
        .unwrap();
    assert!(matches!(
        JobStore::open(&other),
        Err(StoreError::NotAStore { .. })
    ));
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        JobStore::open_with(&missing, Create::Never),
        Err(StoreError::Missing { .. })
    ));
    assert!(!missing.exists());
}

/// Seven jobs of run `r1`, one a minute, with the same start for the last two
/// (told apart by id); odd ones failed.
fn seven_jobs(store: &JobStore) -> Vec<String> {
    (0..7_i64)
        .map(|index| {
            let at = now() + jiff::SignedDuration::from_mins(index.min(5));
            let target = format!("g{index}");
            let job = store
                .start_job(&NewJob {
                    run_id: "r1",
                    workflow: "quickstart",
                    step: "add",
                    operation: "importMembers",
                    target_id: &target,
                    target_name: None,
                    input_file: None,
                    started_at: at,
                })
                .unwrap();
            let status = if index % 2 == 1 {
                Status::Failed
            } else {
                Status::Completed
            };
            store
                .finish_job(&job.id, status, None, JobCounts::default(), at)
                .unwrap();
            job.id
        })
        .collect()
}

fn job_pages_walk_forwards_and_back_over_every_job_once(store: &mut JobStore) {
    let _lock = run(store);
    let ids = seven_jobs(store);
    let ids_of = |page: &JobPage| {
        page.jobs
            .iter()
            .map(|job| job.id.clone())
            .collect::<Vec<_>>()
    };
    let mut newest: Vec<String> = ids.clone();
    newest.sort_by_key(|id| {
        let job = store.job(id).unwrap();
        std::cmp::Reverse((job.started_at, id.clone()))
    });
    let filter = JobFilter::default();
    let first = store.job_page(&filter, false, &Anchor::First, 3).unwrap();
    assert_eq!((first.matching, ids_of(&first)), (7, newest[..3].to_vec()));
    assert!(first.previous.is_none());
    let second = store
        .job_page(
            &filter,
            false,
            &Anchor::After(first.next.clone().unwrap()),
            3,
        )
        .unwrap();
    assert_eq!(ids_of(&second), newest[3..6].to_vec());
    let third = store
        .job_page(
            &filter,
            false,
            &Anchor::After(second.next.clone().unwrap()),
            3,
        )
        .unwrap();
    assert_eq!(ids_of(&third), newest[6..].to_vec());
    assert!(third.next.is_none());
    let back = store
        .job_page(
            &filter,
            false,
            &Anchor::Before(third.previous.clone().unwrap()),
            3,
        )
        .unwrap();
    assert_eq!(ids_of(&back), newest[3..6].to_vec());
    let start = store
        .job_page(
            &filter,
            false,
            &Anchor::Before(back.previous.clone().unwrap()),
            3,
        )
        .unwrap();
    assert_eq!(ids_of(&start), newest[..3].to_vec());
    assert!(
        start.previous.is_none(),
        "the first page has no previous page"
    );
    let failed = JobFilter {
        status: Some(Status::Failed),
        ..JobFilter::default()
    };
    let oldest = store.job_page(&failed, true, &Anchor::First, 10).unwrap();
    assert_eq!(
        ids_of(&oldest),
        vec![ids[1].clone(), ids[3].clone(), ids[5].clone()]
    );
    let day = JobFilter {
        since: Some("2026-11-28".parse().unwrap()),
        ..JobFilter::default()
    };
    assert_eq!(
        store
            .job_page(&day, false, &Anchor::First, 10)
            .unwrap()
            .matching,
        0
    );
    assert_eq!(
        store.job_kinds().unwrap(),
        (
            vec!["quickstart".to_owned()],
            vec!["importMembers".to_owned()]
        )
    );
}

fn a_cancel_request_holds_until_the_run_ends_or_resumes(store: &mut JobStore) {
    let _lock = run(store);
    assert!(!store.cancel_requested("r1").unwrap());
    assert!(store.request_cancel("r1", now()).unwrap());
    assert!(store.cancel_requested("r1").unwrap());
    store
        .finish_run("r1", Status::Cancelled, None, now())
        .unwrap();
    assert!(
        store.cancel_requested("r1").unwrap(),
        "a run cancelled on request keeps the request"
    );
    assert!(
        !store.request_cancel("r1", now()).unwrap(),
        "only a running run can be cancelled"
    );
    store.reopen_run("r1", 500, 100).unwrap();
    assert!(
        !store.cancel_requested("r1").unwrap(),
        "a resumed run starts without a request"
    );
    assert!(matches!(
        store.request_cancel("nope", now()),
        Err(StoreError::UnknownRun { .. })
    ));
}

fn ledger_entry(name: &str) -> LedgerEntry {
    LedgerEntry {
        workflow: "quickstart".to_owned(),
        sha256: "cd".repeat(32),
        name: name.to_owned(),
        size: 10,
        modified: now(),
        claimed_at: now(),
        claimed_as: format!("/in/.processing/c1/{name}"),
        claim: format!("c1/{name}"),
        service: None,
    }
}

fn run_of_file(store: &mut JobStore, id: &str, entry: &LedgerEntry) -> Result<(), StoreError> {
    let lock = store.lock_run(id)?;
    let recorded = store.start_run(&NewRun {
        id,
        workflow: "quickstart",
        manifest_path: "m.yaml",
        manifest_text: "",
        directory: "local",
        output_root: "/tmp/out",
        input_base: "/tmp",
        directory_location: "/tmp/d.db",
        trigger_file: None,
        started_at: now(),
        chunk_rows: 10,
        max_removals: 1,
        max_device_deletions: 1,
        inputs: &[],
        ledger: Some((entry, true)),
        saved: None,
    });
    lock.release();
    recorded
}

fn the_watch_ledger_records_a_file_once(store: &mut JobStore) {
    run_of_file(store, "w1", &ledger_entry("a.csv")).unwrap();
    let again = run_of_file(store, "w2", &ledger_entry("b.csv"));
    assert!(
        matches!(&again, Err(StoreError::DuplicateContent { earlier }) if earlier == "w1"),
        "{again:?}"
    );
    assert!(
        matches!(store.run("w2"), Err(StoreError::UnknownRun { .. })),
        "a refused run is not recorded"
    );
    assert_eq!(
        store.ledger_seen("quickstart", &"cd".repeat(32)).unwrap(),
        Some("w1".to_owned())
    );
    store
        .ledger_archived("w1", "processed", "/in/processed/a.csv")
        .unwrap();
    let rows = store.ledger().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status.as_str(), rows[0].archived_as.as_deref()),
        ("processed", Some("/in/processed/a.csv"))
    );
    let by_claim = store.ledger_by_claim("quickstart", "c1/a.csv").unwrap();
    assert_eq!(by_claim.unwrap().run_id.as_deref(), Some("w1"));
    // Another watch service recording a run of the same claim is refused,
    // whatever the file's content now.
    let mut same_claim = ledger_entry("a.csv");
    same_claim.sha256 = "ef".repeat(32);
    let second = run_of_file(store, "w3", &same_claim);
    assert!(
        matches!(&second, Err(StoreError::ClaimRecorded { claim }) if claim == "c1/a.csv"),
        "{second:?}"
    );
    assert!(matches!(
        store.run("w3"),
        Err(StoreError::UnknownRun { .. })
    ));
}

#[test]
fn postgres_refuses_an_empty_database_and_a_newer_schema() {
    let database = testing::scratch_database();
    let location = database.location();
    assert!(matches!(
        JobStore::open_at(&location, Create::Never),
        Err(StoreError::Missing { .. })
    ));
    let store = JobStore::open_at(&location, Create::IfMissing).unwrap();
    store
        .sql()
        .execute("UPDATE bulkops_schema SET version = 99", sql::args![])
        .unwrap();
    assert!(matches!(
        JobStore::open_at(&location, Create::Never),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn postgres_stores_opened_together_migrate_once() {
    let database = testing::scratch_database();
    let location = database.location();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let location = location.clone();
            std::thread::spawn(move || JobStore::open_at(&location, Create::IfMissing).map(drop))
        })
        .collect();
    for one in opened {
        one.join().unwrap().unwrap();
    }
    let store = JobStore::open_at(&location, Create::Never).unwrap();
    assert_eq!(
        schema::pg_version(store.sql()).unwrap(),
        schema::CURRENT_VERSION
    );
}

/// A run taken over after its lease ran out: the first owner's journal
/// writes are refused from then on, and its heartbeat finds it lost.
#[test]
fn postgres_fences_the_writes_of_a_run_taken_over() {
    let database = testing::scratch_database();
    let location = database.location();
    let mut first = JobStore::open_at(&location, Create::IfMissing).unwrap();
    first.lease = std::time::Duration::from_millis(600);
    let held = run(&mut first);
    let job = job(&first);
    let chunk = |index: u64| Chunk {
        index,
        first_row: index * 2,
        outcomes: vec![RowOutcome::Added, RowOutcome::AlreadyMember],
        applied: false,
    };
    first.plan_chunk(&job.id, &chunk(0)).unwrap();
    let second = JobStore::open_at(&location, Create::Never).unwrap();
    assert!(
        matches!(second.lock_run("r1"), Err(StoreError::RunHeld { .. })),
        "a renewed lease is not taken"
    );
    assert_eq!(
        first.owner_of("r1").unwrap().as_deref(),
        Some(first.owner())
    );
    // The first owner stalls: its lease runs out without renewal.
    second
        .sql()
        .execute(
            "UPDATE runs SET lease_until = 0 WHERE id = 'r1'",
            sql::args![],
        )
        .unwrap();
    let taken = second.lock_run("r1").unwrap();
    assert_eq!(
        second.owner_of("r1").unwrap().as_deref(),
        Some(second.owner())
    );
    assert!(matches!(
        first.plan_chunk(&job.id, &chunk(1)),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        first.finish_run("r1", Status::Completed, None, now()),
        Err(StoreError::LeaseLost { .. })
    ));
    second.plan_chunk(&job.id, &chunk(1)).unwrap();
    assert_eq!(second.chunks(&job.id).unwrap().len(), 2);
    assert_eq!(second.run("r1").unwrap().status, Status::Running);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !held.is_lost() {
        assert!(
            std::time::Instant::now() < deadline,
            "the heartbeat never noticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Handing back a lost lease leaves the new owner's lease alone.
    held.release();
    assert!(second.run_is_held("r1").unwrap());
    second
        .finish_run("r1", Status::Completed, None, now())
        .unwrap();
    taken.release();
    assert_eq!(first.run("r1").unwrap().status, Status::Completed);
}

/// Four processes taking one unit at a time from one shared budget: no
/// window of the quota's length holds more grants than the quota, and a
/// cool-down holds every process back.
#[test]
fn postgres_shared_budgets_keep_every_window_within_the_quota() {
    const WINDOW_US: i64 = 400_000;
    const LIMIT: i64 = 40;
    const BURST: i64 = 2;
    const GRANTS: usize = 120;
    let database = testing::scratch_database();
    let location = database.location();
    assert!(
        JobStore::in_memory()
            .and_then(|store| store.shared_budget("b", std::time::Duration::from_secs(1)))
            .is_ok_and(|budget| budget.is_none()),
        "SQLite shares no budget"
    );
    let unit_us = WINDOW_US / (LIMIT - BURST) + 1;
    let charge = Charge {
        cost_us: unit_us,
        burst_us: unit_us * BURST,
    };
    let free = Charge {
        cost_us: 0,
        burst_us: 0,
    };
    let budgets: Vec<SharedBudget> = (0..4)
        .map(|_| {
            JobStore::open_at(&location, Create::IfMissing)
                .unwrap()
                .shared_budget("graph contoso app", std::time::Duration::from_secs(2))
                .unwrap()
                .unwrap()
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let granted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    runtime.block_on(async {
        let tasks: Vec<_> = budgets
            .iter()
            .cloned()
            .map(|budget| {
                let granted = std::sync::Arc::clone(&granted);
                tokio::spawn(async move {
                    while granted.lock().unwrap().len() < GRANTS {
                        match budget.take([charge, free, free]).await.unwrap() {
                            Taken::Granted { at_us } => granted.lock().unwrap().push(at_us),
                            Taken::Wait(wait) => tokio::time::sleep(wait).await,
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let mut times = granted.lock().unwrap().clone();
    times.sort_unstable();
    let fullest = times
        .iter()
        .enumerate()
        .map(|(first, start)| {
            times[first..]
                .iter()
                .take_while(|at| **at < start + WINDOW_US)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        i64::try_from(fullest).unwrap() <= LIMIT,
        "{fullest} grants in one window"
    );
    let count = i64::try_from(times.len()).unwrap();
    assert!(
        times.last().unwrap() - times.first().unwrap() >= (count - BURST - 1) * unit_us,
        "grants came faster than the rate"
    );
    // A 429's cool-down holds every process back, then grants resume.
    runtime.block_on(async {
        budgets[0]
            .cool_down(std::time::Duration::from_millis(300))
            .await
            .unwrap();
        match budgets[1].take([free, free, free]).await.unwrap() {
            Taken::Wait(wait) => assert!(
                wait > std::time::Duration::from_millis(200),
                "waits {wait:?}"
            ),
            Taken::Granted { .. } => panic!("granted during a cool-down"),
        }
        budgets[2]
            .cool_down(std::time::Duration::from_millis(1))
            .await
            .unwrap();
        assert!(
            matches!(
                budgets[3].take([free, free, free]).await.unwrap(),
                Taken::Wait(_)
            ),
            "a shorter cool-down does not cut a longer one"
        );
    });
}

/// Values no grant leaves (a cool-down of years, an arrival time far ahead,
/// written by hand) are brought back within bounds: the wait stays bounded.
#[test]
fn postgres_shared_budgets_bound_values_no_grant_leaves() {
    let database = testing::scratch_database();
    let store = JobStore::open_at(&database.location(), Create::IfMissing).unwrap();
    let budget = store
        .shared_budget("graph contoso app", std::time::Duration::from_secs(2))
        .unwrap()
        .unwrap();
    let charge = Charge {
        cost_us: 10_000,
        burst_us: 20_000,
    };
    let free = Charge {
        cost_us: 0,
        burst_us: 0,
    };
    store
        .sql()
        .execute(
            "UPDATE graph_budgets SET quiet_until = 9000000000000000000, writes_at = 9000000000000000000",
            sql::args![],
        )
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..2 {
            match budget.take([charge, free, free]).await.unwrap() {
                Taken::Wait(wait) => assert!(
                    wait <= std::time::Duration::from_millis(2_100),
                    "waits {wait:?}"
                ),
                Taken::Granted { .. } => panic!("granted during a cool-down"),
            }
        }
    });
}

/// A watch service whose lease ran out records no run: another service may
/// have taken its claim over.
#[test]
fn postgres_a_watch_whose_lease_ran_out_records_no_run() {
    let database = testing::scratch_database();
    let mut store = JobStore::open_at(&database.location(), Create::IfMissing).unwrap();
    let lease = store.hold_watch().unwrap().expect("a lease on PostgreSQL");
    let mut entry = ledger_entry("a.csv");
    entry.service = Some(lease.owner().to_owned());
    store
        .sql()
        .execute("UPDATE watch_owners SET lease_until = 0", sql::args![])
        .unwrap();
    let refused = run_of_file(&mut store, "w1", &entry);
    assert!(
        matches!(&refused, Err(StoreError::WatchLeaseLost { claim }) if claim == "c1/a.csv"),
        "{refused:?}"
    );
    assert!(matches!(
        store.run("w1"),
        Err(StoreError::UnknownRun { .. })
    ));
    assert!(store.ledger().unwrap().is_empty());
    assert!(!store.watch_owner_alive(lease.owner()).unwrap());
}
