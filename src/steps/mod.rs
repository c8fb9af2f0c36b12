//! The step kinds, one file each, and what they share: the environment a step
//! runs in, its report, and its errors.
//!
//! A step turns into bulk jobs, one per target (a group for membership changes
//! and member downloads), recorded in the job store with counts and files.
//! Row failures are recorded and fail the job, never the step; a step fails
//! when it cannot do its work at all (a missing input file, a group name that
//! matches two groups), and only steps that need it are skipped.

mod delete_jobs;
mod devices;
mod download;
mod error;
pub(crate) mod fault;
mod filter;
pub mod guard;
mod input;
mod listed_groups;
mod membership;
pub mod pinned;
mod seen;
mod sync;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::bulkcsv::members::MemberListError;
use crate::bulkcsv::output::{OutputError, PendingFile, WrittenFile};
use crate::directory::Directory;
use crate::directory::model::{Device, Group};
use crate::directory::outcome::RowOutcome;
use crate::manifest::target::{GroupSetSpec, GroupTargetSpec, SetSpec};
use crate::plan::{Action, Plan, Step};
use crate::runner::context::RunContext;
use crate::store::{Charged, JobCounts, JobFile, JobStore, NewJob, Status, StoreError};
use guard::Budget;

pub use delete_jobs::{DeletedFiles, delete_job_files};

pub use error::StepError;

/// Kinds of step failure, for the exit code of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum FailureClass {
    /// A directory or store failure, or anything not more specific.
    #[default]
    Other,
    /// An input file is malformed.
    InputInvalid,
    /// An input file cannot be read.
    InputUnreadable,
    /// A file could not be written.
    Output,
    /// A guard refused a change.
    Guard,
}

impl StepError {
    /// Whether trying the step again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Directory(error) if error.is_transient())
    }

    /// What kind of failure this is.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Guard(_) => FailureClass::Guard,
            Self::Output(_) | Self::Write { .. } => FailureClass::Output,
            Self::Input(MemberListError::Io { .. }) => FailureClass::InputUnreadable,
            Self::Input(_)
            | Self::EmptySyncList { .. }
            | Self::SyncListUnresolved { .. }
            | Self::NoListedGroup { .. }
            | Self::AmbiguousListedGroup { .. }
            | Self::TooManyListedGroups { .. }
            | Self::NoGroupColumn { .. } => FailureClass::InputInvalid,
            _ => FailureClass::Other,
        }
    }
}

/// What a filter step selected, for the steps that use it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Selection {
    Groups(Vec<Group>),
    Devices(Vec<Device>),
}

/// One job's end, for the run summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    pub id: String,
    pub target: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub changed: u64,
    pub files: Vec<String>,
}

/// An input a step read, with its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputRead {
    /// The absolute path.
    pub path: String,
    pub sha256: String,
}

/// What a step would do to one target, in a preview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effect {
    pub target: Option<String>,
    /// Rows by the outcome they would have.
    pub outcomes: BTreeMap<RowOutcome, u64>,
    /// A file that would be written, with its rows.
    pub file: Option<(String, u64)>,
    /// Jobs that would be deleted.
    pub deleted_jobs: u64,
    /// Files that would be deleted with them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_files: Vec<String>,
    /// Why the effect cannot be known before the run (the input is a file an
    /// earlier step of the same run writes); it is checked when the step runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The input the effect was computed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<InputRead>,
    /// Whether only the input and the target were checked (the rows were not
    /// looked up): `apply`'s check before a run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub checked_only: bool,
    /// Whether the job writes a per-row result file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub writes_results: bool,
    /// In a recording preview: the job's rows, changes and precondition.
    #[serde(skip)]
    pub ops: Option<pinned::JobOps>,
    /// In a recording preview: the ids of the jobs that would be deleted.
    #[serde(skip)]
    pub deleted_job_ids: Vec<String>,
}

impl Effect {
    /// How many rows would have this outcome.
    pub fn count(&self, outcome: RowOutcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }
}

