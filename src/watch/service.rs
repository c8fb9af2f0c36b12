//! The watch service: one task owns every watched folder's state and
//! `select!`s over file-event hints, finished runs, the settle timers, the
//! periodic listing and stop signals. Runs go on threads of their own and
//! report back; nothing else is shared.
//!
//! At start, and for every manifest added later, the folders are prepared
//! and checked, the files an earlier watch left in `.processing/` are
//! recovered (resumed, archived or started, as the ledger and the run
//! journal say), and the folder is listed. A stop request (SIGINT, SIGTERM)
//! stops claiming; runs going on may finish within the grace period, and
//! whatever is left stays claimed for the next start.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::claim::{Claimed, Folders};
use super::events::{self, Events, Hint};
use super::folder::{self, Look, MARKER_SUFFIX, Settling, Verdict};
use super::runs::Done;
use super::workflows::{Change, Manifests, Workflow};
use super::{Settings, Summary, WatchError};
use crate::manifest::spec::CompleteSpec;
use crate::runner::stop::Stop;
use crate::steps::fault::{self, Phase};
use crate::store::{JobStore, WatchLease};
use crate::text::chain;

/// How long after a manifest event the manifests are read again, so an
/// editor's burst of writes is read once.
const RELOAD_DELAY: Duration = Duration::from_millis(250);

/// Runs the watch service until it is stopped (or, with `--once`, until the
/// files there now are processed).
pub fn serve(settings: Settings) -> Result<Summary, WatchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WatchError::Runtime)?;
    runtime.block_on(async move {
        let mut service = Service::start(settings)?;
        service.run().await
    })
}

/// A claimed file waiting for its run.
pub(super) struct Queued {
    pub(super) claimed: Claimed,
    pub(super) look: Look,
    /// The recorded run to resume, for a file a stopped watch left.
    pub(super) resume: Option<String>,
}

impl Queued {
    /// Arrival order: modification time, then name.
    fn key(&self) -> (std::time::SystemTime, &str) {
        (self.look.modified, &self.claimed.name)
    }
}

/// Which watch a run belongs to: a number given when the watch started.
pub(super) type WatchId = u64;

/// A candidate not yet complete, and when to look at it again.
struct Pending {
    settling: Settling,
    due: Instant,
}

/// One workflow's watched folder.
pub(super) struct Watched {
    pub(super) workflow: Workflow,
    pub(super) folders: Folders,
    pending: BTreeMap<String, Pending>,
    pub(super) queue: Vec<Queued>,
    pub(super) running: usize,
    /// Its manifest was removed: it claims nothing more and goes once idle.
    pub(super) retired: bool,
}

impl Watched {
    pub(super) fn idle(&self) -> bool {
        self.pending.is_empty() && self.queue.is_empty() && self.running == 0
    }

    /// How many files are found and still settling.
    pub(super) fn unsettled(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn concurrency(&self) -> usize {
        usize::try_from(self.workflow.watch.concurrency).unwrap_or(1)
    }

    pub(super) fn enqueue(&mut self, queued: Queued) {
        let at = self
            .queue
            .partition_point(|other| other.key() <= queued.key());
        self.queue.insert(at, queued);
    }
}

pub(super) struct Service {
    pub(super) settings: Settings,
    pub(super) store: JobStore,
    /// On a shared store: this service's lease, which lets several services
    /// serve one folder and take over the files of those that die.
    pub(super) lease: Option<WatchLease>,
    /// Claims taken over whose runs another process still executes: looked
    /// at again at every listing.
    pub(super) held_elsewhere: Vec<(WatchId, Claimed)>,
    pub(super) manifests: Manifests,
    /// Every watch, by the id it got when it started.
    pub(super) watched: BTreeMap<WatchId, Watched>,
    next_id: WatchId,
    pub(super) events: Option<Events>,
    pub(super) hints: mpsc::Receiver<Hint>,
    /// Kept so the hint channel never closes, with or without a watcher.
    pub(super) _hint_sender: mpsc::Sender<Hint>,
    pub(super) done_sender: mpsc::UnboundedSender<Done>,
    pub(super) done: mpsc::UnboundedReceiver<Done>,
    pub(super) stop: Stop,
    pub(super) running: usize,
    pub(super) summary: Summary,
    /// When a stop was asked for, the end of the grace period.
    pub(super) stopping: Option<Instant>,
    pub(super) reload_at: Option<Instant>,
}

impl Service {
    fn start(settings: Settings) -> Result<Self, WatchError> {
        let store = JobStore::open_at(&settings.paths.state, crate::store::Create::IfMissing)?;
        let lease = store.hold_watch()?;
        let (hint_sender, hints) = mpsc::channel(events::CAPACITY);
        let events = if settings.once || settings.poll.is_some() {
            None
        } else {
            Some(Events::start(hint_sender.clone()).map_err(WatchError::Events)?)
        };
        let (done_sender, done) = mpsc::unbounded_channel();
        let mut service = Self {
            manifests: Manifests::new(settings.manifests.clone()),
            settings,
            store,
            lease,
            held_elsewhere: Vec::new(),
            watched: BTreeMap::new(),
            next_id: 0,
            events,
            hints,
            _hint_sender: hint_sender,
            done_sender,
            done,
            stop: Stop::new(),
            running: 0,
            summary: Summary::default(),
            stopping: None,
            reload_at: None,
        };
        service.load_first()?;
        service.watch_manifest_roots();
        Ok(service)
    }

