//! The emulator on the wire: requests written byte for byte as Microsoft's
//! documentation shows them (raw HTTP/1.1 over a socket, not through the
//! bulkops client), and the answers checked against Graph's documented
//! behaviour: sign-in, paging, query rules, errors, batches and limits.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{Value as Json, json};

use crate::emulator_support::{Emulator, demo_database};

/// An answer as it came off the socket.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl RawAnswer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    pub(crate) fn error(&self) -> (u16, String, String) {
        let body = self.json();
        (
            self.status,
            body["error"]["code"].as_str().unwrap().to_owned(),
            body["error"]["message"].as_str().unwrap().to_owned(),
        )
    }
}

/// Sends raw request text and reads the whole answer (the request says `Connection: close`).
pub(crate) fn exchange(address: &str, request: &str) -> RawAnswer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    RawAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A request with the usual headers, and a body when given.
pub(crate) fn send(
    emulator: &Emulator,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> RawAnswer {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        emulator.address
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    let body = body.unwrap_or_default();
    let _ = write!(request, "Content-Length: {}\r\n\r\n{body}", body.len());
    exchange(&emulator.address, &request)
}

/// A Graph call with a fresh token.
pub(crate) struct Session<'a> {
    emulator: &'a Emulator,
    pub(crate) bearer: String,
}

impl Session<'_> {
    pub(crate) fn get(&self, target: &str, extra: &[(&str, &str)]) -> RawAnswer {
        let mut headers = vec![("Authorization", self.bearer.as_str())];
        headers.extend_from_slice(extra);
        send(self.emulator, "GET", target, &headers, None)
    }

    pub(crate) fn write(&self, method: &str, target: &str, body: Option<&Json>) -> RawAnswer {
        let text = body.map(Json::to_string);
        send(
            self.emulator,
            method,
            target,
            &[
                ("Authorization", self.bearer.as_str()),
                ("Content-type", "application/json"),
            ],
            text.as_deref(),
        )
    }
}

pub(crate) fn sign_in(emulator: &Emulator) -> Session<'_> {
    let answer = send(
        emulator,
        "POST",
        "/contoso.onmicrosoft.com/oauth2/v2.0/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(
            "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=sampleCredentia1s&grant_type=client_credentials",
        ),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = answer.json();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3599);
    Session {
        emulator,
        bearer: format!("Bearer {}", token["access_token"].as_str().unwrap()),
    }
}

pub(crate) fn demo_emulator(extra: &[&str]) -> (tempfile::TempDir, Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(&demo_database(dir.path()), extra);
    (dir, emulator)
}

const ENG_PLATFORM: &str = "38925df8-4c93-4d64-b5f7-200b04f21830";
const SALES_DYNAMIC_NAME: &str = "Sales Dynamic";
const NESTOR: &str = "959575fe-0a73-4d03-b43a-2c9fbed3e91c";
const ALLAN: &str = "d67e4d92-8a83-4817-8d64-5fa6d13c513a";
const MISSING: &str = "00000000-0000-4000-8000-000000000000";

#[test]
fn sign_in_follows_the_client_credentials_flow() {
    let (_dir, emulator) = demo_emulator(&[]);
    sign_in(&emulator);
    let refused = send(
        &emulator,
        "POST",
        "/contoso.onmicrosoft.com/oauth2/v2.0/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("client_id=x&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&grant_type=password"),
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "unsupported_grant_type");
    assert!(
        refused.json()["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS70003:")
    );
    let anonymous = send(&emulator, "GET", "/v1.0/groups", &[], None);
    assert_eq!(
        anonymous.error(),
        (
            401,
            "InvalidAuthenticationToken".to_owned(),
            "Access token is empty.".to_owned()
        )
    );
}

#[test]
fn lists_page_with_opaque_next_links_until_the_end() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let mut target = "/v1.0/groups?$select=id,displayName&$top=5".to_owned();
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = session.get(&target, &[]);
        assert_eq!(page.status, 200, "{}", page.body);
        let body = page.json();
        if pages == 0 {
            assert_eq!(
                body["@odata.context"],
                format!("{}/v1.0/$metadata#groups(id,displayName)", emulator.url())
            );
        }
        let items = body["value"].as_array().unwrap();
        assert!(items.len() <= 5);
        for item in items {
            assert_eq!(
                item.as_object().unwrap().len(),
                2,
                "only the selected properties: {item}"
            );
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("$top=5") && next.contains("$skiptoken="),
                    "{next}"
                );
                target = next.strip_prefix(&emulator.url()).unwrap().to_owned();
            }
            None => break,
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((ids.len(), unique.len(), pages), (38, 38, 8));
    // SDKs send empty path segments; Graph accepts them.
    assert_eq!(session.get("/v1.0//groups?$top=1", &[]).status, 200);
}

