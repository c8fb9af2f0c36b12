//! `importMembers` and `removeMembers`: one job per group, rows in chunks.
//!
//! Each chunk is planned (resolve ids and names, look up current membership),
//! journaled, applied, and marked applied; see `store` for why this makes an
//! interrupted run resumable without applying a row twice. Every row's outcome
//! goes to a result file: the input row plus `status` and `error`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::seen::SeenSet;
use super::{Effect, JobSummary, StepEnv, StepError, StepReport};
use crate::bulkcsv::members::{MemberKey, MemberList, MemberRow, parse_guid};
use crate::bulkcsv::output::PendingFile;
use crate::directory::Directory;
use crate::directory::local::ResolvedMember;
use crate::directory::model::Group;
use crate::directory::outcome::RowOutcome;
use crate::manifest::step::MemberListSpec;
use crate::store::{Chunk, JobCounts, JobFile};

/// Rows planned, journaled and applied together.
///
/// Large batches let the directory touch each page of its indexes once for
/// many rows; `BULKOPS_CHUNK_ROWS` sets another size (smaller batches journal
/// more often).
const CHUNK_ROWS: usize = 50_000;

/// The batch size in force.
pub(super) fn chunk_rows() -> usize {
    std::env::var("BULKOPS_CHUNK_ROWS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|rows| *rows > 0)
        .unwrap_or(CHUNK_ROWS)
}

/// The default result file of a membership job.
const DEFAULT_RESULTS: &str = "results/{{run.id}}/{{step.id}}-{{group.displayName}}.csv";

/// Which way membership changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Add,
    Remove,
}

/// Runs the step: the same member list against every target group.
pub(super) async fn run<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    change: Change,
) -> Result<StepReport, StepError> {
    let groups = match (&spec.group, &spec.groups) {
        (Some(target), _) => vec![env.one_group(target).await?],
        (None, Some(set)) => env.groups_of(set).await?,
        (None, None) => Vec::new(),
    };
    let input = env.context.input_path(&spec.input, &env.step.id)?;
    let rows = check_whole_list(&input)?;
    if env.context.dry_run {
        let mut effects = Vec::new();
        for group in &groups {
            effects.push(preview_job(env, change, group, &input, rows).await?);
        }
        return Ok(StepReport {
            selection: None,
            jobs: Vec::new(),
            effects,
        });
    }
    let mut jobs = Vec::new();
    for group in &groups {
        jobs.push(run_job(env, spec, change, group, &input, rows).await?);
    }
    Ok(StepReport {
        selection: None,
        jobs,
        effects: Vec::new(),
    })
}

/// What a job would do: every row planned against the directory as it is now.
async fn preview_job<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    input: &Path,
    rows: usize,
) -> Result<Effect, StepError> {
    let mut effect = Effect {
        target: Some(group.display_name.clone()),
        ..Effect::default()
    };
    if !group.is_manageable() {
        return Ok(effect);
    }
    let mut list = MemberList::open(input)?;
    let mut progress = Progress::sized(rows);
    loop {
        let rows = read_chunk(&mut list)?;
        if rows.is_empty() {
            return Ok(effect);
        }
        let (outcomes, _) = plan_chunk(env, change, group, &rows, &mut progress).await?;
        for outcome in outcomes {
            *effect.outcomes.entry(outcome).or_default() += 1;
        }
    }
}

/// Reads the whole list once before any change, so that a broken line near
/// the end of a large file stops the step before its first row is applied.
/// Returns the number of rows, so that the job can size its memory once.
fn check_whole_list(input: &Path) -> Result<usize, StepError> {
    let mut list = MemberList::open(input)?;
    let mut rows = 0;
    while list.next_row()?.is_some() {
        rows += 1;
    }
    Ok(rows)
}

/// What one job has counted so far, and what it must remember across chunks.
struct Progress {
    counts: JobCounts,
    /// Members seen, to report repeated ones once: by object id, and for
    /// rows that name a user by UPN also by that UPN. An object id names
    /// itself, so most rows take one entry.
    seen: SeenSet,
    next_row: u64,
}

