//! `bulkops watch`: runs each file dropped into a watched folder through its
//! workflow exactly once, and only once the file is complete.
//!
//! Events are hints, a periodic listing is the backstop and the ledger in the
//! job store is the truth: a candidate settles ([`folder`]), is claimed by an
//! atomic rename into `.processing/` ([`claim`]), runs through the run
//! lifecycle with its ledger row written in the transaction that records the
//! run ([`runs`]), and is archived to `processed/`, `failed/` or
//! `duplicates/` with its run id in its name. A restarted watch finds every
//! file left in `.processing/` and resumes its run from the journal, or
//! starts it when the crash came before the run was recorded ([`service`]).
//! Manifests are read again when they change ([`workflows`]).

pub mod claim;
mod dispatch;
mod events;
pub mod folder;
mod recovery;
mod runs;
mod service;
pub mod workflows;

use std::path::PathBuf;
use std::time::Duration;

use crate::lifecycle::Paths;
use crate::store::StoreError;

pub use service::serve;

/// How the watch service runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Manifest files or folders of manifests.
    pub manifests: Vec<PathBuf>,
    /// Where runs read and write (no trigger file: each run gets its own).
    pub paths: Paths,
    /// How often every watched folder is listed in full.
    pub rescan: Duration,
    /// List the folders this often and use no file events (network shares).
    pub poll: Option<Duration>,
    /// How long running runs may go on after a stop request.
    pub grace: Duration,
    /// Process the files there now, then exit.
    pub once: bool,
    /// How many runs may go on at once, over every workflow.
    pub max_runs: usize,
}

/// What a watch did, for its exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Runs that completed.
    pub completed: usize,
    /// Runs that failed, and files refused before a run was recorded.
    pub failed: usize,
    /// Files skipped because their content was run before.
    pub duplicates: usize,
    /// Runs left unfinished (stopped after the grace period), resumed at the
    /// next start.
    pub left: usize,
}

/// Why the watch service could not start or go on.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WatchError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Folder(#[from] claim::ClaimError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error("no manifest with `spec.trigger.watch` under {}", paths.join(", "))]
    #[diagnostic(
        code(bulkops::watch::nothing),
        help(
            "a watched workflow has `spec.trigger.watch: {{ path: FOLDER }}`; `bulkops validate` shows problems in the manifests"
        )
    )]
    NothingToWatch { paths: Vec<String> },
    #[error("two manifests name workflow `{name}`: `{}` and `{}`", first.display(), second.display())]
    #[diagnostic(
        code(bulkops::watch::same_name),
        help(
            "the ledger and the claim folders are kept by workflow name; give each manifest its own `metadata.name`"
        )
    )]
    SameName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("cannot watch for file events")]
    #[diagnostic(
        code(bulkops::watch::events),
        help(
            "the system may be out of inotify watches (`fs.inotify.max_user_watches`); `--poll 5s` lists the folders instead"
        )
    )]
    Events(#[source] notify::Error),
    #[error("cannot start the runtime")]
    #[diagnostic(code(bulkops::runtime))]
    Runtime(#[source] std::io::Error),
    #[error("this watch's lease in the job store ran out before it was renewed, so it stopped")]
    #[diagnostic(
        code(bulkops::watch::lease_lost),
        help(
            "the process stalled or lost the store for longer than its lease; other watch services take over its claimed files; start it again"
        )
    )]
    LeaseLost,
}
