//! `importMembers` and `removeMembers`: one job per group, rows in chunks.
//! The groups are the step's, or, when it names none, those the list's rows
//! name (see `listed_groups`).
//!
//! Each chunk is planned (resolve ids and names, look up current membership),
//! charged against the run's guards, journaled, applied, and marked applied;
//! see `store` for why this makes an interrupted run resumable without
//! applying a row twice. Every row's outcome goes to a result file: the input
//! row plus `status` and `error`.

use std::path::Path;

use super::fault::{self, Phase};
use super::input::{self, CheckedInput};
use super::listed_groups::{self, JobTarget};
use super::pinned::{JobOps, ObjectRef, Precondition, ids_sha256};
use super::seen::SeenSet;
use super::{Effect, JobSummary, StepEnv, StepError, StepReport, count, write_error};
use crate::bulkcsv::cells::CsvWriter;
use crate::bulkcsv::members::{MemberKey, MemberList, MemberRow, parse_guid};
use crate::directory::Directory;
use crate::directory::local::ResolvedMember;
use crate::directory::model::Group;
use crate::directory::outcome::RowOutcome;
use crate::manifest::step::MemberListSpec;
use crate::store::{Charged, Chunk, JobCounts};

/// The default result file of a membership job.
const DEFAULT_RESULTS: &str = "results/{{run.id}}/{{step.id}}-{{group.displayName}}.csv";

/// Which way membership changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Add,
    Remove,
    /// Nothing: a listed member is only looked up (a `removeOnly` sync).
    Keep,
}

/// Runs the step: the same member list against every target group.
pub(super) async fn run<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    change: Change,
) -> Result<StepReport, StepError> {
    let named = match (&spec.group, &spec.groups) {
        (Some(target), _) => Some(vec![env.one_group(target).await?]),
        (None, Some(set)) => Some(env.groups_of(set).await?),
        (None, None) => None,
    };
    let input = env.context.input_path(&spec.input, &env.step.id)?;
    if env.context.dry_run {
        return preview(env, spec, change, named, &input).await;
    }
    let checked = input::check(&input, Some(&env.scratch_folder()), named.is_none())?;
    let groups = job_targets(env, named, &input, &checked).await?;
    let ids: Vec<&str> = groups.iter().map(|job| job.group.id.as_str()).collect();
    env.refuse_moved_targets(&ids)?;
    refuse_unplanned_groups(env, &groups)?;
    env.check_input(&checked.read)?;
    refuse_results_over_input(env, spec, &groups, &checked)?;
    if change == Change::Remove && env.needs_count() && !step_journaled(env)? {
        // The preview could not count this step's removals: count them now,
        // before the first change, against what the guards still allow.
        let mut removals = 0;
        for group in &groups {
            removals += preview_job(env, change, group, &checked, false)
                .await?
                .count(RowOutcome::Removed);
        }
        env.fits(Charged {
            removals,
            device_deletions: 0,
        })?;
    }
    if change == Change::Remove
        && env.plan.guards.max_removals.share().is_some()
        && !step_journaled(env)?
    {
        for job in &groups {
            let removals = preview_job(env, change, job, &checked, false)
                .await?
                .count(RowOutcome::Removed);
            refuse_over_share(env, &job.group, removals).await?;
        }
    }
    let mut jobs = Vec::new();
    for group in &groups {
        jobs.push(run_job(env, spec, change, group, &checked).await?);
    }
    Ok(StepReport {
        selection: None,
        jobs,
        effects: Vec::new(),
    })
}

/// The step's jobs: one per group it names, each over every row, or one per
/// group the list's rows name.
async fn job_targets<D: Directory>(
    env: &StepEnv<'_, D>,
    named: Option<Vec<Group>>,
    input: &Path,
    checked: &CheckedInput,
) -> Result<Vec<JobTarget>, StepError> {
    match named {
        Some(groups) => Ok(JobTarget::every_row(groups, checked)),
        None => listed_groups::jobs_of_list(env, input, checked).await,
    }
}

