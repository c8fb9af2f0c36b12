//! Requests written as Microsoft Graph's v1.0 API reference writes them get
//! the reference's answers from `bulkops emulate`: `$count` segments,
//! `$search`, `$orderby`, `@odata.count`, default properties of users,
//! groups and devices, `extensionAttributes`, and filters that only work
//! with advanced query parameters. (Sources: the `group-list`,
//! `device-list`, `device-update`, `user-get`, `group-list-members` and
//! `directoryobject-getbyids` pages, and "Advanced query capabilities on
//! Microsoft Entra ID objects".)

use serde_json::{Value as Json, json};

use crate::wire::{Session, demo_emulator, sign_in};

const EVENTUAL: (&str, &str) = ("ConsistencyLevel", "eventual");
const ENG_WEB: &str = "ea667e41-e369-433b-bc84-bb902ea775ad";
const DEVICE: &str = "042337a7-905a-4efb-a272-866949d31cd9";
const NESTOR: &str = "959575fe-0a73-4d03-b43a-2c9fbed3e91c";

/// The target with its query written for the wire: spaces, quotes and the
/// like percent-encoded, as an HTTP client sends them.
fn wire(target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut encoded = String::from(path);
    if !query.is_empty() {
        encoded.push('?');
        for c in query.chars() {
            match c {
                ' ' => encoded.push_str("%20"),
                '"' => encoded.push_str("%22"),
                '\'' => encoded.push_str("%27"),
                c => encoded.push(c),
            }
        }
    }
    encoded
}

fn get(session: &Session<'_>, target: &str, headers: &[(&str, &str)]) -> crate::wire::RawAnswer {
    session.get(&wire(target), headers)
}

fn names(page: &Json) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["displayName"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn keys(object: &Json) -> Vec<&str> {
    object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn refused(session: &Session<'_>, target: &str, code: &str, message: &str) {
    let answer = get(session, target, &[]);
    assert_eq!(answer.status, 400, "{target}: {}", answer.body);
    let (_, found_code, found_message) = answer.error();
    assert_eq!(
        (found_code.as_str(), found_message.as_str()),
        (code, message),
        "{target}"
    );
}

#[test]
fn count_segments_answer_plain_text_counts_with_eventual_consistency() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    for (target, expected) in [
        ("/v1.0/groups/$count".to_owned(), "38"),
        ("/v1.0/devices/$count".to_owned(), "100"),
        (
            format!("/v1.0/groups/{ENG_WEB}/members/microsoft.graph.user/$count"),
            "11",
        ),
        (
            "/v1.0/groups/$count?$filter=startswith(displayName,'eng-')".to_owned(),
            "9",
        ),
    ] {
        let answer = get(&session, &target, &[EVENTUAL]);
        assert_eq!(answer.status, 200, "{target}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain"),
            "{target}"
        );
        assert_eq!(answer.body, expected, "{target}");
        refused(
            &session,
            &target,
            "Request_BadRequest",
            "$count is not currently supported.",
        );
    }
}

#[test]
fn search_matches_tokens_with_eventual_consistency() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let target = "/v1.0/groups?$search=\"displayName:eng\"&$count=true&$orderby=displayName";
    let page = get(&session, target, &[EVENTUAL]).json();
    let found = names(&page);
    assert_eq!(page["@odata.count"], json!(found.len()));
    assert_eq!(found.first().map(String::as_str), Some("eng-all"));
    assert!(found.len() >= 9 && found.iter().all(|name| name.to_lowercase().contains("eng")));
    let either = "/v1.0/groups?$search=\"displayName:onboarding\" OR \"description:emergency\"";
    let mut both = names(&get(&session, either, &[EVENTUAL]).json());
    both.sort();
    assert_eq!(both, ["Break Glass", "onboarding"]);
    let members = format!(
        "/v1.0/groups/{ENG_WEB}/members/microsoft.graph.user?$count=true&$orderby=displayName&$search=\"displayName:dana\"&$select=displayName,id"
    );
    let page = get(&session, &members, &[EVENTUAL]).json();
    assert_eq!(names(&page), ["Dana Kim"]);
    assert_eq!(page["@odata.count"], 1);
    refused(
        &session,
        "/v1.0/groups?$search=\"displayName:eng\"",
        "Request_UnsupportedQuery",
        "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
    );
}

#[test]
fn orderby_and_counts_follow_the_advanced_query_rules() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let page = get(&session, "/v1.0/groups?$orderby=displayName&$top=3", &[]).json();
    assert_eq!(names(&page), ["All Staff", "Announcements", "App - CRM"]);
    let next = page["@odata.nextLink"].as_str().unwrap();
    let path = next
        .split_once("/v1.0")
        .map(|(_, rest)| format!("/v1.0{rest}"))
        .unwrap();
    let second = get(&session, &path, &[]).json();
    assert_eq!(names(&second).len(), 3);
    assert!(names(&second)[0].to_lowercase().as_str() > "app - crm");
    // A page token without a position ("after:") is not the first page.
    refused(
        &session,
        "/v1.0/groups?$skiptoken=YWZ0ZXI6",
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    );
    refused(
        &session,
        "/v1.0/devices?$orderby=displayName",
        "Request_UnsupportedQuery",
        "Sorting not supported for current query.",
    );
    let devices = get(
        &session,
        "/v1.0/devices?$orderby=displayName desc&$count=true&$top=1",
        &[EVENTUAL],
    )
    .json();
    assert_eq!(devices["@odata.count"], 100);
    let members = get(
        &session,
        &format!("/v1.0/groups/{ENG_WEB}/members?$count=true&$filter=startswith(displayName, 'd')"),
        &[EVENTUAL],
    )
    .json();
    assert_eq!(names(&members), ["Dana Kim"]);
    assert_eq!(members["@odata.count"], 1);
}

