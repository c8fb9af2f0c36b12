//! `syncMembers`: make a group's membership match a list, one job per group.
//!
//! The list (a CSV in any shape `importMembers` reads, or members written in
//! the manifest) is read whole and must name somebody; an empty list is an
//! error, never "remove everyone". Removals come only from a complete read
//! of the group, and only when every row of the list names a member: a
//! mistyped name would otherwise remove the person it meant to keep.
//!
//! A job's rows are the list's rows, then one row per member to remove. The
//! members to remove are recorded in the job store before the first change,
//! so a resumed job removes exactly those; rows are journaled in chunks and
//! applied like `importMembers` and `removeMembers`.

use std::collections::HashSet;
use std::io::Cursor;
use std::path::Path;

use super::fault::{self, Phase};
use super::input;
use super::membership::{self, Change, PlannedChunk, Progress};
use super::pinned::{JobOps, ObjectRef, Precondition, ids_sha256};
use super::{Effect, InputRead, JobSummary, StepEnv, StepError, StepReport, count, write_error};
use crate::bulkcsv::cells::CsvWriter;
use crate::bulkcsv::members::{MemberKey, MemberList, MemberRow};
use crate::directory::Directory;
use crate::directory::local::ResolvedMember;
use crate::directory::model::Group;
use crate::directory::outcome::RowOutcome;
use crate::files::input::FileIdentity;
use crate::manifest::step::{SyncMembersSpec, SyncModeSpec};
use crate::store::{Charged, Chunk, JobCounts};

/// The default result file of a sync job.
const DEFAULT_RESULTS: &str = "results/{{run.id}}/{{step.id}}-{{group.displayName}}.csv";

/// The list a sync step makes its groups match.
struct List {
    header: Option<Vec<String>>,
    rows: Vec<MemberRow>,
    /// The input file, when the list is one.
    read: Option<(InputRead, FileIdentity)>,
}

/// A job's rows as planned: the list's rows, then the members to remove.
struct JobPlan {
    rows: Vec<MemberRow>,
    outcomes: Vec<RowOutcome>,
    members: Vec<Option<ResolvedMember>>,
    /// The group's members when planned, by id.
    current: Vec<String>,
    /// The members to remove, with their names.
    removals: Vec<ObjectRef>,
}

/// Runs the step.
pub(super) async fn run<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &SyncMembersSpec,
) -> Result<StepReport, StepError> {
    let groups = match (&spec.group, &spec.groups) {
        (Some(target), _) => vec![env.one_group(target).await?],
        (None, Some(set)) => env.groups_of(set).await?,
        (None, None) => Vec::new(),
    };
    if let Some(template) = &spec.input {
        let path = env.context.input_path(template, &env.step.id)?;
        if env.context.dry_run
            && let Some(why) = env.written_earlier(&path)
        {
            return Ok(StepReport {
                effects: vec![Effect {
                    unknown: Some(why),
                    writes_results: true,
                    ..Effect::default()
                }],
                ..StepReport::default()
            });
        }
    }
    let list = read_list(env, spec)?;
    if env.context.dry_run {
        let mut effects = Vec::new();
        for group in &groups {
            effects.push(preview_job(env, spec, group, &list).await?);
        }
        return Ok(StepReport {
            effects,
            ..StepReport::default()
        });
    }
    if let Some((read, _)) = &list.read {
        env.check_input(read)?;
    }
    let mut jobs = Vec::new();
    for group in &groups {
        jobs.push(run_job(env, spec, group, &list).await?);
    }
    Ok(StepReport {
        jobs,
        ..StepReport::default()
    })
}

/// Reads the list whole: the input file or the manifest's members. An empty
/// list is refused.
fn read_list<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &SyncMembersSpec,
) -> Result<List, StepError> {
    let (mut reader, read, shown) = match (&spec.input, &spec.members) {
        (Some(template), _) => {
            let path = env.context.input_path(template, &env.step.id)?;
            let checked = input::check(
                &path,
                (!env.context.dry_run)
                    .then(|| env.scratch_folder())
                    .as_deref(),
                false,
            )?;
            let (list, _) = checked.reread()?;
            let shown = path.display().to_string();
            (list, Some((checked.read.clone(), checked.identity)), shown)
        }
        (None, Some(members)) => {
            let text = members.join("\n") + "\n";
            let list = MemberList::from_reader(
                Path::new("syncMembers.members"),
                Box::new(Cursor::new(text.into_bytes())),
            )?;
            (list, None, "the manifest's `members`".to_owned())
        }
        (None, None) => unreachable!("the schema requires `input` or `members`"),
    };
    let header = reader.header().map(<[String]>::to_vec);
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row()? {
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(StepError::EmptySyncList { list: shown });
    }
    Ok(List { header, rows, read })
}

