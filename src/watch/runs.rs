//! One claimed file's run, on a thread of its own: its content is hashed for
//! the ledger, a duplicate is recognised before anything is checked, and the
//! run goes through the same lifecycle as `bulkops apply` (a resume for a
//! file whose run a stopped watch left unfinished). What happened goes back
//! to the service as a [`Done`]; a panic is reported too, so a run never
//! takes the service down or leaves it waiting.

use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;

use super::claim::Claimed;
use super::folder::Look;
use crate::files::input::Fingerprint;
use crate::lifecycle::{self, Finished, Hooks, LifecycleError, Options, Paths, Start};
use crate::manifest::LoadedManifest;
use crate::manifest::spec::DuplicatesSpec;
use crate::runner::stop::Stop;
use crate::store::{Create, JobStore, LedgerEntry};

/// What a run thread is asked to do.
pub(super) struct Request {
    pub(super) watch: super::service::WatchId,
    pub(super) workflow: String,
    pub(super) claimed: Claimed,
    pub(super) look: Look,
    pub(super) how: How,
    pub(super) paths: Paths,
    pub(super) stop: Stop,
    /// On a shared store, this watch service: its lease must hold when the
    /// run is recorded.
    pub(super) service: Option<String>,
}

/// A new run of the workflow as loaded now, or the resume of a recorded run.
pub(super) enum How {
    New {
        loaded: Box<LoadedManifest>,
        duplicates: DuplicatesSpec,
    },
    Resume(String),
}

/// What became of a claimed file's run.
pub(super) enum Outcome {
    /// The content was run before (by this run), and duplicates are skipped.
    Duplicate { entry: LedgerEntry, earlier: String },
    /// The lifecycle ran (or refused) the run.
    Ran {
        entry: Option<LedgerEntry>,
        result: Box<Result<Finished, LifecycleError>>,
    },
    /// The file could not be read, or the run thread failed unexpectedly.
    Broken {
        entry: Option<LedgerEntry>,
        why: String,
    },
}

/// A finished run thread's report.
pub(super) struct Done {
    /// The watch that started the run.
    pub(super) watch: super::service::WatchId,
    pub(super) claimed: Claimed,
    pub(super) outcome: Outcome,
}

/// Starts the run of a claimed file on its own thread.
pub(super) fn spawn(request: Request, done: UnboundedSender<Done>) -> std::io::Result<()> {
    let span =
        tracing::info_span!("watch", workflow = %request.workflow, file = %request.claimed.name);
    std::thread::Builder::new()
        .name(format!("run {}", request.claimed.name))
        .spawn(move || {
            let _entered = span.enter();
            let watch = request.watch;
            let claimed = request.claimed.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(request)))
                .unwrap_or_else(|panic| Outcome::Broken {
                    entry: None,
                    why: format!("the run stopped unexpectedly: {}", panic_text(&*panic)),
                });
            let _ = done.send(Done {
                watch,
                claimed,
                outcome,
            });
        })
        .map(drop)
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

fn run(request: Request) -> Outcome {
    let entry = match entry_of(&request) {
        Ok(entry) => entry,
        Err(error) => {
            return Outcome::Broken {
                entry: None,
                why: format!("cannot read `{}`: {error}", request.claimed.path.display()),
            };
        }
    };
    let paths = Paths {
        trigger_file: Some(request.claimed.path.clone()),
        ..request.paths
    };
    let options = Options {
        allow_removals: None,
        show_progress: false,
        lock_timeout: None,
    };
    let (start, ledger) = match request.how {
        How::Resume(run_id) => (Start::Resume(run_id), None),
        How::New { loaded, duplicates } => {
            let skip = duplicates == DuplicatesSpec::Skip;
            if skip && let Some(earlier) = seen_before(&paths.state, &entry) {
                return Outcome::Duplicate { entry, earlier };
            }
            (Start::New(loaded), Some((entry.clone(), skip)))
        }
    };
    let hooks = Hooks {
        stop: Some(request.stop),
        ledger,
        started: None,
        claimed: None,
    };
    let result = lifecycle::apply_with(start, &paths, options, hooks);
    Outcome::Ran {
        entry: Some(entry),
        result: Box::new(result),
    }
}

/// The ledger entry of a claimed file: its content's SHA-256, size and times.
fn entry_of(request: &Request) -> std::io::Result<LedgerEntry> {
    let sha256 = Fingerprint::of_file(&request.claimed.path)?;
    Ok(LedgerEntry {
        workflow: request.workflow.clone(),
        sha256: sha256.as_str().to_owned(),
        name: request.claimed.name.clone(),
        size: request.look.size,
        modified: Timestamp::try_from(request.look.modified).unwrap_or(Timestamp::UNIX_EPOCH),
        claimed_at: Timestamp::now(),
        claimed_as: request.claimed.path.display().to_string(),
        claim: request.claimed.key(),
        service: request.service.clone(),
    })
}

/// The run that had this content before, if the ledger says one did. The
/// transaction that records the run checks again; this spares a duplicate
/// the checks of a run that will not happen.
fn seen_before(state: &crate::store::Location, entry: &LedgerEntry) -> Option<String> {
    let store = JobStore::open_at(state, Create::Never).ok()?;
    store
        .ledger_seen(&entry.workflow, &entry.sha256)
        .ok()
        .flatten()
}
