//! `bulkops serve` over HTTP: the jobs list with its filters and pages, a
//! job's rows and streamed downloads, a run's live part, the actions with
//! their confirmations, CSRF and read-only refusals, escaping of hostile
//! names, loopback by default and token sign-in for remote access.

use std::fmt::Write as _;
use std::path::Path;

use bulkops::store::{JobCounts, JobStore, NewJob, NewRun, Status};

use crate::support::{Held, bulkops_env, bulkops_in, membership_pairs};
use crate::web_support::{Served, attributes};

const ENG_WEB: &str = "ea667e41-e369-433b-bc84-bb902ea775ad";

/// Members to add to `eng-web`: four people of the demo tenant, then 116
/// who are not in it (rows that fail as `notFound`).
pub(crate) fn member_list() -> String {
    let mut list = String::from("memberObjectIdOrUpn\n");
    for known in [
        "ben.patel@contoso.example",
        "grace.silva@contoso.example",
        "jamal.rossi@contoso.example",
        "dana.kim@contoso.example",
    ] {
        list.push_str(known);
        list.push('\n');
    }
    for missing in 0..116 {
        let _ = writeln!(list, "nobody-{missing:03}@contoso.example");
    }
    list
}

pub(crate) const MANIFEST: &str = "apiVersion: bulkops/v1
kind: Workflow
metadata:
  name: access
spec:
  steps:
    - id: add
      importMembers:
        group: { displayName: eng-web }
        input: add.csv
        results: \"results/{{run.id}}-add.csv\"
";

/// A folder with the demo directory and one applied import whose rows
/// partly fail; the import's job id.
pub(crate) fn imported() -> (tempfile::TempDir, String) {
    let (dir, job) = imported_from(&member_list());
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    let record = store.job(&job).unwrap();
    assert_eq!(
        (record.succeeded, record.failed, record.total),
        (4, 116, 120)
    );
    (dir, job)
}

/// A folder with the demo directory and `list` imported into `eng-web`.
fn imported_from(list: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    std::fs::write(dir.path().join("add.csv"), list).unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    (dir, store.jobs().unwrap().remove(0).id)
}

fn job_links(page: &str) -> Vec<String> {
    attributes(page, "href")
        .into_iter()
        .filter(|link| link.starts_with("/jobs/"))
        .collect()
}

/// 120 jobs of one run, one a minute from 2026-11-01 00:00 UTC; even ones
/// completed with `importMembers`, odd ones failed with `removeMembers`.
fn many_jobs(dir: &Path) -> Vec<String> {
    let mut store = JobStore::open(&dir.join(".bulkops/state.db")).unwrap();
    let start: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    store
        .start_run(&NewRun {
            id: "20261101-000000-aaaa",
            workflow: "history",
            manifest_path: "/srv/history.yaml",
            manifest_text: "",
            directory: "local",
            output_root: "/srv/out",
            input_base: "/srv",
            directory_location: "/srv/directory.db",
            trigger_file: None,
            started_at: start,
            chunk_rows: 100,
            max_removals: 0,
            max_device_deletions: 0,
            inputs: &[],
            ledger: None,
            saved: None,
        })
        .unwrap();
    let mut ids = Vec::new();
    for index in 0..120_i64 {
        let odd = index % 2 == 1;
        let target = format!("group-{index:03}");
        let job = store
            .start_job(&NewJob {
                run_id: "20261101-000000-aaaa",
                workflow: "history",
                step: "change",
                operation: if odd {
                    "removeMembers"
                } else {
                    "importMembers"
                },
                target_id: &target,
                target_name: Some(&target),
                input_file: None,
                started_at: start + jiff::SignedDuration::from_mins(index),
            })
            .unwrap();
        let (status, failed) = if odd {
            (Status::Failed, 1)
        } else {
            (Status::Completed, 0)
        };
        let counts = JobCounts {
            total: 3,
            succeeded: 3 - failed,
            failed,
            changed: 3 - failed,
        };
        store
            .finish_job(&job.id, status, None, counts, start)
            .unwrap();
        ids.push(job.id);
    }
    store
        .finish_run("20261101-000000-aaaa", Status::Failed, None, start)
        .unwrap();
    ids
}