#[test]
fn page_sizes_and_advanced_queries_follow_graphs_rules() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    assert_eq!(
        session.get("/v1.0/groups?$top=1000", &[]).error(),
        (
            400,
            "Request_UnsupportedQuery".to_owned(),
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.".to_owned()
        )
    );
    assert_eq!(session.get("/v1.0/groups?$top=0", &[]).status, 400);
    // `$count=true` without ConsistencyLevel is ignored.
    let plain = session.get("/v1.0/groups?$count=true&$top=999", &[]).json();
    assert!(plain.get("@odata.count").is_none());
    let eventual = [("ConsistencyLevel", "eventual")];
    let first = session
        .get("/v1.0/groups?$count=true&$top=20", &eventual)
        .json();
    assert_eq!(first["@odata.count"], 38);
    let next = first["@odata.nextLink"]
        .as_str()
        .unwrap()
        .strip_prefix(&emulator.url())
        .unwrap()
        .to_owned();
    assert!(
        session
            .get(&next, &eventual)
            .json()
            .get("@odata.count")
            .is_none(),
        "only the first page counts"
    );
    // `ne` needs the advanced query parameters.
    let filter = "/v1.0/groups?$filter=displayName%20ne%20'eng-all'";
    assert_eq!(
        session.get(filter, &[]).error(),
        (
            400,
            "Request_UnsupportedQuery".to_owned(),
            "Unsupported Query.".to_owned()
        )
    );
    let advanced = session
        .get(&format!("{filter}&$count=true"), &eventual)
        .json();
    assert_eq!(advanced["@odata.count"], 37);
    // The documented Microsoft 365 filter, written as the documentation writes it.
    let unified = session
        .get("/v1.0/groups?$filter=groupTypes/any(c:c+eq+'Unified')", &[])
        .json();
    assert!(unified["value"].as_array().unwrap().iter().all(|group| {
        group["groupTypes"]
            .as_array()
            .unwrap()
            .contains(&json!("Unified"))
    }));
    assert_eq!(
        session
            .get(&format!("/v1.0/groups/{ENG_PLATFORM}/members/$count"), &[])
            .error(),
        (
            400,
            "Request_BadRequest".to_owned(),
            "$count is not currently supported.".to_owned()
        )
    );
    let count = session.get(
        &format!("/v1.0/groups/{ENG_PLATFORM}/members/$count"),
        &eventual,
    );
    assert_eq!(
        (
            count.status,
            count.header("content-type"),
            count.body.as_str()
        ),
        (200, Some("text/plain"), "13")
    );
}

#[test]
fn members_carry_their_type_and_references_change_one_member() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let members = session
        .get(
            &format!("/v1.0/groups/{ENG_PLATFORM}/members?$select=id,userPrincipalName"),
            &[],
        )
        .json();
    assert_eq!(
        members["@odata.context"],
        format!(
            "{}/v1.0/$metadata#directoryObjects(id,userPrincipalName)",
            emulator.url()
        )
    );
    for member in members["value"].as_array().unwrap() {
        let kind = member["@odata.type"].as_str().unwrap();
        assert!(kind.starts_with("#microsoft.graph."), "{member}");
        assert_eq!(
            kind == "#microsoft.graph.user",
            member.get("userPrincipalName").is_some(),
            "{member}"
        );
    }
    let reference = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{ALLAN}") });
    let target = format!("/v1.0/groups/{ENG_PLATFORM}/members/$ref");
    let added = session.write("POST", &target, Some(&reference));
    assert_eq!((added.status, added.body.as_str()), (204, ""));
    assert_eq!(
        session.write("POST", &target, Some(&reference)).error(),
        (
            400,
            "Request_BadRequest".to_owned(),
            "One or more added object references already exist for the following modified properties: 'members'.".to_owned()
        )
    );
    let member_ref = format!("/v1.0/groups/{ENG_PLATFORM}/members/{ALLAN}/$ref");
    assert_eq!(session.write("DELETE", &member_ref, None).status, 204);
    assert_eq!(
        session.write("DELETE", &member_ref, None).error(),
        (
            404,
            "Request_ResourceNotFound".to_owned(),
            format!(
                "Resource '{ALLAN}' does not exist or one of its queried reference-property objects are not present."
            )
        )
    );
    // Without `/$ref` Graph would delete the user itself; the emulated app may not.
    let direct = session.write(
        "DELETE",
        &format!("/v1.0/groups/{ENG_PLATFORM}/members/{NESTOR}"),
        None,
    );
    assert_eq!(direct.error().1, "Authorization_RequestDenied");
    assert_eq!(
        session.get(&format!("/v1.0/users/{NESTOR}"), &[]).status,
        200
    );
    assert!(
        session
            .get(
                &format!("/v1.0/groups/{ENG_PLATFORM}/members?$select=id&$top=999"),
                &[]
            )
            .body
            .contains(NESTOR)
    );
    assert_eq!(
        session.get("/v1.0/groups/MyGroup", &[]).error(),
        (
            400,
            "Request_BadRequest".to_owned(),
            "Invalid object identifier 'MyGroup'.".to_owned()
        )
    );
}

