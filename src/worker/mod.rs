//! `bulkops worker`: takes runs submitted to a shared (PostgreSQL) job store
//! and executes them, one at a time, until stopped. Any number of workers on
//! any number of machines may serve one store: each run is taken by one
//! worker (tenants in turn), held by a lease the worker renews, and resumed
//! from its journal by another worker when its worker dies or stalls.
//!
//! A first SIGTERM or Ctrl-C stops taking runs and drains the run going on
//! (it ends after the steps that are running, resumable); the worker then
//! hands it back, so another worker finishes it at once. A second signal
//! ends the worker at once: its lease runs out, and another worker resumes
//! the run.

pub mod submit;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::lifecycle::{self, Hooks, LifecycleError, Options, Paths, Start};
use crate::runner::stop::Stop;
use crate::store::{Claim, Create, JobStore, Location, Status, StoreError};

/// How many times a run is taken before a worker gives it up for errors.
pub const MAX_ATTEMPTS: i64 = 3;

/// What can keep a worker from working.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WorkerError {
    #[error("`{location}` is not a shared job store: workers take runs from a PostgreSQL store")]
    #[diagnostic(
        code(bulkops::worker::not_shared),
        help("pass `--state postgres://USER@HOST:PORT/DATABASE` (or set BULKOPS_STATE_URL)")
    )]
    NotShared { location: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("cannot watch for stop signals")]
    #[diagnostic(code(bulkops::worker::signals))]
    Signals(#[source] std::io::Error),
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct Settings {
    pub state: Location,
    /// Stop after this many runs.
    pub max_runs: Option<u64>,
    /// How often an idle worker looks for runs.
    pub poll: Duration,
    /// How long a run's lease lasts unless renewed.
    pub lease: Option<Duration>,
    /// How long a run that failed to go on waits before a worker tries it
    /// again (times the failures so far).
    pub retry_after: Duration,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub taken: u64,
    pub completed: u64,
    pub failed: u64,
    /// Cancelled on request (the jobs page, `jobs cancel`).
    pub cancelled: u64,
    pub handed_back: u64,
    pub given_up: u64,
    pub lost: u64,
}

/// How one taken run ended for this worker.
enum Ended {
    Completed,
    Failed,
    Cancelled,
    HandedBack,
    GivenUp,
    Lost,
}

/// Works until stopped (or `max_runs` runs were taken).
pub fn work(settings: &Settings) -> Result<Summary, WorkerError> {
    if !settings.state.is_shared() {
        return Err(WorkerError::NotShared {
            location: settings.state.to_string(),
        });
    }
    let stop = Stop::new();
    watch_signals(&stop)?;
    let Some(mut store) = open_store(settings, &stop)? else {
        return Ok(Summary::default());
    };
    if let Some(lease) = settings.lease {
        store.set_lease(lease);
    }
    tracing::info!(owner = %store.owner(), store = %settings.state, "worker started");
    let mut summary = Summary::default();
    let mut trouble = 0_u32;
    while !stop.is_requested() && settings.max_runs.is_none_or(|max| summary.taken < max) {
        let claim = match store.claim_next() {
            Ok(Some(claim)) => {
                trouble = 0;
                claim
            }
            Ok(None) => {
                idle(settings.poll, &stop);
                continue;
            }
            // The store may come back (a restart, a network break): wait
            // longer each time, at most a minute.
            Err(error) => {
                trouble += 1;
                let wait = settings
                    .poll
                    .saturating_mul(trouble)
                    .min(Duration::from_secs(60));
                tracing::warn!(error = %crate::text::chain(&error), retry_in = ?wait, "cannot take runs from the job store");
                idle(wait, &stop);
                continue;
            }
        };
        summary.taken += 1;
        match run_claim(&store, claim, settings, &stop) {
            Ended::Completed => summary.completed += 1,
            Ended::Failed => summary.failed += 1,
            Ended::Cancelled => summary.cancelled += 1,
            Ended::HandedBack => summary.handed_back += 1,
            Ended::GivenUp => summary.given_up += 1,
            Ended::Lost => summary.lost += 1,
        }
    }
    tracing::info!(
        taken = summary.taken,
        completed = summary.completed,
        failed = summary.failed,
        cancelled = summary.cancelled,
        handed_back = summary.handed_back,
        "worker stopped"
    );
    Ok(summary)
}

/// Opens the store, waiting while its server cannot be reached (a worker
/// started during a database restart); `None` when stopped meanwhile.
fn open_store(settings: &Settings, stop: &Stop) -> Result<Option<JobStore>, WorkerError> {
    let mut tries = 0_u32;
    loop {
        match JobStore::open_at(&settings.state, Create::IfMissing) {
            Ok(store) => return Ok(Some(store)),
            Err(error @ StoreError::Connect { .. }) => {
                tries += 1;
                let wait = settings
                    .poll
                    .saturating_mul(tries)
                    .min(Duration::from_secs(60));
                tracing::warn!(error = %crate::text::chain(&error), retry_in = ?wait, "cannot reach the job store");
                idle(wait, stop);
                if stop.is_requested() {
                    return Ok(None);
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Waits `poll`, or less when a stop is asked for.
fn idle(poll: Duration, stop: &Stop) {
    let nap = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < poll && !stop.is_requested() {
        std::thread::sleep(nap);
        waited += nap;
    }
}

/// A first SIGTERM or SIGINT asks the worker to stop; a second ends it.
fn watch_signals(stop: &Stop) -> Result<(), WorkerError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WorkerError::Signals)?;
    let stop = stop.clone();
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut terminate), Ok(mut interrupt)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                let _ = ready.send(false);
                return;
            };
            let _ = ready.send(true);
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!(
                "stopping: no more runs are taken; the run going on drains and is handed back"
            );
            stop.request();
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::warn!(
                "stopped at once: another worker resumes the run once its lease runs out"
            );
            std::process::exit(crate::exit_code::CANCELLED);
        });
    });
    match listening.recv() {
        Ok(true) => Ok(()),
        _ => Err(WorkerError::Signals(std::io::Error::other(
            "the signal handlers could not be installed",
        ))),
    }
}

