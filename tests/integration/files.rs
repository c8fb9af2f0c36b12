//! Files bulkops writes and deletes: result files never replace anything
//! (not a earlier result, never the input); nothing is written or deleted
//! outside the output root, whatever links are planted in it; `jobs delete`
//! deletes only the files the job wrote, from any folder; temporary files of
//! a killed run are removed by its resume; cells a spreadsheet would run as
//! formulas are neutralized; names too long for the file system are
//! shortened; values from the directory cannot forge log lines.

use std::fmt::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::{Held, bulkops_env, bulkops_in, copy_tree, repo_path};

/// A folder with the offboarding manifest and its leavers list.
fn offboarding() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_path("manifests"), &dir.path().join("manifests"));
    copy_tree(&repo_path("examples"), &dir.path().join("examples"));
    dir
}

fn files_below(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(folder).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_second_run_never_replaces_the_first_runs_results() {
    let dir = offboarding();
    let first = bulkops_in(dir.path(), &["apply", "manifests/offboarding.yaml"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let results = dir.path().join("offboarding");
    let before: Vec<(String, String)> = files_below(&results)
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(results.join(&file)).unwrap();
            (file, text)
        })
        .collect();
    assert!(
        before.iter().any(|(_, text)| text.contains(",removed,")),
        "the first run removed someone"
    );
    let second = bulkops_in(dir.path(), &["apply", "manifests/offboarding.yaml"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    for (file, text) in &before {
        assert_eq!(
            &std::fs::read_to_string(results.join(file)).unwrap(),
            text,
            "{file} is as the first run wrote it"
        );
    }
    let after = files_below(&results);
    assert_eq!(after.len(), 2 * before.len(), "{after:?}");
    assert!(
        after.iter().any(|file| file.ends_with("-1.csv")),
        "the second run's results got a suffix: {after:?}"
    );
}

#[test]
fn a_result_file_never_replaces_the_steps_input() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = |overwrite: bool| {
        format!(
            "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: same\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: {{ displayName: eng-web }}\n        input: list.csv\n        results: list.csv\n        overwrite: {overwrite}\n"
        )
    };
    let list = "allan.moreau@contoso.example\n";
    std::fs::write(dir.path().join("list.csv"), list).unwrap();
    std::fs::write(dir.path().join("replace.yaml"), manifest(true)).unwrap();
    bulkops_in(dir.path(), &["directory", "stats"]);
    let before = crate::support::membership_pairs(&dir.path().join(".bulkops/directory.db"));
    let plan = bulkops_in(dir.path(), &["plan", "replace.yaml"]);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    let refused = bulkops_in(dir.path(), &["apply", "replace.yaml"]);
    assert_eq!(refused.code, 74, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr_text()
            .contains("list.csv` is the step's input; bulkops never writes over an input"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        crate::support::membership_pairs(&dir.path().join(".bulkops/directory.db")),
        before,
        "refused before the step changed anything"
    );
    std::fs::write(dir.path().join("keep.yaml"), manifest(false)).unwrap();
    let kept = bulkops_in(dir.path(), &["apply", "keep.yaml"]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("list.csv")).unwrap(),
        list
    );
    assert!(dir.path().join("list-1.csv").exists());
}

const EXPORT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: export
spec:
  steps:
    - id: eng
      filterGroups:
        displayName: { startsWith: eng-web }
    - id: members
      downloadMembers:
        groups: eng
        output: \"exports/{{group.displayName}}.csv\"
";

#[test]
fn a_link_planted_in_the_output_root_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), EXPORT).unwrap();
    symlink(outside.path(), dir.path().join("exports")).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 74, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "`exports` is a symbolic link; bulkops does not follow links below the output root"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing was written outside the output root"
    );
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let download = jobs.iter().find(|job| job["step"] == "members").unwrap();
    assert_eq!(download["status"], "failed", "{download}");
    assert!(
        download["reason"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{download}"
    );
}

/// The job id and file of the quickstart's `add-new-hires` job.
fn quickstart_job(dir: &Path) -> (String, std::path::PathBuf) {
    let list = bulkops_in(dir, &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let job = jobs
        .iter()
        .find(|job| job["step"] == "add-new-hires")
        .expect("the add job");
    let id = job["id"].as_str().unwrap().to_owned();
    let shown = bulkops_in(dir, &["jobs", "show", &id]);
    let path = shown
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("results    "))
        .and_then(|rest| rest.split(" (").next())
        .expect("a result file")
        .to_owned();
    (id, path.into())
}

