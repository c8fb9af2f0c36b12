//! The directory objects bulkops works with, with the Microsoft Graph v1.0
//! property names they come from, and how the admin center classifies them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A group, with the properties that filters, downloads and writes use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub mail_nickname: String,
    pub security_enabled: bool,
    /// `Unified` for Microsoft 365 groups, `DynamicMembership` for rule-based ones.
    pub group_types: Vec<String>,
    pub membership_rule: Option<String>,
    /// `true` synchronised from on-premises, `false` once was, `None` never.
    pub on_premises_sync_enabled: Option<bool>,
    pub created_date_time: Timestamp,
    pub visibility: Option<String>,
    pub is_assignable_to_role: Option<bool>,
}

/// A group's type as the Entra admin center names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    Security,
    Microsoft365,
    MailEnabledSecurity,
    Distribution,
}

impl Group {
    /// Whether this is a Microsoft 365 group.
    pub fn is_unified(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("Unified"))
    }

    /// Whether members come from a membership rule.
    pub fn is_dynamic(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    }

    /// The admin center's classification of the group.
    pub fn kind(&self) -> GroupKind {
        match (self.is_unified(), self.mail_enabled, self.security_enabled) {
            (true, _, _) => GroupKind::Microsoft365,
            (false, true, true) => GroupKind::MailEnabledSecurity,
            (false, true, false) => GroupKind::Distribution,
            (false, false, _) => GroupKind::Security,
        }
    }

    /// Whether Microsoft Graph lets bulkops change this group's members: mail-enabled
    /// security groups and distribution lists are managed in Exchange.
    pub fn is_manageable(&self) -> bool {
        matches!(self.kind(), GroupKind::Security | GroupKind::Microsoft365)
    }

    /// Whether this group can have the member, as Entra decides: Microsoft
    /// 365 groups take users only; role-assignable groups take no groups
    /// (nesting would give the nested group's members the roles); a
    /// Microsoft 365 group cannot be a member of any group; and no group can
    /// contain itself.
    pub fn accepts(&self, member: &crate::directory::local::ResolvedMember) -> bool {
        let nested_group = member.member_type == MemberType::Group;
        member.id != self.id
            && (!self.is_unified() || member.member_type == MemberType::User)
            && !(nested_group && self.is_assignable_to_role == Some(true))
            && !(nested_group && member.unified_group)
    }

    /// "Microsoft 365" or "Security", as the admin center's download writes it.
    pub fn group_type_label(&self) -> &'static str {
        if self.is_unified() {
            "Microsoft 365"
        } else {
            "Security"
        }
    }

    /// "Dynamic" or "Assigned", as the admin center's download writes it.
    pub fn membership_type_label(&self) -> &'static str {
        if self.is_dynamic() {
            "Dynamic"
        } else {
            "Assigned"
        }
    }
}

/// A user, as far as membership work needs one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub mail: Option<String>,
    /// `Member` or `Guest`.
    pub user_type: String,
    pub account_enabled: bool,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub created_date_time: Timestamp,
}

/// An application's service principal in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub display_name: String,
    pub app_id: String,
}

/// A device registered in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: String,
    pub device_id: String,
    pub display_name: String,
    pub operating_system: Option<String>,
    pub operating_system_version: Option<String>,
    /// `AzureAd` (joined), `ServerAd` (hybrid joined) or `Workplace` (registered).
    pub trust_type: Option<String>,
    pub account_enabled: bool,
    pub is_compliant: Option<bool>,
    pub is_managed: Option<bool>,
    pub approximate_last_sign_in_date_time: Option<Timestamp>,
    pub registration_date_time: Option<Timestamp>,
    pub profile_type: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
}

/// The kinds of object that can be group members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberType {
    User,
    Group,
    Device,
    ServicePrincipal,
    OrgContact,
}

impl MemberType {
    /// Every member type.
    pub const ALL: [MemberType; 5] = [
        Self::User,
        Self::Group,
        Self::Device,
        Self::ServicePrincipal,
        Self::OrgContact,
    ];

    /// The name stored and written in files: `user`, `servicePrincipal`, ...
    pub fn key(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Device => "device",
            Self::ServicePrincipal => "servicePrincipal",
            Self::OrgContact => "orgContact",
        }
    }

    /// The member type whose key is `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }

    /// The admin center's label: "User", "Group", "Service Principal", ...
    pub fn label(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
            Self::Device => "Device",
            Self::ServicePrincipal => "Service Principal",
            Self::OrgContact => "Contact",
        }
    }

    /// The `@odata.type` Microsoft Graph gives objects of this type.
    pub fn odata_type(self) -> &'static str {
        match self {
            Self::User => "#microsoft.graph.user",
            Self::Group => "#microsoft.graph.group",
            Self::Device => "#microsoft.graph.device",
            Self::ServicePrincipal => "#microsoft.graph.servicePrincipal",
            Self::OrgContact => "#microsoft.graph.orgContact",
        }
    }
}

/// A group member, with what downloads show of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub member_type: MemberType,
    pub display_name: String,
    /// Users only.
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub user_type: Option<String>,
    pub account_enabled: Option<bool>,
    pub department: Option<String>,
    pub job_title: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(types: &[&str], mail: bool, security: bool) -> Group {
        Group {
            id: "00000000-0000-4000-8000-000000000001".into(),
            display_name: "g".into(),
            description: None,
            mail: None,
            mail_enabled: mail,
            mail_nickname: "g".into(),
            security_enabled: security,
            group_types: types.iter().map(|t| (*t).to_owned()).collect(),
            membership_rule: None,
            on_premises_sync_enabled: None,
            created_date_time: Timestamp::UNIX_EPOCH,
            visibility: None,
            is_assignable_to_role: None,
        }
    }

    #[test]
    fn classifies_groups_as_the_admin_center_does() {
        assert_eq!(group(&[], false, true).kind(), GroupKind::Security);
        assert_eq!(
            group(&["Unified"], true, false).kind(),
            GroupKind::Microsoft365
        );
        assert_eq!(
            group(&[], true, true).kind(),
            GroupKind::MailEnabledSecurity
        );
        assert_eq!(group(&[], true, false).kind(), GroupKind::Distribution);
        let dynamic = group(&["Unified", "DynamicMembership"], true, false);
        assert_eq!(
            (dynamic.group_type_label(), dynamic.membership_type_label()),
            ("Microsoft 365", "Dynamic")
        );
    }
}
