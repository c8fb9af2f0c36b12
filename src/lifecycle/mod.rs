//! One run's life, the same for every way a run starts (`apply`, `apply
//! --resume`, and later watch folders and plan files): open the job store and
//! the directory, take the run's lock, check every step before anything
//! changes, record the run with what it was planned from, execute it with
//! its guards as a budget, and record how it ended. `cli/` only parses
//! arguments and prints.
//!
//! A resume checks first that the run can be resumed, that no other process
//! executes it, and that every input it recorded is unchanged; it removes the
//! temporary files the interrupted attempt left, and skips the steps that
//! finished.

pub mod changed;
mod check;
pub mod directory_lock;
mod ledger;
mod monitor;
pub mod open;
pub mod pull;
mod queued;
mod resume;
pub mod saved;
mod shared_budget;
mod signals;
mod told;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::bulkcsv::output::OutputRoot;
use crate::directory::any::AnyDirectory;
use crate::directory::local::LocalError;
use crate::manifest::{LoadError, LoadedManifest};
use crate::msgraph::client::ClientError;
use crate::runner::context::{RunContext, chunk_rows_from_environment};
use crate::runner::progress::Progress;
use crate::runner::stop::Stop;
use crate::runner::{RunReport, Runner};
use crate::steps::FailureClass;
use crate::steps::guard::{Budget, Limits};
use crate::store::{Charged, Create, JobStore, LedgerEntry, NewRun, Status, StoreError};

