//! Member lists for several groups: a step without `group`/`groups` takes
//! each row's group from the list's group column, runs one job per group,
//! keeps each job's rows in input order with their lines, and has the same
//! outcomes, guards and resume as a list for one group.

use std::fmt::Write as _;
use std::path::Path;

use bulkops::store::JobStore;

use crate::support::{Held, bulkops_in, membership_pairs, unwrap_lines};

const ENG_WEB: &str = "ea667e41-e369-433b-bc84-bb902ea775ad";

fn manifest(kind: &str, guards: &str) -> String {
    format!(
        "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: access
spec:
{guards}  steps:
    - id: change
      {kind}:
        input: access.csv
        results: \"results/{{{{group.displayName}}}}.csv\"
"
    )
}

/// A folder with the demo directory, `m.yaml` and `access.csv`.
fn project(kind: &str, guards: &str, list: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    std::fs::write(dir.path().join("m.yaml"), manifest(kind, guards)).unwrap();
    std::fs::write(dir.path().join("access.csv"), list).unwrap();
    dir
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn members(dir: &Path) -> Vec<(String, String)> {
    membership_pairs(&dir.join(".bulkops/directory.db"))
}

const IMPORT_LIST: &str = "\
group,member
eng-web,ben.patel@contoso.example
sg-eng-access-staging,grace.silva@contoso.example
ea667e41-e369-433b-bc84-bb902ea775ad,jamal.rossi@contoso.example
eng-web,dana.kim@contoso.example
onboarding,00000000-0000-0000-0000-000000000001
eng-web,not-a-upn
ENG-WEB,Ben.Patel@contoso.example
";

#[test]
fn an_import_list_for_several_groups_runs_one_job_per_group_with_every_outcome() {
    let dir = project("importMembers", "", IMPORT_LIST);
    let before = members(dir.path());
    let plan = bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    for line in [
        "eng-web: would add 2, already 1, not found 0, invalid 1, duplicate 1\n",
        "sg-eng-access-staging: would add 1, already 0, not found 0, invalid 0\n",
        "onboarding: would add 0, already 0, not found 1, invalid 0\n",
    ] {
        assert!(plan.stdout.contains(line), "{line}\n{}", plan.stdout);
    }
    assert_eq!(members(dir.path()), before, "plan changes nothing");

    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "rows failed: {}", run.stderr);
    // One job per group, in the order the groups first appear; the id and
    // the differently cased name of eng-web make one job.
    let eng_web = run
        .stdout
        .find("failed eng-web: 5 rows, 2 changed, 1 failed");
    let staging = run
        .stdout
        .find("completed sg-eng-access-staging: 1 row, 1 changed, 0 failed");
    let onboarding = run
        .stdout
        .find("failed onboarding: 1 row, 0 changed, 1 failed");
    assert!(
        eng_web < staging && staging < onboarding && eng_web.is_some(),
        "{}",
        run.stdout
    );
    assert_eq!(
        read(dir.path(), "results/eng-web.csv"),
        "group,member,line,status,error
eng-web,ben.patel@contoso.example,2,added,
ea667e41-e369-433b-bc84-bb902ea775ad,jamal.rossi@contoso.example,4,added,
eng-web,dana.kim@contoso.example,5,alreadyMember,
eng-web,not-a-upn,7,invalidId,`not-a-upn` is neither an object id nor a user principal name
ENG-WEB,Ben.Patel@contoso.example,8,duplicate,the same member is on an earlier row
"
    );
    assert_eq!(
        read(dir.path(), "results/onboarding.csv"),
        "group,member,line,status,error
onboarding,00000000-0000-0000-0000-000000000001,6,notFound,\"no user, group, device or service principal has this object id or user principal name\"
"
    );
    let after = members(dir.path());
    assert_eq!(after.len(), before.len() + 3, "three members added");
    let jobs = JobStore::open(&dir.path().join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap();
    let mut targets: Vec<(String, u64)> = jobs
        .iter()
        .map(|job| (job.target_id.clone(), job.total))
        .collect();
    targets.sort();
    assert!(
        targets.contains(&(ENG_WEB.to_owned(), 5)),
        "eng-web's job has its five rows: {targets:?}"
    );
    assert_eq!(jobs.len(), 3, "{targets:?}");
}

#[test]
fn a_removal_list_for_several_groups_obeys_the_guards_and_removes_each_row_from_its_group() {
    let list = "\
groupMailNickname,userPrincipalName
eng-web,dana.kim@contoso.example
eng-mobile,jamal.rossi@contoso.example
eng-mobile,ben.patel@contoso.example
eng-web,felix.silva@contoso.example
";
    let guarded = project("removeMembers", "  guards: { maxRemovals: 2 }\n", list);
    let before = members(guarded.path());
    let refused = bulkops_in(guarded.path(), &["apply", "m.yaml"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        unwrap_lines(&refused.stderr)
            .contains("this run would remove 3 members; the guard allows 2"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        members(guarded.path()),
        before,
        "a guard refusal changes nothing"
    );

    // A share is of each group: 2 of eng-web's 11 members is more than 10%.
    let share = project(
        "removeMembers",
        "  guards: { maxRemovals: \"10%\" }\n",
        list,
    );
    let refused = bulkops_in(share.path(), &["apply", "m.yaml"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        unwrap_lines(&refused.stderr).contains("removing 2 of the 11 members of `eng-web`"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        members(share.path()),
        before,
        "a guard refusal changes nothing"
    );

    let dir = project("removeMembers", "  guards: { maxRemovals: 3 }\n", list);
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(
        run.code, 0,
        "a row naming a non-member is not a failure: {}",
        run.stderr
    );
    assert_eq!(
        read(dir.path(), "results/eng-web.csv"),
        "groupMailNickname,userPrincipalName,line,status,error
eng-web,dana.kim@contoso.example,2,removed,
eng-web,felix.silva@contoso.example,5,removed,
"
    );
    assert_eq!(
        read(dir.path(), "results/eng-mobile.csv"),
        "groupMailNickname,userPrincipalName,line,status,error
eng-mobile,jamal.rossi@contoso.example,3,removed,
eng-mobile,ben.patel@contoso.example,4,notMember,
"
    );
    assert_eq!(members(dir.path()).len(), before.len() - 3);
}

#[test]
fn a_list_naming_an_unknown_group_or_none_changes_nothing_and_says_where() {
    let cases = [
        (
            "groupDisplayName,member\neng-web,ben.patel@contoso.example\nno-such-group,grace.silva@contoso.example\n",
            "`access.csv`, line 3: no group has the displayName \"no-such-group\" (column `groupDisplayName`)",
        ),
        (
            "group,member\neng-web,ben.patel@contoso.example\n  ,grace.silva@contoso.example\n",
            "`access.csv`, line 3: the row names no group in its `group` column",
        ),
        (
            "id\nben.patel@contoso.example\n",
            "step `change` names no group, and `access.csv` has no group column",
        ),
        (
            "group,groupName,member\neng-web,eng-web,ben.patel@contoso.example\n",
            "`access.csv`, line 1: the header `group,groupName,member` names more than one group column",
        ),
    ];
    for (list, message) in cases {
        let dir = project("importMembers", "", list);
        let before = members(dir.path());
        for command in ["plan", "apply"] {
            let run = bulkops_in(dir.path(), &[command, "m.yaml"]);
            let text = unwrap_lines(&format!("{}{}", run.stdout, run.stderr))
                .replace(&format!("{}/", dir.path().display()), "");
            assert!(text.contains(message), "{command}: {message}\n{text}");
            assert_ne!(run.code, 0, "{command}: {text}");
        }
        let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
        assert_eq!(run.code, 65, "{}", run.stderr);
        assert_eq!(members(dir.path()), before, "nothing changed: {list}");
    }
}

#[test]
fn a_combined_members_download_removes_each_member_from_the_group_its_group_id_names() {
    let dir = project("removeMembers", "", "");
    std::fs::write(
        dir.path().join("download.yaml"),
        "apiVersion: bulkops/v1
kind: Workflow
metadata: { name: snapshot }
spec:
  steps:
    - id: members
      downloadMembers:
        groups: [{ displayName: eng-web }, { displayName: eng-mobile }]
        combined: true
        output: access.csv
        overwrite: true
",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("access.csv")).unwrap();
    let download = bulkops_in(dir.path(), &["apply", "download.yaml"]);
    assert_eq!(download.code, 0, "{}", download.stderr);
    let header = read(dir.path(), "access.csv");
    assert!(header.starts_with("Group ID,Group name,"), "{header}");
    let before = members(dir.path());
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = members(dir.path());
    let of =
        |pairs: &[(String, String)], group: &str| pairs.iter().filter(|(g, _)| g == group).count();
    assert_eq!(of(&before, ENG_WEB), 11);
    assert_eq!(of(&after, ENG_WEB), 0, "eng-web emptied");
    assert_eq!(
        of(&after, "1813164d-9a94-447c-99dc-ce8bb2dc6c48"),
        0,
        "eng-mobile emptied"
    );
    assert_eq!(after.len(), before.len() - 23, "nobody else lost a group");
}

#[test]
fn a_killed_list_for_several_groups_resumes_to_the_same_end() {
    let mut list = String::from("group,member\n");
    let users = [
        "ben.patel",
        "grace.silva",
        "sami.murphy",
        "allan.moreau",
        "maya.schmidt",
        "diego.silva",
    ];
    for group in ["eng-security", "eng-sre", "eng-data"] {
        for user in users {
            let _ = writeln!(list, "{group},{user}@contoso.example");
        }
    }
    let env = [("BULKOPS_CHUNK_ROWS", "2")];
    let whole = project("importMembers", "", &list);
    let uninterrupted = crate::support::bulkops_env(whole.path(), &["apply", "m.yaml"], &env);
    assert!(uninterrupted.code <= 1, "{}", uninterrupted.stderr);

    let broken = project("importMembers", "", &list);
    // Killed after four chunks: the second group's job is half done.
    Held::start(broken.path(), &["apply", "m.yaml"], &env, "after-apply:4").kill();
    let run_id = JobStore::open(&broken.path().join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()[0]
        .run_id
        .clone();
    let resumed = crate::support::bulkops_env(broken.path(), &["apply", "--resume", &run_id], &env);
    assert_eq!(resumed.code, uninterrupted.code, "{}", resumed.stderr);
    assert_eq!(members(broken.path()), members(whole.path()));
    for group in ["eng-security", "eng-sre", "eng-data"] {
        let file = format!("results/{group}.csv");
        assert_eq!(
            read(broken.path(), &file),
            read(whole.path(), &file),
            "{file}"
        );
    }
}

#[test]
fn a_resume_refuses_a_list_whose_group_name_now_names_another_group() {
    let mut list = String::from("groupDisplayName,member\n");
    for user in ["ben.patel", "grace.silva", "sami.murphy", "allan.moreau"] {
        let _ = writeln!(list, "eng-security,{user}@contoso.example");
    }
    let env = [("BULKOPS_CHUNK_ROWS", "1")];
    let dir = project("importMembers", "", &list);
    Held::start(dir.path(), &["apply", "m.yaml"], &env, "after-apply:2").kill();
    let run_id = JobStore::open(&dir.path().join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()[0]
        .run_id
        .clone();
    // Between the kill and the resume, the name moves to another group.
    let db = rusqlite::Connection::open(dir.path().join(".bulkops/directory.db")).unwrap();
    let rename = |from: &str, to: &str| {
        db.execute(
            "UPDATE groups SET display_name = ?2 WHERE display_name = ?1",
            [from, to],
        )
        .unwrap();
    };
    rename("eng-security", "eng-security-old");
    rename("eng-data", "eng-security");
    let before = members(dir.path());
    let refused = crate::support::bulkops_env(dir.path(), &["apply", "--resume", &run_id], &env);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        unwrap_lines(&refused.stderr).contains("which the step no longer names"),
        "{}",
        refused.stderr
    );
    assert_eq!(members(dir.path()), before, "nothing changed");
    rename("eng-security", "eng-data");
    rename("eng-security-old", "eng-security");
    let resumed = crate::support::bulkops_env(dir.path(), &["apply", "--resume", &run_id], &env);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        read(dir.path(), "results/eng-security.csv").lines().count() == 5,
        "every row once"
    );
}

#[test]
fn a_step_that_names_its_group_says_it_does_not_read_the_lists_group_column() {
    let dir = project(
        "importMembers",
        "",
        "group,member\neng-web,ben.patel@contoso.example\n",
    );
    let text = manifest("importMembers", "").replace(
        "        input: access.csv\n",
        "        group: { displayName: onboarding }\n        input: access.csv\n",
    );
    std::fs::write(dir.path().join("m.yaml"), text).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the list has a group column, but the step names its groups"),
        "{}",
        run.stderr
    );
    assert!(
        read(dir.path(), "results/onboarding.csv").contains(",added,"),
        "the row went to the step's group"
    );
}
