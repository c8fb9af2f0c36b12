//! Running a plan: steps start as soon as the steps they depend on have
//! finished, under the workflow's concurrency limit, with retries for transient
//! failures, a time limit per step, and `continueOnError`.
//!
//! A stop request (Ctrl-C) means no step starts after it; steps already
//! running finish. In a run, each step's end is recorded, so a resumed run
//! settles finished steps from the record instead of doing them again. A
//! preview runs one step at a time in the plan's order, so a step that reads
//! a file an earlier step writes can be told apart: its effect is unknown
//! until the run.

pub mod context;
pub mod preview;
pub mod progress;
mod record;
pub mod retry;
pub mod stop;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::directory::Directory;
use crate::plan::Plan;
use crate::steps::guard::Budget;
use crate::steps::{
    self, Effect, FailureClass, JobSummary, Selection, StepEnv, StepError, StepReport,
};
use crate::store::{JobStore, Status};
use context::RunContext;
pub use record::{FinishedStep, finished_steps};
use retry::Backoff;
use stop::Stop;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum StepState {
    /// The step did its work; its jobs may still have failed rows.
    Finished,
    /// The step could not do its work.
    Failed {
        error: String,
        #[serde(skip)]
        class: FailureClass,
    },
    /// A step it needs failed, so it did not run.
    Skipped { because: String },
    /// The run was stopped before the step started.
    Cancelled,
}

impl StepState {
    /// The word recorded for the state.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Failed { .. } => "failed",
            Self::Skipped { .. } => "skipped",
            Self::Cancelled => "cancelled",
        }
    }
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
    /// In a preview: what a filter step selected.
    #[serde(skip)]
    pub selection: Option<Selection>,
    pub jobs: Vec<JobSummary>,
    /// In a preview: what the step would do.
    pub effects: Vec<Effect>,
    /// In a resumed run: whether the step had finished before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub earlier: bool,
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

    /// The most serious kind of step failure in the run, if a step failed.
    pub fn worst_failure(&self) -> Option<FailureClass> {
        self.steps
            .iter()
            .filter_map(|step| match &step.state {
                StepState::Failed { class, .. } => Some(*class),
                _ => None,
            })
            .max()
    }
}

/// What the steps of one run share.
pub struct Runner<D> {
    pub plan: Arc<Plan>,
    pub context: Arc<RunContext>,
    pub directory: D,
    pub store: Arc<Mutex<JobStore>>,
    /// Set by Ctrl-C: start no more steps, let running ones finish.
    pub stop: Stop,
    /// In a run: what the guards still allow.
    pub budget: Option<Arc<Mutex<Budget>>>,
    /// In a resumed run: the steps that finished before, by id.
    pub finished: HashMap<String, FinishedStep>,
}

/// What a preview's steps learn from the steps before them: each step's
/// view of the directory after it (its dependencies' changes and its own).
/// A step sees only the changes of the steps it depends on, as in a run,
/// where steps that do not depend on each other may run in any order.
#[derive(Default)]
struct PreviewMemory {
    views: Mutex<HashMap<usize, steps::Overlay>>,
}

impl PreviewMemory {
    /// The directory as a step's dependencies leave it.
    fn view_for(&self, plan: &Plan, index: usize) -> steps::Overlay {
        let views = self
            .views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut view = steps::Overlay::default();
        let mut dependencies: Vec<usize> = plan
            .dag
            .dependencies(index)
            .into_iter()
            .map(|(dependency, _)| dependency)
            .collect();
        dependencies.sort_unstable();
        dependencies.dedup();
        for dependency in dependencies {
            if let Some(earlier) = views.get(&dependency) {
                view.merge(earlier);
            }
        }
        view
    }

