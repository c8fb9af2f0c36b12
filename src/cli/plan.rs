//! `bulkops plan FILE`: shows a workflow's steps, their dependencies and the
//! order they run in, as text, JSON, Graphviz DOT or Mermaid; for text and JSON,
//! also what a run would do, computed read-only against the directory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::apply::{RunPaths, execute, load, new_context, open_directory, profiles_path, runner};
use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::manifest::{self, LoadedManifest};
use crate::plan::{PlanFormat, render};
use crate::runner::preview;
use crate::store::JobStore;

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
    /// Exit 0 when a run would change nothing, 2 when it would, 1 on any error.
    #[arg(long, conflicts_with = "no_preview")]
    detailed_exitcode: bool,
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
    let wanted = args.preview || args.detailed_exitcode || (previewable && !args.no_preview);
    if !wanted {
        write_stdout(&graph)?;
        return Ok(Outcome::Success);
    }
    if loaded.plan.directory != "local"
        && !profile_configured(&loaded, &args.paths)
        && !args.preview
        && !args.detailed_exitcode
    {
        // A profile that is not configured here: the steps can still be reviewed.
        let note = format!(
            "
effects not previewed: the directory profile `{}` is not configured
",
            loaded.plan.directory
        );
        write_stdout(
            &(graph
                + if args.format == PlanFormat::Text {
                    &note
                } else {
                    ""
                }),
        )?;
        return Ok(Outcome::Success);
    }
    let workflow = loaded.plan.workflow.clone();
    let directory = loaded.plan.directory.clone();
    let context = new_context(&loaded, &args.paths, true);
    let store = Arc::new(Mutex::new(JobStore::open(&args.paths.state)?));
    let opened = open_directory(&loaded, &args.paths)?;
    let report = execute(&runner(loaded, context, opened, store))?;
    let text = match args.format {
        PlanFormat::Json => {
            let mut document: serde_json::Value =
                serde_json::from_str(&graph).expect("the plan is JSON");
            document["preview"] =
                serde_json::to_value(&report.steps).expect("a preview serializes");
            serde_json::to_string_pretty(&document).expect("JSON serializes") + "\n"
        }
        _ => graph + &preview::render(&report, &workflow, &directory),
    };
    write_stdout(&text)?;
    let changes = preview::totals(&report).changes_anything();
    Ok(if args.detailed_exitcode && changes {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

/// Whether the profiles file describes the manifest's directory profile.
fn profile_configured(loaded: &LoadedManifest, paths: &RunPaths) -> bool {
    crate::msgraph::profile::load(&profiles_path(loaded, paths))
        .is_ok_and(|profiles| profiles.contains_key(&loaded.plan.directory))
}
