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
