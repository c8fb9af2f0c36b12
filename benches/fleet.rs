//! Benchmark: a fleet of workers on a PostgreSQL job store importing 20,000
//! members into a group of each of 8 tenants, each tenant its own
//! `bulkops emulate --throttle graph --time-scale 100 --bind-write-cost per3`,
//! with 1, 2 and 4 workers.
//!
//! ```sh
//! eval "$(bash .ci/postgres start)"   # a throwaway server; `bash .ci/postgres stop` after
//! cargo bench --bench fleet
//! ```
//!
//! Reported per worker count: wall time from the workers' start to the last
//! run's end, against the ideal, which is one tenant's quota minimum (the
//! tenants' quotas are independent, so with a worker per tenant every
//! tenant could go at once) and, for fewer workers than tenants, the same
//! minimum times the rounds of runs a worker must take in turn; per
//! tenant, the 429s its emulator answered and the run's own duration; and
//! how evenly the tenants finished (the spread between the first and the
//! last run's end).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulkops::directory::local::{LocalDirectory, user_id};
use bulkops::store::testing::scratch_database;
use bulkops::store::{Create, JobStore, Status};

#[path = "../tests/common/emulator_process.rs"]
mod emulator_process;
#[path = "support/one_group.rs"]
mod one_group;

use emulator_process::EmulatorProcess;

const TENANTS: usize = 8;
const MEMBERS: u64 = 20_000;
const SEED: u64 = 5;
const TIME_SCALE: u32 = 100;
const WRITE_QUOTA: u64 = 3_000;
const WRITE_WINDOW: Duration = Duration::from_secs(150);
/// A bind `PATCH` of 20 members costs ceil(20 / 3) writes.
const WRITES_PER_PATCH: u64 = 7;

const IMPORT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bench-fleet-import
spec:
  steps:
    - id: import
      importMembers:
        group: { displayName: group-00000 }
        input: members.csv
        results: \"results-{{run.id}}.csv\"
";

/// One tenant: its emulator and its directory.
struct Tenant {
    emulator: EmulatorProcess,
    db: std::path::PathBuf,
}

fn tenants(dir: &Path, round: usize) -> Vec<Tenant> {
    (0..TENANTS)
        .map(|index| {
            let db = dir.join(format!("tenant-{round}-{index}.db"));
            std::fs::copy(dir.join("pristine.db"), &db).expect("a copy of the directory");
            let scale = TIME_SCALE.to_string();
            let emulator = EmulatorProcess::spawn(
                &db,
                &[
                    "--throttle",
                    "graph",
                    "--time-scale",
                    &scale,
                    "--bind-write-cost",
                    "per3",
                ],
                &[],
            );
            Tenant { emulator, db }
        })
        .collect()
}

fn profiles(tenants: &[Tenant]) -> String {
    let mut text = String::from("profiles:\n");
    for (index, tenant) in tenants.iter().enumerate() {
        let _ = write!(
            text,
            "  t{index}:\n    tenant: tenant{index}.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   secret: {{ env: BENCH_SECRET }}\n    loginUrl: http://{0}\n    graphUrl: http://{0}\n\
             \x20   pacing: {{ timeScale: {TIME_SCALE}, bindWriteCost: per3, deadlineSeconds: 600 }}\n",
            tenant.emulator.address
        );
    }
    text
}

