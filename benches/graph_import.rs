//! Benchmark: add 100,000 members to one group through the Microsoft Graph
//! directory against `bulkops emulate --throttle graph --time-scale 100`, with
//! both bind cost models, and in the same run the per-member baseline admin
//! scripts use (one `POST /groups/{id}/members/$ref` per member, honouring
//! `Retry-After`) against the same emulator.
//!
//! ```sh
//! cargo bench --bench graph_import
//! ```
//!
//! Reported per run: HTTP requests, requests inside `$batch`es, writes the
//! emulator charged, 429 answers, wall time, and two quota minimums for the
//! writes charged (3,000 per 150 s, windows / 100): from an unused quota, the
//! last write can go one window after write `writes - 3000` did, so
//! `floor((writes - 1) / 3000) × 1.5 s`; at the sustained rate,
//! `writes / 3000 × 1.5 s`.
//! Goals: at most one write request per 20 members, wall time within 1.3x of
//! the quota minimum, at least 15x faster than the per-member baseline.

use std::fmt::Write as _;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bulkops::directory::local::{LocalDirectory, user_id};

const MEMBERS: u64 = 100_000;
const SEED: u64 = 5;
const TIME_SCALE: u32 = 100;
const SLOWER_TIME_SCALE: u32 = 10;
const WRITE_QUOTA: u64 = 3_000;
const WRITE_WINDOW: Duration = Duration::from_secs(150);
const BASELINE_WORKERS: usize = 4;

const IMPORT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bench-graph-import
spec:
  directory: emu
  steps:
    - id: import
      importMembers:
        group: { displayName: group-00000 }
        input: members.csv
        results: results.csv
";

#[path = "../tests/common/emulator_process.rs"]
mod emulator_process;
#[path = "support/one_group.rs"]
mod one_group;

use emulator_process::EmulatorProcess;

/// Starts the emulator with Graph's quotas (`time_scale` 0: no quotas at all).
fn start_emulator(db: &Path, bind_write_cost: &str, time_scale: u32) -> EmulatorProcess {
    let throttle = if time_scale == 0 { "none" } else { "graph" };
    let scale = time_scale.max(1).to_string();
    let args = [
        "--throttle",
        throttle,
        "--time-scale",
        &scale,
        "--bind-write-cost",
        bind_write_cost,
    ];
    EmulatorProcess::spawn(db, &args, &[])
}

/// What one run met.
struct Figures {
    label: String,
    time_scale: u32,
    wall: Duration,
    http: u64,
    batched: u64,
    writes: u64,
    throttled: u64,
    write_requests: u64,
}

impl Figures {
    fn quota_minimum(&self) -> Duration {
        let window = WRITE_WINDOW / self.time_scale;
        window * u32::try_from(self.writes.saturating_sub(1) / WRITE_QUOTA).expect("small")
    }

    fn sustained_minimum(&self) -> Duration {
        let window = WRITE_WINDOW / self.time_scale;
        window.mul_f64(f64::from(u32::try_from(self.writes).expect("small")) / 3_000.0)
    }

    fn print(&self) {
        let minimum = self.quota_minimum();
        let sustained = self.sustained_minimum();
        println!(
            "{}: wall {:.2} s, quota minimum {:.2} s from an unused quota (x{:.2}), {:.2} s at the sustained rate (x{:.2}); {} HTTP requests, {} inside $batch, {} write requests ({:.1} members each), {} writes charged, {} answered 429",
            self.label,
            self.wall.as_secs_f64(),
            minimum.as_secs_f64(),
            self.wall.as_secs_f64() / minimum.as_secs_f64().max(f64::EPSILON),
            sustained.as_secs_f64(),
            self.wall.as_secs_f64() / sustained.as_secs_f64().max(f64::EPSILON),
            self.http,
            self.batched,
            self.write_requests,
            f64::from(u32::try_from(MEMBERS).expect("small"))
                / f64::from(u32::try_from(self.write_requests.max(1)).expect("small")),
            self.writes,
            self.throttled,
        );
    }
}

fn count(stats: &serde_json::Value, method: &str, route: &str, code: u64) -> u64 {
    stats["requests"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["method"] == method && row["route"] == route && row["status"] == code)
        .map(|row| row["count"].as_u64().expect("a count"))
        .sum()
}

fn figures(
    (label, time_scale): (&str, u32),
    wall: Duration,
    stats: &serde_json::Value,
    method: &str,
    route: &str,
) -> Figures {
    let number = |key: &str| stats[key].as_u64().expect("a number");
    Figures {
        label: label.to_owned(),
        time_scale,
        wall,
        http: number("httpRequests"),
        batched: number("batchedRequests"),
        writes: number("writesCharged"),
        throttled: number("throttled"),
        write_requests: count(stats, method, route, 204),
    }
}

fn members_of_group(db: &Path) -> u64 {
    let directory = LocalDirectory::open(db).expect("the directory");
    let group = directory.groups().expect("groups").remove(0);
    directory.member_count(&group.id).expect("a count")
}

fn fresh_copy(dir: &Path, name: &str) -> std::path::PathBuf {
    let db = dir.join(name);
    std::fs::copy(dir.join("pristine.db"), &db).expect("a copy of the directory");
    db
}

