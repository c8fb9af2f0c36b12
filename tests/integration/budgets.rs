//! Tenant budgets shared in PostgreSQL: four workers importing into four
//! groups of one tenant at once, against `bulkops emulate --throttle graph`,
//! together keep to the tenant's write quota (the emulator counts every
//! write asked for, admitted or not, over each window) and still finish
//! close to the time the quota needs.

use std::fmt::Write as _;
use std::time::Duration;

use bulkops::store::testing::scratch_database;
use bulkops::store::{Create, JobStore, Status};

use crate::emulator_support::{Emulator, SECRET_ENV};
use crate::support::{bulkops_env, bulkops_in};
use crate::watch_support::PATIENCE;
use crate::workers::Worker;

/// Quota windows are this many times shorter: 3,000 writes per 7.5 s.
const TIME_SCALE: u32 = 20;
const RUNS: u64 = 4;
const MEMBERS_PER_RUN: u64 = 8_000;
/// Graph's write quota: units per window, and the window at full length.
const WRITE_LIMIT: u64 = 3_000;
const WRITE_WINDOW: Duration = Duration::from_secs(150);
/// A bind `PATCH` of 20 members costs ceil(20 / 3) writes.
const WRITES_PER_PATCH: u64 = 7;

/// Four manifests in `m/`, each importing 8,000 users into a group of its own.
fn four_imports(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("m")).unwrap();
    for run in 0..RUNS {
        let mut list = String::from("userPrincipalName\n");
        for user in run * MEMBERS_PER_RUN..(run + 1) * MEMBERS_PER_RUN {
            let _ = writeln!(list, "user{user:07}@generated.example");
        }
        std::fs::write(dir.join(format!("list-{run}.csv")), list).unwrap();
        std::fs::write(
            dir.join(format!("m/import-{run}.yaml")),
            format!(
                "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: import-{run}\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: {{ displayName: group-0000{run} }}\n        input: list-{run}.csv\n        results: results-{run}.csv\n"
            ),
        )
        .unwrap();
    }
}

/// A tenant of 32,000 users and four empty groups, served by a throttling
/// emulator, with the four imports and a profile `emu` for it in `m/`.
fn throttled_tenant() -> (tempfile::TempDir, Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let users = (RUNS * MEMBERS_PER_RUN).to_string();
    let generated = bulkops_in(
        dir.path(),
        &[
            "directory",
            "generate",
            "--users",
            &users,
            "--groups",
            "4",
            "--members",
            "0",
            "--seed",
            "5",
        ],
    );
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let scale = TIME_SCALE.to_string();
    let emulator = Emulator::start(
        &dir.path().join(".bulkops/directory.db"),
        &[
            "--throttle",
            "graph",
            "--time-scale",
            &scale,
            "--bind-write-cost",
            "per3",
        ],
    );
    let url = emulator.url();
    four_imports(dir.path());
    std::fs::write(
        dir.path().join("m/bulkops.yaml"),
        format!(
            "profiles:\n  emu:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   secret: {{ env: {SECRET_ENV} }}\n    loginUrl: {url}\n    graphUrl: {url}\n\
             \x20   pacing: {{ timeScale: {TIME_SCALE}, bindWriteCost: per3, deadlineSeconds: 600 }}\n"
        ),
    )
    .unwrap();
    (dir, emulator)
}

/// Waits until every run ended; the runs and the workers' logs.
fn runs_ended(store: &JobStore, workers: &[Worker]) -> Vec<bulkops::store::RunRecord> {
    let ended = |runs: &[bulkops::store::RunRecord]| {
        runs.len() == 4
            && runs.iter().all(|run| {
                matches!(
                    run.status,
                    Status::Completed | Status::Failed | Status::Cancelled
                )
            })
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let runs = store.runs().unwrap();
        let logs = || workers.iter().map(Worker::log).collect::<Vec<_>>();
        if ended(&runs) {
            assert!(
                runs.iter().all(|run| run.status == Status::Completed),
                "{runs:#?}\n{:#?}",
                logs()
            );
            return runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runs never ended: {runs:#?}\n{:#?}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn four_workers_on_one_tenant_keep_together_within_its_write_quota() {
    let (dir, emulator) = throttled_tenant();
    let database = scratch_database();
    let env = [
        ("BULKOPS_STATE_URL", database.url.as_str()),
        (SECRET_ENV, "emulated-secret"),
    ];
    let submitted = bulkops_env(dir.path(), &["submit", "m", "--profile", "emu"], &env);
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    let workers: Vec<Worker> = (0..RUNS)
        .map(|_| Worker::start(dir.path(), &env, &["--max-runs", "1", "--poll", "100ms"]))
        .collect();
    let store = JobStore::open_at(&database.location(), Create::Never).unwrap();
    let runs = runs_ended(&store, &workers);
    // The four ran at once: each started before any ended.
    let last_start = runs.iter().map(|run| run.started_at).max().unwrap();
    let first_end = runs.iter().filter_map(|run| run.finished_at).min().unwrap();
    assert!(
        last_start < first_end,
        "the runs did not overlap: {runs:#?}"
    );

    let stats = emulator.stats();
    let quota = &stats["writeQuota"];
    let writes = RUNS * MEMBERS_PER_RUN / 20 * WRITES_PER_PATCH;
    assert_eq!(stats["writesCharged"], writes, "{stats:#}");
    assert_eq!(quota["limit"], WRITE_LIMIT, "{quota:#}");
    let peak = quota["peakAskedPerWindow"].as_u64().unwrap();
    assert!(
        peak <= WRITE_LIMIT,
        "{peak} writes asked for in one window: {quota:#}"
    );
    assert_eq!(quota["throttled"], 0, "{quota:#}");
    // The quota's minimum: every write at the quota's rate.
    let window = WRITE_WINDOW / TIME_SCALE;
    #[expect(clippy::cast_precision_loss, reason = "test figures")]
    let minimum = window.mul_f64(writes as f64 / WRITE_LIMIT as f64);
    let span = Duration::from_millis(
        quota["lastWriteMs"].as_u64().unwrap() - quota["firstWriteMs"].as_u64().unwrap(),
    );
    eprintln!(
        "{writes} writes in {span:?}; the quota's minimum is {minimum:?}; fullest window {peak}"
    );
    assert!(
        span <= minimum.mul_f64(1.3),
        "{writes} writes took {span:?}, more than 1.3 × {minimum:?}"
    );
}
