//! Signing in to Microsoft Graph as `bulkops emulate` checks it: client
//! secrets from the environment and certificate assertions signed with the
//! app's key; refusals, missing secrets and unreachable services fail with a
//! clear message, and no secret is ever printed or stored.

use std::path::Path;

use crate::emulator_support::{Emulator, SECRET_ENV, demo_database};
use crate::support::{Run, bulkops_env, repo_path};

const GROUP_REPORT: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: group-report
spec:
  directory: emu
  steps:
    - id: security
      filterGroups:
        type: security
    - id: report
      downloadGroups:
        groups: security
        output: security-groups.csv
";

/// A folder with the report manifest and a demo directory database.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.yaml"), GROUP_REPORT).unwrap();
    demo_database(dir.path());
    dir
}

fn profiles(dir: &Path, base: &str, credential: &str) {
    std::fs::write(
        dir.join("bulkops.yaml"),
        format!(
            "profiles:\n  emu:\n    tenant: contoso.onmicrosoft.com\n    clientId: 6731de76-14a6-49ae-97bc-6eba6914391e\n\
             \x20   {credential}\n    loginUrl: {base}\n    graphUrl: {base}\n    pacing: {{ timeScale: 100, deadlineSeconds: 20 }}\n"
        ),
    )
    .unwrap();
}

fn certificate(name: &str) -> String {
    let path = |file: &str| {
        repo_path(&format!("tests/fixtures/graph/{file}"))
            .display()
            .to_string()
    };
    format!(
        "certificate: {{ key: \"{}\", certificate: \"{}\" }}",
        path(&format!("{name}.key.pem")),
        path(&format!("{name}.cert.pem"))
    )
}

fn apply(dir: &Path, secret: Option<&str>) -> Run {
    let env: Vec<(&str, &str)> = secret
        .map(|secret| (SECRET_ENV, secret))
        .into_iter()
        .collect();
    bulkops_env(dir, &["apply", "report.yaml"], &env)
}

fn registered_certificate() -> String {
    repo_path("tests/fixtures/graph/test-app.cert.pem")
        .display()
        .to_string()
}

#[test]
fn a_certificate_assertion_signs_in() {
    let dir = folder();
    let emulator = Emulator::start(
        &dir.path().join("directory.db"),
        &["--client-certificate", &registered_certificate()],
    );
    profiles(dir.path(), &emulator.url(), &certificate("test-app"));
    let run = apply(dir.path(), None);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = std::fs::read_to_string(dir.path().join("security-groups.csv")).unwrap();
    assert!(
        report.starts_with("Object ID,Display name,Mail,Group type,Membership type\n"),
        "{report}"
    );
}

#[test]
fn an_assertion_signed_by_another_key_is_refused() {
    let dir = folder();
    let emulator = Emulator::start(
        &dir.path().join("directory.db"),
        &["--client-certificate", &registered_certificate()],
    );
    profiles(dir.path(), &emulator.url(), &certificate("other-app"));
    let run = apply(dir.path(), None);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("signing in to tenant `contoso.onmicrosoft.com` failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AADSTS700027"), "{}", run.stderr);
    assert!(!dir.path().join("security-groups.csv").exists());
}

#[test]
fn secrets_come_from_the_environment_and_are_never_shown_or_stored() {
    let dir = folder();
    let expected = "emulator-only-secret-7f3a9c";
    let emulator = bulkops_emulator_with_secret(&dir, expected);
    profiles(
        dir.path(),
        &emulator.url(),
        &format!("secret: {{ env: {SECRET_ENV} }}"),
    );

    let wrong = "not-the-secret-41d8e2";
    let refused = apply(dir.path(), Some(wrong));
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("AADSTS7000215"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(wrong) && !refused.stdout.contains(wrong));

    let missing = apply(dir.path(), None);
    assert_eq!(missing.code, 64, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains(&format!("the environment variable `{SECRET_ENV}`")),
        "{}",
        missing.stderr
    );

    let accepted = apply(dir.path(), Some(expected));
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    for text in [&accepted.stdout, &accepted.stderr] {
        assert!(!text.contains(expected));
    }
    let state = std::fs::read(dir.path().join(".bulkops/state.db")).unwrap();
    assert!(
        !state
            .windows(expected.len())
            .any(|window| window == expected.as_bytes()),
        "the job store holds the secret"
    );
}

fn bulkops_emulator_with_secret(dir: &tempfile::TempDir, secret: &str) -> Emulator {
    let variable = "BULKOPS_TEST_EMULATOR_SECRET";
    Emulator::spawn(
        &dir.path().join("directory.db"),
        &["--client-secret-env", variable],
        &[(variable, secret)],
    )
}

#[test]
fn an_unreachable_service_fails_the_run_with_a_clear_message() {
    let dir = folder();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    profiles(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        &format!("secret: {{ env: {SECRET_ENV} }}"),
    );
    let run = apply(dir.path(), Some("any"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("could not connect"), "{}", run.stderr);
}

#[test]
fn a_preview_through_graph_reads_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    demo_database(dir.path());
    let outcomes = crate::apply::outcomes_dir();
    for file in ["outcomes.yaml", "add.csv", "one.csv", "remove.csv"] {
        std::fs::copy(outcomes.path().join(file), dir.path().join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(dir.path().join("outcomes.yaml")).unwrap();
    std::fs::write(
        dir.path().join("outcomes.yaml"),
        manifest.replacen("spec:\n", "spec:\n  directory: emu\n", 1),
    )
    .unwrap();
    let emulator = Emulator::start(&dir.path().join("directory.db"), &[]);
    profiles(
        dir.path(),
        &emulator.url(),
        &format!("secret: {{ env: {SECRET_ENV} }}"),
    );
    let plan = bulkops_env(
        dir.path(),
        &["plan", "outcomes.yaml", "--detailed-exitcode"],
        &[(SECRET_ENV, "s")],
    );
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("against directory `emu`"),
        "{}",
        plan.stdout
    );
    let stats = emulator.stats();
    assert_eq!(stats["writesCharged"], 0, "{stats}");
    assert!(stats["httpRequests"].as_u64().unwrap() > 0);
}

#[test]
fn the_emulator_listens_on_loopback_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let run = bulkops_env(
        dir.path(),
        &["emulate", "--listen", "0.0.0.0:0", "--directory", "d.db"],
        &[],
    );
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(
        run.stderr.contains("the emulator listens on loopback only"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("d.db").exists(), "nothing was created");
}

#[test]
fn the_emulator_prints_a_profile_that_reaches_it() {
    use std::io::{BufRead, BufReader};
    let dir = folder();
    let mut child = crate::support::command()
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--directory",
            "directory.db",
            "--time-scale",
            "100",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Read up to the profile's last line; the emulator keeps running after it.
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the emulator ended early"
        );
        let last = line.trim_start().starts_with("pacing:");
        lines.push(line.trim_end().to_owned());
        if last {
            break;
        }
    }
    let snippet = lines
        .iter()
        .skip_while(|line| !line.starts_with("  rehearsal:"))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(
        dir.path().join("bulkops.yaml"),
        format!("profiles:\n{snippet}\n"),
    )
    .unwrap();
    let manifest = GROUP_REPORT.replace("directory: emu", "directory: rehearsal");
    std::fs::write(dir.path().join("report.yaml"), manifest).unwrap();
    let run = bulkops_env(
        dir.path(),
        &["apply", "report.yaml"],
        &[("REHEARSAL_SECRET", "any")],
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(run.code, 0, "{snippet}\n{}", run.stderr);
    assert!(dir.path().join("security-groups.csv").exists());
}
