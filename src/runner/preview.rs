//! Previews: what a run would do, computed read-only against the directory as
//! it is now, and the totals that guards and `--detailed-exitcode` look at.

use std::fmt::Write as _;

use super::{RunReport, StepState};
use crate::directory::outcome::RowOutcome;
use crate::steps::Effect;
use crate::steps::guard::Limits;
use crate::text::{counted, printable};

/// The changes a preview adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub additions: u64,
    pub removals: u64,
    pub deleted_jobs: u64,
    pub device_changes: u64,
    pub deleted_devices: u64,
    pub files: u64,
    /// Effects that cannot be known before the run.
    pub unknown: u64,
}

impl Totals {
    /// Whether the run would (or, where the preview cannot know, may)
    /// change the directory or the job history.
    pub fn changes_anything(self) -> bool {
        self.additions + self.removals + self.deleted_jobs + self.device_changes + self.unknown > 0
    }
}

/// Adds up a preview.
pub fn totals(report: &RunReport) -> Totals {
    let mut totals = Totals::default();
    for effect in report.steps.iter().flat_map(|step| &step.effects) {
        totals.additions += effect.count(RowOutcome::Added);
        totals.removals += effect.count(RowOutcome::Removed);
        totals.deleted_jobs += effect.deleted_jobs;
        // Previews see the devices as earlier steps of the run leave them,
        // so a device a delete step refuses as still enabled is not counted.
        totals.deleted_devices += effect.count(RowOutcome::Deleted);
        totals.device_changes += effect.count(RowOutcome::Disabled)
            + effect.count(RowOutcome::Enabled)
            + effect.count(RowOutcome::Deleted);
        totals.files += u64::from(effect.file.is_some()) + u64::from(effect.writes_results);
        totals.unknown += u64::from(effect.unknown.is_some());
    }
    totals
}

/// Why `apply` would refuse the run, if its guards would.
pub fn guard_verdict(totals: Totals, limits: Limits) -> Option<String> {
    if totals.removals > limits.removals {
        return Some(format!(
            "apply would refuse this run: it removes {} members, `guards.maxRemovals` allows {}",
            totals.removals, limits.removals
        ));
    }
    if totals.deleted_devices > limits.device_deletions {
        return Some(format!(
            "apply would refuse this run: it deletes {} devices, `guards.maxDeviceDeletions` allows {}",
            totals.deleted_devices, limits.device_deletions
        ));
    }
    None
}

/// The width of the step id column: 24, or the longest id, so columns align.
pub fn id_width(report: &RunReport) -> usize {
    report
        .steps
        .iter()
        .map(|step| step.id.chars().count())
        .max()
        .unwrap_or(0)
        .max(24)
}

/// The preview as text, one line per step and target.
pub fn render(report: &RunReport, workflow: &str, directory: &str) -> String {
    let mut out = format!("\npreview of workflow `{workflow}` against directory {directory}\n");
    for step in &report.steps {
        let head = format!(
            "  {:<width$} {:<16}",
            step.id,
            step.kind,
            width = id_width(report)
        );
        match (&step.state, step.selected) {
            (StepState::Finished, Some(count)) => {
                let _ = writeln!(out, "{head} selects {count}");
            }
            (StepState::Finished, None) if step.effects.is_empty() => {
                let _ = writeln!(out, "{head} nothing to do");
            }
            (StepState::Finished, None) => {
                for (index, effect) in step.effects.iter().enumerate() {
                    let lead = if index == 0 {
                        head.clone()
                    } else {
                        " ".repeat(head.len())
                    };
                    let _ = writeln!(out, "{lead} {}", describe(effect, step.kind));
                }
            }
            (StepState::Failed { error, .. }, _) => {
                let _ = writeln!(out, "{head} cannot be previewed: {}", printable(error));
            }
            (StepState::Skipped { because }, _) => {
                let _ = writeln!(out, "{head} not previewed: {because}");
            }
            (StepState::Cancelled, _) => {
                let _ = writeln!(out, "{head} cancelled");
            }
        }
    }
    let totals = totals(report);
    let _ = writeln!(
        out,
        "\nwould add {}, remove {}, change {} ({} deleted), delete {}, and write {}",
        counted(totals.additions, "member", "members"),
        totals.removals,
        counted(totals.device_changes, "device", "devices"),
        totals.deleted_devices,
        counted(totals.deleted_jobs, "job", "jobs"),
        counted(totals.files, "file", "files")
    );
    if totals.unknown > 0 {
        let _ = writeln!(
            out,
            "and {} effects cannot be known before the run; apply counts them against the guards before they change anything",
            totals.unknown
        );
    }
    out
}

fn describe(effect: &Effect, kind: &str) -> String {
    let target = effect
        .target
        .as_deref()
        .map(|t| format!("{}: ", printable(t)))
        .unwrap_or_default();
    if let Some(why) = &effect.unknown {
        return format!("{target}cannot be known before the run: {}", printable(why));
    }
    if let Some((path, rows)) = &effect.file {
        return format!("{target}would write {} ({rows} rows)", printable(path));
    }
    if kind == "deleteJobs" {
        let mut text = format!(
            "would delete {} jobs and {} files",
            effect.deleted_jobs,
            effect.deleted_files.len()
        );
        for file in &effect.deleted_files {
            let _ = write!(text, "\n{:>44}{}", "", printable(file));
        }
        return text;
    }
    let words: &[(RowOutcome, &str)] = match kind {
        "removeMembers" => &[
            (RowOutcome::Removed, "would remove"),
            (RowOutcome::NotMember, "not a member"),
        ],
        "syncMembers" => &[
            (RowOutcome::Added, "would add"),
            (RowOutcome::Removed, "would remove"),
            (RowOutcome::AlreadyMember, "already"),
        ],
        "disableDevices" => &[
            (RowOutcome::Disabled, "would disable"),
            (RowOutcome::AlreadyDisabled, "already disabled"),
        ],
        "enableDevices" => &[
            (RowOutcome::Enabled, "would enable"),
            (RowOutcome::AlreadyEnabled, "already enabled"),
        ],
        "deleteDevices" => &[
            (RowOutcome::Deleted, "would delete"),
            (RowOutcome::StillEnabled, "still enabled, kept"),
        ],
        _ => &[
            (RowOutcome::Added, "would add"),
            (RowOutcome::AlreadyMember, "already"),
        ],
    };
    let always = [
        (RowOutcome::NotFound, "not found"),
        (RowOutcome::InvalidId, "invalid"),
    ];
    let optional = [
        (RowOutcome::Duplicate, "duplicate"),
        (RowOutcome::UnsupportedMemberType, "unsupported type"),
        (RowOutcome::DynamicMembership, "dynamic group"),
    ];
    let mut parts: Vec<String> = words
        .iter()
        .chain(&always)
        .map(|(o, w)| format!("{w} {}", effect.count(*o)))
        .collect();
    parts.extend(
        optional
            .iter()
            .filter(|(o, _)| effect.count(*o) > 0)
            .map(|(o, w)| format!("{w} {}", effect.count(*o))),
    );
    if effect.outcomes.is_empty() && effect.target.is_some() {
        if effect.writes_results && !effect.checked_only {
            return format!("{target}the member list is empty: nothing to do");
        }
        if !effect.writes_results {
            return format!(
                "{target}cannot be changed: a mail-enabled security group or distribution list"
            );
        }
    }
    format!("{target}{}", parts.join(", "))
}
