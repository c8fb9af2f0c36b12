//! `plan` never reports "no changes" when it does not know: a step it cannot
//! preview (a missing input, an unknown group, a failed sign-in, a template
//! that needs `--trigger-file`) makes it fail with the reason, with and
//! without `--detailed-exitcode`.

use crate::emulator_support::{Emulator, SECRET_ENV, demo_database};
use crate::support::{bulkops_env, bulkops_in, repo_path};

fn plan_fails(dir: &std::path::Path, manifest: &str, expected: &str, env: &[(&str, &str)]) {
    std::fs::write(dir.join("m.yaml"), manifest).unwrap();
    for args in [
        &["plan", "m.yaml"][..],
        &["plan", "m.yaml", "--detailed-exitcode"][..],
    ] {
        let run = bulkops_env(dir, args, env);
        assert_eq!(run.code, 1, "{args:?}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains(expected),
            "{args:?}: expected `{expected}` in\n{}",
            run.stdout
        );
        assert!(
            run.stderr.contains("1 step cannot be previewed: add"),
            "{}",
            run.stderr
        );
    }
}

const IMPORT: &str = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: p\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: GROUP }\n        input: INPUT\n";

fn import(group: &str, input: &str) -> String {
    IMPORT.replace("GROUP", group).replace("INPUT", input)
}

#[test]
fn a_missing_input_is_not_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    plan_fails(
        dir.path(),
        &import("eng-web", "missing.csv"),
        "add                      importMembers    cannot be previewed: cannot read `",
        &[],
    );
}

#[test]
fn an_unknown_group_is_not_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("list.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    plan_fails(
        dir.path(),
        &import("no-such-group", "list.csv"),
        "cannot be previewed: no group has the displayName \"no-such-group\"",
        &[],
    );
}

#[test]
fn a_template_that_needs_a_trigger_file_is_not_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(repo_path("manifests/watch-new-hires.yaml")).unwrap();
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let run = bulkops_in(dir.path(), &["plan", "m.yaml", "--detailed-exitcode"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("cannot be previewed: "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("trigger"), "{}", run.stdout);
}

#[test]
fn a_failed_sign_in_is_not_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::spawn(
        &demo_database(dir.path()),
        &["--client-secret-env", "EXPECTED_SECRET"],
        &[("EXPECTED_SECRET", "the-secret")],
    );
    emulator.write_profiles(dir.path(), 1);
    std::fs::write(
        dir.path().join("list.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    let manifest = import("eng-web", "list.csv").replace("spec:\n", "spec:\n  directory: emu\n");
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let run = bulkops_env(
        dir.path(),
        &["plan", "m.yaml", "--detailed-exitcode"],
        &[(SECRET_ENV, "not-the-secret")],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("cannot be previewed: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Invalid client secret provided"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_plan_that_changes_nothing_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("list.csv"),
        "nestor.wilber@contoso.example\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        import("eng-platform", "list.csv"),
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["plan", "m.yaml", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("eng-platform: would add 0, already 1, not found 0, invalid 0"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_watch_workflow_needs_its_trigger_file_and_others_refuse_one() {
    let dir = tempfile::tempdir().unwrap();
    let watch = std::fs::read_to_string(repo_path("manifests/watch-new-hires.yaml")).unwrap();
    std::fs::write(dir.path().join("watch.yaml"), watch).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "watch.yaml"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(
        run.stderr_text().contains(
            "runs on a file dropped into a watched folder, and no `--trigger-file` names one"
        ),
        "{}",
        run.stderr
    );
    std::fs::write(
        dir.path().join("list.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("m.yaml"), import("eng-web", "list.csv")).unwrap();
    let unused = bulkops_in(
        dir.path(),
        &["apply", "m.yaml", "--trigger-file", "list.csv"],
    );
    assert_eq!(unused.code, 64, "{}", unused.stderr);
    assert!(
        unused.stderr_text().contains("has no trigger"),
        "{}",
        unused.stderr
    );
}
