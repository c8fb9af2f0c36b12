//! `bulkops jobs`: the job history after a run, and deleting jobs with their files.

use crate::support::bulkops_in;

fn quickstart() -> tempfile::TempDir {
    let dir = crate::apply::quickstart_dir();
    assert_eq!(
        bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]).code,
        0
    );
    dir
}

#[test]
fn jobs_are_listed_shown_downloaded_and_deleted() {
    let dir = quickstart();
    let run = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(jobs.len(), 19);
    let import = jobs
        .iter()
        .find(|job| job["step"] == "add-new-hires")
        .unwrap();
    assert_eq!(
        (
            import["status"].as_str(),
            import["total"].as_u64(),
            import["changed"].as_u64()
        ),
        (Some("completed"), Some(7), Some(6))
    );
    let id = import["id"].as_str().unwrap();

    let shown = bulkops_in(dir.path(), &["jobs", "show", id]);
    assert!(
        shown
            .stdout
            .contains("name       quickstart/add-new-hires\n"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains(&format!(
            "results    {}/results/",
            std::fs::canonicalize(dir.path()).unwrap().display()
        )),
        "{}",
        shown.stdout
    );

    let downloaded = bulkops_in(dir.path(), &["jobs", "download", id, "--to", "copies"]);
    assert_eq!(downloaded.code, 0, "{}", downloaded.stderr);
    let copy =
        std::fs::read_to_string(dir.path().join("copies/add-new-hires-eng-platform.csv")).unwrap();
    assert!(
        copy.ends_with("nestor.wilber@contoso.example,8,alreadyMember,\n"),
        "{copy}"
    );

    let results = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(results.join("add-new-hires-eng-platform.csv").exists());
    let deleted = bulkops_in(dir.path(), &["jobs", "delete", id]);
    assert_eq!(deleted.stdout, format!("deleted {id} and 1 file\n"));
    assert!(
        !results.join("add-new-hires-eng-platform.csv").exists(),
        "the job's file went with it"
    );
    let missing = bulkops_in(dir.path(), &["jobs", "show", id]);
    assert_eq!(missing.code, 64);
    assert!(
        missing
            .stderr
            .contains(&format!("no job has the id `{id}`")),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_delete_jobs_step_removes_old_jobs_of_other_runs() {
    let dir = quickstart();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: tidy\nspec:\n  steps:\n    - id: tidy\n      deleteJobs:\n        name: \"quickstart/remove-*\"\n        status: completed\n";
    std::fs::write(dir.path().join("tidy.yaml"), manifest).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "tidy.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("completed 8 rows, 8 changed, 0 failed"),
        "{}",
        run.stdout
    );
    let list = bulkops_in(dir.path(), &["jobs", "list", "--format", "json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(jobs.len(), 19 - 8 + 1);
    assert!(jobs.iter().all(|job| job["step"] != "remove-leavers"));
}
