//! `bulkops watch`: each dropped file runs once, only when it is complete,
//! with the ledger, the job list and the archive folders agreeing; bursts,
//! lost events, polling, ignored names, duplicates, markers, `--once` exit
//! codes and refusals at start. Kills, restarts, signals and manifest reloads
//! are in `watch_recovery`.

use std::os::unix::fs::MetadataExt as _;
use std::time::Duration;

use crate::support::{bulkops_in, wait_until};
use crate::watch_support::{
    HEADER, PATIENCE, Service, USERS, claimed_names, contractors, drop_file, dropped_names,
    job_trigger_files, ledger, member_file, names_in, once, project, write_slowly,
};

/// Drops `count` files with distinct content at once, and checks that each
/// ran exactly once: one ledger row, one job and one archived file per name.
fn burst(count: u32, args: &[&str], env: &[(&str, &str)]) {
    let dir = project("      concurrency: 4\n");
    let mut service = Service::start(dir.path(), args, env);
    let mut expected: Vec<String> = (1..=count).map(|n| format!("f{n:04}.csv")).collect();
    for number in 1..=count {
        std::fs::write(
            dir.path().join(format!("drop/f{number:04}.csv")),
            member_file(number),
        )
        .unwrap();
    }
    service.wait_for_count("run ended", usize::try_from(count).unwrap());
    expected.sort();
    let processed = names_in(&dir.path().join("drop/processed"));
    assert_eq!(
        dropped_names(&processed),
        expected,
        "every file archived once"
    );
    let rows = ledger(dir.path());
    let mut ledger_names: Vec<String> = rows.iter().map(|row| row.entry.name.clone()).collect();
    ledger_names.sort();
    assert_eq!(ledger_names, expected, "one ledger row per file");
    assert!(rows.iter().all(|row| row.status == "processed"), "{rows:?}");
    let mut runs: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.run_id.as_deref())
        .collect();
    runs.dedup();
    assert_eq!(runs.len(), expected.len(), "one run per file");
    assert_eq!(job_trigger_files(dir.path()), expected, "one job per file");
    assert_eq!(
        names_in(&dir.path().join("drop")),
        [".processing", "duplicates", "failed", "processed"],
        "nothing left behind"
    );
    assert!(names_in(&dir.path().join("drop/failed")).is_empty());
    assert!(claimed_names(&dir.path().join("drop"), "hires").is_empty());
    let used: Vec<&str> = USERS
        .iter()
        .enumerate()
        .filter(|(bit, _)| (1..=count).any(|number| number & (1 << bit) != 0))
        .map(|(_, user)| *user)
        .collect();
    assert_eq!(contractors(dir.path()), sorted(&used), "every member added");
    let log = service.kill();
    assert_eq!(log.matches("run started").count(), expected.len(), "{log}");
}

fn sorted(users: &[&str]) -> Vec<String> {
    let mut users: Vec<String> = users.iter().map(|user| (*user).to_owned()).collect();
    users.sort();
    users
}

#[test]
fn five_hundred_files_dropped_at_once_each_run_exactly_once() {
    burst(500, &["m"], &[]);
}

#[test]
fn a_burst_runs_exactly_once_when_polling() {
    burst(200, &["m", "--poll", "1s"], &[]);
}

#[test]
fn when_every_event_is_lost_the_periodic_listing_finds_every_file() {
    burst(
        200,
        &["m", "--rescan", "1s"],
        &[("BULKOPS_WATCH_DROP_EVENTS", "1")],
    );
}

