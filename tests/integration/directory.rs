//! The local directory: created from the demo tenant, from a folder of CSV
//! files, or generated; its end state checked through the binary and the library.

use crate::support::bulkops_in;
use bulkops::directory::filter::group_matches;
use bulkops::directory::local::LocalDirectory;
use bulkops::manifest::filter::{FilterGroupsSpec, GroupTypeSpec, MembershipSpec, TextMatchSpec};
use bulkops::manifest::target::OneOrMany;

const DEMO_STATS: &str = "  users                     200
  groups                     38
  devices                   100
  service principals          3
  memberships              1102
";

#[test]
fn the_demo_tenant_is_created_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let run = bulkops_in(dir.path(), &["directory", "stats"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("local directory `.bulkops/directory.db`\n{DEMO_STATS}")
    );
    assert!(dir.path().join(".bulkops/directory.db").is_file());
}

#[test]
fn init_refuses_to_replace_without_force() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    let run = bulkops_in(dir.path(), &["directory", "init"]);
    assert_eq!(run.code, 64);
    assert!(
        run.stderr
            .contains("`.bulkops/directory.db` already exists"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("add `--force` to replace it"),
        "{}",
        run.stderr
    );
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--force"]).code,
        0
    );
}

/// Loads the tenant folder again over the same database.
const REINIT: [&str; 7] = [
    "directory",
    "init",
    "--from",
    "tenant",
    "--db",
    "d.db",
    "--force",
];

#[test]
fn init_reads_a_tenant_folder_and_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = crate::support::demo_tenant_copy(dir.path());
    let run = bulkops_in(
        dir.path(),
        &["directory", "init", "--from", "tenant", "--db", "d.db"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.ends_with(DEMO_STATS), "{}", run.stdout);

    let groups = std::fs::read_to_string(tenant.join("groups.csv")).unwrap();
    let broken = groups.replacen(",false,eng-data,true,", ",maybe,eng-data,true,", 1);
    std::fs::write(tenant.join("groups.csv"), broken).unwrap();
    let run = bulkops_in(dir.path(), &REINIT);
    assert_eq!(run.code, 65, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("groups.csv, line 3: `mailEnabled` is `maybe`, not `true` or `false`"),
        "{}",
        run.stderr
    );

    std::fs::remove_file(tenant.join("devices.csv")).unwrap();
    let run = bulkops_in(dir.path(), &REINIT);
    assert_eq!(run.code, 66, "{}", run.stderr);
    assert!(
        run.stderr.contains("devices.csv` is missing"),
        "{}",
        run.stderr
    );
}

#[test]
fn generate_makes_a_directory_of_the_requested_size() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "directory",
        "generate",
        "--db",
        "g.db",
        "--users",
        "5000",
        "--groups",
        "12",
        "--devices",
        "30",
        "--members",
        "700",
        "--seed",
        "9",
    ];
    let run = bulkops_in(dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "local directory `g.db`
  users                    5000
  groups                     12
  devices                    30
  service principals          0
  memberships              8400
"
    );
    let directory = LocalDirectory::open(&dir.path().join("g.db")).unwrap();
    let groups = directory.groups().unwrap();
    assert_eq!(groups.iter().filter(|g| g.is_unified()).count(), 2);
    assert_eq!(groups.iter().filter(|g| g.is_dynamic()).count(), 1);
    assert_eq!(directory.member_count(&groups[0].id).unwrap(), 700);
}

#[test]
fn demo_groups_are_selected_by_filter_criteria() {
    let dir = tempfile::tempdir().unwrap();
    let directory = LocalDirectory::open(&dir.path().join("d.db")).unwrap();
    let now = "2026-11-27T00:00:00Z".parse().unwrap();
    let engineering = FilterGroupsSpec {
        display_name: Some(TextMatchSpec {
            starts_with: Some("eng-".into()),
            ..Default::default()
        }),
        group_type: Some(OneOrMany(vec![GroupTypeSpec::Security])),
        membership: Some(MembershipSpec::Assigned),
        ..Default::default()
    };
    let names: Vec<String> = directory
        .groups()
        .unwrap()
        .into_iter()
        .filter(|group| group_matches(&engineering, group, now))
        .map(|group| group.display_name)
        .collect();
    assert_eq!(
        names,
        [
            "eng-all",
            "eng-contractors",
            "eng-data",
            "eng-mobile",
            "eng-platform",
            "eng-security",
            "eng-sre",
            "eng-web"
        ]
    );
    let microsoft365 = FilterGroupsSpec {
        group_type: Some(OneOrMany(vec![GroupTypeSpec::Microsoft365])),
        ..Default::default()
    };
    let count = directory
        .groups()
        .unwrap()
        .iter()
        .filter(|g| group_matches(&microsoft365, g, now))
        .count();
    assert_eq!(count, 6);
}

#[test]
fn members_are_streamed_with_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let directory = LocalDirectory::open(&dir.path().join("d.db")).unwrap();
    let platform = directory
        .groups()
        .unwrap()
        .into_iter()
        .find(|g| g.display_name == "eng-platform")
        .unwrap();
    let mut members = Vec::new();
    directory
        .for_each_member(&platform.id, |member| {
            members.push(member);
            Ok::<(), bulkops::directory::local::LocalError>(())
        })
        .unwrap();
    assert_eq!(
        members.len() as u64,
        directory.member_count(&platform.id).unwrap()
    );
    let service_principals: Vec<&str> = members
        .iter()
        .filter(|m| m.member_type == bulkops::directory::model::MemberType::ServicePrincipal)
        .map(|m| m.display_name.as_str())
        .collect();
    assert_eq!(service_principals, ["Build Pipeline"]);
    assert!(
        members
            .iter()
            .filter(|m| m.user_principal_name.is_some())
            .all(|m| m.display_name.contains(' '))
    );
}