/// Plans a job: the list's rows against the group, then every member the
/// list does not name, from a complete read of the group (or, in a resumed
/// job, the removals recorded before its first change).
async fn plan_job<D: Directory>(
    env: &StepEnv<'_, D>,
    mode: SyncModeSpec,
    group: &Group,
    list: &List,
    recorded: Option<Vec<ObjectRef>>,
) -> Result<JobPlan, StepError> {
    let mut current = Vec::new();
    let mut names = Vec::new();
    env.directory
        .for_each_member(&group.id, &mut |member| {
            let name = member
                .user_principal_name
                .clone()
                .unwrap_or_else(|| member.display_name.clone());
            names.push(ObjectRef {
                id: member.id.to_ascii_lowercase(),
                name: Some(name),
                kind: Some(member.member_type),
            });
            current.push(member.id.to_ascii_lowercase());
            Ok(())
        })
        .await?;
    let change = if mode.adds() {
        Change::Add
    } else {
        Change::Keep
    };
    let mut progress = Progress::sized(list.rows.len());
    let mut outcomes = Vec::with_capacity(list.rows.len());
    let mut members = Vec::with_capacity(list.rows.len());
    for rows in list.rows.chunks(env.context.chunk_rows) {
        let PlannedChunk {
            outcomes: planned,
            members: found,
            ..
        } = membership::plan_chunk(env, change, group, rows, &mut progress).await?;
        outcomes.extend(planned);
        members.extend(found);
    }
    // A group whose members come from a rule cannot lose them by hand: its
    // rows fail as `dynamicMembership`, and nobody is planned for removal.
    let removes = mode.removes() && !group.is_dynamic();
    if removes {
        refuse_unresolved(group, &list.rows, &outcomes)?;
    }
    let listed: HashSet<String> = members
        .iter()
        .flatten()
        .map(|member| member.id.to_ascii_lowercase())
        .collect();
    let removals = match (removes, recorded) {
        (false, _) => Vec::new(),
        (true, Some(recorded)) => recorded,
        (true, None) => {
            let mut removals: Vec<ObjectRef> = names
                .into_iter()
                .filter(|member| !listed.contains(&member.id))
                .collect();
            removals.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
            removals
        }
    };
    let mut rows = list.rows.clone();
    for removal in &removals {
        rows.push(MemberRow {
            group: None,
            // Not a line of the list: the result file leaves it empty.
            line: 0,
            fields: vec![removal.id.clone()],
            key: Ok(MemberKey::ObjectId(removal.id.clone())),
        });
        outcomes.push(RowOutcome::Removed);
        members.push(Some(ResolvedMember {
            id: removal.id.clone(),
            member_type: removal
                .kind
                .unwrap_or(crate::directory::model::MemberType::User),
            unified_group: false,
        }));
    }
    Ok(JobPlan {
        rows,
        outcomes,
        members,
        current,
        removals,
    })
}