/// What a step did, or in a preview would do.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    pub selection: Option<Selection>,
    pub jobs: Vec<JobSummary>,
    pub effects: Vec<Effect>,
}

/// Everything a step needs.
pub struct StepEnv<'a, D> {
    pub context: &'a RunContext,
    pub directory: &'a D,
    pub store: &'a Arc<Mutex<JobStore>>,
    pub plan: &'a Plan,
    pub step: &'a Step,
    /// The selections of the filter steps finished so far, by step index.
    pub selections: &'a HashMap<usize, Selection>,
    /// The step's progress line.
    pub progress: &'a crate::runner::progress::StepProgress,
    /// In a run: what the guards still allow. `None` in a preview.
    pub budget: Option<&'a Mutex<Budget>>,
    /// In a preview: the files earlier steps would write, with their step.
    pub planned_outputs: &'a HashMap<PathBuf, String>,
    /// In a preview: the membership changes earlier steps would make.
    pub overlay: Option<&'a Mutex<Overlay>>,
}

/// The membership changes a preview's earlier steps would make, so that a
/// later step is previewed against the directory as the run would leave it
/// (a removal after an addition to the same group counts the added members).
#[derive(Debug, Default, Clone)]
pub struct Overlay {
    groups: HashMap<String, GroupOverlay>,
    /// Devices earlier steps enable (`Some(true)`), disable (`Some(false)`)
    /// or delete (`None`), by object id.
    devices: HashMap<String, Option<bool>>,
}

#[derive(Debug, Default, Clone)]
struct GroupOverlay {
    added: std::collections::HashSet<u128>,
    removed: std::collections::HashSet<u128>,
}

impl Overlay {
    /// Whether `member` would be in `group` by the time a later step runs,
    /// given whether it is now.
    pub fn is_member(&self, group: &str, member: u128, now: bool) -> bool {
        match self.groups.get(group) {
            Some(changes) if changes.added.contains(&member) => true,
            Some(changes) if changes.removed.contains(&member) => false,
            _ => now,
        }
    }

    /// A device as earlier steps would leave it: `None` once deleted.
    pub fn device(&self, mut device: Device) -> Option<Device> {
        match self.devices.get(&device.id) {
            Some(None) => None,
            Some(Some(enabled)) => {
                device.account_enabled = *enabled;
                Some(device)
            }
            None => Some(device),
        }
    }

    /// Adds another view's changes, as if made after this one's.
    pub fn merge(&mut self, other: &Overlay) {
        for (group, changes) in &other.groups {
            for member in &changes.added {
                self.note(group, *member, true);
            }
            for member in &changes.removed {
                self.note(group, *member, false);
            }
        }
        for (device, enabled) in &other.devices {
            self.devices.insert(device.clone(), *enabled);
        }
    }

    /// Whether earlier steps change any device.
    pub fn changes_devices(&self) -> bool {
        !self.devices.is_empty()
    }

    /// Notes an earlier step's change to a device: enabled or disabled, or
    /// deleted (`None`).
    pub fn note_device(&mut self, id: &str, enabled: Option<bool>) {
        self.devices.insert(id.to_owned(), enabled);
    }

    /// Notes that an earlier step adds (or removes) `member` to `group`.
    pub fn note(&mut self, group: &str, member: u128, added: bool) {
        let changes = self.groups.entry(group.to_owned()).or_default();
        if added {
            changes.removed.remove(&member);
            changes.added.insert(member);
        } else {
            changes.added.remove(&member);
            changes.removed.insert(member);
        }
    }
}

