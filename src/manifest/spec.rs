//! The workflow manifest as written: `apiVersion`, `kind`, `metadata` and `spec`.
//!
//! These types mirror the YAML one to one and are what the JSON Schema is generated
//! from, so their doc comments are the descriptions editors show. They end in
//! `Spec` because they are unresolved: references between steps are still names.
//! `plan::resolve` turns them into a `Plan`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::DurationSpec;
use super::step::StepSpec;

/// A bulkops workflow: the bulk work an administrator wants done, as steps.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "bulkops workflow manifest")]
pub struct WorkflowSpec {
    /// The manifest language version. Always `bulkops/v1`.
    pub api_version: ApiVersion,
    /// The kind of document. Always `Workflow`.
    pub kind: ManifestKind,
    /// The workflow's name and description.
    pub metadata: MetadataSpec,
    /// What the workflow does.
    pub spec: WorkflowBodySpec,
}

/// The manifest language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ApiVersion {
    /// Version 1 of the manifest language.
    #[serde(rename = "bulkops/v1")]
    V1,
}

/// The kind of manifest document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ManifestKind {
    /// A workflow of steps.
    Workflow,
}

/// Names and describes a workflow.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataSpec {
    /// The workflow's name: lowercase letters, digits and dashes. Unique among the
    /// manifests of one folder; job records and output files carry it.
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: String,
    /// What the workflow is for, for the people who review and run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Free-form labels, for example an owner or a ticket number.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The body of a workflow: where it runs, when, how carefully, and its steps.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("allOf" = [
    { "not": { "required": ["directory", "directories"] } },
    { "not": { "required": ["trigger", "directories"] } }
]))]
pub struct WorkflowBodySpec {
    /// The directory profile to run against. `local` is the embedded local
    /// directory, which needs no tenant; other names refer to profiles in `bulkops.yaml`.
    #[serde(default = "default_directory")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"))]
    pub directory: String,
    /// Several directory profiles, one run each (instead of `directory`; not
    /// with a watch trigger, whose file runs against one directory):
    /// `bulkops submit` queues one run per profile for workers, and
    /// `bulkops apply` and `bulkops plan` take them in turn. The runs of one
    /// submission or apply are listed together (`jobs list --group`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 1000),
        inner(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")),
        extend("uniqueItems" = true)
    )]
    pub directories: Vec<String>,
    /// What starts the workflow besides a person running `bulkops apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerSpec>,
    /// The retry policy for steps that do not set their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Safety limits that make `bulkops apply` refuse a plan before changing anything.
    #[serde(default)]
    pub guards: GuardsSpec,
    /// Values for templates, used as `{{vars.NAME}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" }))]
    pub vars: BTreeMap<String, String>,
    /// How many steps may run at the same time. Defaults to 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: Option<u32>,
    /// How CSV files are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvSpec>,
    /// The steps, in any order; `needs` and group or device set references decide
    /// the order they run in.
    #[schemars(length(min = 1, max = 20000))]
    pub steps: Vec<StepSpec>,
}

fn default_directory() -> String {
    "local".to_owned()
}

/// How bulkops writes CSV files (downloads and result files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsvSpec {
    /// Cells that start with `=`, `+`, `-`, `@`, a tab or a carriage return are
    /// read as formulas by spreadsheet programs. `neutralize` (the default)
    /// writes them with a leading `'` so they show as text; `keep` writes
    /// them exactly, for files that feed other tools.
    #[serde(default)]
    pub formulas: FormulasSpec,
    /// Start every CSV file with a UTF-8 byte order mark, so Excel opened by
    /// a double click shows accented names right. Defaults to `false`: plain
    /// UTF-8, which other tools read best.
    #[serde(default)]
    pub bom: bool,
}

/// What to do with CSV cells that spreadsheets read as formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FormulasSpec {
    /// Prefix them with `'`, so they show as text.
    #[default]
    Neutralize,
    /// Write them exactly as they are.
    Keep,
}

/// What starts a workflow automatically.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerSpec {
    /// Run once for every complete file dropped into a folder.
    pub watch: WatchSpec,
}

