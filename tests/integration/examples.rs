//! Every shipped manifest and every YAML example in README.md validates and plans.

use crate::support::{
    bulkops, bulkops_in, copy_tree, device_states, relative, repo_path, shipped_manifests,
};

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

/// The manifests README lists after "`manifests/` holds commented examples", in its order.
fn readme_manifest_order() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let start = readme
        .find("`manifests/` holds commented examples")
        .expect("README lists the shipped manifests");
    let paragraph = readme[start..].split("\n\n").next().unwrap();
    paragraph
        .split('`')
        .filter(|word| {
            std::path::Path::new(word)
                .extension()
                .is_some_and(|ext| ext == "yaml")
        })
        .map(|name| format!("manifests/{name}"))
        .collect()
}

#[test]
fn the_shipped_manifests_plan_and_apply_one_after_another_in_readme_order() {
    let order = readme_manifest_order();
    let shipped: Vec<String> = shipped_manifests().iter().map(|p| relative(p)).collect();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(listed, shipped, "README lists every shipped manifest once");

    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_path("manifests"), &dir.path().join("manifests"));
    copy_tree(&repo_path("examples"), &dir.path().join("examples"));
    for manifest in &order {
        let text = std::fs::read_to_string(dir.path().join(manifest)).unwrap();
        let watched = text.contains("trigger:");
        let mut plan = vec!["plan", manifest.as_str()];
        if watched {
            plan.extend([
                "--trigger-file",
                "examples/new-hires/new-hires-2026-11-30.csv",
            ]);
        }
        let planned = bulkops_in(dir.path(), &plan);
        assert_eq!(planned.code, 0, "{manifest}: {}", planned.stderr);
        assert!(
            !planned.stdout.contains("not previewed"),
            "{manifest} previews every effect:\n{}",
            planned.stdout
        );
        let run = if watched {
            // As README shows: the HR file is dropped, and the watch runs it once.
            let drop = dir.path().join("drop/new-hires");
            std::fs::create_dir_all(&drop).unwrap();
            std::fs::copy(
                dir.path()
                    .join("examples/new-hires/new-hires-2026-11-30.csv"),
                drop.join("new-hires-2026-11-30.csv"),
            )
            .unwrap();
            bulkops_in(dir.path(), &["watch", manifest.as_str(), "--once"])
        } else {
            bulkops_in(dir.path(), &["apply", manifest.as_str()])
        };
        assert_eq!(run.code, 0, "{manifest}:\n{}\n{}", run.stdout, run.stderr);
        let finished = if watched {
            run.stderr.contains("watch ended completed=1 failed=0")
        } else {
            run.stdout.contains(": completed\n")
        };
        assert!(finished, "{manifest}:\n{}\n{}", run.stdout, run.stderr);
    }

    // The devices the stale-device example disabled and the re-enable example
    // names are enabled again; none of them was deleted first.
    let reenabled =
        std::fs::read_to_string(dir.path().join("examples/devices/reenable.csv")).unwrap();
    let states = device_states(&dir.path().join(".bulkops/directory.db"));
    for id in reenabled.lines().skip(1) {
        assert!(
            states.contains(&(id.to_string(), true)),
            "device {id} is enabled at the end: {states:?}"
        );
    }
    let runs = bulkops_in(dir.path(), &["runs", "list", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["completed"; order.len()], "{runs:#}");
}