    /// Reads the manifests and prepares every workflow; at start, a folder
    /// that cannot be used is an error, not a log line.
    fn load_first(&mut self) -> Result<(), WatchError> {
        for change in self.manifests.scan() {
            if let Change::Loaded(workflow) = change {
                self.add(*workflow)?;
            }
        }
        if self.watched.is_empty() {
            return Err(WatchError::NothingToWatch {
                paths: self
                    .settings
                    .manifests
                    .iter()
                    .map(|path| format!("`{}`", path.display()))
                    .collect(),
            });
        }
        Ok(())
    }

    fn watch_manifest_roots(&mut self) {
        let Some(events) = &mut self.events else {
            return;
        };
        for root in self.manifests.roots() {
            if root.is_dir() {
                events.add(root, true);
            } else if let Some(parent) = root.parent() {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                events.add(parent, false);
            }
        }
    }

    /// The watch that serves a manifest now.
    fn serving(&self, manifest: &Path) -> Option<WatchId> {
        self.watched
            .iter()
            .find(|(_, watched)| !watched.retired && watched.workflow.manifest == manifest)
            .map(|(id, _)| *id)
    }

    /// Starts watching a workflow's folder: prepares it, recovers what an
    /// earlier watch left, and lists it. A watch of the same workflow and
    /// folder that was stopped in this process but still has runs going on
    /// (its manifest was removed and put back, or renamed) is taken up again.
    fn add(&mut self, workflow: Workflow) -> Result<(), WatchError> {
        let folder = workflow.folder();
        if let Some((&id, _)) = self.watched.iter().find(|(_, other)| {
            other.retired
                && other.workflow.name() == workflow.name()
                && other.folders.watched == folder
        }) {
            self.revive(id, workflow);
            return Ok(());
        }
        if let Some(other) = self
            .watched
            .values()
            .find(|other| !other.retired && other.workflow.name() == workflow.name())
        {
            return Err(WatchError::SameName {
                name: workflow.name().to_owned(),
                first: other.workflow.manifest.clone(),
                second: workflow.manifest.clone(),
            });
        }
        let folders = Folders::prepare(
            &folder,
            workflow.name(),
            &workflow.watch.archive,
            self.lease.as_ref().map(WatchLease::owner),
        )?;
        tracing::info!(workflow = %workflow.name(), folder = %folder.display(), pattern = %workflow.watch.pattern, "watching");
        if let Some(events) = &mut self.events {
            events.add(&folder, false);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.watched.insert(
            id,
            Watched {
                workflow,
                folders,
                pending: BTreeMap::new(),
                queue: Vec::new(),
                running: 0,
                retired: false,
            },
        );
        self.recover(id);
        self.list(id);
        Ok(())
    }

    /// Takes up a stopped watch again with a new version of its workflow.
    fn revive(&mut self, id: WatchId, workflow: Workflow) {
        let Some(watched) = self.watched.get_mut(&id) else {
            return;
        };
        if !Self::take_version(watched, workflow) {
            return;
        }
        watched.retired = false;
        tracing::info!(workflow = %watched.workflow.name(), "watching again");
        self.list(id);
    }

    /// Gives a watch a new version of its workflow (same name and folder);
    /// false when its new archive folders cannot be used.
    fn take_version(watched: &mut Watched, workflow: Workflow) -> bool {
        if watched.workflow.watch.archive != workflow.watch.archive
            && let Err(error) = watched.folders.rearchive(&workflow.watch.archive)
        {
            tracing::error!(workflow = %workflow.name(), error = %chain(&error), "the edited archive folders cannot be used: the manifest is not reloaded");
            return false;
        }
        tracing::info!(workflow = %workflow.name(), manifest = %workflow.manifest.display(), "manifest reloaded");
        watched.workflow = workflow;
        true
    }

    /// Applies what changed in the manifests since they were last read.
    pub(super) fn reload(&mut self) {
        self.reload_at = None;
        for change in self.manifests.scan() {
            match change {
                Change::Loaded(workflow) => self.replace(*workflow),
                Change::Removed(manifest) => {
                    if let Some(id) = self.serving(&manifest) {
                        self.retire(id);
                    }
                }
            }
        }
        self.drop_retired();
    }

    /// A valid new version of a manifest. The same workflow on the same
    /// folder keeps its state (claimed files, runs going on, the lock) and
    /// takes the new version for runs that start from now on; another name
    /// or folder is a new watch, and the old one finishes what it claimed.
    fn replace(&mut self, workflow: Workflow) {
        if let Some(id) = self.serving(&workflow.manifest) {
            let watched = self.watched.get_mut(&id).expect("the watch serving it");
            if watched.workflow.name() == workflow.name()
                && watched.folders.watched == workflow.folder()
            {
                if Self::take_version(watched, workflow) {
                    self.list(id);
                }
                return;
            }
            self.retire(id);
            self.drop_retired();
        }
        let (name, manifest) = (workflow.name().to_owned(), workflow.manifest.clone());
        if let Err(error) = self.add(workflow) {
            tracing::error!(workflow = %name, manifest = %manifest.display(), error = %chain(&error), "cannot watch this workflow");
        }
    }

    /// Stops claiming for a removed manifest; its claimed files still run.
    fn retire(&mut self, id: WatchId) {
        if let Some(watched) = self.watched.get_mut(&id) {
            watched.retired = true;
            watched.pending.clear();
            tracing::info!(workflow = %watched.workflow.name(), "watch stopped");
        }
    }

    /// Forgets stopped watches with nothing left to do.
    pub(super) fn drop_retired(&mut self) {
        let done: Vec<WatchId> = self
            .watched
            .iter()
            .filter(|(_, watched)| watched.retired && watched.idle())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(watched) = self.watched.remove(&id)
                && let Some(events) = &mut self.events
                && !self
                    .watched
                    .values()
                    .any(|other| other.folders.watched == watched.folders.watched)
            {
                events.remove(&watched.folders.watched);
            }
        }
    }