/// Executes a taken run and records what became of it.
fn run_claim(store: &JobStore, claim: Claim, settings: &Settings, stop: &Stop) -> Ended {
    let run_id = claim.run_id.clone();
    if let Some(why) = claim.broken.clone() {
        // Its settings will not mend: given up at once.
        tracing::error!(run = %run_id, error = %why, "run given up");
        let outcome = store.fail_claim(&claim, &why, true, Duration::ZERO);
        let ended = record(&claim, outcome, Ended::GivenUp);
        claim.release();
        return ended;
    }
    tracing::info!(run = %run_id, attempt = claim.attempt, fresh = claim.fresh, "took run");
    let paths = Paths {
        output_dir: PathBuf::from(&claim.submitted.output_dir),
        db: claim.submitted.db.as_ref().map(PathBuf::from),
        state: settings.state.clone(),
        profiles: claim.submitted.profiles.as_ref().map(PathBuf::from),
        trigger_file: None,
        input_base: claim.input_base.as_ref().map(PathBuf::from),
    };
    let run_stop = Stop::new();
    // Cancelled on the jobs page while its last worker was dead: drained
    // from the start.
    if store.cancel_requested(&run_id).unwrap_or(false) {
        run_stop.request();
    }
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = watch_run(stop, &run_stop, &claim, &watching);
    let start = if claim.fresh {
        Start::Queued(run_id.clone())
    } else {
        Start::Resume(run_id.clone())
    };
    let hooks = Hooks {
        stop: Some(run_stop),
        claimed: Some((run_id.clone(), claim.attempt)),
        ..Hooks::default()
    };
    let options = Options {
        allow_removals: None,
        show_progress: false,
        lock_timeout: None,
    };
    let result = lifecycle::apply_with(start, &paths, options, hooks);
    watching.store(false, Ordering::SeqCst);
    let _ = watcher.join();
    let ended = settle(store, &claim, result, stop, settings.retry_after);
    claim.release();
    ended
}

