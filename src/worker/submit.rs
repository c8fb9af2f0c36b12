//! `bulkops submit`: records runs for workers to take. Each manifest becomes
//! one queued run per directory it is submitted for (its own, each of its
//! `spec.directories`, or each `--profile` given), all in one group. What a worker needs is recorded
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
/// in `directories`, or the manifest's own (`spec.directory` or each of
/// `spec.directories`) when none is given. Every profile must be configured.
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
    let mut store = JobStore::open_at(&paths.state, Create::IfMissing)?;
    let at = Timestamp::now();
    let group = format!("g{}", new_run_id(at));
    let output_dir = open::absolute(&paths.output_dir)?.display().to_string();
    let input_base = open::absolute(Path::new("."))?.display().to_string();
    // The local directory as the submitter names it, wherever the worker runs.
    let db = absolute_text(Some(&open::local_path(paths)))?;
    let profiles = absolute_text(paths.profiles.as_deref())?;
    let mut planned = Vec::new();
    for loaded in manifests {
        let manifest_path = open::absolute(Path::new(&loaded.source.name))?
            .display()
            .to_string();
        let targets = if directories.is_empty() {
            &loaded.plan.directories[..]
        } else {
            directories
        };
        // A profile that is not configured is refused now, not by every
        // worker that takes the run.
        open::check_profiles(loaded, paths, targets)?;
        for directory in targets {
            let submitted = Submitted {
                output_dir: output_dir.clone(),
                db: db.clone(),
                profiles: profiles.clone(),
                directory: (directory != &loaded.plan.directory).then(|| directory.clone()),
            };
            planned.push((loaded, manifest_path.clone(), directory.clone(), submitted));
        }
    }
    let drafts: Vec<String> = planned
        .iter()
        .map(|_| new_run_id(Timestamp::now()))
        .collect();
    let runs: Vec<NewQueuedRun<'_>> = planned
        .iter()
        .zip(&drafts)
        .map(
            |((loaded, manifest_path, directory, submitted), id)| NewQueuedRun {
                id,
                workflow: &loaded.plan.workflow,
                manifest_path,
                manifest_text: &loaded.source.text,
                directory,
                output_root: &output_dir,
                input_base: &input_base,
                group: &group,
                submitted,
                at,
            },
        )
        .collect();
    let ids = store.submit(&runs, &|| new_run_id(Timestamp::now()))?;
    let runs = planned
        .iter()
        .zip(ids)
        .map(|((loaded, _, directory, _), run_id)| Queued {
            run_id,
            workflow: loaded.plan.workflow.clone(),
            directory: directory.clone(),
        })
        .collect();
    Ok(Submission { group, runs })
}

fn absolute_text(path: Option<&Path>) -> Result<Option<String>, LifecycleError> {
    path.map(|path| open::absolute(path).map(|path| path.display().to_string()))
        .transpose()
}
