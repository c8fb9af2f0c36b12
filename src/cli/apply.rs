//! `bulkops apply FILE`: runs a workflow against its directory, journaling every
//! row so that `bulkops apply --resume RUN_ID` can finish an interrupted run.
//! The run itself (checks, guards, recording) is `lifecycle`'s; this file
//! parses the arguments and prints the summary.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::lifecycle::{self, Options, Paths, Start};
use crate::manifest::{self, LoadError, LoadedManifest};
use crate::runner::{RunReport, StepState};
use crate::store::{Create, JobStore, Status};
use crate::text::printable;

/// Arguments of `bulkops apply`.
#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    /// The workflow manifest, a folder (every manifest below it, in order),
    /// or a plan file saved by `bulkops plan --out`.
    #[arg(value_name = "FILE|DIR", required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// Skip manifests whose text and inputs are unchanged since their last
    /// completed apply, and say which were skipped.
    #[arg(long, conflicts_with = "resume")]
    changed_only: bool,
    /// Finish an interrupted run, with the manifest and inputs it started with.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "file")]
    resume: Option<String>,
    /// Allow this many member removals in all, instead of the manifest's `guards.maxRemovals`.
    #[arg(long, value_name = "N")]
    allow_removals: Option<u64>,
    /// How long to wait while another process applies to the same directory
    /// (runs on one directory go one at a time).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = super::watch::duration)]
    lock_timeout: std::time::Duration,
    #[command(flatten)]
    paths: RunPaths,
}

/// Where a run reads and writes; shared by `apply` and `plan`.
#[derive(Debug, Args)]
pub(super) struct RunPaths {
    #[command(flatten)]
    pub(super) stores: StorePaths,
    /// The file that started the run, for workflows with a watch trigger.
    #[arg(long, value_name = "FILE")]
    pub(super) trigger_file: Option<PathBuf>,
}

/// Where runs write and keep their history; shared by `apply`, `plan` and `watch`.
#[derive(Debug, Args)]
pub(super) struct StorePaths {
    /// The folder output paths are relative to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(super) output_dir: PathBuf,
    /// The local directory database (default: `.bulkops/directory.db`; a
    /// resumed run uses the one it started with).
    #[arg(long, value_name = "FILE")]
    pub(super) db: Option<PathBuf>,
    #[command(flatten)]
    pub(super) state: super::listing::StateArg,
    /// The directory profiles file (default: `bulkops.yaml` beside the manifest).
    #[arg(long, value_name = "FILE", env = "BULKOPS_PROFILES")]
    pub(super) profiles: Option<PathBuf>,
}

impl RunPaths {
    /// The paths as the lifecycle takes them.
    pub(super) fn to_paths(&self) -> Paths {
        Paths {
            trigger_file: self.trigger_file.clone(),
            ..self.stores.to_paths()
        }
    }
}

impl StorePaths {
    /// The paths as the lifecycle takes them, without a trigger file.
    pub(super) fn to_paths(&self) -> Paths {
        Paths {
            output_dir: self.output_dir.clone(),
            db: self.db.clone(),
            state: self.state.state.clone(),
            profiles: self.profiles.clone(),
            trigger_file: None,
            input_base: None,
        }
    }
}

