//! `downloadDevices`, `disableDevices`, `enableDevices` and `deleteDevices`.
//!
//! Device changes run as one job per step, with rows in journaled chunks like
//! membership changes, so they resume the same way; deletions are charged
//! against the run's guards before they are journaled. Devices come from a
//! `filterDevices` step, a list in the manifest, or a CSV of object ids or
//! device ids.

use std::collections::HashSet;
use std::path::Path;

use super::fault::{self, Phase};
use super::pinned::{DeviceState, JobOps, ObjectRef, Precondition};
use super::{
    Effect, InputRead, JobSummary, Selection, StepEnv, StepError, StepReport, count, write_error,
};
use crate::bulkcsv::cells::CsvWriter;
use crate::bulkcsv::members::{MemberKey, MemberList};
use crate::directory::Directory;
use crate::directory::model::Device;
use crate::directory::outcome::RowOutcome;
use crate::files::input::{FileIdentity, hashing};
use crate::manifest::step::DownloadDevicesSpec;
use crate::manifest::target::{DeviceSetSpec, DeviceTargetSpec, SetSpec};
use crate::store::{Charged, Chunk, JobCounts};

const DEVICE_COLUMNS: [&str; 14] = [
    "Object ID",
    "Device ID",
    "Display name",
    "Enabled",
    "Operating system",
    "Version",
    "Join type",
    "Compliant",
    "Managed",
    "Last sign-in",
    "Registered",
    "Profile type",
    "Manufacturer",
    "Model",
];

/// What a device change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeviceChange {
    Disable,
    Enable,
    Delete { require_disabled: bool },
}

/// Where a device change's rows come from, and where its results go.
pub(super) struct DeviceSource<'a> {
    pub(super) devices: Option<&'a DeviceSetSpec>,
    pub(super) input: Option<&'a str>,
    pub(super) results: Option<&'a str>,
    pub(super) overwrite: bool,
}

impl<'a> DeviceSource<'a> {
    /// The source a step's options name.
    pub(super) fn of(
        devices: Option<&'a DeviceSetSpec>,
        input: Option<&'a str>,
        results: Option<&'a str>,
        overwrite: bool,
    ) -> Self {
        Self {
            devices,
            input,
            results,
            overwrite,
        }
    }
}

/// One row of a device change: the fields for the result file, and the device.
struct DeviceRow {
    fields: Vec<String>,
    /// The row's line in the input file; none for a selected device.
    line: Option<u64>,
    device: Result<Option<Device>, String>,
}

impl DeviceRow {
    /// The object id of the device the row names, when found.
    fn found_id(&self) -> Option<&str> {
        self.device
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(|device| device.id.as_str())
    }
}

/// The rows of a change and where they came from.
struct DeviceRows {
    header: Vec<String>,
    rows: Vec<DeviceRow>,
    /// The input file, when the rows came from one.
    read: Option<(InputRead, FileIdentity)>,
}

/// Writes a CSV of devices.
pub(super) async fn download<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DownloadDevicesSpec,
) -> Result<StepReport, StepError> {
    let devices = match &spec.devices {
        Some(set) => devices_of(env, set).await?,
        None => env.directory.devices().await?,
    };
    let relative = env.context.output_path(&spec.output, &env.step.id, None)?;
    let formulas = env.context.csv;
    super::download::single_file(
        env,
        relative,
        spec.overwrite,
        devices.len() as u64,
        |file| {
            let mut writer = CsvWriter::new(file, formulas);
            writer.write_row(DEVICE_COLUMNS)?;
            for device in &devices {
                writer.write_row(device_row(device))?;
            }
            writer.flush()?;
            Ok(())
        },
    )
}

/// Disables, enables or deletes devices.
pub(super) async fn change<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
    change: DeviceChange,
) -> Result<StepReport, StepError> {
    if env.context.dry_run {
        return preview(env, source, change).await;
    }
    let rows = rows_of(env, source).await?;
    if let Some((read, _)) = &rows.read {
        env.check_input(read)?;
    }
    refuse_results_over_input(env, source, &rows)?;
    let outcomes = plan(&rows.rows, change);
    if matches!(change, DeviceChange::Delete { .. })
        && env.needs_count()
        && !env.store(|store| store.step_journaled(&env.context.run_id, &env.step.id))?
    {
        env.fits(deletions(&outcomes))?;
    }
    let job = env.start_job(
        "",
        None,
        rows.read.as_ref().map(|(read, _)| read.path.as_str()),
    )?;
    env.store(|store| store.set_planned_rows(&job, rows.rows.len() as u64))?;
    let summary = match run_job(env, source, change, &job, &rows, outcomes).await {
        Ok(summary) => summary,
        Err(error) => return env.fail_job(&job, None, error),
    };
    Ok(StepReport {
        selection: None,
        jobs: vec![summary],
        effects: Vec::new(),
    })
}

