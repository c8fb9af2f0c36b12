//! `bulkops directory pull`: a tenant copied through the Graph wire protocol
//! (from `bulkops emulate`, under throttling and injected faults) into a new
//! local directory holds the same objects and memberships, serves the same
//! downloads when it is emulated in turn, and a pull that is killed continues
//! where it stopped.

use std::path::Path;

use crate::emulator_support::{Emulator, FAULTS, SECRET_ENV, demo_database};
use crate::support::{Held, bulkops_env, membership_pairs};

const SECRET: (&str, &str) = (SECRET_ENV, "pull-test-secret");

/// Every row of every table of a local directory, for comparing end states.
fn contents(db: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(db).unwrap();
    let mut rows = Vec::new();
    for table in [
        "users",
        "groups",
        "devices",
        "service_principals",
        "memberships",
        "device_extension_attributes",
    ] {
        let mut statement = connection
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .unwrap();
        let width = statement.column_count();
        let mut query = statement.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let cells: Vec<String> = (0..width)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", cells.join("|")));
        }
    }
    rows
}

fn pull(dir: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["directory", "--db", "copy.db", "pull", "--profile", "emu"];
    args.extend(extra);
    bulkops_env(dir, &args, &[SECRET])
}

const DOWNLOADS: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata: { name: snapshot }
spec:
  directory: emu
  steps:
    - id: groups
      downloadGroups:
        output: groups.csv
        columns: [mailNickname, securityEnabled, mailEnabled, onPremisesSyncEnabled, createdDateTime, visibility, membershipRule]
    - id: all
      filterGroups:
        type: [security, microsoft365, distribution, mailEnabledSecurity]
    - id: members
      downloadMembers:
        groups: all
        combined: true
        memberTypes: [user, group, device, servicePrincipal]
        output: members.csv
        columns: [mail, userType, accountEnabled, department, jobTitle]
    - id: devices
      downloadDevices:
        output: devices.csv
";

/// The downloads of `DOWNLOADS` from an emulator serving `db`, in `dir`.
fn downloads(dir: &Path, db: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir).unwrap();
    let emulator = Emulator::start(db, &[]);
    emulator.write_profiles(dir, 1);
    std::fs::write(dir.join("m.yaml"), DOWNLOADS).unwrap();
    let run = bulkops_env(dir, &["apply", "m.yaml"], &[SECRET]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    ["groups.csv", "members.csv", "devices.csv"]
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(text.lines().count() > 3, "{file}: {text}");
            ((*file).to_owned(), text)
        })
        .collect()
}

#[test]
fn a_tenant_pulled_under_throttling_and_faults_serves_the_same_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let source = demo_database(dir.path());
    rusqlite::Connection::open(&source)
        .unwrap()
        .execute_batch(
            "INSERT INTO device_extension_attributes SELECT id, 1, 'BYOD-Device' FROM devices LIMIT 5;
             INSERT INTO device_extension_attributes SELECT id, 15, 'kiosk, \"hall\"' FROM devices LIMIT 3;",
        )
        .unwrap();
    let emulator = Emulator::start(&source, FAULTS);
    emulator.write_profiles(dir.path(), 100);
    let run = pull(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("  memberships              1102\n"),
        "{}",
        run.stdout
    );
    drop(emulator);
    let copy = dir.path().join("copy.db");
    assert_eq!(contents(&copy), contents(&source));
    assert_eq!(
        downloads(&dir.path().join("from-copy"), &copy),
        downloads(&dir.path().join("from-source"), &source)
    );
}

#[test]
fn a_killed_pull_continues_where_it_stopped_and_only_a_finished_pull_takes_the_name() {
    // Saved every 50 objects: kill points at the second save (service
    // principals) and in the middle of the memberships.
    let every = ("BULKOPS_PULL_SAVE_EVERY", "50");
    for point in ["pulled:2", "pulled:12"] {
        let dir = tempfile::tempdir().unwrap();
        let source = demo_database(dir.path());
        let emulator = Emulator::start(&source, &[]);
        emulator.write_profiles(dir.path(), 1);
        Held::start(
            dir.path(),
            &["directory", "--db", "copy.db", "pull", "--profile", "emu"],
            &[SECRET, every],
            point,
        )
        .kill();
        assert!(
            !dir.path().join("copy.db").exists(),
            "{point}: no directory yet"
        );
        let refused = bulkops_env(dir.path(), &["directory", "--db", "copy.db", "stats"], &[]);
        assert_ne!(refused.code, 0, "{point}: the half pull is not a directory");
        let init = bulkops_env(dir.path(), &["directory", "--db", "copy.db", "init"], &[]);
        assert_eq!(init.code, 64, "{point}: {}", init.stderr);
        assert!(
            init.stderr.contains("the pull has not finished"),
            "{point}: {}",
            init.stderr
        );
        let resumed = pull(dir.path(), &[]);
        assert_eq!(resumed.code, 0, "{point}: {}", resumed.stderr);
        assert!(
            resumed.stdout.contains("pulled (continued) in"),
            "{point}: {}",
            resumed.stdout
        );
        let copy = dir.path().join("copy.db");
        assert_eq!(contents(&copy), contents(&source), "{point}");
        assert_eq!(membership_pairs(&copy).len(), 1102);
        assert!(!dir.path().join("copy.db.pull").exists());
    }
}

#[test]
fn a_pull_refuses_an_existing_directory_a_second_pull_and_another_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let source = demo_database(dir.path());
    let emulator = Emulator::start(&source, &[]);
    emulator.write_profiles(dir.path(), 1);
    std::fs::copy(&source, dir.path().join("copy.db")).unwrap();
    let exists = pull(dir.path(), &[]);
    assert_eq!(exists.code, 64, "{}", exists.stderr);
    assert!(
        exists.stderr.contains("already exists"),
        "{}",
        exists.stderr
    );
    std::fs::remove_file(dir.path().join("copy.db")).unwrap();

    let held = Held::start(
        dir.path(),
        &["directory", "--db", "copy.db", "pull", "--profile", "emu"],
        &[SECRET],
        "pulled:1",
    );
    let second = pull(dir.path(), &[]);
    assert_eq!(second.code, 64, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another `bulkops directory pull` is filling"),
        "{}",
        second.stderr
    );
    held.kill();

    // The unfinished pull came from this emulator: another one (another
    // address) does not continue it.
    let other = Emulator::start(&source, &[]);
    other.write_profiles(dir.path(), 1);
    let foreign = pull(dir.path(), &[]);
    assert_eq!(foreign.code, 64, "{}", foreign.stderr);
    assert!(
        foreign.stderr.contains("holds an unfinished pull from"),
        "{}",
        foreign.stderr
    );
    drop(emulator);
}
