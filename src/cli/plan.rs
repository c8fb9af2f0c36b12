//! `bulkops plan FILE`: shows a workflow's steps, their dependencies and the
//! order they run in, as text, JSON, Graphviz DOT or Mermaid.

use std::path::PathBuf;

use super::report::Reporter;
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::manifest::{self, LoadError};
use crate::plan::{PlanFormat, render};

/// Arguments of `bulkops plan`.
#[derive(Debug, clap::Args)]
pub(super) struct PlanArgs {
    /// The workflow manifest.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value = "text")]
    format: PlanFormat,
}

/// Loads the manifest and prints its plan.
pub(super) fn run(args: &PlanArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let loaded = match manifest::load_file(&args.file) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(invalid)) => {
            for diagnostic in &invalid.diagnostics {
                reporter.emit(diagnostic);
            }
            return Err(Error::Validation {
                invalid: 1,
                unreadable: 0,
                total: 1,
            });
        }
        Err(error) => return Err(error.into()),
    };
    write_stdout(&render(&loaded.plan, args.format))?;
    Ok(Outcome::Success)
}
