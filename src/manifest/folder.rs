//! Manifests by the folder: finding the manifest files under a path and the
//! checks that span several files, such as two workflows with one name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::diagnostic::ManifestDiagnostic;
use super::load::LoadedManifest;
use crate::problem::{Problem, ProblemKind};

/// File names that sit beside manifests but are not workflows: the directory
/// profile configuration.
const NOT_MANIFESTS: [&str; 2] = ["bulkops.yaml", "bulkops.yml"];

/// Why the manifests under a path could not be listed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FolderError {
    #[error("cannot read `{path}`")]
    #[diagnostic(
        code(bulkops::manifest::read),
        help("check that the path exists and is readable")
    )]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no manifests in `{path}`")]
    #[diagnostic(
        code(bulkops::manifest::none),
        help(
            "manifests are files ending in `.yaml` or `.yml`; `bulkops.yaml` holds directory profiles and is not one"
        )
    )]
    Empty { path: String },
}

/// The manifest files a path stands for: the file itself, or every `.yaml` and
/// `.yml` file below a folder (hidden folders skipped), sorted by path.
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, FolderError> {
    let unreadable = |source| FolderError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect(path, &mut files).map_err(unreadable)?;
    files.sort();
    if files.is_empty() {
        return Err(FolderError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(files)
}

fn collect(folder: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(&path, files)?;
        } else if is_manifest_name(&name) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_manifest_name(name: &str) -> bool {
    let extension = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(extension.as_deref(), Some("yaml" | "yml")) && !NOT_MANIFESTS.contains(&name)
}

/// Problems for workflows that share `metadata.name` with an earlier manifest
/// of the same folder: job history and output files are keyed by that name.
pub fn duplicate_names(manifests: &[LoadedManifest], paths: &[PathBuf]) -> Vec<ManifestDiagnostic> {
    let mut first_by_name: HashMap<(Option<&Path>, &str), usize> = HashMap::new();
    let mut diagnostics = Vec::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let key = (paths[index].parent(), manifest.plan.workflow.as_str());
        match first_by_name.get(&key) {
            None => {
                first_by_name.insert(key, index);
            }
            Some(first) => diagnostics.push(duplicate(manifest, &manifests[*first])),
        }
    }
    diagnostics
}

fn duplicate(manifest: &LoadedManifest, first: &LoadedManifest) -> ManifestDiagnostic {
    let name = &manifest.plan.workflow;
    let problem = Problem::in_text(
        ProblemKind::DuplicateName,
        manifest.name_span.clone(),
        format!("the workflow name `{name}` is already used in this folder"),
    )
    .label("used again here")
    .help(format!(
        "`{}` is also called `{name}`; job history and outputs are kept by workflow name, so give each workflow its own",
        first.source.name
    ));
    ManifestDiagnostic::new(problem, &manifest.source, None)
}