/// In a run of a saved plan, refuses a group the plan has no job for (a
/// group named by display name that now names another group).
fn refuse_unplanned_groups<D: Directory>(
    env: &StepEnv<'_, D>,
    groups: &[JobTarget],
) -> Result<(), StepError> {
    let Some(pins) = env.pins() else {
        return Ok(());
    };
    match groups
        .iter()
        .map(|job| &job.group)
        .find(|group| pins.job_for(&group.id).is_none())
    {
        Some(group) => Err(StepError::NotPlanned {
            what: format!(
                "group `{}` ({}) of step `{}`",
                group.display_name, group.id, env.step.id
            ),
        }),
        None => Ok(()),
    }
}

/// Refuses more removals from `group` than a percentage `guards.maxRemovals`
/// allows of its current size.
async fn refuse_over_share<D: Directory>(
    env: &StepEnv<'_, D>,
    group: &Group,
    removals: u64,
) -> Result<(), StepError> {
    let limit = &env.plan.guards.max_removals;
    if limit.share().is_none() || removals == 0 {
        return Ok(());
    }
    let size = env.directory.member_count(&group.id).await?;
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

/// Whether this step journaled rows before (in a resumed run).
fn step_journaled<D: Directory>(env: &StepEnv<'_, D>) -> Result<bool, StepError> {
    Ok(env.store(|store| store.step_journaled(&env.context.run_id, &env.step.id))?)
}

/// Refuses result files that would replace the input, for every group.
fn refuse_results_over_input<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    groups: &[JobTarget],
    checked: &CheckedInput,
) -> Result<(), StepError> {
    let template = spec.results.as_deref().unwrap_or(DEFAULT_RESULTS);
    for job in groups {
        let relative = env
            .context
            .output_path(template, &env.step.id, Some(&job.group))?;
        env.refuse_results_over_input(&relative, spec.overwrite, checked.identity)?;
    }
    Ok(())
}

/// What the step would do to each group.
async fn preview<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    change: Change,
    named: Option<Vec<Group>>,
    input: &Path,
) -> Result<StepReport, StepError> {
    fault::reached(Phase::Check).await;
    let effects = if let Some(why) = env.written_earlier(input) {
        vec![Effect {
            unknown: Some(why),
            writes_results: true,
            ..Effect::default()
        }]
    } else {
        let checked = input::check(input, None, named.is_none())?;
        let groups = job_targets(env, named, input, &checked).await?;
        refuse_results_over_input(env, spec, &groups, &checked)?;
        // `apply`'s check before a run counts removals (the guard needs
        // them) and only reads the list of additions, unless the run also
        // removes members: a removal after an addition to the same group
        // must count the members the addition brings.
        let light =
            env.context.check_only
                && change == Change::Add
                && !env.plan.steps.iter().any(|step| {
                    step.action.kind() == crate::manifest::step::StepKind::RemoveMembers
                });
        let mut effects = Vec::new();
        for job in &groups {
            let mut effect = preview_job(env, change, job, &checked, light).await?;
            if change == Change::Remove {
                refuse_over_share(env, &job.group, effect.count(RowOutcome::Removed)).await?;
            }
            effect.input = Some(checked.read.clone());
            effects.push(effect);
        }
        effects
    };
    Ok(StepReport {
        selection: None,
        jobs: Vec::new(),
        effects,
    })
}

/// What a job would do: every row planned against the directory as it is now
/// (or, `light`, only the list checked).
async fn preview_job<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    job: &JobTarget,
    checked: &CheckedInput,
    light: bool,
) -> Result<Effect, StepError> {
    let group = &job.group;
    let mut effect = Effect {
        target: Some(group.display_name.clone()),
        checked_only: light,
        writes_results: group.is_manageable(),
        ..Effect::default()
    };
    let mut recording = env.context.record.then(|| Recording::new(group));
    if !group.is_manageable() || light {
        if let Some(recording) = recording {
            effect.ops = Some(recording.finish(env, group).await?);
        }
        return Ok(effect);
    }
    let (mut list, _) = checked.reread_only(job.only.as_ref())?;
    let mut progress = Progress::sized(job.rows);
    loop {
        let rows = read_chunk(&mut list, env.context.chunk_rows)?;
        if rows.is_empty() {
            break;
        }
        let planned = plan_chunk(env, change, group, &rows, &mut progress).await?;
        if let Some(recording) = recording.as_mut() {
            recording.note(&rows, &planned);
        }
        for outcome in planned.outcomes {
            *effect.outcomes.entry(outcome).or_default() += 1;
        }
    }
    if let Some(recording) = recording {
        effect.ops = Some(recording.finish(env, group).await?);
    }
    Ok(effect)
}

