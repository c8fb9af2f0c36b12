//! Device steps over the real binary: select, download, disable, enable and
//! delete, with the directory's end state, result files and the deletion guard.

use std::path::Path;

use bulkops::directory::local::LocalDirectory;

use crate::support::bulkops_in;

const KIOSK_01: &str = "fc6e4db1-ab75-4c75-931b-0a277120bead";
const KIOSK_02_DEVICE_ID: &str = "d5f7cc66-d6ca-4b18-a119-4c3c3e365f56";

pub(crate) const RETIRE_KIOSKS: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: retire-kiosks
spec:
  steps:
    - id: kiosks
      filterDevices:
        displayName: { startsWith: \"KIOSK-\" }
    - id: report
      downloadDevices:
        devices: kiosks
        output: kiosks.csv
    - id: disable
      needs: [report]
      disableDevices:
        devices: kiosks
        results: disabled.csv
    - id: delete
      needs: [disable]
      deleteDevices:
        devices: kiosks
        results: deleted.csv
";

fn directory(dir: &Path) -> LocalDirectory {
    LocalDirectory::open(&dir.join(".bulkops/directory.db")).unwrap()
}

#[test]
fn kiosks_are_reported_disabled_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("retire.yaml"), RETIRE_KIOSKS).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "retire.yaml"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let report = std::fs::read_to_string(dir.path().join("kiosks.csv")).unwrap();
    assert_eq!(report.lines().count(), 7, "a header and six kiosks");
    assert!(
        report.starts_with(
            "Object ID,Device ID,Display name,Enabled,Operating system,Version,Join type,"
        ),
        "{report}"
    );
    assert!(
        report.contains("KIOSK-01,true,Windows,10.0.22631.4460,Microsoft Entra joined,"),
        "{report}"
    );
    let disabled = std::fs::read_to_string(dir.path().join("disabled.csv")).unwrap();
    assert_eq!(
        disabled.lines().next(),
        Some("Object ID,Display name,line,status,error")
    );
    assert!(
        disabled.contains(&format!("{KIOSK_01},KIOSK-01,,disabled,\n")),
        "{disabled}"
    );
    let deleted = std::fs::read_to_string(dir.path().join("deleted.csv")).unwrap();
    assert!(
        deleted.contains(&format!("{KIOSK_01},KIOSK-01,,deleted,\n")),
        "{deleted}"
    );

    let directory = directory(dir.path());
    assert_eq!(directory.stats().unwrap().devices, 94);
    assert!(directory.device(KIOSK_01).unwrap().is_none());
    let kiosk_group = directory
        .groups()
        .unwrap()
        .into_iter()
        .find(|g| g.display_name == "Kiosk Devices")
        .unwrap();
    assert_eq!(
        directory.member_count(&kiosk_group.id).unwrap(),
        0,
        "deleted devices leave their groups"
    );
}

#[test]
fn enabled_devices_are_not_deleted_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: delete-one\nspec:\n  steps:\n    - id: delete\n      deleteDevices:\n        devices:\n          - id: {KIOSK_01}\n        results: deleted.csv\n"
    );
    std::fs::write(dir.path().join("delete.yaml"), manifest).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "delete.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let results = std::fs::read_to_string(dir.path().join("deleted.csv")).unwrap();
    assert_eq!(
        results,
        format!(
            "Object ID,Display name,line,status,error\n{KIOSK_01},KIOSK-01,,stillEnabled,\
             \"the device is still enabled; disable it first, or set `requireDisabled: false`\"\n"
        )
    );
    assert!(directory(dir.path()).device(KIOSK_01).unwrap().is_some());
}

#[test]
fn devices_are_enabled_from_a_csv_of_ids() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: enable\nspec:\n  steps:\n    - id: disable\n      disableDevices:\n        input: ids.csv\n        results: disabled.csv\n    - id: enable\n      needs: [disable]\n      enableDevices:\n        input: ids.csv\n        results: enabled.csv\n";
    std::fs::write(dir.path().join("enable.yaml"), manifest).unwrap();
    let ids = format!(
        "id\n{KIOSK_01}\n{KIOSK_02_DEVICE_ID}\nsomeone@contoso.example\n00000000-0000-4000-8000-000000000000\n{KIOSK_01}\n"
    );
    std::fs::write(dir.path().join("ids.csv"), ids).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "enable.yaml"]);
    assert_eq!(run.code, 1, "two rows name no device: {}", run.stderr);
    let enabled = std::fs::read_to_string(dir.path().join("enabled.csv")).unwrap();
    assert_eq!(
        enabled,
        format!(
            "id,line,status,error\n{KIOSK_01},2,enabled,\n{KIOSK_02_DEVICE_ID},3,enabled,\n\
             someone@contoso.example,4,invalidId,`someone@contoso.example` is not a device id\n\
             00000000-0000-4000-8000-000000000000,5,notFound,\"no user, group, device or service principal has this object id or user principal name\"\n\
             {KIOSK_01},6,duplicate,the same device is on an earlier row\n"
        )
    );
    assert!(
        directory(dir.path())
            .device(KIOSK_01)
            .unwrap()
            .unwrap()
            .account_enabled
    );
}

#[test]
fn the_device_deletion_guard_refuses_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = RETIRE_KIOSKS.replace("spec:\n", "spec:\n  guards: { maxDeviceDeletions: 5 }\n");
    std::fs::write(dir.path().join("retire.yaml"), manifest).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "retire.yaml"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("this run would delete 6 devices; the guard allows 5"),
        "{}",
        run.stderr
    );
    assert_eq!(directory(dir.path()).stats().unwrap().devices, 100);
    assert!(!dir.path().join("kiosks.csv").exists());
}
