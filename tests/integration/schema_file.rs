//! The committed schema is the generated one, and standard validators accept it
//! and every shipped manifest.

use crate::support::{bulkops, repo_path, shipped_manifests};

#[test]
fn the_committed_schema_equals_the_generated_one() {
    let committed = std::fs::read_to_string(repo_path("schemas/manifest.schema.json")).unwrap();
    let run = bulkops(&["schema"]);
    assert_eq!(run.code, 0);
    assert!(
        committed == run.stdout,
        "schemas/manifest.schema.json is out of date: run `cargo run -- schema > schemas/manifest.schema.json` and commit it"
    );
}

/// Reads a manifest with `serde_yaml`, a YAML parser independent of bulkops', and
/// checks it with the `jsonschema` validator against the committed file.
#[test]
fn an_independent_validator_accepts_every_shipped_manifest() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("schemas/manifest.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(
        jsonschema::meta::is_valid(&schema),
        "not a valid JSON Schema"
    );
    let validator = jsonschema::validator_for(&schema).unwrap();
    for path in shipped_manifests() {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let json = serde_json::to_value(yaml).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("schemas/manifest.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let manifest = serde_json::json!({
        "apiVersion": "bulkops/v1", "kind": "Workflow", "metadata": {"name": "x"},
        "spec": {"steps": [{"id": "a", "filterGroups": {}, "filterDevices": {}}]}
    });
    assert!(
        !validator.is_valid(&manifest),
        "two actions in one step must be refused"
    );
}
