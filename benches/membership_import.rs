//! Benchmark: import 1,000,000 member ids (the admin center's template) into
//! one group of a generated local directory, then download that group to CSV;
//! each beside its floor, measured in the same run: `sqlite3`'s `.import` of the
//! same ids into an equivalent table (same primary key and index, and the
//! same SQLite settings as bulkops' directory: WAL, cache, memory map,
//! checkpoints), and `sqlite3 -csv` of the same rows.
//!
//! ```sh
//! cargo bench --bench membership_import
//! ```
//!
//! Needs the `sqlite3` command and GNU `time` (`/usr/bin/time`) for peak RSS.
//! The goals: the import within 2x of its floor, with peak RSS under 100 MB.
//!
//! With `BULKOPS_TEST_PG` naming a PostgreSQL server (`bash .ci/postgres
//! start` prints one), each import run is measured a second time with the job
//! store (journal, jobs, files) in a new database on that server, beside the
//! same run on the SQLite store.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use bulkops::directory::local::{LocalDirectory, user_id};

#[path = "support/one_group.rs"]
mod one_group;

const MEMBERS: u64 = 1_000_000;
const SEED: u64 = 11;
const RUNS: usize = 3;

const IMPORT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bench-import
spec:
  steps:
    - id: import
      importMembers:
        group: { displayName: group-00000 }
        input: members.csv
        results: results.csv
";

const DOWNLOAD: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bench-download
spec:
  steps:
    - id: download
      downloadMembers:
        groups:
          - displayName: group-00000
        output: download.csv
        overwrite: true
";

const FLOOR_SCHEMA: &str = "CREATE TABLE memberships (group_id TEXT NOT NULL, member_id TEXT NOT NULL, \
     member_type TEXT NOT NULL, PRIMARY KEY (group_id, member_id)) WITHOUT ROWID; \
     CREATE INDEX memberships_member ON memberships (member_id);";

/// Wall time in seconds and peak RSS in MB of one command.
fn measure(dir: &Path, program: &str, args: &[&str], stdout: Option<&str>) -> (f64, f64) {
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-f")
        .arg("%e %M")
        .arg(program)
        .args(args)
        .current_dir(dir);
    if let Some(file) = stdout {
        command.stdout(std::fs::File::create(dir.join(file)).expect("an output file"));
    } else {
        command.stdout(std::process::Stdio::null());
    }
    let output = command.output().expect("GNU time runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace();
    let seconds: f64 = fields
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(f64::NAN);
    let kilobytes: f64 = fields
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(f64::NAN);
    (seconds, kilobytes / 1024.0)
}

/// The same import with its job store in a new database of the server
/// `BULKOPS_TEST_PG` names, beside the SQLite store's time `on_sqlite`.
fn import_on_postgres(path: &Path, bulkops: &str, run: usize, on_sqlite: f64, group: &str) {
    let database = bulkops::store::testing::scratch_database();
    std::fs::copy(path.join("pristine.db"), path.join("directory-pg.db"))
        .expect("a fresh directory");
    let _ = std::fs::remove_file(path.join("results.csv"));
    let args = [
        "apply",
        "import.yaml",
        "--db",
        "directory-pg.db",
        "--state",
        database.url.as_str(),
    ];
    let (shared, shared_rss) = measure(path, bulkops, &args, None);
    let imported = LocalDirectory::open(&path.join("directory-pg.db"))
        .expect("the directory")
        .member_count(group)
        .expect("a count");
    assert_eq!(
        imported, MEMBERS,
        "every id was imported with the store on PostgreSQL"
    );
    println!(
        "import   run {run}, job store on PostgreSQL: bulkops {shared:.2} s, peak RSS {shared_rss:.0} MB; ratio to the SQLite store {:.2}",
        shared / on_sqlite
    );
}

fn main() {
    let bulkops = env!("CARGO_BIN_EXE_bulkops");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path();
    let group = one_group::pristine_directory(path, MEMBERS, SEED);
    let mut list =
        String::from("Member object ID or user principal name [memberObjectIdOrUpn] Required\n");
    let mut floor = String::new();
    for index in 0..MEMBERS {
        let id = user_id(SEED, index);
        let _ = writeln!(list, "{id}");
        let _ = writeln!(floor, "{},{id},user", group.id);
    }
    std::fs::write(path.join("members.csv"), list).expect("the member list");
    std::fs::write(path.join("floor.csv"), floor).expect("the floor input");
    std::fs::write(path.join("import.yaml"), IMPORT).expect("a manifest");
    std::fs::write(path.join("download.yaml"), DOWNLOAD).expect("a manifest");
    println!(
        "{MEMBERS} member ids into one group of a directory of {MEMBERS} users; {RUNS} runs each"
    );

    for run in 1..=RUNS {
        std::fs::copy(path.join("pristine.db"), path.join("directory.db"))
            .expect("a fresh directory");
        for stale in [
            "state.db",
            "state.db-wal",
            "state.db-shm",
            "directory.db-wal",
            "directory.db-shm",
            "floor.db",
            "floor.db-wal",
            "floor.db-shm",
        ] {
            let _ = std::fs::remove_file(path.join(stale));
        }
        let args = [
            "apply",
            "import.yaml",
            "--db",
            "directory.db",
            "--state",
            "state.db",
        ];
        let (ours, ours_rss) = measure(path, bulkops, &args, None);
        let settings = bulkops::directory::local::SETTINGS.pragmas();
        let floor_args = [
            "floor.db",
            settings.as_str(),
            FLOOR_SCHEMA,
            ".mode csv",
            ".import floor.csv memberships",
        ];
        let (floor, floor_rss) = measure(path, "sqlite3", &floor_args, None);
        println!(
            "import   run {run}: bulkops {ours:.2} s, peak RSS {ours_rss:.0} MB; sqlite3 .import {floor:.2} s, {floor_rss:.0} MB; ratio {:.2}",
            ours / floor
        );
        if std::env::var_os("BULKOPS_TEST_PG").is_some() {
            import_on_postgres(path, bulkops, run, ours, &group.id);
        }
    }
    let members = LocalDirectory::open(&path.join("directory.db"))
        .expect("the directory")
        .member_count(&group.id)
        .expect("a count");
    assert_eq!(members, MEMBERS, "every id was imported");

    let query = format!(
        "SELECT m.member_id AS 'Object ID', u.user_principal_name AS 'User principal name', \
         u.display_name AS 'Display name', 'User' AS 'Member type' FROM memberships m JOIN users u ON u.id = m.member_id \
         WHERE m.group_id = '{}' ORDER BY m.member_type, u.display_name COLLATE NOCASE, m.member_id",
        group.id
    );
    for run in 1..=RUNS {
        let args = [
            "apply",
            "download.yaml",
            "--db",
            "directory.db",
            "--state",
            "state.db",
        ];
        let (ours, ours_rss) = measure(path, bulkops, &args, None);
        let (floor, floor_rss) = measure(
            path,
            "sqlite3",
            &["-csv", "-header", "directory.db", &query],
            Some("floor-download.csv"),
        );
        println!(
            "download run {run}: bulkops {ours:.2} s, peak RSS {ours_rss:.0} MB; sqlite3 -csv {floor:.2} s, {floor_rss:.0} MB; ratio {:.2}",
            ours / floor
        );
    }
    let rows = std::fs::read_to_string(path.join("download.csv"))
        .expect("the download")
        .lines()
        .count();
    assert_eq!(rows as u64, MEMBERS + 1, "a header and every member");
}
