//! Member lists for several groups: when an `importMembers` or
//! `removeMembers` step names no group, each row names its group in a group
//! column (`groupId`, `groupDisplayName`, `groupMailNickname`, or `group` for
//! any of them), and the step runs one job per group over that group's rows.
//!
//! Every value of the column is resolved before the first change: a value
//! that names no group, or more than one, stops the step with the line it is
//! on, and nothing is changed. Values that name the same group (an object id
//! and a display name, say) make one job. Jobs come in the order their groups
//! first appear in the list, and each job's rows keep the list's order and
//! line numbers.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::input::{CheckedInput, ListedGroup, ListedGroups};
use super::{StepEnv, StepError};
use crate::bulkcsv::members::{GroupBy, parse_guid};
use crate::directory::Directory;
use crate::directory::model::Group;
use crate::manifest::target::GroupTargetSpec;

/// One job of a membership step: its group, and which rows of the list are
/// its own (all of them for a step that names its groups).
pub(super) struct JobTarget {
    pub(super) group: Group,
    /// The group-column values whose rows this job takes; `None`: every row.
    pub(super) only: Option<Arc<HashSet<String>>>,
    /// How many rows the job takes.
    pub(super) rows: usize,
}

impl JobTarget {
    /// Jobs for groups the step names: each takes every row (a group column
    /// in the list is not read, and the log says so).
    pub(super) fn every_row(groups: Vec<Group>, checked: &CheckedInput) -> Vec<Self> {
        if let Some(column) = &checked.unread_group_column {
            tracing::warn!(
                column = %column,
                "the list has a group column, but the step names its groups: every row goes to every group the step names (remove `group`/`groups` from the step to use the column)"
            );
        }
        groups
            .into_iter()
            .map(|group| Self {
                group,
                only: None,
                rows: checked.rows,
            })
            .collect()
    }
}

/// The jobs of a list whose rows name their groups: one per group.
pub(super) async fn jobs_of_list<D: Directory>(
    env: &StepEnv<'_, D>,
    input: &Path,
    checked: &CheckedInput,
) -> Result<Vec<JobTarget>, StepError> {
    let Some(listed) = &checked.groups else {
        return Err(StepError::NoGroupColumn {
            step: env.step.id.clone(),
            path: input.to_path_buf(),
        });
    };
    let mut jobs: Vec<(Group, HashSet<String>, usize)> = Vec::new();
    for value in &listed.values {
        let group = resolve(env, input, listed, value).await?;
        match jobs.iter_mut().find(|(known, _, _)| known.id == group.id) {
            Some((_, values, rows)) => {
                values.insert(value.value.clone());
                *rows += value.rows;
            }
            None => jobs.push((group, HashSet::from([value.value.clone()]), value.rows)),
        }
    }
    Ok(jobs
        .into_iter()
        .map(|(group, values, rows)| JobTarget {
            group,
            only: Some(Arc::new(values)),
            rows,
        })
        .collect())
}

/// The one group a value of the group column names.
async fn resolve<D: Directory>(
    env: &StepEnv<'_, D>,
    input: &Path,
    listed: &ListedGroups,
    value: &ListedGroup,
) -> Result<Group, StepError> {
    let text = value.value.clone();
    let targets = match listed.by {
        GroupBy::Id => vec![GroupTargetSpec::Id(text.to_ascii_lowercase())],
        GroupBy::DisplayName => vec![GroupTargetSpec::DisplayName(text)],
        GroupBy::MailNickname => vec![GroupTargetSpec::MailNickname(text)],
        GroupBy::Any if parse_guid(&text).is_some() => {
            vec![GroupTargetSpec::Id(text.to_ascii_lowercase())]
        }
        GroupBy::Any => vec![
            GroupTargetSpec::DisplayName(text.clone()),
            GroupTargetSpec::MailNickname(text),
        ],
    };
    for target in &targets {
        if matches!(target, GroupTargetSpec::Id(id) if parse_guid(id).is_none()) {
            break;
        }
        let mut found = env.directory.find_groups(target).await?;
        match found.len() {
            0 => {}
            1 => return Ok(found.remove(0)),
            count => {
                return Err(StepError::AmbiguousListedGroup {
                    path: input.to_path_buf(),
                    line: value.first_line,
                    column: listed.column.clone(),
                    target: target.to_string(),
                    count,
                });
            }
        }
    }
    Err(StepError::NoListedGroup {
        path: input.to_path_buf(),
        line: value.first_line,
        column: listed.column.clone(),
        target: targets[0].to_string(),
    })
}
