//! The Microsoft Graph directory against `bulkops emulate`, called directly:
//! each Graph answer becomes the documented row outcome, a failing bind
//! `PATCH` is split until the row at fault stands alone, and the requests are
//! as few as Graph allows.

use bulkops::directory::Directory;
use bulkops::directory::local::ResolvedMember;
use bulkops::directory::model::{Group, MemberType};
use bulkops::directory::outcome::RowOutcome;
use bulkops::manifest::target::GroupTargetSpec;
use bulkops::msgraph::client::GraphClient;
use bulkops::msgraph::directory::GraphDirectory;
use bulkops::msgraph::profile;

use crate::emulator_support::{Emulator, demo_database};
use crate::support::repo_path;

const ENG_PLATFORM: &str = "38925df8-4c93-4d64-b5f7-200b04f21830";
const ENG_DYNAMIC: &str = "3efc84ad-54f3-43d5-ba31-898523c5eb38";
const SALES_TEAM: &str = "8bfbf8e2-5c96-4640-805f-adfb2b3a724c";
const NESTOR: &str = "959575fe-0a73-4d03-b43a-2c9fbed3e91c";
const ALLAN: &str = "d67e4d92-8a83-4817-8d64-5fa6d13c513a";
const KIOSK_01: &str = "fc6e4db1-ab75-4c75-931b-0a277120bead";
const MISSING: &str = "00000000-0000-4000-8000-000000000000";

/// The demo tenant served by an emulator, and a Graph directory signed in with a certificate.
fn directory() -> (tempfile::TempDir, Emulator, GraphDirectory) {
    directory_with(|_| {}, &[])
}

