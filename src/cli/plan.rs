//! `bulkops plan FILE`: shows a workflow's steps, their dependencies and the
//! order they run in, as text, JSON, Graphviz DOT or Mermaid; for text and JSON,
//! also what a run would do, computed read-only against the directory.
//!
//! A plan never claims "no changes" when it cannot know: a step that cannot
//! be previewed makes `plan` fail (exit 1) with the reason, a step whose
//! effect depends on an earlier step of the run counts as a change, and a
//! run that `apply`'s guards would refuse is said so (exit 3).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::apply::{RunPaths, load};
use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::lifecycle::saved::format::PlanFile;
use crate::lifecycle::saved::review::{self, FullPlan};
use crate::lifecycle::{self, open};
use crate::manifest;
use crate::plan::{PlanFormat, render};
use crate::runner::{StepState, preview};

/// Arguments of `bulkops plan`.
#[derive(Debug, clap::Args)]
pub(super) struct PlanArgs {
    /// The workflow manifest, or a folder: every manifest below it.
    #[arg(value_name = "FILE|DIR")]
    pub(super) file: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: PlanFormat,
    /// Show what a run would do (the default for `text` and `json`): members
    /// added and removed, devices changed, files written, jobs deleted. Reads
    /// the directory; changes nothing.
    #[arg(long, conflicts_with = "no_preview")]
    preview: bool,
    /// Show only the steps and their order, without reading the directory.
    #[arg(long)]
    pub(super) no_preview: bool,
    /// Exit 0 when a run would change nothing, 2 when it would (or may), 1 on
    /// any error, including a step that cannot be previewed.
    #[arg(long, conflicts_with = "no_preview")]
    pub(super) detailed_exitcode: bool,
    /// Save the plan: every change it makes, and what it was made from, for
    /// `bulkops apply FILE` to carry out exactly (or refuse once stale).
    #[arg(long, value_name = "FILE", conflicts_with = "no_preview")]
    pub(super) out: Option<PathBuf>,
    /// How many members, devices and jobs of each list the text shows.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(super) detail: usize,
    #[command(flatten)]
    pub(super) paths: RunPaths,
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
    if args.file.is_dir() {
        return super::plan_folder::plan(args, reporter);
    }
    let loaded = load(manifest::load_file(&args.file), reporter)?;
    if loaded.plan.directories.len() > 1 {
        return super::plan_folder::plan_each(args, loaded.per_directory());
    }
    let graph = render(&loaded.plan, args.format);
    let previewable = matches!(
        args.format,
        PlanFormat::Text | PlanFormat::Json | PlanFormat::Markdown
    );
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
    let previewed = lifecycle::preview_for_saving(&loaded, &paths, args.out.is_some())?;
    let totals = preview::totals(&previewed.report);
    let verdict = preview::guard_verdict(totals, previewed.limits);
    let failed: Vec<String> = previewed
        .report
        .steps
        .iter()
        .filter(|step| matches!(step.state, StepState::Failed { .. }))
        .map(|step| step.id.clone())
        .collect();
    let file = previewed
        .saved
        .clone()
        .map(|saved| lifecycle::saved::format::PlanFile::new(vec![saved]));
    let saving = match (&args.out, &file) {
        (Some(out), Some(_)) if failed.is_empty() && verdict.is_none() => Some(out.as_path()),
        _ => None,
    };
    let shown = Shown {
        loaded: &loaded,
        previewed: &previewed,
        verdict: verdict.as_deref(),
        file: file.as_ref(),
        saving,
        detail: args.detail,
    };
    write_stdout(&shown.render(args.format, graph))?;
    if let Some(verdict) = guard_refusal(&previewed.report) {
        return Err(Error::GuardWouldRefuse { verdict });
    }
    if !failed.is_empty() {
        return Err(Error::PreviewFailed { steps: failed });
    }
    if let Some(verdict) = verdict {
        return Err(Error::GuardWouldRefuse { verdict });
    }
    if let Some(out) = &args.out {
        match (file, previewed.unsaveable) {
            (_, Some(unsaveable)) => return Err(unsaveable.into()),
            (Some(file), None) => save(out, &file, args.format)?,
            (None, None) => {}
        }
    }
    Ok(if args.detailed_exitcode && totals.changes_anything() {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

/// When every step that cannot be previewed fails on a guard, the guard's
/// words: `apply` would refuse the run (exit 3), not fail it.
pub(super) fn guard_refusal(report: &crate::runner::RunReport) -> Option<String> {
    let failures: Vec<(&str, crate::steps::FailureClass)> = report
        .steps
        .iter()
        .filter_map(|step| match &step.state {
            StepState::Failed { error, class } => Some((error.as_str(), *class)),
            _ => None,
        })
        .collect();
    let all_guards = !failures.is_empty()
        && failures
            .iter()
            .all(|(_, class)| *class == crate::steps::FailureClass::Guard);
    all_guards.then(|| format!("apply would refuse this run: {}", failures[0].0))
}

/// What a previewed plan shows.
pub(super) struct Shown<'a> {
    pub(super) loaded: &'a manifest::LoadedManifest,
    pub(super) previewed: &'a lifecycle::Previewed,
    pub(super) verdict: Option<&'a str>,
    pub(super) file: Option<&'a PlanFile>,
    /// Where the plan is being saved, if it is.
    pub(super) saving: Option<&'a std::path::Path>,
    pub(super) detail: usize,
}

impl Shown<'_> {
    pub(super) fn render(&self, format: PlanFormat, graph: String) -> String {
        let report = &self.previewed.report;
        match format {
            PlanFormat::Json => {
                let mut document: serde_json::Value =
                    serde_json::from_str(&graph).expect("the plan is JSON");
                document["preview"] =
                    serde_json::to_value(&report.steps).expect("a preview serializes");
                document["guards"] = serde_json::json!({ "refusal": self.verdict });
                if let Some(file) = self.file {
                    document["changes"] =
                        serde_json::to_value(&file.body.workflows[0]).expect("a plan serializes");
                }
                serde_json::to_string_pretty(&document).expect("JSON serializes") + "\n"
            }
            PlanFormat::Markdown => self.markdown(),
            _ => {
                let plan = &self.loaded.plan;
                let mut text =
                    graph + &preview::render(report, &plan.workflow, &self.previewed.directory);
                if let Some(file) = self.file {
                    text.push_str(&review::text(&file.body.workflows[0], self.detail));
                }
                if let Some(verdict) = self.verdict {
                    text.push_str(verdict);
                    text.push('\n');
                }
                text
            }
        }
    }

    fn markdown(&self) -> String {
        let problems = self.problems();
        let Some(file) = self.file else {
            return format!("## bulkops plan\n{problems}");
        };
        let full = match self.saving {
            Some(path) => FullPlan::Saved(path.to_str().unwrap_or("the plan file")),
            None => FullPlan::NotSaved,
        };
        let text = review::markdown(file, &full);
        if problems.is_empty() {
            text
        } else {
            format!("## bulkops plan\n{problems}")
        }
    }

    /// Why the plan cannot be applied, as Markdown lines; empty when it can.
    pub(super) fn problems(&self) -> String {
        let mut problems = String::new();
        for step in &self.previewed.report.steps {
            if let StepState::Failed { error, .. } = &step.state {
                let _ = writeln!(
                    problems,
                    "\n**Error: step {} cannot be previewed: {}**",
                    review::md(&step.id),
                    review::md(error)
                );
            }
        }
        if let Some(verdict) = self.verdict {
            let _ = writeln!(problems, "\n**Error: {}**", review::md(verdict));
        }
        problems
    }
}

/// Writes the saved plan and says where, with its id and runs.
pub(super) fn save(
    out: &std::path::Path,
    file: &PlanFile,
    format: PlanFormat,
) -> Result<(), Error> {
    let run_id = file
        .body
        .workflows
        .iter()
        .map(|workflow| workflow.run_id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
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
