//! Benchmark: `bulkops serve` (the release binary) over a large job history.
//!
//! 1. A job store with 100,000 jobs (1,000 runs of 100 jobs; statuses,
//!    operations and workflows mixed): the jobs page, first and deep pages,
//!    under filters. Goal: under 100 ms each.
//! 2. A 1,000,000-row job (an import whose every row fails as `notFound`, run
//!    by the release binary): its first page of rows, all and failed only.
//!    Goal: under 100 ms.
//! 3. The server's peak memory (`VmHWM`) while the job's 1,000,000-row result
//!    file and its failed-rows file download.
//!
//! Times are from the request's first byte sent to the answer's last byte
//! read, on loopback, one connection a request: the median and the slowest of
//! 30 requests each.
//!
//! ```sh
//! cargo bench --bench serve_pages
//! ```

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const JOBS: usize = 100_000;
const JOBS_PER_RUN: usize = 100;
const ROWS: usize = 1_000_000;
const SAMPLES: usize = 30;

fn binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .current_dir(root)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the release binary builds");
    root.join("target/release/bulkops")
}

/// 100,000 jobs written straight into the store's tables (the store itself
/// creates them first, so the schema is the real one).
fn fill_history(state: &Path) {
    drop(bulkops::store::JobStore::open(state).expect("the store opens"));
    let mut db = rusqlite::Connection::open(state).unwrap();
    let transaction = db.transaction().unwrap();
    let operations = [
        "importMembers",
        "removeMembers",
        "downloadMembers",
        "syncMembers",
    ];
    let statuses = ["completed", "completed", "completed", "failed", "cancelled"];
    let start: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    for run in 0..JOBS / JOBS_PER_RUN {
        let run_id = format!("2025{run:06}-000000-{run:04x}");
        let workflow = format!("workflow-{}", run % 20);
        let began = start + jiff::SignedDuration::from_mins(i64::try_from(run).unwrap() * 10);
        transaction
            .execute(
                "INSERT INTO runs (id, workflow, manifest_path, manifest_text, directory, output_root, status, started_at, finished_at) \
                 VALUES (?1, ?2, ?3, '', 'local', '/srv/out', 'completed', ?4, ?4)",
                rusqlite::params![run_id, workflow, format!("/srv/manifests/{workflow}.yaml"), began.to_string()],
            )
            .unwrap();
        for job in 0..JOBS_PER_RUN {
            let at = began + jiff::SignedDuration::from_secs(i64::try_from(job).unwrap());
            let index = run * JOBS_PER_RUN + job;
            let status = statuses[index % statuses.len()];
            transaction
                .execute(
                    "INSERT INTO jobs (id, run_id, workflow, step, operation, target_id, target_name, input_file, status, reason, \
                     total, succeeded, failed, changed, started_at, finished_at) \
                     VALUES (?1, ?2, ?3, 'change', ?4, ?5, ?6, '/srv/lists/members.csv', ?7, ?8, 200, ?9, ?10, 150, ?11, ?11)",
                    rusqlite::params![
                        format!("{run_id}-change-{job:08x}"),
                        run_id,
                        workflow,
                        operations[index % operations.len()],
                        format!("group-{job}"),
                        format!("Group <{job}> & friends"),
                        status,
                        (status == "failed").then_some("NotAllRowsSuccessfullyProcessed"),
                        if status == "failed" { 190 } else { 200 },
                        if status == "failed" { 10 } else { 0 },
                        at.to_string(),
                    ],
                )
                .unwrap();
        }
    }
    transaction.commit().unwrap();
}

