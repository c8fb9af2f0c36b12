//! What a starting watch does with the files an earlier one left in
//! `.processing/`: each is found in the ledger by its workflow and claim
//! (not by path, so a moved project folder is still recognised). A file
//! whose run was never recorded runs; a run that did not end is resumed
//! from its journal; a file whose run ended is archived; a file whose
//! destination the ledger already names is moved there.
//!
//! Watch services sharing a folder through a shared store take over the
//! claims of services whose lease ran out, at start and at every listing,
//! and recover those the same way; a claim is recorded (and run) once,
//! whichever service records it first.

use std::path::Path;

use super::claim::{Claimed, Destination};
use super::folder::Look;
use super::service::{Queued, Service, WatchId};
use crate::store::Status;
use crate::text::chain;

impl Service {
    /// Takes up the files an earlier watch left claimed (on a shared store:
    /// those of services that are gone, taken over first).
    pub(super) fn recover(&mut self, id: WatchId) {
        if let Some(adopted) = self.adopt(id) {
            self.recover_claims(id, &adopted);
        }
    }

    /// Recovers the claims left in this watch's claim folder: all of them,
    /// or on a shared store those just taken over (`adopted`).
    fn recover_claims(&mut self, id: WatchId, adopted: &[String]) {
        let Some(watched) = self.watched.get(&id) else {
            return;
        };
        let marker_mode =
            watched.workflow.watch.complete == crate::manifest::spec::CompleteSpec::Marker;
        let leftovers = match watched.folders.leftovers(marker_mode) {
            Ok(leftovers) => leftovers,
            Err(error) => {
                tracing::error!(workflow = %watched.workflow.name(), error = %error, "cannot list the claimed files left by an earlier watch");
                return;
            }
        };
        for claimed in leftovers {
            // A service's own claims are in its memory already.
            if self.lease.is_none() || adopted.contains(&claimed.id) {
                self.recover_one(id, claimed);
            }
        }
    }

    /// On a shared store, takes over the claims of the services that are
    /// gone, at every listing; recovers them.
    pub(super) fn recover_orphans(&mut self) {
        if self.lease.is_none() || self.stopping.is_some() || !self.lease_valid() {
            return;
        }
        for (id, claimed) in std::mem::take(&mut self.held_elsewhere) {
            self.recover_one(id, claimed);
        }
        let ids: Vec<WatchId> = self.watched.keys().copied().collect();
        for id in ids {
            if let Some(adopted) = self.adopt(id).filter(|adopted| !adopted.is_empty()) {
                self.recover_claims(id, &adopted);
            }
        }
    }

    /// Whether this watch may still move its files: always on a store of
    /// one machine; on a shared store, while its lease holds.
    pub(super) fn lease_valid(&self) -> bool {
        self.lease.as_ref().is_none_or(|lease| {
            !lease.is_lost() && self.store.watch_owner_alive(lease.owner()).unwrap_or(false)
        })
    }

    /// The ids of the claims taken over from services that are gone (none
    /// on a store of one machine); `None` when they cannot be listed.
    fn adopt(&mut self, id: WatchId) -> Option<Vec<String>> {
        let watched = self.watched.get(&id)?;
        if self
            .lease
            .as_ref()
            .is_none_or(crate::store::WatchLease::is_lost)
        {
            return Some(Vec::new());
        }
        let store = &self.store;
        // A service whose liveness cannot be read is taken as alive.
        let alive = |owner: &str| store.watch_owner_alive(owner).unwrap_or(true);
        match watched.folders.adopt_orphans(&alive) {
            Ok(adopted) => {
                if !adopted.is_empty() {
                    tracing::info!(workflow = %watched.workflow.name(), files = adopted.len(), "took over the claimed files of a watch service that is gone");
                }
                Some(adopted)
            }
            Err(error) => {
                tracing::error!(workflow = %watched.workflow.name(), error = %error, "cannot take over the claimed files of watch services that are gone");
                None
            }
        }
    }

