//! The watch service's loop, and what happens around each run: claimed files
//! start runs within the per-workflow and overall limits, in arrival order;
//! a finished run's file is archived by what the run's record says, with the
//! ledger updated first, so a restart finishes a move a crash interrupted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use super::Summary;
use super::WatchError;
use super::claim::{Claimed, Destination};
use super::runs::{self, Done, How, Outcome, Request};
use super::service::{Service, WatchId};
use crate::lifecycle::LifecycleError;
use crate::steps::fault::{self, Phase};
use crate::store::{JobStore, LedgerEntry, Status, StoreError};
use crate::text::chain;

/// How long the loop sleeps when nothing is due (it wakes on any event).
const IDLE: Duration = Duration::from_secs(3600);

impl Service {
    /// The loop: until a stop (and the runs' end or the grace period), or,
    /// with `--once`, until every file there was processed.
    pub(super) async fn run(&mut self) -> Result<Summary, WatchError> {
        let mut terminate = signal(SignalKind::terminate()).map_err(WatchError::Runtime)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(WatchError::Runtime)?;
        let periodic = !self.settings.once;
        let every = self.settings.poll.unwrap_or(self.settings.rescan);
        let mut listing = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        listing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wake = self
            .events
            .as_ref()
            .map(|events| std::sync::Arc::clone(&events.wake));
        loop {
            if self.stopping.is_none()
                && self
                    .lease
                    .as_ref()
                    .is_some_and(crate::store::WatchLease::is_lost)
            {
                self.stop_requested("lost lease");
            }
            self.start_runs();
            if self.finished() {
                if self
                    .lease
                    .as_ref()
                    .is_some_and(crate::store::WatchLease::is_lost)
                {
                    return Err(WatchError::LeaseLost);
                }
                return Ok(self.summary);
            }
            let wake_at = [self.next_due(), self.reload_at, self.stopping]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + IDLE);
            let lost = async {
                match &wake {
                    Some(wake) => wake.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(hint) = self.hints.recv() => self.hint(&hint),
                Some(done) = self.done.recv() => self.finish(done),
                () = tokio::time::sleep_until(wake_at.into()) => self.timers(),
                _ = listing.tick(), if periodic => {
                    self.reload();
                    self.recover_orphans();
                    self.list_all();
                }
                () = lost => {}
                _ = terminate.recv() => self.stop_requested("SIGTERM"),
                _ = interrupt.recv() => self.stop_requested("SIGINT"),
            }
            if self
                .events
                .as_ref()
                .is_some_and(super::events::Events::take_rescan)
            {
                tracing::info!("file events were lost: listing every watched folder");
                self.list_all();
            }
        }
    }

    /// Whether the loop is done: stopped with no run left (or the grace
    /// period over), or with `--once`, nothing left to do.
    fn finished(&mut self) -> bool {
        if let Some(deadline) = self.stopping {
            if self.running == 0 {
                self.summary.left += self.queued();
                if self.settings.once {
                    // `--once` was to process these: stopped first, they are left.
                    self.summary.left += self.unsettled();
                }
                tracing::info!(
                    claimed = self.queued(),
                    "stopped: no run is going on; files claimed and not run yet are run at the next start"
                );
                return true;
            }
            if Instant::now() >= deadline {
                self.summary.left += self.running + self.queued();
                self.stop.request();
                tracing::warn!(
                    runs = self.running,
                    "grace period over: runs going on are left to resume at the next start"
                );
                return true;
            }
            return false;
        }
        self.settings.once
            && self.reload_at.is_none()
            && self.watched.values().all(super::service::Watched::idle)
    }

    /// Files found and still settling, not claimed.
    fn unsettled(&self) -> usize {
        self.watched
            .values()
            .map(super::service::Watched::unsettled)
            .sum()
    }

    /// Files claimed and waiting for their runs.
    fn queued(&self) -> usize {
        self.watched
            .values()
            .map(|watched| watched.queue.len())
            .sum()
    }

    fn timers(&mut self) {
        if self.reload_at.is_some_and(|at| at <= Instant::now()) {
            self.reload();
        }
        self.observe_due();
    }

    fn stop_requested(&mut self, signal: &str) {
        if self.stopping.is_some() {
            tracing::warn!(
                signal,
                "second stop request: stopping now; runs going on are resumed at the next start"
            );
            self.stopping = Some(Instant::now());
            return;
        }
        self.stopping = Some(Instant::now() + self.settings.grace);
        tracing::info!(signal, runs = self.running, grace = ?self.settings.grace, "stopping: no more files are claimed; runs going on may finish");
    }

