//! `bulkops apply FILE`: runs a workflow against its directory, journaling every
//! row so that `bulkops apply --resume RUN_ID` can finish an interrupted run.
//! Before a new run changes anything, its removals are previewed and checked
//! against `guards.maxRemovals`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use clap::Args;
use jiff::Timestamp;

use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::bulkcsv::output::OutputRoot;
use crate::directory::SharedLocal;
use crate::directory::any::AnyDirectory;
use crate::directory::local::{self, LocalDirectory};
use crate::error::Error;
use crate::manifest::step::StepKind;
use crate::manifest::{self, LoadError, LoadedManifest};
use crate::msgraph::client::{ClientError, GraphClient};
use crate::msgraph::directory::GraphDirectory;
use crate::msgraph::profile;
use crate::runner::context::RunContext;
use crate::runner::progress::Progress;
use crate::runner::{RunReport, Runner, StepState, preview};
use crate::store::{self, JobStore, NewRun, Status};

/// Arguments of `bulkops apply`.
#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    /// The workflow manifest.
    #[arg(value_name = "FILE", required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// Finish an interrupted run, with the manifest it started with.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "file")]
    resume: Option<String>,
    /// Allow this many member removals in all, instead of the manifest's `guards.maxRemovals`.
    #[arg(long, value_name = "N")]
    allow_removals: Option<u64>,
    #[command(flatten)]
    paths: RunPaths,
}

/// Where a run reads and writes; shared by `apply` and `plan`.
#[derive(Debug, Args)]
pub(super) struct RunPaths {
    /// The folder output paths are relative to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(super) output_dir: PathBuf,
    /// The local directory database.
    #[arg(long, value_name = "FILE", default_value = local::DEFAULT_PATH)]
    pub(super) db: PathBuf,
    /// The job store database.
    #[arg(long, value_name = "FILE", default_value = store::DEFAULT_PATH)]
    pub(super) state: PathBuf,
    /// The directory profiles file (default: `bulkops.yaml` beside the manifest).
    #[arg(long, value_name = "FILE", env = "BULKOPS_PROFILES")]
    pub(super) profiles: Option<PathBuf>,
    /// The file that started the run, for workflows with a watch trigger.
    #[arg(long, value_name = "FILE")]
    pub(super) trigger_file: Option<PathBuf>,
}

/// Runs (or resumes) a workflow.
pub(super) fn run(args: &ApplyArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let store = Arc::new(Mutex::new(JobStore::open(&args.paths.state)?));
    let (loaded, context) = if let Some(run_id) = &args.resume {
        resume(&lock(&store), run_id, reporter)?
    } else {
        let file = args
            .file
            .as_ref()
            .expect("clap requires FILE without --resume");
        let loaded = load(manifest::load_file(file), reporter)?;
        let context = new_context(&loaded, &args.paths, false);
        (loaded, context)
    };
    let directory = open_directory(&loaded, &args.paths)?;
    if args.resume.is_none() {
        guard_removals(&loaded, &context, args, &store, &directory)?;
        start(&lock(&store), &loaded, &context, &args.paths)?;
    }
    let runner = runner(loaded, context, directory, Arc::clone(&store));
    let run_id = runner.context.run_id.clone();
    let report = execute(&runner)?;
    log_graph_traffic(&runner.directory);
    let reason = (report.status != Status::Completed).then(|| describe_failure(&report));
    lock(&store).finish_run(&run_id, report.status, reason.as_deref(), Timestamp::now())?;
    write_stdout(&summary(&report, &runner.plan.workflow))?;
    match report.status {
        Status::Completed => Ok(Outcome::Success),
        Status::Cancelled => Err(Error::RunCancelled { run_id }),
        Status::Failed | Status::Running => Err(Error::RunFailed { run_id }),
    }
}

fn lock(store: &Mutex<JobStore>) -> MutexGuard<'_, JobStore> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The context of a new run, or of a preview (which is never recorded).
pub(super) fn new_context(loaded: &LoadedManifest, paths: &RunPaths, dry_run: bool) -> RunContext {
    let started = Timestamp::now();
    RunContext {
        run_id: new_run_id(started),
        workflow: loaded.plan.workflow.clone(),
        started,
        output: OutputRoot::new(&paths.output_dir),
        input_base: PathBuf::from("."),
        vars: loaded.plan.vars.clone(),
        trigger_file: paths.trigger_file.clone(),
        dry_run,
        progress: if dry_run || !std::io::stderr().is_terminal() {
            Progress::hidden()
        } else {
            Progress::on_stderr()
        },
    }
}

