//! `apply --changed-only`: a manifest is unchanged when its newest completed
//! run came from the same path with the same text, and every input that run
//! read still has the SHA-256 it had. Anything that cannot be read or
//! compared counts as changed, so a doubt always applies.

use std::path::Path;

use super::{LifecycleError, Paths, open};
use crate::files::input::Fingerprint;
use crate::manifest::LoadedManifest;
use crate::store::{Create, JobStore, StoreError};

/// The newest completed run the manifest and its inputs are unchanged
/// since, if there is one.
pub fn unchanged_since(
    loaded: &LoadedManifest,
    paths: &Paths,
) -> Result<Option<String>, LifecycleError> {
    let store = match JobStore::open_with(&paths.state, Create::Never) {
        Ok(store) => store,
        Err(StoreError::Missing { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let manifest_path = open::absolute(Path::new(&loaded.source.name))?;
    let Some(run_id) =
        store.last_completed_run(&loaded.plan.workflow, &manifest_path.display().to_string())?
    else {
        return Ok(None);
    };
    let run = store.run(&run_id)?;
    if run.manifest_text != *loaded.source.text {
        return Ok(None);
    }
    for (path, sha256) in store.inputs(&run_id)? {
        match Fingerprint::of_file(Path::new(&path)) {
            Ok(now) if now.as_str() == sha256 => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(run_id))
}
