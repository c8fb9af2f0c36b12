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
    let devices = env.directory.filter_devices(spec, now).await?;
    if !env.context.dry_run {
        tracing::info!(step = %env.step.id, devices = devices.len(), "selected devices");
    }
    Ok(StepReport {
        selection: Some(Selection::Devices(devices)),
        jobs: Vec::new(),
        effects: Vec::new(),
    })
}