/// What the change would do.
async fn preview<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
    change: DeviceChange,
) -> Result<StepReport, StepError> {
    let mut effect = Effect {
        writes_results: true,
        ..Effect::default()
    };
    if let Some(template) = source.input {
        let input = env.context.input_path(template, &env.step.id)?;
        if let Some(why) = env.written_earlier(&input) {
            effect.unknown = Some(why);
            return Ok(report_of(effect));
        }
    }
    let mut rows = rows_of(env, source).await?;
    refuse_results_over_input(env, source, &rows)?;
    let states = env.context.record.then(|| states_of(&rows.rows));
    // Previewed against the devices as earlier steps of the run would leave
    // them, and noted for the steps after it.
    let mut overlay = env.overlay.map(|overlay| {
        overlay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    if let Some(overlay) = &overlay {
        for row in &mut rows.rows {
            if let Ok(found) = &mut row.device {
                *found = found.take().and_then(|device| overlay.device(device));
            }
        }
    }
    let outcomes = plan(&rows.rows, change);
    for (row, outcome) in rows.rows.iter().zip(&outcomes) {
        *effect.outcomes.entry(*outcome).or_default() += 1;
        let id = row
            .device
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(|device| device.id.as_str());
        if let (Some(overlay), Some(id)) = (overlay.as_mut(), id) {
            match outcome {
                RowOutcome::Disabled => overlay.note_device(id, Some(false)),
                RowOutcome::Enabled => overlay.note_device(id, Some(true)),
                RowOutcome::Deleted => overlay.note_device(id, None),
                _ => {}
            }
        }
    }
    if let Some(states) = states {
        effect.ops = Some(record(&rows.rows, &outcomes, states));
    }
    effect.input = rows.read.map(|(read, _)| read);
    Ok(report_of(effect))
}

/// The state of each device the rows name, as found.
fn states_of(rows: &[DeviceRow]) -> Vec<DeviceState> {
    let mut states: Vec<DeviceState> = found_devices(rows)
        .map(|device| DeviceState {
            id: device.id.clone(),
            name: device.display_name.clone(),
            enabled: device.account_enabled,
        })
        .collect();
    states.sort();
    states.dedup();
    states
}

/// The devices the rows name that were found.
fn found_devices(rows: &[DeviceRow]) -> impl Iterator<Item = &Device> {
    rows.iter()
        .filter_map(|row| row.device.as_ref().ok().and_then(Option::as_ref))
}

/// A device job's rows and changes, for a saved plan.
fn record(rows: &[DeviceRow], outcomes: &[RowOutcome], states: Vec<DeviceState>) -> JobOps {
    let mut ops = JobOps {
        precondition: Some(Precondition::Devices { devices: states }),
        ..JobOps::default()
    };
    for (row, outcome) in rows.iter().zip(outcomes) {
        ops.push_row(*outcome);
        if let (true, Ok(Some(device))) = (outcome.is_change(), &row.device) {
            ops.changes.push(ObjectRef::device(device));
        }
    }
    ops
}

/// In a run of a saved plan, refuses a chunk whose planned outcomes or
/// devices differ from the plan's, before it is journaled.
fn hold_to_plan<D: Directory>(
    env: &StepEnv<'_, D>,
    first_row: usize,
    rows: &[DeviceRow],
    outcomes: &[RowOutcome],
) -> Result<(), StepError> {
    let Some(pins) = env.pins() else {
        return Ok(());
    };
    let target = format!("the devices of step `{}`", env.step.id);
    let Some(job) = pins.job_for("") else {
        return Err(StepError::NotPlanned { what: target });
    };
    let changed: Vec<Option<&str>> = rows.iter().map(DeviceRow::found_id).collect();
    job.check(first_row, outcomes, &changed)
        .map_err(|difference| StepError::PlanDiffers { target, difference })
}

fn report_of(effect: Effect) -> StepReport {
    StepReport {
        selection: None,
        jobs: Vec::new(),
        effects: vec![effect],
    }
}

/// The deletions among planned outcomes.
fn deletions(outcomes: &[RowOutcome]) -> Charged {
    Charged {
        removals: 0,
        device_deletions: outcomes
            .iter()
            .filter(|outcome| **outcome == RowOutcome::Deleted)
            .count() as u64,
    }
}

async fn run_job<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
    change: DeviceChange,
    job: &str,
    rows: &DeviceRows,
    planned: Vec<RowOutcome>,
) -> Result<JobSummary, StepError> {
    let journal = env.store(|store| store.chunks(job))?;
    let chunk_rows = env.context.chunk_rows;
    let mut outcomes = Vec::with_capacity(rows.rows.len());
    for (index, (rows, fresh)) in rows
        .rows
        .chunks(chunk_rows)
        .zip(planned.chunks(chunk_rows))
        .enumerate()
    {
        let index = index as u64;
        let chunk = match journal.iter().find(|chunk| chunk.index == index) {
            Some(chunk) if chunk.outcomes.len() == rows.len() => chunk.clone(),
            Some(chunk) => {
                return Err(StepError::JournalMismatch {
                    chunk: index,
                    journaled: chunk.outcomes.len(),
                    read: rows.len(),
                });
            }
            None => {
                let first = usize::try_from(index).unwrap_or(usize::MAX) * chunk_rows;
                hold_to_plan(env, first, rows, fresh)?;
                fault::reached(Phase::BeforeJournal).await;
                env.charge(deletions(fresh))?;
                let chunk = Chunk {
                    index,
                    first_row: index * chunk_rows as u64,
                    outcomes: fresh.to_vec(),
                    applied: false,
                };
                env.store(|store| store.plan_chunk(job, &chunk))?;
                fault::reached(Phase::AfterJournal).await;
                chunk
            }
        };
        if !chunk.applied {
            env.store(|store| store.confirm_held(job))?;
            apply(env, change, rows, &chunk.outcomes).await?;
            env.store(|store| store.mark_chunk_applied(job, index))?;
            fault::reached(Phase::AfterApply).await;
        }
        outcomes.extend(chunk.outcomes);
    }
    let (path, counts) = write_results(env, source, job, rows, &outcomes)?;
    Ok(env.finish_job(job, None, counts, None, vec![path])?)
}

/// Writes the result file: each row with its outcome.
/// The result file's path, relative to the output root.
fn results_path<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
) -> Result<String, StepError> {
    let template = source
        .results
        .unwrap_or("results/{{run.id}}/{{step.id}}.csv");
    Ok(env.context.output_path(template, &env.step.id, None)?)
}

