//! Steps as written in a manifest: the fields every step shares and one action.
//!
//! A step is a mapping with an `id`, optional `needs`, `retry`, `timeout` and
//! `continueOnError`, and exactly one action key (`filterGroups`, `importMembers`,
//! ...) whose value holds that action's options. The schema states "exactly one"
//! with `oneOf`, which editors understand; the loader turns a violation into a
//! plain message.

use std::fmt;

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::duration::DurationSpec;
use super::filter::{FilterDevicesSpec, FilterGroupsSpec};
use super::spec::RetrySpec;
use super::target::{DeviceSetSpec, GroupSetSpec, GroupTargetSpec, OneOrMany, STEP_ID_PATTERN};

// Action options are boxed: a step holds one of eleven, and large workflows
// hold thousands of steps.
/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = exactly_one_action)]
pub struct StepSpec {
    /// The step's id: a letter, then letters, digits, `-` or `_`. Other steps
    /// refer to it in `needs` and in group or device sets.
    #[schemars(regex(pattern = STEP_ID_PATTERN))]
    pub id: String,
    /// Steps that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(regex(pattern = STEP_ID_PATTERN)))]
    pub needs: Vec<String>,
    /// This step's retry policy, instead of the workflow's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// How long the step may run, all attempts together, before it is stopped and fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
    /// Whether steps that need this one still run when it fails. Defaults to `false`.
    #[serde(default)]
    pub continue_on_error: bool,
    /// Select groups by their properties; later steps use the selection as a group set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_groups: Option<Box<FilterGroupsSpec>>,
    /// Write a CSV listing groups, with the admin center's columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_groups: Option<Box<DownloadGroupsSpec>>,
    /// Write the members of groups to CSV, one file per group or one combined file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_members: Option<Box<DownloadMembersSpec>>,
    /// Add the members listed in a CSV file to groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_members: Option<Box<MemberListSpec>>,
    /// Remove the members listed in a CSV file from groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_members: Option<Box<MemberListSpec>>,
    /// Make groups' membership match a list: add who is missing, remove who
    /// is not on it, or both (`mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_members: Option<Box<SyncMembersSpec>>,
    /// Delete bulkops job records and their result files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_jobs: Option<Box<DeleteJobsSpec>>,
    /// Select devices by their properties; later steps use the selection as a device set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_devices: Option<Box<FilterDevicesSpec>>,
    /// Write a CSV listing devices, with the admin center's columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_devices: Option<Box<DownloadDevicesSpec>>,
    /// Disable devices, so they can no longer be used to sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_devices: Option<Box<DeviceChangeSpec>>,
    /// Enable devices again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_devices: Option<Box<DeviceChangeSpec>>,
    /// Delete devices from the directory. This cannot be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_devices: Option<Box<DeleteDevicesSpec>>,
}

/// The kinds of step, by their action key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StepKind {
    FilterGroups,
    DownloadGroups,
    DownloadMembers,
    ImportMembers,
    RemoveMembers,
    SyncMembers,
    DeleteJobs,
    FilterDevices,
    DownloadDevices,
    DisableDevices,
    EnableDevices,
    DeleteDevices,
}

impl StepKind {
    /// Every kind, in the order the manifest language documents them.
    pub const ALL: [StepKind; 12] = [
        Self::FilterGroups,
        Self::DownloadGroups,
        Self::DownloadMembers,
        Self::ImportMembers,
        Self::RemoveMembers,
        Self::SyncMembers,
        Self::DeleteJobs,
        Self::FilterDevices,
        Self::DownloadDevices,
        Self::DisableDevices,
        Self::EnableDevices,
        Self::DeleteDevices,
    ];

    /// The action key that selects this kind in a manifest.
    pub fn key(self) -> &'static str {
        match self {
            Self::FilterGroups => "filterGroups",
            Self::DownloadGroups => "downloadGroups",
            Self::DownloadMembers => "downloadMembers",
            Self::ImportMembers => "importMembers",
            Self::RemoveMembers => "removeMembers",
            Self::SyncMembers => "syncMembers",
            Self::DeleteJobs => "deleteJobs",
            Self::FilterDevices => "filterDevices",
            Self::DownloadDevices => "downloadDevices",
            Self::DisableDevices => "disableDevices",
            Self::EnableDevices => "enableDevices",
            Self::DeleteDevices => "deleteDevices",
        }
    }

    /// The kind whose action key is `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl StepSpec {
    /// The kinds of the action keys this step sets; valid steps set exactly one.
    pub fn kinds(&self) -> Vec<StepKind> {
        let present = [
            self.filter_groups.is_some(),
            self.download_groups.is_some(),
            self.download_members.is_some(),
            self.import_members.is_some(),
            self.remove_members.is_some(),
            self.sync_members.is_some(),
            self.delete_jobs.is_some(),
            self.filter_devices.is_some(),
            self.download_devices.is_some(),
            self.disable_devices.is_some(),
            self.enable_devices.is_some(),
            self.delete_devices.is_some(),
        ];
        StepKind::ALL
            .into_iter()
            .zip(present)
            .filter_map(|(kind, present)| present.then_some(kind))
            .collect()
    }
}

