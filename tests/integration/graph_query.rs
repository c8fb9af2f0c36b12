//! The `$filter` the Graph client sends, evaluated by the emulator's OData
//! reader on the demo tenant, never drops a group or device that bulkops'
//! own filter keeps; where the query says it is complete, both agree exactly.

use bulkops::directory::filter::{device_matches, group_matches};
use bulkops::directory::local::LocalDirectory;
use bulkops::emulator::odata;
use bulkops::manifest::duration::DurationSpec;
use bulkops::manifest::filter::{
    FilterDevicesSpec, FilterGroupsSpec, GroupTypeSpec, MembershipSpec, TextMatchSpec,
    TimeWindowSpec, TrustTypeSpec,
};
use bulkops::manifest::target::OneOrMany;
use bulkops::msgraph::query;

fn text(starts_with: Option<&str>, equals: Option<&str>) -> TextMatchSpec {
    TextMatchSpec {
        starts_with: starts_with.map(str::to_owned),
        equals: equals.map(str::to_owned),
        ..Default::default()
    }
}

#[test]
fn server_side_filters_agree_with_bulkops_filters() {
    let dir = tempfile::tempdir().unwrap();
    let directory = LocalDirectory::open(&dir.path().join("d.db")).unwrap();
    let now = "2026-11-27T00:00:00Z".parse().unwrap();
    let group_filters = [
        FilterGroupsSpec::default(),
        FilterGroupsSpec {
            display_name: Some(text(Some("ENG-"), None)),
            ..Default::default()
        },
        FilterGroupsSpec {
            group_type: Some(OneOrMany(vec![GroupTypeSpec::Security])),
            membership: Some(MembershipSpec::Assigned),
            ..Default::default()
        },
        FilterGroupsSpec {
            group_type: Some(OneOrMany(vec![GroupTypeSpec::Microsoft365])),
            ..Default::default()
        },
        FilterGroupsSpec {
            group_type: Some(OneOrMany(vec![GroupTypeSpec::Distribution])),
            ..Default::default()
        },
        FilterGroupsSpec {
            membership: Some(MembershipSpec::Dynamic),
            mail_enabled: Some(true),
            ..Default::default()
        },
        FilterGroupsSpec {
            on_premises_synced: Some(true),
            ..Default::default()
        },
        FilterGroupsSpec {
            assignable_to_role: Some(false),
            mail_nickname: Some(text(None, Some("break-glass"))),
            ..Default::default()
        },
    ];
    for spec in &group_filters {
        let built = query::groups(spec);
        let filter = built
            .filter
            .as_deref()
            .map(|source| odata::parse(source).unwrap());
        for group in directory.groups().unwrap() {
            let json = serde_json::to_value(&group).unwrap();
            let server = filter
                .as_ref()
                .is_none_or(|filter| odata::matches(filter, &json));
            let client = group_matches(spec, &group, now);
            assert!(
                server || !client,
                "{:?} drops {}",
                built.filter,
                group.display_name
            );
            if built.complete {
                assert_eq!(
                    server, client,
                    "{:?} on {}",
                    built.filter, group.display_name
                );
            }
        }
    }
}

#[test]
fn server_side_device_filters_agree_with_bulkops_filters() {
    let dir = tempfile::tempdir().unwrap();
    let directory = LocalDirectory::open(&dir.path().join("d.db")).unwrap();
    let now = "2026-11-27T00:00:00Z".parse().unwrap();
    let device_filters = [
        FilterDevicesSpec {
            enabled: Some(true),
            trust_type: Some(OneOrMany(vec![
                TrustTypeSpec::Joined,
                TrustTypeSpec::Registered,
            ])),
            ..Default::default()
        },
        FilterDevicesSpec {
            operating_system: Some(OneOrMany(vec!["windows".into(), "iOS".into()])),
            compliant: Some(true),
            ..Default::default()
        },
        FilterDevicesSpec {
            last_sign_in: Some(TimeWindowSpec {
                newer_than: Some(DurationSpec::days(30)),
                ..Default::default()
            }),
            ..Default::default()
        },
        FilterDevicesSpec {
            last_sign_in: Some(TimeWindowSpec {
                older_than: Some(DurationSpec::days(90)),
                ..Default::default()
            }),
            ..Default::default()
        },
        FilterDevicesSpec {
            display_name: Some(text(Some("KIOSK-"), None)),
            managed: Some(false),
            ..Default::default()
        },
    ];
    for spec in &device_filters {
        let built = query::devices(spec, now);
        let filter = built
            .filter
            .as_deref()
            .map(|source| odata::parse(source).unwrap());
        for device in directory.devices().unwrap() {
            let json = serde_json::to_value(&device).unwrap();
            let server = filter
                .as_ref()
                .is_none_or(|filter| odata::matches(filter, &json));
            let client = device_matches(spec, &device, now);
            assert!(
                server || !client,
                "{:?} drops {}",
                built.filter,
                device.display_name
            );
            if built.complete {
                assert_eq!(
                    server, client,
                    "{:?} on {}",
                    built.filter, device.display_name
                );
            }
        }
    }
}