    /// Lists one watched folder and observes every candidate in it.
    fn list(&mut self, id: WatchId) {
        let Some(watched) = self.watched.get_mut(&id) else {
            return;
        };
        if watched.retired {
            return;
        }
        let spec = &watched.workflow.watch;
        let listed = match folder::list(&watched.folders.watched, &spec.pattern, spec.complete) {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(folder = %watched.folders.watched.display(), error = %error, "cannot list the watched folder");
                return;
            }
        };
        tracing::debug!(folder = %watched.folders.watched.display(), candidates = listed.len(), "listed");
        watched.pending.retain(|name, _| listed.contains_key(name));
        let now = Instant::now();
        for (name, look) in listed {
            self.observe_look(id, &name, Some(look), now);
        }
    }

    pub(super) fn list_all(&mut self) {
        let ids: Vec<WatchId> = self.watched.keys().copied().collect();
        for id in ids {
            self.list(id);
        }
    }

    /// A hint about `path`: a manifest may have changed, or a file in a
    /// watched folder.
    pub(super) fn hint(&mut self, path: &Path) {
        let manifest_like = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if manifest_like && self.reload_at.is_none() {
            self.reload_at = Some(Instant::now() + RELOAD_DELAY);
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        let Some(name) = name.to_str() else { return };
        let ids: Vec<WatchId> = self
            .watched
            .iter()
            .filter(|(_, watched)| !watched.retired && watched.folders.watched == parent)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.observe(id, name);
        }
    }

