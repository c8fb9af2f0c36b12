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
use crate::store::{self, Create, JobRecord, JobStore};
use crate::text::printable;

/// Arguments of `bulkops jobs`.
#[derive(Debug, Args)]
pub(super) struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
    /// The job store database.
    #[arg(long, global = true, value_name = "FILE", default_value = store::DEFAULT_PATH)]
    state: PathBuf,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    #[command(after_help = "Examples:
  bulkops jobs list
  bulkops jobs list --workflow offboarding --format json")]
    List {
        /// Only the jobs of this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Only the jobs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
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
        #[arg(required = true)]
        ids: Vec<String>,
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
    let store = JobStore::open_with(&args.state, Create::Never)?;
    match &args.command {
        JobsCommand::List {
            run,
            workflow,
            format,
        } => {
            let jobs: Vec<JobRecord> = store
                .jobs()?
                .into_iter()
                .filter(|job| run.as_ref().is_none_or(|run| &job.run_id == run))
                .filter(|job| {
                    workflow
                        .as_ref()
                        .is_none_or(|workflow| &job.workflow == workflow)
                })
                .collect();
            let text = match format {
                ListFormat::Text => table(&jobs),
                ListFormat::Json => {
                    serde_json::to_string_pretty(&jobs).expect("jobs serialize") + "\n"
                }
            };
            write_stdout(&text)?;
        }
        JobsCommand::Show { id } => write_stdout(&show(&store, id)?)?,
        JobsCommand::Download { id, to } => write_stdout(&download(&store, id, to)?)?,
        JobsCommand::Delete {
            ids,
            yes,
            keep_files,
            abandon,
        } => delete(&store, ids, *yes, *keep_files, *abandon)?,
    }
    Ok(Outcome::Success)
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

fn table(jobs: &[JobRecord]) -> String {
    let mut out = format!(
        "{:<44} {:<30} {:<16} {:<10} {:>8} {:>8} {:>8}  {:<30} {}\n",
        "job", "name", "operation", "status", "rows", "changed", "failed", "target", "file"
    );
    for job in jobs {
        let _ = writeln!(
            out,
            "{:<44} {:<30} {:<16} {:<10} {:>8} {:>8} {:>8}  {:<30} {}",
            job.id,
            job.name(),
            job.operation,
            job.status.key(),
            job.total,
            job.changed,
            job.failed,
            printable(job.target_name.as_deref().unwrap_or("")),
            printable(job.trigger_file.as_deref().unwrap_or(""))
        );
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
