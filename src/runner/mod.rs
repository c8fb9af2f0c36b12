//! Running a plan: steps start as soon as the steps they depend on have
//! finished, under the workflow's concurrency limit, with retries for transient
//! failures, a time limit per step, and `continueOnError`.

pub mod context;
pub mod preview;
pub mod progress;
pub mod retry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::directory::Directory;
use crate::plan::Plan;
use crate::steps::{self, Effect, JobSummary, Selection, StepEnv, StepError, StepReport};
use crate::store::{JobStore, Status};
use context::RunContext;
use retry::Backoff;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum StepState {
    /// The step did its work; its jobs may still have failed rows.
    Finished,
    /// The step could not do its work.
    Failed { error: String },
    /// A step it needs failed, so it did not run.
    Skipped { because: String },
    /// The run was stopped before the step started.
    Cancelled,
}

/// One step's end, for the summary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub id: String,
    pub kind: &'static str,
    pub state: StepState,
    pub attempts: u32,
    pub selected: Option<usize>,
    pub jobs: Vec<JobSummary>,
    /// In a preview: what the step would do.
    pub effects: Vec<Effect>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub run_id: String,
    pub status: Status,
    pub steps: Vec<StepResult>,
}

impl RunReport {
    /// The run's status from its steps and jobs.
    fn status_of(steps: &[StepResult]) -> Status {
        if steps.iter().any(|step| step.state == StepState::Cancelled) {
            Status::Cancelled
        } else if steps.iter().all(|step| {
            step.state == StepState::Finished
                && step.jobs.iter().all(|job| job.status == Status::Completed)
        }) {
            Status::Completed
        } else {
            Status::Failed
        }
    }
}

/// What the steps of one run share.
pub struct Runner<D> {
    pub plan: Arc<Plan>,
    pub context: Arc<RunContext>,
    pub directory: D,
    pub store: Arc<Mutex<JobStore>>,
    /// Set by the first Ctrl-C: start no more steps, let running ones finish.
    pub stop: Arc<AtomicBool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    Waiting,
    Running,
    Done(StepState),
}