fn bulkops_run(bulkops: &str, dir: &Path, model: &str, time_scale: u32) -> Figures {
    let db = fresh_copy(dir, &format!("emulated-{model}-{time_scale}.db"));
    let emulator = start_emulator(&db, model, time_scale);
    std::fs::write(
        dir.join("bulkops.yaml"),
        format!(
            "profiles:\n  emu:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   secret: {{ env: BENCH_SECRET }}\n    loginUrl: http://{0}\n    graphUrl: http://{0}\n\
             \x20   pacing: {{ timeScale: {1} }}\n",
            emulator.address,
            // Without quotas the client paces as for windows / 100000: not at all.
            if time_scale == 0 { 100_000 } else { time_scale }
        ),
    )
    .expect("profiles");
    let state = format!("state-{model}-{time_scale}.db");
    let started = Instant::now();
    let status = Command::new(bulkops)
        .args([
            "apply",
            "import.yaml",
            "--state",
            &state,
            "--profiles",
            "bulkops.yaml",
            "--output-dir",
            model,
        ])
        .current_dir(dir)
        .env("BENCH_SECRET", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("bulkops runs");
    let wall = started.elapsed();
    assert!(status.success(), "the import failed");
    let counters = emulator.stats();
    drop(emulator);
    assert_eq!(members_of_group(&db), MEMBERS, "every member added once");
    figures(
        (
            &format!("bulkops, bind cost `{model}`, windows / {time_scale}"),
            time_scale,
        ),
        wall,
        &counters,
        "PATCH",
        "/groups/{id}",
    )
}

/// One POST `$ref` per member from a few workers, waiting out every 429.
async fn per_member(address: String, group: String, ids: Vec<String>) {
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!("http://{address}/contoso/oauth2/v2.0/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("client_id=bench&client_secret=bench&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default")
        .send()
        .await
        .expect("a token")
        .json()
        .await
        .expect("a token answer");
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().expect("a token")
    );
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(ids);
    let workers: Vec<_> = (0..BASELINE_WORKERS)
        .map(|_| {
            let (client, bearer, next, ids, address, group) =
                (client.clone(), bearer.clone(), Arc::clone(&next), Arc::clone(&ids), address.clone(), group.clone());
            tokio::spawn(async move {
                loop {
                    let index = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).expect("small");
                    let Some(id) = ids.get(index) else { break };
                    let body = serde_json::json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") });
                    loop {
                        let answer = client
                            .post(format!("http://{address}/v1.0/groups/{group}/members/$ref"))
                            .header("Authorization", &bearer)
                            .json(&body)
                            .send()
                            .await
                            .expect("the emulator answers");
                        if answer.status().as_u16() != 429 {
                            assert_eq!(answer.status().as_u16(), 204);
                            break;
                        }
                        let wait: f64 = answer
                            .headers()
                            .get("retry-after")
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.parse().ok())
                            .unwrap_or(1.0);
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker finishes");
    }
}

fn baseline_run(dir: &Path, ids: Vec<String>) -> Figures {
    let db = fresh_copy(dir, "baseline.db");
    let group = {
        let directory = LocalDirectory::open(&db).expect("the directory");
        directory.groups().expect("groups").remove(0).id
    };
    let emulator = start_emulator(&db, "request", TIME_SCALE);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    runtime.block_on(per_member(emulator.address.clone(), group, ids));
    let wall = started.elapsed();
    let stats = emulator.stats();
    drop(emulator);
    assert_eq!(members_of_group(&db), MEMBERS);
    figures(
        ("per-member baseline (POST $ref)", TIME_SCALE),
        wall,
        &stats,
        "POST",
        "/groups/{id}/members/$ref",
    )
}

fn main() {
    let bulkops = env!("CARGO_BIN_EXE_bulkops");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path();
    one_group::pristine_directory(path, MEMBERS, SEED);
    let ids: Vec<String> = (0..MEMBERS).map(|index| user_id(SEED, index)).collect();
    let mut list =
        String::from("Member object ID or user principal name [memberObjectIdOrUpn] Required\n");
    for id in &ids {
        let _ = writeln!(list, "{id}");
    }
    std::fs::write(path.join("members.csv"), list).expect("the member list");
    std::fs::write(path.join("import.yaml"), IMPORT).expect("a manifest");
    println!(
        "{MEMBERS} members into one group of {MEMBERS} users, Graph quotas with windows / {TIME_SCALE} (3,000 writes per {:.1} s)",
        (WRITE_WINDOW / TIME_SCALE).as_secs_f64()
    );
    let request = bulkops_run(bulkops, path, "request", TIME_SCALE);
    request.print();
    let per3 = bulkops_run(bulkops, path, "per3", TIME_SCALE);
    per3.print();
    let baseline = baseline_run(path, ids);
    baseline.print();
    for figures in [&request, &per3] {
        println!(
            "{}: {:.1}x faster than the per-member baseline",
            figures.label,
            baseline.wall.as_secs_f64() / figures.wall.as_secs_f64()
        );
    }
    // At windows / 100 the request model is bound by this machine, not the
    // quota; at windows / 10 the quota decides, which shows the pacing itself.
    bulkops_run(bulkops, path, "request", SLOWER_TIME_SCALE).print();
    // The same import with no quota at all: what this machine itself takes.
    let unthrottled = bulkops_run(bulkops, path, "request", 0);
    println!(
        "bulkops with no quota at all: wall {:.2} s, {} HTTP requests",
        unthrottled.wall.as_secs_f64(),
        unthrottled.http
    );
}
