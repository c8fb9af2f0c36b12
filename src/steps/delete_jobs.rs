//! `deleteJobs`: remove old job records and the files they wrote, as the admin
//! center's Bulk operations list lets administrators delete finished jobs.
//! Running jobs and the jobs of the current run are never deleted.

use jiff::{SignedDuration, Timestamp};

use super::{Effect, StepEnv, StepError, StepReport};
use crate::directory::Directory;
use crate::manifest::step::{DeleteJobsSpec, JobStatusSpec};
use crate::store::{JobCounts, JobRecord, Status};

/// Deletes the jobs that meet every criterion.
pub(super) fn run<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DeleteJobsSpec,
) -> Result<StepReport, StepError> {
    let now = env.context.started;
    let candidates = env.store(crate::store::JobStore::jobs)?;
    let doomed: Vec<JobRecord> = candidates
        .into_iter()
        .filter(|job| job.run_id != env.context.run_id && job.status != Status::Running)
        .filter(|job| selected(spec, job, now))
        .collect();
    if env.context.dry_run {
        let effect = Effect {
            deleted_jobs: doomed.len() as u64,
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
    for old in &doomed {
        let files = env.store(|store| store.delete_job(&old.id))?;
        for file in files {
            // A file deleted by hand is fine; the record goes either way.
            let _ = std::fs::remove_file(&file.path);
        }
        counts.total += 1;
        counts.succeeded += 1;
        counts.changed += 1;
    }
    tracing::info!(step = %env.step.id, deleted = counts.changed, "deleted jobs");
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
