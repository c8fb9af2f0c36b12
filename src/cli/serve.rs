//! `bulkops serve`: the jobs page. The server is `web`'s; this file parses
//! the arguments.

use std::net::SocketAddr;

use clap::Args;

use super::Outcome;
use super::apply::StorePaths;
use crate::error::Error;
use crate::web::{self, Settings};

/// Arguments of `bulkops serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The address to listen on; a non-loopback one needs `--allow-remote`.
    #[arg(long, value_name = "ADDR", default_value = web::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Allow a non-loopback `--listen` address: a sign-in link with a random
    /// token is printed once, and every request must carry its session.
    #[arg(long)]
    allow_remote: bool,
    /// Show jobs and runs only: no delete, cancel or retry.
    #[arg(long)]
    read_only: bool,
    #[command(flatten)]
    stores: StorePaths,
}

/// Serves the page until Ctrl-C or SIGTERM.
pub(super) fn run(args: &ServeArgs) -> Result<Outcome, Error> {
    web::serve(Settings {
        listen: args.listen,
        allow_remote: args.allow_remote,
        read_only: args.read_only,
        paths: args.stores.to_paths(),
    })?;
    Ok(Outcome::Success)
}