    fn keep(&self, index: usize, view: steps::Overlay) {
        self.views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(index, view);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    Waiting,
    Running,
    Done(StepState),
}

/// What a step task hands back.
type Joined = (usize, u32, Result<StepReport, StepError>);

/// The scheduler's state while a run goes on.
struct Board {
    progress: Vec<Progress>,
    results: Vec<Option<StepResult>>,
    selections: HashMap<usize, Selection>,
    /// In a preview: the files earlier steps would write, with their step.
    planned_outputs: HashMap<PathBuf, String>,
    /// In a preview: the membership changes earlier steps would make.
    memory: Arc<PreviewMemory>,
}

impl<D: Directory + Clone + 'static> Runner<D> {
    /// Runs every step and reports how each ended.
    pub async fn run(&self) -> RunReport {
        let count = self.plan.steps.len();
        let mut board = Board {
            progress: vec![Progress::Waiting; count],
            results: vec![None; count],
            selections: HashMap::new(),
            planned_outputs: HashMap::new(),
            memory: Arc::new(PreviewMemory::default()),
        };
        self.settle_finished(&mut board);
        let mut running = JoinSet::new();
        let limit = if self.context.dry_run {
            1
        } else {
            usize::try_from(self.plan.concurrency).unwrap_or(1).max(1)
        };
        loop {
            self.start_ready(&mut board, &mut running, limit);
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (index, attempts, outcome) = joined.expect("step tasks do not panic");
            self.settle(&mut board, index, attempts, outcome);
        }
        let steps: Vec<StepResult> = board.results.into_iter().flatten().collect();
        RunReport {
            run_id: self.context.run_id.clone(),
            status: RunReport::status_of(&steps),
            steps,
        }
    }

    /// In a resumed run, the steps that finished before are done already.
    fn settle_finished(&self, board: &mut Board) {
        for (index, step) in self.plan.steps.iter().enumerate() {
            let Some(finished) = self.finished.get(&step.id) else {
                continue;
            };
            if let Some(selection) = &finished.selection {
                board.selections.insert(index, selection.clone());
            }
            board.progress[index] = Progress::Done(StepState::Finished);
            board.results[index] = Some(StepResult {
                id: step.id.clone(),
                kind: step.action.kind().key(),
                state: StepState::Finished,
                attempts: finished.attempts,
                selected: finished.selection.as_ref().map(selected_count),
                selection: None,
                jobs: finished.jobs.clone(),
                effects: Vec::new(),
                earlier: true,
            });
        }
    }

    /// Records how a step that ran ended.
    fn settle(
        &self,
        board: &mut Board,
        index: usize,
        attempts: u32,
        outcome: Result<StepReport, StepError>,
    ) {
        let step = &self.plan.steps[index];
        let (state, report) = match outcome {
            Ok(report) => (StepState::Finished, report),
            Err(error) => {
                let message = crate::text::chain(&error);
                if !self.context.dry_run {
                    tracing::error!(step = %step.id, error = %message, "step failed");
                }
                if matches!(error, StepError::Guard(_)) && !self.context.dry_run {
                    // A guard refusal stops the run: nothing else starts. (A
                    // preview reports it as the step's failure; the stop
                    // request is the process's, so a check must not set it.)
                    self.stop.request();
                }
                if !self.context.dry_run {
                    self.fail_open_jobs(&step.id, &message);
                }
                let class = error.class();
                let state = StepState::Failed {
                    error: message,
                    class,
                };
                (state, StepReport::default())
            }
        };
        if self.context.dry_run {
            self.note_planned_outputs(board, &step.id, &report.effects);
        }
        let selected = report.selection.as_ref().map(selected_count);
        self.record(step, &state, attempts, report.selection.as_ref());
        let kept = report.selection.clone().filter(|_| self.context.dry_run);
        if let Some(selection) = report.selection {
            board.selections.insert(index, selection);
        }
        board.progress[index] = Progress::Done(state.clone());
        board.results[index] = Some(StepResult {
            id: step.id.clone(),
            kind: step.action.kind().key(),
            state,
            attempts,
            selected,
            selection: kept,
            jobs: report.jobs,
            effects: report.effects,
            earlier: false,
        });
    }

    /// Remembers the files a previewed step would write.
    fn note_planned_outputs(&self, board: &mut Board, step: &str, effects: &[Effect]) {
        for (relative, _) in effects.iter().filter_map(|effect| effect.file.as_ref()) {
            if let Ok(path) = self.context.output.resolve(relative)
                && let Ok(absolute) = std::path::absolute(path)
            {
                board.planned_outputs.insert(absolute, step.to_owned());
            }
        }
    }