pub use check::guarded;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LifecycleError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Directory(#[from] LocalError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(#[from] ClientError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    #[error("run `{run_id}` is {status}, not queued: a worker starts only submitted runs")]
    #[diagnostic(
        code(bulkops::lifecycle::not_queued),
        help(
            "`bulkops runs list` shows the run; an interrupted run is resumed with `bulkops apply --resume`"
        )
    )]
    NotQueued { run_id: String, status: String },
    /// The manifest names a directory profile that is not configured.
    #[error("the directory profile `{name}` is not configured: `{}` does not exist", profiles.display())]
    #[diagnostic(
        code(bulkops::directory::profile),
        help(
            "describe the profile in bulkops.yaml beside the manifest (or pass --profiles FILE), or use `directory: local` for the embedded directory"
        )
    )]
    UnknownDirectory { name: String, profiles: PathBuf },
    #[error("cannot use `{}` as the output root", path.display())]
    #[diagnostic(
        code(bulkops::output::root),
        help("check the cause above; the folder must exist or be creatable")
    )]
    OutputRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run `{run_id}` cannot be resumed within this limit")]
    #[diagnostic(
        code(bulkops::run::journal_above_limit),
        help(
            "its journal already plans more than the limit allows; resume it with a limit at least that high"
        )
    )]
    JournalAboveLimit {
        run_id: String,
        #[source]
        refusal: crate::steps::guard::GuardRefusal,
    },
    #[error(
        "workflow `{workflow}` runs on a file dropped into a watched folder, and no `--trigger-file` names one"
    )]
    #[diagnostic(
        code(bulkops::run::trigger_missing),
        help("pass `--trigger-file FILE` to run it once on that file")
    )]
    TriggerFileMissing { workflow: String },
    #[error("workflow `{workflow}` has no trigger, so `--trigger-file {}` would not be used", file.display())]
    #[diagnostic(
        code(bulkops::run::trigger_unused),
        help("leave out `--trigger-file`, or add `spec.trigger.watch` to the manifest")
    )]
    TriggerFileUnused { workflow: String, file: PathBuf },
    #[error("cannot use `{}`", path.display())]
    #[diagnostic(code(bulkops::io), help("check the cause above"))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the runtime")]
    #[diagnostic(code(bulkops::runtime))]
    Runtime(#[source] std::io::Error),
    /// A step could not be checked before the run, so the run did not start.
    #[error("step `{step}` cannot run: {error}")]
    #[diagnostic(
        code(bulkops::check),
        help(
            "nothing was changed; fix the cause and run again (`bulkops plan` shows every step's check)"
        )
    )]
    CheckFailed {
        step: String,
        error: String,
        class: FailureClass,
    },
    #[error("this run would remove {removals} members; the guard allows {limit}")]
    #[diagnostic(
        code(bulkops::guard::removals),
        help(
            "check the preview with `bulkops plan`; if the removals are intended, raise `guards.maxRemovals` or pass `--allow-removals {removals}`"
        )
    )]
    TooManyRemovals { removals: u64, limit: u64 },
    #[error("this run would delete {deletions} devices; the guard allows {limit}")]
    #[diagnostic(
        code(bulkops::guard::device_deletions),
        help(
            "deleted devices cannot be restored; check the preview with `bulkops plan`, and if the deletions are intended, raise `guards.maxDeviceDeletions`"
        )
    )]
    TooManyDeviceDeletions { deletions: u64, limit: u64 },
    #[error("run `{run_id}` has already completed")]
    #[diagnostic(
        code(bulkops::run::completed),
        help("`bulkops jobs list` shows runs that can be resumed")
    )]
    RunAlreadyCompleted { run_id: String },
    #[error("run `{run_id}` can no longer be resumed: {why}")]
    #[diagnostic(
        code(bulkops::run::closed),
        help("start a new run with `bulkops apply`")
    )]
    RunClosed { run_id: String, why: String },
    #[error("`{}` changed since run `{run_id}` was planned from it (SHA-256 {recorded}, now {now})", path.display())]
    #[diagnostic(
        code(bulkops::run::input_changed),
        help(
            "a resume continues only from the inputs the run was planned from; put the original file back, or start a new run with `bulkops apply`"
        )
    )]
    InputChanged {
        run_id: String,
        path: PathBuf,
        recorded: String,
        now: String,
    },
    #[error("run `{run_id}` was planned against {recorded}, not {now}")]
    #[diagnostic(
        code(bulkops::run::directory_changed),
        help(
            "a resume continues against the directory the run started with; leave out `--db`, or restore the profile"
        )
    )]
    DirectoryChanged {
        run_id: String,
        recorded: String,
        now: String,
    },
    #[error("the saved plan {plan_id} is stale: {} changed since it was made", if changes.len() == 1 { "one thing".to_owned() } else { format!("{} things", changes.len()) })]
    #[diagnostic(
        code(bulkops::plan::stale),
        help(
            "{}. What changed for workflow `{workflow}`:\n  - {}\nPlan again and review the new plan: `{replan}`",
            if applied_before.is_empty() { "nothing was changed".to_owned() } else { format!("the runs {} of this plan completed before this part was found stale; nothing more was changed", applied_before.join(", ")) },
            changes.iter().map(|change| crate::text::printable(change)).collect::<Vec<_>>().join("\n  - ")
        )
    )]
    StalePlan {
        plan_id: String,
        /// The workflow (and, for a manifest with several, its directory).
        workflow: String,
        /// Runs of this plan this apply completed before the stale part.
        applied_before: Vec<String>,
        changes: Vec<String>,
        /// The command that plans again: `bulkops plan MANIFEST --out FILE`.
        replan: String,
    },
    #[error("the saved plan {plan_id} was applied before, as run `{run_id}` ({})", status.key())]
    #[diagnostic(code(bulkops::plan::applied), help("a plan is applied once; {next}"))]
    PlanApplied {
        plan_id: String,
        run_id: String,
        status: Status,
        /// What to do instead.
        next: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    PlanFile(Box<saved::format::PlanFileError>),
    #[error(
        "the plan cannot be saved: the effect of step `{step}` cannot be known before the run ({why})"
    )]
    #[diagnostic(
        code(bulkops::plan::not_saveable),
        help(
            "a saved plan lists every change; split the workflow so that the step that writes the file runs first (`bulkops apply`), then plan the rest"
        )
    )]
    NotSaveable { step: String, why: String },
    #[error(
        "run `{run_id}` applies saved plan {plan_id}, whose recorded copy cannot be read: {reason}"
    )]
    #[diagnostic(
        code(bulkops::run::recorded_plan),
        help("the job store was changed by hand; start over with a new plan")
    )]
    RecordedPlan {
        run_id: String,
        plan_id: String,
        reason: String,
    },
    #[error("cannot tell which directory this is")]
    #[diagnostic(code(bulkops::directory::identity), help("check the cause above"))]
    Identity {
        #[source]
        source: Box<crate::directory::DirectoryError>,
    },
    #[error("stopped before the run started; nothing was changed")]
    #[diagnostic(code(bulkops::run::stopped))]
    StoppedBeforeRun,
    #[error("another apply kept directory `{directory}` busy for {waited}: {holder}")]
    #[diagnostic(
        code(bulkops::directory::busy),
        help(
            "runs on one directory go one at a time; wait for that run (`bulkops jobs list`), or raise `--lock-timeout`"
        )
    )]
    DirectoryBusy {
        directory: String,
        holder: String,
        waited: String,
    },
    #[error("cannot read `{}`, an input of run `{run_id}`", path.display())]
    #[diagnostic(
        code(bulkops::run::input_missing),
        help("a resume reads the inputs the run was planned from; put the file back where it was")
    )]
    InputMissing {
        run_id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The folder output paths are relative to.
    pub output_dir: PathBuf,
    /// The local directory database, when named (`.bulkops/directory.db`
    /// otherwise; a resumed run uses the one it started with).
    pub db: Option<PathBuf>,
    /// The job store: a SQLite file or a PostgreSQL database.
    pub state: crate::store::Location,
    /// The directory profiles file, if not beside the manifest.
    pub profiles: Option<PathBuf>,
    /// The file that started the run, for workflows with a watch trigger.
    pub trigger_file: Option<PathBuf>,
    /// The folder relative input paths are read from (default: the working
    /// folder; a worker reads a submitted run's from where it was submitted).
    pub input_base: Option<PathBuf>,
}

