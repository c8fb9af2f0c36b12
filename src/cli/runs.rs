//! `bulkops runs list|show`: runs as the admin center's results page lists
//! bulk operations — id, workflow, status, when, how long, what started it,
//! and the counts of its jobs — with filters and JSON for scripts.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use jiff::Timestamp;
use serde::Serialize;

use super::listing::{shown, since, took};
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::store::{Create, JobStore, RunRecord, Status};
use crate::text::printable;

/// Arguments of `bulkops runs`.
#[derive(Debug, Args)]
pub(super) struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
    #[command(flatten)]
    state: super::listing::StateArg,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// List runs, newest first.
    #[command(after_help = "Examples:
  bulkops runs list
  bulkops runs list --status interrupted          # runs `apply --resume` can finish
  bulkops runs list --since 7d --limit 20 --format json")]
    List {
        /// Only runs with this status: queued, running, completed, failed, cancelled or interrupted.
        #[arg(long, value_parser = status)]
        status: Option<Status>,
        /// Only the runs submitted together as this group (`bulkops submit` prints it).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Only runs started since: a duration back from now (`7d`, `12h`) or a date (`2026-11-01`).
        #[arg(long, value_name = "WHEN", value_parser = since)]
        since: Option<Timestamp>,
        /// At most this many runs.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one run: what it was planned from, its steps and its jobs.
    #[command(after_help = "Examples:
  bulkops runs show 20261127-142300-3f9a
  bulkops runs show 20261127-142300-3f9a --format json")]
    Show {
        /// The run id, as `runs list` shows it.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// How a list is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    Text,
    Json,
}

/// Reads a status word.
pub(super) fn status(text: &str) -> Result<Status, String> {
    [
        Status::Queued,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
        Status::Interrupted,
    ]
    .into_iter()
    .find(|status| status.key() == text)
    .ok_or_else(|| {
        format!(
            "`{text}` is not a status: queued, running, completed, failed, cancelled or interrupted"
        )
    })
}

/// A run with what its jobs add up to.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunLine {
    #[serde(flatten)]
    run: RunRecord,
    /// The manifest, the file that started it, or the saved plan it applies.
    source: String,
    jobs: u64,
    succeeded: u64,
    failed: u64,
    total: u64,
}

fn line_of(store: &JobStore, run: RunRecord) -> Result<RunLine, Error> {
    let jobs = store.jobs_of_run(&run.id)?;
    let source = match (&run.trigger_file, store.saved_plan_of(&run.id)?) {
        (_, Some((plan_id, _))) => format!("plan {plan_id}"),
        (Some(file), None) => format!("file {file}"),
        (None, None) => run.manifest_path.clone(),
    };
    Ok(RunLine {
        source,
        jobs: jobs.len() as u64,
        succeeded: jobs.iter().map(|job| job.succeeded).sum(),
        failed: jobs.iter().map(|job| job.failed).sum(),
        total: jobs.iter().map(|job| job.total).sum(),
        run,
    })
}

/// Runs a `bulkops runs` command.
pub(super) fn run(args: &RunsArgs) -> Result<Outcome, Error> {
    let store = JobStore::open_at(&args.state.state, Create::Never)?;
    match &args.command {
        RunsCommand::List {
            status,
            group,
            since,
            limit,
            format,
        } => {
            let grouped = group
                .as_deref()
                .map(|group| super::listing::runs_of_group(&store, group))
                .transpose()?;
            let mut lines = Vec::new();
            for run in store.runs()? {
                if status.is_some_and(|status| run.status != status)
                    || grouped.as_ref().is_some_and(|runs| !runs.contains(&run.id))
                    || since.is_some_and(|since| run.started_at < since)
                {
                    continue;
                }
                if limit.is_some_and(|limit| lines.len() >= limit) {
                    break;
                }
                lines.push(line_of(&store, run)?);
            }
            write_stdout(&match format {
                Format::Json => {
                    serde_json::to_string_pretty(&lines).expect("runs serialize") + "\n"
                }
                Format::Text => table(&lines),
            })?;
        }
        RunsCommand::Show { id, format } => {
            let line = line_of(&store, store.run(id)?)?;
            write_stdout(&match format {
                Format::Json => {
                    let mut document = serde_json::to_value(&line).expect("a run serializes");
                    document["steps"] = serde_json::to_value(
                        store
                            .steps(id)?
                            .iter()
                            .map(|step| serde_json::json!({ "step": step.step, "state": step.state, "detail": step.detail }))
                            .collect::<Vec<_>>(),
                    )
                    .expect("steps serialize");
                    document["jobIds"] = serde_json::to_value(
                        store
                            .jobs_of_run(id)?
                            .iter()
                            .map(|job| job.id.clone())
                            .collect::<Vec<_>>(),
                    )
                    .expect("ids serialize");
                    serde_json::to_string_pretty(&document).expect("JSON serializes") + "\n"
                }
                Format::Text => show(&store, &line)?,
            })?;
        }
    }
    Ok(Outcome::Success)
}

fn table(lines: &[RunLine]) -> String {
    let mut out = format!(
        "{:<21} {:<24} {:<12} {:<19} {:>9} {:>10} {:>10} {:>8}  {}\n",
        "run",
        "workflow",
        "status",
        "started (UTC)",
        "took",
        "# Success",
        "# Failure",
        "Total",
        "source"
    );
    for line in lines {
        let run = &line.run;
        let _ = writeln!(
            out,
            "{:<21} {:<24} {:<12} {:<19} {:>9} {:>10} {:>10} {:>8}  {}",
            run.id,
            printable(&run.workflow),
            run.status.key(),
            shown(run.started_at),
            took(run.started_at, run.finished_at),
            line.succeeded,
            line.failed,
            line.total,
            printable(&line.source)
        );
    }
    out
}

fn show(store: &JobStore, line: &RunLine) -> Result<String, Error> {
    let run = &line.run;
    let mut out = String::new();
    let rows = [
        ("run", run.id.clone()),
        ("workflow", run.workflow.clone()),
        ("status", run.status.key().to_owned()),
        ("reason", run.reason.clone().unwrap_or_default()),
        ("source", line.source.clone()),
        ("started", shown(run.started_at)),
        ("took", took(run.started_at, run.finished_at)),
        ("directory", run.directory.clone()),
        ("output", run.output_root.clone()),
        (
            "rows",
            format!(
                "{} succeeded, {} failed, {} in all",
                line.succeeded, line.failed, line.total
            ),
        ),
    ];
    for (name, value) in rows.iter().filter(|(_, value)| !value.is_empty()) {
        let _ = writeln!(out, "{name:<10} {}", printable(value));
    }
    let steps = store.steps(&run.id)?;
    if !steps.is_empty() {
        let _ = writeln!(out, "steps");
        for step in steps {
            let detail = step
                .detail
                .map(|detail| format!(": {detail}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<24} {}{}",
                step.step,
                step.state,
                printable(&detail)
            );
        }
    }
    let jobs = store.jobs_of_run(&run.id)?;
    if !jobs.is_empty() {
        let _ = writeln!(out, "jobs");
        for job in jobs {
            let _ = writeln!(
                out,
                "  {}  {:<10} {:>8} rows, {} failed  {}",
                job.id,
                job.status.key(),
                job.total,
                job.failed,
                printable(job.target_name.as_deref().unwrap_or(""))
            );
        }
    }
    if run.status == Status::Interrupted || run.status == Status::Cancelled {
        let _ = writeln!(out, "\nfinish it with `bulkops apply --resume {}`", run.id);
    }
    Ok(out)
}