/// Refuses removals when a row of the list names nobody: the member it
/// meant to keep would be removed.
fn refuse_unresolved(
    group: &Group,
    rows: &[MemberRow],
    outcomes: &[RowOutcome],
) -> Result<(), StepError> {
    let unresolved: Vec<String> = rows
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| matches!(outcome, RowOutcome::NotFound | RowOutcome::InvalidId))
        .map(|(row, _)| {
            let value = row.fields.first().map_or("", String::as_str);
            format!(
                "line {} `{}`",
                row.line,
                crate::bulkcsv::members::quote(value)
            )
        })
        .collect();
    if unresolved.is_empty() {
        return Ok(());
    }
    Err(StepError::SyncListUnresolved {
        group: group.display_name.clone(),
        count: unresolved.len(),
        first: unresolved
            .into_iter()
            .take(3)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Refuses more removals than the manifest's share of the group allows.
fn refuse_over_share<D: Directory>(
    env: &StepEnv<'_, D>,
    group: &Group,
    plan: &JobPlan,
) -> Result<(), StepError> {
    let limit = &env.plan.guards.max_removals;
    let size = plan.current.len() as u64;
    let removals = plan.removals.len() as u64;
    match limit.allowed_in(size) {
        Some(allowed) if removals > allowed => {
            Err(StepError::Guard(super::guard::GuardRefusal::GroupShare {
                group: group.display_name.clone(),
                planned: removals,
                size,
                share: limit.to_string(),
                allowed,
            }))
        }
        _ => Ok(()),
    }
}

/// What a job would do.
async fn preview_job<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &SyncMembersSpec,
    group: &Group,
    list: &List,
) -> Result<Effect, StepError> {
    let mut effect = Effect {
        target: Some(group.display_name.clone()),
        writes_results: group.is_manageable(),
        input: list.read.as_ref().map(|(read, _)| read.clone()),
        ..Effect::default()
    };
    if !group.is_manageable() {
        return Ok(effect);
    }
    let plan = plan_job(env, spec.mode, group, list, None).await?;
    refuse_over_share(env, group, &plan)?;
    for outcome in &plan.outcomes {
        *effect.outcomes.entry(*outcome).or_default() += 1;
    }
    if env.context.record {
        effect.ops = Some(record(env, group, &plan).await?);
    }
    Ok(effect)
}

/// A job's rows and changes for a saved plan; every member of the group
/// matters to an authoritative list.
async fn record<D: Directory>(
    env: &StepEnv<'_, D>,
    group: &Group,
    plan: &JobPlan,
) -> Result<JobOps, StepError> {
    let mut ops = JobOps {
        target: Some(ObjectRef::group(group)),
        precondition: Some(Precondition::Group {
            members: plan.current.len() as u64,
            sha256: ids_sha256(plan.current.iter().map(String::as_str)),
        }),
        ..JobOps::default()
    };
    let removal_names: std::collections::HashMap<&str, &ObjectRef> = plan
        .removals
        .iter()
        .map(|removal| (removal.id.as_str(), removal))
        .collect();
    for ((row, outcome), member) in plan.rows.iter().zip(&plan.outcomes).zip(&plan.members) {
        ops.push_row(*outcome);
        if let (true, Some(member)) = (outcome.is_change(), member) {
            let name = match (&row.key, removal_names.get(member.id.as_str())) {
                (_, Some(removal)) => removal.name.clone(),
                (Ok(MemberKey::Upn(upn)), None) => Some(upn.clone()),
                _ => None,
            };
            ops.changes.push(ObjectRef {
                id: member.id.clone(),
                name,
                kind: Some(member.member_type),
            });
        }
    }
    env.name_changes(&mut ops.changes).await?;
    Ok(ops)
}

async fn run_job<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &SyncMembersSpec,
    group: &Group,
    list: &List,
) -> Result<JobSummary, StepError> {
    let input_file = list.read.as_ref().map(|(read, _)| read.path.as_str());
    let job_id = env.start_job(&group.id, Some(&group.display_name), input_file)?;
    env.store(|store| store.set_planned_rows(&job_id, list.rows.len() as u64))?;
    match run_started_job(env, spec, group, list, &job_id).await {
        Ok(summary) => Ok(summary),
        Err(error) => env.fail_job(&job_id, Some(&group.display_name), error),
    }
}