/// A job's rows and changes as a preview plans them, for a saved plan.
struct Recording {
    ops: JobOps,
    /// The ids the rows name that were members when planned.
    were_members: Vec<String>,
}

impl Recording {
    fn new(group: &Group) -> Self {
        Self {
            ops: JobOps {
                target: Some(ObjectRef::group(group)),
                ..JobOps::default()
            },
            were_members: Vec::new(),
        }
    }

    fn note(&mut self, rows: &[MemberRow], planned: &PlannedChunk) {
        for ((row, outcome), member) in rows.iter().zip(&planned.outcomes).zip(&planned.members) {
            self.ops.push_row(*outcome);
            if let (true, Some(member)) = (outcome.is_change(), member) {
                let name = match &row.key {
                    Ok(MemberKey::Upn(upn)) => Some(upn.clone()),
                    _ => None,
                };
                self.ops.changes.push(ObjectRef {
                    id: member.id.clone(),
                    name,
                    kind: Some(member.member_type),
                });
            }
        }
        self.were_members
            .extend(planned.were_members.iter().cloned());
    }

    /// The job's ops with the group's state: its member count and which of
    /// the members its rows name were members.
    async fn finish<D: Directory>(
        mut self,
        env: &StepEnv<'_, D>,
        group: &Group,
    ) -> Result<JobOps, StepError> {
        let members = env.directory.member_count(&group.id).await?;
        env.name_changes(&mut self.ops.changes).await?;
        self.ops.precondition = Some(Precondition::Group {
            members,
            sha256: ids_sha256(self.were_members.iter().map(String::as_str)),
        });
        Ok(self.ops)
    }
}

/// What one job has counted so far, and what it must remember across chunks.
pub(super) struct Progress {
    counts: JobCounts,
    /// Members seen, to report repeated ones once: by object id, and for
    /// rows that name a user by UPN also by that UPN. An object id names
    /// itself, so most rows take one entry.
    seen: SeenSet,
    next_row: u64,
}

impl Progress {
    /// Room for a list of `rows` rows, allocated once.
    pub(super) fn sized(rows: usize) -> Self {
        Self {
            counts: JobCounts::default(),
            seen: SeenSet::with_capacity(rows),
            next_row: 0,
        }
    }
}

async fn run_job<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    change: Change,
    job: &JobTarget,
    checked: &CheckedInput,
) -> Result<JobSummary, StepError> {
    let group = &job.group;
    let job_id = env.start_job(
        &group.id,
        Some(&group.display_name),
        Some(&checked.read.path),
    )?;
    env.store(|store| store.set_planned_rows(&job_id, job.rows as u64))?;
    match run_started_job(env, spec, change, job, checked, &job_id).await {
        Ok(summary) => Ok(summary),
        Err(error) => env.fail_job(&job_id, Some(&group.display_name), error),
    }
}

