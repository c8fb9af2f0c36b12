//! `bulkops plan DIR`: every manifest below a folder planned against its
//! directory (each of its directories, when it names several, as one
//! manifest of `spec.directories` alone does), shown one after another
//! (text), as a JSON array, or as one
//! Markdown comment; `--out` saves one plan holding every workflow, applied
//! in order by `bulkops apply`. Manifests with a watch trigger run on dropped
//! files, not on a merge, and are left out with a note.

use std::fmt::Write as _;

use super::plan::{PlanArgs, Shown, save};
use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::lifecycle::saved::format::{PlanFile, SavedWorkflow};
use crate::lifecycle::saved::review::{self, FullPlan};
use crate::lifecycle::{self, Previewed};
use crate::manifest::{self, LoadedManifest};
use crate::plan::{PlanFormat, render};
use crate::runner::{StepState, preview};

/// One manifest of the folder, previewed.
struct Planned {
    loaded: LoadedManifest,
    previewed: Previewed,
    verdict: Option<String>,
    file: Option<PlanFile>,
}

impl Planned {
    /// What this manifest's part of the plan shows.
    fn shown(&self, detail: usize) -> Shown<'_> {
        Shown {
            loaded: &self.loaded,
            previewed: &self.previewed,
            verdict: self.verdict.as_deref(),
            file: self.file.as_ref(),
            saving: None,
            detail,
        }
    }
}

/// Plans every manifest below `args.file`.
pub(super) fn plan(args: &PlanArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let manifests = load_all(args, reporter)?
        .into_iter()
        .flat_map(LoadedManifest::per_directory)
        .collect();
    plan_each(args, manifests)
}

/// Plans each manifest (a manifest with several directories comes once per
/// directory), shown one after another, saved as one plan with `--out`.
pub(super) fn plan_each(args: &PlanArgs, manifests: Vec<LoadedManifest>) -> Result<Outcome, Error> {
    if args.no_preview {
        let graphs: String = manifests
            .iter()
            .map(|loaded| render(&loaded.plan, args.format))
            .collect();
        write_stdout(&graphs)?;
        return Ok(Outcome::Success);
    }
    let paths = args.paths.to_paths();
    let mut planned = Vec::new();
    let mut notes = String::new();
    for loaded in manifests {
        if loaded.plan.watch.is_some() {
            let _ = writeln!(
                notes,
                "{}: not planned: it runs on files dropped into a watched folder",
                loaded.source.name
            );
            continue;
        }
        let unconfigured = loaded.plan.directory != "local"
            && !crate::lifecycle::open::profile_configured(&loaded, &paths);
        if unconfigured && args.out.is_none() && !args.detailed_exitcode {
            let _ = writeln!(
                notes,
                "{}: not planned: the directory profile `{}` is not configured",
                loaded.source.name, loaded.plan.directory
            );
            continue;
        }
        let previewed = lifecycle::preview_for_saving(&loaded, &paths, args.out.is_some())?;
        let verdict = preview::guard_verdict(preview::totals(&previewed.report), previewed.limits);
        let file = previewed
            .saved
            .clone()
            .map(|saved| PlanFile::new(vec![saved]));
        planned.push(Planned {
            loaded,
            previewed,
            verdict,
            file,
        });
    }
    let failed: Vec<String> = planned
        .iter()
        .flat_map(|one| &one.previewed.report.steps)
        .filter(|step| matches!(step.state, StepState::Failed { .. }))
        .map(|step| step.id.clone())
        .collect();
    let verdict = planned.iter().find_map(|one| one.verdict.clone());
    let workflows: Vec<SavedWorkflow> = planned
        .iter()
        .filter_map(|one| one.previewed.saved.clone())
        .collect();
    let whole = PlanFile::new(workflows);
    let saving = match &args.out {
        Some(out) if failed.is_empty() && verdict.is_none() => Some(out.as_path()),
        _ => None,
    };
    write_stdout(&render_all(args, &planned, &whole, saving, &notes))?;
    if let Some(verdict) = planned
        .iter()
        .find_map(|one| super::plan::guard_refusal(&one.previewed.report))
    {
        return Err(Error::GuardWouldRefuse { verdict });
    }
    if !failed.is_empty() {
        return Err(Error::PreviewFailed { steps: failed });
    }
    if let Some(verdict) = verdict {
        return Err(Error::GuardWouldRefuse { verdict });
    }
    if let Some(out) = &args.out {
        if let Some(unsaveable) = planned.into_iter().find_map(|one| one.previewed.unsaveable) {
            return Err(unsaveable.into());
        }
        save(out, &whole, args.format)?;
    }
    let changes = whole.body.workflows.iter().any(|workflow| {
        workflow.steps.iter().any(|step| {
            step.jobs.iter().any(|job| !job.changes.is_empty()) || !step.deleted_jobs.is_empty()
        })
    });
    Ok(if args.detailed_exitcode && changes {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

/// Loads every manifest below the folder; any invalid one, or two with one
/// workflow name, fails the plan.
fn load_all(args: &PlanArgs, reporter: &Reporter) -> Result<Vec<LoadedManifest>, Error> {
    let files = manifest::manifest_files(&args.file)?;
    let mut loaded = Vec::new();
    for file in &files {
        loaded.push(super::apply::load(manifest::load_file(file), reporter)?);
    }
    let duplicates = manifest::duplicate_names(&loaded, &files);
    if !duplicates.is_empty() {
        for diagnostic in &duplicates {
            reporter.emit(diagnostic);
        }
        return Err(Error::Validation {
            invalid: duplicates.len(),
            unreadable: 0,
            total: files.len(),
        });
    }
    Ok(loaded)
}

fn render_all(
    args: &PlanArgs,
    planned: &[Planned],
    whole: &PlanFile,
    saving: Option<&std::path::Path>,
    notes: &str,
) -> String {
    let shown_of = |one: &'_ Planned| -> String {
        one.shown(args.detail)
            .render(args.format, render(&one.loaded.plan, args.format))
    };
    match args.format {
        PlanFormat::Markdown => {
            let problems: String = planned
                .iter()
                .map(|one| one.shown(args.detail).problems())
                .collect();
            if !problems.is_empty() {
                return format!("## bulkops plan\n{problems}");
            }
            let full = match saving {
                Some(path) => FullPlan::Saved(path.to_str().unwrap_or("the plan file")),
                None => FullPlan::NotSaved,
            };
            review::markdown(whole, &full)
        }
        PlanFormat::Json => {
            let documents: Vec<serde_json::Value> = planned
                .iter()
                .map(|one| serde_json::from_str(&shown_of(one)).expect("a plan is JSON"))
                .collect();
            serde_json::to_string_pretty(&documents).expect("JSON serializes") + "\n"
        }
        _ => {
            let mut text = String::new();
            for one in planned {
                let _ = writeln!(text, "── {} ──", one.loaded.source.name);
                text.push_str(&shown_of(one));
                text.push('\n');
            }
            text + notes
        }
    }
}
