//! `filterGroups` and `filterDevices`: select objects for later steps.

use super::{Selection, StepEnv, StepError, StepReport};
use crate::directory::Directory;
use crate::manifest::filter::{FilterDevicesSpec, FilterGroupsSpec};

/// Selects the groups that meet every criterion.
pub(super) async fn groups<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &FilterGroupsSpec,
) -> Result<StepReport, StepError> {
    let now = env.context.started;
    let groups = env.directory.filter_groups(spec, now).await?;
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
    let devices = if changed_earlier {
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
