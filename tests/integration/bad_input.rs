//! Bad input to `bulkops apply` gets a clear error with the real cause and the
//! documented exit code, and leaves the directory, the output folder and the
//! job history as they were: no half-written files, no half-applied lists.
//! Everything a run can know before it starts is checked before its first
//! change, including a broken line at the end of a large list of a later step.

use std::fmt::Write as _;
use std::path::Path;

use bulkops::directory::local::LocalDirectory;

use crate::support::{Run, bulkops_in};

const IMPORT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bad-input
spec:
  steps:
    - id: add
      importMembers:
        group: { displayName: eng-web }
        input: members.csv
";

fn apply_with(members: &[u8]) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(dir.path().join("members.csv"), members).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    (dir, run)
}

/// Every membership of the directory, as (group, member) pairs.
pub(crate) fn memberships(dir: &Path) -> Vec<(String, String)> {
    crate::support::membership_pairs(&dir.join(".bulkops/directory.db"))
}

fn demo_memberships() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    LocalDirectory::open(&dir.path().join(".bulkops/directory.db")).unwrap();
    memberships(dir.path())
}

fn assert_nothing_changed(dir: &Path) {
    assert_eq!(
        memberships(dir),
        demo_memberships(),
        "the demo tenant is unchanged"
    );
    assert!(!dir.join("results").exists(), "no result files");
}

fn assert_refused(members: &[u8], code: i32, expected: &str) {
    let (dir, run) = apply_with(members);
    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(
        run.stderr_text().contains("step `add` cannot run: ")
            && run.stderr_text().contains(expected),
        "expected `{expected}` in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr_text().contains("nothing was changed"),
        "{}",
        run.stderr
    );
    assert_nothing_changed(dir.path());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        3,
        "only the manifest, the list and .bulkops: {leftovers:?}"
    );
}

#[test]
fn an_empty_file_is_refused() {
    assert_refused(b"", 65, "members.csv` is empty");
}

#[test]
fn a_wrong_header_is_refused() {
    assert_refused(
        b"Name,Department\nAlain,Sales\n",
        65,
        "members.csv`, line 1: the header `Name,Department` names no member column",
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    assert_refused(
        b"ObjectId\nal\xe9in@contoso.com\n",
        65,
        "members.csv`, line 2: the text is not UTF-8",
    );
}

#[test]
fn an_unclosed_quote_in_a_large_list_is_refused_with_its_line() {
    let mut list =
        String::from("ObjectId\nnestor.wilber@contoso.example\n\"allan.moreau@contoso.example\n");
    for index in 0..60_000 {
        let _ = writeln!(list, "user{index:07}@contoso.example");
    }
    assert_refused(
        list.as_bytes(),
        65,
        "members.csv`, line 3: a row is longer than 1048576 bytes",
    );
}

#[test]
fn a_short_unclosed_quote_fails_only_its_row() {
    let (dir, run) = apply_with(b"ObjectId\nnestor.wilber@contoso.example\n\"allan.moreau@contoso.example\npradeep.murphy@contoso.example\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let results = crate::support::only_result_file(dir.path());
    assert!(
        results.contains("runs over several lines; a closing quote is probably missing"),
        "{results}"
    );
    assert!(
        results.contains("nestor.wilber@contoso.example,2,added,"),
        "{results}"
    );
}

#[test]
fn a_huge_value_is_refused_without_being_echoed() {
    let mut list = b"ObjectId\nnestor.wilber@contoso.example\n".to_vec();
    list.extend(std::iter::repeat_n(b'x', 200_000));
    list.push(b'\n');
    let (_dir, run) = apply_with(&list);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("line 3: a value is longer than 65536 bytes"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 4_000,
        "the value is not echoed: {} bytes",
        run.stderr.len()
    );
    assert!(run.stdout.len() < 4_000, "{} bytes", run.stdout.len());
}

#[test]
fn a_missing_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("members.csv`: No such file or directory (os error 2)"),
        "{}",
        run.stderr
    );
    assert_nothing_changed(dir.path());
}

#[test]
fn a_named_pipe_as_input_or_manifest_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    for fifo in ["members.csv", "pipe.yaml"] {
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join(fifo))
            .status()
            .unwrap();
        assert!(made.success());
    }
    // Nobody ever writes to the pipes: a read would hang the test.
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("it is a named pipe (FIFO); bulkops reads regular files only"),
        "{}",
        run.stderr
    );
    let manifest = bulkops_in(dir.path(), &["validate", "pipe.yaml"]);
    assert_eq!(manifest.code, 66, "{}", manifest.stderr);
    assert!(
        manifest.stderr_text().contains("named pipe"),
        "{}",
        manifest.stderr
    );
    assert_nothing_changed(dir.path());
}