impl Progress {
    /// Room for a list of `rows` rows, allocated once.
    fn sized(rows: usize) -> Self {
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
    group: &Group,
    input: &Path,
    rows: usize,
) -> Result<JobSummary, StepError> {
    let job_id = env.start_job(
        &group.id,
        Some(&group.display_name),
        Some(&input.display().to_string()),
    )?;
    match run_started_job(env, spec, change, group, (input, rows), &job_id).await {
        Ok(summary) => Ok(summary),
        Err(error) => {
            // The job ends failed with the error as its reason; the step reports it too.
            let reason = Some(error.to_string());
            env.finish_job(
                &job_id,
                Some(&group.display_name),
                JobCounts::default(),
                reason,
                Vec::new(),
            )?;
            Err(error)
        }
    }
}

async fn run_started_job<D: Directory>(
    env: &StepEnv<'_, D>,
    spec: &MemberListSpec,
    change: Change,
    group: &Group,
    (input, rows): (&Path, usize),
    job_id: &str,
) -> Result<JobSummary, StepError> {
    if !group.is_manageable() {
        let reason = format!(
            "`{}` is a mail-enabled security group or distribution list; Microsoft Graph cannot change its members, manage it in Exchange",
            group.display_name
        );
        return Ok(env.finish_job(
            job_id,
            Some(&group.display_name),
            JobCounts::default(),
            Some(reason),
            Vec::new(),
        )?);
    }
    let journal = env.store(|store| store.chunks(job_id))?;
    let mut list = MemberList::open(input)?;
    let template = spec.results.as_deref().unwrap_or(DEFAULT_RESULTS);
    let relative = env
        .context
        .output_path(template, &env.step.id, Some(group))?;
    let mut file = env.context.output.create(&relative, true)?;
    let header = result_header(list.header());
    let mut writer = csv::Writer::from_writer(&mut file);
    writer
        .write_record(&header)
        .map_err(|source| write_error(env, &relative, source))?;
    let mut progress = Progress::sized(rows);
    env.progress.rows(&group.display_name, rows as u64);
    let mut chunk_index = 0u64;
    loop {
        let rows = read_chunk(&mut list)?;
        if rows.is_empty() {
            break;
        }
        let planned = journal.iter().find(|chunk| chunk.index == chunk_index);
        let outcomes = process_chunk(
            env,
            change,
            group,
            job_id,
            chunk_index,
            &rows,
            planned,
            &mut progress,
        )
        .await?;
        for (row, outcome) in rows.iter().zip(&outcomes) {
            writer
                .write_record(result_row(row, *outcome, header.len()))
                .map_err(|source| write_error(env, &relative, source))?;
            count(&mut progress.counts, *outcome);
        }
        env.progress.advance(rows.len() as u64);
        chunk_index += 1;
    }
    writer
        .flush()
        .map_err(|source| write_error(env, &relative, source.into()))?;
    drop(writer);
    let path = commit_results(env, job_id, file, progress.counts.total)?;
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

fn read_chunk(list: &mut MemberList) -> Result<Vec<MemberRow>, StepError> {
    let limit = chunk_rows();
    let mut rows = Vec::with_capacity(limit);
    while rows.len() < limit {
        match list.next_row()? {
            Some(row) => rows.push(row),
            None => break,
        }
    }
    Ok(rows)
}

/// The outcomes of a chunk: from the journal when it was planned before,
/// otherwise planned now; applied unless the journal says it was.
#[expect(
    clippy::too_many_arguments,
    reason = "the chunk's identity and the job's running state belong together here"
)]
async fn process_chunk<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    job_id: &str,
    index: u64,
    rows: &[MemberRow],
    journaled: Option<&Chunk>,
    progress: &mut Progress,
) -> Result<Vec<RowOutcome>, StepError> {
    let (outcomes, members) = plan_chunk(env, change, group, rows, progress).await?;
    let chunk = match journaled {
        Some(chunk) if chunk.outcomes.len() == rows.len() => chunk.clone(),
        _ => {
            let chunk = Chunk {
                index,
                first_row: progress.next_row,
                outcomes,
                applied: false,
            };
            env.store(|store| store.plan_chunk(job_id, &chunk))?;
            chunk
        }
    };
    progress.next_row += rows.len() as u64;
    if chunk.applied {
        return Ok(chunk.outcomes);
    }
    let reported = apply(env, change, group, &chunk.outcomes, &members).await?;
    env.store(|store| store.mark_chunk_applied_with(job_id, index, &reported))?;
    hold_if_asked().await;
    Ok(reported)
}

/// Fault injection for crash tests: with `BULKOPS_FAULT_HOLD_AFTER_CHUNKS=N`
/// the process stops making progress once it has applied N chunks, so a test
/// can kill it at a known point and check that `--resume` finishes the run.
async fn hold_if_asked() {
    static APPLIED: AtomicU64 = AtomicU64::new(0);
    let applied = APPLIED.fetch_add(1, Ordering::SeqCst) + 1;
    let limit = std::env::var("BULKOPS_FAULT_HOLD_AFTER_CHUNKS")
        .ok()
        .and_then(|value| value.parse::<u64>().ok());
    if limit == Some(applied) {
        tracing::warn!(
            chunks = applied,
            "holding as BULKOPS_FAULT_HOLD_AFTER_CHUNKS asks"
        );
        std::future::pending::<()>().await;
    }
}