/// Refuses a result file that would replace the step's input list.
fn refuse_results_over_input<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
    rows: &DeviceRows,
) -> Result<(), StepError> {
    match &rows.read {
        Some((_, identity)) => {
            env.refuse_results_over_input(&results_path(env, source)?, source.overwrite, *identity)
        }
        None => Ok(()),
    }
}

fn write_results<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
    job: &str,
    rows: &DeviceRows,
    outcomes: &[RowOutcome],
) -> Result<(String, JobCounts), StepError> {
    let relative = results_path(env, source)?;
    let protect = rows.read.as_ref().map(|(_, identity)| *identity);
    let mut file = env.create_file(job, &relative, source.overwrite, protect)?;
    let target = file.target();
    let mut counts = JobCounts::default();
    {
        let mut writer = CsvWriter::new(&mut file, env.context.csv);
        writer
            .write_row(&rows.header)
            .map_err(write_error(&target))?;
        for (row, outcome) in rows.rows.iter().zip(outcomes) {
            let error = match &row.device {
                Err(reason) => reason.clone(),
                Ok(_) if *outcome == RowOutcome::Duplicate => {
                    "the same device is on an earlier row".to_owned()
                }
                Ok(_) => outcome.explanation().to_owned(),
            };
            let mut fields = row.fields.clone();
            fields.resize(rows.header.len() - 3, String::new());
            let line = row.line.map(|line| line.to_string()).unwrap_or_default();
            fields.extend([line, outcome.key().to_owned(), error]);
            writer.write_row(&fields).map_err(write_error(&target))?;
            count(&mut counts, *outcome);
        }
        writer
            .flush()
            .map_err(|error| write_error(&target)(error.into()))?;
    }
    let path = env.commit_file(job, "results", file, counts.total)?;
    Ok((path, counts))
}