#[test]
fn jobs_delete_from_another_folder_deletes_only_what_the_job_wrote() {
    let dir = crate::apply::quickstart_dir();
    let run = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (id, path) = quickstart_job(dir.path());
    assert!(path.is_absolute() && path.exists(), "{}", path.display());
    // Another folder with a file at the same relative path.
    let elsewhere = tempfile::tempdir().unwrap();
    let relative = path
        .strip_prefix(std::fs::canonicalize(dir.path()).unwrap())
        .unwrap();
    let decoy = elsewhere.path().join(relative);
    std::fs::create_dir_all(decoy.parent().unwrap()).unwrap();
    std::fs::write(&decoy, "not the job's file").unwrap();
    let state = dir.path().join(".bulkops/state.db");
    let deleted = bulkops_in(
        elsewhere.path(),
        &[
            "jobs",
            "delete",
            &id,
            "--yes",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(deleted.stdout, format!("deleted {id} and 1 file\n"));
    assert!(!path.exists(), "the job's file went with it");
    assert_eq!(
        std::fs::read_to_string(&decoy).unwrap(),
        "not the job's file"
    );
}

#[test]
fn jobs_delete_keeps_files_that_changed_and_never_follows_links() {
    let dir = crate::apply::quickstart_dir();
    let run = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (id, path) = quickstart_job(dir.path());
    std::fs::write(&path, "edited by hand after the run").unwrap();
    let deleted = bulkops_in(dir.path(), &["jobs", "delete", &id, "--yes"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(
        deleted
            .stdout
            .contains("kept: it changed since the job wrote it"),
        "{}",
        deleted.stdout
    );
    assert!(path.exists());

    // The folder of another job's file replaced by a link to a folder outside.
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let other = jobs
        .iter()
        .find(|job| job["step"] == "remove-leavers")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let folder = path.parent().unwrap().to_path_buf();
    let outside = tempfile::tempdir().unwrap();
    copy_tree(&folder, outside.path());
    std::fs::remove_dir_all(&folder).unwrap();
    symlink(outside.path(), &folder).unwrap();
    let before = files_below(outside.path());
    let through_link = bulkops_in(dir.path(), &["jobs", "delete", &other, "--yes"]);
    assert_eq!(through_link.code, 0, "{}", through_link.stderr);
    assert_eq!(
        files_below(outside.path()),
        before,
        "nothing deleted through the link"
    );
}

#[test]
fn jobs_of_a_run_in_progress_or_resumable_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: slow\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: add.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(dir.path().join("add.csv"), "allan.moreau@contoso.example\n").unwrap();
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &[], "after-apply:1");
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let id = jobs[0]["id"].as_str().unwrap().to_owned();
    let running = bulkops_in(dir.path(), &["jobs", "delete", &id, "--yes"]);
    assert_eq!(running.code, 64, "{}", running.stderr);
    assert!(
        running
            .stderr_text()
            .contains("is being executed right now"),
        "{}",
        running.stderr
    );
    held.kill();
    let interrupted = bulkops_in(dir.path(), &["jobs", "delete", &id, "--yes"]);
    assert_eq!(interrupted.code, 64, "{}", interrupted.stderr);
    assert!(
        interrupted.stderr_text().contains("can still be resumed"),
        "{}",
        interrupted.stderr
    );
    let tidy = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: tidy\nspec:\n  steps:\n    - id: tidy\n      deleteJobs:\n        name: \"slow/*\"\n";
    std::fs::write(dir.path().join("tidy.yaml"), tidy).unwrap();
    let step = bulkops_in(dir.path(), &["apply", "tidy.yaml"]);
    assert_eq!(step.code, 0, "{}", step.stderr);
    assert!(step.stdout.contains("completed 0 rows"), "{}", step.stdout);
    let shown = bulkops_in(dir.path(), &["jobs", "show", &id]);
    assert_eq!(shown.code, 0, "the job is still there: {}", shown.stderr);
}

#[test]
fn delete_jobs_shows_the_files_it_deletes_and_keep_files_keeps_them() {
    let dir = crate::apply::quickstart_dir();
    let run = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, path) = quickstart_job(dir.path());
    let tidy = |keep: bool| {
        format!(
            "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: tidy\nspec:\n  steps:\n    - id: tidy\n      deleteJobs:\n        status: completed\n        keepFiles: {keep}\n"
        )
    };
    std::fs::write(dir.path().join("tidy.yaml"), tidy(false)).unwrap();
    let plan = bulkops_in(dir.path(), &["plan", "tidy.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("would delete "), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&path.display().to_string()),
        "the plan lists the files: {}",
        plan.stdout
    );
    std::fs::write(dir.path().join("keep.yaml"), tidy(true)).unwrap();
    let keep_plan = bulkops_in(dir.path(), &["plan", "keep.yaml"]);
    assert!(
        keep_plan.stdout.contains("and 0 files"),
        "{}",
        keep_plan.stdout
    );
    let kept = bulkops_in(dir.path(), &["apply", "keep.yaml"]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert!(path.exists(), "keepFiles keeps the files");
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    assert!(
        jobs.iter().all(|job| job["step"] != "add-new-hires"),
        "the records are gone"
    );
}

#[test]
fn jobs_delete_asks_on_a_terminal() {
    let dir = crate::apply::quickstart_dir();
    let run = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (id, path) = quickstart_job(dir.path());
    let on_terminal = |answer: &str| {
        use std::io::Write;
        // `script` gives bulkops a terminal; the answer is typed into it.
        let mut child = std::process::Command::new("script")
            .args(["-qec"])
            .arg(format!(
                "{} jobs delete {id}",
                env!("CARGO_BIN_EXE_bulkops")
            ))
            .arg("/dev/null")
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, shown) = on_terminal("n\n");
    assert_eq!(code, 64, "{shown}");
    assert!(
        shown.contains("delete 1 job and the 1 file below?"),
        "{shown}"
    );
    assert!(path.exists(), "nothing was deleted");
    let (code, shown) = on_terminal("y\n");
    assert_eq!(code, 0, "{shown}");
    assert!(!path.exists());
}

#[test]
fn a_resume_removes_the_temporary_files_of_the_killed_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: slow\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: add.csv\n        results: out/results.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(
        dir.path().join("add.csv"),
        "allan.moreau@contoso.example\npradeep.murphy@contoso.example\n",
    )
    .unwrap();
    Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &[("BULKOPS_CHUNK_ROWS", "1")],
        "after-apply:1",
    )
    .kill();
    let leftovers = files_below(&dir.path().join("out"));
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(
        leftovers[0].starts_with(".bulkops.") && leftovers[0].ends_with(".partial"),
        "{leftovers:?}"
    );
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let run_id = jobs[0]["runId"].as_str().unwrap().to_owned();
    let resumed = bulkops_in(dir.path(), &["apply", "--resume", &run_id]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(files_below(&dir.path().join("out")), ["results.csv"]);
}

/// A tenant whose eng-web group has members with hostile display names.
fn hostile_tenant(dir: &Path) {
    let tenant = crate::support::demo_tenant_copy(dir);
    let mut users = std::fs::read_to_string(tenant.join("users.csv")).unwrap();
    users.push_str("1b5c0e0e-7d7a-4e55-9c3b-8f0d5a1e2b01,mallory@contoso.example,\"=HYPERLINK(\"\"https://evil.example\"\",\"\"Payroll\"\")\",,Member,true,,,2025-01-01T00:00:00Z\n");
    users.push_str("1b5c0e0e-7d7a-4e55-9c3b-8f0d5a1e2b02,trudy@contoso.example,\"Trudy\nINFO forged line\",,Member,true,,,2025-01-01T00:00:00Z\n");
    std::fs::write(tenant.join("users.csv"), users).unwrap();
    let mut memberships = std::fs::read_to_string(tenant.join("memberships.csv")).unwrap();
    memberships.push_str(
        "ea667e41-e369-433b-bc84-bb902ea775ad,1b5c0e0e-7d7a-4e55-9c3b-8f0d5a1e2b01,user\n",
    );
    memberships.push_str(
        "ea667e41-e369-433b-bc84-bb902ea775ad,1b5c0e0e-7d7a-4e55-9c3b-8f0d5a1e2b02,user\n",
    );
    std::fs::write(tenant.join("memberships.csv"), memberships).unwrap();
    let made = bulkops_in(dir, &["directory", "init", "--from", "tenant"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
}

#[test]
fn formula_cells_are_neutralized_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    hostile_tenant(dir.path());
    std::fs::write(dir.path().join("m.yaml"), EXPORT).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dir.path().join("exports/eng-web.csv")).unwrap();
    assert!(
        text.contains("mallory@contoso.example,\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"Payroll\"\")\",User"),
        "{text}"
    );
    let keep = EXPORT.replace("spec:\n", "spec:\n  csv: { formulas: keep }\n");
    std::fs::write(dir.path().join("keep.yaml"), keep).unwrap();
    let exact = bulkops_in(dir.path(), &["apply", "keep.yaml"]);
    assert_eq!(exact.code, 0, "{}", exact.stderr);
    let text = std::fs::read_to_string(dir.path().join("exports/eng-web-1.csv")).unwrap();
    assert!(
        text.contains("mallory@contoso.example,\"=HYPERLINK(\"\"https://evil.example\"\",\"\"Payroll\"\")\",User"),
        "{text}"
    );
}

#[test]
fn a_members_download_with_line_breaks_is_a_valid_removal_list() {
    let dir = tempfile::tempdir().unwrap();
    hostile_tenant(dir.path());
    std::fs::write(dir.path().join("m.yaml"), EXPORT).unwrap();
    assert_eq!(bulkops_in(dir.path(), &["apply", "m.yaml"]).code, 0);
    let remove = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: empty\nspec:\n  steps:\n    - id: remove\n      removeMembers:\n        group: { displayName: eng-web }\n        input: exports/eng-web.csv\n";
    std::fs::write(dir.path().join("remove.yaml"), remove).unwrap();
    let run = bulkops_env(
        dir.path(),
        &["apply", "remove.yaml"],
        &[("BULKOPS_LOG", "debug")],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("13 rows, 13 changed, 0 failed"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr
            .lines()
            .any(|line| line.starts_with("INFO forged")),
        "no forged log line: {}",
        run.stderr
    );
}

#[test]
fn values_from_the_directory_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = crate::support::demo_tenant_copy(dir.path());
    let groups = std::fs::read_to_string(tenant.join("groups.csv"))
        .unwrap()
        .replace(
            ",eng-web,",
            ",\"eng-web\n2026-11-30T00:00:00Z  INFO forged=yes\",",
        );
    std::fs::write(tenant.join("groups.csv"), groups).unwrap();
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--from", "tenant"]).code,
        0
    );
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: forged\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { id: ea667e41-e369-433b-bc84-bb902ea775ad }\n        input: add.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(dir.path().join("add.csv"), "allan.moreau@contoso.example\n").unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("group=eng-web\\n2026-11-30T00:00:00Z  INFO forged=yes"),
        "the line break is escaped: {}",
        run.stderr
    );
    assert!(
        !run.stderr
            .lines()
            .any(|line| line.starts_with("2026-11-30T00:00:00Z")),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("eng-web\\n2026-11-30T00:00:00Z  INFO forged=yes:"),
        "the summary escapes it too: {}",
        run.stdout
    );
}

