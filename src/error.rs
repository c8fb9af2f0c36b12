//! The top-level error: the only error type `main` sees, and the one place that
//! maps failures onto the documented exit codes.

use crate::directory::local::LocalError;
use crate::emulator::EmulatorError;
use crate::exit_code;
use crate::lifecycle::LifecycleError;
use crate::manifest::{FolderError, LoadError};
use crate::msgraph::client::ClientError;
use crate::msgraph::profile::ProfileError;
use crate::steps::FailureClass;
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
    /// A run could not start or go on.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The jobs page could not be served.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Serve(#[from] crate::web::WebError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Worker(#[from] crate::worker::WorkerError),
    /// Microsoft Graph could not be used: its profile, its credentials.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(#[from] crate::msgraph::client::ClientError),
    /// A tenant could not be copied into a local directory.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pull(#[from] crate::lifecycle::pull::PullError),
    /// Some steps or jobs failed; the summary names them.
    #[error("run `{run_id}` failed")]
    #[diagnostic(
        code(bulkops::run::failed),
        help(
            "the summary names the failed steps; the result files list every failed row with its reason"
        )
    )]
    RunFailed {
        run_id: String,
        /// The most serious kind of step failure, if a step failed.
        class: Option<FailureClass>,
    },
    /// The run was stopped with Ctrl-C.
    #[error("run `{run_id}` was stopped")]
    #[diagnostic(
        code(bulkops::run::cancelled),
        help("finish it with `bulkops apply --resume {run_id}`")
    )]
    RunCancelled { run_id: String },
    /// `plan` could not preview some steps.
    #[error("{} cannot be previewed: {}", plural(steps.len(), "step", "steps"), steps.join(", "))]
    #[diagnostic(
        code(bulkops::plan::unknown),
        help(
            "the preview above says why for each; a plan never reports \"no changes\" for what it cannot see"
        )
    )]
    PreviewFailed { steps: Vec<String> },
    /// `plan` found that `apply`'s guards would refuse the run.
    #[error("{verdict}")]
    #[diagnostic(
        code(bulkops::plan::guard),
        help(
            "if the changes are intended, raise the guard in the manifest (for removals, `apply --allow-removals N` raises it for one run)"
        )
    )]
    GuardWouldRefuse { verdict: String },
    /// `jobs delete` was asked to delete a job that must be kept.
    #[error("job `{id}` cannot be deleted: {why}")]
    #[diagnostic(
        code(bulkops::jobs::in_use),
        help(
            "wait until the run has ended, or finish it with `bulkops apply --resume`; `--abandon` deletes the jobs of a run that did not finish, which can then no longer be resumed"
        )
    )]
    JobInUse { id: String, why: String },
    /// A question on the terminal was answered no.
    #[error("nothing was deleted")]
    #[diagnostic(
        code(bulkops::jobs::not_confirmed),
        help("pass `--yes` to delete without asking")
    )]
    NotConfirmed,
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
    /// `emulate` was pointed at a database that does not exist.
    #[error("`{}` does not exist", path.display())]
    #[diagnostic(
        code(bulkops::emulate::missing),
        help(
            "pass --init to create it with the demo tenant, or create it first with `bulkops directory init --db FILE` (or `generate`)"
        )
    )]
    EmulatedDirectoryMissing { path: std::path::PathBuf },
    /// A variable the command needs is not in the environment.
    #[error("the environment variable `{name}` is not set")]
    #[diagnostic(
        code(bulkops::environment),
        help("set it in the environment of bulkops")
    )]
    MissingEnvironment { name: String },
    /// The watch service could not start or go on.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Watch(#[from] crate::watch::WatchError),
    /// `watch --once`: some runs failed or files were refused.
    #[error("{} of the watched files failed", plural(*.failed, "run", "runs"))]
    #[diagnostic(
        code(bulkops::watch::failed),
        help(
            "the log names each failed run and file; the files are in the failed folder, and `bulkops jobs list` shows the runs"
        )
    )]
    WatchRunsFailed { failed: usize },
    /// The watch stopped with runs that had not ended.
    #[error("the watch stopped with {} unfinished", plural(*.left, "run", "runs"))]
    #[diagnostic(
        code(bulkops::watch::left),
        help("their files stay in `.processing/`; the next `bulkops watch` resumes them")
    )]
    WatchRunsLeft { left: usize },
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

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

