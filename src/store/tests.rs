//! Tests of the job store on real SQLite files.

use super::*;
use crate::directory::outcome::RowOutcome;
use jiff::Timestamp;

fn store() -> (tempfile::TempDir, JobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = JobStore::open(&dir.path().join("state.db")).unwrap();
    (dir, store)
}

fn now() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn run(store: &mut JobStore) {
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

#[test]
fn records_runs_and_jobs() {
    let (_dir, mut store) = store();
    run(&mut store);
    let lock = store.lock_run("r1").unwrap();
    let job = job(&store);
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

#[test]
fn a_run_without_a_holder_is_interrupted_and_one_holder_at_a_time() {
    let (_dir, mut store) = store();
    run(&mut store);
    let job = job(&store);
    assert_eq!(store.run("r1").unwrap().status, Status::Interrupted);
    assert_eq!(store.job(&job.id).unwrap().status, Status::Interrupted);
    let lock = store.lock_run("r1").unwrap();
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
    let kept = store.why_kept(&store.job(&job.id).unwrap()).unwrap();
    assert!(kept.unwrap().contains("can still be resumed"));
}

#[test]
fn a_resumed_job_is_the_same_job() {
    let (_dir, mut store) = store();
    run(&mut store);
    let first = job(&store);
    let again = job(&store);
    assert_eq!(first.id, again.id);
    assert_eq!(store.jobs_of_run("r1").unwrap().len(), 1);
}

#[test]
fn inputs_are_recorded_once_and_checked_after() {
    let (_dir, mut store) = store();
    run(&mut store);
    assert_eq!(store.record_input("r1", "/tmp/b.csv", "11").unwrap(), None);
    assert_eq!(store.record_input("r1", "/tmp/b.csv", "11").unwrap(), None);
    assert_eq!(
        store.record_input("r1", "/tmp/b.csv", "22").unwrap(),
        Some("11".to_owned())
    );
}

#[test]
fn journals_chunks_of_outcomes_and_charges_them_once() {
    let (_dir, mut store) = store();
    run(&mut store);
    let job = job(&store);
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

#[test]
fn job_pages_walk_forwards_and_back_over_every_job_once() {
    let (_dir, mut store) = store();
    run(&mut store);
    let ids = seven_jobs(&store);
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

#[test]
fn a_cancel_request_holds_until_the_run_ends_or_resumes() {
    let (_dir, mut store) = store();
    run(&mut store);
    assert!(!store.cancel_requested("r1").unwrap());
    assert!(store.request_cancel("r1", now()).unwrap());
    assert!(store.cancel_requested("r1").unwrap());
    store
        .finish_run("r1", Status::Cancelled, None, now())
        .unwrap();
    assert!(
        !store.cancel_requested("r1").unwrap(),
        "an ended run asks nothing"
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
