//! Several `bulkops watch` services on one folder with a shared job store
//! (PostgreSQL): every dropped file runs once, whichever service claims it;
//! the files a killed service left claimed are taken over by another once
//! its lease ran out (never while it lives), and run once; a stalled service
//! woken after a takeover leaves the file alone and exits 75.

use std::path::{Path, PathBuf};

use bulkops::store::testing::scratch_database;
use bulkops::store::{Create, JobStore};

use crate::support::wait_until;
use crate::watch_support::{
    PATIENCE, Service, contractors, drop_file, dropped_names, hold_at, many_members, member_file,
    names_in, pairs, project, wait_for_hold,
};

/// Every file below `.processing/<workflow>/`, by path.
fn claimed_files(drop: &Path, workflow: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![drop.join(".processing").join(workflow)];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// A shared store at `url`, with leases of 1.5 s.
fn shared_env(url: &str) -> [(&str, &str); 2] {
    [("BULKOPS_STATE_URL", url), ("BULKOPS_LEASE_MS", "1500")]
}

/// A watch service on the shared store at `url` (and `extra`) that holds at
/// `point`, once it holds: its hold folder, hold file and process.
fn held_service(
    dir: &Path,
    url: &str,
    point: &str,
    extra: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf, Service) {
    let (hold_dir, hold, held_env) = hold_at(point);
    let env = [pairs(&held_env).as_slice(), &shared_env(url), extra].concat();
    let service = Service::start(dir, &["m"], &env);
    wait_for_hold(&service, &hold);
    (hold_dir, hold, service)
}

#[test]
fn three_services_on_one_folder_run_each_file_once() {
    let dir = project("      concurrency: 2\n");
    let database = scratch_database();
    let env = [("BULKOPS_STATE_URL", database.url.as_str())];
    let services: Vec<Service> = (0..3)
        .map(|_| Service::start(dir.path(), &["m", "--rescan", "1s"], &env))
        .collect();
    let count = 60_u32;
    for number in 1..=count {
        drop_file(
            dir.path(),
            &format!("drop/f{number:04}.csv"),
            &member_file(number),
        );
    }
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    wait_until("every file's run ended", PATIENCE, || {
        let rows = store.ledger().unwrap();
        rows.len() >= count as usize && rows.iter().all(|row| row.status == "processed")
    });
    wait_until("every file archived", PATIENCE, || {
        names_in(&dir.path().join("drop/processed")).len() >= count as usize
    });
    let logs: Vec<String> = services.into_iter().map(Service::kill).collect();
    let rows = store.ledger().unwrap();
    assert_eq!(rows.len(), count as usize, "one ledger row per file");
    let expected: Vec<String> = (1..=count).map(|n| format!("f{n:04}.csv")).collect();
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/processed"))),
        expected,
        "each file archived once"
    );
    assert_eq!(
        store.runs().unwrap().len(),
        count as usize,
        "one run per file"
    );
    assert_eq!(
        store.jobs().unwrap().len(),
        count as usize,
        "one job per file"
    );
    let per_service: Vec<usize> = logs
        .iter()
        .map(|log| log.matches("run started").count())
        .collect();
    eprintln!("runs started by each service: {per_service:?}");
    let started: usize = per_service.iter().sum();
    assert_eq!(started, count as usize, "{logs:#?}");
    assert!(
        claimed_files(&dir.path().join("drop"), "hires").is_empty(),
        "nothing is left claimed"
    );
}