async fn run_started_job<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    change: Change,
    job: &JobTarget,
    checked: &CheckedInput,
    job_id: &str,
) -> Result<JobSummary, StepError> {
    let group = &job.group;
    if !group.is_manageable() {
        return env.refuse_unmanageable(job_id, group);
    }
    let journal = env.store(|store| store.chunks(job_id))?;
    let (mut list, digest) = checked.reread_only(job.only.as_ref())?;
    let template = spec.results.as_deref().unwrap_or(DEFAULT_RESULTS);
    let relative = env
        .context
        .output_path(template, &env.step.id, Some(group))?;
    let mut file = env.create_file(job_id, &relative, spec.overwrite, Some(checked.identity))?;
    let target = file.target();
    let header = result_header(list.header());
    let mut writer = CsvWriter::new(&mut file, env.context.csv);
    writer.write_row(&header).map_err(write_error(&target))?;
    let mut progress = Progress::sized(job.rows);
    env.progress.rows(&group.display_name, job.rows as u64);
    let mut chunk_index = 0u64;
    loop {
        let rows = read_chunk(&mut list, env.context.chunk_rows)?;
        if rows.is_empty() {
            break;
        }
        let planned = journal.iter().find(|chunk| chunk.index == chunk_index);
        let chunk = ChunkAt {
            job_id,
            index: chunk_index,
            rows: &rows,
            journaled: planned,
        };
        let outcomes = process_chunk(env, change, group, &chunk, &mut progress).await?;
        for (row, outcome) in rows.iter().zip(&outcomes) {
            writer
                .write_row(result_row(row, *outcome, header.len()))
                .map_err(write_error(&target))?;
            count(&mut progress.counts, *outcome);
        }
        env.progress.advance(rows.len() as u64);
        chunk_index += 1;
    }
    drop(list);
    checked.verify(&digest)?;
    writer
        .flush()
        .map_err(|source| write_error(&target)(source.into()))?;
    drop(writer);
    let path = env.commit_file(job_id, "results", file, progress.counts.total)?;
    tracing::info!(
        step = %env.step.id, group = %group.display_name, rows = progress.counts.total,
        changed = progress.counts.changed, failed = progress.counts.failed, "membership job finished"
    );
    Ok(env.finish_job(
        job_id,
        Some(&group.display_name),
        progress.counts,
        None,
        vec![path],
    )?)
}

fn read_chunk(list: &mut MemberList, limit: usize) -> Result<Vec<MemberRow>, StepError> {
    let mut rows = Vec::with_capacity(limit.min(1 << 16));
    while rows.len() < limit {
        match list.next_row()? {
            Some(row) => rows.push(row),
            None => break,
        }
    }
    Ok(rows)
}

/// One chunk of a job: where it is, its rows, and its journal entry if any.
struct ChunkAt<'a> {
    job_id: &'a str,
    index: u64,
    rows: &'a [MemberRow],
    journaled: Option<&'a Chunk>,
}

/// The outcomes of a chunk: from the journal when it was planned before,
/// otherwise planned now, charged against the guards and journaled; applied
/// unless the journal says it was.
async fn process_chunk<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    at: &ChunkAt<'_>,
    progress: &mut Progress,
) -> Result<Vec<RowOutcome>, StepError> {
    let PlannedChunk {
        outcomes, members, ..
    } = plan_chunk(env, change, group, at.rows, progress).await?;
    let (chunk, fresh) = match at.journaled {
        Some(chunk) if chunk.outcomes.len() == at.rows.len() => (chunk.clone(), false),
        Some(chunk) => {
            return Err(StepError::JournalMismatch {
                chunk: chunk.index,
                journaled: chunk.outcomes.len(),
                read: at.rows.len(),
            });
        }
        None => {
            hold_to_plan(env, group, progress.next_row, &outcomes, &members)?;
            fault::reached(Phase::BeforeJournal).await;
            let removals = outcomes
                .iter()
                .filter(|outcome| **outcome == RowOutcome::Removed)
                .count() as u64;
            env.charge(Charged {
                removals,
                device_deletions: 0,
            })?;
            let chunk = Chunk {
                index: at.index,
                first_row: progress.next_row,
                outcomes,
                applied: false,
            };
            env.store(|store| store.plan_chunk(at.job_id, &chunk))?;
            fault::reached(Phase::AfterJournal).await;
            (chunk, true)
        }
    };
    progress.next_row += at.rows.len() as u64;
    if chunk.applied {
        return Ok(chunk.outcomes);
    }
    env.store(|store| store.confirm_held(at.job_id))?;
    let reported = apply(env, change, group, &chunk.outcomes, &members, fresh).await?;
    env.store(|store| store.mark_chunk_applied_with(at.job_id, at.index, &reported))?;
    fault::reached(Phase::AfterApply).await;
    Ok(reported)
}

