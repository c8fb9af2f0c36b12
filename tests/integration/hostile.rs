//! Hostile and broken inputs get a clear error and a documented exit code, never
//! a panic: huge files, alias bombs, deep nesting, binary data, empty files,
//! missing paths and wrong arguments.

use std::fmt::Write as _;
use std::path::Path;

use crate::support::{Run, bulkops_in};

fn validate_text(content: &[u8]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.yaml"), content).unwrap();
    bulkops_in(dir.path(), &["validate", "input.yaml"])
}

fn assert_refused(run: &Run, expected: &str) {
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(
        run.stderr.contains(expected),
        "expected `{expected}` in:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_ten_megabyte_file_is_refused_by_size() {
    let mut text = String::from("apiVersion: bulkops/v1\n# ");
    text.push_str(&"x".repeat(10 * 1024 * 1024));
    let run = validate_text(text.as_bytes());
    assert_refused(
        &run,
        "input.yaml: the file is larger than the 4 MiB a manifest may have",
    );
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..20 {
        let aliases = vec![format!("*a{}", level - 1); 9].join(", ");
        let _ = writeln!(text, "a{level}: &a{level} [{aliases}]");
    }
    let run = validate_text(text.as_bytes());
    assert_refused(&run, "the document expands to more than 2000000 values");
}

#[test]
fn deep_nesting_is_refused() {
    let run = validate_text("[".repeat(1_000_000).as_bytes());
    assert_refused(&run, "invalid YAML: recursion limit exceeded");
    let mut block = String::new();
    for depth in 0..1_000 {
        let _ = writeln!(block, "{}k:", " ".repeat(depth));
    }
    assert_refused(
        &validate_text(block.as_bytes()),
        "nesting is deeper than 64 levels",
    );
}

#[test]
fn binary_data_is_refused_as_not_utf8() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    assert_refused(&validate_text(&bytes), "the file is not valid UTF-8 text");
}

#[test]
fn empty_and_blank_files_are_empty_manifests() {
    for content in ["", "\n\n", "# just a comment\n", "---\n", "~\n"] {
        assert_refused(&validate_text(content.as_bytes()), "the manifest is empty");
    }
}

#[test]
fn a_missing_path_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let run = bulkops_in(dir.path(), &["validate", "nowhere.yaml"]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot read `nowhere.yaml`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("No such file or directory"),
        "{}",
        run.stderr
    );
    let run = bulkops_in(dir.path(), &["plan", "nowhere.yaml"]);
    assert_eq!(run.code, 66, "{}", run.stderr);
}

#[test]
fn a_folder_without_manifests_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bulkops.yaml"), "profiles: {}\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest\n").unwrap();
    let run = bulkops_in(dir.path(), &["validate", "."]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(run.stderr.contains("no manifests in `.`"), "{}", run.stderr);
}

#[test]
fn wrong_arguments_are_a_usage_error() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = bulkops_in(here, &["validate"]);
    assert_eq!(run.code, 64);
    assert!(
        run.stderr.contains("required arguments were not provided"),
        "{}",
        run.stderr
    );
    let run = bulkops_in(
        here,
        &["plan", "manifests/quickstart.yaml", "--format", "svg"],
    );
    assert_eq!(run.code, 64);
    assert!(run.stderr.contains("invalid value 'svg'"), "{}", run.stderr);
    assert_eq!(bulkops_in(here, &["--help"]).code, 0);
}
