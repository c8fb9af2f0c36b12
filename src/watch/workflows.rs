//! The workflows a watch serves: every manifest with `spec.trigger.watch`
//! under the paths it was given, read again whenever one may have changed.
//! An edit that is valid replaces the workflow; an invalid edit keeps the
//! last valid version and logs where the problems are (`file:line:column`,
//! as `validate` shows them); a removed manifest (or one whose trigger was
//! removed) stops its watch; a new one starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::manifest::spec::WatchSpec;
use crate::manifest::{self, LoadError, LoadedManifest};

/// A workflow to watch for, as last loaded valid.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The manifest file it was loaded from.
    pub manifest: PathBuf,
    pub loaded: LoadedManifest,
    pub watch: WatchSpec,
}

impl Workflow {
    /// The workflow's name (`metadata.name`).
    pub fn name(&self) -> &str {
        &self.loaded.plan.workflow
    }
}

/// What a look at the manifests found changed.
#[derive(Debug)]
pub enum Change {
    /// A manifest with a watch trigger appeared, or one changed (valid).
    Loaded(Box<Workflow>),
    /// The manifest at this path is gone or no longer has a watch trigger.
    Removed(PathBuf),
}

/// What is known of one manifest file.
struct Known {
    /// The bytes last read, to notice a change.
    bytes: Vec<u8>,
    /// Whether its last valid version has a watch trigger.
    watching: bool,
}

/// The manifests under the watch's paths.
pub struct Manifests {
    roots: Vec<PathBuf>,
    known: BTreeMap<PathBuf, Known>,
}

impl Manifests {
    /// The manifests under these files or folders (none read yet).
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots,
            known: BTreeMap::new(),
        }
    }

    /// The files and folders watched for manifests.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Reads every manifest again and says what changed.
    pub fn scan(&mut self) -> Vec<Change> {
        let files = self.files();
        let mut changes = Vec::new();
        let gone: Vec<PathBuf> = self
            .known
            .keys()
            .filter(|path| !files.contains(path))
            .cloned()
            .collect();
        for path in gone {
            if self.known.remove(&path).is_some_and(|known| known.watching) {
                tracing::info!(manifest = %path.display(), "manifest removed: its watch stops");
                changes.push(Change::Removed(path));
            }
        }
        for path in files {
            if let Some(change) = self.read(&path) {
                changes.push(change);
            }
        }
        changes
    }

    /// Every manifest file under the roots now; a root that cannot be listed
    /// is logged and contributes none.
    fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for root in &self.roots {
            match manifest::manifest_files(root) {
                Ok(found) => files.extend(found),
                Err(manifest::FolderError::Empty { .. }) => {}
                Err(error) => {
                    tracing::warn!(path = %root.display(), error = %crate::text::chain(&error), "cannot list manifests");
                }
            }
        }
        files.sort();
        files.dedup();
        files
    }

    fn read(&mut self, path: &Path) -> Option<Change> {
        let bytes = match manifest::read_file(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(manifest = %path.display(), error = %crate::text::chain(&error), "cannot read manifest");
                return None;
            }
        };
        if self
            .known
            .get(path)
            .is_some_and(|known| known.bytes == bytes)
        {
            return None;
        }
        let was_watching = self.known.get(path).is_some_and(|known| known.watching);
        let name = path.display().to_string();
        match manifest::load_bytes(&name, bytes.clone()) {
            Ok(loaded) => {
                let watch = loaded.plan.watch.clone();
                self.known.insert(
                    path.to_path_buf(),
                    Known {
                        bytes,
                        watching: watch.is_some(),
                    },
                );
                match watch {
                    Some(watch) => Some(Change::Loaded(Box::new(Workflow {
                        manifest: path.to_path_buf(),
                        loaded,
                        watch,
                    }))),
                    None if was_watching => {
                        tracing::info!(manifest = %name, "manifest has no watch trigger any more: its watch stops");
                        Some(Change::Removed(path.to_path_buf()))
                    }
                    None => None,
                }
            }
            Err(invalid) => {
                log_invalid(&LoadError::Invalid(invalid), was_watching);
                self.known.insert(
                    path.to_path_buf(),
                    Known {
                        bytes,
                        watching: was_watching,
                    },
                );
                None
            }
        }
    }
}

/// Logs each problem of an invalid manifest at its `file:line:column`.
fn log_invalid(error: &LoadError, was_watching: bool) {
    let LoadError::Invalid(invalid) = error else {
        return;
    };
    let keeping = if was_watching {
        "the last valid version keeps running"
    } else {
        "it is not watched until it is valid"
    };
    tracing::error!(manifest = %invalid.file, problems = invalid.diagnostics.len(), "manifest is invalid: {keeping}");
    for diagnostic in &invalid.diagnostics {
        let place = diagnostic.line_column().map_or_else(
            || diagnostic.file().to_owned(),
            |(line, column)| format!("{}:{line}:{column}", diagnostic.file()),
        );
        let help = diagnostic
            .help_text()
            .map(|help| format!(" (help: {help})"))
            .unwrap_or_default();
        tracing::error!("{place}: {}{help}", diagnostic.message());
    }
}
