//! `bulkops apply` over the real binary against the embedded directory: the
//! quickstart, every row outcome, bad input, and resuming a killed run. Each
//! test checks the directory's end state, the job records and the files.

use std::path::Path;

use bulkops::directory::local::LocalDirectory;
use bulkops::store::{JobStore, Status};

use crate::support::{Run, bulkops_in, membership_pairs, repo_path};

const ENG_PLATFORM: &str = "38925df8-4c93-4d64-b5f7-200b04f21830";
const NESTOR: &str = "959575fe-0a73-4d03-b43a-2c9fbed3e91c";
const ALLAN: &str = "d67e4d92-8a83-4817-8d64-5fa6d13c513a";
const KIOSK_01: &str = "fc6e4db1-ab75-4c75-931b-0a277120bead";
const TEMPLATE: &str = "Member object ID or user principal name [memberObjectIdOrUpn] Required";

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn directory(dir: &Path) -> LocalDirectory {
    LocalDirectory::open(&dir.join(".bulkops/directory.db")).unwrap()
}

/// Every membership of a fresh demo tenant: what "nothing changed" means.
pub(crate) fn demo_pairs() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    directory(dir.path());
    membership_pairs(&dir.path().join(".bulkops/directory.db"))
}

fn is_member(dir: &Path, group: &str, member: &str) -> bool {
    directory(dir).is_member(group, member).unwrap()
}

