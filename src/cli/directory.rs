//! `bulkops directory`: create, generate and inspect the local directory.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Outcome, write_stdout};
use crate::directory::local::{self, GenerateOptions, LocalDirectory, Stats, TenantSource};
use crate::error::Error;

/// Arguments of `bulkops directory`.
#[derive(Debug, Args)]
pub(super) struct DirectoryArgs {
    #[command(subcommand)]
    command: DirectoryCommand,
    /// The local directory database.
    #[arg(long, global = true, value_name = "FILE", default_value = local::DEFAULT_PATH)]
    db: PathBuf,
}

#[derive(Debug, Subcommand)]
enum DirectoryCommand {
    /// Create the local directory from tenant CSV files (the demo tenant by default).
    #[command(after_help = "Examples:
  bulkops directory init
  bulkops directory init --from my-tenant/ --db my.db --force")]
    Init {
        /// A folder with users.csv, groups.csv, devices.csv, service-principals.csv and memberships.csv.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Replace an existing directory.
        #[arg(long)]
        force: bool,
    },
    /// Create a generated directory of any size, for benchmarks and load tests.
    #[command(after_help = "Examples:
  bulkops directory generate --users 1000000 --groups 10 --members 1000 --db big.db
  bulkops directory generate --seed 7 --db rehearsal.db --force")]
    Generate {
        /// Number of users.
        #[arg(long, default_value_t = 1_000)]
        users: u64,
        /// Number of groups, of every type.
        #[arg(long, default_value_t = 50)]
        groups: u64,
        /// Number of devices.
        #[arg(long, default_value_t = 200)]
        devices: u64,
        /// Members of each group, drawn from the users.
        #[arg(long, default_value_t = 100)]
        members: u64,
        /// Seed of the generator: the same seed makes the same directory.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Replace an existing directory.
        #[arg(long)]
        force: bool,
    },
    /// Copy a tenant from Microsoft Graph into a local directory, to rehearse on.
    ///
    /// Reads users, service principals, groups, devices and every group's
    /// direct members, paced by the tenant's read budget. A pull that is
    /// stopped continues from its last saved page when run again; only a
    /// finished pull takes the database's name.
    #[command(after_help = "Examples:
  bulkops directory pull --profile contoso-prod --db rehearsal.db
  bulkops directory pull --profile contoso-prod --db rehearsal.db --force
  bulkops emulate --db rehearsal.db      # then rehearse against the copy")]
    Pull {
        /// The directory profile to read from, in the profiles file.
        #[arg(long, value_name = "NAME")]
        profile: String,
        /// The profiles file.
        #[arg(long, value_name = "FILE", default_value = "bulkops.yaml")]
        profiles: PathBuf,
        /// Replace an existing directory database.
        #[arg(long)]
        force: bool,
    },
    /// Show how many objects the local directory holds.
    #[command(after_help = "Examples:
  bulkops directory stats
  bulkops directory stats --db rehearsal.db")]
    Stats,
}

/// Runs a `bulkops directory` command.
pub(super) fn run(args: &DirectoryArgs) -> Result<Outcome, Error> {
    let directory = match &args.command {
        DirectoryCommand::Init { from, force } => {
            let source = from
                .clone()
                .map_or(TenantSource::Demo, TenantSource::Folder);
            LocalDirectory::create(&args.db, &source, *force)?
        }
        DirectoryCommand::Generate {
            users,
            groups,
            devices,
            members,
            seed,
            force,
        } => {
            let options = GenerateOptions {
                users: *users,
                groups: *groups,
                devices: *devices,
                members: *members,
                seed: *seed,
            };
            LocalDirectory::generate(&args.db, &options, *force)?
        }
        DirectoryCommand::Stats => LocalDirectory::open(&args.db)?,
        DirectoryCommand::Pull {
            profile,
            profiles,
            force,
        } => return pull(args, profile, profiles, *force),
    };
    let stats = directory.stats()?;
    write_stdout(&describe(&directory, &stats))?;
    Ok(Outcome::Success)
}

fn pull(
    args: &DirectoryArgs,
    profile: &str,
    profiles: &std::path::Path,
    force: bool,
) -> Result<Outcome, Error> {
    use crate::msgraph::client::ClientError;
    use crate::msgraph::profile;
    let all = profile::load(profiles).map_err(ClientError::Profile)?;
    let chosen = profile::find(&all, profile).map_err(ClientError::Profile)?;
    let summary =
        super::runtime()?.block_on(crate::lifecycle::pull::pull(chosen, args.db.clone(), force))?;
    let mut text = describe(&summary.directory, &summary.stats);
    let _ = writeln!(
        text,
        "pulled{} in {:.1} s: {} Graph requests, {} throttled, {} resource units",
        if summary.resumed { " (continued)" } else { "" },
        summary.elapsed.as_secs_f64(),
        summary.requests,
        summary.throttled,
        summary.resource_units
    );
    write_stdout(&text)?;
    Ok(Outcome::Success)
}

fn describe(directory: &LocalDirectory, stats: &Stats) -> String {
    let mut out = format!("local directory `{}`\n", directory.path().display());
    let rows = [
        ("users", stats.users),
        ("groups", stats.groups),
        ("devices", stats.devices),
        ("service principals", stats.service_principals),
        ("memberships", stats.memberships),
    ];
    for (name, count) in rows {
        let _ = writeln!(out, "  {name:<19}{count:>10}");
    }
    out
}
