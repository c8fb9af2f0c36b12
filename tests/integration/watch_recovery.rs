//! `bulkops watch` across kills, restarts, signals and manifest edits: a
//! service killed (SIGKILL) at any step of a file's way loses nothing and applies
//! nothing twice when it starts again; SIGTERM lets runs finish within the
//! grace period and leaves the rest to resume; manifests are reloaded, an
//! invalid edit keeps the last valid version, a removed one stops its watch.

use std::path::PathBuf;

use crate::watch_support::{
    Service, claimed_names, contractors, drop_file, dropped_names, hold_at, job_trigger_files,
    ledger, manifest, many_members, member_file, names_in, once, pairs, project, wait_for_hold,
};

/// The id of the run the log says started for `file`.
fn run_of(log: &str, file: &str) -> String {
    log.lines()
        .find(|line| line.contains("run started") && line.contains(&format!("file={file}")))
        .and_then(|line| line.split("run=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run started for {file}:\n{log}"))
        .to_owned()
}

#[test]
fn killed_mid_import_then_restarted_resumes_the_run_and_ends_as_an_uninterrupted_run() {
    let big = many_members(150);
    let chunk = [("BULKOPS_CHUNK_ROWS", "20")];
    // The reference: the same file, never interrupted.
    let reference = project("");
    drop_file(reference.path(), "drop/big.csv", &big);
    let (code, log) = once(reference.path(), &["m"], &chunk);
    assert_eq!(code, 0, "{log}");

    let dir = project("");
    drop_file(dir.path(), "drop/big.csv", &big);
    let (_hold_dir, hold, env) = hold_at("mid-apply:3");
    let mut env = pairs(&env);
    env.extend_from_slice(&chunk);
    let service = Service::start(dir.path(), &["m"], &env);
    wait_for_hold(&service, &hold);
    // A burst arrives while the big file's run is half way.
    for number in 1..=20 {
        drop_file(
            dir.path(),
            &format!("drop/small{number:02}.csv"),
            &member_file(number),
        );
    }
    let killed_log = service.kill();
    let interrupted = run_of(&killed_log, "big.csv");

    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("resuming the run a stopped watch left"),
        "{log}"
    );
    assert!(
        !log.contains("file=big.csv}: run started"),
        "resumed, not started again:\n{log}"
    );
    let rows = ledger(dir.path());
    let big_rows: Vec<_> = rows
        .iter()
        .filter(|row| row.entry.name == "big.csv")
        .collect();
    assert_eq!(big_rows.len(), 1, "{rows:?}");
    assert_eq!(big_rows[0].run_id.as_deref(), Some(interrupted.as_str()));
    assert_eq!(big_rows[0].status, "processed");
    assert_eq!(rows.len(), 21, "one row per file: {rows:?}");
    let mut expected: Vec<String> = (1..=20).map(|n| format!("small{n:02}.csv")).collect();
    expected.push("big.csv".to_owned());
    expected.sort();
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/processed"))),
        expected
    );
    assert_eq!(job_trigger_files(dir.path()), expected, "one job per file");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("results/big.csv")).unwrap(),
        std::fs::read_to_string(reference.path().join("results/big.csv")).unwrap(),
        "the resumed run's results are an uninterrupted run's"
    );
    let mut members = contractors(reference.path());
    members.extend(
        crate::watch_support::USERS
            .iter()
            .map(|user| (*user).to_owned()),
    );
    members.sort();
    members.dedup();
    assert_eq!(contractors(dir.path()), members);
}

#[test]
fn killed_after_a_claim_before_its_run_was_recorded_the_file_runs_at_the_restart() {
    let dir = project("");
    drop_file(dir.path(), "drop/a.csv", &member_file(3));
    let (_hold_dir, hold, env) = hold_at("claimed:1");
    let service = Service::start(dir.path(), &["m"], &pairs(&env));
    wait_for_hold(&service, &hold);
    service.kill();
    let drop = dir.path().join("drop");
    assert_eq!(claimed_names(&drop, "hires"), ["a.csv"]);
    assert!(ledger(dir.path()).is_empty(), "no run was recorded");

    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("whose run was never recorded: it runs now"),
        "{log}"
    );
    assert_eq!(dropped_names(&names_in(&drop.join("processed"))), ["a.csv"]);
    assert_eq!(job_trigger_files(dir.path()), ["a.csv"]);
    assert_eq!(claimed_names(&drop, "hires"), Vec::<String>::new());
}