/// A file written slowly (10 MB in 4 KiB appends over five seconds) runs once,
/// after the last write, and its run saw all of it.
fn slow_writer(args: &[&str]) {
    let dir = project("");
    // The default settle time, two seconds.
    let manifest = std::fs::read_to_string(dir.path().join("m/hires.yaml")).unwrap();
    std::fs::write(
        dir.path().join("m/hires.yaml"),
        manifest.replace("      settle: 300ms\n", ""),
    )
    .unwrap();
    let mut service = Service::start(dir.path(), args, &[]);
    let path = dir.path().join("drop/upload.csv");
    let content = write_slowly(&path, 10 * 1024 * 1024, Duration::from_secs(5));
    let finished_writing = std::time::SystemTime::now();
    service.wait_for_count("run ended", 1);
    let rows = ledger(dir.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].entry.size, u64::try_from(content.len()).unwrap());
    assert_eq!(
        rows[0].entry.sha256,
        sha256(&content),
        "the run saw the whole file"
    );
    assert!(rows[0].entry.claimed_at >= jiff::Timestamp::try_from(finished_writing).unwrap());
    let unchanged_for = rows[0]
        .entry
        .claimed_at
        .duration_since(rows[0].entry.modified);
    assert!(
        unchanged_for >= jiff::SignedDuration::from_secs(2),
        "claimed {unchanged_for:?} after the last write"
    );
    let result = std::fs::read_to_string(dir.path().join("results/upload.csv")).unwrap();
    let data_rows = content.split(|&b| b == b'\n').count() - 2;
    assert_eq!(
        result.lines().count() - 1,
        data_rows,
        "every row has a result"
    );
    let archived = names_in(&dir.path().join("drop/processed"));
    assert_eq!(archived.len(), 1);
    assert_eq!(
        std::fs::read(dir.path().join("drop/processed").join(&archived[0])).unwrap(),
        content
    );
    let log = service.kill();
    assert_eq!(log.matches("claimed").count(), 1, "{log}");
}

fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    bulkops::files::input::hex(digest.as_ref())
}

#[test]
fn a_slow_writer_runs_once_after_it_finished() {
    slow_writer(&["m"]);
}

#[test]
fn a_slow_writer_runs_once_after_it_finished_when_polling() {
    slow_writer(&["m", "--poll", "500ms"]);
}

#[test]
fn renamed_in_files_run_and_ignored_names_stay_untouched() {
    let dir = project("");
    let drop = dir.path().join("drop");
    let ignored = [
        ".hidden.csv",
        "notes.txt",
        "a.csv~",
        "b.csv.tmp",
        "c.csv.part",
        "d.csv.partial",
        "e.csv.crdownload",
        "f.csv.filepart",
    ];
    for name in ignored {
        std::fs::write(drop.join(name), member_file(1)).unwrap();
    }
    let mut service = Service::start(dir.path(), &["m"], &[]);
    // Written elsewhere, renamed in whole.
    drop_file(dir.path(), "drop/renamed.csv", &member_file(3));
    // Written under a partial name, then renamed to its final name.
    std::fs::write(drop.join("upload.csv.part"), member_file(5)).unwrap();
    std::fs::rename(drop.join("upload.csv.part"), drop.join("upload.csv")).unwrap();
    service.wait_for_count("run ended", 2);
    assert_eq!(
        dropped_names(&names_in(&drop.join("processed"))),
        ["renamed.csv", "upload.csv"]
    );
    for name in ignored {
        assert_eq!(
            std::fs::read_to_string(drop.join(name)).unwrap(),
            member_file(1),
            "{name} untouched"
        );
    }
    let log = service.kill();
    assert_eq!(log.matches("claimed").count(), 2, "{log}");
    assert_eq!(ledger(dir.path()).len(), 2);
}

#[test]
fn the_same_content_again_is_skipped_by_default() {
    let dir = project("");
    let drop = dir.path().join("drop");
    drop_file(dir.path(), "drop/monday.csv", &member_file(7));
    assert_eq!(once(dir.path(), &["m"], &[]).0, 0);
    drop_file(dir.path(), "drop/tuesday.csv", &member_file(7));
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("skipped: the same content was run before"),
        "{log}"
    );
    assert_eq!(
        dropped_names(&names_in(&drop.join("duplicates"))),
        ["tuesday.csv"]
    );
    let rows = ledger(dir.path());
    let statuses: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| (row.entry.name.as_str(), row.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [("monday.csv", "processed"), ("tuesday.csv", "duplicate")]
    );
    assert_eq!(rows[1].run_id, None);
    assert_eq!(job_trigger_files(dir.path()), ["monday.csv"]);
}