#[test]
fn bind_patches_are_all_or_nothing_and_hold_twenty() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let bind = |ids: &[&str]| json!({ "members@odata.bind": ids.iter().map(|id| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")).collect::<Vec<_>>() });
    let target = format!("/v1.0/groups/{ENG_PLATFORM}");
    let missing = session.write("PATCH", &target, Some(&bind(&[ALLAN, MISSING])));
    assert_eq!(missing.error().0, 404);
    assert!(missing.error().2.contains(MISSING));
    let members = || {
        session
            .get(
                &format!("/v1.0/groups/{ENG_PLATFORM}/members?$select=id&$top=999"),
                &[],
            )
            .body
    };
    assert!(
        !members().contains(ALLAN),
        "nothing is added when one reference fails"
    );
    let many: Vec<&str> = std::iter::repeat_n(ALLAN, 21).collect();
    assert_eq!(
        session.write("PATCH", &target, Some(&bind(&many))).status,
        400
    );
    assert_eq!(
        session
            .write("PATCH", &target, Some(&bind(&[ALLAN])))
            .status,
        204
    );
    assert!(members().contains(ALLAN));
    assert_eq!(
        session.write("PATCH", &target, None).error().2,
        "Empty Payload. JSON content expected."
    );
}

#[test]
fn batches_answer_each_request_and_keep_their_limits() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let batch = json!({
        "requests": [
            { "id": "1", "method": "GET", "url": "/groups?$select=id&$top=2" },
            { "id": "2", "method": "GET", "url": "users/ines.duarte_fabrikam_example%23EXT%23@contoso.example?$select=id" },
            { "id": "3", "method": "GET", "url": "/users('$nobody@contoso.example')" },
            { "id": "4", "method": "PATCH", "url": format!("/groups/{ENG_PLATFORM}"), "headers": { "Content-Type": "application/json" },
              "body": { "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{MISSING}")] } },
            { "id": "5", "method": "GET", "url": "/groups?$top=1", "dependsOn": ["4"] },
            { "id": "6", "method": "GET", "url": "/users/$nobody@contoso.example" }
        ]
    });
    let answer = session.write("POST", "/v1.0/$batch", Some(&batch));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    let status = |id: &str| {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        ["1", "2", "3", "4", "5", "6"].map(status),
        [
            json!(200),
            json!(200),
            json!(404),
            json!(404),
            json!(424),
            json!(400)
        ]
    );
    let too_many = json!({ "requests": (0..21).map(|id| json!({ "id": id.to_string(), "method": "GET", "url": "/groups" })).collect::<Vec<_>>() });
    assert_eq!(
        session
            .write("POST", "/v1.0/$batch", Some(&too_many))
            .status,
        400
    );
    let repeated = json!({ "requests": [{ "id": "a", "method": "GET", "url": "/groups" }, { "id": "A", "method": "GET", "url": "/groups" }] });
    assert_eq!(
        session
            .write("POST", "/v1.0/$batch", Some(&repeated))
            .status,
        400
    );
    let ids: Vec<String> = (0..1_001).map(|_| MISSING.to_owned()).collect();
    let by_ids = session.write(
        "POST",
        "/v1.0/directoryObjects/getByIds",
        Some(&json!({ "ids": ids })),
    );
    assert_eq!(by_ids.status, 400);
    let found = session.write(
        "POST",
        "/v1.0/directoryObjects/getByIds",
        Some(&json!({ "ids": [NESTOR, MISSING, ENG_PLATFORM], "types": ["user"] })),
    );
    assert_eq!(
        found.json()["value"],
        json!([{
            "@odata.type": "#microsoft.graph.user", "businessPhones": [],
            "displayName": "Nestor Wilber", "givenName": null, "id": NESTOR,
            "jobTitle": "Site Reliability Engineer", "mail": "nestor.wilber@contoso.example",
            "mobilePhone": null, "officeLocation": null, "preferredLanguage": null,
            "surname": null, "userPrincipalName": "nestor.wilber@contoso.example"
        }]),
        "getByIds returns each object with its default properties"
    );
}