/// A watched folder: `bulkops watch` runs the workflow once per complete file
/// that lands in it, with `{{trigger.file}}` set to that file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WatchSpec {
    /// The folder to watch, relative to the manifest's folder.
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// Which file names start a run, as a glob. Defaults to `*.csv`.
    #[serde(default = "default_watch_pattern")]
    #[schemars(length(min = 1, max = 256))]
    pub pattern: String,
    /// How long a file must stay unchanged (size and modification time)
    /// before it counts as complete. Defaults to `2s`.
    #[serde(default = "default_settle")]
    pub settle: DurationSpec,
    /// When a file counts as complete: `settled` (unchanged for `settle`, the
    /// default) or `marker` (`X.csv` once `X.csv.done` exists).
    #[serde(default)]
    pub complete: CompleteSpec,
    /// What to do with a file whose content was run before: `skip` (moved to
    /// the duplicates folder, the default) or `run` (run again).
    #[serde(default)]
    pub duplicates: DuplicatesSpec,
    /// How many runs of this workflow may go on at once. Defaults to 1, so
    /// files run one after another, in the order they arrived.
    #[serde(default = "default_watch_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: u32,
    /// Where finished input files are moved.
    #[serde(default)]
    pub archive: ArchiveSpec,
}

/// When a dropped file counts as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CompleteSpec {
    /// Its size and modification time stayed the same for `settle`.
    #[default]
    Settled,
    /// A marker file `NAME.done` exists beside it (written by the sender when
    /// it has finished); the marker is archived with it.
    Marker,
}

/// What happens to a file whose content was run before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DuplicatesSpec {
    /// Move it to the duplicates folder without running it.
    #[default]
    Skip,
    /// Run it again.
    Run,
}

fn default_watch_concurrency() -> u32 {
    1
}

fn default_watch_pattern() -> String {
    "*.csv".to_owned()
}

fn default_settle() -> DurationSpec {
    DurationSpec::seconds(2)
}

/// Where a watched folder's input files go once their run has finished.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveSpec {
    /// The folder for inputs whose run completed, relative to the watched folder.
    /// Defaults to `processed`.
    #[serde(default = "default_processed")]
    #[schemars(length(min = 1, max = 1024))]
    pub processed: String,
    /// The folder for inputs whose run failed, relative to the watched folder.
    /// Defaults to `failed`.
    #[serde(default = "default_failed")]
    #[schemars(length(min = 1, max = 1024))]
    pub failed: String,
    /// The folder for inputs skipped because their content was run before,
    /// relative to the watched folder. Defaults to `duplicates`.
    #[serde(default = "default_duplicates")]
    #[schemars(length(min = 1, max = 1024))]
    pub duplicates: String,
}

impl Default for ArchiveSpec {
    fn default() -> Self {
        Self {
            processed: default_processed(),
            failed: default_failed(),
            duplicates: default_duplicates(),
        }
    }
}

fn default_duplicates() -> String {
    "duplicates".to_owned()
}

fn default_processed() -> String {
    "processed".to_owned()
}

fn default_failed() -> String {
    "failed".to_owned()
}

/// How a step retries after a transient failure (throttling, a timeout, a
/// dropped connection). Permanent failures, such as an unknown member, are never retried.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrySpec {
    /// How many times to try in all, counting the first attempt. Defaults to 3.
    #[serde(default = "default_attempts")]
    #[schemars(range(min = 1, max = 20))]
    pub attempts: u32,
    /// How the delay between attempts grows. Defaults to `exponential`.
    #[serde(default)]
    pub backoff: BackoffKind,
    /// The delay before the first retry. Defaults to `1s`.
    #[serde(default = "default_delay")]
    pub delay: DurationSpec,
    /// The longest delay between two attempts. Defaults to `1m`.
    #[serde(default = "default_max_delay")]
    pub max_delay: DurationSpec,
    /// Whether to randomise delays so that parallel steps do not retry in lockstep.
    /// Defaults to `true`.
    #[serde(default = "default_jitter")]
    pub jitter: bool,
}

