//! `downloadGroups` and `downloadMembers`: CSV files with the admin center's
//! columns, plus the extra columns a manifest asks for.

use std::collections::HashSet;

use super::{Effect, JobSummary, StepEnv, StepError, StepReport, write_error};
use crate::bulkcsv::cells::{CsvStyle, CsvWriter};
use crate::bulkcsv::output::PendingFile;
use crate::directory::Directory;
use crate::directory::model::{Group, Member, MemberType};
use crate::manifest::step::{
    DownloadGroupsSpec, DownloadMembersSpec, GroupColumnSpec, MemberColumnSpec, MemberTypeSpec,
};
use crate::store::JobCounts;

const GROUP_COLUMNS: [&str; 5] = [
    "Object ID",
    "Display name",
    "Mail",
    "Group type",
    "Membership type",
];
const MEMBER_COLUMNS: [&str; 4] = [
    "Object ID",
    "User principal name",
    "Display name",
    "Member type",
];
const COMBINED_COLUMNS: [&str; 2] = ["Group ID", "Group name"];

/// Writes one CSV of groups.
pub(super) async fn groups<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DownloadGroupsSpec,
) -> Result<StepReport, StepError> {
    let groups = match &spec.groups {
        Some(set) => env.groups_of(set).await?,
        None => env.directory.groups().await?,
    };
    let relative = env.context.output_path(&spec.output, &env.step.id, None)?;
    let formulas = env.context.csv;
    single_file(env, relative, spec.overwrite, groups.len() as u64, |file| {
        write_groups(file, &groups, &spec.columns, formulas).map(|_| ())
    })
}

/// Writes one file as the step's one job, or in a preview says it would.
pub(super) fn single_file<D: Directory>(
    env: &StepEnv<'_, D>,
    relative: String,
    overwrite: bool,
    rows: u64,
    write: impl FnOnce(&mut PendingFile) -> Result<(), csv::Error>,
) -> Result<StepReport, StepError> {
    if env.context.dry_run {
        let effect = Effect {
            file: Some((relative, rows)),
            ..Effect::default()
        };
        return Ok(StepReport {
            selection: None,
            jobs: Vec::new(),
            effects: vec![effect],
        });
    }
    let job = env.start_job("", None, None)?;
    let mut file = env.create_file(&job, &relative, overwrite, None)?;
    let target = file.target();
    write(&mut file).map_err(write_error(&target))?;
    let summary = commit(env, &job, None, file, rows)?;
    Ok(StepReport {
        selection: None,
        jobs: vec![summary],
        effects: Vec::new(),
    })
}

/// Writes members: one file per group, or one combined file.
pub(super) async fn members<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DownloadMembersSpec,
) -> Result<StepReport, StepError> {
    let groups = env.groups_of(&spec.groups).await?;
    if env.context.dry_run {
        return preview_members(env, spec, &groups).await;
    }
    if spec.combined {
        let job = env.start_job("", None, None)?;
        let relative = env.context.output_path(&spec.output, &env.step.id, None)?;
        let mut file = env.create_file(&job, &relative, spec.overwrite, None)?;
        let target = file.target();
        let mut writer =
            member_writer(&mut file, spec, true, env.context.csv).map_err(write_error(&target))?;
        let mut rows = 0;
        for group in &groups {
            rows += visit_members(env, Some((&mut writer, &target)), group, spec, true).await?;
        }
        drop(writer);
        let summary = commit(env, &job, None, file, rows)?;
        return Ok(StepReport {
            selection: None,
            jobs: vec![summary],
            effects: Vec::new(),
        });
    }
    let mut jobs = Vec::new();
    for group in &groups {
        let job = env.start_job(&group.id, Some(&group.display_name), None)?;
        let relative = env
            .context
            .output_path(&spec.output, &env.step.id, Some(group))?;
        let mut file = env.create_file(&job, &relative, spec.overwrite, None)?;
        let target = file.target();
        let mut writer =
            member_writer(&mut file, spec, false, env.context.csv).map_err(write_error(&target))?;
        let rows = visit_members(env, Some((&mut writer, &target)), group, spec, false).await?;
        drop(writer);
        jobs.push(commit(env, &job, Some(&group.display_name), file, rows)?);
    }
    Ok(StepReport {
        selection: None,
        jobs,
        effects: Vec::new(),
    })
}

