//! `filterGroups` and `filterDevices`: select objects for later steps. In a
//! run of a saved plan, the objects the plan selected, found again by id.

use super::{Selection, StepEnv, StepError, StepReport};
use crate::directory::Directory;
use crate::directory::model::{Device, Group};
use crate::manifest::filter::{FilterDevicesSpec, FilterGroupsSpec};
use crate::manifest::target::GroupTargetSpec;

/// Selects the groups that meet every criterion.
pub(super) async fn groups<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &FilterGroupsSpec,
) -> Result<StepReport, StepError> {
    let now = env.context.started;
    let groups = match env.pins() {
        Some(pins) => planned_groups(env, pins.selection.as_deref().unwrap_or_default()).await?,
        None => env.directory.filter_groups(spec, now).await?,
    };
    if !env.context.dry_run {
        tracing::info!(step = %env.step.id, groups = groups.len(), "selected groups");
    }
    Ok(StepReport {
        selection: Some(Selection::Groups(groups)),
        jobs: Vec::new(),
        effects: Vec::new(),
    })
}

/// Selects the devices that meet every criterion.
pub(super) async fn devices<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &FilterDevicesSpec,
) -> Result<StepReport, StepError> {
    let now = env.context.started;
    let changed_earlier = env.overlay.is_some_and(|overlay| {
        overlay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .changes_devices()
    });
    let devices = if let Some(pins) = env.pins() {
        planned_devices(env, pins.selection.as_deref().unwrap_or_default()).await?
    } else if changed_earlier {
        // A preview selects from the devices as earlier steps of the run
        // would leave them (a filter on `enabled` after a disable step).
        let all = env.directory.devices().await?;
        let overlay = env
            .overlay
            .expect("checked above")
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.into_iter()
            .filter_map(|device| overlay.device(device))
            .filter(|device| crate::directory::filter::device_matches(spec, device, now))
            .collect()
    } else {
        env.directory.filter_devices(spec, now).await?
    };
    if !env.context.dry_run {
        tracing::info!(step = %env.step.id, devices = devices.len(), "selected devices");
    }
    Ok(StepReport {
        selection: Some(Selection::Devices(devices)),
        jobs: Vec::new(),
        effects: Vec::new(),
    })
}

/// The groups a saved plan selected, as they are now.
async fn planned_groups<D: Directory>(
    env: &StepEnv<'_, D>,
    ids: &[String],
) -> Result<Vec<Group>, StepError> {
    let mut groups = Vec::with_capacity(ids.len());
    for id in ids {
        let found = env
            .directory
            .find_groups(&GroupTargetSpec::Id(id.clone()))
            .await?;
        match found.into_iter().next() {
            Some(group) => groups.push(group),
            None => {
                return Err(StepError::PlannedObjectGone {
                    what: "a group",
                    planned: id.clone(),
                });
            }
        }
    }
    Ok(groups)
}

/// The devices a saved plan selected, as they are now.
async fn planned_devices<D: Directory>(
    env: &StepEnv<'_, D>,
    ids: &[String],
) -> Result<Vec<Device>, StepError> {
    let found = env.directory.find_devices(ids).await?;
    ids.iter()
        .zip(found)
        .map(|(id, device)| {
            device.ok_or_else(|| StepError::PlannedObjectGone {
                what: "a device",
                planned: id.clone(),
            })
        })
        .collect()
}