impl<D: Directory> StepEnv<'_, D> {
    /// Runs a closure on the job store.
    fn store<T>(
        &self,
        work: impl FnOnce(&JobStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&store)
    }

    /// The groups a set stands for: a filter step's selection, or groups named one by one.
    async fn groups_of(&self, set: &GroupSetSpec) -> Result<Vec<Group>, StepError> {
        match set {
            SetSpec::Step(id) => {
                let index = self.plan.steps.iter().position(|step| &step.id == id);
                match index.and_then(|index| self.selections.get(&index)) {
                    Some(Selection::Groups(groups)) => Ok(groups.clone()),
                    _ => Ok(Vec::new()),
                }
            }
            SetSpec::List(targets) => {
                let mut groups = Vec::new();
                for target in targets {
                    groups.push(self.one_group(target).await?);
                }
                Ok(groups)
            }
        }
    }

    /// The one group a target names.
    async fn one_group(&self, target: &GroupTargetSpec) -> Result<Group, StepError> {
        let mut found = self.directory.find_groups(target).await?;
        match found.len() {
            0 => Err(StepError::NoGroup {
                target: target.to_string(),
            }),
            1 => Ok(found.remove(0)),
            count => Err(StepError::AmbiguousGroup {
                target: target.to_string(),
                count,
            }),
        }
    }

    /// In a preview, the step that writes `input` earlier in the same run.
    fn written_earlier(&self, input: &Path) -> Option<String> {
        let absolute = std::path::absolute(input).ok()?;
        let shown = input
            .strip_prefix(&self.context.input_base)
            .unwrap_or(input)
            .display();
        self.planned_outputs
            .get(&absolute)
            .map(|step| format!("it reads `{shown}`, which step `{step}` writes in this run"))
    }

    /// Checks an input against the fingerprint the run recorded for it, and
    /// records it the first time the run reads it.
    fn check_input(&self, read: &InputRead) -> Result<(), StepError> {
        if self.context.dry_run {
            return Ok(());
        }
        match self
            .store(|store| store.record_input(&self.context.run_id, &read.path, &read.sha256))?
        {
            None => Ok(()),
            Some(recorded) => Err(StepError::InputChanged {
                path: PathBuf::from(&read.path),
                recorded,
                now: read.sha256.clone(),
            }),
        }
    }

    /// Refuses a result file that would replace the step's input, before
    /// the step changes anything (and in its preview).
    fn refuse_results_over_input(
        &self,
        relative: &str,
        overwrite: bool,
        input: crate::files::input::FileIdentity,
    ) -> Result<(), StepError> {
        if self
            .context
            .output
            .would_replace(relative, overwrite, input)?
        {
            return Err(StepError::Output(OutputError::WouldReplaceInput {
                path: self.context.output.resolve(relative)?,
            }));
        }
        Ok(())
    }

    /// Where a run keeps private copies of its inputs: the job store's folder
    /// (the system's temporary folder for a shared store).
    fn scratch_folder(&self) -> PathBuf {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A shared store has no folder of its own here: the system's
        // temporary folder holds the (nameless) copies then.
        if store.location().is_shared() {
            std::env::temp_dir()
        } else {
            store.location().local_folder()
        }
    }

    /// The work a saved plan holds this step to, in a run of a saved plan.
    fn pins(&self) -> Option<&pinned::StepPins> {
        let pins = self.context.pins.as_ref()?;
        Some(pins.step(&self.step.id).unwrap_or(&NO_PINS))
    }

    /// Whether this step's destructive effect was not counted by a preview in
    /// this process, so it must be counted when the step starts.
    fn needs_count(&self) -> bool {
        self.budget.is_some() && !self.context.counted_steps.contains(&self.step.id)
    }

    /// Checks that `extra` fits what the guards still allow.
    fn fits(&self, extra: Charged) -> Result<(), StepError> {
        match self.budget {
            Some(budget) => Ok(lock(budget).fits(extra)?),
            None => Ok(()),
        }
    }

    /// Spends `extra` from what the guards allow, before it is journaled.
    fn charge(&self, extra: Charged) -> Result<(), StepError> {
        match self.budget {
            Some(budget) => Ok(lock(budget).charge(extra)?),
            None => Ok(()),
        }
    }

    /// Starts (or, in a resumed run, continues) this step's job for a target;
    /// returns the job id.
    /// On a resumed run, refuses when a job of this step that was started
    /// and did not finish is on a group or device the step no longer names (a
    /// display name that now names another object): the run could not finish
    /// it as planned.
    fn refuse_moved_targets(&self, targets: &[&str]) -> Result<(), StepError> {
        if self.context.dry_run {
            return Ok(());
        }
        let jobs = self.store(|store| store.jobs_of_run(&self.context.run_id))?;
        let moved = jobs.into_iter().find(|job| {
            job.step == self.step.id
                && matches!(job.status, Status::Running | Status::Interrupted)
                && !targets.contains(&job.target_id.as_str())
        });
        match moved {
            Some(job) => Err(StepError::TargetMoved {
                step: self.step.id.clone(),
                job: job.id,
                target: job.target_name.unwrap_or_default(),
                target_id: job.target_id,
            }),
            None => Ok(()),
        }
    }

    fn start_job(
        &self,
        target_id: &str,
        target_name: Option<&str>,
        input_file: Option<&str>,
    ) -> Result<String, StoreError> {
        let job = self.store(|store| {
            store.start_job(&NewJob {
                run_id: &self.context.run_id,
                workflow: &self.context.workflow,
                step: &self.step.id,
                operation: self.step.action.kind().key(),
                target_id,
                target_name,
                input_file,
                started_at: Timestamp::now(),
            })
        })?;
        Ok(job.id)
    }

    /// Starts writing a job's file. A file the same job wrote in an attempt
    /// of the run that was interrupted before the job ended is removed first
    /// (if it is still as written), so a resume writes the file once, under
    /// its own name, instead of beside itself.
    fn create_file(
        &self,
        job_id: &str,
        relative: &str,
        overwrite: bool,
        protect: Option<crate::files::input::FileIdentity>,
    ) -> Result<PendingFile, StepError> {
        for earlier in self.store(|store| store.files(job_id))? {
            let identity = earlier
                .identity
                .as_deref()
                .and_then(|text| text.parse::<crate::bulkcsv::output::WrittenIdentity>().ok());
            if let Some(identity) = identity {
                let path = Path::new(&earlier.path);
                self.context.output.remove_written(path, &identity)?;
                self.store(|store| store.forget_file(job_id, &earlier.path))?;
            }
        }
        Ok(self
            .context
            .output
            .create_protecting(relative, overwrite, protect)?)
    }

    /// Gives a finished file its name and records it with its job; returns
    /// the path as shown to people.
    fn commit_file(
        &self,
        job_id: &str,
        kind: &str,
        file: PendingFile,
        rows: u64,
    ) -> Result<String, StepError> {
        self.store(|store| store.confirm_held(job_id))?;
        let WrittenFile { path, .. } = file.commit_with(|written| {
            let record = JobFile {
                kind: kind.to_owned(),
                path: written.path.display().to_string(),
                rows,
                identity: Some(written.identity.to_string()),
            };
            self.store(|store| store.add_file(job_id, &record))
                .map_err(|error| std::io::Error::other(crate::text::chain(&error)))
        })?;
        if fault::due(fault::Phase::Written) {
            fault::hold_blocking(fault::Phase::Written);
        }
        Ok(self.context.output.display(&path))
    }

    /// Ends a job failed with `error` as its reason, and hands the error on:
    /// the step reports it too.
    fn fail_job<T>(
        &self,
        job_id: &str,
        target: Option<&str>,
        error: StepError,
    ) -> Result<T, StepError> {
        let reason = Some(crate::text::chain(&error));
        self.finish_job(job_id, target, JobCounts::default(), reason, Vec::new())?;
        Err(error)
    }

    /// Ends the job of a group Microsoft Graph cannot change the members of
    /// (mail-enabled security groups and distribution lists).
    fn refuse_unmanageable(&self, job_id: &str, group: &Group) -> Result<JobSummary, StepError> {
        let reason = format!(
            "`{}` is a mail-enabled security group or distribution list; Microsoft Graph cannot change its members, manage it in Exchange",
            group.display_name
        );
        Ok(self.finish_job(
            job_id,
            Some(&group.display_name),
            JobCounts::default(),
            Some(reason),
            Vec::new(),
        )?)
    }

    /// Gives the changed objects that have no name the name the directory
    /// knows them by, in one lookup.
    async fn name_changes(&self, changes: &mut [pinned::ObjectRef]) -> Result<(), StepError> {
        let unnamed: Vec<String> = changes
            .iter()
            .filter(|change| change.name.is_none())
            .map(|change| change.id.clone())
            .collect();
        if unnamed.is_empty() {
            return Ok(());
        }
        let names = self.directory.names_of(&unnamed).await?;
        for change in changes.iter_mut().filter(|change| change.name.is_none()) {
            change.name = names.get(&change.id.to_ascii_lowercase()).cloned();
        }
        Ok(())
    }

    /// Records a job's end and returns its summary.
    fn finish_job(
        &self,
        job_id: &str,
        target: Option<&str>,
        counts: JobCounts,
        reason: Option<String>,
        files: Vec<String>,
    ) -> Result<JobSummary, StoreError> {
        let status = if counts.failed > 0 || reason.is_some() {
            Status::Failed
        } else {
            Status::Completed
        };
        let reason = match (status, reason) {
            (Status::Failed, None) => Some(crate::store::NOT_ALL_ROWS.to_owned()),
            (_, reason) => reason,
        };
        self.store(|store| {
            store.finish_job(job_id, status, reason.as_deref(), counts, Timestamp::now())
        })?;
        Ok(JobSummary {
            id: job_id.to_owned(),
            target: target.map(str::to_owned),
            status,
            reason,
            total: counts.total,
            succeeded: counts.succeeded,
            failed: counts.failed,
            changed: counts.changed,
            files,
        })
    }
}