/// Choices for one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Removals allowed instead of `guards.maxRemovals`.
    pub allow_removals: Option<u64>,
    /// Whether to draw progress bars on stderr.
    pub show_progress: bool,
    /// How long to wait for another process's run on the same directory
    /// (default [`LOCK_TIMEOUT`]).
    pub lock_timeout: Option<std::time::Duration>,
}

/// How long a run waits for another process's run on its directory.
pub const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// How a run starts.
pub enum Start {
    New(Box<LoadedManifest>),
    Resume(String),
    /// A run submitted for workers, started by the worker that took it.
    Queued(String),
}

/// A run that ended (completed, failed or cancelled).
pub struct Finished {
    pub report: RunReport,
    pub workflow: String,
}

/// What a run shares while it goes on.
struct Session {
    store: Arc<Mutex<JobStore>>,
    stop: Stop,
    current: signals::CurrentRun,
    /// The ledger entry of the watched file that starts the run.
    ledger: Option<(LedgerEntry, bool)>,
    /// Told the id of a new run once it is recorded.
    started: Option<std::sync::mpsc::Sender<String>>,
    /// Whether the run is a worker's (taken from a shared store's queue).
    worker: bool,
}

/// What a caller that runs workflows itself (the watch service) adds.
#[derive(Default)]
pub struct Hooks {
    /// The caller's stop request; without one, `apply` handles Ctrl-C.
    pub stop: Option<Stop>,
    /// The ledger entry of the watched file that starts a new run, and
    /// whether content run before makes it a duplicate.
    pub ledger: Option<(LedgerEntry, bool)>,
    /// Told the id of a new run once it is recorded (the jobs page's retry
    /// shows the run while it goes on).
    pub started: Option<std::sync::mpsc::Sender<String>>,
    /// A run this process's worker took (its id and attempt): the worker
    /// holds its lease, the run's writes are fenced with the attempt.
    pub claimed: Option<(String, i64)>,
}

/// Runs (or resumes) a workflow to its end.
pub fn apply(start: Start, paths: &Paths, options: Options) -> Result<Finished, LifecycleError> {
    apply_with(start, paths, options, Hooks::default())
}

/// [`apply`], for a caller with its own stop request or a watched file.
pub fn apply_with(
    start: Start,
    paths: &Paths,
    options: Options,
    hooks: Hooks,
) -> Result<Finished, LifecycleError> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let create = match start {
            Start::New(_) => Create::IfMissing,
            Start::Resume(_) | Start::Queued(_) => Create::Never,
        };
        let store = JobStore::open_at(&paths.state, create)?;
        if let Some((run_id, attempt)) = &hooks.claimed {
            store.adopt(run_id, *attempt);
        }
        let session = session(store, hooks);
        match start {
            Start::New(loaded) => new_run(*loaded, paths, options, &session, None).await,
            Start::Resume(run_id) => resume::run(&run_id, paths, options, &session).await,
            Start::Queued(run_id) => queued::run(&run_id, paths, options, &session).await,
        }
    })
}

/// A session for a caller that runs workflows one after another (a saved
/// plan): Ctrl-C handled here unless the caller brings its own stop request.
fn session(store: JobStore, hooks: Hooks) -> Session {
    let current = signals::CurrentRun::default();
    let stop = hooks.stop.unwrap_or_else(|| {
        let stop = Stop::new();
        signals::install(&stop, &current);
        stop
    });
    Session {
        store: Arc::new(Mutex::new(store)),
        stop,
        current,
        ledger: hooks.ledger,
        started: hooks.started,
        worker: hooks.claimed.is_some(),
    }
}

