//! The command line as people meet it: completion scripts for every shell,
//! Mermaid plans ready to paste.

use crate::support::bulkops;

#[test]
fn completion_scripts_are_generated_for_every_shell() {
    for (shell, mark) in [
        ("bash", "_bulkops()"),
        ("zsh", "#compdef bulkops"),
        ("fish", "complete -c bulkops"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = bulkops(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains(mark), "{shell}: {}", run.stdout);
        assert!(
            run.stdout.contains("resume"),
            "{shell} completes apply's flags"
        );
    }
}

#[test]
fn a_mermaid_plan_is_a_fenced_block_ready_to_paste() {
    let run = bulkops(&[
        "plan",
        "manifests/quickstart.yaml",
        "--format",
        "mermaid",
        "--no-preview",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("```mermaid\nflowchart LR\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("```\n"), "{}", run.stdout);
}

#[test]
fn columns_stay_aligned_with_long_step_ids() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: long\nspec:\n  steps:\n    - id: select-every-engineering-group-for-the-audit\n      filterGroups:\n        displayName: { startsWith: eng- }\n    - id: list\n      downloadGroups:\n        groups: select-every-engineering-group-for-the-audit\n        output: groups.csv\n",
    )
    .unwrap();
    let plan = crate::support::bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let columns: Vec<usize> = plan
        .stdout
        .lines()
        .filter(|line| line.contains("filterGroups ") || line.contains("downloadGroups "))
        .filter(|line| line.contains("selects") || line.contains("would write"))
        .map(|line| line.find("Groups").unwrap())
        .collect();
    assert_eq!(columns.len(), 2, "{}", plan.stdout);
    assert_eq!(
        columns[0] + 2,
        columns[1],
        "the kind column lines up: {}",
        plan.stdout
    );
}