#[test]
fn the_jobs_list_pages_through_every_job_once_in_order_under_its_filters() {
    let dir = tempfile::tempdir().unwrap();
    let ids = many_jobs(dir.path());
    let served = Served::start(dir.path(), &[]);
    let first = served.get("/");
    assert_eq!(first.status, 200);
    let text = first.text();
    for column in [
        "File name",
        "Operation",
        "Status",
        "# Success",
        "# Failure",
        "Total Requests",
        "Started (UTC)",
        "Duration",
        "Workflow",
        "Step",
        "Run",
        "Source",
    ] {
        assert!(text.contains(&format!(">{column}</th>")), "{column}");
    }
    assert!(text.contains("120 matching jobs"));
    // Newest first, 50 a page, every job once, then back again.
    let mut seen = Vec::new();
    let mut page = text;
    let mut links = Vec::new();
    loop {
        seen.extend(job_links(&page));
        let next = attributes(&page, "href")
            .into_iter()
            .find(|link| link.contains("after="));
        match next {
            Some(next) => {
                links.push(next.clone());
                page = served.get(&next).text();
            }
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().map(|id| format!("/jobs/{id}")).collect();
    assert_eq!(seen, newest_first);
    assert_eq!(links.len(), 2);
    let previous = attributes(&page, "href")
        .into_iter()
        .find(|link| link.contains("before="))
        .unwrap();
    assert_eq!(
        job_links(&served.get(&previous).text()),
        newest_first[50..100]
    );
    // Filters narrow the list and stay in the page links.
    let failed = served.get("/?status=failed&sort=oldest").text();
    assert!(failed.contains("60 matching jobs"));
    let odd: Vec<String> = ids
        .iter()
        .skip(1)
        .step_by(2)
        .take(50)
        .map(|id| format!("/jobs/{id}"))
        .collect();
    assert_eq!(job_links(&failed), odd);
    let next = attributes(&failed, "href")
        .into_iter()
        .find(|l| l.contains("after="))
        .unwrap();
    assert!(
        next.contains("status=failed") && next.contains("sort=oldest"),
        "{next}"
    );
    assert_eq!(job_links(&served.get(&next).text()).len(), 10);
    let imports = served
        .get("/?operation=importMembers&workflow=history")
        .text();
    assert!(imports.contains("60 matching jobs"));
    // 00:00 to 01:59 on 2026-11-01 is every job; the day before, none.
    assert!(
        served
            .get("/?since=2026-11-01&until=2026-11-01")
            .text()
            .contains("120 matching jobs")
    );
    assert!(
        served
            .get("/?until=2026-10-31")
            .text()
            .contains("0 matching jobs")
    );
    // A filter the page does not know is refused, not ignored.
    assert_eq!(served.get("/?status=exploded").status, 400);
    assert_eq!(served.get("/?since=yesterday").status, 400);
    assert_eq!(served.get("/?after=no-cursor").status, 400);
}

#[test]
fn a_job_shows_its_rows_a_page_at_a_time_and_its_failed_rows_alone() {
    let (dir, job) = imported();
    let served = Served::start(dir.path(), &[]);
    let page = served.get(&format!("/jobs/{job}")).text();
    assert!(page.contains(r#"<b class="success">4</b>"#), "{page}");
    assert!(page.contains(r#"<b class="failure">116</b>"#));
    assert!(page.contains(r#"<b class="total">120</b>"#));
    assert!(
        page.contains("<th>memberObjectIdOrUpn</th><th>line</th><th>status</th><th>error</th>")
    );
    let rows = |page: &str| page.matches("<tr class=").count();
    assert_eq!(rows(&page), 50);
    assert!(page.contains("<td>ben.patel@contoso.example</td><td>2</td><td>added</td>"));
    let next = attributes(&page, "href")
        .into_iter()
        .find(|l| l.contains("from="))
        .unwrap();
    let second = served.get(&next).text();
    assert_eq!(rows(&second), 50);
    assert!(second.contains("<td>nobody-046@contoso.example</td><td>52</td><td>notFound</td>"));
    let third_link = attributes(&second, "href")
        .into_iter()
        .find(|l| l.contains("from="))
        .unwrap();
    let third = served.get(&third_link).text();
    assert_eq!(rows(&third), 20);
    assert!(!third.contains("from="), "the last page has no next page");
    // Failed only: 116 rows, every one failed.
    let failed = served.get(&format!("/jobs/{job}?failed=1")).text();
    assert_eq!(failed.matches(r#"<tr class="failed">"#).count(), 50);
    assert!(!failed.contains(r#"<tr class="ok">"#));
    assert!(failed.contains("<td>nobody-000@contoso.example</td><td>6</td><td>notFound</td><td>no user, group, device or service principal has this object id or user principal name</td>"), "{failed}");
    // Only page links this server made are taken: an offset in the middle
    // of a row (or of a quoted cell) is refused.
    let skewed = served.get(&format!("/jobs/{job}?from=7"));
    assert_eq!(skewed.status, 400);
    assert!(
        skewed
            .text()
            .contains("the page link is not one this server made")
    );
    let forged = next.replace("from=", "from=1");
    assert_eq!(served.get(&forged).status, 400, "{forged}");
    assert_eq!(
        served.get(&format!("/jobs/{job}?failed=1&failed=0")).status,
        400
    );
}

#[test]
fn a_page_of_failed_rows_links_on_only_when_another_failed_row_follows() {
    let mut list = String::from("memberObjectIdOrUpn\n");
    for missing in 0..50 {
        let _ = writeln!(list, "nobody-{missing:03}@contoso.example");
    }
    list.push_str("ben.patel@contoso.example\ngrace.silva@contoso.example\n");
    let (dir, job) = imported_from(&list);
    let served = Served::start(dir.path(), &[]);
    let failed = served.get(&format!("/jobs/{job}?failed=1")).text();
    assert_eq!(failed.matches(r#"<tr class="failed">"#).count(), 50);
    assert!(!failed.contains("rel=\"next\""), "{failed}");
    let all = served.get(&format!("/jobs/{job}")).text();
    assert!(
        all.contains("rel=\"next\""),
        "all rows go on to the successes"
    );
}

#[test]
fn an_input_is_served_only_while_it_is_what_the_run_read() {
    let (dir, job) = imported();
    let served = Served::start(dir.path(), &[]);
    let input = dir.path().join("add.csv");
    assert_eq!(served.get(&format!("/jobs/{job}/input")).status, 200);
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "not for the page\n").unwrap();
    std::fs::remove_file(&input).unwrap();
    std::os::unix::fs::symlink(&secret, &input).unwrap();
    let linked = served.get(&format!("/jobs/{job}/input"));
    assert_eq!(linked.status, 404);
    assert!(linked.text().contains("changed since the run read it"));
    assert!(!linked.text().contains("not for the page"));
    std::fs::remove_file(&input).unwrap();
    std::fs::write(&input, member_list()).unwrap();
    let same = served.get(&format!("/jobs/{job}/input"));
    assert_eq!(same.status, 200);
    assert_eq!(same.text(), member_list());
}

#[test]
fn a_half_sent_request_is_closed_and_holds_no_page_up() {
    use std::io::{Read, Write};
    let (dir, _) = imported();
    let served = Served::start(dir.path(), &[]);
    let mut slow = std::net::TcpStream::connect(&served.addr).unwrap();
    slow.write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n", served.addr).as_bytes())
        .unwrap();
    assert_eq!(
        served.get("/").status,
        200,
        "other requests are answered meanwhile"
    );
    // The server closes the connection once its headers are 10 s late.
    slow.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
}

#[test]
fn downloads_stream_the_result_file_and_failed_rows_that_the_step_takes_back() {
    let (dir, job) = imported();
    let served = Served::start(dir.path(), &[]);
    let results = served.get(&format!("/jobs/{job}/results.csv"));
    assert_eq!(results.status, 200);
    assert_eq!(
        results.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        results.header("content-disposition"),
        Some(format!("attachment; filename=\"{job}-results.csv\"").as_str())
    );
    let written = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(results.body, std::fs::read(&written).unwrap());
    let failed = served.get(&format!("/jobs/{job}/failed-rows.csv"));
    let mut expected = String::from("memberObjectIdOrUpn\n");
    for missing in 0..116 {
        let _ = writeln!(expected, "nobody-{missing:03}@contoso.example");
    }
    assert_eq!(failed.text(), expected);
    let input = served.get(&format!("/jobs/{job}/input"));
    assert_eq!(input.text(), member_list());
    // The failed rows go straight back into the step.
    std::fs::write(dir.path().join("add.csv"), failed.body).unwrap();
    let again = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(again.code, 1, "{}", again.transcript());
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    let newest = store
        .jobs()
        .unwrap()
        .into_iter()
        .max_by_key(|job| job.started_at)
        .unwrap();
    assert_eq!(
        (newest.succeeded, newest.failed, newest.total),
        (0, 116, 116)
    );
    // A result file replaced since the job wrote it is not served.
    std::fs::write(&written, "forged\n").unwrap();
    let replaced = served.get(&format!("/jobs/{job}/results.csv"));
    assert_eq!(replaced.status, 404);
    assert!(
        replaced
            .text()
            .contains("changed or is gone since the job wrote it")
    );
}

#[test]
fn hostile_display_names_render_as_text_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let db = rusqlite::Connection::open(dir.path().join(".bulkops/directory.db")).unwrap();
    db.execute(
        "UPDATE groups SET display_name = ?1 WHERE id = ?2",
        [hostile, ENG_WEB],
    )
    .unwrap();
    drop(db);
    let manifest = MANIFEST.replace("{ displayName: eng-web }", &format!("{{ id: {ENG_WEB} }}"));
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(
        dir.path().join("add.csv"),
        format!("memberObjectIdOrUpn\n{hostile}\n"),
    )
    .unwrap();
    let run = bulkops_in(dir.path(), &["apply", "m.yaml"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    let job = store.jobs().unwrap().remove(0);
    assert_eq!(job.target_name.as_deref(), Some(hostile));
    let served = Served::start(dir.path(), &[]);
    for path in [
        "/".to_owned(),
        format!("/jobs/{}", job.id),
        format!("/runs/{}", job.run_id),
        format!("/runs/{}/live", job.run_id),
        format!("/jobs/{}/delete", job.id),
    ] {
        let page = served.get(&path);
        assert_eq!(page.status, 200, "{path}");
        let text = page.text();
        assert!(!text.contains("<script>alert"), "{path}: {text}");
        assert!(!text.contains("<img src=x"), "{path}");
    }
    let job_page = served.get(&format!("/jobs/{}", job.id)).text();
    assert!(
        job_page.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
        ),
        "{job_page}"
    );
    let answer = served.get("/");
    assert!(
        answer
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(answer.header("x-frame-options"), Some("DENY"));
}

/// The `csrf=` form body of the page's forms.
fn form(served: &Served, page: &str) -> String {
    format!("csrf={}", served.csrf(page))
}

#[test]
fn deleting_a_job_asks_first_and_needs_the_page_s_token() {
    let (dir, job) = imported();
    let served = Served::start(dir.path(), &[]);
    let written = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let confirm = served.get(&format!("/jobs/{job}/delete"));
    assert!(confirm.text().contains("This cannot be undone"));
    assert!(confirm.text().contains(&written.display().to_string()));
    let path = format!("/jobs/{job}/delete");
    // No token, a wrong token, another site's origin: refused, nothing deleted.
    assert_eq!(served.post(&path, "", &[]).status, 403);
    assert_eq!(
        served
            .post(&path, &format!("csrf={}", "0".repeat(64)), &[])
            .status,
        403
    );
    let body = form(&served, &path);
    let elsewhere = served.post(&path, &body, &[("Origin", "http://attacker.example")]);
    assert_eq!(elsewhere.status, 403);
    assert!(written.exists());
    assert!(
        JobStore::open(&dir.path().join(".bulkops/state.db"))
            .unwrap()
            .job(&job)
            .is_ok()
    );
    // With the page's token: deleted with its file.
    let origin = format!("http://{}", served.addr);
    let deleted = served.post(&path, &body, &[("Origin", &origin)]);
    assert_eq!(deleted.status, 303, "{}", deleted.text());
    let location = deleted.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/?deleted={job}&kept=0&note=")),
        "{location}"
    );
    assert!(
        served
            .get(&location)
            .text()
            .contains(&format!("Deleted job <code>{job}</code>."))
    );
    // A link cannot make the page say something that did not happen.
    let forged = served.get("/?deleted=everything&kept=5").text();
    assert!(!forged.contains("Deleted job"));
    assert!(!written.exists());
    assert_eq!(served.get(&format!("/jobs/{job}")).status, 404);
    assert_eq!(served.post(&path, &body, &[]).status, 404);
}

#[test]
fn read_only_shows_no_action_and_refuses_every_one() {
    let (dir, job) = imported();
    let served = Served::start(dir.path(), &["--read-only"]);
    assert!(served.banner.ends_with("(read-only)"), "{}", served.banner);
    let page = served.get(&format!("/jobs/{job}")).text();
    assert!(!page.contains("<form"), "{page}");
    assert!(!page.contains("/delete"));
    assert_eq!(served.get(&format!("/jobs/{job}/delete")).status, 403);
    for action in [format!("/jobs/{job}/delete"), format!("/jobs/{job}/retry")] {
        assert_eq!(served.post(&action, "csrf=x", &[]).status, 403, "{action}");
    }
    assert!(
        JobStore::open(&dir.path().join(".bulkops/state.db"))
            .unwrap()
            .job(&job)
            .is_ok()
    );
}

#[test]
fn the_page_answers_loopback_names_only_and_remote_access_needs_the_sign_in_link() {
    let dir = tempfile::tempdir().unwrap();
    let refused = bulkops_in(dir.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(refused.code, 64, "{}", refused.transcript());
    assert!(
        refused
            .stderr_text()
            .contains("`0.0.0.0:0` is not a loopback address")
    );
    let missing = bulkops_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(missing.code, 66, "{}", missing.transcript());
    assert!(missing.stderr_text().contains("there is no job history at"));
    assert!(
        !dir.path().join(".bulkops/state.db").exists(),
        "serve creates no store"
    );
    drop(JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap());
    let served = Served::start(dir.path(), &[]);
    assert!(
        served
            .banner
            .starts_with("bulkops serve: open http://127.0.0.1:")
    );
    let port = served.addr.rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        served
            .get_with("/", &[("Host", &format!("localhost:{port}"))])
            .status,
        200
    );
    // A name rebound to 127.0.0.1 by another site is refused.
    assert_eq!(
        served
            .get_with("/", &[("Host", &format!("attacker.example:{port}"))])
            .status,
        403
    );
    drop(served);
    let remote = Served::start(dir.path(), &["--allow-remote"]);
    let link = remote.banner.split("open ").nth(1).unwrap().to_owned();
    let path_and_token = link.split(&remote.addr).nth(1).unwrap().to_owned();
    assert!(path_and_token.starts_with("/login?token="));
    assert_eq!(remote.get("/").status, 401);
    assert_eq!(remote.get("/login?token=guess").status, 401);
    let signed_in = remote.get(&path_and_token);
    assert_eq!(signed_in.status, 303);
    let cookie = signed_in.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(remote.get_with("/", &[("Cookie", &session)]).status, 200);
    assert_eq!(
        remote
            .get_with("/", &[("Cookie", "bulkops_session=forged")])
            .status,
        401
    );
}

#[test]
fn a_job_whose_run_can_resume_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    std::fs::write(dir.path().join("add.csv"), member_list()).unwrap();
    let held = Held::start(
        dir.path(),
        &["apply", "m.yaml"],
        &[("BULKOPS_CHUNK_ROWS", "10")],
        "after-journal:2",
    );
    let served = Served::start(dir.path(), &[]);
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    let job = store.jobs().unwrap().remove(0).id;
    let running = served.get(&format!("/jobs/{job}")).text();
    assert!(running.contains("Cannot be deleted: its run"), "{running}");
    assert!(
        running.contains(r#"<b class="total">20 / 120</b>"#),
        "{running}"
    );
    assert_eq!(served.get(&format!("/jobs/{job}/delete")).status, 409);
    let csrf = served.csrf(&format!("/runs/{}", store.job(&job).unwrap().run_id));
    assert!(
        served
            .get("/?status=running")
            .text()
            .contains("1 matching job")
    );
    assert!(
        served
            .get("/?status=interrupted")
            .text()
            .contains("0 matching jobs")
    );
    held.kill();
    assert!(
        served
            .get("/?status=running")
            .text()
            .contains("0 matching jobs")
    );
    let list = served.get("/?status=interrupted").text();
    assert!(list.contains("1 matching job"), "{list}");
    // The list shows what the journal holds: 20 rows, 4 added, 16 not found.
    assert!(
        list.contains(r#"<td class="num">4</td><td class="num">16</td><td class="num">20</td>"#),
        "{list}"
    );
    let retried = served.post(&format!("/jobs/{job}/retry"), &format!("csrf={csrf}"), &[]);
    assert_eq!(
        retried.status, 409,
        "a resume finishes this job, not a retry"
    );
    let run_page = served
        .get(&format!("/runs/{}", store.job(&job).unwrap().run_id))
        .text();
    assert!(
        run_page.contains(r#"data-step="add" data-state="interrupted""#),
        "{run_page}"
    );
    let interrupted = served.get(&format!("/jobs/{job}")).text();
    assert!(interrupted.contains(r#"<span class="status interrupted">"#));
    let path = format!("/jobs/{job}/delete");
    let refused = served.post(&path, &format!("csrf={csrf}"), &[]);
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains("can still be resumed with `bulkops apply --resume")
    );
    assert!(store.job(&job).is_ok());
}

#[test]
fn cancel_from_the_page_drains_the_run_and_leaves_it_resumable() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(bulkops_in(dir.path(), &["directory", "init"]).code, 0);
    let manifest = format!(
        "{MANIFEST}    - id: after\n      needs: [add]\n      removeMembers:\n        group: {{ displayName: eng-web }}\n        input: add.csv\n"
    );
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(dir.path().join("add.csv"), member_list()).unwrap();
    let env = [
        ("BULKOPS_CHUNK_ROWS", "10"),
        ("BULKOPS_MONITOR_EVERY_MS", "20"),
    ];
    let held = Held::start(dir.path(), &["apply", "m.yaml"], &env, "after-apply:3");
    let served = Served::start(dir.path(), &[]);
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    let run = store.runs().unwrap().remove(0).id;
    let page = served.get(&format!("/runs/{run}")).text();
    assert!(
        page.contains(r#"data-step="add" data-state="running""#),
        "{page}"
    );
    assert!(page.contains(r#"data-step="after" data-state="pending""#));
    assert!(page.contains("30 / 120 rows"), "{page}");
    assert!(!page.contains("data-final"));
    let cancel = format!("/runs/{run}/cancel");
    assert_eq!(served.post(&cancel, "csrf=nope", &[]).status, 403);
    let body = format!("csrf={}", served.csrf(&format!("/runs/{run}")));
    let asked = served.post(&cancel, &body, &[]);
    assert_eq!(asked.status, 303, "{}", asked.text());
    held.wait_for("cancel asked for in the job store");
    held.release();
    let (code, stderr) = held.finish();
    assert_eq!(code, 130, "{stderr}");
    let live = served.get(&format!("/runs/{run}/live")).text();
    assert!(live.contains("data-final"), "{live}");
    assert!(live.contains(r#"data-status="cancelled""#));
    assert!(
        live.contains(r#"data-step="add" data-state="finished""#),
        "{live}"
    );
    assert!(live.contains(r#"data-step="after" data-state="cancelled""#));
    // A cancelled run is not running: cancelling again is refused.
    assert_eq!(served.post(&cancel, &body, &[]).status, 409);
    let resumed = bulkops_env(dir.path(), &["apply", "--resume", &run], &env);
    assert_eq!(resumed.code, 1, "{}", resumed.transcript());
    assert_eq!(store.run(&run).unwrap().status, Status::Failed);
    let states: Vec<String> = store
        .steps(&run)
        .unwrap()
        .into_iter()
        .map(|step| step.state)
        .collect();
    assert_eq!(states, ["finished", "finished"]);
}

#[test]
fn retrying_failed_rows_runs_them_again_as_a_new_run_on_the_same_group() {
    let (dir, job) = imported();
    // Half the missing people join the tenant before the retry.
    let db = rusqlite::Connection::open(dir.path().join(".bulkops/directory.db")).unwrap();
    for index in 0..58 {
        db.execute(
            "INSERT INTO users (id, user_principal_name, display_name, created_date_time) VALUES (?1, ?2, ?2, '2026-11-30T00:00:00Z')",
            [format!("00000000-0000-0000-0001-{index:012}"), format!("nobody-{index:03}@contoso.example")],
        )
        .unwrap();
    }
    drop(db);
    let served = Served::start(dir.path(), &[]);
    let body = form(&served, &format!("/jobs/{job}"));
    let retried = served.post(&format!("/jobs/{job}/retry"), &body, &[]);
    assert_eq!(retried.status, 303, "{}", retried.text());
    let run = retried
        .header("location")
        .unwrap()
        .trim_start_matches("/runs/")
        .to_owned();
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    crate::support::wait_until(
        "the retry ends",
        std::time::Duration::from_secs(120),
        || store.run(&run).unwrap().status != Status::Running,
    );
    let record = store.run(&run).unwrap();
    assert_eq!(record.workflow, "access-retry");
    assert_eq!(record.status, Status::Failed, "{:?}", record.reason);
    let jobs = store.jobs_of_run(&run).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].target_id, ENG_WEB);
    assert_eq!(
        (jobs[0].succeeded, jobs[0].failed, jobs[0].total),
        (58, 58, 116)
    );
    let input = jobs[0].input_file.clone().unwrap();
    assert!(
        input.ends_with(&format!("retries/{job}/failed-rows.csv")),
        "{input}"
    );
    let retry_manifest =
        std::fs::read_to_string(dir.path().join(format!("retries/{job}/retry.yaml"))).unwrap();
    assert!(
        retry_manifest.contains("  csv: { formulas: neutralize, bom: false }\n"),
        "{retry_manifest}"
    );
    assert!(
        retry_manifest.contains(&format!("group: {{ id: \"{ENG_WEB}\" }}")),
        "{retry_manifest}"
    );
    let members = membership_pairs(&dir.path().join(".bulkops/directory.db"));
    assert!(members.contains(&(
        ENG_WEB.to_owned(),
        "00000000-0000-0000-0001-000000000057".to_owned()
    )));
    let page = served.get(&format!("/runs/{run}")).text();
    assert!(page.contains(r#"data-status="failed""#), "{page}");
    assert!(page.contains("116 / 116 rows"));
}

#[test]
fn a_run_through_microsoft_graph_shows_its_traffic() {
    use crate::emulator_support::{Emulator, FAULTS, SECRET_ENV, demo_database};
    let dir = tempfile::tempdir().unwrap();
    let db = demo_database(dir.path());
    let emulator = Emulator::start(&db, FAULTS);
    emulator.write_profiles(dir.path(), 100);
    let manifest = MANIFEST.replace("spec:\n", "spec:\n  directory: emu\n");
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    std::fs::write(dir.path().join("add.csv"), member_list()).unwrap();
    let run = bulkops_env(
        dir.path(),
        &["apply", "m.yaml"],
        &[(SECRET_ENV, "pull-test-secret")],
    );
    assert_eq!(run.code, 1, "{}", run.transcript());
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    let run_id = store.runs().unwrap().remove(0).id;
    let traffic = store
        .traffic(&run_id)
        .unwrap()
        .expect("a Graph run records its traffic");
    assert!(traffic.requests > 0);
    let served = Served::start(dir.path(), &[]);
    let page = served.get(&format!("/runs/{run_id}")).text();
    assert!(
        page.contains(&format!(
            "<p class=\"traffic\">{} requests, {} answered 429 (throttled), {} retries</p>",
            traffic.requests, traffic.throttled, traffic.retries
        )),
        "{page}"
    );
    // A run on the local directory has none, and says nothing about Graph.
    let (local, _) = imported();
    let local_store = JobStore::open(&local.path().join(".bulkops/state.db")).unwrap();
    let local_run = local_store.runs().unwrap().remove(0).id;
    assert!(local_store.traffic(&local_run).unwrap().is_none());
    let served = Served::start(local.path(), &[]);
    assert!(
        !served
            .get(&format!("/runs/{local_run}"))
            .text()
            .contains("Microsoft Graph")
    );
}

#[test]
fn downloads_that_clients_do_not_read_are_limited_and_other_pages_go_on() {
    use std::io::{Read, Write};
    let mut list = String::from("memberObjectIdOrUpn\n");
    for missing in 0..60_000 {
        let _ = writeln!(list, "nobody-{missing:06}@contoso.example");
    }
    let (dir, job) = imported_from(&list);
    let served = Served::start(dir.path(), &[]);
    // Sixteen clients ask for the 8 MB result file and never read it.
    let stalled: Vec<std::net::TcpStream> = (0..16)
        .map(|_| {
            let mut stream = small_window(&served.addr);
            write!(
                stream,
                "GET /jobs/{job}/results.csv HTTP/1.1\r\nHost: {}\r\n\r\n",
                served.addr
            )
            .unwrap();
            // Its download has begun: the answer's first bytes are here.
            let mut status = [0u8; 12];
            stream.read_exact(&mut status).unwrap();
            assert_eq!(&status, b"HTTP/1.1 200");
            stream
        })
        .collect();
    let refused = served.get(&format!("/jobs/{job}/results.csv"));
    assert_eq!(refused.status, 503);
    assert!(
        refused
            .text()
            .contains("16 downloads are going on; try again in a moment")
    );
    assert_eq!(served.get("/").status, 200, "pages are answered meanwhile");
    assert_eq!(served.get(&format!("/jobs/{job}")).status, 200);
    drop(stalled);
    crate::support::wait_until(
        "downloads again once the clients left",
        std::time::Duration::from_secs(120),
        || served.get(&format!("/jobs/{job}/results.csv")).status == 200,
    );
}

/// A connection whose receive buffer holds 4 KiB, set before it connects, so
/// an unread answer stays on the server's side.
fn small_window(addr: &str) -> std::net::TcpStream {
    use rustix::net::{AddressFamily, SocketType, ipproto, socket, sockopt};
    let socket = socket(AddressFamily::INET, SocketType::STREAM, Some(ipproto::TCP)).unwrap();
    sockopt::set_socket_recv_buffer_size(&socket, 4096).unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    rustix::net::connect(&socket, &addr).unwrap();
    std::net::TcpStream::from(socket)
}

#[test]
fn a_form_whose_body_never_arrives_is_refused() {
    use std::io::{Read, Write};
    let (dir, job) = imported();
    let served = Served::start(dir.path(), &[]);
    let mut slow = std::net::TcpStream::connect(&served.addr).unwrap();
    write!(
        slow,
        "POST /jobs/{job}/delete HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ncsrf=",
        served.addr
    )
    .unwrap();
    assert_eq!(
        served.get("/").status,
        200,
        "other requests are answered meanwhile"
    );
    slow.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut answer = [0u8; 12];
    slow.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 400");
    assert!(
        JobStore::open(&dir.path().join(".bulkops/state.db"))
            .unwrap()
            .job(&job)
            .is_ok()
    );
}

#[test]
fn a_job_is_retried_once_at_a_time_across_servers() {
    let (dir, job) = imported();
    let marker = tempfile::tempdir().unwrap();
    let hold = marker.path().join("hold");
    let hold_text = hold.display().to_string();
    let first = Served::start_with(
        dir.path(),
        &[],
        &[
            ("BULKOPS_FAULT_HOLD", "after-apply:1"),
            ("BULKOPS_FAULT_HOLD_FILE", &hold_text),
        ],
    );
    let body = form(&first, &format!("/jobs/{job}"));
    let started = first.post(&format!("/jobs/{job}/retry"), &body, &[]);
    assert_eq!(started.status, 303, "{}", started.text());
    let run = started
        .header("location")
        .unwrap()
        .trim_start_matches("/runs/")
        .to_owned();
    crate::support::wait_until(
        "the retry holds",
        std::time::Duration::from_secs(120),
        || hold.exists(),
    );
    // A second server on the same store refuses a second retry of the job.
    let second = Served::start(dir.path(), &[]);
    let refused = second.post(
        &format!("/jobs/{job}/retry"),
        &form(&second, &format!("/jobs/{job}")),
        &[],
    );
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains(&format!("a retry of job `{job}` is going on: run `{run}`"))
    );
    std::fs::remove_file(&hold).unwrap();
    let store = JobStore::open(&dir.path().join(".bulkops/state.db")).unwrap();
    crate::support::wait_until(
        "the retry ends",
        std::time::Duration::from_secs(120),
        || store.run(&run).unwrap().status != Status::Running,
    );
    assert_eq!(store.run(&run).unwrap().status, Status::Failed);
}
