//! `bulkops submit`: records runs for workers to take. Each manifest becomes
//! one queued run per directory it is submitted for (its own, or each
//! `--profile` given), all in one group. What a worker needs is recorded
//! with the run: the manifest's text (the worker runs exactly that), its
//! absolute path (profiles are found beside it), and the absolute folders
//! inputs are read from and outputs written to, which the workers must see
//! at the same paths (a shared file system).

use std::path::Path;

use jiff::Timestamp;

use super::WorkerError;
use crate::lifecycle::{LifecycleError, Paths, new_run_id, open};
use crate::manifest::LoadedManifest;
use crate::store::{Create, JobStore, NewQueuedRun, Submitted};

/// A run recorded for workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub run_id: String,
    pub workflow: String,
    pub directory: String,
}

/// What was submitted: the group's id and its runs.
#[derive(Debug, Clone)]
pub struct Submission {
    pub group: String,
    pub runs: Vec<Queued>,
}

/// Records a queued run of each manifest for each directory: the profiles
/// in `directories`, or the manifest's own when none is given.
pub fn submit(
    manifests: &[LoadedManifest],
    directories: &[String],
    paths: &Paths,
) -> Result<Submission, WorkerError> {
    if !paths.state.is_shared() {
        return Err(WorkerError::NotShared {
            location: paths.state.to_string(),
        });
    }
    let store = JobStore::open_at(&paths.state, Create::IfMissing)?;
    let at = Timestamp::now();
    let group = format!("g{}", new_run_id(at));
    let output_dir = open::absolute(&paths.output_dir)?;
    let input_base = open::absolute(Path::new("."))?;
    let mut runs = Vec::new();
    for loaded in manifests {
        let manifest_path = open::absolute(Path::new(&loaded.source.name))?;
        let own = [loaded.plan.directory.clone()];
        let targets = if directories.is_empty() {
            &own[..]
        } else {
            directories
        };
        for directory in targets {
            let run_id = new_run_id(Timestamp::now());
            let submitted = Submitted {
                output_dir: output_dir.display().to_string(),
                // The local directory as the submitter names it, wherever
                // the worker runs.
                db: absolute_text(Some(&open::local_path(paths)))?,
                profiles: absolute_text(paths.profiles.as_deref())?,
                directory: (directory != &loaded.plan.directory).then(|| directory.clone()),
            };
            store.submit(&NewQueuedRun {
                id: &run_id,
                workflow: &loaded.plan.workflow,
                manifest_path: &manifest_path.display().to_string(),
                manifest_text: &loaded.source.text,
                directory,
                output_root: &output_dir.display().to_string(),
                input_base: &input_base.display().to_string(),
                group: &group,
                submitted: &submitted,
                at,
            })?;
            runs.push(Queued {
                run_id,
                workflow: loaded.plan.workflow.clone(),
                directory: directory.clone(),
            });
        }
    }
    Ok(Submission { group, runs })
}

fn absolute_text(path: Option<&Path>) -> Result<Option<String>, LifecycleError> {
    path.map(|path| open::absolute(path).map(|path| path.display().to_string()))
        .transpose()
}
