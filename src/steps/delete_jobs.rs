//! `deleteJobs`: remove old job records and the files they wrote, as the admin
//! center's Bulk operations list lets administrators delete finished jobs.
//!
//! A job is kept while its run is being executed or can still be resumed, and
//! the jobs of the current run are never deleted. Only the files a job wrote
//! are deleted with it, and only while they are still those files, below the
//! output root of the job's run: a file replaced or edited since, or a path
//! that is a link now, is kept. `keepFiles: true` keeps every file.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};

use super::{Effect, StepEnv, StepError, StepReport};
use crate::bulkcsv::output::{OutputRoot, Removal, WrittenIdentity};
use crate::directory::Directory;
use crate::manifest::step::{DeleteJobsSpec, JobStatusSpec};
use crate::store::{JobCounts, JobRecord, JobStore, Status, StoreError};

/// What became of the files of a deleted job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedFiles {
    /// Files deleted.
    pub removed: Vec<String>,
    /// Files kept, with why.
    pub kept: Vec<(String, &'static str)>,
}

/// Deletes a job with its journal and, unless `keep_files`, the files it
/// wrote that are still as it wrote them.
pub fn delete_job_files(
    store: &JobStore,
    job_id: &str,
    keep_files: bool,
) -> Result<DeletedFiles, StoreError> {
    let job = store.job(job_id)?;
    let run = store.run(&job.run_id)?;
    let files = store.delete_job(job_id)?;
    let root = OutputRoot::new(&run.output_root);
    let mut outcome = DeletedFiles::default();
    for file in files {
        let kept = |why| (file.path.clone(), why);
        if keep_files {
            outcome.kept.push(kept("kept as asked"));
            continue;
        }
        let Some(identity) = file
            .identity
            .as_deref()
            .and_then(|text| text.parse::<WrittenIdentity>().ok())
        else {
            outcome.kept.push(kept(
                "kept: recorded by an older bulkops without its identity",
            ));
            continue;
        };
        match root.remove_written(Path::new(&file.path), &identity) {
            Ok(Removal::Removed) => outcome.removed.push(file.path.clone()),
            Ok(Removal::Missing) => outcome.kept.push(kept("already gone")),
            Ok(Removal::Changed) => outcome
                .kept
                .push(kept("kept: it changed since the job wrote it")),
            Ok(Removal::Outside) => outcome
                .kept
                .push(kept("kept: it is not below the run's output root")),
            Err(error) => {
                tracing::warn!(file = %file.path, error = %crate::text::chain(&error), "a job's file could not be deleted");
                outcome.kept.push(kept("kept: it could not be deleted"));
            }
        }
    }
    Ok(outcome)
}

/// The jobs a `deleteJobs` step selects: every criterion met, not of this
/// run, and not kept for a run in progress or one that can be resumed.
fn doomed<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DeleteJobsSpec,
) -> Result<Vec<JobRecord>, StoreError> {
    let now = env.context.started;
    env.store(|store| {
        let mut doomed = Vec::new();
        for job in store.jobs()? {
            if job.run_id == env.context.run_id || !selected(spec, &job, now) {
                continue;
            }
            if let Some(why) = store.why_kept(&job)? {
                tracing::info!(job = %job.id, why = %why, "kept");
                continue;
            }
            doomed.push(job);
        }
        Ok(doomed)
    })
}

/// Deletes the jobs that meet every criterion.
pub(super) fn run<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DeleteJobsSpec,
) -> Result<StepReport, StepError> {
    let mut doomed = doomed(env, spec)?;
    if let Some(pins) = env.pins() {
        // A saved plan deletes the jobs it listed that still qualify; jobs
        // that came to qualify since wait for the next plan.
        let planned = pins.deleted_jobs.clone().unwrap_or_default();
        doomed.retain(|job| planned.contains(&job.id));
    }
    if env.context.dry_run {
        let mut files = Vec::new();
        if !spec.keep_files {
            for job in &doomed {
                files.extend(
                    env.store(|store| store.files(&job.id))?
                        .into_iter()
                        .map(|file| file.path),
                );
            }
        }
        let effect = Effect {
            deleted_jobs: doomed.len() as u64,
            deleted_files: files,
            deleted_job_ids: doomed.iter().map(|job| job.id.clone()).collect(),
            ..Effect::default()
        };
        return Ok(StepReport {
            selection: None,
            jobs: Vec::new(),
            effects: vec![effect],
        });
    }
    let job = env.start_job("", None, None)?;
    let mut counts = JobCounts::default();
    let mut removed = 0;
    for old in &doomed {
        let files = env.store(|store| delete_job_files(store, &old.id, spec.keep_files))?;
        removed += files.removed.len();
        counts.total += 1;
        counts.succeeded += 1;
        counts.changed += 1;
    }
    tracing::info!(step = %env.step.id, deleted = counts.changed, files = removed, "deleted jobs");
    let summary = env.finish_job(&job, None, counts, None, Vec::new())?;
    Ok(StepReport {
        selection: None,
        jobs: vec![summary],
        effects: Vec::new(),
    })
}

fn selected(spec: &DeleteJobsSpec, job: &JobRecord, now: Timestamp) -> bool {
    spec.ids
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|id| id == &job.id))
        && spec
            .name
            .as_ref()
            .is_none_or(|pattern| glob_matches(pattern, &job.name()))
        && spec
            .workflow
            .as_ref()
            .is_none_or(|workflow| workflow == &job.workflow)
        && spec.status.as_ref().is_none_or(|statuses| {
            statuses
                .values()
                .iter()
                .any(|s| status_of(*s) == job.status)
        })
        && spec.older_than.is_none_or(|age| {
            let limit = SignedDuration::try_from(age.as_duration()).unwrap_or(SignedDuration::MAX);
            job.finished_at.unwrap_or(job.started_at) < now - limit
        })
}

fn status_of(status: JobStatusSpec) -> Status {
    match status {
        JobStatusSpec::Completed => Status::Completed,
        JobStatusSpec::Failed => Status::Failed,
        JobStatusSpec::Cancelled => Status::Cancelled,
    }
}

/// Matches `*` (any run of characters) and `?` (one character).
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(star) = star {
            p = star + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_job_names() {
        assert!(glob_matches(
            "offboarding/*",
            "offboarding/remove-from-groups"
        ));
        assert!(glob_matches("*/tidy", "quickstart/tidy"));
        assert!(glob_matches("q?ickstart/*", "quickstart/add"));
        assert!(!glob_matches("offboarding/*", "quickstart/add"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("a*b", "acd"));
    }
}