/// A runner for a plan against its directory.
pub(super) fn runner(
    loaded: LoadedManifest,
    context: RunContext,
    directory: AnyDirectory,
    store: Arc<Mutex<JobStore>>,
) -> Runner<AnyDirectory> {
    Runner {
        plan: Arc::new(loaded.plan),
        context: Arc::new(context),
        directory,
        store,
        stop: Arc::new(AtomicBool::new(false)),
    }
}

/// The profiles file of a manifest: `--profiles`, else `bulkops.yaml` beside it.
pub(super) fn profiles_path(loaded: &LoadedManifest, paths: &RunPaths) -> PathBuf {
    paths.profiles.clone().unwrap_or_else(|| {
        std::path::Path::new(&loaded.source.name)
            .parent()
            .unwrap_or_else(|| std::path::Path::new(""))
            .join(profile::PROFILES_FILE)
    })
}

/// The directory the manifest names: `local`, or a profile of the profiles file.
pub(super) fn open_directory(
    loaded: &LoadedManifest,
    paths: &RunPaths,
) -> Result<AnyDirectory, Error> {
    let name = &loaded.plan.directory;
    if name == "local" {
        return Ok(AnyDirectory::Local(SharedLocal::new(LocalDirectory::open(
            &paths.db,
        )?)));
    }
    let path = profiles_path(loaded, paths);
    if !path.exists() {
        return Err(Error::UnknownDirectory {
            name: name.clone(),
            profiles: path,
        });
    }
    let profiles = profile::load(&path).map_err(ClientError::from)?;
    let chosen = profile::find(&profiles, name).map_err(ClientError::from)?;
    tracing::info!(profile = %chosen.name, tenant = %chosen.tenant, graph = %chosen.graph_url, "using Microsoft Graph");
    Ok(AnyDirectory::Graph(GraphDirectory::new(GraphClient::new(
        chosen,
    )?)))
}

/// What a run asked of Microsoft Graph, for the log.
fn log_graph_traffic(directory: &AnyDirectory) {
    if let AnyDirectory::Graph(graph) = directory {
        let stats = &graph.client().stats;
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        tracing::info!(
            http_requests = read(&stats.http_requests),
            throttled = read(&stats.throttled),
            retries = read(&stats.retries),
            "Microsoft Graph traffic"
        );
    }
}

/// Refuses, before anything changes, a run that would remove more members
/// than `guards.maxRemovals` (or `--allow-removals`) permits, or delete more
/// devices than `guards.maxDeviceDeletions`.
fn guard_removals(
    loaded: &LoadedManifest,
    context: &RunContext,
    args: &ApplyArgs,
    store: &Arc<Mutex<JobStore>>,
    directory: &AnyDirectory,
) -> Result<(), Error> {
    let guarded = [StepKind::RemoveMembers, StepKind::DeleteDevices];
    if !loaded
        .plan
        .steps
        .iter()
        .any(|step| guarded.contains(&step.action.kind()))
    {
        return Ok(());
    }
    let dry = RunContext {
        dry_run: true,
        progress: Progress::hidden(),
        ..context.clone()
    };
    let report = execute(&runner(
        loaded.clone(),
        dry,
        directory.clone(),
        Arc::clone(store),
    ))?;
    let totals = preview::totals(&report);
    let limit = args
        .allow_removals
        .unwrap_or(u64::from(loaded.plan.guards.max_removals));
    if totals.removals > limit {
        return Err(Error::TooManyRemovals {
            removals: totals.removals,
            limit,
        });
    }
    let limit = u64::from(loaded.plan.guards.max_device_deletions);
    if totals.deleted_devices > limit {
        return Err(Error::TooManyDeviceDeletions {
            deletions: totals.deleted_devices,
            limit,
        });
    }
    Ok(())
}

fn start(
    store: &JobStore,
    loaded: &LoadedManifest,
    context: &RunContext,
    paths: &RunPaths,
) -> Result<(), Error> {
    let trigger = paths
        .trigger_file
        .as_ref()
        .map(|file| file.display().to_string());
    store.start_run(&NewRun {
        id: &context.run_id,
        workflow: &context.workflow,
        manifest_path: &loaded.source.name,
        manifest_text: &loaded.source.text,
        directory: &loaded.plan.directory,
        output_root: &paths.output_dir.display().to_string(),
        trigger_file: trigger.as_deref(),
        started_at: context.started,
    })?;
    tracing::info!(run = %context.run_id, workflow = %context.workflow, "run started");
    Ok(())
}

