//! `bulkops apply --resume RUN_ID`: finishing an interrupted run exactly as it
//! was planned. A run is resumed only if it did not complete, can still be
//! resumed, and is not being executed by another process; with the batch
//! size, guard limits and output root it started with; and only if every
//! input it read is unchanged. The temporary files its interrupted attempt
//! left are removed, and the steps that finished are not done again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LifecycleError, Options, Paths, Session, lock_current, lock_store, open};
use crate::bulkcsv::output::OutputRoot;
use crate::files::input::Fingerprint;
use crate::manifest::{self, LoadError, LoadedManifest};
use crate::runner::context::{RunContext, chunk_rows_from_environment};
use crate::runner::finished_steps;
use crate::runner::progress::Progress;
use crate::steps::guard::{Budget, Limits};
use crate::store::{JobStore, RunRecord, Status, StoreError};

/// Resumes the run `run_id`.
pub(super) async fn run(
    run_id: &str,
    paths: &Paths,
    options: Options,
    session: &Session,
) -> Result<super::Finished, LifecycleError> {
    let record = resumable(&lock_store(&session.store), run_id)?;
    let lock = lock_store(&session.store).lock_run(run_id)?;
    *lock_current(&session.current) = Some(run_id.to_owned());
    let prepared = prepare(&record, options, session);
    let prepared = prepared.and_then(|(loaded, mut context, limits)| {
        // A run of a saved plan stays held to it.
        let pins = super::saved::pins_of_run(&lock_store(&session.store), run_id)?;
        context.pins = pins.map(Arc::new);
        Ok((loaded, context, limits))
    });
    let (loaded, context, limits) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            lock.release();
            return Err(error);
        }
    };
    let directory = match open_recorded(&record, &loaded, paths) {
        Ok(directory) => directory,
        Err(error) => {
            lock.release();
            return Err(error);
        }
    };
    let (charged, finished) = {
        let store = lock_store(&session.store);
        store.reopen_run(run_id, limits.removals, limits.device_deletions)?;
        let charged = store.charged(run_id)?;
        let finished = finished_steps(&store, run_id, &loaded.plan, &context.output)?;
        (charged, finished)
    };
    // The journal holds what the first attempt planned; a limit below it
    // cannot be kept by a resume that replays it.
    if let Err(refusal) = Budget::new(limits, charged).fits(crate::store::Charged::default()) {
        lock.release();
        return Err(LifecycleError::JournalAboveLimit {
            run_id: run_id.to_owned(),
            refusal,
        });
    }
    let _directory_lock =
        match super::directory_lock::for_run(&directory, paths, run_id, options, session) {
            Ok(held) => held,
            Err(error) => {
                lock.release();
                return Err(error);
            }
        };
    tracing::info!(run = %run_id, workflow = %record.workflow, finished = finished.len(), "run resumed");
    super::execute(
        Arc::new(loaded.plan),
        context,
        directory,
        Budget::new(limits, charged),
        finished,
        options,
        session,
        lock,
    )
    .await
}

/// The directory the run started with: the recorded local database (a
/// different `--db` is refused), or a Graph profile that still names the
/// same tenant and address.
fn open_recorded(
    record: &RunRecord,
    loaded: &LoadedManifest,
    paths: &Paths,
) -> Result<crate::directory::any::AnyDirectory, LifecycleError> {
    let Some(recorded) = &record.directory_location else {
        // Recorded by an older bulkops: as asked.
        return open::directory(loaded, paths);
    };
    let changed = |now: String| LifecycleError::DirectoryChanged {
        run_id: record.id.clone(),
        recorded: recorded.clone(),
        now,
    };
    let mut paths = paths.clone();
    if loaded.plan.directory == "local" {
        if let Some(asked) = &paths.db {
            let asked = std::fs::canonicalize(asked)
                .or_else(|_| std::path::absolute(asked))
                .map_err(|source| LifecycleError::Io {
                    path: asked.clone(),
                    source,
                })?;
            if asked.display().to_string() != *recorded {
                return Err(changed(asked.display().to_string()));
            }
        }
        if !Path::new(recorded).exists() {
            // Never a fresh demo tenant in its place.
            return Err(changed("a path where no database is any more".to_owned()));
        }
        paths.db = Some(PathBuf::from(recorded));
    }
    let directory = open::directory(loaded, &paths)?;
    let now = open::location(&directory, &paths)?;
    if now != *recorded {
        return Err(changed(now));
    }
    Ok(directory)
}

