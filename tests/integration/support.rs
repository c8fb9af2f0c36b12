//! Runs the real `bulkops` binary from the repository root and captures what it
//! printed, for exact assertions and snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root, where manifests, fixtures and schemas live.
pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A path below the repository root.
pub(crate) fn repo_path(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// stderr with the diagnostic renderer's line wrapping undone, so a
    /// message can be matched whole.
    pub(crate) fn stderr_text(&self) -> String {
        unwrap_lines(&self.stderr)
    }

    /// Exit code, stdout and stderr in one text, for snapshots.
    pub(crate) fn transcript(&self) -> String {
        format!(
            "exit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `bulkops ARGS` in `dir` without colours.
pub(crate) fn bulkops_in(dir: &Path, args: &[&str]) -> Run {
    bulkops_env(dir, args, &[])
}

/// The `bulkops` binary with a clean environment: no `BULKOPS_*` variables
/// from the shell that runs the tests, no colours.
pub(crate) fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bulkops"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BULKOPS_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").env_remove("CLICOLOR_FORCE");
    command
}

/// Runs `bulkops ARGS` in `dir` with extra environment variables.
pub(crate) fn bulkops_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = command()
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("the bulkops binary starts");
    Run {
        code: output
            .status
            .code()
            .expect("bulkops exits normally, not by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `bulkops ARGS` from the repository root.
pub(crate) fn bulkops(args: &[&str]) -> Run {
    bulkops_in(repo_root(), args)
}

/// The manifests shipped in `manifests/`, sorted.
pub(crate) fn shipped_manifests() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_path("manifests"))
        .expect("manifests/ exists")
        .map(|entry| entry.expect("manifests/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
}

/// The path relative to the repository root, with `/` separators.
pub(crate) fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// A copy of the demo tenant's CSV files in `dir/tenant`, to edit and load
/// with `bulkops directory init --from tenant`.
pub(crate) fn demo_tenant_copy(dir: &Path) -> PathBuf {
    let tenant = dir.join("tenant");
    std::fs::create_dir_all(&tenant).unwrap();
    for file in [
        "users.csv",
        "groups.csv",
        "devices.csv",
        "service-principals.csv",
        "memberships.csv",
    ] {
        std::fs::copy(
            repo_path("examples/demo-tenant").join(file),
            tenant.join(file),
        )
        .unwrap();
    }
    tenant
}

/// Copies a folder and everything below it.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every membership of a local directory database, as sorted (group, member)
/// pairs: the end state to compare, not a count that other changes could match.
pub(crate) fn membership_pairs(db: &Path) -> Vec<(String, String)> {
    let connection = rusqlite::Connection::open(db).expect("the directory opens");
    let mut statement = connection
        .prepare("SELECT group_id, member_id FROM memberships ORDER BY 1, 2")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every device of a local directory database with whether it is enabled, by id.
pub(crate) fn device_states(db: &Path) -> Vec<(String, bool)> {
    let connection = rusqlite::Connection::open(db).expect("the directory opens");
    let mut statement = connection
        .prepare("SELECT id, account_enabled FROM devices ORDER BY 1")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The text of the one result file a run wrote below `dir/results`.
pub(crate) fn only_result_file(dir: &Path) -> String {
    let mut found = Vec::new();
    let mut pending = vec![dir.join("results")];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("a results folder") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    assert_eq!(found.len(), 1, "one result file: {found:?}");
    std::fs::read_to_string(&found[0]).unwrap()
}

/// Text from the diagnostic renderer with its wrapped lines joined again.
pub(crate) fn unwrap_lines(text: &str) -> String {
    text.replace("\n  │ ", " ").replace("\n  ╰─▶ ", " ")
}

/// Waits until `condition` holds, checking every 10 ms, for at most `limit`;
/// fails the test with `what` when it never does.
pub(crate) fn wait_until(
    what: &str,
    limit: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "gave up waiting: {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A generated local directory in `dir`: `users` users and one empty group
/// (`group-00000`), seed 5; `extra` arguments added (`--db FILE`).
pub(crate) fn generate_users(dir: &Path, users: u64, extra: &[&str]) {
    let users = users.to_string();
    let mut args = vec![
        "directory",
        "generate",
        "--users",
        &users,
        "--groups",
        "1",
        "--members",
        "0",
        "--seed",
        "5",
    ];
    args.extend_from_slice(extra);
    let generated = bulkops_in(dir, &args);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
}

/// A `bulkops` process stopped at a kill point (`BULKOPS_FAULT_HOLD`): a test
/// waits for its hold file, not for a time, then kills, interrupts or
/// releases it.
pub(crate) struct Held {
    child: std::process::Child,
    marker: tempfile::TempDir,
}

impl Held {
    /// Starts `bulkops ARGS` in `dir`, holding at `point` (`PHASE:N`), and
    /// returns once it holds. A process that ends before fails the test with
    /// what it printed.
    pub(crate) fn start(dir: &Path, args: &[&str], env: &[(&str, &str)], point: &str) -> Self {
        let marker = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(marker.path().join("stderr")).unwrap();
        let child = command()
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .env("BULKOPS_FAULT_HOLD", point)
            .env("BULKOPS_FAULT_HOLD_FILE", marker.path().join("hold"))
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the bulkops binary starts");
        let mut held = Self { child, marker };
        let hold_file = held.marker.path().join("hold");
        let limit = std::time::Duration::from_secs(300);
        let start = std::time::Instant::now();
        while !hold_file.exists() {
            if let Some(status) = held.child.try_wait().unwrap() {
                panic!(
                    "bulkops ended ({status}) before it reached {point}:\n{}",
                    held.stderr()
                );
            }
            assert!(start.elapsed() < limit, "bulkops never reached {point}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        held
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`).
    pub(crate) fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name} works");
    }

    /// What the process printed on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.marker.path().join("stderr")).unwrap_or_default()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub(crate) fn interrupt(&self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -INT works");
    }

    /// Lets the process go on from its kill point.
    pub(crate) fn release(&self) {
        std::fs::remove_file(self.marker.path().join("hold")).unwrap();
    }

    /// Waits (at most five minutes) until stderr shows `text`.
    pub(crate) fn wait_for(&self, text: &str) {
        wait_until(
            &format!("`{text}` on stderr"),
            std::time::Duration::from_secs(300),
            || self.stderr().contains(text),
        );
    }

    /// Waits for the process to end; its exit code and stderr.
    pub(crate) fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.stderr())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