#[test]
fn changes_to_dynamic_groups_are_refused() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let group = session
        .get(
            &format!(
                "/v1.0/groups?$filter=displayName%20eq%20'{}'",
                SALES_DYNAMIC_NAME.replace(' ', "%20")
            ),
            &[],
        )
        .json();
    let id = group["value"][0]["id"].as_str().unwrap().to_owned();
    let reference = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{NESTOR}") });
    let refused = session.write(
        "POST",
        &format!("/v1.0/groups/{id}/members/$ref"),
        Some(&reference),
    );
    assert_eq!(refused.error().0, 400);
}

#[test]
fn writes_beyond_the_quota_are_throttled_with_retry_after() {
    let (_dir, emulator) = demo_emulator(&["--throttle", "graph", "--bind-write-cost", "per3"]);
    let session = sign_in(&emulator);
    let twenty: Vec<String> = (0..20)
        .map(|_| format!("https://graph.microsoft.com/v1.0/directoryObjects/{MISSING}"))
        .collect();
    let patch = |id: usize| {
        json!({ "id": id.to_string(), "method": "PATCH", "url": format!("/groups/{ENG_PLATFORM}"),
        "headers": { "Content-Type": "application/json" }, "body": { "members@odata.bind": twenty } })
    };
    // 3,000 writes at ceil(20/3) = 7 each: 428 PATCHes fit, the 429th does not.
    let mut statuses = Vec::new();
    for batch in 0..22 {
        let requests: Vec<Json> = (0..20).map(|item| patch(batch * 20 + item)).collect();
        let answer = session.write(
            "POST",
            "/v1.0/$batch",
            Some(&json!({ "requests": requests })),
        );
        assert_eq!(answer.status, 200);
        for item in answer.json()["responses"].as_array().unwrap() {
            statuses.push(item["status"].as_u64().unwrap());
            if item["status"] == 429 {
                let retry_after: f64 = item["headers"]["Retry-After"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry_after > 100.0 && retry_after <= 150.0, "{retry_after}");
                assert_eq!(item["body"]["error"]["code"], "TooManyRequests");
            }
        }
    }
    assert_eq!(
        statuses.iter().filter(|status| **status == 404).count(),
        428
    );
    assert_eq!(statuses.iter().filter(|status| **status == 429).count(), 12);
    let direct = session.write(
        "PATCH",
        &format!("/v1.0/groups/{ENG_PLATFORM}"),
        Some(&json!({ "members@odata.bind": twenty })),
    );
    assert_eq!(direct.status, 429);
    assert!(direct.header("Retry-After").is_some());
    assert!(
        direct
            .header("x-ms-throttle-scope")
            .unwrap()
            .starts_with("Tenant_Application/Write/")
    );
    // Reads have their own quota and still pass.
    assert_eq!(session.get("/v1.0/groups?$top=1", &[]).status, 200);
    let stats = emulator.stats();
    assert_eq!(stats["writesCharged"], 428 * 7);
}

#[test]
fn an_odata_cast_lists_members_of_one_type() {
    let (_dir, emulator) = demo_emulator(&[]);
    let session = sign_in(&emulator);
    let all = session
        .get(
            &format!("/v1.0/groups/{ENG_PLATFORM}/members?$top=999"),
            &[],
        )
        .json();
    let users = session
        .get(
            &format!("/v1.0/groups/{ENG_PLATFORM}/members/microsoft.graph.user"),
            &[],
        )
        .json();
    assert_eq!(
        users["@odata.context"],
        format!("{}/v1.0/$metadata#users", emulator.url())
    );
    let expected = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|member| member["@odata.type"] == "#microsoft.graph.user")
        .count();
    assert_eq!(users["value"].as_array().unwrap().len(), expected);
    // A cast with another query option is an advanced query.
    let target = format!("/v1.0/groups/{ENG_PLATFORM}/members/microsoft.graph.user?$select=id");
    assert_eq!(session.get(&target, &[]).error().2, "Unsupported Query.");
    assert_eq!(
        session
            .get(
                &format!("{target}&$count=true"),
                &[("ConsistencyLevel", "eventual")]
            )
            .status,
        200
    );
}