/// Adds "exactly one action key" to the step schema.
fn exactly_one_action(schema: &mut Schema) {
    let branches: Vec<_> = StepKind::ALL
        .iter()
        .map(|kind| json!({ "required": [kind.key()] }))
        .collect();
    schema.insert("oneOf".to_owned(), branches.into());
}

/// Adds "exactly one of these keys" to an object schema.
fn exactly_one_of(schema: &mut Schema, keys: &[&str]) {
    let branches: Vec<_> = keys
        .iter()
        .map(|key| json!({ "required": [key] }))
        .collect();
    schema.insert("oneOf".to_owned(), branches.into());
}

/// Options of `downloadGroups`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownloadGroupsSpec {
    /// Which groups to list. Without it, every group in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupSetSpec>,
    /// The output file, as a template relative to the output root, for example
    /// `exports/{{run.date}}/groups.csv`.
    #[schemars(length(min = 1, max = 1024))]
    pub output: String,
    /// Columns to add after the admin center's (object id, display name, mail,
    /// group type, membership type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("uniqueItems" = true))]
    pub columns: Vec<GroupColumnSpec>,
    /// Whether to replace an existing file. Defaults to `false`: a numeric suffix is added instead.
    #[serde(default)]
    pub overwrite: bool,
}

/// Optional group properties for `downloadGroups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GroupColumnSpec {
    Description,
    MailNickname,
    MailEnabled,
    SecurityEnabled,
    MembershipRule,
    OnPremisesSyncEnabled,
    CreatedDateTime,
    Visibility,
    IsAssignableToRole,
}

/// Options of `downloadMembers`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownloadMembersSpec {
    /// Whose members to download.
    pub groups: GroupSetSpec,
    /// The output file, as a template relative to the output root. Unless
    /// `combined` is set it must tell groups apart, with `{{group.displayName}}` or `{{group.id}}`.
    #[schemars(length(min = 1, max = 1024))]
    pub output: String,
    /// Write one file for all groups, with the group's id and name in the first
    /// columns, instead of one file per group. Defaults to `false`.
    #[serde(default)]
    pub combined: bool,
    /// Include members of nested groups (transitive membership). Defaults to `false`.
    #[serde(default)]
    pub transitive: bool,
    /// Only members of these types. Without it, every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_types: Option<OneOrMany<MemberTypeSpec>>,
    /// Columns to add after object id, user principal name, display name and member type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("uniqueItems" = true))]
    pub columns: Vec<MemberColumnSpec>,
    /// Whether to replace existing files. Defaults to `false`: a numeric suffix is added instead.
    #[serde(default)]
    pub overwrite: bool,
}

/// The kinds of directory object that can be group members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MemberTypeSpec {
    User,
    Group,
    Device,
    ServicePrincipal,
    OrgContact,
}

/// Optional member properties for `downloadMembers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MemberColumnSpec {
    Mail,
    UserType,
    AccountEnabled,
    Department,
    JobTitle,
}

/// Options of `importMembers` and `removeMembers`: which groups, and the CSV of members.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = one_group_or_groups)]
pub struct MemberListSpec {
    /// The one group to change. Without `group` or `groups`, each row of the
    /// list names its group in a group column (`groupId`, `groupDisplayName`,
    /// `groupMailNickname`, or `group`), and each group gets its own job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupTargetSpec>,
    /// The groups to change, each with the same members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupSetSpec>,
    /// The CSV of members, as a template, for example `{{trigger.file}}`. Accepts the
    /// admin center's template (`memberObjectIdOrUpn`), an `ObjectId` or `id`
    /// column, a list without header, or a bulkops members download; object ids or UPNs.
    #[schemars(length(min = 1, max = 1024))]
    pub input: String,
    /// Where to write the per-row result file, as a template relative to the
    /// output root. Defaults to `results/{{run.id}}/{{step.id}}-{{group.displayName}}.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub results: Option<String>,
    /// Whether the result file may replace an existing file (never the input).
    /// Defaults to `false`: a numeric suffix is added instead.
    #[serde(default)]
    pub overwrite: bool,
}

/// Options of `syncMembers`: which groups, the list they must match, and how.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = sync_shape)]
pub struct SyncMembersSpec {
    /// The one group to make match the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupTargetSpec>,
    /// The groups to make match the list, each the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupSetSpec>,
    /// The CSV of the members the groups must have, as a template; any shape
    /// `importMembers` accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub input: Option<String>,
    /// The members the groups must have, by object id or user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000), inner(length(min = 1, max = 1024)))]
    pub members: Option<Vec<String>>,
    /// `additive` adds who is missing and removes nobody; `removeOnly` removes
    /// who is not on the list and adds nobody; `authoritative` does both.
    /// Required: no default removes anyone.
    pub mode: SyncModeSpec,
    /// Where to write the per-row result file, as a template relative to the
    /// output root. Defaults to `results/{{run.id}}/{{step.id}}-{{group.displayName}}.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub results: Option<String>,
    /// Whether the result file may replace an existing file (never the input).
    #[serde(default)]
    pub overwrite: bool,
}

