//! The same workflows against the local directory and against Microsoft Graph
//! as `bulkops emulate` serves it, over real HTTP, with and without injected
//! faults (10% 429, 2% 503, 20 ms latency, 1% dropped connections, Graph's
//! quotas): the directory's end state, the job records, and every file written
//! must be the same. No row may be lost or applied twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulkops::directory::local::user_id;
use bulkops::store::JobStore;

use crate::apply::{outcomes_dir, quickstart_dir};
use crate::devices::RETIRE_KIOSKS;
use crate::downloads::DOWNLOADS;
use crate::emulator_support::{Emulator, FAULTS, SECRET_ENV};
use crate::support::{bulkops_env, copy_tree};

/// Where a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Local,
    Emulator,
    EmulatorWithFaults,
    /// Three connections in ten dropped, before or after the request is carried out.
    Dropping,
}

/// A workflow folder, and how its directory is made.
struct Scenario {
    dir: tempfile::TempDir,
    manifest: &'static str,
    /// `directory generate` arguments; the demo tenant when `None`.
    generate: Option<&'static [&'static str]>,
}

/// Everything a run leaves behind that parity compares.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: i32,
    memberships: Vec<(String, String)>,
    devices: Vec<(String, bool)>,
    jobs: Vec<String>,
    files: BTreeMap<String, String>,
}

const DATABASE: &str = "directory.db";

fn point_at_emulator(manifest: &Path) {
    let text = std::fs::read_to_string(manifest).unwrap();
    let text = if text.contains("directory: local") {
        text.replace("directory: local", "directory: emu")
    } else {
        text.replacen("spec:\n", "spec:\n  directory: emu\n", 1)
    };
    std::fs::write(manifest, text).unwrap();
}

fn run(scenario: &Scenario, target: Target) -> Outcome {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    copy_tree(scenario.dir.path(), dir);
    let db = dir.join(DATABASE);
    let db_arg = db.to_str().unwrap();
    let made = match scenario.generate {
        Some(args) => {
            let mut all = vec!["directory", "--db", db_arg, "generate"];
            all.extend_from_slice(args);
            bulkops_env(dir, &all, &[])
        }
        None => bulkops_env(dir, &["directory", "--db", db_arg, "init"], &[]),
    };
    assert_eq!(made.code, 0, "{}", made.stderr);
    let emulator = (target != Target::Local).then(|| {
        let faults: &[&str] = match target {
            Target::EmulatorWithFaults => FAULTS,
            Target::Dropping => &["--drop-rate", "0.3", "--time-scale", "100"],
            Target::Local | Target::Emulator => &[],
        };
        let emulator = Emulator::start(&db, faults);
        emulator.write_profiles(dir, 100);
        point_at_emulator(&dir.join(scenario.manifest));
        emulator
    });
    let applied = bulkops_env(
        dir,
        &[
            "apply",
            scenario.manifest,
            "--db",
            db_arg,
            "--profiles",
            "bulkops.yaml",
        ],
        &[(SECRET_ENV, "emulated-secret")],
    );
    assert!(
        applied.code == 0 || applied.code == 1,
        "{target:?}: {}\n{}",
        applied.stdout,
        applied.stderr
    );
    if let Some(emulator) = &emulator {
        let stats = emulator.stats();
        assert_eq!(
            stats["requests"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|row| row["status"] == 500)
                .count(),
            0,
            "{stats}"
        );
        if target == Target::Dropping {
            // At 30%, dozens of requests cannot all pass.
            assert!(stats["droppedConnections"].as_u64().unwrap() > 0, "{stats}");
        }
        if target == Target::EmulatorWithFaults && stats["httpRequests"].as_u64().unwrap() >= 100 {
            // Enough requests that the injected faults were certainly met.
            assert!(stats["throttled"].as_u64().unwrap() > 0, "{stats}");
        }
        eprintln!(
            "{target:?}: {} HTTP requests, {} batched, {} throttled, {} dropped",
            stats["httpRequests"],
            stats["batchedRequests"],
            stats["throttled"],
            stats["droppedConnections"]
        );
    }
    drop(emulator);
    outcome(dir, &db, applied.code)
}