/// What a preview found, and the limits `apply` would hold it to.
pub struct Previewed {
    pub report: RunReport,
    pub limits: Limits,
    /// For `plan --out`: the workflow's part of a saved plan, unless a step
    /// could not be previewed.
    pub saved: Option<saved::format::SavedWorkflow>,
    /// Why the preview cannot be saved as a plan, when it cannot.
    pub unsaveable: Option<LifecycleError>,
    /// The directory it read, as people are told: `` `local` (`path`) ``.
    pub directory: String,
}

/// Previews a workflow: what a run would do now, changing nothing (not even
/// the job history, which is read if it exists).
pub fn preview(loaded: &LoadedManifest, paths: &Paths) -> Result<Previewed, LifecycleError> {
    preview_with(loaded, paths, false, false)
}

/// [`preview`], recording every change: who is added and removed, for
/// reviewers and for a saved plan. A plan that is `saving` creates the
/// local directory when it is missing (the plan names it); otherwise a
/// missing one is previewed in memory.
pub fn preview_for_saving(
    loaded: &LoadedManifest,
    paths: &Paths,
    saving: bool,
) -> Result<Previewed, LifecycleError> {
    preview_with(loaded, paths, true, saving)
}

fn preview_with(
    loaded: &LoadedManifest,
    paths: &Paths,
    record: bool,
    create: bool,
) -> Result<Previewed, LifecycleError> {
    let runtime = runtime()?;
    runtime.block_on(async {
        // A job history that does not exist is read as empty, without
        // making its folder or lock file.
        let store = if paths.state.file().is_none_or(std::path::Path::exists) {
            match JobStore::open_at(&paths.state, Create::Never) {
                Err(StoreError::Missing { .. }) => JobStore::in_memory()?,
                other => other?,
            }
        } else {
            JobStore::in_memory()?
        };
        let (directory, directory_shown) = open::directory_for_preview(loaded, paths, create)?;
        let limits = limits_of(loaded, None);
        let plan = Arc::new(loaded.plan.clone());
        let mut context = context_for(&plan, paths, new_run_id(Timestamp::now()), false)?;
        context.record = record;
        let runner = Runner {
            plan,
            context: Arc::new(context.clone()),
            directory: directory.clone(),
            store: Arc::new(Mutex::new(store)),
            stop: Stop::new(),
            budget: None,
            finished: HashMap::new(),
        };
        let report = runner.run().await;
        let (saved, unsaveable) = if record {
            let made = saved::Made {
                loaded,
                run_id: &context.run_id,
                identity: open::identity(&directory)?,
                limits,
                input_base: &context.input_base,
                trigger_file: context.trigger_file.as_deref(),
            };
            match saved::from_report(&report, &made) {
                Ok(saved) => (saved, None),
                Err(error @ LifecycleError::NotSaveable { .. }) => (None, Some(error)),
                Err(error) => return Err(error),
            }
        } else {
            (None, None)
        };
        Ok(Previewed {
            report,
            limits,
            saved,
            unsaveable,
            directory: directory_shown,
        })
    })
}

/// The guard limits of a new run.
fn limits_of(loaded: &LoadedManifest, allow_removals: Option<u64>) -> Limits {
    Limits {
        removals: allow_removals.unwrap_or(loaded.plan.guards.max_removals.count()),
        device_deletions: u64::from(loaded.plan.guards.max_device_deletions),
    }
}

/// The context of a preview of a new run (`check_only` for `apply`'s check).
fn context_for(
    plan: &crate::plan::Plan,
    paths: &Paths,
    run_id: String,
    check_only: bool,
) -> Result<RunContext, LifecycleError> {
    let input_base = match &paths.input_base {
        Some(base) => base.clone(),
        None => open::absolute(std::path::Path::new("."))?,
    };
    let trigger_file = match &paths.trigger_file {
        Some(file) => Some(open::absolute(file)?),
        None => None,
    };
    // A plan changes nothing, not even by creating the output folder.
    let root = if check_only {
        open::output_root(&paths.output_dir)?
    } else {
        open::existing_root(&paths.output_dir)?
    };
    Ok(RunContext {
        run_id,
        workflow: plan.workflow.clone(),
        directory: plan.directory.clone(),
        started: Timestamp::now(),
        output: OutputRoot::new(root),
        input_base,
        vars: plan.vars.clone(),
        trigger_file,
        dry_run: true,
        check_only,
        counted_steps: HashSet::new(),
        chunk_rows: chunk_rows_from_environment(),
        csv: plan.csv,
        progress: Progress::hidden(),
        record: false,
        pins: None,
    })
}

