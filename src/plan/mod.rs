//! Plans: workflows resolved into steps that reference each other by index, with
//! the dag that orders them. Only a `Plan` is ever executed or previewed.

mod dag;
mod render;
mod resolve;

use std::time::Duration;

pub use dag::{Dag, EdgeReason};
pub use render::{PlanFormat, render};
pub use resolve::{DEFAULT_CONCURRENCY, DraftStep, DraftWorkflow, check_draft, resolve};

use crate::manifest::filter::{FilterDevicesSpec, FilterGroupsSpec};
use crate::manifest::spec::{BackoffKind, GuardsSpec, RetrySpec};
use crate::manifest::step::{
    DeleteDevicesSpec, DeleteJobsSpec, DeviceChangeSpec, DownloadDevicesSpec, DownloadGroupsSpec,
    DownloadMembersSpec, MemberListSpec, StepKind,
};

/// A validated workflow, ready to preview or run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `metadata.name`.
    pub workflow: String,
    /// The directory profile it runs against (the first of `directories`).
    pub directory: String,
    /// Every directory profile it runs against, one run each:
    /// `spec.directories`, or `spec.directory` alone.
    pub directories: Vec<String>,
    /// The steps, in manifest order.
    pub steps: Vec<Step>,
    /// Which step waits for which.
    pub dag: Dag,
    /// Safety limits for `apply`.
    pub guards: GuardsSpec,
    /// How many steps may run at once.
    pub concurrency: u32,
    /// `spec.vars`, for templates.
    pub vars: std::collections::BTreeMap<String, String>,
    /// What CSV files do with cells a spreadsheet would read as formulas.
    pub csv: crate::bulkcsv::cells::CsvStyle,
    /// The watched folder the workflow runs on, if it has a watch trigger.
    pub watch: Option<crate::manifest::spec::WatchSpec>,
}

impl Plan {
    /// Step indexes in the order a sequential run would take them.
    pub fn order(&self) -> Vec<usize> {
        self.dag.order()
    }
}

/// One step of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step's id.
    pub id: String,
    /// What the step does, with its options.
    pub action: Action,
    /// How the step retries transient failures.
    pub retry: RetryPolicy,
    /// The time limit for the step, all attempts together.
    pub timeout: Option<Duration>,
    /// Whether dependents run even if this step fails.
    pub continue_on_error: bool,
}

/// What a step does, with its options.
#[derive(Debug, Clone)]
pub enum Action {
    FilterGroups(Box<FilterGroupsSpec>),
    DownloadGroups(Box<DownloadGroupsSpec>),
    DownloadMembers(Box<DownloadMembersSpec>),
    ImportMembers(Box<MemberListSpec>),
    RemoveMembers(Box<MemberListSpec>),
    SyncMembers(Box<crate::manifest::step::SyncMembersSpec>),
    DeleteJobs(Box<DeleteJobsSpec>),
    FilterDevices(Box<FilterDevicesSpec>),
    DownloadDevices(Box<DownloadDevicesSpec>),
    DisableDevices(Box<DeviceChangeSpec>),
    EnableDevices(Box<DeviceChangeSpec>),
    DeleteDevices(Box<DeleteDevicesSpec>),
}

impl Action {
    /// The kind of step this action makes.
    pub fn kind(&self) -> StepKind {
        match self {
            Self::FilterGroups(_) => StepKind::FilterGroups,
            Self::DownloadGroups(_) => StepKind::DownloadGroups,
            Self::DownloadMembers(_) => StepKind::DownloadMembers,
            Self::ImportMembers(_) => StepKind::ImportMembers,
            Self::RemoveMembers(_) => StepKind::RemoveMembers,
            Self::SyncMembers(_) => StepKind::SyncMembers,
            Self::DeleteJobs(_) => StepKind::DeleteJobs,
            Self::FilterDevices(_) => StepKind::FilterDevices,
            Self::DownloadDevices(_) => StepKind::DownloadDevices,
            Self::DisableDevices(_) => StepKind::DisableDevices,
            Self::EnableDevices(_) => StepKind::EnableDevices,
            Self::DeleteDevices(_) => StepKind::DeleteDevices,
        }
    }
}

/// A resolved retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, counting the first.
    pub attempts: u32,
    /// How delays grow.
    pub backoff: BackoffKind,
    /// The first delay.
    pub delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Whether delays are randomised.
    pub jitter: bool,
}

impl From<&RetrySpec> for RetryPolicy {
    fn from(spec: &RetrySpec) -> Self {
        Self {
            attempts: spec.attempts,
            backoff: spec.backoff,
            delay: spec.delay.as_duration(),
            max_delay: spec.max_delay.as_duration(),
            jitter: spec.jitter,
        }
    }
}

impl Default for RetryPolicy {
    /// Three attempts, exponential from one second to one minute, with jitter.
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: BackoffKind::Exponential,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            jitter: true,
        }
    }
}