/// Each row's outcome if the change were made now; repeated devices once.
fn plan(rows: &[DeviceRow], change: DeviceChange) -> Vec<RowOutcome> {
    let mut seen = HashSet::new();
    rows.iter()
        .map(|row| match &row.device {
            Err(_) => RowOutcome::InvalidId,
            Ok(None) => RowOutcome::NotFound,
            Ok(Some(device)) if !seen.insert(device.id.clone()) => RowOutcome::Duplicate,
            Ok(Some(device)) => match (change, device.account_enabled) {
                (DeviceChange::Disable, true) => RowOutcome::Disabled,
                (DeviceChange::Disable, false) => RowOutcome::AlreadyDisabled,
                (DeviceChange::Enable, false) => RowOutcome::Enabled,
                (DeviceChange::Enable, true) => RowOutcome::AlreadyEnabled,
                (
                    DeviceChange::Delete {
                        require_disabled: true,
                    },
                    true,
                ) => RowOutcome::StillEnabled,
                (DeviceChange::Delete { .. }, _) => RowOutcome::Deleted,
            },
        })
        .collect()
}

/// Makes the planned changes; making them twice changes nothing more.
async fn apply<D: Directory>(
    env: &StepEnv<'_, D>,
    change: DeviceChange,
    rows: &[DeviceRow],
    outcomes: &[RowOutcome],
) -> Result<(), StepError> {
    let (wanted, enable) = match change {
        DeviceChange::Disable => (RowOutcome::Disabled, Some(false)),
        DeviceChange::Enable => (RowOutcome::Enabled, Some(true)),
        DeviceChange::Delete { .. } => (RowOutcome::Deleted, None),
    };
    let targets: Vec<&str> = rows
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| **outcome == wanted)
        .filter_map(|(row, _)| row.found_id())
        .collect();
    let (now, held) = if fault::due(Phase::MidApply) {
        (&targets[..targets.len() / 2], true)
    } else {
        (&targets[..], false)
    };
    match enable {
        Some(enabled) => env.directory.set_devices_enabled(now, enabled).await?,
        None => env.directory.delete_devices(now).await?,
    }
    if held {
        fault::hold(Phase::MidApply).await;
    }
    Ok(())
}

/// The rows of a device change and the result file's header.
async fn rows_of<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
) -> Result<DeviceRows, StepError> {
    let status = ["line".to_owned(), "status".to_owned(), "error".to_owned()];
    if let Some(set) = source.devices {
        // A selection may predate earlier steps of the run: plan against the
        // devices as they are now.
        let selected = devices_of(env, set).await?;
        let ids: Vec<String> = selected.iter().map(|device| device.id.clone()).collect();
        let current = env.directory.find_devices(&ids).await?;
        let devices: Vec<Device> = selected
            .into_iter()
            .zip(current)
            .map(|(old, now)| now.unwrap_or(old))
            .collect();
        let header = ["Object ID".to_owned(), "Display name".to_owned()]
            .into_iter()
            .chain(status)
            .collect();
        let rows = devices
            .into_iter()
            .map(|device| DeviceRow {
                fields: vec![device.id.clone(), device.display_name.clone()],
                line: None,
                device: Ok(Some(device)),
            })
            .collect();
        return Ok(DeviceRows {
            header,
            rows,
            read: None,
        });
    }
    let template = source.input.unwrap_or_default();
    let input = env.context.input_path(template, &env.step.id)?;
    let (header, raw, read) = read_file(&input)?;
    let ids: Vec<String> = raw
        .iter()
        .map(|row| match &row.key {
            Ok(MemberKey::ObjectId(id)) => id.clone(),
            _ => String::new(),
        })
        .collect();
    let found = env.directory.find_devices(&ids).await?;
    let rows = raw
        .into_iter()
        .zip(found)
        .map(|(row, device)| {
            let device = match &row.key {
                Ok(MemberKey::ObjectId(_)) => Ok(device),
                Ok(MemberKey::Upn(upn)) => Err(format!(
                    "`{}` is not a device id",
                    crate::bulkcsv::members::quote(upn)
                )),
                Err(reason) => Err(reason.clone()),
            };
            DeviceRow {
                fields: row.fields.iter().map(|f| f.trim().to_owned()).collect(),
                line: Some(row.line),
                device,
            }
        })
        .collect();
    Ok(DeviceRows {
        header: header.into_iter().chain(status).collect(),
        rows,
        read: Some(read),
    })
}

