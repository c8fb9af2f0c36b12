//! "Retry failed rows": a job's failed rows become a new run of the same
//! step on the same group. The rows and a one-step manifest are written below
//! the job's run's output root (`retries/JOB/`), so the retry is a run like
//! any other: recorded, resumable, with its own result file; the manifest
//! says where it came from.

use std::io::Write;
use std::path::PathBuf;

use crate::bulkcsv::output::OutputRoot;
use crate::lifecycle::{self, Hooks, Options, Paths, Start};
use crate::store::JobStore;

use super::result_file::{self, open_file, results_of};
use super::{App, PageError};

/// The operations whose failed rows can be run again as they are.
const RETRYABLE: [&str; 2] = ["importMembers", "removeMembers"];

/// A retry, written and ready to run.
pub(super) struct Prepared {
    manifest: PathBuf,
    text: String,
    paths: Paths,
}

/// A workflow name for the retry of `workflow`, within the 63 characters
/// names may have.
fn retry_name(workflow: &str) -> String {
    let kept: String = workflow.chars().take(57).collect();
    format!("{}-retry", kept.trim_end_matches('-'))
}

/// A value as YAML reads it: JSON strings are YAML strings.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn write_failure(error: &impl std::fmt::Display) -> PageError {
    PageError::Internal(format!("the retry's files cannot be written: {error}"))
}

/// What a retry is made from, read from the store.
pub(super) struct Source {
    job: crate::store::JobRecord,
    run: crate::store::RunRecord,
    results: std::fs::File,
    state: crate::store::Location,
}

/// Reads what the retry of `job_id` is made from, and refuses a job that
/// cannot be retried: another operation, no failed rows, or a run that
/// executes or can still be resumed (its resume would finish the job).
pub(super) fn source(store: &JobStore, job_id: &str) -> Result<Source, PageError> {
    let job = store.job(job_id)?;
    if let Some(why) = store.why_kept(&job)? {
        return Err(PageError::Conflict(format!(
            "job `{job_id}` is not retried: {why}"
        )));
    }
    if let Some(run) = retry_going_on(store, job_id)? {
        return Err(PageError::Conflict(format!(
            "a retry of job `{job_id}` is going on: run `{run}`"
        )));
    }
    if !RETRYABLE.contains(&job.operation.as_str()) {
        return Err(PageError::Conflict(format!(
            "failed rows are retried for importMembers and removeMembers jobs; this is a {} job",
            job.operation
        )));
    }
    if job.failed == 0 {
        return Err(PageError::Conflict(format!(
            "job `{job_id}` has no failed rows"
        )));
    }
    let run = store.run(&job.run_id)?;
    let record = results_of(store, job_id)?
        .ok_or_else(|| PageError::NotFound(format!("job `{job_id}` wrote no result file")))?;
    let results = open_file(store, job_id, &record)?;
    Ok(Source {
        job,
        run,
        results,
        state: store.location().clone(),
    })
}

/// A run of a retry of `job_id` that a process (this server or another)
/// executes now, found by its manifest's place (`retries/JOB/`).
fn retry_going_on(store: &JobStore, job_id: &str) -> Result<Option<String>, PageError> {
    let folder = format!("/retries/{job_id}/");
    for run_id in store.running_runs()? {
        if store.run(&run_id)?.manifest_path.contains(&folder) && store.run_is_held(&run_id)? {
            return Ok(Some(run_id));
        }
    }
    Ok(None)
}

/// Writes the failed rows and the manifest of the retry. The profiles file
/// is `serve --profiles`, else the one beside the job's manifest.
pub(super) fn prepare(source: Source, profiles: Option<PathBuf>) -> Result<Prepared, PageError> {
    let Source {
        job,
        run,
        results,
        state,
    } = source;
    let job_id = &job.id;
    let root = OutputRoot::new(&run.output_root);
    let mut rows = root
        .create(&format!("retries/{job_id}/failed-rows.csv"), false)
        .map_err(|error| write_failure(&crate::text::chain(&error)))?;
    result_file::write_failed_rows(results, &mut rows).map_err(|error| write_failure(&error))?;
    let rows = rows
        .commit()
        .map_err(|error| write_failure(&crate::text::chain(&error)))?;
    let text = manifest_text(&job, &run, &rows.path);
    let mut manifest = root
        .create(&format!("retries/{job_id}/retry.yaml"), false)
        .map_err(|error| write_failure(&crate::text::chain(&error)))?;
    manifest
        .write_all(text.as_bytes())
        .map_err(|error| write_failure(&error))?;
    let manifest = manifest
        .commit()
        .map_err(|error| write_failure(&crate::text::chain(&error)))?;
    let db = (run.directory == "local")
        .then(|| run.directory_location.clone().map(PathBuf::from))
        .flatten();
    let profiles = profiles.or_else(|| {
        PathBuf::from(&run.manifest_path)
            .parent()
            .map(|folder| folder.join(crate::msgraph::profile::PROFILES_FILE))
    });
    Ok(Prepared {
        manifest: manifest.path,
        text,
        paths: Paths {
            output_dir: PathBuf::from(&run.output_root),
            db,
            state,
            profiles,
            trigger_file: None,
            input_base: None,
        },
    })
}