#[test]
fn killed_between_the_ledger_and_the_move_the_restart_finishes_the_move_without_a_second_run() {
    let dir = project("");
    drop_file(dir.path(), "drop/a.csv", &member_file(3));
    let (_hold_dir, hold, env) = hold_at("archiving:1");
    let service = Service::start(dir.path(), &["m"], &pairs(&env));
    wait_for_hold(&service, &hold);
    service.kill();
    let drop = dir.path().join("drop");
    let rows = ledger(dir.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "processed");
    let target = PathBuf::from(rows[0].archived_as.clone().unwrap());
    assert!(!target.exists());
    assert_eq!(claimed_names(&drop, "hires"), ["a.csv"]);

    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("finishing the move of a file whose run had ended"),
        "{log}"
    );
    assert!(!log.contains("run started"), "{log}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), member_file(3));
    assert_eq!(job_trigger_files(dir.path()), ["a.csv"]);
    assert_eq!(ledger(dir.path()).len(), 1);
}

#[test]
fn sigterm_stops_claiming_and_lets_the_running_run_finish() {
    let dir = project("");
    drop_file(dir.path(), "drop/a.csv", &many_members(60));
    let (_hold_dir, hold, env) = hold_at("mid-apply:1");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let mut service = Service::start(dir.path(), &["m"], &env);
    wait_for_hold(&service, &hold);
    service.signal("TERM");
    service.wait_for("stopping: no more files are claimed");
    drop_file(dir.path(), "drop/late.csv", &member_file(1));
    std::fs::remove_file(&hold).unwrap();
    service.wait_for_count("run ended", 1);
    let (code, log) = service.finish();
    assert_eq!(code, 0, "{log}");
    let drop = dir.path().join("drop");
    assert_eq!(dropped_names(&names_in(&drop.join("processed"))), ["a.csv"]);
    assert!(
        drop.join("late.csv").exists(),
        "nothing claimed after the stop"
    );
    assert!(!log.contains("file=late.csv"), "{log}");
}

#[test]
fn a_run_still_going_after_the_grace_period_is_resumed_at_the_next_start() {
    let dir = project("");
    drop_file(dir.path(), "drop/a.csv", &many_members(60));
    let (_hold_dir, hold, env) = hold_at("mid-apply:2");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let service = Service::start(dir.path(), &["m", "--grace", "500ms"], &env);
    wait_for_hold(&service, &hold);
    service.signal("TERM");
    let (code, log) = service.finish();
    assert_eq!(code, 130, "{log}");
    assert!(log.contains("grace period over"), "{log}");
    let drop = dir.path().join("drop");
    assert_eq!(claimed_names(&drop, "hires"), ["a.csv"]);
    let run = run_of(&log, "a.csv");

    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(ledger(dir.path())[0].run_id.as_deref(), Some(run.as_str()));
    assert_eq!(dropped_names(&names_in(&drop.join("processed"))), ["a.csv"]);
    assert_eq!(contractors(dir.path()).len(), 60);
}

