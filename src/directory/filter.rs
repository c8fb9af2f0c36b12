//! Filter evaluation: whether a group or device meets a `filterGroups` or
//! `filterDevices` step's criteria.
//!
//! The local directory evaluates every criterion here; Microsoft Graph
//! evaluates what its `$filter` supports and this module the rest, so both
//! directories select exactly the same objects. Relative windows (`olderThan:
//! 90d`) are measured from the run's start time, passed in as `now`.

use jiff::{SignedDuration, Timestamp};

use super::model::{Device, Group, GroupKind};
use crate::manifest::duration::DurationSpec;
use crate::manifest::filter::{
    DateSpec, FilterDevicesSpec, FilterGroupsSpec, GroupTypeSpec, MembershipSpec, TextMatchSpec,
    TimeWindowSpec, TrustTypeSpec, VisibilitySpec,
};
use crate::manifest::target::OneOrMany;

/// Whether `group` meets every criterion of `spec`.
pub fn group_matches(spec: &FilterGroupsSpec, group: &Group, now: Timestamp) -> bool {
    text(spec.display_name.as_ref(), Some(&group.display_name))
        && text(spec.description.as_ref(), group.description.as_deref())
        && text(spec.mail.as_ref(), group.mail.as_deref())
        && text(spec.mail_nickname.as_ref(), Some(&group.mail_nickname))
        && any(spec.group_type.as_ref().map(OneOrMany::values), |kind| {
            group_kind(*kind) == group.kind()
        })
        && spec
            .membership
            .is_none_or(|m| (m == MembershipSpec::Dynamic) == group.is_dynamic())
        && flag(spec.mail_enabled, group.mail_enabled)
        && flag(spec.security_enabled, group.security_enabled)
        && flag(
            spec.on_premises_synced,
            group.on_premises_sync_enabled == Some(true),
        )
        && flag(
            spec.assignable_to_role,
            group.is_assignable_to_role == Some(true),
        )
        && any(spec.visibility.as_ref().map(OneOrMany::values), |v| {
            group
                .visibility
                .as_deref()
                .is_some_and(|actual| actual.eq_ignore_ascii_case(visibility_name(*v)))
        })
        && window(spec.created.as_ref(), Some(group.created_date_time), now)
        && ids(spec.ids.as_deref(), &group.id)
}

/// Whether `device` meets every criterion of `spec`. A device that never
/// signed in counts as older than any date, so stale-device filters find it.
pub fn device_matches(spec: &FilterDevicesSpec, device: &Device, now: Timestamp) -> bool {
    text(spec.display_name.as_ref(), Some(&device.display_name))
        && any(
            spec.operating_system.as_ref().map(OneOrMany::values),
            |os| {
                device
                    .operating_system
                    .as_deref()
                    .is_some_and(|actual| actual.eq_ignore_ascii_case(os))
            },
        )
        && text(
            spec.operating_system_version.as_ref(),
            device.operating_system_version.as_deref(),
        )
        && any(spec.trust_type.as_ref().map(OneOrMany::values), |t| {
            device
                .trust_type
                .as_deref()
                .is_some_and(|actual| actual.eq_ignore_ascii_case(trust_type_name(*t)))
        })
        && flag(spec.enabled, device.account_enabled)
        && flag(spec.compliant, device.is_compliant == Some(true))
        && flag(spec.managed, device.is_managed == Some(true))
        && window(
            spec.last_sign_in.as_ref(),
            device.approximate_last_sign_in_date_time,
            now,
        )
        && window(spec.registered.as_ref(), device.registration_date_time, now)
        && ids(spec.ids.as_deref(), &device.id)
        && ids(spec.device_ids.as_deref(), &device.device_id)
}

/// The Graph `trustType` value of a manifest trust type.
pub fn trust_type_name(trust: TrustTypeSpec) -> &'static str {
    match trust {
        TrustTypeSpec::Joined => "AzureAd",
        TrustTypeSpec::HybridJoined => "ServerAd",
        TrustTypeSpec::Registered => "Workplace",
    }
}

/// The Graph `visibility` value of a manifest visibility.
pub fn visibility_name(visibility: VisibilitySpec) -> &'static str {
    match visibility {
        VisibilitySpec::Public => "Public",
        VisibilitySpec::Private => "Private",
        VisibilitySpec::HiddenMembership => "HiddenMembership",
    }
}

fn group_kind(kind: GroupTypeSpec) -> GroupKind {
    match kind {
        GroupTypeSpec::Security => GroupKind::Security,
        GroupTypeSpec::Microsoft365 => GroupKind::Microsoft365,
        GroupTypeSpec::MailEnabledSecurity => GroupKind::MailEnabledSecurity,
        GroupTypeSpec::Distribution => GroupKind::Distribution,
    }
}

