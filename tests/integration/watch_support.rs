//! A watch service under test: the real `bulkops watch` process in a temp
//! project folder, its log read from a file, and what the job store's
//! ledger, the archive folders and `jobs list` say afterwards.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bulkops::store::{JobStore, LedgerRow};

use crate::support::{command, repo_path, wait_until};

/// How long a test waits for the service at most: long enough for a busy
/// two-core machine, never a timing assumption.
pub(crate) const PATIENCE: Duration = Duration::from_secs(300);

/// The nine demo users the member files are made of.
pub(crate) const USERS: [&str; 9] = [
    "allan.moreau@contoso.example",
    "nestor.wilber@contoso.example",
    "pradeep.murphy@contoso.example",
    "maya.schmidt@contoso.example",
    "diego.silva@contoso.example",
    "tariq.novak@contoso.example",
    "isaac.brown@contoso.example",
    "raul.kim@contoso.example",
    "elena.kowalski@contoso.example",
];

/// The header of the Entra admin center's member import file.
pub(crate) const HEADER: &str =
    "Member object ID or user principal name [memberObjectIdOrUpn] Required";

/// A workflow that adds the members of each dropped file to `eng-contractors`
/// (empty in the demo tenant).
pub(crate) fn manifest(name: &str, folder: &str, watch_extra: &str) -> String {
    format!(
        "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: {name}
spec:
  trigger:
    watch:
      path: {folder}
      settle: 300ms
{watch_extra}  steps:
    - id: add
      importMembers:
        group: {{ displayName: eng-contractors }}
        input: \"{{{{trigger.file}}}}\"
        results: \"results/{{{{trigger.stem}}}}.csv\"
"
    )
}

/// A project folder with `m/hires.yaml` watching `drop/`.
pub(crate) fn project(watch_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    std::fs::write(
        dir.path().join("m/hires.yaml"),
        manifest("hires", "drop", watch_extra),
    )
    .unwrap();
    dir
}

/// The member file number `number` (1 to 511): the users whose bit is set,
/// so every number has its own content.
pub(crate) fn member_file(number: u32) -> String {
    let mut text = format!("{HEADER}\n");
    for (bit, user) in USERS.iter().enumerate() {
        if number & (1 << bit) != 0 {
            text.push_str(user);
            text.push('\n');
        }
    }
    text
}

/// Writes a file elsewhere in `dir` and renames it into place, as a careful
/// sender does, so it appears whole.
pub(crate) fn drop_file(dir: &Path, relative: &str, content: &str) {
    let staging = dir.join(format!(".staging-{}", relative.replace('/', "_")));
    std::fs::write(&staging, content).unwrap();
    std::fs::rename(&staging, dir.join(relative)).unwrap();
}

/// A running `bulkops watch`.
pub(crate) struct Service {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Service {
    /// Starts `bulkops watch ARGS` in `dir` and waits until it watches.
    pub(crate) fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let service = Self::spawn(dir, args, env);
        service.wait_for("watching");
        service
    }

    /// Starts `bulkops watch ARGS` in `dir` without waiting.
    pub(crate) fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = command()
            .arg("watch")
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .env("BULKOPS_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("the bulkops binary starts");
        Self { child, log }
    }

    /// What the service logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits until the log shows `text` at least `count` times; fails the
    /// test (with the log) when the service ends first.
    pub(crate) fn wait_for_count(&mut self, text: &str, count: usize) {
        let start = std::time::Instant::now();
        while self.log().matches(text).count() < count {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "bulkops watch ended ({status}) before `{text}` showed {count} times:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for `{text}` ×{count}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the log shows `text`.
    pub(crate) fn wait_for(&self, text: &str) {
        wait_until(&format!("`{text}` in the watch log"), PATIENCE, || {
            self.log().contains(text)
        });
    }

    /// Sends a signal (`TERM`, `INT`).
    pub(crate) fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name} works");
    }

    /// SIGKILLs the service and waits for it.
    pub(crate) fn kill(mut self) -> String {
        let _ = self.child.kill();
        self.child.wait().unwrap();
        self.log()
    }

    /// Waits for the service to end: its exit code and log.
    pub(crate) fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.log())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `bulkops watch --once ARGS` in `dir` to its end.
