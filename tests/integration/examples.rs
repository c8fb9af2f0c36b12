//! Every shipped manifest and every YAML example in README.md validates and plans.

use crate::support::{bulkops, bulkops_in, copy_tree, relative, repo_path, shipped_manifests};

#[test]
fn the_manifests_folder_validates() {
    let run = bulkops(&["validate", "manifests/"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let shipped = shipped_manifests();
    assert!(shipped.len() >= 6, "only {} manifests", shipped.len());
    for path in &shipped {
        let line = format!(
            "valid: manifests/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        assert!(
            run.stdout.contains(&line),
            "missing `{line}` in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn every_manifest_plans_in_every_format() {
    for path in shipped_manifests() {
        let path = relative(&path);
        for format in ["text", "json", "dot", "mermaid"] {
            let run = bulkops(&["plan", &path, "--format", format, "--no-preview"]);
            assert_eq!(run.code, 0, "{path} as {format}: {}", run.stderr);
            assert!(!run.stdout.is_empty(), "{path} as {format}");
        }
    }
}

#[test]
fn the_manifests_cover_every_step_kind_and_use() {
    let all: String = shipped_manifests()
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    for kind in bulkops::manifest::step::StepKind::ALL {
        assert!(
            all.contains(&format!("{}:", kind.key())),
            "no manifest uses `{kind}`"
        );
    }
    assert!(all.contains("trigger:"), "no watch-folder manifest");
    assert!(all.contains("guards:"), "no manifest with guards");
    assert!(repo_path("manifests/quickstart.yaml").is_file());
}

/// The fenced `yaml` code blocks of a Markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence.starts_with("```yaml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_yaml_block_in_the_readme_validates_and_plans() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let blocks = yaml_blocks(&readme);
    assert!(!blocks.is_empty(), "README.md has no yaml examples");
    let dir = tempfile::tempdir().unwrap();
    // The inputs README's examples name, so that their previews can read them.
    std::fs::write(
        dir.path().join("new-members.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    for (index, block) in blocks.iter().enumerate() {
        if block.starts_with("profiles:") {
            // A directory profiles file, not a manifest.
            let parsed =
                bulkops::msgraph::profile::parse(std::path::Path::new("bulkops.yaml"), block);
            assert!(parsed.is_ok(), "README yaml block {index}: {parsed:?}");
            continue;
        }
        let file = format!("readme-{index}.yaml");
        std::fs::write(dir.path().join(&file), block).unwrap();
        let mut args = vec!["plan", file.as_str()];
        // A watch-folder workflow is previewed on a file as if it was dropped.
        if block.contains("trigger:") {
            args.extend(["--trigger-file", "new-members.csv"]);
        }
        let run = bulkops_in(dir.path(), &args);
        assert_eq!(
            run.code, 0,
            "README yaml block {index}:\n{block}\n{}",
            run.stderr
        );
    }
}

#[test]
fn every_manifest_on_the_local_directory_applies_on_the_demo_tenant() {
    for path in shipped_manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("directory: local") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&repo_path("manifests"), &dir.path().join("manifests"));
        copy_tree(&repo_path("examples"), &dir.path().join("examples"));
        let manifest = relative(&path);
        let mut args = vec!["apply", manifest.as_str()];
        // A watch-folder workflow runs on a dropped file.
        if text.contains("trigger:") {
            args.extend(["--trigger-file", "examples/quickstart/add-members.csv"]);
        }
        let run = bulkops_in(dir.path(), &args);
        assert_eq!(run.code, 0, "{manifest}:\n{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains(": completed\n"),
            "{manifest}:\n{}",
            run.stdout
        );
    }
}
