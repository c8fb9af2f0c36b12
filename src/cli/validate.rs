//! `bulkops validate PATH...`: checks manifests and reports every problem at once.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::report::{self, MessageFormat, Reporter};
use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::manifest::{self, LoadError, LoadedManifest, ManifestDiagnostic};

/// Arguments of `bulkops validate`.
#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    /// Manifest files, or folders whose `.yaml` and `.yml` files are all checked.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// How to report problems.
    #[arg(long, value_enum, default_value_t)]
    message_format: MessageFormat,
}

/// What validation found, across all paths.
#[derive(Default)]
struct Tally {
    total: usize,
    invalid: usize,
    unreadable: usize,
    diagnostics: Vec<ManifestDiagnostic>,
    loaded: Vec<LoadedManifest>,
    loaded_paths: Vec<PathBuf>,
}

/// Validates every manifest under the given paths.
pub(super) fn run(args: &ValidateArgs, reporter: &Reporter) -> Result<Outcome, Error> {
    let human = args.message_format == MessageFormat::Human;
    let mut tally = Tally::default();
    for path in &args.paths {
        match manifest::manifest_files(path) {
            Ok(files) => {
                for file in files {
                    load_one(file, &mut tally, reporter, human);
                }
            }
            Err(error) => {
                tally.total += 1;
                tally.unreadable += 1;
                reporter.emit(&error);
            }
        }
    }
    let duplicates = manifest::duplicate_names(&tally.loaded, &tally.loaded_paths);
    let with_duplicate: HashSet<&str> = duplicates.iter().map(ManifestDiagnostic::file).collect();
    tally.invalid += with_duplicate.len();
    if human {
        for diagnostic in &duplicates {
            reporter.emit(diagnostic);
        }
        write_stdout(&valid_lines(&tally.loaded, &with_duplicate))?;
    }
    let duplicate_count = duplicates.len();
    tally.diagnostics.extend(duplicates);
    write_machine_report(args.message_format, &tally.diagnostics)?;
    if tally.invalid + tally.unreadable > 0 {
        debug_assert!(tally.invalid > 0 || duplicate_count == 0);
        return Err(Error::Validation {
            invalid: tally.invalid,
            unreadable: tally.unreadable,
            total: tally.total,
        });
    }
    Ok(Outcome::Success)
}

fn load_one(file: PathBuf, tally: &mut Tally, reporter: &Reporter, human: bool) {
    tally.total += 1;
    match manifest::load_file(&file) {
        Ok(loaded) => {
            tally.loaded.push(loaded);
            tally.loaded_paths.push(file);
        }
        Err(error @ LoadError::Read { .. }) => {
            tally.unreadable += 1;
            reporter.emit(&error);
        }
        Err(LoadError::Invalid(invalid)) => {
            tally.invalid += 1;
            if human {
                for diagnostic in &invalid.diagnostics {
                    reporter.emit(diagnostic);
                }
            }
            tally.diagnostics.extend(invalid.diagnostics);
        }
    }
}

fn valid_lines(loaded: &[LoadedManifest], excluded: &HashSet<&str>) -> String {
    loaded
        .iter()
        .filter(|manifest| !excluded.contains(manifest.source.name.as_str()))
        .fold(String::new(), |mut out, manifest| {
            let steps = manifest.plan.steps.len();
            let noun = if steps == 1 { "step" } else { "steps" };
            let _ = writeln!(
                out,
                "valid: {} (workflow `{}`, {steps} {noun})",
                manifest.source.name, manifest.plan.workflow
            );
            out
        })
}

fn write_machine_report(
    format: MessageFormat,
    diagnostics: &[ManifestDiagnostic],
) -> Result<(), Error> {
    let all: Vec<&ManifestDiagnostic> = diagnostics.iter().collect();
    match format {
        MessageFormat::Human => Ok(()),
        MessageFormat::Json => write_stdout(&report::to_json(&all)),
        MessageFormat::Github => write_stdout(&report::to_github(&all)),
    }
}
