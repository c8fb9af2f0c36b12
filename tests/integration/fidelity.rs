//! The local directory and the emulator refuse what Entra refuses: a group
//! as a member of a role-assignable group (it would hand the roles to every
//! member of the nested group) and a Microsoft 365 group as a member of a
//! security group both fail the row `unsupportedMemberType`, so a rehearsal
//! never passes what the tenant refuses.

use std::path::Path;

use crate::emulator_support::{Emulator, SECRET_ENV};
use crate::support::{bulkops_env, bulkops_in};

const GLOBAL_ADMINS: &str = "ad024ab4-19a0-44bd-a179-7f43b00ed175";
const ENG_WEB: &str = "ea667e41-e369-433b-bc84-bb902ea775ad";
const SALES_TEAM: &str = "8bfbf8e2-5c96-4640-805f-adfb2b3a724c";
const ENG_DATA: &str = "b84b3641-f41b-456c-9cde-88ec4caf65e5";

fn manifest(directory: &str) -> String {
    format!(
        "apiVersion: bulkops/v1\nkind: Workflow\nmetadata:\n  name: nesting\nspec:\n  directory: {directory}\n  steps:\n    - id: admins\n      importMembers:\n        group: {{ id: {GLOBAL_ADMINS} }}\n        input: admins.csv\n        results: admins-results.csv\n    - id: web\n      importMembers:\n        group: {{ id: {ENG_WEB} }}\n        input: web.csv\n        results: web-results.csv\n"
    )
}

fn run_in(dir: &Path, graph: bool) -> (String, String) {
    std::fs::write(dir.join("admins.csv"), format!("ObjectId\n{ENG_WEB}\n")).unwrap();
    std::fs::write(
        dir.join("web.csv"),
        format!("ObjectId\n{SALES_TEAM}\n{ENG_DATA}\n"),
    )
    .unwrap();
    bulkops_in(dir, &["directory", "stats"]);
    let _emulator = graph.then(|| {
        let emulator = Emulator::start(&dir.join(".bulkops/directory.db"), &[]);
        emulator.write_profiles(dir, 1);
        emulator
    });
    std::fs::write(
        dir.join("m.yaml"),
        manifest(if graph { "emu" } else { "local" }),
    )
    .unwrap();
    let run = bulkops_env(
        dir,
        &["apply", "m.yaml"],
        &[(SECRET_ENV, "emulated-secret")],
    );
    assert_eq!(run.code, 1, "rows failed: {}\n{}", run.stdout, run.stderr);
    (
        std::fs::read_to_string(dir.join("admins-results.csv")).unwrap(),
        std::fs::read_to_string(dir.join("web-results.csv")).unwrap(),
    )
}

#[test]
fn nesting_entra_refuses_is_refused_locally_and_through_graph() {
    let local = tempfile::tempdir().unwrap();
    let (admins, web) = run_in(local.path(), false);
    assert_eq!(
        admins,
        format!(
            "ObjectId,line,status,error\n{ENG_WEB},2,unsupportedMemberType,{}\n",
            bulkops::directory::outcome::RowOutcome::UnsupportedMemberType.explanation()
        )
    );
    assert!(
        web.contains(&format!("{SALES_TEAM},2,unsupportedMemberType,")),
        "{web}"
    );
    assert!(
        web.contains(&format!("{ENG_DATA},3,added,")),
        "a security group nests: {web}"
    );
    let graph = tempfile::tempdir().unwrap();
    assert_eq!(
        run_in(graph.path(), true),
        (admins, web),
        "the emulator refuses the same"
    );
}
