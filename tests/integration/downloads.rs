//! Downloads from the demo tenant, byte for byte: groups with every extra
//! column, members in one combined file and transitively, and devices.

use crate::support::bulkops_in;

pub(crate) const DOWNLOADS: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: downloads
spec:
  steps:
    - id: engineering
      filterGroups:
        displayName: { startsWith: \"eng-\" }
    - id: groups
      downloadGroups:
        groups: engineering
        output: groups.csv
        columns: [description, mailNickname, mailEnabled, securityEnabled, membershipRule, onPremisesSyncEnabled, createdDateTime, visibility, isAssignableToRole]
    - id: admins
      downloadMembers:
        groups:
          - displayName: Global Admins
          - displayName: Break Glass
        combined: true
        output: admins.csv
        columns: [mail, userType, accountEnabled, department, jobTitle]
    - id: vpn
      downloadMembers:
        groups:
          - displayName: VPN Users
        transitive: true
        memberTypes: [group]
        output: \"vpn-{{group.displayName}}-nested-groups.csv\"
    - id: kiosks
      filterDevices:
        displayName: { startsWith: \"KIOSK-\" }
    - id: devices
      downloadDevices:
        devices: kiosks
        output: kiosks.csv
";

#[test]
fn downloads_have_the_admin_center_columns_and_every_row() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("downloads.yaml"), DOWNLOADS).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "downloads.yaml"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for file in [
        "groups.csv",
        "admins.csv",
        "vpn-VPN Users-nested-groups.csv",
        "kiosks.csv",
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        insta::assert_snapshot!(file, text);
    }
}