impl Error {
    /// The process exit code for this error, as documented in README.md.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Validation { invalid, .. } if *invalid > 0 => exit_code::INVALID_INPUT,
            Self::Validation { .. }
            | Self::Folder(_)
            | Self::Emulator(EmulatorError::Certificate { .. } | EmulatorError::Tls { .. })
            | Self::EmulatedDirectoryMissing { .. } => exit_code::INPUT_UNREADABLE,
            Self::Load(error) => load_code(error),
            Self::Directory(error) | Self::Emulator(EmulatorError::Directory(error)) => {
                local_code(error)
            }
            Self::Store(error) => store_code(error),
            Self::Graph(error) => graph_code(error),
            Self::Pull(error) => pull_code(error),
            Self::Lifecycle(error) => lifecycle_code(error),
            Self::Emulator(EmulatorError::Listen { .. }) | Self::Detailed(_) | Self::Runtime(_) => {
                exit_code::FAILURE
            }
            Self::Output(_) | Self::OutputFile(_) | Self::Copy { .. } => exit_code::OUTPUT_FAILED,
            Self::RemoteEmulator { .. }
            | Self::MissingEnvironment { .. }
            | Self::JobInUse { .. }
            | Self::NotConfirmed => exit_code::USAGE,
            Self::RunFailed { class, .. } => class.map_or(exit_code::FAILURE, class_code),
            Self::PreviewFailed { .. } | Self::WatchRunsFailed { .. } => exit_code::FAILURE,
            Self::RunCancelled { .. } | Self::WatchRunsLeft { .. } => exit_code::CANCELLED,
            Self::Watch(error) => watch_code(error),
            Self::Serve(error) => serve_code(error),
            Self::Worker(error) => worker_code(error),
            Self::GuardWouldRefuse { .. } => exit_code::GUARD_REFUSED,
        }
    }
}

/// The exit code of a run whose worst step failure is of this kind.
fn class_code(class: FailureClass) -> i32 {
    match class {
        FailureClass::Other => exit_code::FAILURE,
        FailureClass::InputInvalid => exit_code::INVALID_INPUT,
        FailureClass::InputUnreadable => exit_code::INPUT_UNREADABLE,
        FailureClass::Output => exit_code::OUTPUT_FAILED,
        FailureClass::Guard => exit_code::GUARD_REFUSED,
    }
}

fn worker_code(error: &crate::worker::WorkerError) -> i32 {
    use crate::worker::WorkerError;
    match error {
        WorkerError::NotShared { .. } => exit_code::USAGE,
        WorkerError::Store(error) => store_code(error),
        WorkerError::Lifecycle(error) => lifecycle_code(error),
        WorkerError::Signals(_) => exit_code::FAILURE,
    }
}

fn serve_code(error: &crate::web::WebError) -> i32 {
    use crate::web::WebError;
    match error {
        WebError::RemoteNotAllowed { .. } => exit_code::USAGE,
        WebError::Store(error) => store_code(error),
        WebError::Lifecycle(error) => lifecycle_code(error),
        WebError::Bind { .. } | WebError::Io(_) => exit_code::FAILURE,
    }
}

fn watch_code(error: &crate::watch::WatchError) -> i32 {
    use crate::watch::WatchError;
    match error {
        WatchError::Store(error) => store_code(error),
        WatchError::NothingToWatch { .. } => exit_code::INPUT_UNREADABLE,
        WatchError::SameName { .. } => exit_code::INVALID_INPUT,
        WatchError::LeaseLost => exit_code::BUSY,
        WatchError::Folder(crate::watch::claim::ClaimError::Held { .. }) => exit_code::USAGE,
        WatchError::Folder(_) | WatchError::Events(_) | WatchError::Runtime(_) => {
            exit_code::FAILURE
        }
    }
}

fn load_code(error: &LoadError) -> i32 {
    match error {
        LoadError::Invalid(_) => exit_code::INVALID_INPUT,
        LoadError::Read { .. } => exit_code::INPUT_UNREADABLE,
    }
}

fn local_code(error: &LocalError) -> i32 {
    match error {
        LocalError::Seed { .. } | LocalError::Empty { .. } | LocalError::NotADirectory { .. } => {
            exit_code::INVALID_INPUT
        }
        LocalError::MissingTenantFile { .. } => exit_code::INPUT_UNREADABLE,
        LocalError::Io { .. } => exit_code::OUTPUT_FAILED,
        LocalError::Exists { .. }
        | LocalError::InUse { .. }
        | LocalError::PullRunning { .. }
        | LocalError::PullUnfinished { .. } => exit_code::USAGE,
        LocalError::Sqlite(_) | LocalError::Database { .. } | LocalError::NewerSchema { .. } => {
            exit_code::FAILURE
        }
    }
}