#[test]
fn the_same_content_again_runs_again_when_the_manifest_says_so() {
    let dir = project("      duplicates: run\n");
    drop_file(dir.path(), "drop/monday.csv", &member_file(7));
    assert_eq!(once(dir.path(), &["m"], &[]).0, 0);
    drop_file(dir.path(), "drop/tuesday.csv", &member_file(7));
    assert_eq!(once(dir.path(), &["m"], &[]).0, 0);
    assert_eq!(job_trigger_files(dir.path()), ["monday.csv", "tuesday.csv"]);
    assert!(
        ledger(dir.path())
            .iter()
            .all(|row| row.status == "processed")
    );
}

#[test]
fn content_whose_run_failed_runs_again_when_dropped_again() {
    let dir = project("");
    let unknown = format!("{HEADER}\nnobody@contoso.example\n");
    drop_file(dir.path(), "drop/first.csv", &unknown);
    assert_eq!(once(dir.path(), &["m"], &[]).0, 1);
    drop_file(dir.path(), "drop/again.csv", &unknown);
    assert_eq!(once(dir.path(), &["m"], &[]).0, 1);
    let statuses: Vec<String> = ledger(dir.path())
        .iter()
        .map(|row| row.status.clone())
        .collect();
    assert_eq!(statuses, ["failed", "failed"]);
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/failed"))),
        ["again.csv", "first.csv"]
    );
}

#[test]
fn once_exits_zero_when_every_run_completed_and_one_when_any_failed() {
    let dir = project("");
    drop_file(dir.path(), "drop/good.csv", &member_file(1));
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    drop_file(dir.path(), "drop/good2.csv", &member_file(2));
    drop_file(dir.path(), "drop/bad.csv", "no member column here\nx\n");
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("refused: no run was recorded, and nothing was changed"),
        "{log}"
    );
    assert!(log.contains("names no member column"), "{log}");
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/failed"))),
        ["bad.csv"]
    );
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/processed"))),
        ["good.csv", "good2.csv"]
    );
    let refused = ledger(dir.path())
        .into_iter()
        .find(|row| row.entry.name == "bad.csv")
        .unwrap();
    assert_eq!(refused.status, "refused");
    assert!(refused.reason.unwrap().contains("names no member column"));
    // Nothing there: nothing to do, success.
    assert_eq!(once(dir.path(), &["m"], &[]).0, 0);
}

#[test]
fn in_marker_mode_a_file_runs_only_once_its_marker_exists() {
    let dir = project("      complete: marker\n");
    let drop = dir.path().join("drop");
    std::fs::write(drop.join("hires.csv"), member_file(9)).unwrap();
    let mut service = Service::start(dir.path(), &["m", "--rescan", "1s"], &[]);
    // Two full listings pass without a marker: nothing is claimed.
    let listed_before = service.log().matches("listed").count();
    service.wait_for_count("listed", listed_before + 2);
    assert!(drop.join("hires.csv").exists());
    assert!(!service.log().contains("claimed"));
    std::fs::write(drop.join("hires.csv.done"), "").unwrap();
    service.wait_for_count("run ended", 1);
    let mut archived = names_in(&drop.join("processed"));
    archived.sort();
    assert_eq!(archived.len(), 2, "{archived:?}");
    assert_eq!(dropped_names(&archived[..1]), ["hires.csv"]);
    assert_eq!(archived[1], format!("{}.done", archived[0]));
    service.kill();
}

