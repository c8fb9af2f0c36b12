//! `bulkops plan FILE`: shows a workflow's steps, their dependencies and the
//! order they run in, as text, JSON, Graphviz DOT or Mermaid; for text and JSON,
//! also what a run would do, computed read-only against the directory.
//!
//! A plan never claims "no changes" when it cannot know: a step that cannot
//! be previewed makes `plan` fail (exit 1) with the reason, a step whose
//! effect depends on an earlier step of the run counts as a change, and a
//! run that `apply`'s guards would refuse is said so (exit 3).

use std::path::PathBuf;

use super::apply::{RunPaths, load};
use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::lifecycle::{self, open};
use crate::manifest;
use crate::plan::{PlanFormat, render};
use crate::runner::{StepState, preview};

/// Arguments of `bulkops plan`.
#[derive(Debug, clap::Args)]
pub(super) struct PlanArgs {
    /// The workflow manifest.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value = "text")]
    format: PlanFormat,
    /// Show what a run would do (the default for `text` and `json`): members
    /// added and removed, devices changed, files written, jobs deleted. Reads
    /// the directory; changes nothing.
    #[arg(long, conflicts_with = "no_preview")]
    preview: bool,
    /// Show only the steps and their order, without reading the directory.
    #[arg(long)]
    no_preview: bool,
    /// Exit 0 when a run would change nothing, 2 when it would (or may), 1 on
    /// any error, including a step that cannot be previewed.
    #[arg(long, conflicts_with = "no_preview")]
    detailed_exitcode: bool,
    /// Save the plan: every change it makes, and what it was made from, for
    /// `bulkops apply FILE` to carry out exactly (or refuse once stale).
    #[arg(long, value_name = "FILE", conflicts_with = "no_preview")]
    out: Option<PathBuf>,
    #[command(flatten)]
    paths: RunPaths,
}

/// Loads the manifest and prints its plan, and its preview when asked. With
/// `--detailed-exitcode` every error exits 1, as pull-request checks expect.
pub(super) fn run(args: &PlanArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let outcome = plan(args, reporter);
    if args.detailed_exitcode {
        outcome.map_err(|error| Error::Detailed(Box::new(error)))
    } else {
        outcome
    }
}

fn plan(args: &PlanArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let loaded = load(manifest::load_file(&args.file), reporter)?;
    let graph = render(&loaded.plan, args.format);
    let previewable = matches!(args.format, PlanFormat::Text | PlanFormat::Json);
    let wanted = args.preview
        || args.detailed_exitcode
        || args.out.is_some()
        || (previewable && !args.no_preview);
    if !wanted {
        write_stdout(&graph)?;
        return Ok(Outcome::Success);
    }
    let paths = args.paths.to_paths();
    if loaded.plan.directory != "local"
        && !open::profile_configured(&loaded, &paths)
        && !args.preview
        && !args.detailed_exitcode
        && args.out.is_none()
    {
        // A profile that is not configured here: the steps can still be reviewed.
        let note = format!(
            "\neffects not previewed: the directory profile `{}` is not configured\n",
            loaded.plan.directory
        );
        let note = if args.format == PlanFormat::Text {
            note
        } else {
            String::new()
        };
        write_stdout(&(graph + &note))?;
        return Ok(Outcome::Success);
    }
    let workflow = loaded.plan.workflow.clone();
    let directory = loaded.plan.directory.clone();
    let previewed = if args.out.is_some() {
        lifecycle::preview_for_saving(&loaded, &paths)?
    } else {
        lifecycle::preview(&loaded, &paths)?
    };
    let report = &previewed.report;
    let totals = preview::totals(report);
    let verdict = preview::guard_verdict(totals, previewed.limits);
    let text = if args.format == PlanFormat::Json {
        let mut document: serde_json::Value =
            serde_json::from_str(&graph).expect("the plan is JSON");
        document["preview"] = serde_json::to_value(&report.steps).expect("a preview serializes");
        document["guards"] = serde_json::json!({ "refusal": verdict });
        serde_json::to_string_pretty(&document).expect("JSON serializes") + "\n"
    } else {
        let mut text = graph + &preview::render(report, &workflow, &directory);
        if let Some(verdict) = &verdict {
            text.push_str(verdict);
            text.push('\n');
        }
        text
    };
    write_stdout(&text)?;
    let failed: Vec<String> = report
        .steps
        .iter()
        .filter(|step| matches!(step.state, StepState::Failed { .. }))
        .map(|step| step.id.clone())
        .collect();
    if !failed.is_empty() {
        return Err(Error::PreviewFailed { steps: failed });
    }
    if let Some(verdict) = verdict {
        return Err(Error::GuardWouldRefuse { verdict });
    }
    if let (Some(out), Some(saved)) = (&args.out, previewed.saved) {
        save(out, saved, args.format)?;
    }
    Ok(if args.detailed_exitcode && totals.changes_anything() {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

/// Writes the saved plan and says where, with its id and run.
fn save(
    out: &std::path::Path,
    saved: lifecycle::saved::format::SavedWorkflow,
    format: PlanFormat,
) -> Result<(), Error> {
    let run_id = saved.run_id.clone();
    let file = lifecycle::saved::format::PlanFile::new(vec![saved]);
    file.write(out)
        .map_err(|error| lifecycle::LifecycleError::PlanFile(Box::new(error)))?;
    let line = format!(
        "saved plan {} to {} (it runs as run {run_id}); apply exactly this with `bulkops apply {}`\n",
        file.plan_id,
        out.display(),
        out.display()
    );
    if format == PlanFormat::Text {
        write_stdout(&format!("\n{line}"))?;
    } else {
        eprint!("{line}");
    }
    Ok(())
}
