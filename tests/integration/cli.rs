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

#[test]
fn a_plan_on_a_fresh_folder_previews_the_demo_tenant_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::copy(
        crate::support::repo_path("manifests/quickstart.yaml"),
        dir.path().join("manifests/quickstart.yaml"),
    )
    .unwrap();
    crate::support::copy_tree(
        &crate::support::repo_path("examples/quickstart"),
        &dir.path().join("examples/quickstart"),
    );
    let plan = crate::support::bulkops_in(dir.path(), &["plan", "manifests/quickstart.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("against directory `local` (the demo tenant, in memory: `.bulkops/directory.db` does not exist, and nothing was created)"),
        "{}",
        plan.stdout
    );
    assert!(!dir.path().join(".bulkops").exists(), "plan wrote nothing");
    let apply = crate::support::bulkops_in(dir.path(), &["apply", "manifests/quickstart.yaml"]);
    assert!(apply.code == 0 || apply.code == 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains("created the demo directory here"),
        "one line says the demo directory was made: {}",
        apply.stderr
    );
    let again = crate::support::bulkops_in(dir.path(), &["plan", "manifests/quickstart.yaml"]);
    assert!(
        again
            .stdout
            .contains("against directory `local` (`.bulkops/directory.db`)"),
        "{}",
        again.stdout
    );
}

#[test]
fn emulate_refuses_a_missing_database_unless_asked_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = crate::support::bulkops_in(dir.path(), &["emulate", "--db", "nothing.db"]);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr_text().contains("pass --init"),
        "{}",
        run.stderr_text()
    );
    assert!(!dir.path().join("nothing.db").exists());
}

#[test]
fn an_empty_member_list_is_previewed_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.csv"), "memberObjectIdOrUpn\n").unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: e\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-sre }\n        input: empty.csv\n",
    )
    .unwrap();
    let plan = crate::support::bulkops_in(dir.path(), &["plan", "m.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("eng-sre: the member list is empty: nothing to do"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("mail-enabled"), "{}", plan.stdout);
}

#[test]
fn a_run_without_a_terminal_logs_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::from("memberObjectIdOrUpn\n");
    for user in [
        "zoe.rossi@contoso.example",
        "sami.ali@contoso.example",
        "nora.larsen@contoso.example",
    ] {
        list.push_str(user);
        list.push('\n');
    }
    std::fs::write(dir.path().join("add.csv"), list).unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: p\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-sre }\n        input: add.csv\n",
    )
    .unwrap();
    let held = crate::support::Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &[
            ("BULKOPS_CHUNK_ROWS", "1"),
            ("BULKOPS_PROGRESS_EVERY", "200ms"),
        ],
        "before-journal:2",
    );
    // Stopped after the first row: the log keeps saying where the run is.
    held.wait_for("progress step=add kind=importMembers target=eng-sre rows_done=1 rows_total=3");
    held.kill();
}

#[test]
fn csv_files_start_with_a_byte_order_mark_when_the_manifest_asks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: b\nspec:\n  csv: { bom: true }\n  steps:\n    - id: list\n      downloadGroups:\n        output: groups.csv\n",
    )
    .unwrap();
    let run = crate::support::bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bytes = std::fs::read(dir.path().join("groups.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{:?}", &bytes[..8]);
}

#[test]
fn utf16_and_semicolon_lists_say_how_to_save_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: s\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-sre }\n        input: list.csv\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("list.csv"),
        "userPrincipalName;displayName\nzoe.rossi@contoso.example;Zoe\n",
    )
    .unwrap();
    let run = crate::support::bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 65, "{}", run.stderr);
    let text = crate::support::unwrap_lines(&run.stderr_text());
    assert!(
        text.contains("the values are separated by `;`, not `,`"),
        "{text}"
    );
    assert!(text.contains("CSV UTF-8 (Comma delimited)"), "{text}");
}