#[test]
fn manifests_are_reloaded_an_invalid_edit_keeps_the_last_valid_one_and_a_removed_one_stops() {
    let dir = project("");
    let path = dir.path().join("m/hires.yaml");
    let mut service = Service::start(dir.path(), &["m", "--rescan", "1s"], &[]);
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    service.wait_for_count("run ended", 1);

    let edited = std::fs::read_to_string(&path).unwrap().replace(
        "results/{{trigger.stem}}.csv",
        "results/v2/{{trigger.stem}}.csv",
    );
    std::fs::write(&path, &edited).unwrap();
    service.wait_for("manifest reloaded");
    drop_file(dir.path(), "drop/b.csv", &member_file(2));
    service.wait_for_count("run ended", 2);
    assert!(dir.path().join("results/v2/b.csv").exists());

    // An unknown field on line 6, column 3.
    let invalid = edited.replacen("spec:\n", "spec:\n  trigers: {}\n", 1);
    std::fs::write(&path, &invalid).unwrap();
    service.wait_for("manifest is invalid");
    service.wait_for("m/hires.yaml:6:3");
    drop_file(dir.path(), "drop/c.csv", &member_file(4));
    service.wait_for_count("run ended", 3);
    assert!(
        dir.path().join("results/v2/c.csv").exists(),
        "the last valid version ran it"
    );

    std::fs::remove_file(&path).unwrap();
    service.wait_for("watch stopped");
    std::fs::create_dir_all(dir.path().join("drop2")).unwrap();
    std::fs::write(
        dir.path().join("m/other.yaml"),
        manifest("other", "drop2", ""),
    )
    .unwrap();
    service.wait_for("workflow=other");
    drop_file(dir.path(), "drop/d.csv", &member_file(8));
    drop_file(dir.path(), "drop2/e.csv", &member_file(16));
    service.wait_for_count("run ended", 4);
    // Two full listings later, the removed workflow's folder is untouched.
    let listed = service.log().matches("listed").count();
    service.wait_for_count("listed", listed + 2);
    let log = service.kill();
    assert!(dir.path().join("drop/d.csv").exists(), "{log}");
    assert!(!log.contains("file=d.csv"), "{log}");
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop2/processed"))),
        ["e.csv"]
    );
}

#[test]
fn a_manifest_pointed_at_another_folder_during_a_run_still_archives_the_run_and_serves_the_new_folder()
 {
    let dir = project("");
    std::fs::create_dir_all(dir.path().join("drop2")).unwrap();
    drop_file(dir.path(), "drop/a.csv", &many_members(40));
    let (_hold_dir, hold, env) = hold_at("mid-apply:1");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let mut service = Service::start(dir.path(), &["m", "--max-runs", "1"], &env);
    wait_for_hold(&service, &hold);
    std::fs::write(
        dir.path().join("m/hires.yaml"),
        manifest("hires", "drop2", ""),
    )
    .unwrap();
    service.wait_for("watch stopped");
    service.wait_for_count("watching", 2);
    std::fs::remove_file(&hold).unwrap();
    drop_file(dir.path(), "drop2/b.csv", &member_file(5));
    service.wait_for_count("run ended", 2);
    let log = service.kill();
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/processed"))),
        ["a.csv"],
        "{log}"
    );
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop2/processed"))),
        ["b.csv"],
        "{log}"
    );
    assert!(
        ledger(dir.path())
            .iter()
            .all(|row| row.status == "processed")
    );
}

#[test]
fn a_manifest_removed_and_put_back_during_a_run_keeps_its_watch() {
    let dir = project("");
    let path = dir.path().join("m/hires.yaml");
    drop_file(dir.path(), "drop/a.csv", &many_members(40));
    let (_hold_dir, hold, env) = hold_at("mid-apply:1");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let mut service = Service::start(dir.path(), &["m"], &env);
    wait_for_hold(&service, &hold);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    service.wait_for("watch stopped");
    std::fs::write(&path, text).unwrap();
    service.wait_for("watching again");
    std::fs::remove_file(&hold).unwrap();
    drop_file(dir.path(), "drop/b.csv", &member_file(5));
    service.wait_for_count("run ended", 2);
    let log = service.kill();
    assert!(!log.contains("cannot watch this workflow"), "{log}");
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/processed"))),
        ["a.csv", "b.csv"]
    );
}

#[test]
fn a_claimed_file_of_a_moved_project_is_never_run_again() {
    let parent = tempfile::tempdir().unwrap();
    let before = parent.path().join("before");
    let after = parent.path().join("after");
    let dir = project("");
    crate::support::copy_tree(dir.path(), &before);
    drop_file(&before, "drop/a.csv", &many_members(60));
    let (_hold_dir, hold, env) = hold_at("mid-apply:2");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let service = Service::start(&before, &["m"], &env);
    wait_for_hold(&service, &hold);
    service.kill();
    std::fs::rename(&before, &after).unwrap();

    let (code, log) = once(&after, &["m"], &[]);
    assert_eq!(
        code, 130,
        "left for an administrator, never run twice:\n{log}"
    );
    assert!(!log.contains("run started"), "{log}");
    assert!(!log.contains("skipped: the same content"), "{log}");
    let rows = ledger(&after);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, "running");
    assert_eq!(claimed_names(&after.join("drop"), "hires"), ["a.csv"]);
    assert!(names_in(&after.join("drop/duplicates")).is_empty());
}

