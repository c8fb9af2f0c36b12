//! `downloadDevices`, `disableDevices`, `enableDevices` and `deleteDevices`.
//!
//! Device changes run as one job per step, with rows in journaled chunks like
//! membership changes, so they resume the same way. Devices come from a
//! `filterDevices` step, a list in the manifest, or a CSV of object ids or
//! device ids.

use std::collections::HashSet;
use std::path::Path;

use super::{Effect, JobSummary, Selection, StepEnv, StepError, StepReport};
use crate::bulkcsv::members::{MemberKey, MemberList};
use crate::directory::Directory;
use crate::directory::model::Device;
use crate::directory::outcome::RowOutcome;
use crate::manifest::step::DownloadDevicesSpec;
use crate::manifest::target::{DeviceSetSpec, DeviceTargetSpec, SetSpec};
use crate::store::{Chunk, JobCounts, JobFile};

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

/// Where a device change's rows come from.
pub(super) struct DeviceSource<'a> {
    pub(super) devices: Option<&'a DeviceSetSpec>,
    pub(super) input: Option<&'a str>,
    pub(super) results: Option<&'a str>,
}

impl<'a> DeviceSource<'a> {
    /// The source a step's options name.
    pub(super) fn of(
        devices: Option<&'a DeviceSetSpec>,
        input: Option<&'a str>,
        results: Option<&'a str>,
    ) -> Self {
        Self {
            devices,
            input,
            results,
        }
    }
}

