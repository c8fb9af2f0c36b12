//! `bulkops worker`: takes runs submitted to a shared job store and executes
//! them until stopped. The work loop is `worker`'s; this file parses the
//! arguments and prints what the worker did.

use clap::Args;

use super::{Outcome, write_stdout};
use crate::error::Error;
use crate::worker::{self, Settings};

/// Arguments of `bulkops worker`.
#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// The shared job store (a PostgreSQL URL; workers refuse a SQLite file).
    #[command(flatten)]
    state: super::listing::StateArg,
    /// Stop after taking this many runs.
    #[arg(long, value_name = "N")]
    max_runs: Option<u64>,
    /// How often an idle worker looks for runs.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = super::watch::duration)]
    poll: std::time::Duration,
    /// How long a run's lease lasts unless renewed (renewed every third of it);
    /// a dead worker's run is taken over after it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::watch::duration)]
    lease: std::time::Duration,
    /// How long a run that failed to go on (its directory unreachable, say)
    /// waits before a worker tries it again, times its failures so far; it
    /// is given up after three.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::watch::duration)]
    retry_after: std::time::Duration,
}

/// Works until stopped; prints what was done.
pub(super) fn run(args: &WorkerArgs) -> Result<Outcome, Error> {
    let summary = worker::work(&Settings {
        state: args.state.state.clone(),
        max_runs: args.max_runs,
        poll: args.poll,
        lease: Some(args.lease),
        retry_after: args.retry_after,
    })?;
    write_stdout(&format!(
        "took {} runs: {} completed, {} failed, {} cancelled, {} handed back, {} given up, {} taken over by another worker\n",
        summary.taken,
        summary.completed,
        summary.failed,
        summary.cancelled,
        summary.handed_back,
        summary.given_up,
        summary.lost
    ))?;
    Ok(Outcome::Success)
}
