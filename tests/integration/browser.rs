//! The jobs page in a real headless Chromium (Debian's, driven through
//! chromedriver): filter the list to failed jobs, open one, download its
//! failed rows, watch a running run's counts rise until it ends, delete a job
//! after its confirmation, and take the screenshots README shows.

use std::path::Path;
use std::time::Duration;

use bulkops::store::JobStore;

use crate::support::{Held, bulkops_in, repo_root};
use crate::web::{MANIFEST, imported, member_list};
use crate::web_support::Served;
use crate::webdriver::Browser;

/// Where screenshots go: `target/screenshots/`, and README's copies in
/// `docs/` when `BULKOPS_UPDATE_SCREENSHOTS=1`.
fn save_screenshot(png: &[u8], name: &str) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a screenshot is a PNG"
    );
    assert!(
        png.len() > 10_000,
        "a screenshot of a page is not blank ({} bytes)",
        png.len()
    );
    let folder = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(name), png).unwrap();
    if std::env::var_os("BULKOPS_UPDATE_SCREENSHOTS").is_some() {
        std::fs::write(repo_root().join("docs").join(name), png).unwrap();
    }
}

/// The one file the browser downloaded, once it is complete.
fn downloaded(folder: &Path) -> Vec<u8> {
    let mut found = None;
    crate::support::wait_until("the download", Duration::from_secs(120), || {
        let names: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        found = names
            .iter()
            .find(|path| path.extension().is_some_and(|ext| ext == "csv"))
            .cloned();
        found.is_some()
            && !names
                .iter()
                .any(|path| path.extension().is_some_and(|ext| ext == "crdownload"))
    });
    std::fs::read(found.unwrap()).unwrap()
}

const TIDY: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: onboarding
spec:
  steps:
    - id: welcome
      importMembers:
        group: { displayName: onboarding }
        input: welcome.csv
";

#[test]
fn an_administrator_filters_opens_downloads_watches_and_deletes_in_a_real_browser() {
    let (dir, failed_job) = imported();
    std::fs::write(dir.path().join("tidy.yaml"), TIDY).unwrap();
    std::fs::write(
        dir.path().join("welcome.csv"),
        "memberObjectIdOrUpn\nben.patel@contoso.example\n",
    )
    .unwrap();
    assert_eq!(bulkops_in(dir.path(), &["apply", "tidy.yaml"]).code, 0);
    let served = Served::start(dir.path(), &[]);
    let base = format!("http://{}", served.addr);
    let browser = Browser::start();

    // The list, filtered to failed jobs with the form, as a person does.
    browser.open(&format!("{base}/"));
    assert_eq!(browser.all("table.jobs tbody tr").len(), 2);
    save_screenshot(&browser.screenshot(), "serve-jobs.png");
    browser.click("select[name=status] option[value=failed]");
    browser.click("form.filters button[type=submit]");
    Browser::wait("the filtered list", || {
        browser.url().contains("status=failed")
    });
    assert_eq!(browser.all("table.jobs tbody tr").len(), 1);
    assert_eq!(
        browser.text("table.jobs tbody tr td:nth-child(3)"),
        "failed\nNotAllRowsSuccessfullyProcessed"
    );

    // The job, and its failed rows downloaded by the browser.
    browser.click("table.jobs tbody tr td a");
    Browser::wait("the job page", || {
        browser.url().ends_with(&format!("/jobs/{failed_job}"))
    });
    assert_eq!(browser.text(".counts b.failure"), "116");
    browser.click("#failed-rows");
    let expected = served
        .get(&format!("/jobs/{failed_job}/failed-rows.csv"))
        .body;
    assert_eq!(downloaded(&browser.downloads), expected);
    assert!(
        String::from_utf8(expected)
            .unwrap()
            .starts_with("memberObjectIdOrUpn\nnobody-000@contoso.example\n")
    );

    watch_a_run(dir.path(), &browser, &base);
    delete_after_confirmation(dir.path(), &browser, &base);
}

/// A run going on: its counts rise while it runs, and the page stops asking
/// once it ended.
fn watch_a_run(dir: &Path, browser: &Browser, base: &str) {
    let two_steps = format!(
        "{MANIFEST}    - id: after\n      needs: [add]\n      removeMembers:\n        group: {{ displayName: eng-web }}\n        input: add.csv\n        results: \"results/{{{{run.id}}}}-after.csv\"\n"
    );
    std::fs::write(
        dir.join("live.yaml"),
        two_steps.replace("name: access", "name: live"),
    )
    .unwrap();
    std::fs::write(dir.join("add.csv"), member_list()).unwrap();
    let held = Held::start(
        dir,
        &["apply", "live.yaml"],
        &[("BULKOPS_CHUNK_ROWS", "10")],
        "after-apply:2",
    );
    let store = JobStore::open(&dir.join(".bulkops/state.db")).unwrap();
    let run = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|run| run.workflow == "live")
        .unwrap()
        .id;
    browser.open(&format!("{base}/runs/{run}"));
    assert_eq!(browser.text("g[data-step=add] text.rows"), "20 / 120 rows");
    assert_eq!(
        browser
            .attribute("g[data-step=add]", "data-state")
            .as_deref(),
        Some("running")
    );
    save_screenshot(&browser.screenshot(), "serve-run.png");
    held.release();
    Browser::wait("the run's end on the page", || {
        browser.attribute("#live", "data-status").as_deref() == Some("failed")
    });
    assert_eq!(browser.text("g[data-step=add] text.rows"), "120 / 120 rows");
    assert_eq!(
        browser.text("g[data-step=after] text.rows"),
        "120 / 120 rows"
    );
    assert_eq!(
        browser
            .attribute("g[data-step=after]", "data-state")
            .as_deref(),
        Some("finished")
    );
    assert!(browser.attribute("#live", "data-final").is_some());
    let (code, stderr) = held.finish();
    assert_eq!(code, 1, "{stderr}");
}

/// Delete, after the confirmation page.
fn delete_after_confirmation(dir: &Path, browser: &Browser, base: &str) {
    let store = JobStore::open(&dir.join(".bulkops/state.db")).unwrap();
    let tidy_job = store
        .jobs()
        .unwrap()
        .into_iter()
        .find(|job| job.workflow == "onboarding")
        .unwrap()
        .id;
    browser.open(&format!("{base}/jobs/{tidy_job}"));
    browser.click("a[href$='/delete']");
    Browser::wait("the confirmation", || browser.url().ends_with("/delete"));
    assert!(browser.text("main").contains("This cannot be undone"));
    assert!(
        store.job(&tidy_job).is_ok(),
        "nothing is deleted before the confirmation"
    );
    browser.click("#confirm-delete");
    Browser::wait("the list after the delete", || {
        browser.url().contains("deleted=")
    });
    assert!(
        browser
            .text("main")
            .contains(&format!("Deleted job {tidy_job}."))
    );
    assert!(store.job(&tidy_job).is_err());
}
