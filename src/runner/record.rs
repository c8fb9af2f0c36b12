//! What the store keeps of a run's steps: how each ended (with a filter
//! step's selection), and, for a resumed run, the steps that finished before
//! and must not be done again.

use std::collections::HashMap;

use super::{Runner, StepState};
use crate::bulkcsv::output::OutputRoot;
use crate::directory::Directory;
use crate::plan::{Plan, Step};
use crate::steps::{JobSummary, Selection};
use crate::store::{JobStore, StepRecord, StoreError};

/// A step that finished in an earlier attempt of the run.
#[derive(Debug, Clone)]
pub struct FinishedStep {
    pub selection: Option<Selection>,
    pub jobs: Vec<JobSummary>,
    pub attempts: u32,
}

impl<D: Directory + Clone + 'static> Runner<D> {
    /// Records how a step ended; a preview records nothing.
    pub(super) fn record(
        &self,
        step: &Step,
        state: &StepState,
        attempts: u32,
        selection: Option<&Selection>,
    ) {
        if self.context.dry_run {
            return;
        }
        let detail = match state {
            StepState::Failed { error, .. } => Some(error.clone()),
            StepState::Skipped { because } => Some(because.clone()),
            StepState::Finished | StepState::Cancelled => None,
        };
        let record = StepRecord {
            step: step.id.clone(),
            state: state.key().to_owned(),
            detail,
            selection: selection.and_then(|selection| serde_json::to_string(selection).ok()),
            attempts,
        };
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(error) = store.record_step(&self.context.run_id, &record) {
            tracing::error!(step = %step.id, error = %crate::text::chain(&error), "could not record how the step ended");
        }
    }
}

impl<D: Directory + Clone + 'static> Runner<D> {
    /// Ends the jobs a failed step left running, with the step's error.
    pub(super) fn fail_open_jobs(&self, step: &str, error: &str) {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(failure) = store.end_running_jobs(
            &self.context.run_id,
            Some(step),
            crate::store::Status::Failed,
            error,
            jiff::Timestamp::now(),
        ) {
            tracing::error!(step = %step, error = %crate::text::chain(&failure), "could not record the step's failure on its jobs");
        }
    }
}

/// The steps of a run that finished before, with their jobs and selections.
pub fn finished_steps(
    store: &JobStore,
    run_id: &str,
    plan: &Plan,
    output: &OutputRoot,
) -> Result<HashMap<String, FinishedStep>, StoreError> {
    let mut finished = HashMap::new();
    let jobs = store.jobs_of_run(run_id)?;
    for record in store.steps(run_id)? {
        if record.state != "finished" || !plan.steps.iter().any(|step| step.id == record.step) {
            continue;
        }
        let selection = match record.selection.as_deref() {
            Some(json) => match serde_json::from_str::<Selection>(json) {
                Ok(selection) => Some(selection),
                // A selection that cannot be read back: do the step again.
                Err(_) => continue,
            },
            None => None,
        };
        let mut summaries = Vec::new();
        for job in jobs.iter().filter(|job| job.step == record.step) {
            let files = store
                .files(&job.id)?
                .into_iter()
                .map(|file| output.display(std::path::Path::new(&file.path)))
                .collect();
            summaries.push(JobSummary {
                id: job.id.clone(),
                target: job.target_name.clone(),
                status: job.status,
                reason: job.reason.clone(),
                total: job.total,
                succeeded: job.succeeded,
                failed: job.failed,
                changed: job.changed,
                files,
            });
        }
        finished.insert(
            record.step.clone(),
            FinishedStep {
                selection,
                jobs: summaries,
                attempts: record.attempts,
            },
        );
    }
    Ok(finished)
}