/// Starts a new run: with a fresh id, or the id a submitted run was queued
/// under.
async fn new_run(
    loaded: LoadedManifest,
    paths: &Paths,
    options: Options,
    session: &Session,
    queued_id: Option<&str>,
) -> Result<Finished, LifecycleError> {
    check_trigger(&loaded, paths)?;
    let directory = open::directory(&loaded, paths)?;
    let limits = limits_of(&loaded, options.allow_removals);
    let LoadedManifest { source, plan, .. } = loaded;
    let plan = Arc::new(plan);
    let (run_id, lock) = match queued_id {
        Some(run_id) => (
            run_id.to_owned(),
            lock_store(&session.store).lock_run(run_id)?,
        ),
        None => claim_run_id(&session.store)?,
    };
    *lock_current(&session.current) = Some(run_id.clone());
    let _directory_lock =
        match directory_lock::for_run(&directory, paths, &run_id, options, session) {
            Ok(held) => held,
            Err(error) => {
                lock.release();
                return Err(error);
            }
        };
    let mut context = context_for(&plan, paths, run_id.clone(), true)?;
    let checked = check::before_run(
        &plan,
        context.clone(),
        &directory,
        &session.store,
        &session.stop,
        limits,
    )
    .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(error) => {
            lock.release();
            return Err(error);
        }
    };
    let (inputs, counted) = checked.map_or((Vec::new(), HashSet::new()), |checked| {
        (checked.inputs, checked.counted)
    });
    let planned = Planned {
        source: &source,
        plan: &plan,
        context: &context,
        location: open::location(&directory, paths)?,
        limits,
        inputs: &inputs,
        ledger: session.ledger.as_ref().map(|(entry, skip)| (entry, *skip)),
        saved: None,
    };
    if let Err(error) = record_run(&session.store, &planned) {
        lock.release();
        return Err(error);
    }
    tracing::info!(run = %run_id, workflow = %plan.workflow, "run started");
    if let Some(started) = &session.started {
        // The caller may have gone; the run goes on.
        let _ = started.send(run_id.clone());
    }
    context.dry_run = false;
    context.check_only = false;
    context.counted_steps = counted;
    let budget = Budget::new(limits, Charged::default());
    execute(
        plan,
        context,
        directory,
        budget,
        HashMap::new(),
        options,
        session,
        lock,
    )
    .await
}

/// A workflow with a watch trigger runs on a named file; others take none.
fn check_trigger(loaded: &LoadedManifest, paths: &Paths) -> Result<(), LifecycleError> {
    match (loaded.plan.watch.is_some(), &paths.trigger_file) {
        (true, None) => Err(LifecycleError::TriggerFileMissing {
            workflow: loaded.plan.workflow.clone(),
        }),
        (false, Some(file)) => Err(LifecycleError::TriggerFileUnused {
            workflow: loaded.plan.workflow.clone(),
            file: file.clone(),
        }),
        _ => Ok(()),
    }
}

/// What a new run was planned from, as it is recorded.
struct Planned<'a> {
    source: &'a crate::manifest::ManifestSource,
    plan: &'a crate::plan::Plan,
    context: &'a RunContext,
    location: String,
    limits: Limits,
    inputs: &'a [(String, String)],
    ledger: Option<(&'a LedgerEntry, bool)>,
    /// For a run of a saved plan: the plan's id and the run's part of it.
    saved: Option<crate::store::SavedRun<'a>>,
}

/// Records a new run with what it was planned from.
fn record_run(store: &Mutex<JobStore>, planned: &Planned<'_>) -> Result<(), LifecycleError> {
    let context = planned.context;
    let trigger = context
        .trigger_file
        .as_ref()
        .map(|file| file.display().to_string());
    // Absolute, so that a resume from another folder finds `bulkops.yaml` beside it.
    let manifest_path = open::absolute(std::path::Path::new(&planned.source.name))?;
    lock_store(store).start_run(&NewRun {
        id: &context.run_id,
        workflow: &planned.plan.workflow,
        manifest_path: &manifest_path.display().to_string(),
        manifest_text: &planned.source.text,
        directory: &planned.plan.directory,
        output_root: &context.output.path().display().to_string(),
        input_base: &context.input_base.display().to_string(),
        directory_location: &planned.location,
        trigger_file: trigger.as_deref(),
        started_at: context.started,
        chunk_rows: context.chunk_rows as u64,
        max_removals: planned.limits.removals,
        max_device_deletions: planned.limits.device_deletions,
        inputs: planned.inputs,
        ledger: planned.ledger,
        saved: planned.saved,
    })?;
    Ok(())
}