/// Runs (or resumes) a workflow.
pub(super) fn run(args: &ApplyArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    if let (None, Some(file)) = (&args.resume, &args.file) {
        if lifecycle::saved::format::looks_like_plan_file(file) {
            return apply_saved(file, args);
        }
        if file.is_dir() || args.changed_only {
            return apply_each(file, args, reporter);
        }
    }
    let start = match (&args.resume, &args.file) {
        (Some(run_id), _) => Start::Resume(run_id.clone()),
        (None, Some(file)) => {
            let loaded = load(manifest::load_file(file), reporter)?;
            if loaded.plan.directories.len() > 1 {
                return apply_all(vec![loaded], false, args);
            }
            Start::New(Box::new(loaded))
        }
        (None, None) => unreachable!("clap requires FILE without --resume"),
    };
    let options = Options {
        allow_removals: args.allow_removals,
        show_progress: std::io::stderr().is_terminal(),
        lock_timeout: Some(args.lock_timeout),
    };
    let finished = lifecycle::apply(start, &args.paths.to_paths(), options)?;
    let report = &finished.report;
    // The run is recorded whatever happens to stdout.
    let printed = write_stdout(&summary(report, &finished.workflow));
    let run_id = report.run_id.clone();
    match report.status {
        Status::Completed => printed.map(|()| Outcome::Success),
        Status::Cancelled => Err(Error::RunCancelled { run_id }),
        _ => Err(Error::RunFailed {
            run_id,
            class: report.worst_failure(),
        }),
    }
}

/// Applies every manifest a path stands for, in order, stopping at the
/// first run that does not complete; with `--changed-only`, manifests
/// unchanged since their last completed apply are skipped.
fn apply_each(
    path: &std::path::Path,
    args: &ApplyArgs,
    reporter: &Reporter,
) -> Result<Outcome, Error> {
    let files = manifest::manifest_files(path)?;
    let mut manifests = Vec::new();
    for file in &files {
        manifests.push(load(manifest::load_file(file), reporter)?);
    }
    apply_all(manifests, files.len() > 1, args)
}

/// Applies manifests in order, each once per directory it names (the runs
/// of one manifest listed as one group), stopping at the first run that
/// does not complete. `several` says they came from a folder.
fn apply_all(
    manifests: Vec<LoadedManifest>,
    several: bool,
    args: &ApplyArgs,
) -> Result<Outcome, Error> {
    let paths = args.paths.to_paths();
    // Every directory profile is checked before the first run changes
    // anything: a missing one refuses the whole apply.
    for loaded in &manifests {
        if loaded.plan.watch.is_none() || !several {
            lifecycle::open::check_profiles(loaded, &paths, &loaded.plan.directories)?;
        }
    }
    let manifests: Vec<(LoadedManifest, Option<String>)> = manifests
        .into_iter()
        .flat_map(|loaded| {
            let group = (loaded.plan.directories.len() > 1)
                .then(|| format!("g{}", lifecycle::new_run_id(jiff::Timestamp::now())));
            loaded
                .per_directory()
                .into_iter()
                .map(move |one| (one, group.clone()))
        })
        .collect();
    let options = Options {
        allow_removals: args.allow_removals,
        show_progress: std::io::stderr().is_terminal(),
        lock_timeout: Some(args.lock_timeout),
    };
    let (mut applied, mut skipped) = (0u64, 0u64);
    for (index, (loaded, group)) in manifests.iter().enumerate() {
        let loaded = loaded.clone();
        let name = shown_name(&loaded, group.is_some());
        if loaded.plan.watch.is_some() && several {
            write_stdout(&format!(
                "skipped {name}: it runs on files dropped into a watched folder\n"
            ))?;
            skipped += 1;
            continue;
        }
        if args.changed_only
            && let Some(run_id) = lifecycle::changed::unchanged_since(&loaded, &paths)?
        {
            write_stdout(&format!(
                "skipped {name}: unchanged since run {run_id} (the manifest and every input it read)\n"
            ))?;
            skipped += 1;
            continue;
        }
        let rest = &manifests[index + 1..];
        let finished = match lifecycle::apply(Start::New(Box::new(loaded)), &paths, options) {
            Ok(finished) => finished,
            Err(error) => {
                write_stdout(&not_run(rest))?;
                return Err(error.into());
            }
        };
        let run_id = finished.report.run_id.clone();
        if let Some(group) = &group {
            JobStore::open_at(&paths.state, Create::Never)
                .and_then(|store| store.join_group(&run_id, group))?;
        }
        write_stdout(&summary(&finished.report, &finished.workflow))?;
        if let Some(group) = &group {
            write_stdout(&format!("group {group}\n"))?;
        }
        applied += 1;
        if finished.report.status != Status::Completed {
            write_stdout(&not_run(rest))?;
        }
        match finished.report.status {
            Status::Completed => {}
            Status::Cancelled => return Err(Error::RunCancelled { run_id }),
            _ => {
                return Err(Error::RunFailed {
                    run_id,
                    class: finished.report.worst_failure(),
                });
            }
        }
    }
    write_stdout(&format!(
        "\napplied {}, skipped {skipped}\n",
        crate::text::counted(applied, "manifest", "manifests")
    ))?;
    Ok(Outcome::Success)
}

