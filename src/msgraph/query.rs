//! `$filter` expressions for `filterGroups` and `filterDevices`.
//!
//! Graph evaluates a criterion only where its documentation lists the operator
//! as supported without advanced query parameters; everything else is left to
//! bulkops, which always applies the full filter to what Graph returns (see
//! `directory::filter`). So the server-side expression only narrows the
//! results, and both directories select exactly the same objects. A criterion
//! whose server-side form would change the meaning (a device that never signed
//! in counts as stale, but `le` skips it) is never pushed down.
//!
//! Text comparisons rely on the directory comparing strings without regard to
//! case, as Entra ID does for `eq`, `in` and `startswith`; bulkops compares the
//! same way, so narrowing on the server never drops a group bulkops would keep.

use jiff::{SignedDuration, Timestamp};

use crate::directory::filter::{timestamp, trust_type_name};
use crate::manifest::filter::{
    FilterDevicesSpec, FilterGroupsSpec, GroupTypeSpec, MembershipSpec, TextMatchSpec,
};
use crate::manifest::target::OneOrMany;

/// The group properties bulkops reads, for `$select`.
pub const GROUP_SELECT: &str = "id,displayName,description,mail,mailEnabled,mailNickname,securityEnabled,groupTypes,\
membershipRule,onPremisesSyncEnabled,createdDateTime,visibility,isAssignableToRole";

/// The device properties bulkops reads, for `$select`.
pub const DEVICE_SELECT: &str = "id,deviceId,displayName,operatingSystem,operatingSystemVersion,trustType,accountEnabled,\
isCompliant,isManaged,approximateLastSignInDateTime,registrationDateTime,profileType,manufacturer,model";

/// A `$filter` for a list request, and whether it covers every criterion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// The expression, or `None` to list everything.
    pub filter: Option<String>,
    /// Whether Graph evaluates every criterion, so no result is dropped afterwards.
    pub complete: bool,
}

/// Builds the conjunction, remembering whether anything stayed client-side.
#[derive(Default)]
struct Conjunction {
    clauses: Vec<String>,
    partial: bool,
}

impl Conjunction {
    fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    fn client_side(&mut self) {
        self.partial = true;
    }

    fn finish(self) -> ListQuery {
        ListQuery {
            filter: (!self.clauses.is_empty()).then(|| self.clauses.join(" and ")),
            complete: !self.partial,
        }
    }
}

/// An OData string literal: single quotes, with quotes inside doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn list(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|value| literal(value)).collect();
    format!("({})", items.join(","))
}

/// Text criteria with default operators: `eq`, `in`, `startswith`.
fn text(query: &mut Conjunction, property: &str, spec: Option<&TextMatchSpec>) {
    let Some(spec) = spec else { return };
    if let Some(value) = &spec.equals {
        query.push(format!("{property} eq {}", literal(value)));
    }
    if let Some(value) = &spec.starts_with {
        query.push(format!("startswith({property},{})", literal(value)));
    }
    if let Some(values) = &spec.any_of {
        query.push(format!("{property} in {}", list(values)));
    }
    if spec.ends_with.is_some() || spec.contains.is_some() {
        query.client_side();
    }
}

fn flag(query: &mut Conjunction, property: &str, value: Option<bool>) {
    if let Some(value) = value {
        query.push(format!("{property} eq {value}"));
    }
}

/// The query for a `filterGroups` step.
pub fn groups(spec: &FilterGroupsSpec) -> ListQuery {
    let mut query = Conjunction::default();
    text(&mut query, "displayName", spec.display_name.as_ref());
    text(&mut query, "mail", spec.mail.as_ref());
    text(&mut query, "mailNickname", spec.mail_nickname.as_ref());
    if spec.description.is_some() {
        query.client_side();
    }
    group_type(&mut query, spec.group_type.as_ref().map(OneOrMany::values));
    match spec.membership {
        Some(MembershipSpec::Dynamic) => {
            query.push("groupTypes/any(c:c eq 'DynamicMembership')".to_owned());
        }
        Some(MembershipSpec::Assigned) => query.client_side(),
        None => {}
    }
    flag(&mut query, "mailEnabled", spec.mail_enabled);
    flag(&mut query, "securityEnabled", spec.security_enabled);
    // `false` must also match groups whose flag is null, which `eq false` skips.
    match spec.on_premises_synced {
        Some(true) => query.push("onPremisesSyncEnabled eq true".to_owned()),
        Some(false) => query.client_side(),
        None => {}
    }
    match spec.assignable_to_role {
        Some(true) => query.push("isAssignableToRole eq true".to_owned()),
        Some(false) => query.client_side(),
        None => {}
    }
    if spec.visibility.is_some() || spec.created.is_some() {
        query.client_side();
    }
    if let Some(ids) = &spec.ids {
        query.push(format!("id in {}", list(ids)));
    }
    query.finish()
}

/// Group types by what they imply; a choice of several types stays client-side.
fn group_type(query: &mut Conjunction, types: Option<&[GroupTypeSpec]>) {
    match types {
        None => {}
        Some([GroupTypeSpec::Microsoft365]) => {
            query.push("groupTypes/any(c:c eq 'Unified')".to_owned());
        }
        Some([GroupTypeSpec::Security]) => {
            // "Not Unified" needs advanced queries; Graph narrows, bulkops decides.
            query.push("mailEnabled eq false and securityEnabled eq true".to_owned());
            query.client_side();
        }
        Some([GroupTypeSpec::MailEnabledSecurity]) => {
            query.push("mailEnabled eq true and securityEnabled eq true".to_owned());
            query.client_side();
        }
        Some([GroupTypeSpec::Distribution]) => {
            query.push("mailEnabled eq true and securityEnabled eq false".to_owned());
            query.client_side();
        }
        Some(_) => query.client_side(),
    }
}