/// How `syncMembers` makes a group match its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SyncModeSpec {
    /// Add who is on the list and not in the group; remove nobody.
    Additive,
    /// Remove who is in the group and not on the list; add nobody.
    RemoveOnly,
    /// Add who is missing and remove who is not on the list.
    Authoritative,
}

impl SyncModeSpec {
    /// Whether the mode adds members.
    pub fn adds(self) -> bool {
        matches!(self, Self::Additive | Self::Authoritative)
    }

    /// Whether the mode removes members.
    pub fn removes(self) -> bool {
        matches!(self, Self::RemoveOnly | Self::Authoritative)
    }
}

fn sync_shape(schema: &mut Schema) {
    exactly_one_of(schema, &["group", "groups"]);
    let groups = schema.remove("oneOf");
    exactly_one_of(schema, &["input", "members"]);
    let lists = schema.remove("oneOf");
    if let (Some(groups), Some(lists)) = (groups, lists) {
        schema.insert(
            "allOf".to_owned(),
            json!([{ "oneOf": groups }, { "oneOf": lists }]),
        );
    }
}

/// `group` or `groups`, or neither: then the list's rows name their groups.
fn one_group_or_groups(schema: &mut Schema) {
    schema.insert("not".to_owned(), json!({ "required": ["group", "groups"] }));
}

/// Options of `deleteJobs`. At least one criterion is required, and all must hold.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = at_least_one_criterion)]
pub struct DeleteJobsSpec {
    /// Only these jobs, by job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000))]
    pub ids: Option<Vec<String>>,
    /// Only jobs whose name (`WORKFLOW/STEP`) matches this glob, for example `offboarding/*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// Only jobs of this workflow, by `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub workflow: Option<String>,
    /// Only jobs with one of these statuses. Running jobs are never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OneOrMany<JobStatusSpec>>,
    /// Only jobs that finished longer ago than this, for example `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<DurationSpec>,
    /// Keep the files the jobs wrote (downloads, result files) and delete only
    /// the job records. Defaults to `false`: the files a job wrote are deleted
    /// with it, if they are still as it wrote them.
    #[serde(default)]
    pub keep_files: bool,
}

fn at_least_one_criterion(schema: &mut Schema) {
    let branches: Vec<_> = ["ids", "name", "workflow", "status", "olderThan"]
        .iter()
        .map(|key| json!({ "required": [key] }))
        .collect();
    schema.insert("anyOf".to_owned(), branches.into());
}

/// Finished job statuses that `deleteJobs` can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobStatusSpec {
    Completed,
    Failed,
    Cancelled,
}

/// Options of `downloadDevices`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownloadDevicesSpec {
    /// Which devices to list. Without it, every device in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DeviceSetSpec>,
    /// The output file, as a template relative to the output root.
    #[schemars(length(min = 1, max = 1024))]
    pub output: String,
    /// Whether to replace an existing file. Defaults to `false`: a numeric suffix is added instead.
    #[serde(default)]
    pub overwrite: bool,
}

/// Options of `disableDevices` and `enableDevices`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = devices_or_input)]
pub struct DeviceChangeSpec {
    /// The devices to change: a `filterDevices` step id or a list of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DeviceSetSpec>,
    /// A CSV of device object ids or device ids, as a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub input: Option<String>,
    /// Where to write the per-row result file, as a template relative to the
    /// output root. Defaults to `results/{{run.id}}/{{step.id}}.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub results: Option<String>,
    /// Whether the result file may replace an existing file (never the input).
    /// Defaults to `false`: a numeric suffix is added instead.
    #[serde(default)]
    pub overwrite: bool,
}

/// Options of `deleteDevices`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = devices_or_input)]
pub struct DeleteDevicesSpec {
    /// The devices to delete: a `filterDevices` step id or a list of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DeviceSetSpec>,
    /// A CSV of device object ids or device ids, as a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub input: Option<String>,
    /// Where to write the per-row result file, as a template relative to the output root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub results: Option<String>,
    /// Whether the result file may replace an existing file (never the input).
    /// Defaults to `false`: a numeric suffix is added instead.
    #[serde(default)]
    pub overwrite: bool,
    /// Refuse to delete a device that is still enabled. Defaults to `true`, so that
    /// devices are disabled first and deleted after a grace period, as Microsoft advises.
    #[serde(default = "default_require_disabled")]
    pub require_disabled: bool,
}

fn default_require_disabled() -> bool {
    true
}

fn devices_or_input(schema: &mut Schema) {
    exactly_one_of(schema, &["devices", "input"]);
}