/// The run's record, if it can be resumed.
fn resumable(store: &JobStore, run_id: &str) -> Result<RunRecord, LifecycleError> {
    let mut record = store.run(run_id)?;
    // A worker resuming a run it took holds it already: to it, the run is
    // interrupted.
    if record.status == Status::Running && store.is_adopted(run_id) {
        record.status = Status::Interrupted;
    }
    match record.status {
        Status::Completed => Err(LifecycleError::RunAlreadyCompleted {
            run_id: run_id.to_owned(),
        }),
        Status::Running => Err(StoreError::RunHeld {
            id: run_id.to_owned(),
        }
        .into()),
        _ => match &record.closed {
            Some(why) => Err(LifecycleError::RunClosed {
                run_id: run_id.to_owned(),
                why: why.clone(),
            }),
            None if !store.resumable(&record)? => Err(LifecycleError::RunClosed {
                run_id: run_id.to_owned(),
                why: "every step finished; its result files list the rows that failed".to_owned(),
            }),
            None => Ok(record),
        },
    }
}

/// The run's manifest, context and limits, after its inputs were checked and
/// its leftover temporary files removed.
fn prepare(
    record: &RunRecord,
    options: Options,
    session: &Session,
) -> Result<(LoadedManifest, RunContext, Limits), LifecycleError> {
    // The directory the run was recorded for: one of its manifest's
    // `directories`, or the profile it was submitted for.
    let loaded = manifest::load_bytes(
        &record.manifest_path,
        record.manifest_text.clone().into_bytes(),
    )
    .map_err(LoadError::Invalid)?
    .for_directory(&record.directory);
    check_inputs(&lock_store(&session.store), &record.id)?;
    let output = OutputRoot::new(match Path::new(&record.output_root) {
        root if root.is_absolute() => root.to_path_buf(),
        // Runs recorded by an older bulkops kept the root as given.
        root => open::output_root(root)?,
    });
    remove_leftovers(&lock_store(&session.store), &record.id, &output)?;
    let limits = Limits {
        removals: options
            .allow_removals
            .or(record.max_removals)
            .unwrap_or(loaded.plan.guards.max_removals.count()),
        device_deletions: record
            .max_device_deletions
            .unwrap_or(u64::from(loaded.plan.guards.max_device_deletions)),
    };
    let chunk_rows = record
        .chunk_rows
        .and_then(|rows| usize::try_from(rows).ok())
        .filter(|rows| *rows > 0)
        .unwrap_or_else(chunk_rows_from_environment);
    let input_base = match &record.input_base {
        Some(base) => PathBuf::from(base),
        None => open::absolute(Path::new("."))?,
    };
    let context = RunContext {
        run_id: record.id.clone(),
        workflow: record.workflow.clone(),
        directory: record.directory.clone(),
        started: record.started_at,
        output,
        input_base,
        vars: loaded.plan.vars.clone(),
        trigger_file: record.trigger_file.as_ref().map(PathBuf::from),
        dry_run: false,
        check_only: false,
        counted_steps: HashSet::new(),
        chunk_rows,
        csv: loaded.plan.csv,
        progress: Progress::hidden(),
        record: false,
        pins: None,
    };
    Ok((loaded, context, limits))
}

/// Refuses to resume from an input that is gone or changed.
fn check_inputs(store: &JobStore, run_id: &str) -> Result<(), LifecycleError> {
    for (path, recorded) in store.inputs(run_id)? {
        let now = Fingerprint::of_file(Path::new(&path)).map_err(|source| {
            LifecycleError::InputMissing {
                run_id: run_id.to_owned(),
                path: PathBuf::from(&path),
                source,
            }
        })?;
        if now.as_str() != recorded {
            return Err(LifecycleError::InputChanged {
                run_id: run_id.to_owned(),
                path: PathBuf::from(&path),
                recorded,
                now: now.to_string(),
            });
        }
    }
    Ok(())
}

/// Removes the temporary files the interrupted attempt left.
fn remove_leftovers(
    store: &JobStore,
    run_id: &str,
    output: &OutputRoot,
) -> Result<(), LifecycleError> {
    for path in store.temps(run_id)? {
        match output.remove_temp(Path::new(&path)) {
            Ok(removed) => {
                if removed {
                    tracing::info!(file = %path, "removed a temporary file of the interrupted run");
                }
                store.forget_temp(run_id, &path)?;
            }
            Err(error) => {
                tracing::warn!(file = %path, error = %crate::text::chain(&error), "could not remove a temporary file");
            }
        }
    }
    Ok(())
}