/// The query for a `filterDevices` step, with relative windows measured from `now`.
pub fn devices(spec: &FilterDevicesSpec, now: Timestamp) -> ListQuery {
    let mut query = Conjunction::default();
    text(&mut query, "displayName", spec.display_name.as_ref());
    match spec.operating_system.as_ref().map(OneOrMany::values) {
        Some([one]) => query.push(format!("operatingSystem eq {}", literal(one))),
        Some(many) => query.push(format!("operatingSystem in {}", list(many))),
        None => {}
    }
    text(
        &mut query,
        "operatingSystemVersion",
        spec.operating_system_version.as_ref(),
    );
    if let Some(types) = &spec.trust_type {
        let names: Vec<String> = types
            .values()
            .iter()
            .map(|t| trust_type_name(*t).to_owned())
            .collect();
        query.push(format!("trustType in {}", list(&names)));
    }
    flag(&mut query, "accountEnabled", spec.enabled);
    // Unknown compliance or management is null, which `eq false` would skip.
    match spec.compliant {
        Some(true) => query.push("isCompliant eq true".to_owned()),
        Some(false) => query.client_side(),
        None => {}
    }
    match spec.managed {
        Some(true) => query.push("isManaged eq true".to_owned()),
        Some(false) => query.client_side(),
        None => {}
    }
    if let Some(window) = &spec.last_sign_in {
        // Lower bounds exclude devices that never signed in, as bulkops does;
        // upper bounds would exclude them too, where bulkops counts them stale.
        let since = window.newer_than.map(|age| {
            now - SignedDuration::try_from(age.as_duration()).unwrap_or(SignedDuration::MAX)
        });
        let after = window.after.as_ref().map(timestamp);
        for bound in [since, after].into_iter().flatten() {
            query.push(format!("approximateLastSignInDateTime ge {bound}"));
        }
        if window.older_than.is_some() || window.before.is_some() || since.is_some() {
            // `ge` is inclusive where bulkops is strict: bulkops re-checks.
            query.client_side();
        }
    }
    if spec.registered.is_some() {
        query.client_side();
    }
    if let Some(ids) = &spec.ids {
        query.push(format!("id in {}", list(ids)));
    }
    if let Some(ids) = &spec.device_ids {
        query.push(format!("deviceId in {}", list(ids)));
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::duration::DurationSpec;
    use crate::manifest::filter::{TimeWindowSpec, TrustTypeSpec};

    #[test]
    fn quotes_are_doubled_in_literals() {
        assert_eq!(literal("O'Brien's team"), "'O''Brien''s team'");
    }

    #[test]
    fn engineering_groups_are_narrowed_by_graph_and_decided_by_bulkops() {
        let spec = FilterGroupsSpec {
            display_name: Some(TextMatchSpec {
                starts_with: Some("eng-".into()),
                ..Default::default()
            }),
            group_type: Some(OneOrMany(vec![GroupTypeSpec::Security])),
            membership: Some(MembershipSpec::Assigned),
            ..Default::default()
        };
        let query = groups(&spec);
        assert_eq!(
            query.filter.as_deref(),
            Some(
                "startswith(displayName,'eng-') and mailEnabled eq false and securityEnabled eq true"
            )
        );
        assert!(!query.complete);
    }

    #[test]
    fn fully_supported_group_criteria_are_complete() {
        let spec = FilterGroupsSpec {
            mail_nickname: Some(TextMatchSpec {
                any_of: Some(vec!["a".into(), "b".into()]),
                ..Default::default()
            }),
            group_type: Some(OneOrMany(vec![GroupTypeSpec::Microsoft365])),
            membership: Some(MembershipSpec::Dynamic),
            ids: Some(vec!["4c5f8c1e-2b7d-4b8e-9a61-0c2d3e4f5a6b".into()]),
            ..Default::default()
        };
        let query = groups(&spec);
        assert_eq!(
            query.filter.as_deref(),
            Some(
                "mailNickname in ('a','b') and groupTypes/any(c:c eq 'Unified') and groupTypes/any(c:c eq 'DynamicMembership') \
                 and id in ('4c5f8c1e-2b7d-4b8e-9a61-0c2d3e4f5a6b')"
            )
        );
        assert!(query.complete);
        assert_eq!(
            groups(&FilterGroupsSpec::default()),
            ListQuery {
                filter: None,
                complete: true
            }
        );
    }

    #[test]
    fn stale_devices_are_not_pushed_down_as_upper_bounds() {
        let now: Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
        let spec = FilterDevicesSpec {
            enabled: Some(true),
            trust_type: Some(OneOrMany(vec![
                TrustTypeSpec::Joined,
                TrustTypeSpec::Registered,
            ])),
            last_sign_in: Some(TimeWindowSpec {
                older_than: Some(DurationSpec::days(90)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let query = devices(&spec, now);
        assert_eq!(
            query.filter.as_deref(),
            Some("trustType in ('AzureAd','Workplace') and accountEnabled eq true")
        );
        assert!(!query.complete);
        let recent = FilterDevicesSpec {
            last_sign_in: Some(TimeWindowSpec {
                newer_than: Some(DurationSpec::days(7)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            devices(&recent, now).filter.as_deref(),
            Some("approximateLastSignInDateTime ge 2026-11-20T00:00:00Z")
        );
    }
}