    /// Starts every step whose dependencies have finished, up to the limit, and
    /// settles steps that can no longer run.
    fn start_ready(&self, board: &mut Board, running: &mut JoinSet<Joined>, limit: usize) {
        for index in self.plan.order() {
            if board.progress[index] != Progress::Waiting {
                continue;
            }
            let dependencies = self.plan.dag.dependencies(index);
            if dependencies
                .iter()
                .any(|(dependency, _)| !matches!(board.progress[*dependency], Progress::Done(_)))
            {
                continue;
            }
            let blocking = dependencies
                .iter()
                .find(|(dependency, _)| self.blocks(&board.progress[*dependency], *dependency));
            // Checked for each step, just before it would start: a stop asked
            // for at any moment before means the step never starts.
            let settled = match (blocking, self.stop.is_requested()) {
                (_, true) => Some(StepState::Cancelled),
                (Some((dependency, _)), false) => Some(StepState::Skipped {
                    because: format!("`{}` did not finish", self.plan.steps[*dependency].id),
                }),
                (None, false) => None,
            };
            let step = &self.plan.steps[index];
            if let Some(state) = settled {
                self.record(step, &state, 0, None);
                board.progress[index] = Progress::Done(state.clone());
                board.results[index] = Some(StepResult {
                    id: step.id.clone(),
                    kind: step.action.kind().key(),
                    state,
                    attempts: 0,
                    selected: None,
                    selection: None,
                    jobs: Vec::new(),
                    effects: Vec::new(),
                    earlier: false,
                });
                continue;
            }
            if running.len() >= limit {
                continue;
            }
            board.progress[index] = Progress::Running;
            if self.context.dry_run {
                tracing::debug!(step = %step.id, kind = step.action.kind().key(), "previewing step");
            } else {
                tracing::info!(step = %step.id, kind = step.action.kind().key(), "step started");
            }
            let line = self
                .context
                .progress
                .step(&step.id, step.action.kind().key());
            running.spawn(self.step_task(
                index,
                board.selections.clone(),
                board.planned_outputs.clone(),
                line,
                Arc::clone(&board.memory),
            ));
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
        planned_outputs: HashMap<PathBuf, String>,
        line: progress::StepProgress,
        memory: Arc<PreviewMemory>,
    ) -> impl std::future::Future<Output = Joined> + Send + 'static {
        let (plan, context, directory, store, budget) = (
            Arc::clone(&self.plan),
            Arc::clone(&self.context),
            self.directory.clone(),
            Arc::clone(&self.store),
            self.budget.clone(),
        );
        async move {
            let view = Mutex::new(if context.dry_run {
                memory.view_for(&plan, index)
            } else {
                steps::Overlay::default()
            });
            let overlay = context.dry_run.then_some(&view);
            let step = &plan.steps[index];
            let env = StepEnv {
                progress: &line,
                context: &context,
                directory: &directory,
                store: &store,
                plan: &plan,
                step,
                selections: &selections,
                budget: budget.as_deref(),
                planned_outputs: &planned_outputs,
                overlay,
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
            if context.dry_run {
                memory.keep(
                    index,
                    view.into_inner()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
            }
            (index, count, outcome)
        }
    }
}

/// How many objects a selection holds.
fn selected_count(selection: &Selection) -> usize {
    match selection {
        Selection::Groups(groups) => groups.len(),
        Selection::Devices(devices) => devices.len(),
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
    if let Err(failure) = store.end_running_jobs(
        run_id,
        Some(step),
        Status::Failed,
        &error.to_string(),
        jiff::Timestamp::now(),
    ) {
        tracing::error!(step = %step, error = %crate::text::chain(&failure), "could not record the timeout");
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
                    tracing::warn!(step = %env.step.id, error = %crate::text::chain(&error), ?delay, "transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    attempts += 1;
                }
                None => return (attempts, Err(error)),
            },
            outcome => return (attempts, outcome),
        }
    }
}