/// In a run of a saved plan, refuses a chunk whose planned outcomes or
/// changed members differ from the plan's, before it is journaled.
pub(super) fn hold_to_plan<D: Directory>(
    env: &StepEnv<'_, D>,
    group: &Group,
    first_row: u64,
    outcomes: &[RowOutcome],
    members: &[Option<ResolvedMember>],
) -> Result<(), StepError> {
    let Some(pins) = env.pins() else {
        return Ok(());
    };
    let target = format!("group `{}` in step `{}`", group.display_name, env.step.id);
    let Some(job) = pins.job_for(&group.id) else {
        return Err(StepError::NotPlanned { what: target });
    };
    let changed: Vec<Option<&str>> = members
        .iter()
        .map(|member| member.as_ref().map(|member| member.id.as_str()))
        .collect();
    let first = usize::try_from(first_row).unwrap_or(usize::MAX);
    job.check(first, outcomes, &changed)
        .map_err(|difference| StepError::PlanDiffers { target, difference })
}

/// A chunk as planned against the directory.
pub(super) struct PlannedChunk {
    /// Each row's outcome if it were applied now.
    pub(super) outcomes: Vec<RowOutcome>,
    /// The member each row names, when found.
    pub(super) members: Vec<Option<ResolvedMember>>,
    /// The ids of found members that are members now (before earlier steps
    /// of a previewed run), for a saved plan's precondition.
    pub(super) were_members: Vec<String>,
}