/// The CSV settings of the job's own manifest (`spec.csv`), so the retry's
/// files are written the same way.
fn csv_settings(run: &crate::store::RunRecord) -> String {
    use crate::bulkcsv::cells::Formulas;
    let Ok(loaded) =
        crate::manifest::load_bytes(&run.manifest_path, run.manifest_text.clone().into_bytes())
    else {
        return String::new();
    };
    let formulas = match loaded.plan.csv.formulas {
        Formulas::Keep => "keep",
        Formulas::Neutralize => "neutralize",
    };
    format!(
        "  csv: {{ formulas: {formulas}, bom: {} }}\n",
        loaded.plan.csv.bom
    )
}

fn manifest_text(
    job: &crate::store::JobRecord,
    run: &crate::store::RunRecord,
    rows: &std::path::Path,
) -> String {
    let results = format!("retries/{}/{{{{run.id}}}}-results.csv", job.id);
    let directory = &run.directory;
    let csv = csv_settings(run);
    format!(
        "# The failed rows of job {job_id} ({workflow}/{step}), run again on the same group.\n\
         apiVersion: bulkops/v1\n\
         kind: Workflow\n\
         metadata:\n  name: {name}\n  description: {description}\n\
         spec:\n  directory: {directory}\n{csv}  steps:\n\
         \x20   - id: {step_id}\n\
         \x20     {operation}:\n\
         \x20       group: {{ id: {group} }}\n\
         \x20       input: {input}\n\
         \x20       results: {results}\n",
        job_id = job.id,
        workflow = job.workflow,
        step = job.step,
        name = retry_name(&job.workflow),
        description = quoted(&format!("Retry of the failed rows of job {}", job.id)),
        directory = quoted(directory),
        step_id = job.step,
        operation = job.operation,
        group = quoted(&job.target_id),
        input = quoted(&rows.display().to_string()),
        results = quoted(&results),
    )
}

/// A job's retry going on in this server: one at a time per job, so a
/// double click starts one run.
pub(super) struct Claim {
    retrying: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    job: String,
}

impl Claim {
    /// Claims the retry of `job`, unless one started here goes on.
    pub(super) fn take(app: &App, job: &str) -> Option<Self> {
        let fresh = app
            .retrying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job.to_owned());
        fresh.then(|| Self {
            retrying: std::sync::Arc::clone(&app.retrying),
            job: job.to_owned(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.retrying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.job);
    }
}

/// How a retry's start went.
pub(super) enum Started {
    /// Recorded as this run.
    Run(String),
    /// Waiting (for another apply on the directory, say): it shows in the
    /// list of this workflow's jobs when it starts.
    Waiting(String),
}

/// How long the page waits for the retry's run to be recorded.
const SHOWN_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts the retry on a thread of its own, which holds `claim` until the
/// run ends; answers with the run once it is recorded, or that it waits, or
/// why it did not start.
pub(super) async fn start(
    app: &App,
    prepared: Prepared,
    claim: Claim,
) -> Result<Started, PageError> {
    let loaded = crate::manifest::load_bytes(
        &prepared.manifest.display().to_string(),
        prepared.text.into_bytes(),
    )
    .map_err(|error| PageError::Internal(format!("the retry's manifest is invalid: {error:?}")))?;
    let workflow = loaded.plan.workflow.clone();
    let (started, run_id) = std::sync::mpsc::channel();
    let (failed, why) = std::sync::mpsc::channel();
    let hooks = Hooks {
        stop: Some(app.stop.clone()),
        ledger: None,
        started: Some(started),
        claimed: None,
    };
    let paths = prepared.paths;
    let handle = std::thread::spawn(move || {
        let _claim = claim;
        let result = lifecycle::apply_with(
            Start::New(Box::new(loaded)),
            &paths,
            Options::default(),
            hooks,
        );
        if let Err(error) = result {
            tracing::error!(error = %crate::text::chain(&error), "a retry from the jobs page failed");
            let _ = failed.send(crate::text::chain(&error));
        }
    });
    app.retries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(handle);
    tokio::task::spawn_blocking(move || match run_id.recv_timeout(SHOWN_WITHIN) {
        Ok(id) => Ok(Started::Run(id)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(Started::Waiting(workflow)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(PageError::Conflict(format!(
            "the retry did not start: {}",
            why.recv()
                .unwrap_or_else(|_| "it ended before its run was recorded".to_owned())
        ))),
    })
    .await
    .map_err(|error| PageError::Internal(error.to_string()))?
}
