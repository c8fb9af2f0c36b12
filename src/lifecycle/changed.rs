//! `apply --changed-only`: a manifest is unchanged when its newest completed
//! run came from the same path with the same text, against the same
//! directory, and a preview made now reads exactly the inputs that run read
//! (a template may name another file each day), with the same SHA-256s.
//! Anything that cannot be read, previewed or compared counts as changed, so
//! a doubt always applies.

use std::collections::BTreeSet;
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
    let store = match JobStore::open_at(&paths.state, Create::Never) {
        Ok(store) => store,
        Err(StoreError::Missing { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let manifest_path = open::absolute(Path::new(&loaded.source.name))?;
    let Some(run_id) = store.last_completed_run(
        &loaded.plan.workflow,
        &manifest_path.display().to_string(),
        &loaded.plan.directory,
    )?
    else {
        return Ok(None);
    };
    let run = store.run(&run_id)?;
    if run.manifest_text != *loaded.source.text {
        return Ok(None);
    }
    let recorded: BTreeSet<(String, String)> = store.inputs(&run_id)?.into_iter().collect();
    drop(store);
    for (path, sha256) in &recorded {
        match Fingerprint::of_file(Path::new(path)) {
            Ok(now) if now.as_str() == sha256 => {}
            _ => return Ok(None),
        }
    }
    let directory = open::directory(loaded, paths)?;
    if run.directory_location.as_deref() != Some(open::location(&directory, paths)?.as_str()) {
        return Ok(None);
    }
    drop(directory);
    let Ok(previewed) = super::preview(loaded, paths) else {
        return Ok(None);
    };
    let mut now = BTreeSet::new();
    for step in &previewed.report.steps {
        if step.state != crate::runner::StepState::Finished {
            return Ok(None);
        }
        for effect in &step.effects {
            if effect.unknown.is_some() {
                return Ok(None);
            }
            if let Some(read) = &effect.input {
                now.insert((read.path.clone(), read.sha256.clone()));
            }
        }
    }
    Ok((now == recorded).then_some(run_id))
}
