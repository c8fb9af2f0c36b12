//! `bulkops watch [PATHS…]`: the watch-folder service over every manifest
//! with `spec.trigger.watch`. The service itself is `watch`'s; this file
//! parses the arguments and turns the summary into an exit code.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Outcome;
use super::apply::StorePaths;
use crate::error::Error;
use crate::manifest::duration::DurationSpec;
use crate::watch::{self, Settings};

/// Arguments of `bulkops watch`.
#[derive(Debug, Args)]
pub(super) struct WatchArgs {
    /// Manifest files, or folders of manifests; those with `spec.trigger.watch` are served.
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Process the files there now (once they settle), then exit: 0 when every
    /// run completed, 1 when any failed.
    #[arg(long)]
    once: bool,
    /// List every watched folder in full this often, besides file events.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    rescan: Duration,
    /// Use no file events; list the folders this often (network shares).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    poll: Option<Duration>,
    /// How long runs going on may finish after SIGINT or SIGTERM; what is
    /// left is resumed at the next start.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    grace: Duration,
    /// How many runs may go on at once, over every workflow.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    max_runs: u16,
    #[command(flatten)]
    stores: StorePaths,
}

/// A duration as manifests write it (`500ms`, `30s`, `5m`), above zero.
pub(super) fn duration(text: &str) -> Result<Duration, String> {
    let parsed = DurationSpec::parse(text)
        .map_err(|_| format!("`{text}` is not a duration such as `500ms`, `30s` or `5m`"))?
        .as_duration();
    if parsed.is_zero() {
        return Err("the duration must be above zero".to_owned());
    }
    Ok(parsed)
}

/// Runs the watch service.
pub(super) fn run(args: &WatchArgs) -> Result<Outcome, Error> {
    let settings = Settings {
        manifests: args.paths.clone(),
        paths: args.stores.to_paths(),
        rescan: args.rescan,
        poll: args.poll,
        grace: args.grace,
        once: args.once,
        max_runs: usize::from(args.max_runs),
    };
    let summary = watch::serve(settings)?;
    tracing::info!(
        completed = summary.completed,
        failed = summary.failed,
        duplicates = summary.duplicates,
        left = summary.left,
        "watch ended"
    );
    if summary.failed > 0 {
        return Err(Error::WatchRunsFailed {
            failed: summary.failed,
        });
    }
    if summary.left > 0 {
        return Err(Error::WatchRunsLeft { left: summary.left });
    }
    Ok(Outcome::Success)
}