/// Plans a chunk: each row's outcome if it were applied now, and the members to
/// change. Repeated members are noted whether or not the chunk was journaled,
/// so later chunks plan as they did the first time.
pub(super) async fn plan_chunk<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    rows: &[MemberRow],
    progress: &mut Progress,
) -> Result<PlannedChunk, StepError> {
    let mut were_members = Vec::new();
    let mut outcomes = vec![RowOutcome::InvalidId; rows.len()];
    let (positions, keys): (Vec<usize>, Vec<MemberKey>) = rows
        .iter()
        .enumerate()
        .filter_map(|(position, row)| row.key.as_ref().ok().map(|key| (position, key.clone())))
        .unzip();
    let resolved = env.directory.resolve_for_group(&group.id, &keys).await?;
    let mut members: Vec<Option<ResolvedMember>> = vec![None; rows.len()];
    // A preview sees the group as earlier steps of the run would leave it.
    let mut overlay = env.overlay.map(|overlay| {
        overlay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    // In row order, a member counts once whichever way a row names it: by
    // object id, or by a UPN in any letter case.
    for ((position, key), found) in positions.iter().zip(&keys).zip(resolved) {
        let identity = found.as_ref().map_or_else(
            || key.identity(),
            |(member, _)| parse_guid(&member.id).unwrap_or_default(),
        );
        if !progress.seen.insert(identity) {
            outcomes[*position] = RowOutcome::Duplicate;
            continue;
        }
        outcomes[*position] = match found {
            None => RowOutcome::NotFound,
            Some((member, is_member)) => {
                if is_member && env.context.record {
                    were_members.push(member.id.clone());
                }
                let is_member = overlay.as_ref().map_or(is_member, |overlay| {
                    overlay.is_member(&group.id, identity, is_member)
                });
                let outcome = planned_outcome(change, group, &member, is_member);
                if let Some(overlay) = overlay.as_mut() {
                    match outcome {
                        RowOutcome::Added => overlay.note(&group.id, identity, true),
                        RowOutcome::Removed => overlay.note(&group.id, identity, false),
                        _ => {}
                    }
                }
                members[*position] = Some(member);
                outcome
            }
        };
    }
    progress.seen.end_batch();
    Ok(PlannedChunk {
        outcomes,
        members,
        were_members,
    })
}

/// A found member's outcome if the change were applied now.
fn planned_outcome(
    change: Change,
    group: &Group,
    member: &ResolvedMember,
    is_member: bool,
) -> RowOutcome {
    match (change, is_member) {
        _ if group.is_dynamic() => RowOutcome::DynamicMembership,
        (Change::Add, _) if !group.accepts(member) => RowOutcome::UnsupportedMemberType,
        (Change::Add, false) => RowOutcome::Added,
        (Change::Add | Change::Keep, true) => RowOutcome::AlreadyMember,
        (Change::Remove, true) => RowOutcome::Removed,
        (Change::Remove | Change::Keep, false) => RowOutcome::NotMember,
    }
}

/// Applies the planned changes of a chunk and returns the outcomes to report.
///
/// A chunk applied for the first time reports what the directory did: a
/// member another process added in the meantime is `alreadyMember` here, not
/// `added` twice. A chunk applied again after an interruption reports its
/// plan, except rows the directory refuses: its first attempt may have made
/// the changes, so "already a member" now says nothing about this run.
pub(super) async fn apply<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    outcomes: &[RowOutcome],
    members: &[Option<ResolvedMember>],
    fresh: bool,
) -> Result<Vec<RowOutcome>, StepError> {
    let wanted = match change {
        Change::Add => RowOutcome::Added,
        Change::Remove => RowOutcome::Removed,
        Change::Keep => return Ok(outcomes.to_vec()),
    };
    let (positions, targets): (Vec<usize>, Vec<ResolvedMember>) = outcomes
        .iter()
        .zip(members)
        .enumerate()
        .filter(|(_, (outcome, _))| **outcome == wanted)
        .filter_map(|(position, (_, member))| member.clone().map(|member| (position, member)))
        .unzip();
    let mut reported = outcomes.to_vec();
    if targets.is_empty() {
        return Ok(reported);
    }
    let answers = if fault::due(Phase::MidApply) {
        let half = targets.len() / 2;
        write(env, change, group, &targets[..half]).await?;
        fault::hold(Phase::MidApply).await;
        Vec::new()
    } else {
        write(env, change, group, &targets).await?
    };
    for (position, answer) in positions.into_iter().zip(answers) {
        if fresh || !answer.is_success() {
            reported[position] = answer;
        }
    }
    Ok(reported)
}

/// Sends changes to the directory; one answer per member.
async fn write<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    targets: &[ResolvedMember],
) -> Result<Vec<RowOutcome>, StepError> {
    Ok(match change {
        Change::Add => env.directory.add_members(group, targets).await?,
        Change::Remove => {
            let ids: Vec<&str> = targets.iter().map(|member| member.id.as_str()).collect();
            env.directory.remove_members(group, &ids).await?
        }
        Change::Keep => Vec::new(),
    })
}

/// The input's header (or the template's column name) plus `status` and `error`.
pub(super) fn result_header(input: Option<&[String]>) -> Vec<String> {
    let mut header: Vec<String> = match input {
        Some(columns) => columns
            .iter()
            .map(|column| column.trim().to_owned())
            .collect(),
        None => vec!["memberObjectIdOrUpn".to_owned()],
    };
    header.extend(["line".to_owned(), "status".to_owned(), "error".to_owned()]);
    header
}

pub(super) fn result_row(row: &MemberRow, outcome: RowOutcome, width: usize) -> Vec<String> {
    let mut fields: Vec<String> = row
        .fields
        .iter()
        .map(|field| field.trim().to_owned())
        .collect();
    fields.resize(width - 3, String::new());
    let error = match (&row.key, outcome) {
        (Err(reason), _) => reason.clone(),
        (_, RowOutcome::Duplicate) => "the same member is on an earlier row".to_owned(),
        (_, outcome) => outcome.explanation().to_owned(),
    };
    // The row's line in the input file, to find it in the spreadsheet; none
    // for a row a sync adds (a member the list does not name).
    let line = if row.line == 0 {
        String::new()
    } else {
        row.line.to_string()
    };
    fields.extend([line, outcome.key().to_owned(), error]);
    fields
}
