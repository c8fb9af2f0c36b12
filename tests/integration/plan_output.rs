//! The plan of the quickstart workflow, exactly, in every format.

use crate::support::bulkops;

fn plan(format: &str) -> String {
    let run = bulkops(&[
        "plan",
        "manifests/quickstart.yaml",
        "--format",
        format,
        "--no-preview",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

#[test]
fn quickstart_plan_as_text() {
    insta::assert_snapshot!(plan("text"));
}

#[test]
fn quickstart_plan_as_json() {
    insta::assert_snapshot!(plan("json"));
}

#[test]
fn quickstart_plan_as_dot() {
    insta::assert_snapshot!(plan("dot"));
}

#[test]
fn quickstart_plan_as_mermaid() {
    insta::assert_snapshot!(plan("mermaid"));
}

#[test]
fn text_is_the_default_format() {
    let run = bulkops(&["plan", "manifests/quickstart.yaml", "--no-preview"]);
    assert_eq!(run.stdout, plan("text"));
}
