//! What changed since a plan was made: a saved workflow against one recorded
//! again just before its run, described so that a reviewer knows which file,
//! group or device changed.

use std::collections::HashMap;

use super::format::{SavedFile, SavedStep, SavedWorkflow};
use crate::steps::pinned::{DeviceState, JobOps, Precondition};
use crate::text::printable;

/// Every difference that makes `saved` stale, in plan order; empty when the
/// plan still holds.
pub(super) fn differences(saved: &SavedWorkflow, now: &SavedWorkflow) -> Vec<String> {
    let mut found = Vec::new();
    if saved.manifest.sha256 != now.manifest.sha256 {
        found.push(format!(
            "manifest `{}` changed (SHA-256 {}, now {})",
            printable(&saved.manifest.path),
            short(&saved.manifest.sha256),
            short(&now.manifest.sha256)
        ));
    }
    if saved.directory.identity != now.directory.identity {
        found.push(format!(
            "the plan was made against {}, this is {}",
            saved.directory.identity, now.directory.identity
        ));
    }
    inputs(&saved.inputs, &now.inputs, &mut found);
    let steps_now: HashMap<&str, &SavedStep> = now
        .steps
        .iter()
        .map(|step| (step.id.as_str(), step))
        .collect();
    for step in &saved.steps {
        match steps_now.get(step.id.as_str()) {
            Some(current) => steps(step, current, &mut found),
            None => found.push(format!("step `{}` is no longer in the workflow", step.id)),
        }
    }
    for step in &now.steps {
        if !saved.steps.iter().any(|planned| planned.id == step.id) {
            found.push(format!("step `{}` is not in the plan", step.id));
        }
    }
    found
}

fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

fn inputs(saved: &[SavedFile], now: &[SavedFile], found: &mut Vec<String>) {
    let now: HashMap<&str, &str> = now
        .iter()
        .map(|file| (file.path.as_str(), file.sha256.as_str()))
        .collect();
    for file in saved {
        match now.get(file.path.as_str()) {
            Some(sha256) if *sha256 == file.sha256 => {}
            Some(sha256) => found.push(format!(
                "input `{}` changed (SHA-256 {}, now {})",
                printable(&file.path),
                short(&file.sha256),
                short(sha256)
            )),
            None => found.push(format!(
                "input `{}` is no longer read",
                printable(&file.path)
            )),
        }
    }
}

fn steps(saved: &SavedStep, now: &SavedStep, found: &mut Vec<String>) {
    if saved.selection != now.selection {
        found.push(format!(
            "step `{}` no longer selects what the plan selected",
            saved.id
        ));
    }
    let jobs_now: HashMap<Option<&str>, &JobOps> = now
        .jobs
        .iter()
        .map(|job| (job.target.as_ref().map(|target| target.id.as_str()), job))
        .collect();
    for job in &saved.jobs {
        let key = job.target.as_ref().map(|target| target.id.as_str());
        let what = job.target.as_ref().map_or_else(
            || format!("the devices of step `{}`", saved.id),
            |target| {
                format!(
                    "group `{}` in step `{}`",
                    printable(&target.shown()),
                    saved.id
                )
            },
        );
        match jobs_now.get(&key) {
            Some(current) => job_differences(&what, job, current, found),
            None => found.push(format!("{what} is no longer changed by the step")),
        }
    }
    for job in &now.jobs {
        let key = job.target.as_ref().map(|target| target.id.as_str());
        if !saved
            .jobs
            .iter()
            .any(|planned| planned.target.as_ref().map(|target| target.id.as_str()) == key)
        {
            let target = job.target.as_ref().map_or_else(
                || "devices".to_owned(),
                crate::steps::pinned::ObjectRef::shown,
            );
            found.push(format!(
                "step `{}` now also changes {}, which the plan does not",
                saved.id,
                printable(&target)
            ));
        }
    }
}

fn job_differences(what: &str, saved: &JobOps, now: &JobOps, found: &mut Vec<String>) {
    match (&saved.precondition, &now.precondition) {
        (
            Some(Precondition::Group {
                members: planned,
                sha256: planned_hash,
            }),
            Some(Precondition::Group { members, sha256 }),
        ) => {
            if planned != members {
                found.push(format!(
                    "{what}: {planned} members when planned, {members} now (members were added or removed since)"
                ));
            } else if planned_hash != sha256 {
                found.push(format!(
                    "{what}: members this plan adds or removes were added or removed since"
                ));
            }
        }
        (
            Some(Precondition::Devices { devices: planned }),
            Some(Precondition::Devices { devices }),
        ) => devices_differences(what, planned, devices, found),
        (planned, current) if planned != current => {
            found.push(format!("{what}: its state changed since the plan"));
        }
        _ => {}
    }
    if saved.rows != now.rows || saved.changes != now.changes {
        found.push(format!(
            "{what}: the changes differ from the plan's ({} now, {} planned)",
            now.changes.len(),
            saved.changes.len()
        ));
    }
}

fn devices_differences(
    what: &str,
    planned: &[DeviceState],
    now: &[DeviceState],
    found: &mut Vec<String>,
) {
    let now: HashMap<&str, &DeviceState> = now
        .iter()
        .map(|device| (device.id.as_str(), device))
        .collect();
    let state = |enabled: bool| if enabled { "enabled" } else { "disabled" };
    for device in planned {
        match now.get(device.id.as_str()) {
            Some(current) if current.enabled == device.enabled => {}
            Some(current) => found.push(format!(
                "{what}: device `{}` ({}) was {} when planned, {} now",
                printable(&device.name),
                device.id,
                state(device.enabled),
                state(current.enabled)
            )),
            None => found.push(format!(
                "{what}: device `{}` ({}) is no longer in the directory",
                printable(&device.name),
                device.id
            )),
        }
    }
}
