//! Operations a saved plan pins: what a preview recorded for each step (the
//! objects a filter selected, each job's row outcomes and the objects it
//! changes, the state of its targets), and how a run of that plan holds the
//! steps to it.
//!
//! A run of a saved plan selects exactly the planned objects and refuses,
//! before journaling a chunk, any change the plan does not list; `apply`
//! compares a fresh recording with the plan before the run starts, so this
//! refusal only fires when the directory changes while the run goes on.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::directory::model::{Device, Group, MemberType};
use crate::directory::outcome::RowOutcome;

/// An object a plan names: its id, and a name people recognise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub id: String,
    /// A user principal name, or a display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For members: `user`, `group`, `device`, `servicePrincipal` or `orgContact`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MemberType>,
}

impl ObjectRef {
    /// A group, by id and display name.
    pub fn group(group: &Group) -> Self {
        Self {
            id: group.id.clone(),
            name: Some(group.display_name.clone()),
            kind: None,
        }
    }

    /// A device, by object id and display name.
    pub fn device(device: &Device) -> Self {
        Self {
            id: device.id.clone(),
            name: Some(device.display_name.clone()),
            kind: None,
        }
    }

    /// How the object is shown: its name and id, or its id.
    pub fn shown(&self) -> String {
        match &self.name {
            Some(name) if name != &self.id => format!("{name} ({})", self.id),
            _ => self.id.clone(),
        }
    }
}

/// What must still hold of a job's target when the plan is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "of")]
pub enum Precondition {
    /// A group: its direct member count, and the SHA-256 of the sorted ids of
    /// the members the job looks at that were members.
    Group { members: u64, sha256: String },
    /// Devices: whether each device the job looks at was enabled.
    Devices { devices: Vec<DeviceState> },
}

/// A device's state when planned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceState {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

/// One job's planned work: every input row's outcome in order (as runs of
/// equal outcomes), and the objects its changing rows change, in row order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOps {
    /// The group the job changes; `None` for a device job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ObjectRef>,
    /// Row outcomes as `[outcome, count]` runs, in row order.
    pub rows: Vec<(RowOutcome, u64)>,
    /// The object each changing row changes (`added`, `removed`, `disabled`,
    /// `enabled`, `deleted`), in row order.
    pub changes: Vec<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<Precondition>,
}

impl JobOps {
    /// Appends one row's outcome.
    pub fn push_row(&mut self, outcome: RowOutcome) {
        match self.rows.last_mut() {
            Some((last, count)) if *last == outcome => *count += 1,
            _ => self.rows.push((outcome, 1)),
        }
    }

    /// Every row's outcome, in order.
    pub fn outcomes(&self) -> Vec<RowOutcome> {
        let mut all = Vec::new();
        for (outcome, count) in &self.rows {
            all.extend(std::iter::repeat_n(*outcome, usize_of(*count)));
        }
        all
    }

    /// How many rows have `outcome`.
    pub fn count(&self, outcome: RowOutcome) -> u64 {
        self.rows
            .iter()
            .filter(|(found, _)| *found == outcome)
            .map(|(_, count)| count)
            .sum()
    }

    /// The changed objects whose row has `outcome`.
    pub fn changed(&self, outcome: RowOutcome) -> Vec<&ObjectRef> {
        let mut changes = self.changes.iter();
        self.outcomes()
            .into_iter()
            .filter(|row| row.is_change())
            .filter_map(|row| changes.next().filter(|_| row == outcome))
            .collect()
    }
}

fn usize_of(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

/// The SHA-256 of sorted ids, one per line.
pub fn ids_sha256<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let sorted: BTreeSet<String> = ids.into_iter().map(str::to_ascii_lowercase).collect();
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for id in &sorted {
        context.update(id.as_bytes());
        context.update(b"\n");
    }
    crate::files::input::hex(context.finish().as_ref())
}

/// What a run of a saved plan holds its steps to, by step id.
#[derive(Debug, Default)]
pub struct Pins {
    steps: HashMap<String, StepPins>,
}

/// One step's pinned work.
#[derive(Debug, Default)]
pub struct StepPins {
    /// The objects a filter step selects.
    pub selection: Option<Vec<String>>,
    /// Jobs by target id (`""` for a device job).
    pub jobs: HashMap<String, PinnedJob>,
    /// The jobs a `deleteJobs` step deletes.
    pub deleted_jobs: Option<BTreeSet<String>>,
}

/// A job's pinned rows, expanded for lookups by row.
#[derive(Debug)]
pub struct PinnedJob {
    outcomes: Vec<RowOutcome>,
    /// The changed object ids, lowercased, in row order.
    changes: Vec<String>,
    /// For each row, how many changing rows come before it.
    changes_before: Vec<u32>,
}

impl PinnedJob {
    fn of(ops: &JobOps) -> Self {
        let outcomes = ops.outcomes();
        let mut changes_before = Vec::with_capacity(outcomes.len());
        let mut seen = 0u32;
        for outcome in &outcomes {
            changes_before.push(seen);
            seen += u32::from(outcome.is_change());
        }
        Self {
            outcomes,
            changes: ops
                .changes
                .iter()
                .map(|change| change.id.to_ascii_lowercase())
                .collect(),
            changes_before,
        }
    }

