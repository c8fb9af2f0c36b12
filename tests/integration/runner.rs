//! The scheduler's promises, on real runs: `spec.concurrency` is a limit,
//! transient failures are retried by the step's policy, device targets that
//! name no device or several are refused before anything changes, and JSON
//! log lines are JSON.

use std::fmt::Write as _;

use crate::emulator_support::{Emulator, SECRET_ENV, demo_database};
use crate::support::{bulkops_env, bulkops_in};

#[test]
fn steps_never_run_beyond_the_concurrency_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = String::from(
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: one-at-a-time\nspec:\n  concurrency: 1\n  steps:\n",
    );
    for group in ["eng-web", "eng-data", "eng-sre"] {
        let _ = write!(
            manifest,
            "    - id: {group}\n      importMembers:\n        group: {{ displayName: {group} }}\n        input: list.csv\n"
        );
    }
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(
        dir.path().join("list.csv"),
        "allan.moreau@contoso.example\n",
    )
    .unwrap();
    let run = bulkops_env(dir.path(), &["apply", "m.yaml"], &[("BULKOPS_LOG", "info")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|line| {
            if line.contains("step started") {
                Some("start")
            } else if line.contains("membership job finished") {
                Some("end")
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        events,
        ["start", "end", "start", "end", "start", "end"],
        "one step at a time: {}",
        run.stderr
    );
}

#[test]
fn transient_failures_are_retried_by_the_steps_policy() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(&demo_database(dir.path()), &["--fail-rate", "503:1.0"]);
    emulator.write_profiles(dir.path(), 1);
    let profiles = std::fs::read_to_string(dir.path().join("bulkops.yaml"))
        .unwrap()
        .replace("deadlineSeconds: 120", "deadlineSeconds: 1");
    std::fs::write(dir.path().join("bulkops.yaml"), profiles).unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: flaky\nspec:\n  directory: emu\n  steps:\n    - id: groups\n      retry: { attempts: 3, backoff: fixed, delay: 10ms, jitter: false }\n      downloadGroups:\n        output: groups.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let run = bulkops_env(dir.path(), &["apply", "m.yaml"], &[(SECRET_ENV, "s")]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let retries = run
        .stderr
        .lines()
        .filter(|line| line.contains("transient failure; retrying") && line.contains("step=groups"))
        .count();
    assert_eq!(retries, 2, "three attempts, two retries: {}", run.stderr);
    assert!(
        run.stderr_text()
            .contains("Microsoft Graph did not answer within"),
        "{}",
        run.stderr
    );
}

#[test]
fn device_targets_that_name_no_device_or_several_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = crate::support::demo_tenant_copy(dir.path());
    let mut devices = std::fs::read_to_string(tenant.join("devices.csv")).unwrap();
    devices.push_str("0f0e0d0c-0b0a-4908-8706-050403020100,0f0e0d0c-0b0a-4908-8706-0504030201ff,KIOSK-01,Windows,10.0.22631.4460,AzureAd,true,true,true,2026-09-11T15:00:00Z,2024-05-03T12:10:09Z,RegisteredDevice,Contoso Hardware,Standard\n");
    std::fs::write(tenant.join("devices.csv"), devices).unwrap();
    assert_eq!(
        bulkops_in(dir.path(), &["directory", "init", "--from", "tenant"]).code,
        0
    );
    for (name, expected) in [
        (
            "NO-SUCH-DEVICE",
            "step `off` cannot run: no device has the displayName \"NO-SUCH-DEVICE\"",
        ),
        (
            "KIOSK-01",
            "step `off` cannot run: 2 devices have the displayName \"KIOSK-01\"",
        ),
    ] {
        let manifest = format!(
            "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: devices\nspec:\n  steps:\n    - id: off\n      disableDevices:\n        devices: [{{ displayName: {name} }}]\n"
        );
        std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
        let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr_text().contains(expected), "{}", run.stderr);
    }
}

#[test]
fn json_log_lines_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: report\nspec:\n  steps:\n    - id: groups\n      downloadGroups:\n        output: groups.csv\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml", "--log-format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "run started" && line["level"] == "INFO"),
        "{}",
        run.stderr
    );
}