/// The files a member download would write, with their rows.
async fn preview_members<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &DownloadMembersSpec,
    groups: &[Group],
) -> Result<StepReport, StepError> {
    let mut effects = Vec::new();
    let mut combined_rows = 0;
    // `apply`'s check needs the files, not how many rows they will have.
    let count = !env.context.check_only;
    for group in groups {
        let rows = if count {
            visit_members(env, None, group, spec, spec.combined).await?
        } else {
            0
        };
        if spec.combined {
            combined_rows += rows;
        } else {
            let relative = env
                .context
                .output_path(&spec.output, &env.step.id, Some(group))?;
            effects.push(Effect {
                target: Some(group.display_name.clone()),
                file: Some((relative, rows)),
                checked_only: !count,
                ..Effect::default()
            });
        }
    }
    if spec.combined {
        let relative = env.context.output_path(&spec.output, &env.step.id, None)?;
        effects.push(Effect {
            file: Some((relative, combined_rows)),
            checked_only: !count,
            ..Effect::default()
        });
    }
    Ok(StepReport {
        selection: None,
        jobs: Vec::new(),
        effects,
    })
}

fn commit<D: Directory>(
    env: &StepEnv<'_, D>,
    job: &str,
    target: Option<&str>,
    file: PendingFile,
    rows: u64,
) -> Result<JobSummary, StepError> {
    let shown = env.commit_file(job, "output", file, rows)?;
    let counts = JobCounts {
        total: rows,
        succeeded: rows,
        failed: 0,
        changed: 0,
    };
    tracing::info!(step = %env.step.id, file = %shown, rows, "wrote");
    Ok(env.finish_job(job, target, counts, None, vec![shown])?)
}

fn write_groups(
    file: &mut PendingFile,
    groups: &[Group],
    columns: &[GroupColumnSpec],
    formulas: CsvStyle,
) -> Result<u64, csv::Error> {
    let mut writer = CsvWriter::new(file, formulas);
    let header: Vec<&str> = GROUP_COLUMNS
        .iter()
        .copied()
        .chain(columns.iter().map(|c| group_column_name(*c)))
        .collect();
    writer.write_row(&header)?;
    for group in groups {
        let mut row = vec![
            group.id.clone(),
            group.display_name.clone(),
            group.mail.clone().unwrap_or_default(),
            group.group_type_label().to_owned(),
            group.membership_type_label().to_owned(),
        ];
        row.extend(
            columns
                .iter()
                .map(|column| group_column_value(group, *column)),
        );
        writer.write_row(&row)?;
    }
    writer.flush()?;
    Ok(groups.len() as u64)
}

fn group_column_name(column: GroupColumnSpec) -> &'static str {
    match column {
        GroupColumnSpec::Description => "Description",
        GroupColumnSpec::MailNickname => "Mail nickname",
        GroupColumnSpec::MailEnabled => "Mail enabled",
        GroupColumnSpec::SecurityEnabled => "Security enabled",
        GroupColumnSpec::MembershipRule => "Membership rule",
        GroupColumnSpec::OnPremisesSyncEnabled => "On-premises sync enabled",
        GroupColumnSpec::CreatedDateTime => "Created date time",
        GroupColumnSpec::Visibility => "Visibility",
        GroupColumnSpec::IsAssignableToRole => "Is assignable to role",
    }
}

fn optional_flag(value: Option<bool>) -> String {
    value.map(|flag| flag.to_string()).unwrap_or_default()
}

fn group_column_value(group: &Group, column: GroupColumnSpec) -> String {
    match column {
        GroupColumnSpec::Description => group.description.clone().unwrap_or_default(),
        GroupColumnSpec::MailNickname => group.mail_nickname.clone(),
        GroupColumnSpec::MailEnabled => group.mail_enabled.to_string(),
        GroupColumnSpec::SecurityEnabled => group.security_enabled.to_string(),
        GroupColumnSpec::MembershipRule => group.membership_rule.clone().unwrap_or_default(),
        GroupColumnSpec::OnPremisesSyncEnabled => optional_flag(group.on_premises_sync_enabled),
        GroupColumnSpec::CreatedDateTime => group.created_date_time.to_string(),
        GroupColumnSpec::Visibility => group.visibility.clone().unwrap_or_default(),
        GroupColumnSpec::IsAssignableToRole => optional_flag(group.is_assignable_to_role),
    }
}