/// Imports 1,000,000 people who are not in the demo tenant; the job's id.
fn million_row_job(bulkops: &Path, dir: &Path) -> String {
    let run = |args: &[&str]| {
        Command::new(bulkops)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("bulkops runs")
    };
    assert!(run(&["directory", "init"]).success());
    let mut list = String::from("memberObjectIdOrUpn\n");
    for row in 0..ROWS {
        let _ = writeln!(list, "nobody-{row:07}@contoso.example");
    }
    std::fs::write(dir.join("big.csv"), list).unwrap();
    std::fs::write(
        dir.join("big.yaml"),
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: big\nspec:\n  steps:\n    - id: add\n      importMembers:\n        group: { displayName: eng-web }\n        input: big.csv\n",
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(run(&["apply", "big.yaml"]).code(), Some(1));
    println!(
        "1,000,000-row import (every row notFound): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let store = bulkops::store::JobStore::open(&dir.join(".bulkops/state.db")).unwrap();
    let job = store
        .jobs()
        .unwrap()
        .into_iter()
        .find(|job| job.workflow == "big")
        .unwrap();
    assert_eq!(job.failed, ROWS as u64);
    job.id
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(bulkops: &Path, dir: &Path, state: &Path) -> Self {
        let mut child = Command::new(bulkops)
            .args(["serve", "--listen", "127.0.0.1:0", "--state"])
            .arg(state)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut banner = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let addr = banner
            .split("http://")
            .nth(1)
            .unwrap()
            .trim_end_matches(['/', '\n'])
            .to_owned();
        Self { child, addr }
    }

    /// Sends `GET path`; the body's length and the time to its last byte.
    fn get(&self, path: &str) -> (usize, Duration, String) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&answer[..answer.len().min(200_000)]).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "{path}: {}",
            &text[..text.len().min(300)]
        );
        (answer.len(), took, text)
    }

    fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Median and slowest of `SAMPLES` requests, in milliseconds.
    fn time(&self, label: &str, path: &str) -> String {
        let mut times: Vec<f64> = (0..SAMPLES)
            .map(|_| self.get(path).1.as_secs_f64() * 1000.0)
            .collect();
        times.sort_by(f64::total_cmp);
        let line = format!(
            "| {label} | {:.1} | {:.1} |",
            times[SAMPLES / 2],
            times[SAMPLES - 1]
        );
        println!("{line}");
        line
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `href` of the page's link with `rel`.
fn link(page: &str, rel: &str) -> String {
    let marker = format!("rel=\"{rel}\" href=\"");
    let start = page.find(&marker).expect("the page links on") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&")
}

#[expect(clippy::cast_precision_loss, reason = "sizes in MB, to one decimal")]
fn main() {
    let bulkops = binary();
    let dir = tempfile::tempdir().unwrap();
    let job = million_row_job(&bulkops, dir.path());
    let history = dir.path().join("history.db");
    let filled = Instant::now();
    fill_history(&history);
    println!(
        "100,000 jobs written in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let server = Server::start(&bulkops, dir.path(), &history);
    println!("| page (100,000 jobs) | median ms | slowest ms |\n| --- | --- | --- |");
    server.time("`/` first page, newest first", "/");
    let (_, _, first) = server.get("/");
    let mut deep = first;
    for _ in 0..3 {
        deep = server.get(&link(&deep, "next")).2;
    }
    server.time("`/` fourth page (keyset `after=`)", &link(&deep, "next"));
    let middle: (String, String) = rusqlite::Connection::open(&history)
        .unwrap()
        .query_row(
            "SELECT started_at, id FROM jobs ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET 50000",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    server.time(
        "`/` the 1,001st page (after job 50,000)",
        &format!("/?after={}~{}", middle.0, middle.1),
    );
    server.time("`/?status=failed`", "/?status=failed");
    server.time(
        "`/?operation=syncMembers&sort=oldest`",
        "/?operation=syncMembers&sort=oldest",
    );
    server.time(
        "`/?workflow=workflow-7&since=2025-01-03&until=2025-01-04`",
        "/?workflow=workflow-7&since=2025-01-03&until=2025-01-04",
    );
    drop(server);

    let server = Server::start(&bulkops, dir.path(), &dir.path().join(".bulkops/state.db"));
    println!("| page (1,000,000-row job) | median ms | slowest ms |\n| --- | --- | --- |");
    server.time("job page, first 50 rows", &format!("/jobs/{job}"));
    server.time(
        "job page, failed rows only",
        &format!("/jobs/{job}?failed=1"),
    );
    let (_, _, page) = server.get(&format!("/jobs/{job}"));
    server.time(
        "job page, second page (`from=` offset)",
        &link(&page, "next"),
    );
    let before = server.peak_kib();
    for file in ["results.csv", "failed-rows.csv"] {
        let (bytes, took, _) = server.get(&format!("/jobs/{job}/{file}"));
        println!(
            "download {file}: {:.1} MB in {:.2} s; server peak RSS {:.1} MB (before the downloads {:.1} MB)",
            bytes as f64 / 1e6,
            took.as_secs_f64(),
            server.peak_kib() as f64 / 1024.0,
            before as f64 / 1024.0
        );
    }
}