/// One row of a device change: the fields for the result file, and the device.
struct DeviceRow {
    fields: Vec<String>,
    device: Result<Option<Device>, String>,
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
    super::download::single_file(
        env,
        relative,
        spec.overwrite,
        devices.len() as u64,
        |file| {
            let mut writer = csv::Writer::from_writer(file);
            writer.write_record(DEVICE_COLUMNS)?;
            for device in &devices {
                writer.write_record(device_row(device))?;
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
    let (header, rows) = rows_of(env, source).await?;
    let outcomes = plan(&rows, change);
    if env.context.dry_run {
        let mut effect = Effect::default();
        for outcome in &outcomes {
            *effect.outcomes.entry(*outcome).or_default() += 1;
        }
        return Ok(StepReport {
            selection: None,
            jobs: Vec::new(),
            effects: vec![effect],
        });
    }
    let job = env.start_job("", None, source.input)?;
    let summary = match run_job(env, source, change, &job, &header, &rows, outcomes).await {
        Ok(summary) => summary,
        Err(error) => {
            env.finish_job(
                &job,
                None,
                JobCounts::default(),
                Some(error.to_string()),
                Vec::new(),
            )?;
            return Err(error);
        }
    };
    Ok(StepReport {
        selection: None,
        jobs: vec![summary],
        effects: Vec::new(),
    })
}

async fn run_job<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
    change: DeviceChange,
    job: &str,
    header: &[String],
    rows: &[DeviceRow],
    planned: Vec<RowOutcome>,
) -> Result<JobSummary, StepError> {
    let journal = env.store(|store| store.chunks(job))?;
    let chunk_rows = super::membership::chunk_rows();
    let mut outcomes = Vec::with_capacity(rows.len());
    for (index, (rows, fresh)) in rows
        .chunks(chunk_rows)
        .zip(planned.chunks(chunk_rows))
        .enumerate()
    {
        let index = index as u64;
        let journaled = journal
            .iter()
            .find(|chunk| chunk.index == index && chunk.outcomes.len() == rows.len());
        let chunk = if let Some(chunk) = journaled {
            chunk.clone()
        } else {
            let first_row = index * chunk_rows as u64;
            let chunk = Chunk {
                index,
                first_row,
                outcomes: fresh.to_vec(),
                applied: false,
            };
            env.store(|store| store.plan_chunk(job, &chunk))?;
            chunk
        };
        if !chunk.applied {
            apply(env, change, rows, &chunk.outcomes).await?;
            env.store(|store| store.mark_chunk_applied(job, index))?;
        }
        outcomes.extend(chunk.outcomes);
    }
    let template = source
        .results
        .unwrap_or("results/{{run.id}}/{{step.id}}.csv");
    let relative = env.context.output_path(template, &env.step.id, None)?;
    let mut file = env.context.output.create(&relative, true)?;
    let mut counts = JobCounts::default();
    {
        let mut writer = csv::Writer::from_writer(&mut file);
        let write_error = |source| StepError::Write {
            path: env.context.output.path().join(&relative),
            source,
        };
        writer.write_record(header).map_err(write_error)?;
        for (row, outcome) in rows.iter().zip(&outcomes) {
            let error = match &row.device {
                Err(reason) => reason.clone(),
                Ok(_) if *outcome == RowOutcome::Duplicate => {
                    "the same device is on an earlier row".to_owned()
                }
                Ok(_) => outcome.explanation().to_owned(),
            };
            let mut fields = row.fields.clone();
            fields.resize(header.len() - 2, String::new());
            fields.extend([outcome.key().to_owned(), error]);
            writer.write_record(&fields).map_err(write_error)?;
            counts.total += 1;
            counts.succeeded += u64::from(outcome.is_success());
            counts.failed += u64::from(!outcome.is_success());
            counts.changed += u64::from(outcome.is_change());
        }
        writer.flush().map_err(|error| write_error(error.into()))?;
    }
    let path = file.commit()?;
    let record = JobFile {
        kind: "results".into(),
        path: path.display().to_string(),
        rows: counts.total,
    };
    env.store(|store| store.add_file(job, &record))?;
    Ok(env.finish_job(
        job,
        None,
        counts,
        None,
        vec![env.context.output.display(&path)],
    )?)
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
    let ids = |wanted: RowOutcome| -> Vec<&str> {
        rows.iter()
            .zip(outcomes)
            .filter(|(_, outcome)| **outcome == wanted)
            .filter_map(|(row, _)| {
                row.device
                    .as_ref()
                    .ok()
                    .and_then(Option::as_ref)
                    .map(|device| device.id.as_str())
            })
            .collect()
    };
    let (wanted, enable) = match change {
        DeviceChange::Disable => (RowOutcome::Disabled, Some(false)),
        DeviceChange::Enable => (RowOutcome::Enabled, Some(true)),
        DeviceChange::Delete { .. } => (RowOutcome::Deleted, None),
    };
    let targets = ids(wanted);
    match enable {
        Some(enabled) => env.directory.set_devices_enabled(&targets, enabled).await?,
        None => env.directory.delete_devices(&targets).await?,
    }
    Ok(())
}

/// The rows of a device change and the result file's header.
async fn rows_of<D: Directory>(
    env: &StepEnv<'_, D>,
    source: &DeviceSource<'_>,
) -> Result<(Vec<String>, Vec<DeviceRow>), StepError> {
    let status = ["status".to_owned(), "error".to_owned()];
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
                device: Ok(Some(device)),
            })
            .collect();
        return Ok((header, rows));
    }
    let template = source.input.unwrap_or_default();
    let input = env.context.input_path(template, &env.step.id)?;
    rows_from_file(env, &input, status).await
}

async fn rows_from_file<D: Directory>(
    env: &StepEnv<'_, D>,
    input: &Path,
    status: [String; 2],
) -> Result<(Vec<String>, Vec<DeviceRow>), StepError> {
    let mut list = MemberList::open(input)?;
    let header: Vec<String> = match list.header() {
        Some(columns) => columns.iter().map(|c| c.trim().to_owned()).collect(),
        None => vec!["id".to_owned()],
    };
    let mut raw = Vec::new();
    while let Some(row) = list.next_row()? {
        raw.push(row);
    }
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
                Ok(MemberKey::Upn(upn)) => Err(format!("`{upn}` is not a device id")),
                Err(reason) => Err(reason.clone()),
            };
            DeviceRow {
                fields: row.fields.iter().map(|f| f.trim().to_owned()).collect(),
                device,
            }
        })
        .collect();
    Ok((header.into_iter().chain(status).collect(), rows))
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
