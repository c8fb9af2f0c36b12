//! Bad input to `bulkops apply` gets a clear error, and leaves the directory,
//! the output folder and the job history as they were: no half-written files,
//! no half-applied lists.

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

fn memberships(dir: &Path) -> u64 {
    LocalDirectory::open(&dir.join(".bulkops/directory.db"))
        .unwrap()
        .stats()
        .unwrap()
        .memberships
}

fn assert_refused(members: &[u8], expected: &str) {
    let (dir, run) = apply_with(members);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains(expected),
        "expected `{expected}` in:\n{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("add                      importMembers    failed: "),
        "{}",
        run.stdout
    );
    assert_eq!(
        memberships(dir.path()),
        1102,
        "the demo tenant is unchanged"
    );
    assert!(!dir.path().join("results").exists(), "no result files");
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
    assert_refused(b"", "`./members.csv` is empty");
}

#[test]
fn a_wrong_header_is_refused() {
    assert_refused(
        b"Name,Department\nAlain,Sales\n",
        "`./members.csv`, line 1: the header `Name,Department` names no member column",
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    assert_refused(
        b"ObjectId\nal\xe9in@contoso.com\n",
        "`./members.csv`, line 2: the text is not UTF-8",
    );
}

#[test]
fn malformed_csv_is_refused() {
    assert_refused(
        b"ObjectId\n\"alain@contoso.com\nisabella@contoso.com\n",
        "line 2: a quoted value runs over several lines; a closing quote is probably missing",
    );
}

#[test]
fn a_missing_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("failed: cannot read `./members.csv`"),
        "{}",
        run.stdout
    );
    assert_eq!(memberships(dir.path()), 1102);
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
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "nestor.wilber@contoso.example\n",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("failed: 2 groups have the displayName \"eng-web\""),
        "{}",
        run.stdout
    );
    assert_eq!(memberships(dir.path()), 1102);
}

#[test]
fn an_unwritable_output_folder_is_refused_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), IMPORT).unwrap();
    std::fs::write(
        dir.path().join("members.csv"),
        "nestor.wilber@contoso.example\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("out"),
        "a file where the output folder should be",
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml", "--output-dir", "out"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("failed: cannot write `out/results/"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "a file where the output folder should be"
    );
}
