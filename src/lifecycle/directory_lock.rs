//! One apply at a time per directory: a run holds its directory's lock from
//! its check to its end, so two applies never interleave their changes to
//! one tenant. A second process waits, saying which run it waits for, up to
//! `--lock-timeout`; a lock left by a killed process is released by the
//! kernel and taken over at once. Runs within one process (a watch service's
//! concurrent runs) share the process's lock, and workers' runs take none.
//!
//! The lock is a file: beside the local directory's database, or, for a
//! Microsoft Graph tenant, in the job store's folder, named by the tenant
//! and address.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::LifecycleError;
use crate::files::lock::LockFile;

/// How often a waiting process tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// The locks this process holds, by path, shared by its runs.
static HELD: Mutex<Option<HashMap<PathBuf, Weak<LockFile>>>> = Mutex::new(None);

/// A held directory lock; released when the last run of the process that
/// holds it drops it.
#[derive(Debug, Clone)]
pub struct DirectoryLock {
    _held: Arc<LockFile>,
}

/// Takes the run's directory lock: one apply at a time per directory. A
/// worker's runs take none: the workers of a shared store are one service,
/// whose runs may change one tenant together (as a watch service's do), and
/// a stalled worker must not hold up the worker that takes its run over.
pub(super) fn for_run(
    directory: &crate::directory::any::AnyDirectory,
    paths: &super::Paths,
    run_id: &str,
    options: super::Options,
    session: &super::Session,
) -> Result<Option<DirectoryLock>, LifecycleError> {
    if session.worker {
        return Ok(None);
    }
    let stop = &session.stop;
    // The database the run opened (a resumed run's recorded one), not the
    // one the arguments would name.
    let (location, local) = match directory {
        crate::directory::any::AnyDirectory::Local(local) => {
            let path = local.path();
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            (path.display().to_string(), Some(path))
        }
        crate::directory::any::AnyDirectory::Graph(_) => {
            (super::open::location(directory, paths)?, None)
        }
    };
    let path = lock_path(&location, local.as_deref(), &paths.state.local_folder());
    acquire(
        &path,
        &location,
        run_id,
        options.lock_timeout.unwrap_or(super::LOCK_TIMEOUT),
        stop,
    )
    .map(Some)
}

/// Where the lock of a directory is: beside a local database, or in the job
/// store's folder for a Graph tenant.
pub fn lock_path(location: &str, local_db: Option<&Path>, folder: &Path) -> PathBuf {
    if let Some(db) = local_db {
        let mut name = db.as_os_str().to_owned();
        name.push(".apply.lock");
        return PathBuf::from(name);
    }
    let hash = crate::files::input::Fingerprint::of_bytes(location.as_bytes());
    folder
        .join("directory-locks")
        .join(format!("{}.lock", &hash.as_str()[..24]))
}

/// Takes the lock at `path` for `run_id`, waiting at most `timeout` for the
/// run that holds it; `directory` names it in messages.
pub fn acquire(
    path: &Path,
    directory: &str,
    run_id: &str,
    timeout: Duration,
    stop: &crate::runner::stop::Stop,
) -> Result<DirectoryLock, LifecycleError> {
    if let Some(held) = held_here(path) {
        return Ok(DirectoryLock { _held: held });
    }
    let failed = |source| LifecycleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let started = Instant::now();
    let mut waiting_for: Option<String> = None;
    loop {
        if let Some(held) = held_here(path) {
            return Ok(DirectoryLock { _held: held });
        }
        if stop.is_requested() {
            return Err(LifecycleError::StoppedBeforeRun);
        }
        if let Some(lock) = LockFile::try_exclusive(path).map_err(failed)? {
            let note = format!("run {run_id}, process {}\n", std::process::id());
            lock.write_note(&note).map_err(failed)?;
            if let Some(holder) = &waiting_for {
                tracing::info!(directory, waited = ?started.elapsed(), holder = %holder, "the directory is free: the run goes on");
            }
            return Ok(DirectoryLock {
                _held: remember(path, lock),
            });
        }
        let holder = std::fs::read_to_string(path)
            .map(|text| text.trim().to_owned())
            .ok()
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "another run".to_owned());
        if waiting_for.as_deref() != Some(holder.as_str()) {
            tracing::warn!(directory, holder = %holder, timeout = ?timeout, "waiting: another apply is changing this directory ({holder}); runs on one directory go one at a time");
            waiting_for = Some(holder.clone());
        }
        if started.elapsed() >= timeout {
            return Err(LifecycleError::DirectoryBusy {
                directory: directory.to_owned(),
                holder,
                waited: format!("{timeout:?}"),
            });
        }
        std::thread::sleep(POLL);
    }
}

fn held_here(path: &Path) -> Option<Arc<LockFile>> {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.get_or_insert_with(HashMap::new)
        .get(path)
        .and_then(Weak::upgrade)
}

fn remember(path: &Path, lock: LockFile) -> Arc<LockFile> {
    let lock = Arc::new(lock);
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    held.get_or_insert_with(HashMap::new)
        .insert(path.to_path_buf(), Arc::downgrade(&lock));
    lock
}