#[test]
fn a_killed_services_claims_are_taken_over_once_its_lease_ran_out() {
    let dir = project("");
    let database = scratch_database();
    drop_file(dir.path(), "drop/a.csv", &member_file(3));
    let (_hold_dir, _hold, first) = held_service(dir.path(), &database.url, "claimed:1", &[]);
    let drop = dir.path().join("drop");
    let claimed = claimed_files(&drop, "hires");
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let owner_folder = claimed[0].parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        owner_folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with('@'),
        "{owner_folder:?}"
    );

    // A second service leaves the claim of a living one alone.
    let shared = shared_env(&database.url);
    let second = Service::start(dir.path(), &["m", "--rescan", "500ms"], &shared);
    second.wait_for("listed");
    assert_eq!(
        claimed_files(&drop, "hires"),
        claimed,
        "not taken from a living service"
    );

    first.kill();
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    wait_until("the file's run ended", PATIENCE, || {
        store
            .ledger()
            .unwrap()
            .iter()
            .any(|row| row.status == "processed")
    });
    wait_until("the file archived", PATIENCE, || {
        !names_in(&drop.join("processed")).is_empty()
    });
    let log = second.kill();
    assert!(
        log.contains("took over the claimed files of a watch service that is gone"),
        "{log}"
    );
    assert_eq!(dropped_names(&names_in(&drop.join("processed"))), ["a.csv"]);
    assert_eq!(store.ledger().unwrap().len(), 1);
    assert_eq!(store.runs().unwrap().len(), 1, "one run");
    assert!(!owner_folder.exists(), "the dead service's folder is gone");
    assert!(claimed_files(&drop, "hires").is_empty());
}

#[test]
fn a_stalled_service_woken_after_a_takeover_leaves_the_file_to_the_other() {
    let dir = project("");
    let database = scratch_database();
    drop_file(dir.path(), "drop/a.csv", &member_file(5));
    let (_hold_dir, hold, first) = held_service(dir.path(), &database.url, "claimed:1", &[]);
    first.signal("STOP");
    let shared = shared_env(&database.url);
    let second = Service::start(dir.path(), &["m", "--rescan", "500ms"], &shared);
    let drop = dir.path().join("drop");
    wait_until("the other service archived the file", PATIENCE, || {
        !names_in(&drop.join("processed")).is_empty()
    });
    // The stalled service wakes where it stalled: just after its claim.
    std::fs::remove_file(&hold).unwrap();
    first.signal("CONT");
    let (code, log) = first.finish();
    assert_eq!(code, 75, "{log}");
    assert!(
        log.contains("this watch's lease in the job store ran out"),
        "{log}"
    );
    second.kill();
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    assert_eq!(store.ledger().unwrap().len(), 1, "one ledger row");
    assert_eq!(store.runs().unwrap().len(), 1, "one run");
    assert_eq!(dropped_names(&names_in(&drop.join("processed"))), ["a.csv"]);
    assert!(names_in(&drop.join("failed")).is_empty());
    assert!(claimed_files(&drop, "hires").is_empty());
}

#[test]
fn a_run_a_killed_service_left_half_done_is_resumed_by_another_from_its_new_place() {
    let dir = project("");
    let database = scratch_database();
    drop_file(dir.path(), "drop/big.csv", &many_members(150));
    let (_hold_dir, _hold, first) = held_service(
        dir.path(),
        &database.url,
        "mid-apply:3",
        &[("BULKOPS_CHUNK_ROWS", "20")],
    );
    first.kill();
    assert!(
        !contractors(dir.path()).is_empty(),
        "some rows were applied before the kill"
    );
    let shared = [
        shared_env(&database.url).as_slice(),
        &[("BULKOPS_CHUNK_ROWS", "20")],
    ]
    .concat();
    let second = Service::start(dir.path(), &["m", "--rescan", "500ms"], &shared);
    let drop = dir.path().join("drop");
    wait_until("the taken-over run archived its file", PATIENCE, || {
        !names_in(&drop.join("processed")).is_empty() || !names_in(&drop.join("failed")).is_empty()
    });
    let log = second.kill();
    assert!(
        log.contains("resuming the run a stopped watch left"),
        "{log}"
    );
    assert_eq!(
        dropped_names(&names_in(&drop.join("processed"))),
        ["big.csv"],
        "{log}"
    );
    assert_eq!(contractors(dir.path()).len(), 150, "every row applied once");
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1, "one run, resumed");
    assert_eq!(runs[0].status, bulkops::store::Status::Completed);
    let rows = store.ledger().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "processed");
}
