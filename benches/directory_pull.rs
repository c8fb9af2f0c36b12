//! Benchmark: `bulkops directory pull` of a 100,000-user, 1,000-group tenant
//! (100 members each, 2,000 devices) through `bulkops emulate --throttle
//! graph`, against the read quota minimum.
//!
//! ```sh
//! cargo bench --bench directory_pull
//! ```
//!
//! The emulator charges every request Graph's published resource-unit cost;
//! a tenant over 500 users has 8,000 units per 10 s. The quota minimum is the
//! time those units need at that rate: `units / 8,000 × 10 s` (windows
//! shrunk by the time scale). Reported per run: wall time and its ratio to
//! the minimum, HTTP requests, 429 answers, units charged; three runs at real
//! windows (min, median, max of the ratio) and one at windows / 10; every
//! copy is checked to hold every object and membership.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/emulator_process.rs"]
mod emulator_process;

use emulator_process::EmulatorProcess;

const USERS: &str = "100000";
const GROUPS: &str = "1000";
const MEMBERS: &str = "100";
const DEVICES: &str = "2000";
/// Resource units per window for a tenant over 500 users.
const UNITS: f64 = 8_000.0;
const WINDOW: Duration = Duration::from_secs(10);

fn run(bulkops: &str, dir: &Path, args: &[&str]) {
    let status = Command::new(bulkops)
        .args(args)
        .current_dir(dir)
        .env("BENCH_SECRET", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("bulkops runs");
    assert!(status.success(), "bulkops {args:?} failed");
}

fn counts(db: &Path) -> Vec<i64> {
    let connection = rusqlite::Connection::open(db).expect("a directory");
    ["users", "groups", "devices", "memberships"]
        .iter()
        .map(|table| {
            connection
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .expect("a count")
        })
        .collect()
}

fn pull_at(bulkops: &str, dir: &Path, time_scale: u32, run_index: u32) -> f64 {
    let source = dir.join("tenant.db");
    let emulator = EmulatorProcess::spawn(
        &source,
        &[
            "--throttle",
            "graph",
            "--time-scale",
            &time_scale.to_string(),
        ],
        &[],
    );
    std::fs::write(
        dir.join("bulkops.yaml"),
        format!(
            "profiles:\n  emu:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   secret: {{ env: BENCH_SECRET }}\n    loginUrl: http://{0}\n    graphUrl: http://{0}\n\
             \x20   pacing: {{ timeScale: {time_scale} }}\n",
            emulator.address
        ),
    )
    .expect("profiles");
    let copy = format!("copy-{time_scale}-{run_index}.db");
    let started = Instant::now();
    run(
        bulkops,
        dir,
        &["directory", "--db", &copy, "pull", "--profile", "emu"],
    );
    let wall = started.elapsed();
    let stats = emulator.stats();
    drop(emulator);
    assert_eq!(counts(&dir.join(&copy)), counts(&source), "a complete copy");
    let number = |key: &str| stats[key].as_u64().expect("a number");
    let units = number("resourceUnitsCharged");
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let minimum = (WINDOW / time_scale).mul_f64(units as f64 / UNITS);
    println!(
        "time scale {time_scale}, run {run_index}: wall {:.2} s, read quota minimum {:.2} s (x{:.2}); {} HTTP requests, {} answered 429, {} resource units charged",
        wall.as_secs_f64(),
        minimum.as_secs_f64(),
        wall.as_secs_f64() / minimum.as_secs_f64(),
        number("httpRequests"),
        number("throttled"),
        units,
    );
    wall.as_secs_f64() / minimum.as_secs_f64()
}

fn main() {
    let bulkops = env!("CARGO_BIN_EXE_bulkops");
    let dir = tempfile::tempdir().expect("a temporary folder");
    run(
        bulkops,
        dir.path(),
        &[
            "directory",
            "--db",
            "tenant.db",
            "generate",
            "--users",
            USERS,
            "--groups",
            GROUPS,
            "--members",
            MEMBERS,
            "--devices",
            DEVICES,
            "--seed",
            "3",
        ],
    );
    println!(
        "pull of {USERS} users, {GROUPS} groups ({MEMBERS} members each), {DEVICES} devices through bulkops emulate --throttle graph"
    );
    let mut ratios: Vec<f64> = (1..=3)
        .map(|run| pull_at(bulkops, dir.path(), 1, run))
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "time scale 1: wall / read quota minimum: min x{:.2}, median x{:.2}, max x{:.2}",
        ratios[0], ratios[1], ratios[2]
    );
    // Windows / 10: the quota no longer binds; this machine does.
    pull_at(bulkops, dir.path(), 10, 1);
}