/// The pins of a step a saved plan has no work for: nothing may change.
static NO_PINS: std::sync::LazyLock<pinned::StepPins> =
    std::sync::LazyLock::new(pinned::StepPins::default);

fn lock(budget: &Mutex<Budget>) -> std::sync::MutexGuard<'_, Budget> {
    budget
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The error of a CSV write to `path`.
fn write_error(path: &Path) -> impl FnOnce(csv::Error) -> StepError + '_ {
    move |source| StepError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Adds a row's outcome to a job's counts.
fn count(counts: &mut JobCounts, outcome: RowOutcome) {
    counts.total += 1;
    if outcome.is_success() {
        counts.succeeded += 1;
    } else {
        counts.failed += 1;
    }
    if outcome.is_change() {
        counts.changed += 1;
    }
}

/// Runs one step.
pub async fn run<D: Directory>(env: &StepEnv<'_, D>) -> Result<StepReport, StepError> {
    match &env.step.action {
        Action::FilterGroups(spec) => filter::groups(env, spec).await,
        Action::FilterDevices(spec) => filter::devices(env, spec).await,
        Action::DownloadGroups(spec) => download::groups(env, spec).await,
        Action::DownloadMembers(spec) => download::members(env, spec).await,
        Action::ImportMembers(spec) => membership::run(env, spec, membership::Change::Add).await,
        Action::RemoveMembers(spec) => membership::run(env, spec, membership::Change::Remove).await,
        Action::SyncMembers(spec) => sync::run(env, spec).await,
        Action::DeleteJobs(spec) => delete_jobs::run(env, spec),
        Action::DownloadDevices(spec) => devices::download(env, spec).await,
        Action::DisableDevices(spec) => {
            let source = devices::DeviceSource::of(
                spec.devices.as_ref(),
                spec.input.as_deref(),
                spec.results.as_deref(),
                spec.overwrite,
            );
            devices::change(env, &source, devices::DeviceChange::Disable).await
        }
        Action::EnableDevices(spec) => {
            let source = devices::DeviceSource::of(
                spec.devices.as_ref(),
                spec.input.as_deref(),
                spec.results.as_deref(),
                spec.overwrite,
            );
            devices::change(env, &source, devices::DeviceChange::Enable).await
        }
        Action::DeleteDevices(spec) => {
            let source = devices::DeviceSource::of(
                spec.devices.as_ref(),
                spec.input.as_deref(),
                spec.results.as_deref(),
                spec.overwrite,
            );
            let change = devices::DeviceChange::Delete {
                require_disabled: spec.require_disabled,
            };
            devices::change(env, &source, change).await
        }
    }
}