#[test]
fn a_group_name_that_matches_two_groups_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = crate::support::demo_tenant_copy(dir.path());
    let mut groups = std::fs::read_to_string(tenant.join("groups.csv")).unwrap();
    groups.push_str("0b8c9d2e-1f3a-4b5c-8d7e-6f5a4b3c2d1e,eng-web,A second group of the same name,,false,eng-web-2,true,,,,2025-01-01T00:00:00Z,Private,false\n");
    std::fs::write(tenant.join("groups.csv"), groups).unwrap();
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--from", "tenant"]).code,
        0
    );
    let before = memberships(dir.path());
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "nestor.wilber@contoso.example\n",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("step `add` cannot run: 2 groups have the displayName \"eng-web\""),
        "{}",
        run.stderr
    );
    assert_eq!(memberships(dir.path()), before);
}

#[test]
fn an_output_root_that_is_a_file_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("out"),
        "a file where the output folder should be",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml", "--output-dir", "out"]);
    assert_eq!(run.code, 74, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("cannot use `out` as the output root")
            && run.stderr_text().contains("it is a file, not a folder"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "a file where the output folder should be"
    );
    assert_nothing_changed(dir.path());
}

#[test]
fn a_results_folder_that_cannot_be_written_fails_the_run_with_74() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("results"),
        "a file where a folder should be",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 74, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("failed: cannot write `")
            && run
                .stdout
                .contains("`results` is in the way: it is not a folder"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_later_step_with_a_missing_file_stops_the_run_before_the_first_change() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: two\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: members.csv\n    - id: remove\n      needs: [add]\n      removeMembers:\n        group: { displayName: eng-data }\n        input: leavers.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("step `remove` cannot run: cannot read `"),
        "{}",
        run.stderr
    );
    assert_nothing_changed(dir.path());
}

#[test]
fn a_broken_line_near_the_end_of_a_large_later_list_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: two\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: members.csv\n    - id: more\n      needs: [add]\n      importMembers:\n        group: { displayName: eng-data }\n        input: big.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    let mut big = String::from("ObjectId\n");
    for _ in 0..100_000 {
        big.push_str("allan.moreau@contoso.example\n");
    }
    let mut bytes = big.into_bytes();
    bytes.extend_from_slice(b"al\xe9in@contoso.com\nlast@contoso.example\n");
    std::fs::write(dir.path().join("big.csv"), bytes).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(
        run.stderr_text().contains("step `more` cannot run: ")
            && run
                .stderr_text()
                .contains("big.csv`, line 100002: the text is not UTF-8"),
        "{}",
        run.stderr
    );
    assert_nothing_changed(dir.path());
}

#[test]
fn excel_padded_templates_are_read() {
    let (dir, run) = apply_with(
        b"version:v1.0,,\r\nMember object ID or user principal name [memberObjectIdOrUpn] Required,Note,\r\nExample: 9832aad8-e4fe-496b-a604-95c6ef01ae75,,\r\nallan.moreau@contoso.example,new hire,\r\n",
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let results = crate::support::only_result_file(dir.path());
    // The row is on line 4 of the CRLF file: version, header, example, row.
    assert_eq!(
        results,
        "Member object ID or user principal name [memberObjectIdOrUpn] Required,Note,,line,status,error\nallan.moreau@contoso.example,new hire,,4,added,\n"
    );
}

#[test]
fn a_damaged_directory_database_names_the_file_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    bulkops_in(dir.path(), &["directory", "stats"]);
    let db = dir.path().join(".bulkops/directory.db");
    let mut bytes = std::fs::read(&db).unwrap();
    // Every page after the schema's first ones, overwritten.
    for byte in &mut bytes[3 * 4096..] {
        *byte = 0xA5;
    }
    std::fs::write(&db, bytes).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let text = run.stderr_text();
    assert!(
        text.contains(".bulkops/directory.db` failed") && text.contains("malformed"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unclosed_quote_on_the_last_row_fails_that_row() {
    let (dir, run) =
        apply_with(b"allan.moreau@contoso.example\n\"pradeep.murphy@contoso.example\n");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let results = crate::support::only_result_file(dir.path());
    assert!(
        results.contains("invalidId,`pradeep.murphy@contoso.example` runs over several lines; a closing quote is probably missing"),
        "{results}"
    );
    assert!(
        results.contains("allan.moreau@contoso.example,1,added,"),
        "{results}"
    );
}