/// A fresh run id and its lock; ids of runs started in the same second by
/// other processes are told apart by their random part.
fn claim_run_id(
    store: &Arc<Mutex<JobStore>>,
) -> Result<(String, crate::store::RunLock), LifecycleError> {
    let store = lock_store(store);
    loop {
        let run_id = new_run_id(Timestamp::now());
        match store.run(&run_id) {
            Err(StoreError::UnknownRun { .. }) => {}
            // Taken by an earlier run: draw again.
            Ok(_) => continue,
            Err(error) => return Err(error.into()),
        }
        match store.lock_run(&run_id) {
            Ok(lock) => return Ok((run_id, lock)),
            Err(StoreError::RunHeld { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// Executes a recorded run and records how it ended.
#[expect(
    clippy::too_many_arguments,
    reason = "what a run is made of, handed over once"
)]
async fn execute(
    plan: Arc<crate::plan::Plan>,
    mut context: RunContext,
    directory: AnyDirectory,
    budget: Budget,
    finished: HashMap<String, crate::runner::FinishedStep>,
    options: Options,
    session: &Session,
    lock: crate::store::RunLock,
) -> Result<Finished, LifecycleError> {
    shared_budget::share(&directory, &session.store);
    let ledger = ledger::StoreLedger {
        store: Arc::clone(&session.store),
        run_id: context.run_id.clone(),
    };
    context.output = context.output.clone().with_ledger(Arc::new(ledger));
    context.progress = if options.show_progress {
        Progress::on_stderr()
    } else {
        Progress::in_log()
    };
    let ticker = context
        .progress
        .board()
        .filter(|_| !options.show_progress)
        .map(|board| tokio::spawn(told::log_progress(board, directory.clone())));
    let run_id = context.run_id.clone();
    let workflow = plan.workflow.clone();
    // The run's own stop: the process's stop (Ctrl-C) reaches it, and so
    // does a cancel asked for in the job store (the jobs page).
    let run_stop = Stop::new();
    if session.stop.is_requested() {
        run_stop.request();
    }
    let monitor = tokio::spawn(monitor::watch(monitor::Watched {
        store: Arc::clone(&session.store),
        run_id: run_id.clone(),
        directory: directory.clone(),
        process: session.stop.clone(),
        run: run_stop.clone(),
    }));
    let runner = Runner {
        plan,
        context: Arc::new(context),
        directory: directory.clone(),
        store: Arc::clone(&session.store),
        stop: run_stop,
        budget: Some(Arc::new(Mutex::new(budget))),
        finished,
    };
    let report = runner.run().await;
    drop(runner);
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    monitor.abort();
    monitor::record_traffic(&session.store, &run_id, &directory);
    told::log_graph_traffic(&directory);
    let reason = (report.status != Status::Completed).then(|| told::describe_failure(&report));
    let recorded = lock_store(&session.store).finish_run(
        &run_id,
        report.status,
        reason.as_deref(),
        Timestamp::now(),
    );
    lock.release();
    recorded?;
    Ok(Finished { report, workflow })
}

fn lock_store(store: &Mutex<JobStore>) -> std::sync::MutexGuard<'_, JobStore> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock_current(current: &signals::CurrentRun) -> std::sync::MutexGuard<'_, Option<String>> {
    current
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The async runtime a run lives on: two workers, timers and I/O.
pub fn runtime() -> Result<tokio::runtime::Runtime, LifecycleError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LifecycleError::Runtime)
}

/// A run id that sorts by start time: `20261127-142300-3f9a`.
pub fn new_run_id(started: Timestamp) -> String {
    use ring::rand::SecureRandom;
    let utc = started.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let mut noise = [0u8; 2];
    ring::rand::SystemRandom::new()
        .fill(&mut noise)
        .expect("the system random number generator works");
    format!(
        "{}-{:02x}{:02x}",
        utc.strftime("%Y%m%d-%H%M%S"),
        noise[0],
        noise[1]
    )
}
