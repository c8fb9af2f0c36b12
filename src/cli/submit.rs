//! `bulkops submit FILE|DIR`: records runs for `bulkops worker` processes on
//! a shared (PostgreSQL) job store. The queue is `worker`'s; this file
//! parses the arguments and prints what was queued.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::apply::{StorePaths, load};
use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::manifest;
use crate::text::printable;
use crate::worker::submit;

/// Arguments of `bulkops submit`.
#[derive(Debug, Args)]
pub(super) struct SubmitArgs {
    /// The workflow manifest, or a folder (every manifest below it).
    #[arg(value_name = "FILE|DIR")]
    file: PathBuf,
    /// Submit one run for each of these directory profiles instead of the
    /// manifest's own directory (repeat for several tenants).
    #[arg(long = "profile", id = "directories", value_name = "PROFILE")]
    directories: Vec<String>,
    #[command(flatten)]
    stores: StorePaths,
}

/// Validates the manifests, then queues their runs.
pub(super) fn run(args: &SubmitArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let files = if args.file.is_dir() {
        manifest::manifest_files(&args.file)?
    } else {
        vec![args.file.clone()]
    };
    let mut manifests = Vec::new();
    for file in &files {
        let loaded = load(manifest::load_file(file), reporter)?;
        if loaded.plan.watch.is_some() {
            write_stdout(&format!(
                "skipped {}: it runs on files dropped into a watched folder\n",
                printable(&loaded.source.name)
            ))?;
            continue;
        }
        manifests.push(loaded);
    }
    // A profile named twice is one directory: one run.
    let mut directories: Vec<String> = Vec::with_capacity(args.directories.len());
    for directory in &args.directories {
        if !directories.contains(directory) {
            directories.push(directory.clone());
        }
    }
    let submission = submit::submit(&manifests, &directories, &args.stores.to_paths())?;
    let mut out = String::new();
    for queued in &submission.runs {
        let _ = writeln!(
            out,
            "queued run {} of workflow `{}` for directory `{}`",
            queued.run_id,
            printable(&queued.workflow),
            printable(&queued.directory)
        );
    }
    let _ = writeln!(
        out,
        "group {}: {} for workers",
        submission.group,
        crate::text::counted(submission.runs.len() as u64, "run", "runs")
    );
    write_stdout(&out)?;
    Ok(Outcome::Success)
}