    /// Starts the runs of queued files while the limits allow.
    fn start_runs(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let ids: Vec<WatchId> = self.watched.keys().copied().collect();
        for id in ids {
            while self.running < self.settings.max_runs {
                let Some(watched) = self.watched.get_mut(&id) else {
                    break;
                };
                if watched.running >= watched.concurrency() || watched.queue.is_empty() {
                    break;
                }
                let queued = watched.queue.remove(0);
                let workflow = watched.workflow.clone();
                let how = match queued.resume.clone() {
                    Some(run_id) => How::Resume(run_id),
                    None => How::New {
                        loaded: Box::new(workflow.loaded.clone()),
                        duplicates: workflow.watch.duplicates,
                    },
                };
                let request = Request {
                    watch: id,
                    workflow: workflow.name().to_owned(),
                    claimed: queued.claimed.clone(),
                    look: queued.look,
                    how,
                    paths: self.settings.paths.clone(),
                    stop: self.stop.clone(),
                    service: self.lease.as_ref().map(|lease| lease.owner().to_owned()),
                };
                match runs::spawn(request, self.done_sender.clone()) {
                    Ok(()) => {
                        watched.running += 1;
                        self.running += 1;
                    }
                    Err(error) => {
                        tracing::error!(file = %queued.claimed.name, error = %error, "cannot start a run thread; trying again later");
                        watched.queue.insert(0, queued);
                        return;
                    }
                }
            }
        }
    }

    /// A run thread ended: the file goes where its run's end says.
    fn finish(&mut self, done: Done) {
        let id = done.watch;
        if let Some(watched) = self.watched.get_mut(&id) {
            watched.running = watched.running.saturating_sub(1);
        }
        self.running = self.running.saturating_sub(1);
        let Done {
            claimed, outcome, ..
        } = done;
        if !self.lease_valid() {
            // Other services may have taken the file over: it is theirs now.
            self.summary.left += 1;
            tracing::warn!(file = %claimed.name, "this watch lost its lease: the file is left to the service that took it over");
            return;
        }
        match outcome {
            Outcome::Duplicate { entry, earlier } => {
                self.skip_duplicate(id, &claimed, &entry, &earlier);
            }
            Outcome::Ran { entry, result } => match *result {
                Ok(finished) => {
                    let run_id = finished.report.run_id.clone();
                    self.archive_run(id, &claimed, &run_id, finished.report.status);
                }
                Err(LifecycleError::Store(StoreError::DuplicateContent { earlier })) => {
                    if let Some(entry) = entry {
                        self.skip_duplicate(id, &claimed, &entry, &earlier);
                    }
                }
                Err(LifecycleError::Store(
                    StoreError::ClaimRecorded { .. } | StoreError::WatchLeaseLost { .. },
                )) => {
                    tracing::warn!(file = %claimed.name, "another watch service recorded this file's run first; this one leaves the file to it");
                }
                Err(error @ LifecycleError::InputChanged { .. }) => {
                    self.close_unresumable(id, &claimed, &error);
                }
                Err(error) => self.failed_to_run(id, &claimed, entry, &chain(&error)),
            },
            Outcome::Broken { entry, why } => self.failed_to_run(id, &claimed, entry, &why),
        }
        self.drop_retired();
    }

    /// A recorded run's file: archived when the run ended, kept claimed
    /// (for a resume at the next start) when it did not.
    pub(super) fn archive_run(
        &mut self,
        id: WatchId,
        claimed: &Claimed,
        run_id: &str,
        status: Status,
    ) {
        let destination = match status {
            Status::Completed => Destination::Processed,
            Status::Failed => Destination::Failed,
            Status::Cancelled | Status::Queued | Status::Running | Status::Interrupted => {
                self.summary.left += 1;
                tracing::warn!(run = %run_id, file = %claimed.name, status = status.key(), "run did not end: its file stays claimed, and the run is resumed at the next start");
                return;
            }
        };
        let recorded = |store: &JobStore, target: &str| {
            store.ledger_archived(run_id, destination.status(), target)
        };
        match self.put_away(id, claimed, destination, run_id, recorded) {
            Some(archived) => {
                if destination == Destination::Processed {
                    self.summary.completed += 1;
                } else {
                    self.summary.failed += 1;
                }
                tracing::info!(run = %run_id, file = %claimed.name, status = status.key(), archived = %archived.display(), "run ended");
            }
            // Not archived: it needs an administrator's look.
            None => self.summary.failed += 1,
        }
    }

    /// A run whose input changed after it started (the claimed file was
    /// written to in `.processing/`) can never be resumed: it is closed as
    /// failed, with its jobs, and its file goes to `failed/`, so the same
    /// content dropped again runs anew.
    fn close_unresumable(&mut self, id: WatchId, claimed: &Claimed, error: &LifecycleError) {
        let LifecycleError::InputChanged { run_id, .. } = error else {
            return;
        };
        let why = chain(error);
        tracing::error!(run = %run_id, file = %claimed.name, error = %why, "the run cannot be resumed: it is closed as failed and its file goes to the failed folder; drop the file again to run it anew");
        let reason = format!("closed: it cannot be resumed, {why}");
        let now = jiff::Timestamp::now();
        let closed = self
            .store
            .end_running_jobs(run_id, None, Status::Failed, &reason, now)
            .and_then(|_| {
                self.store
                    .finish_run(run_id, Status::Failed, Some(&reason), now)
            });
        if let Err(failure) = closed {
            self.summary.left += 1;
            tracing::error!(run = %run_id, error = %chain(&failure), "cannot close the run; its file stays claimed");
            return;
        }
        self.archive_run(id, claimed, run_id, Status::Failed);
    }

