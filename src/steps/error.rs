//! Why a step could not do its work: one error type for every step kind,
//! each variant with the cause and what to do.

use std::path::PathBuf;

use super::guard::GuardRefusal;
use crate::bulkcsv::members::MemberListError;
use crate::bulkcsv::output::OutputError;
use crate::directory::DirectoryError;
use crate::store::StoreError;
use crate::template::RenderError;

/// Why a step could not do its work.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StepError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Input(#[from] MemberListError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(#[from] RenderError),
    #[error("`{}`, line {line}: no group has the {target} (column `{column}`)", path.display())]
    #[diagnostic(
        code(bulkops::step::no_listed_group),
        help(
            "nothing was changed; check the name in the admin center, or name the group by its object id (column `groupId`)"
        )
    )]
    NoListedGroup {
        path: PathBuf,
        line: u64,
        column: String,
        target: String,
    },
    #[error("`{}`, line {line}: {count} groups have the {target} (column `{column}`)", path.display())]
    #[diagnostic(
        code(bulkops::step::ambiguous_listed_group),
        help(
            "nothing was changed; name the group by its object id (column `groupId`) to choose one"
        )
    )]
    AmbiguousListedGroup {
        path: PathBuf,
        line: u64,
        column: String,
        target: String,
        count: usize,
    },
    #[error("`{}`, line {line}: the list names more than {limit} groups", path.display())]
    #[diagnostic(
        code(bulkops::step::too_many_listed_groups),
        help("split the list into several files, each for fewer groups")
    )]
    TooManyListedGroups {
        path: PathBuf,
        line: u64,
        limit: usize,
    },
    #[error("step `{step}` names no group, and `{}` has no group column", path.display())]
    #[diagnostic(
        code(bulkops::step::no_group_column),
        help(
            "name the group in the step (`group:` or `groups:`), or give the list a group column: `groupId`, `groupDisplayName`, `groupMailNickname` or `group`, beside the member column"
        )
    )]
    NoGroupColumn { step: String, path: PathBuf },
    #[error(
        "step `{step}` started job `{job}` on `{target}` ({target_id}), which the step no longer names"
    )]
    #[diagnostic(
        code(bulkops::step::target_moved),
        help(
            "a name in the manifest or list now names another object; put the name back to resume, or start a new run with `bulkops apply` (the interrupted job stays in `bulkops jobs list`)"
        )
    )]
    TargetMoved {
        step: String,
        job: String,
        target: String,
        target_id: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Guard(#[from] GuardRefusal),
    #[error("no group has the {target}")]
    #[diagnostic(
        code(bulkops::step::no_group),
        help("check the name in the admin center, or name the group by its object id")
    )]
    NoGroup { target: String },
    #[error("{count} groups have the {target}")]
    #[diagnostic(
        code(bulkops::step::ambiguous_group),
        help("name the group by its object id (`group: {{ id: ... }}`) to choose one")
    )]
    AmbiguousGroup { target: String, count: usize },
    #[error("no device has the {target}")]
    #[diagnostic(
        code(bulkops::step::no_device),
        help("check the name in the admin center, or name the device by its object id")
    )]
    NoDevice { target: String },
    #[error("{count} devices have the {target}")]
    #[diagnostic(
        code(bulkops::step::ambiguous_device),
        help("name the device by its object id (`{{ id: ... }}`) to choose one")
    )]
    AmbiguousDevice { target: String, count: usize },
    #[error("the step did not finish within {limit}")]
    #[diagnostic(
        code(bulkops::step::timeout),
        help("raise the step's `timeout`, or split its work")
    )]
    TimedOut { limit: String },
    #[error("writing `{}` failed", path.display())]
    #[diagnostic(
        code(bulkops::step::write),
        help("check the cause above: the disk may be full, or the folder not writable")
    )]
    Write {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error(
        "the journal does not match the input: chunk {chunk} journaled {journaled} rows, the input has {read} there"
    )]
    #[diagnostic(
        code(bulkops::step::journal_mismatch),
        help("the run cannot continue from this input; start a new run with `bulkops apply`")
    )]
    JournalMismatch {
        chunk: u64,
        journaled: usize,
        read: usize,
    },
    #[error(
        "the members this sync job removes, recorded before its first change, cannot be read: {reason}"
    )]
    #[diagnostic(
        code(bulkops::step::recorded_removals),
        help("the job store was changed by hand; start a new run with `bulkops apply`")
    )]
    RecordedRemovals { reason: String },
    #[error("the list of {list} is empty")]
    #[diagnostic(
        code(bulkops::step::empty_sync_list),
        help(
            "a sync makes groups match its list, and an empty list would remove everyone; bulkops never does that. Check the file, or remove members with `removeMembers`"
        )
    )]
    EmptySyncList { list: String },
    #[error(
        "{} of the list {} nobody in the directory ({first}), so `{group}` is not synced", crate::text::counted(*count as u64, "row", "rows"), if *count == 1 { "names" } else { "name" }
    )]
    #[diagnostic(
        code(bulkops::step::sync_list_unresolved),
        help(
            "a removing sync removes everyone the list does not name, so a mistyped row would remove the person it meant to keep; fix those rows, or use `mode: additive`"
        )
    )]
    SyncListUnresolved {
        group: String,
        count: usize,
        first: String,
    },
    #[error("{what} is not in the saved plan this run applies")]
    #[diagnostic(
        code(bulkops::step::not_planned),
        help(
            "the directory changed since the plan was made; run `bulkops plan --out` again and review the new plan"
        )
    )]
    NotPlanned { what: String },
    #[error("{what}, planned {planned}, is no longer in the directory")]
    #[diagnostic(
        code(bulkops::step::planned_object_gone),
        help(
            "the directory changed since the plan was made; run `bulkops plan --out` again and review the new plan"
        )
    )]
    PlannedObjectGone { what: &'static str, planned: String },
    #[error("{target} no longer matches the saved plan: {difference}")]
    #[diagnostic(
        code(bulkops::step::plan_differs),
        help(
            "the directory changed while the run went on; nothing of this chunk was changed. Run `bulkops plan --out` again and review the new plan"
        )
    )]
    PlanDiffers { target: String, difference: String },
    #[error("`{}` changed since this run read it (SHA-256 {recorded}, now {now})", path.display())]
    #[diagnostic(
        code(bulkops::step::input_changed),
        help(
            "a run continues only from the inputs it was planned from; put the original file back to resume, or start a new run with `bulkops apply`"
        )
    )]
    InputChanged {
        path: PathBuf,
        recorded: String,
        now: String,
    },
}