fn flag(wanted: Option<bool>, actual: bool) -> bool {
    wanted.is_none_or(|wanted| wanted == actual)
}

fn any<T>(wanted: Option<&[T]>, accepts: impl Fn(&T) -> bool) -> bool {
    wanted.is_none_or(|values| values.iter().any(accepts))
}

fn ids(wanted: Option<&[String]>, actual: &str) -> bool {
    any(wanted, |id| id.eq_ignore_ascii_case(actual))
}

/// Every comparison given must hold; text is compared without regard to case.
fn text(spec: Option<&TextMatchSpec>, value: Option<&str>) -> bool {
    let Some(spec) = spec else { return true };
    let Some(value) = value else { return false };
    let value = value.to_lowercase();
    let lower = |text: &String| text.to_lowercase();
    spec.equals.as_ref().is_none_or(|x| value == lower(x))
        && spec
            .starts_with
            .as_ref()
            .is_none_or(|x| value.starts_with(&lower(x)))
        && spec
            .ends_with
            .as_ref()
            .is_none_or(|x| value.ends_with(&lower(x)))
        && spec
            .contains
            .as_ref()
            .is_none_or(|x| value.contains(&lower(x)))
        && spec
            .any_of
            .as_ref()
            .is_none_or(|all| all.iter().any(|x| value == lower(x)))
}

/// Every bound given must hold. A missing time is older than every bound.
fn window(spec: Option<&TimeWindowSpec>, value: Option<Timestamp>, now: Timestamp) -> bool {
    let Some(spec) = spec else { return true };
    let ago = |duration: DurationSpec| now - signed(duration);
    match value {
        None => spec.after.is_none() && spec.newer_than.is_none(),
        Some(time) => {
            spec.before.as_ref().is_none_or(|d| time < timestamp(d))
                && spec.after.as_ref().is_none_or(|d| time >= timestamp(d))
                && spec.older_than.is_none_or(|d| time < ago(d))
                && spec.newer_than.is_none_or(|d| time > ago(d))
        }
    }
}

fn signed(duration: DurationSpec) -> SignedDuration {
    SignedDuration::try_from(duration.as_duration()).unwrap_or(SignedDuration::MAX)
}

/// The instant a manifest date stands for: midnight UTC for a plain date.
pub fn timestamp(date: &DateSpec) -> Timestamp {
    let text = date.as_str();
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        17 => format!("{}:00Z", &text[..16]),
        _ => text.to_owned(),
    };
    full.parse()
        .expect("manifest dates are validated when loaded")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn device(last: Option<&str>, enabled: bool) -> Device {
        Device {
            id: "d1".into(),
            device_id: "x".into(),
            display_name: "KIOSK-01".into(),
            operating_system: Some("Windows".into()),
            operating_system_version: Some("10.0.22631".into()),
            trust_type: Some("AzureAd".into()),
            account_enabled: enabled,
            is_compliant: Some(true),
            is_managed: None,
            approximate_last_sign_in_date_time: last.map(|t| t.parse().unwrap()),
            registration_date_time: None,
            profile_type: None,
            manufacturer: None,
            model: None,
        }
    }

    #[test]
    fn stale_device_windows() {
        let spec = FilterDevicesSpec {
            enabled: Some(true),
            last_sign_in: Some(TimeWindowSpec {
                older_than: Some(DurationSpec::days(90)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(device_matches(
            &spec,
            &device(Some("2026-01-01T00:00:00Z"), true),
            now()
        ));
        assert!(!device_matches(
            &spec,
            &device(Some("2026-11-01T00:00:00Z"), true),
            now()
        ));
        assert!(!device_matches(
            &spec,
            &device(Some("2026-01-01T00:00:00Z"), false),
            now()
        ));
        assert!(
            device_matches(&spec, &device(None, true), now()),
            "never signed in is stale"
        );
    }

    #[test]
    fn device_criteria_ignore_case_and_map_trust_types() {
        let spec = FilterDevicesSpec {
            display_name: Some(TextMatchSpec {
                starts_with: Some("kiosk-".into()),
                ..Default::default()
            }),
            operating_system: Some(OneOrMany(vec!["windows".into()])),
            trust_type: Some(OneOrMany(vec![TrustTypeSpec::Joined])),
            compliant: Some(true),
            managed: Some(false),
            ..Default::default()
        };
        assert!(device_matches(&spec, &device(None, true), now()));
    }

    #[test]
    fn dates_stand_for_midnight_utc() {
        let date = DateSpec::parse("2026-01-31").unwrap();
        assert_eq!(timestamp(&date).to_string(), "2026-01-31T00:00:00Z");
        let time = DateSpec::parse("2026-01-31T08:30Z").unwrap();
        assert_eq!(timestamp(&time).to_string(), "2026-01-31T08:30:00Z");
    }
}