fn default_attempts() -> u32 {
    3
}

fn default_delay() -> DurationSpec {
    DurationSpec::seconds(1)
}

fn default_max_delay() -> DurationSpec {
    DurationSpec::minutes(1)
}

fn default_jitter() -> bool {
    true
}

/// How retry delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BackoffKind {
    /// The same delay before every retry.
    Fixed,
    /// The delay doubles after every retry, up to `maxDelay`.
    #[default]
    Exponential,
}

/// Safety limits checked against the preview before anything changes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardsSpec {
    /// Refuse to apply a plan that removes more group members than this: a
    /// count for all steps together (defaults to 500, like Entra Connect's
    /// accidental-delete threshold), or a percentage such as `10%` of each
    /// group's current size. `bulkops apply --allow-removals N` sets a count
    /// for one run.
    #[serde(default = "default_max_removals")]
    pub max_removals: MaxRemovalsSpec,
    /// Refuse to apply a plan that deletes more devices than this. Defaults to 100:
    /// a deleted device cannot be restored and loses its disk recovery keys.
    #[serde(default = "default_max_device_deletions")]
    #[schemars(range(max = 10_000_000))]
    pub max_device_deletions: u32,
}

impl Default for GuardsSpec {
    fn default() -> Self {
        Self {
            max_removals: default_max_removals(),
            max_device_deletions: default_max_device_deletions(),
        }
    }
}

fn default_max_removals() -> MaxRemovalsSpec {
    MaxRemovalsSpec::Count(500)
}

/// A removal limit: a count for the whole run, or a share of each group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MaxRemovalsSpec {
    /// At most this many removals in all steps together.
    Count(#[schemars(range(max = 10_000_000))] u32),
    /// At most this share of each group's current members, such as `10%`.
    Percent(#[schemars(regex(pattern = r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)%$"))] String),
}

impl MaxRemovalsSpec {
    /// The run's removal budget: the count, or no run-wide limit for a share.
    pub fn count(&self) -> u64 {
        match self {
            Self::Count(count) => u64::from(*count),
            Self::Percent(_) => u64::MAX,
        }
    }

    /// The share of each group that may be removed (`0.1` for `10%`), if a
    /// percentage is set.
    pub fn share(&self) -> Option<f64> {
        match self {
            Self::Count(_) => None,
            Self::Percent(text) => text
                .trim_end_matches('%')
                .parse::<f64>()
                .ok()
                .map(|percent| percent / 100.0),
        }
    }

    /// How many of a group of `size` members may be removed under a share,
    /// rounded down, in whole hundredths of a percent (no floating point).
    pub fn allowed_in(&self, size: u64) -> Option<u64> {
        let Self::Percent(text) = self else {
            return None;
        };
        let number = text.trim_end_matches('%');
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let hundredths = whole.parse::<u64>().ok()? * 100
            + format!("{fraction:0<2}").get(..2)?.parse::<u64>().ok()?;
        Some(size.saturating_mul(hundredths) / 10_000)
    }
}

impl std::fmt::Display for MaxRemovalsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(count) => write!(f, "{count}"),
            Self::Percent(text) => f.write_str(text),
        }
    }
}

fn default_max_device_deletions() -> u32 {
    100
}

#[cfg(test)]
mod tests {
    use super::MaxRemovalsSpec;

    #[test]
    fn a_share_of_a_group_rounds_down_in_whole_hundredths() {
        let share = |text: &str, size| MaxRemovalsSpec::Percent(text.to_owned()).allowed_in(size);
        assert_eq!(share("29%", 100), Some(29));
        assert_eq!(share("57%", 100), Some(57));
        assert_eq!(share("10.5%", 200), Some(21));
        assert_eq!(share("0.01%", 99_999), Some(9));
        assert_eq!(share("0%", 1_000), Some(0));
        assert_eq!(share("100%", 7), Some(7));
        assert_eq!(MaxRemovalsSpec::Count(5).allowed_in(100), None);
    }
}
