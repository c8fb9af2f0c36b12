//! What happened to one row of a membership change, as the result file and the
//! job counts report it.
//!
//! "Already a member" on add and "not a member" on remove are successes that
//! change nothing: running the same list twice must not fail. Rows that name
//! nobody, name somebody in a malformed way, or ask for something the group
//! cannot take fail the row, and only the row.

use serde::Serialize;

/// The outcome of one member row.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum RowOutcome {
    /// Added to the group.
    Added,
    /// Was a member already; nothing changed.
    AlreadyMember,
    /// Removed from the group.
    Removed,
    /// Was not a member; nothing changed.
    NotMember,
    /// The same member appears on an earlier row; processed there.
    Duplicate,
    /// No object with this id or user principal name exists.
    NotFound,
    /// The value is neither an object id nor a user principal name.
    InvalidId,
    /// The group cannot have members of this type (for example a device in a
    /// Microsoft 365 group).
    UnsupportedMemberType,
    /// The group's members come from a rule and cannot be changed by hand.
    DynamicMembership,
    /// The device was disabled.
    Disabled,
    /// The device was disabled already; nothing changed.
    AlreadyDisabled,
    /// The device was enabled.
    Enabled,
    /// The device was enabled already; nothing changed.
    AlreadyEnabled,
    /// The device was deleted.
    Deleted,
    /// The device is still enabled, and the step deletes only disabled devices.
    StillEnabled,
}

impl RowOutcome {
    /// Every outcome, in report order.
    /// Journals store outcomes by their position here, so new ones go at the end.
    pub const ALL: [RowOutcome; 15] = [
        Self::Added,
        Self::AlreadyMember,
        Self::Removed,
        Self::NotMember,
        Self::Duplicate,
        Self::NotFound,
        Self::InvalidId,
        Self::UnsupportedMemberType,
        Self::DynamicMembership,
        Self::Disabled,
        Self::AlreadyDisabled,
        Self::Enabled,
        Self::AlreadyEnabled,
        Self::Deleted,
        Self::StillEnabled,
    ];

    /// The word written in result files and job records.
    pub fn key(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::AlreadyMember => "alreadyMember",
            Self::Removed => "removed",
            Self::NotMember => "notMember",
            Self::Duplicate => "duplicate",
            Self::NotFound => "notFound",
            Self::InvalidId => "invalidId",
            Self::UnsupportedMemberType => "unsupportedMemberType",
            Self::DynamicMembership => "dynamicMembership",
            Self::Disabled => "disabled",
            Self::AlreadyDisabled => "alreadyDisabled",
            Self::Enabled => "enabled",
            Self::AlreadyEnabled => "alreadyEnabled",
            Self::Deleted => "deleted",
            Self::StillEnabled => "stillEnabled",
        }
    }

    /// The outcome whose key is `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|outcome| outcome.key() == key)
    }

    /// Whether the row succeeded (with or without a change).
    pub fn is_success(self) -> bool {
        !matches!(
            self,
            Self::NotFound
                | Self::InvalidId
                | Self::UnsupportedMemberType
                | Self::DynamicMembership
                | Self::StillEnabled
        )
    }

    /// Whether the row changed the directory.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Self::Added | Self::Removed | Self::Disabled | Self::Enabled | Self::Deleted
        )
    }

    /// A sentence for the result file's `error` column of a failed row.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Added
            | Self::AlreadyMember
            | Self::Removed
            | Self::NotMember
            | Self::Duplicate
            | Self::Disabled
            | Self::AlreadyDisabled
            | Self::Enabled
            | Self::AlreadyEnabled
            | Self::Deleted => "",
            Self::StillEnabled => {
                "the device is still enabled; disable it first, or set `requireDisabled: false`"
            }
            Self::NotFound => {
                "no user, group, device or service principal has this object id or user principal name"
            }
            Self::InvalidId => "the value is neither an object id nor a user principal name",
            Self::UnsupportedMemberType => "this group cannot have members of this type",
            Self::DynamicMembership => {
                "the group's members come from a membership rule and cannot be changed by hand"
            }
        }
    }
}