impl<D: Directory + Clone + 'static> Runner<D> {
    /// Runs every step and reports how each ended.
    pub async fn run(&self) -> RunReport {
        let count = self.plan.steps.len();
        let mut progress = vec![Progress::Waiting; count];
        let mut results: Vec<Option<StepResult>> = vec![None; count];
        let mut selections: HashMap<usize, Selection> = HashMap::new();
        let mut running = JoinSet::new();
        let limit = usize::try_from(self.plan.concurrency).unwrap_or(1).max(1);
        loop {
            self.start_ready(
                &mut progress,
                &mut results,
                &selections,
                &mut running,
                limit,
            );
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (index, attempts, outcome) = joined.expect("step tasks do not panic");
            let step = &self.plan.steps[index];
            let (state, report) = match outcome {
                Ok(report) => (StepState::Finished, report),
                Err(error) => {
                    tracing::error!(step = %step.id, error = %error, "step failed");
                    (
                        StepState::Failed {
                            error: error.to_string(),
                        },
                        StepReport::default(),
                    )
                }
            };
            let selected = report.selection.as_ref().map(|selection| match selection {
                Selection::Groups(groups) => groups.len(),
                Selection::Devices(devices) => devices.len(),
            });
            if let Some(selection) = report.selection {
                selections.insert(index, selection);
            }
            progress[index] = Progress::Done(state.clone());
            results[index] = Some(StepResult {
                id: step.id.clone(),
                kind: step.action.kind().key(),
                state,
                attempts,
                selected,
                jobs: report.jobs,
                effects: report.effects,
            });
        }
        let steps: Vec<StepResult> = results.into_iter().flatten().collect();
        RunReport {
            run_id: self.context.run_id.clone(),
            status: RunReport::status_of(&steps),
            steps,
        }
    }

    /// Starts every step whose dependencies have finished, up to the limit, and
    /// settles steps that can no longer run.
    fn start_ready(
        &self,
        progress: &mut [Progress],
        results: &mut [Option<StepResult>],
        selections: &HashMap<usize, Selection>,
        running: &mut JoinSet<(usize, u32, Result<StepReport, StepError>)>,
        limit: usize,
    ) {
        let stopping = self.stop.load(Ordering::SeqCst);
        for index in self.plan.order() {
            if progress[index] != Progress::Waiting {
                continue;
            }
            let dependencies = self.plan.dag.dependencies(index);
            if dependencies
                .iter()
                .any(|(dependency, _)| !matches!(progress[*dependency], Progress::Done(_)))
            {
                continue;
            }
            let blocking = dependencies
                .iter()
                .find(|(dependency, _)| self.blocks(&progress[*dependency], *dependency));
            let settled = match (blocking, stopping) {
                (_, true) => Some(StepState::Cancelled),
                (Some((dependency, _)), false) => Some(StepState::Skipped {
                    because: format!("`{}` did not finish", self.plan.steps[*dependency].id),
                }),
                (None, false) => None,
            };
            let step = &self.plan.steps[index];
            if let Some(state) = settled {
                progress[index] = Progress::Done(state.clone());
                results[index] = Some(StepResult {
                    id: step.id.clone(),
                    kind: step.action.kind().key(),
                    state,
                    attempts: 0,
                    selected: None,
                    jobs: Vec::new(),
                    effects: Vec::new(),
                });
                continue;
            }
            if running.len() >= limit {
                continue;
            }
            progress[index] = Progress::Running;
            if self.context.dry_run {
                tracing::debug!(step = %step.id, kind = step.action.kind().key(), "previewing step");
            } else {
                tracing::info!(step = %step.id, kind = step.action.kind().key(), "step started");
            }
            let line = self
                .context
                .progress
                .step(&step.id, step.action.kind().key());
            running.spawn(self.step_task(index, selections.clone(), line));
        }
    }

    /// Whether a finished dependency keeps its dependents from running.
    fn blocks(&self, progress: &Progress, index: usize) -> bool {
        match progress {
            Progress::Done(StepState::Failed { .. }) => !self.plan.steps[index].continue_on_error,
            Progress::Done(StepState::Skipped { .. } | StepState::Cancelled) => true,
            _ => false,
        }
    }

    fn step_task(
        &self,
        index: usize,
        selections: HashMap<usize, Selection>,
        line: progress::StepProgress,
    ) -> impl std::future::Future<Output = (usize, u32, Result<StepReport, StepError>)> + Send + 'static
    {
        let (plan, context, directory, store) = (
            Arc::clone(&self.plan),
            Arc::clone(&self.context),
            self.directory.clone(),
            Arc::clone(&self.store),
        );
        async move {
            let step = &plan.steps[index];
            let env = StepEnv {
                progress: &line,
                context: &context,
                directory: &directory,
                store: &store,
                plan: &plan,
                step,
                selections: &selections,
            };
            let attempts = with_retries(&env);
            let (count, outcome) = match step.timeout {
                Some(limit) => match tokio::time::timeout(limit, attempts).await {
                    Ok(done) => done,
                    Err(_) => (1, Err(timed_out(&store, &context.run_id, &step.id, limit))),
                },
                None => attempts.await,
            };
            line.finish(match &outcome {
                Ok(report) if report.jobs.iter().any(|job| job.status == Status::Failed) => {
                    "finished, with failed rows"
                }
                Ok(_) => "finished",
                Err(_) => "failed",
            });
            (index, count, outcome)
        }
    }
}

/// The error of a step stopped by its timeout; its unfinished jobs end failed.
fn timed_out(
    store: &Mutex<JobStore>,
    run_id: &str,
    step: &str,
    limit: std::time::Duration,
) -> StepError {
    let error = StepError::TimedOut {
        limit: format!("{limit:?}"),
    };
    let store = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(failure) =
        store.fail_running_jobs(run_id, step, &error.to_string(), jiff::Timestamp::now())
    {
        tracing::error!(step = %step, error = %failure, "could not record the timeout");
    }
    error
}

/// Runs a step, retrying transient failures with the step's backoff.
async fn with_retries<D: Directory>(env: &StepEnv<'_, D>) -> (u32, Result<StepReport, StepError>) {
    let seed = env.step.id.bytes().fold(0u64, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u64::from(byte))
    });
    let mut delays = Backoff::new(env.step.retry, seed);
    let mut attempts = 1;
    loop {
        match steps::run(env).await {
            Err(error) if error.is_transient() => match delays.next() {
                Some(delay) => {
                    tracing::warn!(step = %env.step.id, error = %error, ?delay, "transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    attempts += 1;
                }
                None => return (attempts, Err(error)),
            },
            outcome => return (attempts, outcome),
        }
    }
}