pub(crate) fn once(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut all = vec!["--once"];
    all.extend_from_slice(args);
    Service::spawn(dir, &all, env).finish()
}

/// Every ledger row of the project's job store.
pub(crate) fn ledger(dir: &Path) -> Vec<LedgerRow> {
    JobStore::open(&dir.join(".bulkops/state.db"))
        .unwrap()
        .ledger()
        .unwrap()
}

/// The file names in a folder, sorted (an absent folder has none).
pub(crate) fn names_in(folder: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The dropped names of the files left claimed in `.processing/`.
pub(crate) fn claimed_names(drop: &Path, workflow: &str) -> Vec<String> {
    let mut names = Vec::new();
    for claim in names_in(&drop.join(".processing").join(workflow)) {
        names.extend(names_in(
            &drop.join(".processing").join(workflow).join(claim),
        ));
    }
    names.sort();
    names
}

/// The name each archived file was dropped under: `a.RUN.csv` → `a.csv`.
pub(crate) fn dropped_names(archived: &[String]) -> Vec<String> {
    let mut names: Vec<String> = archived
        .iter()
        .map(|name| {
            let parts: Vec<&str> = name.split('.').collect();
            match parts.as_slice() {
                [stem, _tag, extension] => format!("{stem}.{extension}"),
                _ => name.clone(),
            }
        })
        .collect();
    names.sort();
    names
}

/// The trigger file of every job, as `jobs list --format json` shows it.
pub(crate) fn job_trigger_files(dir: &Path) -> Vec<String> {
    let list = crate::support::bulkops_in(dir, &["jobs", "list", "--format", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let mut files: Vec<String> = jobs
        .iter()
        .map(|job| job["triggerFile"].as_str().unwrap_or_default().to_owned())
        .collect();
    files.sort();
    files
}

/// The members of `eng-contractors` in the project's directory.
pub(crate) fn contractors(dir: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(dir.join(".bulkops/directory.db")).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT u.user_principal_name FROM memberships m JOIN groups g ON g.id = m.group_id \
             JOIN users u ON u.id = m.member_id WHERE g.display_name = 'eng-contractors' ORDER BY 1",
        )
        .unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Appends `total` bytes of member rows to `path` in small writes spread
/// over `over`, the way a slow upload arrives; returns the whole content.
pub(crate) fn write_slowly(path: &PathBuf, total: usize, over: Duration) -> Vec<u8> {
    let mut content = format!("{HEADER},note\n").into_bytes();
    let mut row = 0;
    while content.len() < total {
        // Long rows keep the row count (and the run) small for the size.
        let user = USERS[row % USERS.len()];
        content.extend_from_slice(format!("{user},{}\n", "x".repeat(50_000)).as_bytes());
        row += 1;
    }
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = 4096;
    let pieces = content.len().div_ceil(chunk);
    let pause = over / u32::try_from(pieces).unwrap();
    for piece in content.chunks(chunk) {
        file.write_all(piece).unwrap();
        std::thread::sleep(pause);
    }
    file.sync_all().unwrap();
    content
}

/// Where a held service says it holds, and the environment that asks it to.
pub(crate) fn hold_at(point: &str) -> (tempfile::TempDir, PathBuf, Vec<(String, String)>) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("hold");
    let env = vec![
        ("BULKOPS_FAULT_HOLD".to_owned(), point.to_owned()),
        (
            "BULKOPS_FAULT_HOLD_FILE".to_owned(),
            file.display().to_string(),
        ),
    ];
    (folder, file, env)
}

pub(crate) fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub(crate) fn wait_for_hold(service: &Service, hold: &Path) {
    wait_until(
        &format!("the hold file, log:\n{}", service.log()),
        PATIENCE,
        || hold.exists(),
    );
}

/// A member file of the first `count` demo users.
pub(crate) fn many_members(count: usize) -> String {
    let users = std::fs::read_to_string(repo_path("examples/demo-tenant/users.csv")).unwrap();
    let mut text = format!("{HEADER}\n");
    for line in users.lines().skip(1).take(count) {
        text.push_str(line.split(',').nth(1).unwrap());
        text.push('\n');
    }
    text
}