async fn run_started_job<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &SyncMembersSpec,
    group: &Group,
    list: &List,
    job_id: &str,
) -> Result<JobSummary, StepError> {
    if !group.is_manageable() {
        return env.refuse_unmanageable(job_id, group);
    }
    let recorded = match env.store(|store| store.sync_removals(job_id))? {
        Some(text) => Some(
            serde_json::from_str::<Vec<ObjectRef>>(&text).map_err(|error| {
                StepError::RecordedRemovals {
                    reason: error.to_string(),
                }
            })?,
        ),
        None => None,
    };
    let resumed = recorded.is_some();
    let plan = plan_job(env, spec.mode, group, list, recorded).await?;
    if !resumed {
        refuse_over_share(env, group, &plan)?;
        if env.needs_count() {
            env.fits(Charged {
                removals: plan.removals.len() as u64,
                device_deletions: 0,
            })?;
        }
        let text = serde_json::to_string(&plan.removals).expect("removals serialize");
        env.store(|store| store.record_sync_removals(job_id, &text))?;
    }
    let outcomes = journal_and_apply(env, group, job_id, &plan).await?;
    let relative = env.context.output_path(
        spec.results.as_deref().unwrap_or(DEFAULT_RESULTS),
        &env.step.id,
        Some(group),
    )?;
    let protect = list.read.as_ref().map(|(_, identity)| *identity);
    let mut file = env.create_file(job_id, &relative, spec.overwrite, protect)?;
    let target = file.target();
    let mut counts = JobCounts::default();
    {
        let header = membership::result_header(list.header.as_deref());
        let mut writer = CsvWriter::new(&mut file, env.context.csv);
        writer.write_row(&header).map_err(write_error(&target))?;
        for (row, outcome) in plan.rows.iter().zip(&outcomes) {
            writer
                .write_row(membership::result_row(row, *outcome, header.len()))
                .map_err(write_error(&target))?;
            count(&mut counts, *outcome);
        }
        writer
            .flush()
            .map_err(|source| write_error(&target)(source.into()))?;
    }
    let path = env.commit_file(job_id, "results", file, counts.total)?;
    tracing::info!(
        step = %env.step.id, group = %group.display_name, rows = counts.total,
        changed = counts.changed, failed = counts.failed, removed = plan.removals.len(), "sync job finished"
    );
    Ok(env.finish_job(job_id, Some(&group.display_name), counts, None, vec![path])?)
}

/// Journals each chunk of the job (charging its removals first) and applies
/// it; a chunk journaled by an interrupted attempt keeps its outcomes.
async fn journal_and_apply<D: Directory>(
    env: &StepEnv<'_, D>,
    group: &Group,
    job_id: &str,
    plan: &JobPlan,
) -> Result<Vec<RowOutcome>, StepError> {
    let journal = env.store(|store| store.chunks(job_id))?;
    let chunk_rows = env.context.chunk_rows;
    env.progress
        .rows(&group.display_name, plan.rows.len() as u64);
    let mut outcomes = Vec::with_capacity(plan.rows.len());
    for (index, (planned, members)) in plan
        .outcomes
        .chunks(chunk_rows)
        .zip(plan.members.chunks(chunk_rows))
        .enumerate()
    {
        let first_row = index * chunk_rows;
        let index = index as u64;
        let (chunk, fresh) = match journal.iter().find(|chunk| chunk.index == index) {
            Some(chunk) if chunk.outcomes.len() == planned.len() => (chunk.clone(), false),
            Some(chunk) => {
                return Err(StepError::JournalMismatch {
                    chunk: index,
                    journaled: chunk.outcomes.len(),
                    read: planned.len(),
                });
            }
            None => {
                membership::hold_to_plan(env, group, first_row as u64, planned, members)?;
                fault::reached(Phase::BeforeJournal).await;
                let removals = planned
                    .iter()
                    .filter(|outcome| **outcome == RowOutcome::Removed)
                    .count() as u64;
                env.charge(Charged {
                    removals,
                    device_deletions: 0,
                })?;
                let chunk = Chunk {
                    index,
                    first_row: first_row as u64,
                    outcomes: planned.to_vec(),
                    applied: false,
                };
                env.store(|store| store.plan_chunk(job_id, &chunk))?;
                fault::reached(Phase::AfterJournal).await;
                (chunk, true)
            }
        };
        if chunk.applied {
            outcomes.extend(chunk.outcomes);
        } else {
            env.store(|store| store.confirm_held(job_id))?;
            let mut reported =
                membership::apply(env, Change::Add, group, &chunk.outcomes, members, fresh).await?;
            let removed =
                membership::apply(env, Change::Remove, group, &chunk.outcomes, members, fresh)
                    .await?;
            for (position, outcome) in removed.into_iter().enumerate() {
                if chunk.outcomes[position] == RowOutcome::Removed {
                    reported[position] = outcome;
                }
            }
            env.store(|store| store.mark_chunk_applied_with(job_id, index, &reported))?;
            fault::reached(Phase::AfterApply).await;
            outcomes.extend(reported);
        }
        env.progress.advance(planned.len() as u64);
    }
    Ok(outcomes)
}
