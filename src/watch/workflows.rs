//! The workflows a watch serves: every manifest with `spec.trigger.watch`
//! under the paths it was given, read again whenever one may have changed.
//! An edit that is valid replaces the workflow; an invalid edit keeps the
//! last valid version and logs where the problems are (`file:line:column`,
//! as `validate` shows them); a removed manifest (or one whose trigger was
//! removed) stops its watch; a new one starts.
//!
//! Manifests are never read from a watched folder: whoever may drop files
//! there must not be able to drop a workflow. Folders that hold a
//! `.processing` folder (watched now or before) are not searched, and a
//! manifest inside the folder any manifest watches is ignored with a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::claim::PROCESSING;
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

    /// The watched folder, absolute (relative paths are taken from the
    /// folder bulkops runs in, like input files).
    pub fn folder(&self) -> PathBuf {
        absolute(Path::new(&self.watch.path))
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What a look at the manifests found changed.
#[derive(Debug)]
pub enum Change {
    /// A manifest with a watch trigger appeared, or one changed (valid).
    Loaded(Box<Workflow>),
    /// The manifest at this path is gone, no longer has a watch trigger, or
    /// is now inside a watched folder.
    Removed(PathBuf),
}

/// What is known of one manifest file.
struct Known {
    /// The bytes last read, to notice a change.
    bytes: Vec<u8>,
    /// Its last valid version with a watch trigger, and how many valid
    /// versions were read before it.
    workflow: Option<(Workflow, u64)>,
}

/// The manifests under the watch's paths.
pub struct Manifests {
    roots: Vec<PathBuf>,
    known: BTreeMap<PathBuf, Known>,
    /// The manifests served, with the version each was served at.
    served: BTreeMap<PathBuf, u64>,
    /// Manifests ignored for lying in a watched folder (warned about once).
    ignored: BTreeSet<PathBuf>,
    versions: u64,
}

impl Manifests {
    /// The manifests under these files or folders (none read yet).
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots,
            known: BTreeMap::new(),
            served: BTreeMap::new(),
            ignored: BTreeSet::new(),
            versions: 0,
        }
    }

    /// The files and folders watched for manifests.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Reads every manifest again and says what changed.
    pub fn scan(&mut self) -> Vec<Change> {
        let files = self.files();
        self.known.retain(|path, _| files.contains(path));
        for path in &files {
            self.read(path);
        }
        let serve = self.servable();
        let mut changes = Vec::new();
        let stopped: Vec<PathBuf> = self
            .served
            .keys()
            .filter(|path| !serve.contains_key(*path))
            .cloned()
            .collect();
        for path in stopped {
            self.served.remove(&path);
            tracing::info!(manifest = %path.display(), "manifest removed, without a watch trigger, or in a watched folder: its watch stops");
            changes.push(Change::Removed(path));
        }
        for (path, (workflow, version)) in serve {
            if self.served.get(&path) != Some(&version) {
                self.served.insert(path, version);
                changes.push(Change::Loaded(Box::new(workflow)));
            }
        }
        changes
    }

    /// The valid watching manifests that lie outside every watched folder.
    fn servable(&mut self) -> BTreeMap<PathBuf, (Workflow, u64)> {
        let folders: Vec<PathBuf> = self
            .known
            .values()
            .filter_map(|known| known.workflow.as_ref())
            .map(|(workflow, _)| workflow.folder())
            .collect();
        let mut serve = BTreeMap::new();
        for (path, known) in &self.known {
            let Some((workflow, version)) = &known.workflow else {
                continue;
            };
            let inside = absolute(path);
            if let Some(folder) = folders.iter().find(|folder| inside.starts_with(folder)) {
                if self.ignored.insert(path.clone()) {
                    tracing::warn!(manifest = %path.display(), folder = %folder.display(), "manifest ignored: it is inside a watched folder, where anyone who drops files could have put it");
                }
                continue;
            }
            self.ignored.remove(path);
            serve.insert(path.clone(), (workflow.clone(), *version));
        }
        serve
    }

    /// Every manifest file under the roots now, outside folders that hold a
    /// `.processing` folder; a root that cannot be listed is logged and
    /// contributes none.
    fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for root in &self.roots {
            match manifest::manifest_files(root) {
                Ok(found) => files.extend(
                    found
                        .into_iter()
                        .filter(|file| !in_watched_folder(root, file)),
                ),
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

    fn read(&mut self, path: &Path) {
        let bytes = match manifest::read_file(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(manifest = %path.display(), error = %crate::text::chain(&error), "cannot read manifest");
                return;
            }
        };
        if self
            .known
            .get(path)
            .is_some_and(|known| known.bytes == bytes)
        {
            return;
        }
        let previous = self.known.remove(path).and_then(|known| known.workflow);
        let name = path.display().to_string();
        let workflow = match manifest::load_bytes(&name, bytes.clone()) {
            Ok(loaded) => loaded.plan.watch.clone().map(|watch| {
                self.versions += 1;
                let workflow = Workflow {
                    manifest: path.to_path_buf(),
                    loaded,
                    watch,
                };
                (workflow, self.versions)
            }),
            Err(invalid) => {
                log_invalid(&LoadError::Invalid(invalid), previous.is_some());
                previous
            }
        };
        self.known
            .insert(path.to_path_buf(), Known { bytes, workflow });
    }
}

/// Whether a folder between `root` and `file` holds a `.processing` folder,
/// that is, is (or was) a watched folder.
fn in_watched_folder(root: &Path, file: &Path) -> bool {
    file.ancestors()
        .skip(1)
        .take_while(|folder| folder.starts_with(root))
        .any(|folder| folder.join(PROCESSING).is_dir())
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
