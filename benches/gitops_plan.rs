//! Benchmark: a saved plan of a 100,000-member authoritative sync on the
//! local directory — 50,000 additions and 50,000 removals — made with
//! `bulkops plan --out` and carried out with `bulkops apply plan.json`; time,
//! peak RSS and the plan file's size, beside the same sync applied straight
//! from the manifest in the same run.
//!
//! ```sh
//! cargo bench --bench gitops_plan
//! ```
//!
//! Needs GNU `time` (`/usr/bin/time`) for peak RSS.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use bulkops::directory::local::user_id;

#[path = "support/one_group.rs"]
mod one_group;

/// Members the group has before, and members the list names.
const MEMBERS: u64 = 100_000;
/// Users in the directory: the members, and the half the list adds.
const USERS: u64 = MEMBERS + MEMBERS / 2;
const SEED: u64 = 7;
const RUNS: usize = 3;

fn manifest(group: &str) -> String {
    format!(
        "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bench-sync
spec:
  guards: {{ maxRemovals: \"60%\" }}
  steps:
    - id: sync
      syncMembers:
        group: {{ id: {group} }}
        input: members.csv
        mode: authoritative
        results: results.csv
        overwrite: true
"
    )
}

/// Wall time in seconds and peak RSS in MB of one command.
fn measure(dir: &Path, program: &str, args: &[&str]) -> (f64, f64) {
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .output()
        .expect("GNU time runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program} {args:?}: {stderr}");
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

/// The first `MEMBERS` users made members of the group.
fn fill(path: &Path, group: &str) {
    let mut connection = rusqlite::Connection::open(path).expect("the directory opens");
    let transaction = connection.transaction().expect("a transaction");
    {
        let mut insert = transaction
            .prepare("INSERT INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, 'user')")
            .expect("an insert");
        for index in 0..MEMBERS {
            insert
                .execute([group, &user_id(SEED, index)])
                .expect("a membership");
        }
    }
    transaction.commit().expect("committed");
}

fn fresh(path: &Path) {
    std::fs::copy(path.join("pristine.db"), path.join("directory.db")).expect("a fresh directory");
    for stale in [
        "state.db",
        "state.db-wal",
        "state.db-shm",
        "directory.db-wal",
        "directory.db-shm",
        "plan.json",
    ] {
        let _ = std::fs::remove_file(path.join(stale));
    }
}

fn main() {
    let bulkops = env!("CARGO_BIN_EXE_bulkops");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path();
    let group = one_group::pristine_directory(path, USERS, SEED);
    fill(&path.join("pristine.db"), &group.id);
    // The list keeps the second half of the members and adds as many new users.
    let mut list = String::from("memberObjectIdOrUpn\n");
    for index in MEMBERS / 2..USERS {
        let _ = writeln!(list, "{}", user_id(SEED, index));
    }
    std::fs::write(path.join("members.csv"), list).expect("the member list");
    std::fs::write(path.join("sync.yaml"), manifest(&group.id)).expect("a manifest");
    println!(
        "authoritative sync of one group: {MEMBERS} members before, a list of {MEMBERS} (50,000 kept, 50,000 added, 50,000 removed); {RUNS} runs each"
    );
    let stores = ["--db", "directory.db", "--state", "state.db"];
    for run in 1..=RUNS {
        fresh(path);
        let plan: Vec<&str> = ["plan", "sync.yaml", "--out", "plan.json"]
            .into_iter()
            .chain(stores)
            .collect();
        let (plan_seconds, plan_rss) = measure(path, bulkops, &plan);
        let size = std::fs::metadata(path.join("plan.json"))
            .expect("a plan file")
            .len();
        let apply: Vec<&str> = ["apply", "plan.json"].into_iter().chain(stores).collect();
        let (apply_seconds, apply_rss) = measure(path, bulkops, &apply);
        let after = members_of(&path.join("directory.db"), &group.id);
        assert_eq!(after, MEMBERS, "the group ends with the list's members");
        fresh(path);
        let direct: Vec<&str> = ["apply", "sync.yaml"].into_iter().chain(stores).collect();
        let (direct_seconds, direct_rss) = measure(path, bulkops, &direct);
        println!(
            "run {run}: plan --out {plan_seconds:.2} s, peak RSS {plan_rss:.0} MB, plan file {:.1} MB; \
             apply plan.json {apply_seconds:.2} s, peak RSS {apply_rss:.0} MB; \
             reference apply sync.yaml {direct_seconds:.2} s, peak RSS {direct_rss:.0} MB",
            f64::from(u32::try_from(size / 1024).unwrap_or(u32::MAX)) / 1024.0
        );
    }
}

fn members_of(db: &Path, group: &str) -> u64 {
    let count: i64 = rusqlite::Connection::open(db)
        .expect("the directory opens")
        .query_row(
            "SELECT count(*) FROM memberships WHERE group_id = ?1",
            [group],
            |row| row.get(0),
        )
        .expect("a count");
    count.unsigned_abs()
}
