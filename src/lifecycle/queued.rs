//! Starting a run submitted for workers: the worker that took it starts it
//! under the id it was queued with, from the manifest text recorded at
//! submission, against the directory it was submitted for.

use super::{Finished, LifecycleError, Options, Paths, Session, lock_store};
use crate::manifest::{self, LoadError};
use crate::store::Status;

/// Starts the queued run `run_id`.
pub(super) async fn run(
    run_id: &str,
    paths: &Paths,
    options: Options,
    session: &Session,
) -> Result<Finished, LifecycleError> {
    let record = lock_store(&session.store).run(run_id)?;
    if record.status != Status::Queued {
        return Err(LifecycleError::NotQueued {
            run_id: run_id.to_owned(),
            status: record.status.key().to_owned(),
        });
    }
    let loaded = manifest::load_bytes(&record.manifest_path, record.manifest_text.into_bytes())
        .map_err(LoadError::Invalid)?
        // Submitted for one directory of several, or as the manifest names it.
        .for_directory(&record.directory);
    super::new_run(loaded, paths, options, session, Some(run_id)).await
}