    fn recover_one(&mut self, id: WatchId, claimed: Claimed) {
        let Some(watched) = self.watched.get(&id) else {
            return;
        };
        let workflow = watched.workflow.name().to_owned();
        let row = match self.store.ledger_by_claim(&workflow, &claimed.key()) {
            Ok(row) => row,
            Err(error) => {
                tracing::error!(file = %claimed.name, error = %chain(&error), "cannot read the ledger; the file stays claimed");
                return;
            }
        };
        let Ok(Some(look)) = Look::at(&claimed.path) else {
            return;
        };
        match row {
            None => {
                tracing::info!(workflow = %workflow, file = %claimed.name, "recovered a claimed file whose run was never recorded: it runs now");
                self.enqueue(id, claimed, look, None);
            }
            Some(row) if row.status == "running" => {
                let Some(run_id) = row.run_id else { return };
                self.recover_run(id, claimed, look, run_id);
            }
            Some(row) => {
                let (Some(destination), Some(target)) =
                    (Destination::from_status(&row.status), row.archived_as)
                else {
                    return;
                };
                tracing::info!(workflow = %workflow, file = %claimed.name, status = %row.status, "finishing the move of a file whose run had ended");
                match row.status.as_str() {
                    "processed" => self.summary.completed += 1,
                    "duplicate" => self.summary.duplicates += 1,
                    _ => self.summary.failed += 1,
                }
                let tag = claimed.id.clone();
                self.move_away(id, &claimed, destination, Path::new(&target), &tag);
            }
        }
    }

    /// A claimed file whose run was recorded: archived when the run ended,
    /// resumed from its journal when it did not.
    fn recover_run(&mut self, id: WatchId, claimed: Claimed, look: Look, run_id: String) {
        let (status, recorded_file) = match self.store.run(&run_id) {
            Ok(run) => (run.status, run.trigger_file),
            Err(error) => {
                tracing::error!(run = %run_id, error = %chain(&error), "cannot read the run of a claimed file; the file stays claimed");
                return;
            }
        };
        let now = claimed.path.display().to_string();
        if matches!(status, Status::Interrupted | Status::Cancelled)
            && let Some(recorded) =
                recorded_file.filter(|recorded| taken_over_from(recorded, &claimed))
        {
            // Taken over from another service: the claim moved with its file.
            if let Err(error) = self.store.move_trigger_file(&run_id, &recorded, &now) {
                tracing::error!(run = %run_id, error = %chain(&error), "cannot record where a taken-over file is now; the file stays claimed");
                return;
            }
        }
        match status {
            Status::Completed | Status::Failed => {
                self.archive_run(id, &claimed, &run_id, status);
            }
            Status::Interrupted | Status::Cancelled => {
                tracing::info!(run = %run_id, file = %claimed.name, "resuming the run a stopped watch left");
                self.enqueue(id, claimed, look, Some(run_id));
            }
            Status::Queued | Status::Running if self.lease.is_some() => {
                tracing::info!(run = %run_id, file = %claimed.name, "another process executes this run; its file is looked at again at the next listing");
                self.held_elsewhere.push((id, claimed));
            }
            Status::Queued | Status::Running => {
                self.summary.left += 1;
                tracing::warn!(run = %run_id, file = %claimed.name, "another process executes this run; its file stays claimed until the next start");
            }
        }
    }

    fn enqueue(&mut self, id: WatchId, claimed: Claimed, look: Look, resume: Option<String>) {
        if let Some(watched) = self.watched.get_mut(&id) {
            watched.enqueue(Queued {
                claimed,
                look,
                resume,
            });
        }
    }
}

/// Whether `recorded` is where another watch service of the same folder
/// had `claimed` before it was taken over: the same claim, in a sibling
/// service folder. (A project folder moved since is not: its run is not
/// resumed.)
fn taken_over_from(recorded: &str, claimed: &Claimed) -> bool {
    let recorded = Path::new(recorded);
    let now = claimed.path.as_path();
    let claim_of = |path: &Path| {
        path.parent()
            .and_then(Path::file_name)
            .map(ToOwned::to_owned)
    };
    recorded != now
        && recorded.file_name() == now.file_name()
        && claim_of(recorded) == claim_of(now)
        && service_of(recorded)
            .and_then(Path::file_name)
            .is_some_and(|name| name.to_string_lossy().starts_with('@'))
        && service_of(recorded).and_then(Path::parent) == service_of(now).and_then(Path::parent)
}

/// The service folder a claimed file is in: `.processing/WORKFLOW/@SERVICE`.
fn service_of(path: &Path) -> Option<&Path> {
    path.parent().and_then(Path::parent)
}