fn jobs(dir: &Path) -> Vec<bulkops::store::JobRecord> {
    let mut jobs = JobStore::open(&dir.join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap();
    jobs.sort_by(|a, b| (&a.step, &a.target_name).cmp(&(&b.step, &b.target_name)));
    jobs
}

pub(crate) fn run_id(run: &Run) -> String {
    let line = run
        .stdout
        .lines()
        .find(|line| line.starts_with("run "))
        .expect("a summary line");
    line.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn the_quickstart_runs_on_a_fresh_machine() {
    let dir = quickstart_dir();
    let run = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let id = run_id(&run);
    assert!(
        run.stdout
            .contains(&format!("run {id} of workflow `quickstart`: completed")),
        "{}",
        run.stdout
    );

    assert!(
        is_member(
            dir.path(),
            ENG_PLATFORM,
            "86ad9101-08d2-43b7-b25a-55f4796ce0e9"
        ),
        "pradeep was added"
    );
    let results = std::fs::read_to_string(
        dir.path()
            .join(format!("results/{id}/add-new-hires-eng-platform.csv")),
    )
    .unwrap();
    assert_eq!(
        results,
        format!(
            "{TEMPLATE},line,status,error\nallan.moreau@contoso.example,2,added,\npradeep.murphy@contoso.example,3,added,\n\
             maya.schmidt@contoso.example,4,added,\ndiego.silva@contoso.example,5,added,\ntariq.novak@contoso.example,6,added,\n\
             b1548e26-e873-450d-8a52-6d3c533fe66c,7,added,\nnestor.wilber@contoso.example,8,alreadyMember,\n"
        )
    );
    let jobs = jobs(dir.path());
    assert_eq!(
        jobs.len(),
        19,
        "1 group report, 8 downloads, 1 import, 8 removals, 1 clean-up"
    );
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
    let report = std::fs::read_dir(dir.path().join("exports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let groups = std::fs::read_to_string(report.join("engineering-groups.csv")).unwrap();
    assert_eq!(
        groups.lines().count(),
        9,
        "a header and the 8 engineering groups"
    );
    assert!(groups.starts_with(
        "Object ID,Display name,Mail,Group type,Membership type,Description,Created date time\n"
    ));
}

/// A folder whose `outcomes.yaml` meets every member row outcome on the demo tenant.
pub(crate) fn outcomes_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outcomes.yaml",
        &format!(
            "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: outcomes\nspec:\n  steps:\n\
             \x20   - id: add\n      importMembers:\n        group: {{ displayName: Sales Team }}\n        input: add.csv\n        results: add-results.csv\n\
             \x20   - id: dynamic\n      importMembers:\n        group: {{ displayName: Sales Dynamic }}\n        input: one.csv\n        results: dynamic-results.csv\n\
             \x20   - id: remove\n      removeMembers:\n        group: {{ id: {ENG_PLATFORM} }}\n        input: remove.csv\n        results: remove-results.csv\n"
        ),
    );
    write(
        dir.path(),
        "add.csv",
        &format!(
            "{TEMPLATE}\nnestor.wilber@contoso.example\nallan.moreau@contoso.example\nNESTOR.WILBER@contoso.example\n{NESTOR}\n\
             ghost@contoso.example\n00000000-0000-4000-8000-000000000000\nnot an id\n{KIOSK_01}\n"
        ),
    );
    write(
        dir.path(),
        "one.csv",
        "ObjectId\nnestor.wilber@contoso.example\n",
    );
    write(
        dir.path(),
        "remove.csv",
        &format!("{NESTOR}\nallan.moreau@contoso.example\n"),
    );
    dir
}

#[test]
fn every_row_outcome_is_reported() {
    let dir = outcomes_dir();
    let run = bulkops_in(dir.path(), &["apply", "outcomes.yaml"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("failed"), "{}", run.stderr);

    let added = std::fs::read_to_string(dir.path().join("add-results.csv")).unwrap();
    assert_eq!(
        added,
        format!(
            "{TEMPLATE},line,status,error\n\
             nestor.wilber@contoso.example,2,added,\n\
             allan.moreau@contoso.example,3,alreadyMember,\n\
             NESTOR.WILBER@contoso.example,4,duplicate,the same member is on an earlier row\n\
             {NESTOR},5,duplicate,the same member is on an earlier row\n\
             ghost@contoso.example,6,notFound,\"no user, group, device or service principal has this object id or user principal name\"\n\
             00000000-0000-4000-8000-000000000000,7,notFound,\"no user, group, device or service principal has this object id or user principal name\"\n\
             not an id,8,invalidId,`not an id` is neither an object id nor a user principal name\n\
             {KIOSK_01},9,unsupportedMemberType,this group cannot have members of this type\n"
        )
    );
    let dynamic = std::fs::read_to_string(dir.path().join("dynamic-results.csv")).unwrap();
    assert_eq!(
        dynamic,
        "ObjectId,line,status,error\nnestor.wilber@contoso.example,2,dynamicMembership,\
         the group's members come from a membership rule and cannot be changed by hand\n"
    );
    let removed = std::fs::read_to_string(dir.path().join("remove-results.csv")).unwrap();
    assert_eq!(
        removed,
        format!(
            "memberObjectIdOrUpn,line,status,error\n{NESTOR},1,removed,\nallan.moreau@contoso.example,2,notMember,\n"
        )
    );

    let sales_team = "8bfbf8e2-5c96-4640-805f-adfb2b3a724c";
    assert!(is_member(dir.path(), sales_team, NESTOR));
    assert!(!is_member(dir.path(), sales_team, KIOSK_01));
    assert!(!is_member(dir.path(), ENG_PLATFORM, NESTOR));
    assert!(!is_member(dir.path(), ENG_PLATFORM, ALLAN));
    let summary: Vec<(String, Status, Option<String>, u64, u64, u64)> = jobs(dir.path())
        .into_iter()
        .map(|job| {
            (
                job.step,
                job.status,
                job.reason,
                job.total,
                job.failed,
                job.changed,
            )
        })
        .collect();
    let not_all = Some("NotAllRowsSuccessfullyProcessed".to_owned());
    assert_eq!(
        summary,
        [
            ("add".to_owned(), Status::Failed, not_all.clone(), 8, 4, 1),
            ("dynamic".to_owned(), Status::Failed, not_all, 1, 1, 0),
            ("remove".to_owned(), Status::Completed, None, 2, 0, 1),
        ]
    );
}

#[test]
fn applying_the_same_list_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yaml",
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: twice\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: add.csv\n        results: \"{{run.id}}.csv\"\n",
    );
    write(
        dir.path(),
        "add.csv",
        "alain@contoso.example\nnestor.wilber@contoso.example\n",
    );
    let first = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    let second = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(
        (first.code, second.code),
        (1, 1),
        "alain is not in the demo tenant"
    );
    let results =
        std::fs::read_to_string(dir.path().join(format!("{}.csv", run_id(&second)))).unwrap();
    assert!(
        results.contains("nestor.wilber@contoso.example,2,alreadyMember,"),
        "{results}"
    );
}

pub(crate) fn quickstart_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "manifests/quickstart.yaml",
        "examples/quickstart/add-members.csv",
        "examples/quickstart/remove-members.csv",
    ] {
        write(
            dir.path(),
            file,
            &std::fs::read_to_string(repo_path(file)).unwrap(),
        );
    }
    dir
}