fn store_code(error: &StoreError) -> i32 {
    match error {
        StoreError::UnknownJob { .. }
        | StoreError::UnknownRun { .. }
        | StoreError::UnknownGroup { .. }
        | StoreError::RunHeld { .. }
        | StoreError::DuplicateContent { .. }
        | StoreError::Location(_) => exit_code::USAGE,
        StoreError::Missing { .. } => exit_code::INPUT_UNREADABLE,
        StoreError::Empty { .. } | StoreError::NotAStore { .. } => exit_code::INVALID_INPUT,
        StoreError::Io { .. } => exit_code::OUTPUT_FAILED,
        StoreError::Connect { .. }
        | StoreError::LeaseLost { .. }
        | StoreError::ClaimRecorded { .. }
        | StoreError::WatchLeaseLost { .. } => exit_code::BUSY,
        StoreError::Sqlite(_)
        | StoreError::Postgres(_)
        | StoreError::Unexpected { .. }
        | StoreError::NewerSchema { .. } => exit_code::FAILURE,
    }
}

fn pull_code(error: &crate::lifecycle::pull::PullError) -> i32 {
    use crate::lifecycle::pull::PullError;
    match error {
        PullError::Local(error) => local_code(error),
        PullError::Graph(error) => graph_code(error),
        PullError::OtherSource { .. } => exit_code::USAGE,
        PullError::Unexpected(_) => exit_code::FAILURE,
    }
}

fn graph_code(error: &ClientError) -> i32 {
    match error {
        ClientError::Profile(ProfileError::Invalid { .. }) => exit_code::INVALID_INPUT,
        ClientError::Profile(ProfileError::Read { .. }) | ClientError::Assertion(_) => {
            exit_code::INPUT_UNREADABLE
        }
        ClientError::Profile(_) => exit_code::USAGE,
        _ => exit_code::FAILURE,
    }
}

fn lifecycle_code(error: &LifecycleError) -> i32 {
    match error {
        LifecycleError::Store(error) => store_code(error),
        LifecycleError::Directory(error) => local_code(error),
        LifecycleError::Graph(error) => graph_code(error),
        LifecycleError::Load(error) => load_code(error),
        LifecycleError::UnknownDirectory { .. }
        | LifecycleError::TriggerFileMissing { .. }
        | LifecycleError::TriggerFileUnused { .. }
        | LifecycleError::DirectoryChanged { .. }
        | LifecycleError::RunAlreadyCompleted { .. }
        | LifecycleError::NotQueued { .. }
        | LifecycleError::RunClosed { .. }
        | LifecycleError::InputChanged { .. }
        | LifecycleError::NotSaveable { .. } => exit_code::USAGE,
        LifecycleError::InputMissing { .. } => exit_code::INPUT_UNREADABLE,
        LifecycleError::OutputRoot { .. } | LifecycleError::Io { .. } => exit_code::OUTPUT_FAILED,
        LifecycleError::Runtime(_)
        | LifecycleError::RecordedPlan { .. }
        | LifecycleError::Identity { .. } => exit_code::FAILURE,
        LifecycleError::CheckFailed { class, .. } => class_code(*class),
        LifecycleError::TooManyRemovals { .. }
        | LifecycleError::TooManyDeviceDeletions { .. }
        | LifecycleError::JournalAboveLimit { .. } => exit_code::GUARD_REFUSED,
        LifecycleError::StalePlan { .. } | LifecycleError::PlanApplied { .. } => {
            exit_code::STALE_PLAN
        }
        LifecycleError::PlanFile(error) => match **error {
            crate::lifecycle::saved::format::PlanFileError::Read { .. } => {
                exit_code::INPUT_UNREADABLE
            }
            crate::lifecycle::saved::format::PlanFileError::Write { .. } => {
                exit_code::OUTPUT_FAILED
            }
            _ => exit_code::INVALID_INPUT,
        },
        LifecycleError::StoppedBeforeRun => exit_code::CANCELLED,
        LifecycleError::DirectoryBusy { .. } => exit_code::BUSY,
    }
}
