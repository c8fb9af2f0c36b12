//! The top-level error: the only error type `main` sees, and the one place that
//! maps failures onto the documented exit codes.

use crate::directory::local::LocalError;
use crate::emulator::EmulatorError;
use crate::exit_code;
use crate::manifest::{FolderError, LoadError};
use crate::msgraph::client::ClientError;
use crate::msgraph::profile::ProfileError;
use crate::store::StoreError;

/// Everything that can make a `bulkops` command fail.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// Some manifests had problems or could not be read; each was reported as it was found.
    #[error("{}", validation_summary(*.invalid, *.unreadable, *.total))]
    Validation {
        invalid: usize,
        unreadable: usize,
        total: usize,
    },
    /// A path named on the command line holds no manifests or cannot be listed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Folder(#[from] FolderError),
    /// A manifest could not be read or is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    /// The local directory could not be created, opened or read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Directory(#[from] LocalError),
    /// The job store could not be opened or written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    /// The manifest names a directory profile that is not configured.
    #[error("the directory profile `{name}` is not configured: `{}` does not exist", profiles.display())]
    #[diagnostic(
        code(bulkops::directory::profile),
        help(
            "describe the profile in bulkops.yaml beside the manifest (or pass --profiles FILE), or use `directory: local` for the embedded directory"
        )
    )]
    UnknownDirectory {
        name: String,
        profiles: std::path::PathBuf,
    },
    /// Microsoft Graph could not be used: its profile, its credentials.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(#[from] crate::msgraph::client::ClientError),
    /// `--resume` named a run that already completed.
    #[error("run `{run_id}` has already completed")]
    #[diagnostic(
        code(bulkops::run::completed),
        help("`bulkops jobs list` shows runs that can be resumed")
    )]
    RunAlreadyCompleted { run_id: String },
    /// The run would remove more members than its guard allows.
    #[error("this run would remove {removals} members; the guard allows {limit}")]
    #[diagnostic(
        code(bulkops::guard::removals),
        help(
            "check the preview with `bulkops plan`; if the removals are intended, raise `guards.maxRemovals` or pass `--allow-removals {removals}`"
        )
    )]
    TooManyRemovals { removals: u64, limit: u64 },
    /// The run would delete more devices than its guard allows.
    #[error("this run would delete {deletions} devices; the guard allows {limit}")]
    #[diagnostic(
        code(bulkops::guard::device_deletions),
        help(
            "deleted devices cannot be restored; check the preview with `bulkops plan`, and if the deletions are intended, raise `guards.maxDeviceDeletions`"
        )
    )]
    TooManyDeviceDeletions { deletions: u64, limit: u64 },
    /// Some steps or jobs failed; the summary names them.
    #[error("run `{run_id}` failed")]
    #[diagnostic(
        code(bulkops::run::failed),
        help("the result files list every failed row with its reason")
    )]
    RunFailed { run_id: String },
    /// The run was stopped with Ctrl-C.
    #[error("run `{run_id}` was stopped")]
    #[diagnostic(
        code(bulkops::run::cancelled),
        help("finish it with `bulkops apply --resume {run_id}`")
    )]
    RunCancelled { run_id: String },
    /// A file could not be written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    OutputFile(#[from] crate::bulkcsv::output::OutputError),
    /// A job's file could not be copied.
    #[error("cannot copy `{}`", path.display())]
    #[diagnostic(
        code(bulkops::jobs::copy),
        help("the file may have been moved or deleted since the job ran")
    )]
    Copy {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Any error of `plan --detailed-exitcode`, which exits 1 for all of them.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Detailed(Box<Error>),
    /// The emulator could not start.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Emulator(#[from] EmulatorError),
    /// `bulkops emulate` was asked to listen beyond loopback without `--allow-remote`.
    #[error("the emulator listens on loopback only; {address} is not a loopback address")]
    #[diagnostic(
        code(bulkops::emulate::remote),
        help("use 127.0.0.1 or [::1], or pass --allow-remote if other machines must reach it")
    )]
    RemoteEmulator { address: std::net::SocketAddr },
    /// A variable the command needs is not in the environment.
    #[error("the environment variable `{name}` is not set")]
    #[diagnostic(
        code(bulkops::environment),
        help("set it in the environment of bulkops")
    )]
    MissingEnvironment { name: String },
    /// The async runtime could not start.
    #[error("cannot start the runtime")]
    #[diagnostic(code(bulkops::runtime))]
    Runtime(#[source] std::io::Error),
    /// Writing the command's output failed.
    #[error("cannot write the output")]
    #[diagnostic(
        code(bulkops::output),
        help("check that the output is still open and the disk is not full")
    )]
    Output(#[source] std::io::Error),
}

fn validation_summary(invalid: usize, unreadable: usize, total: usize) -> String {
    let noun = if total == 1 { "manifest" } else { "manifests" };
    let verb =
        |count: usize, one: &'static str, many: &'static str| if count == 1 { one } else { many };
    let problems = format!(
        "{invalid} of {total} {noun} {} problems",
        verb(invalid, "has", "have")
    );
    match (invalid, unreadable) {
        (0, _) => format!("{unreadable} of {total} {noun} could not be read"),
        (_, 0) => problems,
        _ => format!("{problems}, and {unreadable} could not be read"),
    }
}

impl Error {
    /// The process exit code for this error, as documented in README.md.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Validation { invalid, .. } if *invalid > 0 => exit_code::INVALID_INPUT,
            Self::Load(LoadError::Invalid(_))
            | Self::Directory(LocalError::Seed { .. })
            | Self::Graph(ClientError::Profile(ProfileError::Invalid { .. })) => {
                exit_code::INVALID_INPUT
            }
            Self::Validation { .. }
            | Self::Folder(_)
            | Self::Load(LoadError::Read { .. })
            | Self::Directory(LocalError::MissingTenantFile { .. })
            | Self::Emulator(EmulatorError::Certificate { .. })
            | Self::Graph(
                ClientError::Profile(ProfileError::Read { .. }) | ClientError::Assertion(_),
            ) => exit_code::INPUT_UNREADABLE,
            Self::Directory(LocalError::Io { .. })
            | Self::Output(_)
            | Self::OutputFile(_)
            | Self::Copy { .. } => exit_code::OUTPUT_FAILED,
            Self::Store(StoreError::UnknownJob { .. } | StoreError::UnknownRun { .. })
            | Self::Directory(LocalError::Exists { .. })
            | Self::UnknownDirectory { .. }
            | Self::RunAlreadyCompleted { .. }
            | Self::RemoteEmulator { .. }
            | Self::MissingEnvironment { .. }
            | Self::Graph(ClientError::Profile(_)) => exit_code::USAGE,
            Self::Directory(LocalError::Sqlite(_) | LocalError::NewerSchema { .. })
            | Self::Store(_)
            | Self::RunFailed { .. }
            | Self::Detailed(_)
            | Self::Runtime(_)
            | Self::Emulator(EmulatorError::Directory(_) | EmulatorError::Listen { .. })
            | Self::Graph(_) => exit_code::FAILURE,
            Self::RunCancelled { .. } => exit_code::CANCELLED,
            Self::TooManyRemovals { .. } | Self::TooManyDeviceDeletions { .. } => {
                exit_code::GUARD_REFUSED
            }
        }
    }
}