#[test]
fn a_preview_changes_nothing_and_reports_what_a_run_would_do() {
    let dir = quickstart_dir();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    let preview = bulkops_in(
        dir.path(),
        &[
            "plan",
            "manifests/quickstart.yaml",
            "--preview",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(preview.code, 2, "changes are pending: {}", preview.stderr);
    assert!(
        preview
            .stdout
            .contains("eng-platform: would add 6, already 1, not found 0, invalid 0\n"),
        "{}",
        preview.stdout
    );
    assert!(
        preview
            .stdout
            .contains("eng-all: would remove 3, not a member 1, not found 0, invalid 0\n"),
        "{}",
        preview.stdout
    );
    assert!(
        preview
            .stdout
            .contains("would add 6 members, remove 6, change 0 devices (0 deleted), delete 0 jobs, and write 18 files\n"),
        "{}",
        preview.stdout
    );
    assert_eq!(
        membership_pairs(&dir.path().join(".bulkops/directory.db")),
        demo_pairs(),
        "nothing was changed"
    );
    assert!(!dir.path().join("exports").exists(), "nothing was written");
    assert!(jobs(dir.path()).is_empty(), "nothing was recorded");

    assert_eq!(
        bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]).code,
        0
    );
    let again = bulkops_in(
        dir.path(),
        &[
            "plan",
            "manifests/quickstart.yaml",
            "--preview",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        again.code, 0,
        "the same lists change nothing a second time:\n{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("eng-platform: would add 0, already 7, not found 0, invalid 0\n"),
        "{}",
        again.stdout
    );
}

#[test]
fn the_removal_guard_refuses_before_anything_changes() {
    let dir = quickstart_dir();
    let manifest = std::fs::read_to_string(dir.path().join("manifests/quickstart.yaml")).unwrap();
    let guarded = manifest.replace(
        "  directory: local\n",
        "  directory: local\n  guards: { maxRemovals: 5 }\n",
    );
    write(dir.path(), "manifests/quickstart.yaml", &guarded);
    let refused = bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("this run would remove 6 members; the guard allows 5"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--allow-removals 6"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        membership_pairs(&dir.path().join(".bulkops/directory.db")),
        demo_pairs(),
        "nothing was changed"
    );
    assert!(jobs(dir.path()).is_empty());
    let allowed = bulkops_in(
        dir.path(),
        &[
            "apply",
            "manifests/quickstart.yaml",
            "--allow-removals",
            "6",
        ],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

#[test]
fn directory_values_in_output_names_cannot_leave_the_output_root() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = crate::support::demo_tenant_copy(dir.path());
    let mut groups = std::fs::read_to_string(tenant.join("groups.csv")).unwrap();
    groups.push_str("0b8c9d2e-1f3a-4b5c-8d7e-6f5a4b3c2d1e,../../R&D/Platform: core,,,false,rd,true,,,,2025-01-01T00:00:00Z,Private,false\n");
    std::fs::write(tenant.join("groups.csv"), groups).unwrap();
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--from", "tenant"]).code,
        0
    );
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: names\nspec:\n  steps:\n    - id: rd\n      filterGroups:\n        mailNickname: { equals: rd }\n    - id: members\n      downloadMembers:\n        groups: rd\n        output: \"out/{{group.displayName}}.csv\"\n";
    write(dir.path(), "names.yaml", manifest);
    let run = bulkops_in(dir.path(), &["apply", "names.yaml"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let written: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["_.._R&D_Platform_ core.csv"]);
}

#[test]
fn a_step_past_its_timeout_fails_and_its_dependents_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: slow\nspec:\n  steps:\n    - id: add\n      timeout: 1s\n      importMembers:\n        group: { displayName: eng-web }\n        input: add.csv\n    - id: after\n      needs: [add]\n      downloadGroups:\n        output: groups.csv\n";
    write(dir.path(), "slow.yaml", manifest);
    write(dir.path(), "add.csv", "nestor.wilber@contoso.example\n");
    // The fault switch holds the step after its first batch, so only the timeout can end it.
    let run = crate::support::bulkops_env(
        dir.path(),
        &["apply", "slow.yaml"],
        &[("BULKOPS_FAULT_HOLD", "after-apply:1")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "add                      importMembers    failed: the step did not finish within 1s"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("after                    downloadGroups   skipped: `add` did not finish"),
        "{}",
        run.stdout
    );
    let jobs = jobs(dir.path());
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].status, jobs[0].reason.as_deref()),
        (Status::Failed, Some("the step did not finish within 1s"))
    );
    assert!(!dir.path().join("groups.csv").exists());
}

