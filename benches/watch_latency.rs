//! Benchmark: `bulkops watch` on the embedded directory, the release binary.
//!
//! 1. Latency: files dropped one at a time (written elsewhere, renamed in
//!    whole, so each is complete the moment it appears), from that moment to
//!    the `run started` log line of its run; median and p95 against the goal
//!    of the settle time (2 s, the default) plus 200 ms.
//! 2. Throughput: 1,000 small files (10 member rows each, distinct content,
//!    imported into a demo group) dropped at once, from the first drop until
//!    the ledger shows all 1,000 processed, each exactly once; goal at least
//!    1,000 files a minute. With the default of one run at a time per
//!    workflow, and with `concurrency: 4`.
//!
//! ```sh
//! cargo bench --bench watch_latency
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const SAMPLES: usize = 25;
const FILES: usize = 1_000;
const HEADER: &str = "Member object ID or user principal name [memberObjectIdOrUpn] Required";

fn manifest(watch_extra: &str) -> String {
    format!(
        "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: bench-watch
spec:
  trigger:
    watch:
      path: drop
{watch_extra}  steps:
    - id: add
      importMembers:
        group: {{ displayName: eng-contractors }}
        input: \"{{{{trigger.file}}}}\"
        results: \"results/{{{{trigger.stem}}}}.csv\"
"
    )
}

/// The user principal names of the demo tenant.
fn demo_users() -> Vec<String> {
    let users = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-tenant/users.csv"),
    )
    .expect("the demo tenant");
    users
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(1).map(str::to_owned))
        .collect()
}

/// File `number`'s ten rows: a start and a stride of its own, so no two files
/// of the first thousand have the same content.
fn small_file(users: &[String], number: usize) -> String {
    let (start, stride) = (number % users.len(), 1 + number / users.len());
    let mut text = format!("{HEADER}\n");
    for row in 0..10 {
        text.push_str(&users[(start + row * stride) % users.len()]);
        text.push('\n');
    }
    text
}

/// A project folder with the demo directory created.
fn project(watch_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp folder");
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    std::fs::write(dir.path().join("m/watch.yaml"), manifest(watch_extra)).unwrap();
    let created = bulkops(dir.path())
        .args(["directory", "stats"])
        .stdout(Stdio::null())
        .status()
        .expect("bulkops runs");
    assert!(created.success());
    dir
}

fn bulkops(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bulkops"));
    command.current_dir(dir).env("NO_COLOR", "1");
    command
}

struct Service {
    child: Child,
    log: std::path::PathBuf,
}

impl Service {
    fn start(dir: &Path, args: &[&str]) -> Self {
        let log = dir.join("watch.log");
        let child = bulkops(dir)
            .args(["--log-format", "json", "watch", "m"])
            .args(args)
            .env("BULKOPS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("bulkops watch starts");
        let service = Self { child, log };
        service.wait_for(|lines| lines.iter().any(|line| message(line) == "watching"));
        service
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn wait_for(&self, mut condition: impl FnMut(&[serde_json::Value]) -> bool) {
        let start = Instant::now();
        while !condition(&self.lines()) {
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "the watch never got there"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

fn file_of(line: &serde_json::Value) -> &str {
    line["span"]["file"]
        .as_str()
        .or_else(|| line["fields"]["file"].as_str())
        .unwrap_or_default()
}

fn timestamp(line: &serde_json::Value) -> SystemTime {
    let text = line["timestamp"].as_str().expect("a timestamp");
    let parsed: jiff::Timestamp = text.parse().expect("an RFC 3339 timestamp");
    let nanos = u64::try_from(parsed.as_nanosecond()).expect("after 1970");
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Writes `content` beside the watched folder and renames it in: complete
/// at the moment it appears, which is returned.
fn drop_whole(dir: &Path, name: &str, content: &str) -> SystemTime {
    let staging = dir.join(format!("staging-{name}"));
    std::fs::write(&staging, content).unwrap();
    std::fs::rename(&staging, dir.join("drop").join(name)).unwrap();
    SystemTime::now()
}

fn latency(users: &[String]) {
    let dir = project("");
    let service = Service::start(dir.path(), &[]);
    let mut samples = Vec::new();
    for number in 0..SAMPLES {
        let name = format!("latency-{number:03}.csv");
        let complete = drop_whole(dir.path(), &name, &small_file(users, number));
        let mut started = None;
        service.wait_for(|lines| {
            started = lines
                .iter()
                .find(|line| message(line) == "run started" && file_of(line) == name)
                .map(timestamp);
            lines
                .iter()
                .any(|line| message(line) == "run ended" && file_of(line) == name)
        });
        let started = started.expect("a run started line");
        samples.push(started.duration_since(complete).unwrap_or_default());
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
    println!(
        "latency, file complete to run start (settle 2 s, {SAMPLES} files): min {:.0} ms, median {:.0} ms, p95 {:.0} ms, max {:.0} ms (goal: p95 <= 2200 ms)",
        millis(samples[0]),
        millis(median),
        millis(p95),
        millis(samples[samples.len() - 1])
    );
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn throughput(users: &[String], watch_extra: &str, label: &str) {
    let dir = project(watch_extra);
    let _service = Service::start(dir.path(), &[]);
    let start = Instant::now();
    for number in 0..FILES {
        drop_whole(
            dir.path(),
            &format!("f{number:04}.csv"),
            &small_file(users, number),
        );
    }
    let dropped = start.elapsed();
    let state = dir.path().join(".bulkops/state.db");
    loop {
        let processed = ledger_processed(&state);
        if processed >= FILES {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "stuck at {processed}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let rows = bulkops::store::JobStore::open(&state)
        .unwrap()
        .ledger()
        .unwrap();
    let mut names: Vec<&str> = rows.iter().map(|row| row.entry.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FILES, "each file once in the ledger");
    assert_eq!(rows.len(), FILES, "no file twice");
    let archived = std::fs::read_dir(dir.path().join("drop/processed"))
        .unwrap()
        .count();
    assert_eq!(archived, FILES, "each file archived once");
    #[allow(clippy::cast_precision_loss)]
    let per_minute = FILES as f64 / elapsed.as_secs_f64() * 60.0;
    println!(
        "throughput, {FILES} files of 10 rows ({label}): all processed exactly once in {:.1} s (dropped in {:.1} s): {per_minute:.0} files a minute (goal: >= 1000)",
        elapsed.as_secs_f64(),
        dropped.as_secs_f64()
    );
}

fn ledger_processed(state: &Path) -> usize {
    let Ok(store) = bulkops::store::JobStore::open_with(state, bulkops::store::Create::Never)
    else {
        return 0;
    };
    store.ledger().map_or(0, |rows| {
        rows.iter().filter(|row| row.status == "processed").count()
    })
}

fn main() {
    let users = demo_users();
    latency(&users);
    throughput(&users, "", "one run at a time, the default");
    throughput(&users, "      concurrency: 4\n", "concurrency: 4");
}