#[test]
fn archive_folders_on_another_file_system_are_refused_at_start() {
    let dir = project("");
    let elsewhere = folder_on_another_file_system(dir.path());
    let manifest = std::fs::read_to_string(dir.path().join("m/hires.yaml")).unwrap();
    std::fs::write(
        dir.path().join("m/hires.yaml"),
        manifest.replace(
            "      settle: 300ms\n",
            &format!(
                "      settle: 300ms\n      archive: {{ processed: {} }}\n",
                elsewhere.path().display()
            ),
        ),
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["watch", "--once", "m"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = run.stderr_text();
    assert!(
        text.contains("is on another file system than the watched folder"),
        "{text}"
    );
    assert!(text.contains("cannot cross file systems"), "{text}");
}

/// A fresh folder on another file system than `here`: the first writable candidate among
/// the usual memory and spool mounts. Linux test machines always have one (`/dev/shm`).
fn folder_on_another_file_system(here: &std::path::Path) -> tempfile::TempDir {
    let here = std::fs::metadata(here).unwrap().dev();
    ["/dev/shm", "/run/shm", "/run/user", "/var/tmp", "/run", "/home", "/mnt"]
        .iter()
        .filter(|candidate| std::fs::metadata(candidate).is_ok_and(|meta| meta.dev() != here))
        .find_map(|candidate| tempfile::tempdir_in(candidate).ok())
        .expect("a writable folder on another file system than the temp folder (/dev/shm, /var/tmp, /run …)")
}

#[test]
fn a_second_watch_on_the_same_folder_is_refused() {
    let dir = project("");
    let service = Service::start(dir.path(), &["m"], &[]);
    let second = bulkops_in(dir.path(), &["watch", "m"]);
    assert_eq!(second.code, 64, "{}", second.stderr);
    assert!(
        second
            .stderr_text()
            .contains("another `bulkops watch` serves workflow `hires`"),
        "{}",
        second.stderr
    );
    service.kill();
}

#[test]
fn a_folder_of_manifests_without_a_watch_trigger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::support::repo_path("manifests/quickstart.yaml"),
        dir.path().join("quickstart.yaml"),
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["watch", "."]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("no manifest with `spec.trigger.watch`")
    );
}

#[test]
fn a_link_planted_for_an_archive_folder_is_refused() {
    let dir = project("");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("drop/processed")).unwrap();
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    let run = bulkops_in(dir.path(), &["watch", "--once", "m"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr_text().contains("is a symbolic link"),
        "{}",
        run.stderr
    );
    assert!(names_in(outside.path()).is_empty());
    assert!(
        dir.path().join("drop/a.csv").exists(),
        "nothing was claimed"
    );
}

#[test]
fn a_dropped_link_is_never_taken() {
    let dir = project("");
    let target = dir.path().join("secret.csv");
    std::fs::write(&target, member_file(1)).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("drop/link.csv")).unwrap();
    drop_file(dir.path(), "drop/real.csv", &member_file(2));
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        dropped_names(&names_in(&dir.path().join("drop/processed"))),
        ["real.csv"]
    );
    assert!(dir.path().join("drop/link.csv").is_symlink());
    assert_eq!(
        claimed_names(&dir.path().join("drop"), "hires"),
        Vec::<String>::new()
    );
}

#[test]
fn each_file_waits_for_the_run_before_it_and_runs_in_arrival_order() {
    let dir = project("");
    let drop = dir.path().join("drop");
    // Written in this order, older first, with names in the other order.
    for (name, number) in [("c.csv", 1), ("b.csv", 2), ("a.csv", 4)] {
        drop_file(dir.path(), &format!("drop/{name}"), &member_file(number));
        let modified = std::fs::metadata(drop.join(name))
            .unwrap()
            .modified()
            .unwrap();
        wait_until("the clock moves on", PATIENCE, || {
            std::time::SystemTime::now() > modified + Duration::from_millis(20)
        });
    }
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    let started: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("run started"))
        .filter_map(|line| line.split("file=").nth(1))
        .filter_map(|rest| rest.split('}').next())
        .collect();
    assert_eq!(started, ["c.csv", "b.csv", "a.csv"], "{log}");
    assert_single_run_at_a_time(&log);
}