fn worker(bulkops: &str, dir: &Path, url: &str) -> Child {
    Command::new(bulkops)
        .args(["worker", "--poll", "100ms"])
        .current_dir(dir)
        .env("BULKOPS_STATE_URL", url)
        .env("BENCH_SECRET", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a worker starts")
}

fn members_of_group(db: &Path) -> u64 {
    let directory = LocalDirectory::open(db).expect("the directory");
    let group = directory.groups().expect("groups").remove(0);
    directory.member_count(&group.id).expect("a count")
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// Runs the 8 imports with `workers` workers and prints what they met.
fn fleet(bulkops: &str, dir: &Path, workers: usize) {
    let tenants = tenants(dir, workers);
    let folder = dir.join(format!("fleet-{workers}"));
    std::fs::create_dir_all(&folder).expect("a folder");
    std::fs::copy(dir.join("members.csv"), folder.join("members.csv")).expect("the list");
    std::fs::write(folder.join("import.yaml"), IMPORT).expect("a manifest");
    std::fs::write(folder.join("bulkops.yaml"), profiles(&tenants)).expect("profiles");
    let database = scratch_database();
    let mut submit = Command::new(bulkops);
    submit
        .args(["submit", "import.yaml"])
        .current_dir(&folder)
        .env("BULKOPS_STATE_URL", &database.url)
        .stdout(Stdio::null());
    for index in 0..TENANTS {
        submit.args(["--profile", &format!("t{index}")]);
    }
    assert!(
        submit.status().expect("submit runs").success(),
        "submit failed"
    );
    let store = JobStore::open_at(&database.location(), Create::Never).expect("the store");
    let started = Instant::now();
    let mut children: Vec<Child> = (0..workers)
        .map(|_| worker(bulkops, &folder, &database.url))
        .collect();
    let runs = loop {
        let runs = store.runs().expect("runs");
        let ended = |run: &bulkops::store::RunRecord| {
            matches!(
                run.status,
                Status::Completed | Status::Failed | Status::Cancelled
            )
        };
        if runs.len() == TENANTS && runs.iter().all(ended) {
            break runs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the fleet never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        runs.iter().all(|run| run.status == Status::Completed),
        "a run did not complete: {runs:#?}"
    );
    report(workers, wall, &runs, &tenants);
    for tenant in &tenants {
        assert_eq!(members_of_group(&tenant.db), MEMBERS, "every member once");
    }
}

fn report(workers: usize, wall: Duration, runs: &[bulkops::store::RunRecord], tenants: &[Tenant]) {
    let window = WRITE_WINDOW / TIME_SCALE;
    let writes = MEMBERS / 20 * WRITES_PER_PATCH;
    #[expect(clippy::cast_precision_loss, reason = "benchmark figures")]
    let one_tenant = window.mul_f64(writes as f64 / WRITE_QUOTA as f64);
    let rounds = u32::try_from(TENANTS.div_ceil(workers)).expect("small");
    let ideal = one_tenant * rounds;
    let ends: Vec<jiff::Timestamp> = runs.iter().filter_map(|run| run.finished_at).collect();
    let first_end = ends.iter().min().expect("ends");
    let last_end = ends.iter().max().expect("ends");
    let spread = last_end.duration_since(*first_end).unsigned_abs();
    println!(
        "{workers} worker(s): wall {}, ideal {} (one tenant's quota minimum {} × {rounds} round(s)): x{:.2}; x{:.2} of one tenant's minimum; tenants finished within {} of each other",
        seconds(wall),
        seconds(ideal),
        seconds(one_tenant),
        wall.as_secs_f64() / ideal.as_secs_f64(),
        wall.as_secs_f64() / one_tenant.as_secs_f64(),
        seconds(spread),
    );
    for (index, tenant) in tenants.iter().enumerate() {
        let stats = tenant.emulator.stats();
        let directory = format!("t{index}");
        let run = runs
            .iter()
            .find(|run| run.directory == directory)
            .expect("a run per tenant");
        let took = run
            .finished_at
            .map(|end| end.duration_since(run.started_at).unsigned_abs())
            .unwrap_or_default();
        println!(
            "  {directory}: run {}, {} writes charged, {} answered 429, fullest write window {}",
            seconds(took),
            stats["writesCharged"],
            stats["throttled"],
            stats["writeQuota"]["peakAskedPerWindow"],
        );
    }
}

fn main() {
    let bulkops = env!("CARGO_BIN_EXE_bulkops");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path();
    one_group::pristine_directory(path, MEMBERS, SEED);
    let mut list =
        String::from("Member object ID or user principal name [memberObjectIdOrUpn] Required\n");
    for index in 0..MEMBERS {
        let _ = writeln!(list, "{}", user_id(SEED, index));
    }
    std::fs::write(path.join("members.csv"), list).expect("the member list");
    println!(
        "{TENANTS} tenants × {MEMBERS} members, Graph quotas with windows / {TIME_SCALE} (3,000 writes per {:.1} s), bind PATCH at ceil(n/3) writes",
        (WRITE_WINDOW / TIME_SCALE).as_secs_f64()
    );
    for workers in [1, 2, 4] {
        fleet(bulkops, path, workers);
    }
}