#[test]
fn properties_that_need_advanced_queries_are_refused_without_them() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    for (target, message, expected) in [
        (
            "/v1.0/groups?$filter=description eq 'Every employee'",
            "Unsupported or invalid query filter clause specified for property 'description' of resource 'Group'.",
            1,
        ),
        (
            "/v1.0/devices?$filter=registrationDateTime ge 2025-01-01T00:00:00Z",
            "Unsupported or invalid query filter clause specified for property 'registrationDateTime' of resource 'Device'.",
            32,
        ),
    ] {
        refused(&session, target, "Request_UnsupportedQuery", message);
        let page = get(&session, &format!("{target}&$count=true"), &[EVENTUAL]).json();
        assert_eq!(page["@odata.count"], expected, "{target}");
    }
}

#[test]
fn objects_carry_the_default_properties_of_their_resource() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let user = get(&session, &format!("/v1.0/users/{NESTOR}"), &[]).json();
    assert_eq!(
        keys(&user),
        [
            "@odata.context",
            "businessPhones",
            "displayName",
            "givenName",
            "id",
            "jobTitle",
            "mail",
            "mobilePhone",
            "officeLocation",
            "preferredLanguage",
            "surname",
            "userPrincipalName"
        ]
    );
    assert_eq!(user["displayName"], "Nestor Wilber");
    let selected = get(
        &session,
        &format!("/v1.0/users/{NESTOR}?$select=displayName,department"),
        &[],
    )
    .json();
    assert!(
        selected["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#users(displayName,department)/$entity")
    );
    assert_eq!(selected["department"], "Engineering");

    let group = get(&session, &format!("/v1.0/groups/{ENG_WEB}"), &[]).json();
    for key in [
        "membershipRuleProcessingState",
        "proxyAddresses",
        "renewedDateTime",
        "securityIdentifier",
        "resourceProvisioningOptions",
        "onPremisesProvisioningErrors",
        "classification",
        "expirationDateTime",
        "theme",
        "preferredDataLocation",
        "deletedDateTime",
    ] {
        assert!(group.get(key).is_some(), "group property {key}: {group}");
    }
    let dynamic = get(
        &session,
        "/v1.0/groups?$filter=mailEnabled eq false and securityEnabled eq true and NOT(groupTypes/any(s:s eq 'Unified')) and membershipRuleProcessingState eq 'On'&$count=true&$select=id,membershipRule,membershipRuleProcessingState",
        &[EVENTUAL],
    );
    assert_eq!(dynamic.status, 200, "{}", dynamic.body);
    let dynamic = dynamic.json();
    assert_eq!(dynamic["@odata.count"], 3, "{dynamic}");
    assert!(dynamic["value"].as_array().unwrap().iter().all(|group| {
        group["membershipRuleProcessingState"] == "On" && group["membershipRule"].is_string()
    }));

    // getByIds returns each object's default properties, or the `$select`ed ones.
    let body = json!({ "ids": [NESTOR, ENG_WEB], "types": ["directoryObject"] });
    let full = session
        .write("POST", "/v1.0/directoryObjects/getByIds", Some(&body))
        .json();
    assert_eq!(full["value"][1]["groupTypes"], json!([]), "{full}");
    let selected = session
        .write(
            "POST",
            "/v1.0/directoryObjects/getByIds?$select=id",
            Some(&body),
        )
        .json();
    assert_eq!(
        keys(&selected["value"][0]),
        ["@odata.type", "id"],
        "{selected}"
    );

    let device = get(&session, &format!("/v1.0/devices/{DEVICE}"), &[]).json();
    for key in [
        "extensionAttributes",
        "physicalIds",
        "systemLabels",
        "alternativeSecurityIds",
    ] {
        assert!(device.get(key).is_some(), "device property {key}: {device}");
    }
}

#[test]
fn device_extension_attributes_are_set_read_and_filtered_as_the_docs_show() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let patched = session.write(
        "PATCH",
        &format!("/v1.0/devices/{DEVICE}"),
        Some(&json!({ "extensionAttributes": { "extensionAttribute1": "BYOD-Device" } })),
    );
    assert_eq!(patched.status, 204, "{}", patched.body);
    let read = get(
        &session,
        &format!("/v1.0/devices/{DEVICE}?$select=id,extensionAttributes"),
        &[],
    )
    .json();
    assert_eq!(
        read["extensionAttributes"]["extensionAttribute1"],
        "BYOD-Device"
    );
    assert_eq!(
        read["extensionAttributes"]["extensionAttribute15"],
        Json::Null
    );
    let filter = "/v1.0/devices?$filter=extensionAttributes/extensionAttribute1 eq 'BYOD-Device'";
    let found = get(&session, &format!("{filter}&$count=true"), &[EVENTUAL]).json();
    assert_eq!(found["@odata.count"], 1, "{found}");
    assert_eq!(found["value"][0]["id"], DEVICE);
    refused(
        &session,
        filter,
        "Request_UnsupportedQuery",
        "Unsupported or invalid query filter clause specified for property 'extensionAttributes' of resource 'Device'.",
    );
    let bad = session.write(
        "PATCH",
        &format!("/v1.0/devices/{DEVICE}"),
        Some(&json!({ "extensionAttributes": { "extensionAttribute16": "x" } })),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}
