//! The check before a new run changes anything: every step is previewed
//! against the directory as it is (inputs read whole and fingerprinted,
//! target groups and devices found, the directory reached, removals and
//! device deletions counted), and the run is refused if any step could not
//! be checked or the guards would be exceeded. A step whose input an earlier
//! step of the same run writes is checked when that step is done.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use super::LifecycleError;
use crate::directory::any::AnyDirectory;
use crate::manifest::step::StepKind;
use crate::plan::Plan;
use crate::runner::context::RunContext;
use crate::runner::stop::Stop;
use crate::runner::{RunReport, Runner, StepState, preview};
use crate::steps::guard::Limits;
use crate::store::JobStore;

/// What the check found.
pub(super) struct Checked {
    /// Each input read, by absolute path, with its SHA-256.
    pub(super) inputs: Vec<(String, String)>,
    /// The destructive steps whose effects were counted.
    pub(super) counted: HashSet<String>,
    /// The preview itself.
    pub(super) report: RunReport,
}

/// The steps whose effects guards limit.
pub fn guarded(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::RemoveMembers | StepKind::SyncMembers | StepKind::DeleteDevices
    )
}

/// Previews the plan in check mode; `None` when a stop was asked for meanwhile.
pub(super) async fn before_run(
    plan: &Arc<Plan>,
    context: RunContext,
    directory: &AnyDirectory,
    store: &Arc<Mutex<JobStore>>,
    stop: &Stop,
    limits: Limits,
) -> Result<Option<Checked>, LifecycleError> {
    let runner = Runner {
        plan: Arc::clone(plan),
        context: Arc::new(context),
        directory: directory.clone(),
        store: Arc::clone(store),
        stop: stop.clone(),
        budget: None,
        finished: std::collections::HashMap::new(),
    };
    let report = runner.run().await;
    if stop.is_requested() {
        return Ok(None);
    }
    refuse_failures(plan, &report)?;
    let totals = preview::totals(&report);
    if totals.removals > limits.removals {
        return Err(LifecycleError::TooManyRemovals {
            removals: totals.removals,
            limit: limits.removals,
        });
    }
    if totals.deleted_devices > limits.device_deletions {
        return Err(LifecycleError::TooManyDeviceDeletions {
            deletions: totals.deleted_devices,
            limit: limits.device_deletions,
        });
    }
    Ok(Some(Checked {
        inputs: inputs_of(&report),
        counted: counted_steps(plan, &report),
        report,
    }))
}

/// Refuses the run when a step could not be checked, unless the manifest
/// lets the run go on without it (`continueOnError`).
fn refuse_failures(plan: &Plan, report: &RunReport) -> Result<(), LifecycleError> {
    for step in &report.steps {
        if let StepState::Failed { error, class } = &step.state {
            let optional = plan
                .steps
                .iter()
                .any(|planned| planned.id == step.id && planned.continue_on_error);
            if optional {
                tracing::warn!(step = %step.id, error = %error, "step will fail; the run goes on without it (continueOnError)");
                continue;
            }
            return Err(LifecycleError::CheckFailed {
                step: step.id.clone(),
                error: error.clone(),
                class: *class,
            });
        }
    }
    Ok(())
}

/// The inputs the check read.
fn inputs_of(report: &RunReport) -> Vec<(String, String)> {
    let inputs: BTreeMap<String, String> = report
        .steps
        .iter()
        .flat_map(|step| &step.effects)
        .filter_map(|effect| effect.input.as_ref())
        .map(|read| (read.path.clone(), read.sha256.clone()))
        .collect();
    inputs.into_iter().collect()
}

/// The guarded steps whose every effect the check could count.
fn counted_steps(plan: &Plan, report: &RunReport) -> HashSet<String> {
    report
        .steps
        .iter()
        .filter(|result| {
            plan.steps
                .iter()
                .find(|step| step.id == result.id)
                .is_some_and(|step| guarded(step.action.kind()))
        })
        .filter(|result| result.state == StepState::Finished)
        .filter(|result| result.effects.iter().all(|effect| effect.unknown.is_none()))
        .map(|result| result.id.clone())
        .collect()
}
