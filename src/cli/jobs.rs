//! `bulkops jobs list|show|download|delete`: the job history, as the Entra admin
//! center's Bulk operations list shows it, from the command line.
//!
//! `jobs delete` refuses a job whose run is being executed or can still be
//! resumed, deletes only the files the job wrote (below its run's output root,
//! and only while they are still those files), and on a terminal asks before
//! deleting files.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::{Outcome, write_stdout};
use crate::bulkcsv::output::{OutputRoot, WrittenIdentity};
use crate::error::Error;
use crate::steps::delete_job_files;
use crate::store::Status;
use crate::store::{Create, JobRecord, JobStore};
use crate::text::printable;

/// Arguments of `bulkops jobs`.
#[derive(Debug, Args)]
pub(super) struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
    #[command(flatten)]
    state: super::listing::StateArg,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    #[command(after_help = "Examples:
  bulkops jobs list
  bulkops jobs list --workflow offboarding --format json
  bulkops jobs list --group g20261130-101500-3f9a  # the runs `bulkops submit` queued together")]
    List {
        /// Only the jobs of this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Only the jobs of the runs submitted together as this group
        /// (`bulkops submit` prints it).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Only the jobs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only jobs with this status: queued, running, completed, failed, cancelled or interrupted.
        #[arg(long, value_parser = super::runs::status)]
        status: Option<Status>,
        /// Only jobs started since: a duration back from now (`7d`, `12h`) or a date (`2026-11-01`).
        #[arg(long, value_name = "WHEN", value_parser = super::listing::since)]
        since: Option<jiff::Timestamp>,
        /// At most this many jobs.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Show one job with its counts and files.
    #[command(after_help = "Examples:
  bulkops jobs show JOB_ID
  bulkops jobs list --run RUN_ID          # the job ids of a run")]
    Show {
        /// The job id, as `jobs list` shows it.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Copy the files a job wrote (results, downloads) into a folder.
    #[command(after_help = "Examples:
  bulkops jobs download JOB_ID
  bulkops jobs download JOB_ID --output-dir review/")]
    Download {
        /// The job id.
        id: String,
        /// The folder to copy into.
        #[arg(
            long = "output-dir",
            alias = "to",
            value_name = "DIR",
            default_value = "."
        )]
        to: PathBuf,
    },
    /// Delete jobs with the files they wrote.
    #[command(after_help = "Examples:
  bulkops jobs delete JOB_ID
  bulkops jobs delete JOB_ID OTHER_JOB_ID --yes --keep-files")]
    Delete {
        /// The job ids.
        #[arg(required_unless_present_any = ["run", "older_than"])]
        ids: Vec<String>,
        /// Every job of this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Every job that ended longer ago than this (`30d`), as `deleteJobs` selects them.
        #[arg(long, value_name = "DURATION", value_parser = super::watch::duration)]
        older_than: Option<std::time::Duration>,
        /// Delete without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Keep the files the jobs wrote; delete only the records.
        #[arg(long)]
        keep_files: bool,
        /// Delete the jobs of a run that did not finish, giving up its resume.
        #[arg(long)]
        abandon: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

/// Runs a `bulkops jobs` command.
pub(super) fn run(args: &JobsArgs) -> Result<Outcome, Error> {
    let store = JobStore::open_at(&args.state.state, Create::Never)?;
    match &args.command {
        JobsCommand::List {
            run,
            group,
            workflow,
            status,
            since,
            limit,
            format,
        } => {
            let grouped = group
                .as_deref()
                .map(|group| super::listing::runs_of_group(&store, group))
                .transpose()?;
            let jobs: Vec<JobRecord> = store
                .jobs()?
                .into_iter()
                .filter(|job| run.as_ref().is_none_or(|run| &job.run_id == run))
                .filter(|job| {
                    grouped
                        .as_ref()
                        .is_none_or(|runs| runs.contains(&job.run_id))
                })
                .filter(|job| {
                    workflow
                        .as_ref()
                        .is_none_or(|workflow| &job.workflow == workflow)
                })
                .filter(|job| status.is_none_or(|status| job.status == status))
                .filter(|job| since.is_none_or(|since| job.started_at >= since))
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            let text = match format {
                ListFormat::Text => table(&jobs),
                ListFormat::Json => {
                    serde_json::to_string_pretty(&jobs).expect("jobs serialize") + "\n"
                }
            };
            write_stdout(&text)?;
        }
        JobsCommand::Show { id, format } => match format {
            ListFormat::Text => write_stdout(&show(&store, id)?)?,
            ListFormat::Json => {
                let mut document = serde_json::to_value(store.job(id)?).expect("a job serializes");
                document["files"] = serde_json::to_value(
                    store
                        .files(id)?
                        .iter()
                        .map(|file| serde_json::json!({ "kind": file.kind, "path": file.path, "rows": file.rows }))
                        .collect::<Vec<_>>(),
                )
                .expect("files serialize");
                write_stdout(&(serde_json::to_string_pretty(&document).expect("JSON") + "\n"))?;
            }
        },
        JobsCommand::Download { id, to } => write_stdout(&download(&store, id, to)?)?,
        JobsCommand::Delete {
            ids,
            run,
            older_than,
            yes,
            keep_files,
            abandon,
        } => {
            let ids = selected_ids(&store, ids, run.as_deref(), *older_than)?;
            delete(&store, &ids, *yes, *keep_files, *abandon)?;
        }
    }
    Ok(Outcome::Success)
}

/// The jobs `jobs delete` names: by id, every job of a run, and every job
/// that ended longer ago than a duration (jobs still going on never do).
fn selected_ids(
    store: &JobStore,
    ids: &[String],
    run: Option<&str>,
    older_than: Option<std::time::Duration>,
) -> Result<Vec<String>, Error> {
    let mut selected: Vec<String> = ids.to_vec();
    if let Some(run) = run {
        store.run(run)?;
        selected.extend(store.jobs_of_run(run)?.into_iter().map(|job| job.id));
    }
    if let Some(age) = older_than {
        let span = jiff::SignedDuration::try_from(age).unwrap_or(jiff::SignedDuration::MAX);
        let cutoff = jiff::Timestamp::now()
            .checked_sub(span)
            .unwrap_or(jiff::Timestamp::MIN);
        for job in store.jobs()? {
            // Jobs of a run that can still be resumed stay, as `deleteJobs` keeps them.
            if job.finished_at.is_some_and(|ended| ended < cutoff)
                && store.why_kept(&job)?.is_none()
            {
                selected.push(job.id);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    selected.retain(|id| seen.insert(id.clone()));
    Ok(selected)
}

/// Deletes jobs after checking every one may go, and asking on a terminal.
fn delete(
    store: &JobStore,
    ids: &[String],
    yes: bool,
    keep_files: bool,
    abandon: bool,
) -> Result<(), Error> {
    let mut files = Vec::new();
    for id in ids {
        let job = store.job(id)?;
        let executing = store.run_is_held(&job.run_id)?;
        if let Some(why) = store.why_kept(&job)?.filter(|_| executing || !abandon) {
            return Err(Error::JobInUse {
                id: id.clone(),
                why,
            });
        }
        files.extend(store.files(id)?.into_iter().map(|file| file.path));
    }
    if !yes && !keep_files && !files.is_empty() && std::io::stdin().is_terminal() {
        let mut question = format!(
            "delete {} and the {} below?\n",
            crate::text::counted(ids.len() as u64, "job", "jobs"),
            crate::text::counted(files.len() as u64, "file", "files")
        );
        for file in &files {
            let _ = writeln!(question, "  {}", printable(file));
        }
        if !super::confirm(&question)? {
            return Err(Error::NotConfirmed);
        }
    }
    let mut out = String::new();
    for id in ids {
        let deleted = delete_job_files(store, id, keep_files)?;
        let _ = writeln!(
            out,
            "deleted {id} and {}",
            crate::text::counted(deleted.removed.len() as u64, "file", "files")
        );
        for (file, why) in &deleted.kept {
            let _ = writeln!(out, "  {}: {why}", printable(file));
        }
    }
    write_stdout(&out)
}

/// The admin center's results columns, and bulkops' own; with an `owner`
/// column when a listed job's run is being executed.
fn table(jobs: &[JobRecord]) -> String {
    let owners = jobs.iter().any(|job| job.owner.is_some());
    let mut out = format!(
        "{:<44} {:<19} {:<30} {:<16} {:<10} {:>9} {:>9} {:>8}  {:<30} {:<40} {}\n",
        "job",
        "started (UTC)",
        "name",
        "operation",
        "status",
        "# Success",
        "# Failure",
        "Total",
        "target",
        "reason",
        "file"
    );
    if owners {
        out = format!("{} owner\n", out.trim_end_matches('\n'));
    }
    for job in jobs {
        let reason = job.reason.as_deref().unwrap_or("");
        let reason: String = if reason.chars().count() > 40 {
            reason.chars().take(39).chain(['…']).collect()
        } else {
            reason.to_owned()
        };
        let _ = writeln!(
            out,
            "{:<44} {:<19} {:<30} {:<16} {:<10} {:>9} {:>9} {:>8}  {:<30} {:<40} {}",
            job.id,
            super::listing::shown(job.started_at),
            job.name(),
            job.operation,
            job.status.key(),
            job.succeeded,
            job.failed,
            job.total,
            printable(job.target_name.as_deref().unwrap_or("")),
            printable(&reason),
            printable(job.trigger_file.as_deref().unwrap_or(""))
        );
        if let Some(owner) = job.owner.as_deref().filter(|_| owners) {
            out.pop();
            let _ = writeln!(out, " {}", printable(owner));
        }
    }
    out
}

fn show(store: &JobStore, id: &str) -> Result<String, Error> {
    let job = store.job(id)?;
    let mut out = String::new();
    let rows = [
        ("job", job.id.clone()),
        ("run", job.run_id.clone()),
        ("name", job.name()),
        ("operation", job.operation.clone()),
        ("target", job.target_name.clone().unwrap_or_default()),
        ("target id", job.target_id.clone()),
        ("input", job.input_file.clone().unwrap_or_default()),
        ("file", job.trigger_file.clone().unwrap_or_default()),
        (
            "archived",
            job.trigger_archived_as.clone().unwrap_or_default(),
        ),
        ("status", job.status.key().to_owned()),
        ("owner", job.owner.clone().unwrap_or_default()),
        ("reason", job.reason.clone().unwrap_or_default()),
        ("rows", job.total.to_string()),
        ("succeeded", job.succeeded.to_string()),
        ("failed", job.failed.to_string()),
        ("changed", job.changed.to_string()),
        ("started", job.started_at.to_string()),
        (
            "finished",
            job.finished_at.map(|t| t.to_string()).unwrap_or_default(),
        ),
    ];
    for (name, value) in rows.iter().filter(|(_, value)| !value.is_empty()) {
        let _ = writeln!(out, "{name:<10} {}", printable(value));
    }
    for file in store.files(id)? {
        let _ = writeln!(
            out,
            "{:<10} {} ({} rows)",
            file.kind,
            printable(&file.path),
            file.rows
        );
    }
    Ok(out)
}

/// Copies the files a job wrote, each only if it is still the file the job
/// wrote (a file replaced since, or a link put in its place, is not copied).
fn download(store: &JobStore, id: &str, to: &Path) -> Result<String, Error> {
    let job = store.job(id)?;
    let written_below = OutputRoot::new(store.run(&job.run_id)?.output_root);
    let root = OutputRoot::new(to);
    let mut out = String::new();
    for file in store.files(id)? {
        let name = Path::new(&file.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = file
            .identity
            .as_deref()
            .and_then(|text| text.parse::<WrittenIdentity>().ok());
        let opened = match identity {
            Some(identity) => written_below.open_written(Path::new(&file.path), &identity)?,
            // Recorded by an older bulkops: copied only as a regular file.
            None => crate::files::input::open_regular(Path::new(&file.path)).ok(),
        };
        let Some(mut original) = opened else {
            let _ = writeln!(
                out,
                "not copied: {} changed or is gone since the job wrote it",
                printable(&file.path)
            );
            continue;
        };
        let mut copy = root.create(&name, false).map_err(Error::from)?;
        std::io::copy(&mut original, &mut copy).map_err(|source| Error::Copy {
            path: to.join(&name),
            source,
        })?;
        let placed = copy.commit().map_err(Error::from)?.path;
        let _ = writeln!(out, "{}", placed.display());
    }
    Ok(out)
}
