//! Filter criteria for `filterGroups` and `filterDevices`: the properties the Entra
//! admin center and Microsoft Graph let administrators select groups and devices by.
//!
//! All criteria of one filter must hold (they are joined by "and"); a list of
//! values within one criterion matches any of them. Text comparisons ignore case,
//! as Microsoft Graph does for `displayName`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::duration::DurationSpec;
use super::target::{OBJECT_ID_PATTERN, OneOrMany};

/// Selects groups. An empty filter (`filterGroups: {}`) selects every group.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterGroupsSpec {
    /// Match on the group's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<TextMatchSpec>,
    /// Match on the group's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<TextMatchSpec>,
    /// Match on the group's primary SMTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<TextMatchSpec>,
    /// Match on the group's mail nickname (alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<TextMatchSpec>,
    /// The group type, as the admin center shows it.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub group_type: Option<OneOrMany<GroupTypeSpec>>,
    /// Whether members are assigned or computed from a rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipSpec>,
    /// Only groups with (`true`) or without (`false`) mail enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
    /// Only security-enabled (`true`) or non-security (`false`) groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    /// Only groups synchronised from on-premises Active Directory (`true`) or
    /// cloud-only groups (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_synced: Option<bool>,
    /// Only groups that can (`true`) or cannot (`false`) be assigned to Entra roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignable_to_role: Option<bool>,
    /// The group's visibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<OneOrMany<VisibilitySpec>>,
    /// When the group was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<TimeWindowSpec>,
    /// Only these groups, by object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000), inner(regex(pattern = OBJECT_ID_PATTERN)))]
    pub ids: Option<Vec<String>>,
}

/// Selects devices. An empty filter (`filterDevices: {}`) selects every device.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterDevicesSpec {
    /// Match on the device's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<TextMatchSpec>,
    /// The operating system as the directory records it, for example `Windows`,
    /// `iOS`, `AndroidForWork`, `MacMDM` or `Linux`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<OneOrMany<String>>,
    /// Match on the operating system version, for example `startsWith: "10.0.19"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_version: Option<TextMatchSpec>,
    /// How the device is joined to the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_type: Option<OneOrMany<TrustTypeSpec>>,
    /// Only enabled (`true`) or disabled (`false`) devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Only devices that Intune reports compliant (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliant: Option<bool>,
    /// Only devices managed by an MDM (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// When the device last signed in (`approximateLastSignInDateTime`), for
    /// example `olderThan: 90d` for stale devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in: Option<TimeWindowSpec>,
    /// When the device was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<TimeWindowSpec>,
    /// Only these devices, by object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000), inner(regex(pattern = OBJECT_ID_PATTERN)))]
    pub ids: Option<Vec<String>>,
    /// Only these devices, by the device id from device registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000), inner(regex(pattern = OBJECT_ID_PATTERN)))]
    pub device_ids: Option<Vec<String>>,
}

/// Compares a text property, ignoring case. Several comparisons must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct TextMatchSpec {
    /// The whole value equals this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub equals: Option<String>,
    /// The value starts with this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub starts_with: Option<String>,
    /// The value ends with this text (evaluated by bulkops, not by the directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub ends_with: Option<String>,
    /// The value contains this text (evaluated by bulkops, not by the directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub contains: Option<String>,
    /// The whole value equals one of these texts.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000), inner(length(min = 1, max = 256)))]
    pub any_of: Option<Vec<String>>,
}

/// A window of time, absolute (`before`, `after`) or relative to the run
/// (`olderThan`, `newerThan`). Several bounds must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct TimeWindowSpec {
    /// Strictly before this date (`2026-01-31`) or UTC time (`2026-01-31T08:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<DateSpec>,
    /// At or after this date (`2026-01-31`) or UTC time (`2026-01-31T08:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<DateSpec>,
    /// More than this long before the run started, for example `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<DurationSpec>,
    /// Less than this long before the run started, for example `7d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_than: Option<DurationSpec>,
}