fn resume(
    store: &JobStore,
    run_id: &str,
    reporter: &Reporter,
) -> Result<(LoadedManifest, RunContext), Error> {
    let record = store.run(run_id)?;
    if record.status == Status::Completed {
        return Err(Error::RunAlreadyCompleted {
            run_id: run_id.to_owned(),
        });
    }
    let loaded = load(
        manifest::load_bytes(
            &record.manifest_path,
            record.manifest_text.clone().into_bytes(),
        )
        .map_err(LoadError::Invalid),
        reporter,
    )?;
    store.reopen_run(run_id)?;
    tracing::info!(run = %run_id, workflow = %record.workflow, "run resumed");
    let context = RunContext {
        run_id: record.id,
        workflow: record.workflow,
        started: record.started_at,
        output: OutputRoot::new(record.output_root),
        input_base: PathBuf::from("."),
        vars: loaded.plan.vars.clone(),
        trigger_file: record.trigger_file.map(PathBuf::from),
        dry_run: false,
        progress: if std::io::stderr().is_terminal() {
            Progress::on_stderr()
        } else {
            Progress::hidden()
        },
    };
    Ok((loaded, context))
}

pub(super) fn load(
    loaded: Result<LoadedManifest, LoadError>,
    reporter: &Reporter,
) -> Result<LoadedManifest, Error> {
    match loaded {
        Ok(loaded) => Ok(loaded),
        Err(LoadError::Invalid(invalid)) => {
            for diagnostic in &invalid.diagnostics {
                reporter.emit(diagnostic);
            }
            Err(Error::Validation {
                invalid: 1,
                unreadable: 0,
                total: 1,
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// A run id that sorts by start time: `20261127-142300-3f9a`.
fn new_run_id(started: Timestamp) -> String {
    let utc = started.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let noise = (started.as_nanosecond().unsigned_abs() ^ u128::from(std::process::id())) & 0xffff;
    format!("{}-{noise:04x}", utc.strftime("%Y%m%d-%H%M%S"))
}

/// Runs the steps on a runtime of its own; the first Ctrl-C stops scheduling
/// and lets running steps finish, the second ends the process at once (the
/// journal stays consistent, and `--resume` finishes the run).
pub(super) fn execute(runner: &Runner<AnyDirectory>) -> Result<RunReport, Error> {
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let stop = Arc::clone(&runner.stop);
        let run_id = runner.context.run_id.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                eprintln!("stopping after the running steps; press Ctrl-C again to stop now");
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("stopped; finish the run with `bulkops apply --resume {run_id}`");
                    std::process::exit(crate::exit_code::CANCELLED);
                }
            }
        });
        Ok(runner.run().await)
    })
}

fn describe_failure(report: &RunReport) -> String {
    let failed_steps = report
        .steps
        .iter()
        .filter(|step| matches!(step.state, StepState::Failed { .. }))
        .count();
    let failed_jobs = report
        .steps
        .iter()
        .flat_map(|step| &step.jobs)
        .filter(|job| job.status == Status::Failed)
        .count();
    format!("{failed_steps} steps failed, {failed_jobs} jobs failed")
}

/// The table printed at the end of a run.
fn summary(report: &RunReport, workflow: &str) -> String {
    let mut out = format!(
        "\nrun {} of workflow `{workflow}`: {}\n",
        report.run_id,
        report.status.key()
    );
    for step in &report.steps {
        let state = match &step.state {
            StepState::Finished => "finished".to_owned(),
            StepState::Failed { error } => format!("failed: {error}"),
            StepState::Skipped { because } => format!("skipped: {because}"),
            StepState::Cancelled => "cancelled".to_owned(),
        };
        let selected = step
            .selected
            .map(|count| format!(", {count} selected"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {:<24} {:<16} {state}{selected}", step.id, step.kind);
        for job in &step.jobs {
            let target = job
                .target
                .as_deref()
                .map(|t| format!(" {t}:"))
                .unwrap_or_default();
            let reason = job
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {}{target} {} rows, {} changed, {} failed{reason}",
                job.status.key(),
                job.total,
                job.changed,
                job.failed
            );
            for file in &job.files {
                let _ = writeln!(out, "      {file}");
            }
        }
    }
    out
}