    /// Checks rows `first..first + outcomes.len()` against the plan: the same
    /// outcomes, and each changing row changing the same object. Returns a
    /// description of the first difference.
    pub fn check(
        &self,
        first: usize,
        outcomes: &[RowOutcome],
        changed_ids: &[Option<&str>],
    ) -> Result<(), String> {
        for (offset, (outcome, changed)) in outcomes.iter().zip(changed_ids).enumerate() {
            let row = first + offset;
            let Some(planned) = self.outcomes.get(row) else {
                return Err(format!(
                    "the plan has {} rows, the input has more",
                    self.outcomes.len()
                ));
            };
            if planned != outcome {
                return Err(format!(
                    "row {}: planned `{}`, now `{}`",
                    row + 1,
                    planned.key(),
                    outcome.key()
                ));
            }
            if outcome.is_change() {
                let index = self.changes_before[row] as usize;
                let expected = self.changes.get(index).map(String::as_str);
                let now = changed.map(str::to_ascii_lowercase);
                if expected != now.as_deref() {
                    return Err(format!(
                        "row {}: planned to change `{}`, now `{}`",
                        row + 1,
                        expected.unwrap_or("nothing"),
                        now.as_deref().unwrap_or("nothing")
                    ));
                }
            }
        }
        Ok(())
    }

    /// How many rows the plan has.
    pub fn rows(&self) -> usize {
        self.outcomes.len()
    }
}

impl Pins {
    /// Pins a step's selection.
    pub fn select(&mut self, step: &str, ids: Vec<String>) {
        self.step_mut(step).selection = Some(ids);
    }

    /// Pins a job.
    pub fn job(&mut self, step: &str, ops: &JobOps) {
        let target = ops
            .target
            .as_ref()
            .map_or_else(String::new, |target| target.id.to_ascii_lowercase());
        self.step_mut(step).jobs.insert(target, PinnedJob::of(ops));
    }

    /// Pins the jobs a `deleteJobs` step deletes.
    pub fn delete_jobs(&mut self, step: &str, ids: impl IntoIterator<Item = String>) {
        self.step_mut(step).deleted_jobs = Some(ids.into_iter().collect());
    }

    fn step_mut(&mut self, step: &str) -> &mut StepPins {
        self.steps.entry(step.to_owned()).or_default()
    }

    /// A step's pins, if the plan has the step.
    pub fn step(&self, step: &str) -> Option<&StepPins> {
        self.steps.get(step)
    }
}

impl StepPins {
    /// The pinned job of a target (`""` for a device job).
    pub fn job_for(&self, target: &str) -> Option<&PinnedJob> {
        self.jobs.get(&target.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> ObjectRef {
        ObjectRef {
            id: id.to_owned(),
            name: None,
            kind: Some(MemberType::User),
        }
    }

    #[test]
    fn rows_are_kept_as_runs_and_expand_in_order() {
        let mut ops = JobOps::default();
        for outcome in [
            RowOutcome::Added,
            RowOutcome::Added,
            RowOutcome::AlreadyMember,
            RowOutcome::Added,
        ] {
            ops.push_row(outcome);
        }
        assert_eq!(
            ops.rows,
            vec![
                (RowOutcome::Added, 2),
                (RowOutcome::AlreadyMember, 1),
                (RowOutcome::Added, 1)
            ]
        );
        assert_eq!(ops.count(RowOutcome::Added), 3);
        assert_eq!(ops.outcomes().len(), 4);
    }

    #[test]
    fn a_pinned_job_refuses_other_outcomes_and_other_objects() {
        let mut ops = JobOps::default();
        ops.push_row(RowOutcome::NotFound);
        ops.push_row(RowOutcome::Added);
        ops.push_row(RowOutcome::Added);
        ops.changes = vec![member("A"), member("b")];
        let pinned = PinnedJob::of(&ops);
        let rows = [RowOutcome::NotFound, RowOutcome::Added, RowOutcome::Added];
        assert_eq!(
            pinned.check(0, &rows, &[None, Some("a"), Some("B")]),
            Ok(())
        );
        assert_eq!(pinned.check(2, &rows[2..], &[Some("b")]), Ok(()));
        assert_eq!(
            pinned.check(2, &rows[2..], &[Some("c")]),
            Err("row 3: planned to change `b`, now `c`".to_owned())
        );
        assert_eq!(
            pinned.check(0, &[RowOutcome::Added], &[Some("x")]),
            Err("row 1: planned `notFound`, now `added`".to_owned())
        );
        assert!(pinned.check(3, &[RowOutcome::Added], &[Some("x")]).is_err());
    }

    #[test]
    fn changed_objects_are_found_by_their_outcome() {
        let mut ops = JobOps::default();
        ops.push_row(RowOutcome::Added);
        ops.push_row(RowOutcome::Removed);
        ops.push_row(RowOutcome::Added);
        ops.changes = vec![member("a"), member("r"), member("c")];
        let added: Vec<&str> = ops
            .changed(RowOutcome::Added)
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(added, ["a", "c"]);
    }

    #[test]
    fn id_hashes_ignore_order_and_case() {
        assert_eq!(ids_sha256(["A", "b"]), ids_sha256(["B", "a"]));
        assert_ne!(ids_sha256(["a"]), ids_sha256(["a", "b"]));
    }
}