/// A manifest as the messages of a folder's or a fan-out's apply name it:
/// with its directory when it runs against several.
fn shown_name(loaded: &LoadedManifest, fanned_out: bool) -> String {
    if fanned_out {
        format!(
            "{} (directory `{}`)",
            loaded.source.name,
            printable(&loaded.plan.directory)
        )
    } else {
        loaded.source.name.clone()
    }
}

/// What an apply that stopped early did not run.
fn not_run(rest: &[(LoadedManifest, Option<String>)]) -> String {
    if rest.is_empty() {
        return String::new();
    }
    let names: Vec<String> = rest
        .iter()
        .map(|(loaded, group)| shown_name(loaded, group.is_some()))
        .collect();
    format!(
        "stopped: not run: {} (runs that completed are kept; `apply --changed-only` skips those that need nothing more)\n",
        names.join(", ")
    )
}

/// Applies a saved plan: each of its runs, in order.
fn apply_saved(file: &std::path::Path, args: &ApplyArgs) -> Result<Outcome, Error> {
    let options = Options {
        allow_removals: args.allow_removals,
        show_progress: std::io::stderr().is_terminal(),
        lock_timeout: Some(args.lock_timeout),
    };
    let finished = lifecycle::saved::apply(file, &args.paths.to_paths(), options)?;
    let text: String = finished
        .iter()
        .map(|done| summary(&done.report, &done.workflow))
        .collect();
    let printed = write_stdout(&text);
    for done in &finished {
        let run_id = done.report.run_id.clone();
        match done.report.status {
            Status::Completed => {}
            Status::Cancelled => return Err(Error::RunCancelled { run_id }),
            _ => {
                return Err(Error::RunFailed {
                    run_id,
                    class: done.report.worst_failure(),
                });
            }
        }
    }
    printed.map(|()| Outcome::Success)
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

/// The table printed at the end of a run.
fn summary(report: &RunReport, workflow: &str) -> String {
    let mut out = format!(
        "\nrun {} of workflow `{workflow}`: {}\n",
        report.run_id,
        report.status.key()
    );
    for step in &report.steps {
        let state = match &step.state {
            StepState::Finished if step.earlier => "finished (before the resume)".to_owned(),
            StepState::Finished => "finished".to_owned(),
            StepState::Failed { error, .. } => format!("failed: {}", printable(error)),
            StepState::Skipped { because } => format!("skipped: {because}"),
            StepState::Cancelled => "cancelled".to_owned(),
        };
        let selected = step
            .selected
            .map(|count| format!(", {count} selected"))
            .unwrap_or_default();
        let width = crate::runner::preview::id_width(report);
        let _ = writeln!(
            out,
            "  {:<width$} {:<16} {state}{selected}",
            step.id, step.kind
        );
        for job in &step.jobs {
            let target = job
                .target
                .as_deref()
                .map(|t| format!(" {}:", printable(t)))
                .unwrap_or_default();
            let reason = job
                .reason
                .as_deref()
                .map(|r| format!(" ({})", printable(r)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {}{target} {}, {} changed, {} failed{reason}",
                job.status.key(),
                crate::text::counted(job.total, "row", "rows"),
                job.changed,
                job.failed
            );
            for file in &job.files {
                let _ = writeln!(out, "      {}", printable(file));
            }
        }
    }
    out
}