/// Plans a chunk: each row's outcome if it were applied now, and the members to
/// change. Repeated members are noted whether or not the chunk was journaled,
/// so later chunks plan as they did the first time.
async fn plan_chunk<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    rows: &[MemberRow],
    progress: &mut Progress,
) -> Result<(Vec<RowOutcome>, Vec<Option<ResolvedMember>>), StepError> {
    let mut outcomes = vec![RowOutcome::InvalidId; rows.len()];
    let (positions, keys): (Vec<usize>, Vec<MemberKey>) = rows
        .iter()
        .enumerate()
        .filter_map(|(position, row)| row.key.as_ref().ok().map(|key| (position, key.clone())))
        .unzip();
    let resolved = env.directory.resolve_for_group(&group.id, &keys).await?;
    let mut members: Vec<Option<ResolvedMember>> = vec![None; rows.len()];
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
                let outcome = match (change, is_member) {
                    _ if group.is_dynamic() => RowOutcome::DynamicMembership,
                    (Change::Add, _) if !group.accepts_member(&member.id, member.member_type) => {
                        RowOutcome::UnsupportedMemberType
                    }
                    (Change::Add, false) => RowOutcome::Added,
                    (Change::Add, true) => RowOutcome::AlreadyMember,
                    (Change::Remove, true) => RowOutcome::Removed,
                    (Change::Remove, false) => RowOutcome::NotMember,
                };
                members[*position] = Some(member);
                outcome
            }
        };
    }
    progress.seen.end_batch();
    Ok((outcomes, members))
}

/// Applies the planned changes of a chunk and returns the outcomes to report:
/// the plan, except rows the directory refused (a member deleted since the
/// plan, say). Applying twice is harmless: an added member is not added
/// again, a removed one not removed again, and the second answer ("already
/// a member") does not replace the first.
async fn apply<D: Directory>(
    env: &StepEnv<'_, D>,
    change: Change,
    group: &Group,
    outcomes: &[RowOutcome],
    members: &[Option<ResolvedMember>],
) -> Result<Vec<RowOutcome>, StepError> {
    let wanted = match change {
        Change::Add => RowOutcome::Added,
        Change::Remove => RowOutcome::Removed,
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
    let answers = match change {
        Change::Add => env.directory.add_members(group, &targets).await?,
        Change::Remove => {
            let ids: Vec<&str> = targets.iter().map(|member| member.id.as_str()).collect();
            env.directory.remove_members(group, &ids).await?
        }
    };
    for (position, answer) in positions.into_iter().zip(answers) {
        if !answer.is_success() {
            reported[position] = answer;
        }
    }
    Ok(reported)
}

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

/// The input's header (or the template's column name) plus `status` and `error`.
fn result_header(input: Option<&[String]>) -> Vec<String> {
    let mut header: Vec<String> = match input {
        Some(columns) => columns
            .iter()
            .map(|column| column.trim().to_owned())
            .collect(),
        None => vec!["memberObjectIdOrUpn".to_owned()],
    };
    header.extend(["status".to_owned(), "error".to_owned()]);
    header
}

fn result_row(row: &MemberRow, outcome: RowOutcome, width: usize) -> Vec<String> {
    let mut fields: Vec<String> = row
        .fields
        .iter()
        .map(|field| field.trim().to_owned())
        .collect();
    fields.resize(width - 2, String::new());
    let error = match (&row.key, outcome) {
        (Err(reason), _) => reason.clone(),
        (_, RowOutcome::Duplicate) => "the same member is on an earlier row".to_owned(),
        (_, outcome) => outcome.explanation().to_owned(),
    };
    fields.extend([outcome.key().to_owned(), error]);
    fields
}

fn write_error<D: Directory>(
    env: &StepEnv<'_, D>,
    relative: &str,
    source: csv::Error,
) -> StepError {
    StepError::Write {
        path: env.context.output.path().join(relative),
        source,
    }
}

fn commit_results<D: Directory>(
    env: &StepEnv<'_, D>,
    job_id: &str,
    file: PendingFile,
    rows: u64,
) -> Result<String, StepError> {
    let path = file.commit()?;
    let record = JobFile {
        kind: "results".into(),
        path: path.display().to_string(),
        rows,
    };
    env.store(|store| store.add_file(job_id, &record))?;
    Ok(env.context.output.display(&path))
}