#[test]
fn names_too_long_for_the_file_system_are_shortened_and_later_groups_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = crate::support::demo_tenant_copy(dir.path());
    let long = format!("eng-web-{}", "x".repeat(248));
    assert_eq!(long.len(), 256, "Graph's longest display name");
    let mut groups = std::fs::read_to_string(tenant.join("groups.csv")).unwrap();
    let _ = writeln!(
        groups,
        "0b8c9d2e-1f3a-4b5c-8d7e-6f5a4b3c2d1e,{long},Long,,false,long,true,,,,2025-01-01T00:00:00Z,Private,false"
    );
    std::fs::write(tenant.join("groups.csv"), groups).unwrap();
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--from", "tenant"]).code,
        0
    );
    std::fs::write(dir.path().join("m.yaml"), EXPORT).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let written = files_below(&dir.path().join("exports"));
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(written.contains(&"eng-web.csv".to_owned()), "{written:?}");
    let shortened = written
        .iter()
        .find(|name| name.starts_with("eng-web-x"))
        .unwrap();
    assert!(
        shortened.len() <= 255
            && Path::new(shortened)
                .extension()
                .is_some_and(|extension| extension == "csv"),
        "{shortened}"
    );
}

#[test]
fn a_nul_in_an_output_template_fails_validation() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: nul\nspec:\n  steps:\n    - id: groups\n      downloadGroups:\n        output: \"a\\0b.csv\"\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let run = bulkops_in(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(
        run.stderr.contains("contains a NUL character"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_job_killed_after_its_file_was_written_writes_it_once_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: once\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: add.csv\n        results: out/results.csv\n    - id: groups\n      needs: [add]\n      downloadGroups:\n        output: out/groups.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(dir.path().join("add.csv"), "allan.moreau@contoso.example\n").unwrap();
    for point in ["written:1", "written:2"] {
        let _ = std::fs::remove_dir_all(dir.path().join("out"));
        Held::start(dir.path(), &["apply", "m.yaml"], &[], point).kill();
        let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
        let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
        let run_id = jobs[0]["runId"].as_str().unwrap().to_owned();
        let resumed = bulkops_in(dir.path(), &["apply", "--resume", &run_id]);
        assert_eq!(resumed.code, 0, "{point}: {}", resumed.stderr);
        assert_eq!(
            files_below(&dir.path().join("out")),
            ["groups.csv", "results.csv"],
            "{point}: each file once"
        );
        let results = std::fs::read_to_string(dir.path().join("out/results.csv")).unwrap();
        assert!(
            results.contains("allan.moreau@contoso.example,"),
            "{results}"
        );
    }
}

#[test]
fn jobs_download_copies_only_the_files_the_job_wrote() {
    let dir = crate::apply::quickstart_dir();
    let run = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (id, path) = quickstart_job(dir.path());
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "not for copying").unwrap();
    std::fs::remove_file(&path).unwrap();
    symlink(&secret, &path).unwrap();
    let copied = bulkops_in(dir.path(), &["jobs", "download", &id, "--to", "copies"]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    assert!(copied.stdout.contains("not copied: "), "{}", copied.stdout);
    assert!(
        !dir.path().join("copies").exists() || files_below(&dir.path().join("copies")).is_empty(),
        "nothing was copied through the link"
    );
}