/// A group type as the Entra admin center names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GroupTypeSpec {
    /// A security group that is not mail-enabled.
    Security,
    /// A Microsoft 365 group (`groupTypes` contains `Unified`).
    Microsoft365,
    /// A mail-enabled security group.
    MailEnabledSecurity,
    /// A distribution list: mail-enabled, not security-enabled.
    Distribution,
}

/// How a group's members are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MembershipSpec {
    /// Members are added and removed explicitly.
    Assigned,
    /// Members are computed from a membership rule.
    Dynamic,
}

/// Who can see a group and its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VisibilitySpec {
    /// Anyone in the organisation can see the group.
    Public,
    /// Only members and owners can see the group's content.
    Private,
    /// Only members can see the membership of a Microsoft 365 group.
    HiddenMembership,
}

/// How a device is joined to the directory (its `trustType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TrustTypeSpec {
    /// Microsoft Entra joined (`AzureAd`).
    Joined,
    /// Microsoft Entra hybrid joined (`ServerAd`).
    HybridJoined,
    /// Microsoft Entra registered, personal or BYOD (`Workplace`).
    Registered,
}

/// A calendar date or a UTC time, checked for a real day of a real month.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateSpec(String);

/// The shape of a date or UTC time; days per month are checked on top of it.
pub const DATE_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?Z)?$";

impl DateSpec {
    /// Reads `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]Z`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "`{text}` is not a date; write `YYYY-MM-DD` or a UTC time `YYYY-MM-DDTHH:MM:SSZ`"
            )
        };
        let (date, time) = match text.split_once('T') {
            Some((date, time)) => (date, Some(time)),
            None => (text, None),
        };
        let fields = split_numbers(date, '-', &[4, 2, 2]).ok_or_else(invalid)?;
        let (year, month, day) = (fields[0], fields[1], fields[2]);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(format!("`{text}` is not a real day of the calendar"));
        }
        if let Some(time) = time {
            let clock = time.strip_suffix('Z').ok_or_else(invalid)?;
            let fields = split_numbers(clock, ':', &[2, 2, 2])
                .or_else(|| split_numbers(clock, ':', &[2, 2]))
                .ok_or_else(invalid)?;
            if fields[0] > 23 || fields[1] > 59 || fields.get(2).is_some_and(|s| *s > 59) {
                return Err(format!("`{text}` is not a real time of day"));
            }
        }
        Ok(Self(text.to_owned()))
    }

    /// The date as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn split_numbers(text: &str, separator: char, widths: &[usize]) -> Option<Vec<u32>> {
    let parts: Vec<&str> = text.split(separator).collect();
    if parts.len() != widths.len() {
        return None;
    }
    parts
        .iter()
        .zip(widths)
        .map(|(part, width)| {
            (part.len() == *width && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        })
        .collect()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Serialize for DateSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DateSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(DateVisitor)
    }
}

struct DateVisitor;

impl Visitor<'_> for DateVisitor {
    type Value = DateSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date `YYYY-MM-DD` or a UTC time `YYYY-MM-DDTHH:MM:SSZ`")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        DateSpec::parse(text).map_err(E::custom)
    }
}

impl JsonSchema for DateSpec {
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DATE_PATTERN,
            "description": "A date `YYYY-MM-DD` or a UTC time `YYYY-MM-DDTHH:MM:SSZ`.",
            "examples": ["2026-01-31", "2026-01-31T08:00:00Z"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_dates_and_times() {
        for text in [
            "2026-01-31",
            "2024-02-29",
            "2026-11-27T08:30:00Z",
            "2026-11-27T23:59Z",
        ] {
            assert!(DateSpec::parse(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_impossible_or_malformed_dates() {
        for text in [
            "2026-02-29",
            "2026-13-01",
            "2026-04-31",
            "2026-1-1",
            "26-01-01",
            "2026-01-01T24:00:00Z",
            "2026-01-01T08:00:00",
            "2026-01-01T08:00:00+01:00",
            "yesterday",
        ] {
            assert!(DateSpec::parse(text).is_err(), "{text}");
        }
    }
}