    fn skip_duplicate(
        &mut self,
        id: WatchId,
        claimed: &Claimed,
        entry: &LedgerEntry,
        earlier: &str,
    ) {
        self.summary.duplicates += 1;
        let reason = format!("the same content was run by run {earlier}");
        let recorded =
            |store: &JobStore, target: &str| store.ledger_note(entry, "duplicate", &reason, target);
        if let Some(archived) = self.put_away(
            id,
            claimed,
            Destination::Duplicates,
            &claimed.id.clone(),
            recorded,
        ) {
            tracing::info!(file = %claimed.name, earlier_run = %earlier, archived = %archived.display(), "skipped: the same content was run before");
        }
    }

    /// A file whose run was not recorded (its check or a guard refused it, or
    /// it could not be read), or whose lifecycle ended in an error: what the
    /// store says decides.
    fn failed_to_run(
        &mut self,
        id: WatchId,
        claimed: &Claimed,
        entry: Option<LedgerEntry>,
        why: &str,
    ) {
        let workflow = self
            .watched
            .get(&id)
            .map(|watched| watched.workflow.name().to_owned())
            .unwrap_or_default();
        if let Ok(Some(row)) = self.store.ledger_by_claim(&workflow, &claimed.key())
            && row.status == "running"
            && let Some(run_id) = row.run_id
        {
            tracing::error!(run = %run_id, file = %claimed.name, error = %why, "run ended in an error");
            let status = self
                .store
                .run(&run_id)
                .map_or(Status::Interrupted, |run| run.status);
            self.archive_run(id, claimed, &run_id, status);
            return;
        }
        if self.stop.is_requested() {
            self.summary.left += 1;
            return;
        }
        self.summary.failed += 1;
        tracing::error!(file = %claimed.name, error = %why, "refused: no run was recorded, and nothing was changed");
        let Some(entry) = entry.or_else(|| self.bare_entry(id, claimed)) else {
            return;
        };
        let recorded =
            |store: &JobStore, target: &str| store.ledger_note(&entry, "refused", why, target);
        self.put_away(
            id,
            claimed,
            Destination::Failed,
            &claimed.id.clone(),
            recorded,
        );
    }

    /// A ledger entry for a file that could not be read.
    fn bare_entry(&self, id: WatchId, claimed: &Claimed) -> Option<LedgerEntry> {
        let watched = self.watched.get(&id)?;
        Some(LedgerEntry {
            workflow: watched.workflow.name().to_owned(),
            sha256: String::new(),
            name: claimed.name.clone(),
            size: 0,
            modified: jiff::Timestamp::UNIX_EPOCH,
            claimed_at: jiff::Timestamp::now(),
            claimed_as: claimed.path.display().to_string(),
            claim: claimed.key(),
            service: None,
        })
    }

    /// Records where a file goes, then moves it there: a crash in between
    /// leaves a ledger row that names the destination, and the next start
    /// finishes the move.
    fn put_away(
        &mut self,
        id: WatchId,
        claimed: &Claimed,
        destination: Destination,
        tag: &str,
        record: impl FnOnce(&JobStore, &str) -> Result<(), StoreError>,
    ) -> Option<PathBuf> {
        let watched = self.watched.get(&id)?;
        let target = match watched.folders.archive_path(claimed, destination, tag) {
            Ok(target) => target,
            Err(error) => {
                tracing::error!(file = %claimed.name, error = %error, "cannot choose an archive name; the file stays claimed");
                return None;
            }
        };
        if let Err(error) = record(&self.store, &target.display().to_string()) {
            tracing::error!(file = %claimed.name, error = %chain(&error), "cannot record the file in the ledger; it stays claimed");
            return None;
        }
        if fault::due(Phase::Archiving) {
            fault::hold_blocking(Phase::Archiving);
        }
        self.move_away(id, claimed, destination, &target, tag)
    }

    /// Moves a claimed file to the destination the ledger names.
    pub(super) fn move_away(
        &mut self,
        id: WatchId,
        claimed: &Claimed,
        destination: Destination,
        target: &Path,
        tag: &str,
    ) -> Option<PathBuf> {
        let watched = self.watched.get(&id)?;
        match watched.folders.archive(claimed, destination, target, tag) {
            Ok(archived) => {
                if archived != target {
                    let _ = self.store.ledger_rename(
                        watched.workflow.name(),
                        &claimed.key(),
                        &archived.display().to_string(),
                    );
                }
                Some(archived)
            }
            Err(error) => {
                tracing::error!(file = %claimed.name, error = %error, "cannot move the file to its archive folder; it stays claimed");
                None
            }
        }
    }
}