#[test]
fn files_claimed_and_not_run_when_the_watch_stops_make_it_exit_130_and_run_at_the_next_start() {
    let dir = project("");
    drop_file(dir.path(), "drop/a.csv", &many_members(40));
    let (_hold_dir, hold, env) = hold_at("mid-apply:1");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let mut service = Service::start(dir.path(), &["m"], &env);
    wait_for_hold(&service, &hold);
    for number in 1..=3 {
        drop_file(
            dir.path(),
            &format!("drop/q{number}.csv"),
            &member_file(number),
        );
    }
    service.wait_for_count("claimed", 4);
    service.signal("INT");
    service.wait_for("stopping");
    std::fs::remove_file(&hold).unwrap();
    let (code, log) = service.finish();
    assert_eq!(code, 130, "{log}");
    let drop = dir.path().join("drop");
    assert_eq!(
        claimed_names(&drop, "hires"),
        ["q1.csv", "q2.csv", "q3.csv"]
    );
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        dropped_names(&names_in(&drop.join("processed"))),
        ["a.csv", "q1.csv", "q2.csv", "q3.csv"]
    );
}

#[test]
fn a_claimed_file_changed_before_its_run_resumes_closes_the_run_and_the_same_content_runs_again() {
    let big = many_members(60);
    let dir = project("");
    drop_file(dir.path(), "drop/big.csv", &big);
    let (_hold_dir, hold, env) = hold_at("mid-apply:1");
    let mut env = pairs(&env);
    env.push(("BULKOPS_CHUNK_ROWS", "20"));
    let service = Service::start(dir.path(), &["m"], &env);
    wait_for_hold(&service, &hold);
    let killed_log = service.kill();
    let interrupted = run_of(&killed_log, "big.csv");
    // Somebody writes to the claimed file before the watch starts again.
    let claimed = claimed_names(&dir.path().join("drop"), "hires");
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let claim_folder = dir.path().join("drop/.processing/hires");
    let claim = names_in(&claim_folder)
        .into_iter()
        .find(|name| claim_folder.join(name).is_dir())
        .unwrap();
    let claimed_path = claim_folder.join(claim).join("big.csv");
    std::fs::write(&claimed_path, format!("{big}{}\n", "extra@contoso.example")).unwrap();

    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("the run cannot be resumed"), "{log}");
    let failed = names_in(&dir.path().join("drop/failed"));
    assert_eq!(dropped_names(&failed), ["big.csv"], "{log}");
    assert!(claimed_names(&dir.path().join("drop"), "hires").is_empty());
    let rows = ledger(dir.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, "failed");
    let status: String = rusqlite::Connection::open(dir.path().join(".bulkops/state.db"))
        .unwrap()
        .query_row(
            "SELECT status FROM runs WHERE id = ?1",
            [&interrupted],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(status, "failed");

    // The original content dropped again runs anew, to the end.
    drop_file(dir.path(), "drop/big.csv", &big);
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    let processed = names_in(&dir.path().join("drop/processed"));
    assert_eq!(dropped_names(&processed), ["big.csv"], "{log}");
    assert_eq!(contractors(dir.path()).len(), 60);
}

#[test]
fn once_stopped_before_its_files_settle_exits_130_and_leaves_them() {
    let dir = project("");
    let manifest_path = dir.path().join("m/hires.yaml");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(&manifest_path, text.replace("settle: 300ms", "settle: 10m")).unwrap();
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    let service = Service::start(dir.path(), &["m", "--once"], &[]);
    service.wait_for("candidates=1");
    service.signal("TERM");
    let (code, log) = service.finish();
    assert_eq!(code, 130, "{log}");
    assert!(dir.path().join("drop/a.csv").exists(), "{log}");
    assert!(ledger(dir.path()).is_empty());
}