/// [`directory`] with the database changed first and extra emulator arguments.
fn directory_with(
    change: impl FnOnce(&rusqlite::Connection),
    extra: &[&str],
) -> (tempfile::TempDir, Emulator, GraphDirectory) {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    change(&rusqlite::Connection::open(&db).unwrap());
    let emulator = Emulator::start(&db, extra);
    let fixture = |file: &str| {
        repo_path(&format!("tests/fixtures/graph/{file}"))
            .display()
            .to_string()
    };
    let text = format!(
        "profiles:\n  emu:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
         \x20   certificate: {{ key: \"{}\", certificate: \"{}\" }}\n    loginUrl: {url}\n    graphUrl: {url}\n",
        fixture("test-app.key.pem"),
        fixture("test-app.cert.pem"),
        url = emulator.url()
    );
    let profiles = profile::parse(&dir.path().join("bulkops.yaml"), &text).unwrap();
    let client = GraphClient::new(profiles["emu"].clone()).unwrap();
    (dir, emulator, GraphDirectory::new(client))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn member(id: &str, member_type: MemberType) -> ResolvedMember {
    ResolvedMember {
        id: id.to_owned(),
        member_type,
        unified_group: false,
    }
}

async fn group(directory: &GraphDirectory, id: &str) -> Group {
    directory
        .find_groups(&GroupTargetSpec::Id(id.to_owned()))
        .await
        .unwrap()
        .remove(0)
}

fn patches(emulator: &Emulator) -> Vec<(u64, u64)> {
    let stats = emulator.stats();
    let mut found: Vec<(u64, u64)> = stats["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["method"] == "PATCH" && row["batched"] == true)
        .map(|row| {
            (
                row["status"].as_u64().unwrap(),
                row["count"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort_unstable();
    found
}

#[test]
fn each_answer_becomes_the_rows_outcome() {
    let (_dir, emulator, directory) = directory();
    runtime().block_on(async {
        let platform = group(&directory, ENG_PLATFORM).await;
        // Rows planned as adds: one new, one deleted since (never existed), one added meanwhile.
        let outcomes = directory
            .add_members(
                &platform,
                &[
                    member(ALLAN, MemberType::User),
                    member(MISSING, MemberType::User),
                    member(NESTOR, MemberType::User),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [
                RowOutcome::Added,
                RowOutcome::NotFound,
                RowOutcome::AlreadyMember
            ]
        );
        // All or nothing: the PATCH of three failed, its halves were tried,
        // and the failing half again, until each row stood alone.
        let tried = patches(&emulator);
        assert_eq!(
            tried
                .iter()
                .filter(|(status, _)| *status == 204)
                .map(|(_, count)| count)
                .sum::<u64>(),
            1,
            "{tried:?}"
        );

        let outcomes = directory
            .remove_members(&platform, &[ALLAN, MISSING])
            .await
            .unwrap();
        assert_eq!(outcomes, [RowOutcome::Removed, RowOutcome::NotMember]);

        let dynamic = group(&directory, ENG_DYNAMIC).await;
        let outcomes = directory
            .add_members(&dynamic, &[member(ALLAN, MemberType::User)])
            .await
            .unwrap();
        assert_eq!(outcomes, [RowOutcome::DynamicMembership]);

        let sales = group(&directory, SALES_TEAM).await;
        let outcomes = directory
            .add_members(&sales, &[member(KIOSK_01, MemberType::Device)])
            .await
            .unwrap();
        assert_eq!(outcomes, [RowOutcome::UnsupportedMemberType]);
    });
}

#[test]
fn members_resolve_in_few_requests() {
    let (_dir, emulator, directory) = directory();
    runtime().block_on(async {
        use bulkops::bulkcsv::members::MemberKey;
        let keys = [
            MemberKey::ObjectId(NESTOR.to_owned()),
            MemberKey::ObjectId(MISSING.to_owned()),
            MemberKey::Upn("allan.moreau@contoso.example".to_owned()),
            MemberKey::Upn("ines.duarte_fabrikam_example#EXT#@contoso.example".to_owned()),
            MemberKey::Upn("$nobody@contoso.example".to_owned()),
            MemberKey::ObjectId(KIOSK_01.to_owned()),
        ];
        let found = directory
            .resolve_for_group(ENG_PLATFORM, &keys)
            .await
            .unwrap();
        let summary: Vec<Option<(MemberType, bool)>> = found
            .iter()
            .map(|entry| {
                entry
                    .as_ref()
                    .map(|(member, is_member)| (member.member_type, *is_member))
            })
            .collect();
        assert_eq!(
            summary,
            [
                Some((MemberType::User, true)),
                None,
                Some((MemberType::User, false)),
                Some((MemberType::User, false)),
                None,
                Some((MemberType::Device, false)),
            ]
        );
        assert_eq!(found[2].as_ref().unwrap().0.id, ALLAN);
    });
    let stats = emulator.stats();
    // A token, one getByIds, two member reads (the list, and the service
    // principals it leaves out), one $batch of user lookups.
    assert_eq!(stats["httpRequests"], 5, "{stats}");
}

#[test]
fn service_principals_the_member_list_leaves_out_are_read_through_the_type_cast() {
    const PLATFORM_APP: &str = "dcdce45a-5c7a-42fb-acdc-4867a90c69c2";
    let (_dir, emulator, directory) = directory();
    // As v1.0 does, the plain list leaves the service principal out.
    let answer = crate::wire::sign_in(&emulator).get(
        &format!("/v1.0/groups/{ENG_PLATFORM}/members?$select=id&$top=999"),
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let plain: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let listed: Vec<&str> = plain["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["id"].as_str())
        .collect();
    assert!(!listed.contains(&PLATFORM_APP), "{plain}");
    runtime().block_on(async {
        let mut seen = Vec::new();
        directory
            .for_each_member(ENG_PLATFORM, &mut |member| {
                seen.push((member.id, member.member_type));
                Ok(())
            })
            .await
            .unwrap();
        assert!(
            seen.contains(&(PLATFORM_APP.to_owned(), MemberType::ServicePrincipal)),
            "{seen:?}"
        );
        assert_eq!(
            directory.member_count(ENG_PLATFORM).await.unwrap(),
            u64::try_from(listed.len() + 1).unwrap()
        );
        let keys = [bulkops::bulkcsv::members::MemberKey::ObjectId(
            PLATFORM_APP.to_owned(),
        )];
        let found = directory
            .resolve_for_group(ENG_PLATFORM, &keys)
            .await
            .unwrap();
        assert_eq!(
            found[0]
                .as_ref()
                .map(|(member, is_member)| (member.member_type, *is_member)),
            Some((MemberType::ServicePrincipal, true)),
            "an authoritative sync neither removes nor adds it again"
        );
    });
}

#[test]
fn writes_to_a_group_graph_has_not_replicated_yet_are_retried() {
    let just_created = |connection: &rusqlite::Connection| {
        let now = jiff::Timestamp::now().to_string();
        connection
            .execute(
                "UPDATE groups SET created_date_time = ?1 WHERE id = ?2",
                [now.as_str(), ENG_PLATFORM],
            )
            .unwrap();
    };
    let (_dir, emulator, directory) = directory_with(just_created, &["--replication-lag", "300ms"]);
    runtime().block_on(async {
        let platform = group(&directory, ENG_PLATFORM).await;
        let outcomes = directory
            .add_members(&platform, &[member(ALLAN, MemberType::User)])
            .await
            .unwrap();
        assert_eq!(outcomes, [RowOutcome::Added]);
    });
    let tried = patches(&emulator);
    assert!(
        tried.contains(&(400, 1)) || tried.iter().any(|(status, _)| *status == 400),
        "{tried:?}"
    );
    assert!(tried.contains(&(204, 1)), "{tried:?}");
}