/// Stops the run when the worker stops or the run's lease is lost.
fn watch_run(
    stop: &Stop,
    run_stop: &Stop,
    claim: &Claim,
    watching: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (stop, run_stop, watching) = (stop.clone(), run_stop.clone(), Arc::clone(watching));
    let lost = claim.lost_flag();
    std::thread::spawn(move || {
        while watching.load(Ordering::SeqCst) {
            if stop.is_requested() || lost.load(Ordering::SeqCst) {
                run_stop.request();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Records what became of a run this worker executed.
fn settle(
    store: &JobStore,
    claim: &Claim,
    result: Result<lifecycle::Finished, LifecycleError>,
    stop: &Stop,
    retry_after: Duration,
) -> Ended {
    let run_id = &claim.run_id;
    if claim.is_lost() {
        tracing::warn!(run = %run_id, "another worker took the run over; this one wrote nothing more");
        return Ended::Lost;
    }
    let (queue, ended) = match result {
        Ok(_) => match store.run(run_id).map(|run| run.status) {
            Ok(Status::Completed) => ("done", Ended::Completed),
            // Drained because this worker stops (not cancelled by a person).
            Ok(Status::Cancelled)
                if stop.is_requested() && !store.cancel_requested(run_id).unwrap_or(true) =>
            {
                ("resume", Ended::HandedBack)
            }
            Ok(Status::Cancelled) => ("done", Ended::Cancelled),
            Ok(Status::Failed) => ("done", Ended::Failed),
            _ => ("resume", Ended::HandedBack),
        },
        Err(LifecycleError::Store(StoreError::LeaseLost { .. })) => return Ended::Lost,
        // Ended by an earlier attempt whose worker died before it said so.
        Err(LifecycleError::RunAlreadyCompleted { .. }) => ("done", Ended::Completed),
        Err(error) => return failed(store, claim, &crate::text::chain(&error), retry_after),
    };
    record(claim, store.end_claim(claim, queue), ended)
}

/// Records that the run could not go on: tried again later by a worker, or
/// given up after [`MAX_ATTEMPTS`] failures.
fn failed(store: &JobStore, claim: &Claim, why: &str, retry_after: Duration) -> Ended {
    let failures = claim.failures + 1;
    let give_up = failures >= MAX_ATTEMPTS;
    let run_id = &claim.run_id;
    let (outcome, ended) = if give_up {
        let why = format!("given up after {failures} failed attempts: {why}");
        tracing::error!(run = %run_id, error = %why, "run given up");
        (
            store.fail_claim(claim, &why, true, Duration::ZERO),
            Ended::GivenUp,
        )
    } else {
        let delay = retry_after.saturating_mul(u32::try_from(failures).unwrap_or(u32::MAX));
        tracing::warn!(run = %run_id, failures, error = %why, retry_in = ?delay, "run failed to go on; a worker tries again");
        (
            store.fail_claim(claim, why, false, delay),
            Ended::HandedBack,
        )
    };
    record(claim, outcome, ended)
}

/// What an attempt to record a run's end came to.
fn record(claim: &Claim, outcome: Result<(), StoreError>, ended: Ended) -> Ended {
    let run_id = &claim.run_id;
    match outcome {
        Ok(()) => {
            tracing::info!(run = %run_id, "run ended for this worker");
            ended
        }
        Err(StoreError::LeaseLost { .. }) => Ended::Lost,
        Err(error) => {
            tracing::error!(run = %run_id, error = %crate::text::chain(&error), "cannot record what became of the run; its lease runs out and another worker takes it");
            Ended::HandedBack
        }
    }
}