/// With `concurrency: 1`, each run ended before the next started.
fn assert_single_run_at_a_time(log: &str) {
    let mut open = 0;
    for line in log.lines() {
        if line.contains("run started") {
            open += 1;
            assert_eq!(open, 1, "two runs at once:\n{log}");
        } else if line.contains("run ended") {
            open -= 1;
        }
    }
}

#[test]
fn the_readme_watch_example_works_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_tree(
        &crate::support::repo_path("manifests"),
        &dir.path().join("manifests"),
    );
    crate::support::copy_tree(
        &crate::support::repo_path("examples"),
        &dir.path().join("examples"),
    );
    let drop = dir.path().join("drop/new-hires");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(
        dir.path()
            .join("examples/new-hires/new-hires-2026-11-30.csv"),
        drop.join("new-hires-2026-11-30.csv"),
    )
    .unwrap();
    let run = bulkops_in(
        dir.path(),
        &["watch", "manifests/watch-new-hires.yaml", "--once"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let processed = names_in(&drop.join("processed"));
    assert_eq!(dropped_names(&processed), ["new-hires-2026-11-30.csv"]);
    assert_eq!(
        names_in(&dir.path().join("results/new-hires-2026-11-30")),
        ["all-staff.csv", "onboarding.csv"]
    );
    assert_eq!(
        names_in(&dir.path().join("reports")),
        ["new-hires-2026-11-30-onboarding-members.csv"]
    );
    let results = std::fs::read_to_string(
        dir.path()
            .join("results/new-hires-2026-11-30/onboarding.csv"),
    )
    .unwrap();
    assert!(
        results.contains("omar.murphy@contoso.example,"),
        "{results}"
    );
    assert_eq!(job_trigger_files(dir.path()).len(), 3);
}

#[test]
fn max_runs_limits_the_runs_of_every_workflow_together() {
    let dir = project("      concurrency: 4\n");
    std::fs::create_dir_all(dir.path().join("drop2")).unwrap();
    std::fs::write(
        dir.path().join("m/other.yaml"),
        crate::watch_support::manifest("other", "drop2", "      concurrency: 4\n"),
    )
    .unwrap();
    for number in 1..=12 {
        drop_file(
            dir.path(),
            &format!("drop/a{number:02}.csv"),
            &member_file(number),
        );
        drop_file(
            dir.path(),
            &format!("drop2/b{number:02}.csv"),
            &member_file(number),
        );
    }
    let (code, log) = once(dir.path(), &["m", "--max-runs", "1"], &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(log.matches("run ended").count(), 24, "{log}");
    assert_single_run_at_a_time(&log);
}

#[test]
fn json_log_lines_name_the_file_and_run_of_every_claim_run_and_archive() {
    let dir = project("");
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    let run = bulkops_in(
        dir.path(),
        &["--log-format", "json", "watch", "--once", "m"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|line| line["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` line: {}", run.stderr))
    };
    assert_eq!(find("claimed")["fields"]["file"], "a.csv");
    let started = find("run started");
    assert_eq!(started["span"]["file"], "a.csv");
    let run_id = started["fields"]["run"].as_str().unwrap();
    let ended = find("run ended");
    assert_eq!(ended["fields"]["run"], run_id);
    assert_eq!(ended["fields"]["status"], "completed");
    assert!(
        ended["fields"]["archived"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/drop/processed/a.{run_id}.csv"))
    );
}

#[test]
fn a_manifest_dropped_into_a_watched_folder_is_never_served() {
    let dir = project("");
    // Served from the project folder itself, as `bulkops watch` does by default.
    std::fs::create_dir_all(dir.path().join("drop/evil")).unwrap();
    let evil = crate::watch_support::manifest("evil", "drop/evil", "")
        .replace("eng-contractors", "Global Admins");
    std::fs::write(dir.path().join("drop/evil.yaml"), evil).unwrap();
    drop_file(dir.path(), "drop/evil/x.csv", &member_file(1));
    drop_file(dir.path(), "drop/a.csv", &member_file(2));
    let (code, log) = once(dir.path(), &["."], &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("manifest ignored: it is inside a watched folder"),
        "{log}"
    );
    assert!(!log.contains("workflow=evil"), "{log}");
    assert!(dir.path().join("drop/evil/x.csv").exists());
    assert_eq!(job_trigger_files(dir.path()), ["a.csv"]);
    // Once the folder has been watched, its tree is not even searched.
    drop_file(dir.path(), "drop/b.csv", &member_file(4));
    let (code, log) = once(dir.path(), &["."], &[]);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("evil"), "{log}");
    assert_eq!(job_trigger_files(dir.path()), ["a.csv", "b.csv"]);
}

#[test]
fn a_file_with_a_name_as_long_as_the_system_allows_is_archived() {
    let dir = project("");
    let name = format!("{}.csv", "n".repeat(251));
    std::fs::write(dir.path().join("drop").join(&name), member_file(1)).unwrap();
    let (code, log) = once(dir.path(), &["m"], &[]);
    assert_eq!(code, 0, "{log}");
    let archived = names_in(&dir.path().join("drop/processed"));
    assert_eq!(archived.len(), 1, "{log}");
    assert!(archived[0].len() <= 250, "room for a marker's .done");
    assert!(claimed_names(&dir.path().join("drop"), "hires").is_empty());
    let rows = ledger(dir.path());
    assert_eq!(rows[0].status, "processed");
    assert!(std::path::Path::new(rows[0].archived_as.as_ref().unwrap()).exists());
}

#[test]
fn a_rotated_archive_folder_is_the_one_the_next_file_goes_to() {
    let dir = project("");
    let drop = dir.path().join("drop");
    let mut service = Service::start(dir.path(), &["m"], &[]);
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    service.wait_for_count("run ended", 1);
    std::fs::rename(drop.join("processed"), drop.join("processed-2026-11")).unwrap();
    drop_file(dir.path(), "drop/b.csv", &member_file(2));
    service.wait_for_count("run ended", 2);
    service.kill();
    assert_eq!(dropped_names(&names_in(&drop.join("processed"))), ["b.csv"]);
    assert_eq!(
        dropped_names(&names_in(&drop.join("processed-2026-11"))),
        ["a.csv"]
    );
    let b = ledger(dir.path())
        .into_iter()
        .find(|row| row.entry.name == "b.csv")
        .unwrap();
    assert!(
        std::path::Path::new(&b.archived_as.unwrap()).exists(),
        "the ledger says where it is"
    );
}

#[test]
fn an_archive_folder_that_is_the_watched_folder_is_refused_at_start() {
    let dir = project("");
    let drop = dir.path().join("drop");
    let manifest = std::fs::read_to_string(dir.path().join("m/hires.yaml")).unwrap();
    std::fs::write(
        dir.path().join("m/hires.yaml"),
        manifest.replace(
            "      settle: 300ms\n",
            &format!(
                "      settle: 300ms\n      duplicates: run\n      archive: {{ processed: {} }}\n",
                drop.display()
            ),
        ),
    )
    .unwrap();
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    let run = bulkops_in(dir.path(), &["watch", "--once", "m"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = run.stderr_text();
    assert!(text.contains("is the watched folder"), "{text}");
    assert!(drop.join("a.csv").exists(), "nothing ran");
    assert!(ledger(dir.path()).is_empty());
}

#[test]
fn a_watch_whose_lock_file_was_removed_stops_claiming() {
    let dir = project("");
    let service = Service::start(dir.path(), &["m"], &[]);
    std::fs::remove_file(dir.path().join("drop/.processing/hires.lock")).unwrap();
    drop_file(dir.path(), "drop/a.csv", &member_file(1));
    service.wait_for("no more files are claimed from it");
    let log = service.kill();
    assert!(!log.contains("claimed workflow"), "{log}");
    assert!(dir.path().join("drop/a.csv").exists());
    assert!(ledger(dir.path()).is_empty());
}