type FileRows = (
    Vec<String>,
    Vec<crate::bulkcsv::members::MemberRow>,
    (InputRead, FileIdentity),
);

/// Reads a device list whole, with its fingerprint.
fn read_file(input: &Path) -> Result<FileRows, StepError> {
    let file = MemberList::open_file(input)?;
    let io = |source| {
        StepError::Input(crate::bulkcsv::members::MemberListError::Io {
            path: input.to_path_buf(),
            source,
        })
    };
    let identity = FileIdentity::of(&file).map_err(io)?;
    let (reader, digest) = hashing(file);
    let mut list = MemberList::from_reader(input, Box::new(reader))?;
    let header: Vec<String> = match list.header() {
        Some(columns) => columns.iter().map(|c| c.trim().to_owned()).collect(),
        None => vec!["id".to_owned()],
    };
    let mut raw = Vec::new();
    while let Some(row) = list.next_row()? {
        raw.push(row);
    }
    drop(list);
    let absolute = std::path::absolute(input).map_err(io)?;
    let read = InputRead {
        path: absolute.display().to_string(),
        sha256: digest.fingerprint().to_string(),
    };
    Ok((header, raw, (read, identity)))
}

/// The devices a set stands for.
async fn devices_of<D: Directory>(
    env: &StepEnv<'_, D>,
    set: &DeviceSetSpec,
) -> Result<Vec<Device>, StepError> {
    match set {
        SetSpec::Step(id) => {
            let index = env.plan.steps.iter().position(|step| &step.id == id);
            match index.and_then(|index| env.selections.get(&index)) {
                Some(Selection::Devices(devices)) => Ok(devices.clone()),
                _ => Ok(Vec::new()),
            }
        }
        SetSpec::List(targets) => {
            let all = env.directory.devices().await?;
            targets
                .iter()
                .map(|target| one_device(&all, target))
                .collect()
        }
    }
}

fn one_device(all: &[Device], target: &DeviceTargetSpec) -> Result<Device, StepError> {
    let (what, matches): (String, Vec<&Device>) = match target {
        DeviceTargetSpec::Id(id) => (
            format!("id {id}"),
            all.iter()
                .filter(|d| d.id.eq_ignore_ascii_case(id))
                .collect(),
        ),
        DeviceTargetSpec::DeviceId(id) => (
            format!("deviceId {id}"),
            all.iter()
                .filter(|d| d.device_id.eq_ignore_ascii_case(id))
                .collect(),
        ),
        DeviceTargetSpec::DisplayName(name) => (
            format!("displayName {name:?}"),
            all.iter()
                .filter(|d| d.display_name.eq_ignore_ascii_case(name))
                .collect(),
        ),
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(StepError::NoDevice { target: what }),
        many => Err(StepError::AmbiguousDevice {
            target: what,
            count: many.len(),
        }),
    }
}

fn optional(value: Option<bool>) -> String {
    value.map(|flag| flag.to_string()).unwrap_or_default()
}

fn device_row(device: &Device) -> Vec<String> {
    let join_type = match device.trust_type.as_deref() {
        Some("AzureAd") => "Microsoft Entra joined",
        Some("ServerAd") => "Microsoft Entra hybrid joined",
        Some("Workplace") => "Microsoft Entra registered",
        Some(other) => other,
        None => "",
    };
    vec![
        device.id.clone(),
        device.device_id.clone(),
        device.display_name.clone(),
        device.account_enabled.to_string(),
        device.operating_system.clone().unwrap_or_default(),
        device.operating_system_version.clone().unwrap_or_default(),
        join_type.to_owned(),
        optional(device.is_compliant),
        optional(device.is_managed),
        device
            .approximate_last_sign_in_date_time
            .map(|t| t.to_string())
            .unwrap_or_default(),
        device
            .registration_date_time
            .map(|t| t.to_string())
            .unwrap_or_default(),
        device.profile_type.clone().unwrap_or_default(),
        device.manufacturer.clone().unwrap_or_default(),
        device.model.clone().unwrap_or_default(),
    ]
}