    /// Looks at one name in a watched folder now.
    fn observe(&mut self, id: WatchId, name: &str) {
        let Some(watched) = self.watched.get_mut(&id) else {
            return;
        };
        let spec = &watched.workflow.watch;
        let name = match name.strip_suffix(MARKER_SUFFIX) {
            Some(base) if spec.complete == CompleteSpec::Marker => base,
            _ => name,
        };
        if !folder::is_candidate(name, &spec.pattern, spec.complete) {
            // Its pattern may have changed since it was first seen.
            watched.pending.remove(name);
            return;
        }
        match Look::at(&watched.folders.dropped(name)) {
            Ok(look) => self.observe_look(id, name, look, Instant::now()),
            Err(error) => {
                // The next listing looks again.
                watched.pending.remove(name);
                tracing::warn!(file = %name, error = %error, "cannot look at a dropped file");
            }
        }
    }

    fn observe_look(&mut self, id: WatchId, name: &str, look: Option<Look>, now: Instant) {
        let Some(watched) = self.watched.get_mut(&id) else {
            return;
        };
        let Some(look) = look else {
            watched.pending.remove(name);
            return;
        };
        let spec = &watched.workflow.watch;
        if self.stopping.is_some() || watched.retired || spec.complete == CompleteSpec::Marker {
            // Nothing to wait for: no claims now, or a marker says when.
            watched.pending.remove(name);
        }
        if self.stopping.is_some() || watched.retired {
            return;
        }
        if spec.complete == CompleteSpec::Marker {
            let marker = watched.folders.dropped(&format!("{name}{MARKER_SUFFIX}"));
            if matches!(Look::at(&marker), Ok(Some(_))) {
                self.claim(id, name, look, true);
            }
            return;
        }
        let settle = spec.settle.as_duration();
        let pending = watched.pending.entry(name.to_owned()).or_insert(Pending {
            settling: Settling::new(look, now),
            due: now + settle,
        });
        match pending.settling.observe(look, now, settle) {
            Verdict::Wait(due) => pending.due = due,
            Verdict::Complete(look) => {
                watched.pending.remove(name);
                self.claim(id, name, look, false);
            }
        }
    }

    /// When the next candidate's settle time is up.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.watched
            .values()
            .flat_map(|watched| watched.pending.values().map(|pending| pending.due))
            .min()
    }

    /// Looks again at every candidate whose settle time is up.
    pub(super) fn observe_due(&mut self) {
        let now = Instant::now();
        let due: Vec<(WatchId, String)> = self
            .watched
            .iter()
            .flat_map(|(id, watched)| {
                watched
                    .pending
                    .iter()
                    .filter(|(_, pending)| pending.due <= now)
                    .map(|(name, _)| (*id, name.clone()))
            })
            .collect();
        for (id, name) in due {
            self.observe(id, &name);
        }
    }

    fn claim(&mut self, id: WatchId, name: &str, look: Look, marker: bool) {
        if self.claim_once(id, name, look, marker) && !marker {
            // Changed between its last look and the claim: it settles again.
            self.observe(id, name);
        }
    }

    /// Claims a complete file; whether it changed and must be looked at again.
    fn claim_once(&mut self, id: WatchId, name: &str, look: Look, marker: bool) -> bool {
        let Some(watched) = self.watched.get_mut(&id) else {
            return false;
        };
        let workflow = watched.workflow.name().to_owned();
        if self.lease.as_ref().is_some_and(WatchLease::is_lost) {
            // Other services may have taken this one's files over.
            return false;
        }
        match watched.folders.claim(name, look, marker) {
            Ok(Some(claimed)) => {
                tracing::info!(workflow = %workflow, file = %name, size = look.size, claim = %claimed.id, "claimed");
                if fault::due(Phase::Claimed) {
                    fault::hold_blocking(Phase::Claimed);
                }
                watched.enqueue(Queued {
                    claimed,
                    look,
                    resume: None,
                });
            }
            Ok(None) => {
                tracing::debug!(workflow = %workflow, file = %name, "not claimed: gone or changed");
                return true;
            }
            Err(error) => {
                tracing::warn!(workflow = %workflow, file = %name, error = %error, "cannot claim a dropped file");
            }
        }
        false
    }
}