fn outcome(dir: &Path, db: &Path, code: i32) -> Outcome {
    let memberships = crate::support::membership_pairs(db);
    let devices = crate::support::device_states(db);
    let mut jobs: Vec<String> = JobStore::open(&dir.join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()
        .into_iter()
        .map(|job| {
            format!(
                "{} {:?} {:?} {:?} {:?} total={} ok={} failed={} changed={}",
                job.step,
                job.operation,
                job.target_name,
                job.status,
                job.reason,
                job.total,
                job.succeeded,
                job.failed,
                job.changed
            )
        })
        .collect();
    jobs.sort();
    Outcome {
        code,
        memberships,
        devices,
        jobs,
        files: written_files(dir),
    }
}

/// Every file a run wrote, by path with the run id replaced.
fn written_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if name.starts_with(".bulkops")
                || name.starts_with(DATABASE)
                || Path::new(&name)
                    .extension()
                    .is_some_and(|extension| extension.eq_ignore_ascii_case("yaml"))
            {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                let key = match name.strip_prefix("results/") {
                    Some(rest) => format!(
                        "results/RUN/{}",
                        rest.split_once('/').map_or(rest, |(_, file)| file)
                    ),
                    None => name,
                };
                files.insert(key, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

fn assert_parity(scenario: &Scenario) {
    let local = run(scenario, Target::Local);
    assert!(!local.files.is_empty());
    let emulated = run(scenario, Target::Emulator);
    assert_eq!(local, emulated, "local directory and Graph emulator differ");
    let faulty = run(scenario, Target::EmulatorWithFaults);
    assert_eq!(
        local, faulty,
        "local directory and Graph emulator with faults differ"
    );
}

fn folder_with(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), text).unwrap();
    dir
}

#[test]
fn the_quickstart_is_the_same_through_graph() {
    assert_parity(&Scenario {
        dir: quickstart_dir(),
        manifest: "manifests/quickstart.yaml",
        generate: None,
    });
}

#[test]
fn dropped_connections_lose_and_repeat_nothing() {
    let scenario = Scenario {
        dir: quickstart_dir(),
        manifest: "manifests/quickstart.yaml",
        generate: None,
    };
    assert_eq!(
        run(&scenario, Target::Local),
        run(&scenario, Target::Dropping)
    );
}

#[test]
fn every_row_outcome_is_the_same_through_graph() {
    assert_parity(&Scenario {
        dir: outcomes_dir(),
        manifest: "outcomes.yaml",
        generate: None,
    });
}

#[test]
fn downloads_are_the_same_through_graph() {
    assert_parity(&Scenario {
        dir: folder_with("downloads.yaml", DOWNLOADS),
        manifest: "downloads.yaml",
        generate: None,
    });
}

#[test]
fn device_steps_are_the_same_through_graph() {
    assert_parity(&Scenario {
        dir: folder_with("retire.yaml", RETIRE_KIOSKS),
        manifest: "retire.yaml",
        generate: None,
    });
}

const LARGE: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: large
spec:
  guards:
    maxRemovals: 5000
  steps:
    - id: before
      downloadMembers:
        groups:
          - displayName: group-00002
        output: before.csv
    - id: add
      importMembers:
        group: { displayName: group-00000 }
        input: add.csv
        results: added.csv
    - id: remove
      removeMembers:
        group: { displayName: group-00001 }
        input: remove.csv
        results: removed.csv
    - id: after
      needs: [add, remove]
      downloadMembers:
        groups:
          - displayName: group-00000
          - displayName: group-00001
        output: \"after-{{group.displayName}}.csv\"
";

/// Pages of 999, `getByIds` in thousands, bind `PATCH`es split after faults.
#[test]
fn a_large_import_and_removal_are_the_same_through_graph() {
    let dir = folder_with("large.yaml", LARGE);
    let ids = |range: std::ops::Range<u64>| {
        range
            .map(|index| user_id(1, index))
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(
        dir.path().join("add.csv"),
        format!("ObjectId\n{}\n", ids(0..2_500)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("remove.csv"),
        format!("ObjectId\n{}\n", ids(500..3_000)),
    )
    .unwrap();
    assert_parity(&Scenario {
        dir,
        manifest: "large.yaml",
        generate: Some(&[
            "--users",
            "3000",
            "--groups",
            "4",
            "--devices",
            "10",
            "--members",
            "1500",
            "--seed",
            "1",
        ]),
    });
}

/// A Graph import killed in the middle, under faults, and resumed ends as an
/// uninterrupted local import does: no row lost, none applied twice.
#[test]
fn a_killed_graph_import_resumes_to_the_local_end_state() {
    use crate::resume::{USERS, group_members, job_counts, kill_after_chunks, prepare};

    let chunk_rows = ("BULKOPS_CHUNK_ROWS", "5000");
    // Object ids resolve 1,000 per request; a few rows fail.
    let mut list = String::from("ObjectId\n");
    for index in 0..USERS {
        list.push_str(&user_id(5, index));
        list.push('\n');
        if index % 5_000 == 7 {
            list.push_str("not-an-id\n00000000-0000-4000-8000-000000000000\n");
        }
    }
    let prepare = |dir: &Path| {
        prepare(dir);
        std::fs::write(dir.join("members.csv"), &list).unwrap();
    };
    let local = tempfile::tempdir().unwrap();
    prepare(local.path());
    let whole = bulkops_env(local.path(), &["apply", "m.yaml"], &[chunk_rows]);
    assert_eq!(whole.code, 1, "the list has bad rows: {}", whole.stderr);

    let graph = tempfile::tempdir().unwrap();
    prepare(graph.path());
    point_at_emulator(&graph.path().join("m.yaml"));
    let emulator = Emulator::start(&graph.path().join(".bulkops/directory.db"), FAULTS);
    emulator.write_profiles(graph.path(), 100);
    let env = [(SECRET_ENV, "emulated-secret"), chunk_rows];
    kill_after_chunks(graph.path(), 2, &env);
    let partial = group_members(graph.path());
    assert!(
        partial > 0 && partial < USERS,
        "killed in the middle: {partial} members"
    );
    let run_id = JobStore::open(&graph.path().join(".bulkops/state.db"))
        .unwrap()
        .jobs()
        .unwrap()[0]
        .run_id
        .clone();
    let resumed = bulkops_env(graph.path(), &["apply", "--resume", &run_id], &env);
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);

    assert_eq!(group_members(graph.path()), USERS);
    assert_eq!(job_counts(graph.path()), job_counts(local.path()));
    let graph_results = std::fs::read(graph.path().join("results.csv")).unwrap();
    let local_results = std::fs::read(local.path().join("results.csv")).unwrap();
    assert!(graph_results == local_results, "the result files differ");
    let stats = emulator.stats();
    assert!(stats["throttled"].as_u64().unwrap() > 0, "{stats}");
}

/// Authoritative syncs of groups with a service principal among their
/// members: one list leaves it out (so the sync removes it, which Graph can
/// do only if it reads the members v1.0's list leaves out), one lists it.
const SYNCS: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: sync-parity
spec:
  guards: { maxRemovals: 1000 }
  steps:
    - id: platform
      syncMembers:
        group: { displayName: eng-platform }
        input: platform.csv
        mode: authoritative
        results: results/platform.csv
    - id: crm
      syncMembers:
        group: { displayName: App - CRM }
        members: [28c2dc83-50c3-45b4-bb5e-0da8a518cd3a, zoe.rossi@contoso.example]
        mode: authoritative
        results: results/crm.csv
";

#[test]
fn authoritative_syncs_see_service_principals_through_graph() {
    let dir = folder_with("syncs.yaml", SYNCS);
    std::fs::write(
        dir.path().join("platform.csv"),
        "userPrincipalName\npatti.garcia@contoso.example\ntariq.berg@contoso.example\nzoe.rossi@contoso.example\n",
    )
    .unwrap();
    let scenario = Scenario {
        dir,
        manifest: "syncs.yaml",
        generate: None,
    };
    let local = run(&scenario, Target::Local);
    assert_eq!(local.code, 0, "{local:?}");
    let platform: Vec<&(String, String)> = local
        .memberships
        .iter()
        .filter(|(group, _)| group == "38925df8-4c93-4d64-b5f7-200b04f21830")
        .collect();
    assert_eq!(
        platform.len(),
        3,
        "the service principal was removed too: {platform:?}"
    );
    let emulated = run(&scenario, Target::Emulator);
    assert_eq!(local, emulated, "local directory and Graph emulator differ");
}