#[test]
fn continue_on_error_lets_dependents_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: tolerant\nspec:\n  steps:\n    - id: add\n      continueOnError: true\n      importMembers:\n        group: { displayName: eng-web }\n        input: missing.csv\n    - id: after\n      needs: [add]\n      downloadGroups:\n        output: groups.csv\n";
    write(dir.path(), "tolerant.yaml", manifest);
    let run = bulkops_in(dir.path(), &["apply", "tolerant.yaml"]);
    assert_eq!(run.code, 66, "the run still failed: {}", run.stderr);
    assert!(
        run.stdout
            .contains("add                      importMembers    failed: cannot read `")
            && run
                .stdout
                .contains("missing.csv`: No such file or directory (os error 2)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("after                    downloadGroups   finished"),
        "{}",
        run.stdout
    );
    assert!(dir.path().join("groups.csv").exists());
}

#[test]
fn plan_previews_by_default_and_notes_profiles_it_cannot_read() {
    let dir = quickstart_dir();
    let plan = bulkops_in(dir.path(), &["plan", "manifests/quickstart.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains(
            "order: engineering, group-report, before, add-new-hires, remove-leavers, tidy\n"
        ),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("eng-platform: would add 6, already 1, not found 0, invalid 0\n"),
        "{}",
        plan.stdout
    );
    let gitops = std::fs::read_to_string(repo_path("manifests/gitops-engineering-access.yaml"))
        .unwrap()
        .replace("directory: local", "directory: contoso-prod");
    write(dir.path(), "gitops.yaml", &gitops);
    let remote = bulkops_in(dir.path(), &["plan", "gitops.yaml"]);
    assert_eq!(remote.code, 0, "{}", remote.stderr);
    assert!(
        remote.stdout.ends_with(
            "\neffects not previewed: the directory profile `contoso-prod` is not configured\n"
        ),
        "{}",
        remote.stdout
    );
    let strict = bulkops_in(dir.path(), &["plan", "gitops.yaml", "--detailed-exitcode"]);
    assert_eq!(strict.code, 1, "{}", strict.stderr);
}