fn member_writer<'f>(
    file: &'f mut PendingFile,
    spec: &DownloadMembersSpec,
    combined: bool,
    formulas: CsvStyle,
) -> Result<CsvWriter<&'f mut PendingFile>, csv::Error> {
    let mut writer = CsvWriter::new(file, formulas);
    let prefix: &[&str] = if combined { &COMBINED_COLUMNS } else { &[] };
    let header: Vec<&str> = prefix
        .iter()
        .chain(&MEMBER_COLUMNS)
        .copied()
        .chain(
            spec.columns
                .iter()
                .map(|column| member_column_name(*column)),
        )
        .collect();
    writer.write_row(&header)?;
    Ok(writer)
}

/// Writes (or, without a writer, counts) a group's members; with `transitive`,
/// members of nested groups too, each once, as Graph's `transitiveMembers` lists them.
async fn visit_members<D: Directory>(
    env: &StepEnv<'_, D>,
    writer: Option<(&mut CsvWriter<&mut PendingFile>, &std::path::Path)>,
    group: &Group,
    spec: &DownloadMembersSpec,
    combined: bool,
) -> Result<u64, StepError> {
    let wanted = spec
        .member_types
        .as_ref()
        .map(|types| types.values().to_vec());
    let mut rows = 0u64;
    let mut failure = None;
    let mut pending = vec![group.id.clone()];
    let mut seen_groups = HashSet::from([group.id.clone()]);
    let mut seen_members = HashSet::new();
    let (mut writer, target) = match writer {
        Some((writer, target)) => (Some(writer), Some(target)),
        None => (None, None),
    };
    while let Some(group_id) = pending.pop() {
        env.directory
            .for_each_member(&group_id, &mut |member: Member| {
                // Direct members are unique; only nested groups can repeat one.
                if spec.transitive && !seen_members.insert(member.id.clone()) {
                    return Ok(());
                }
                if spec.transitive
                    && member.member_type == MemberType::Group
                    && seen_groups.insert(member.id.clone())
                {
                    pending.push(member.id.clone());
                }
                if wanted.as_ref().is_some_and(|types| {
                    !types
                        .iter()
                        .any(|t| member_type_of(*t) == member.member_type)
                }) {
                    return Ok(());
                }
                if let Some(writer) = writer.as_deref_mut()
                    && let Err(error) = writer.write_row(member_row(group, &member, spec, combined))
                {
                    failure.get_or_insert(error);
                }
                rows += 1;
                Ok(())
            })
            .await?;
    }
    let flushed = writer.map_or(Ok(()), CsvWriter::flush);
    if let Some(source) = failure.or_else(|| flushed.err().map(csv::Error::from)) {
        let path = target.map_or_else(
            || env.context.output.path().to_path_buf(),
            std::path::Path::to_path_buf,
        );
        return Err(StepError::Write { path, source });
    }
    Ok(rows)
}

fn member_row(
    group: &Group,
    member: &Member,
    spec: &DownloadMembersSpec,
    combined: bool,
) -> Vec<String> {
    let mut row: Vec<String> = Vec::with_capacity(8);
    if combined {
        row.extend([group.id.clone(), group.display_name.clone()]);
    }
    row.extend([
        member.id.clone(),
        member.user_principal_name.clone().unwrap_or_default(),
        member.display_name.clone(),
        member.member_type.label().to_owned(),
    ]);
    row.extend(
        spec.columns
            .iter()
            .map(|column| member_column_value(member, *column)),
    );
    row
}

fn member_column_name(column: MemberColumnSpec) -> &'static str {
    match column {
        MemberColumnSpec::Mail => "Mail",
        MemberColumnSpec::UserType => "User type",
        MemberColumnSpec::AccountEnabled => "Account enabled",
        MemberColumnSpec::Department => "Department",
        MemberColumnSpec::JobTitle => "Job title",
    }
}

fn member_column_value(member: &Member, column: MemberColumnSpec) -> String {
    match column {
        MemberColumnSpec::Mail => member.mail.clone().unwrap_or_default(),
        MemberColumnSpec::UserType => member.user_type.clone().unwrap_or_default(),
        MemberColumnSpec::AccountEnabled => optional_flag(member.account_enabled),
        MemberColumnSpec::Department => member.department.clone().unwrap_or_default(),
        MemberColumnSpec::JobTitle => member.job_title.clone().unwrap_or_default(),
    }
}

fn member_type_of(kind: MemberTypeSpec) -> MemberType {
    match kind {
        MemberTypeSpec::User => MemberType::User,
        MemberTypeSpec::Group => MemberType::Group,
        MemberTypeSpec::Device => MemberType::Device,
        MemberTypeSpec::ServicePrincipal => MemberType::ServicePrincipal,
        MemberTypeSpec::OrgContact => MemberType::OrgContact,
    }
}
