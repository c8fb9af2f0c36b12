//! `/`: the jobs, as the admin center's "Bulk operation results" lists them
//! (file, operation, status with reason, `# Success`, `# Failure`, total,
//! started), plus duration, workflow, step, run and what started it. Filters
//! and the page's place live in the URL, so a link shows the same jobs.

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, file_name, status_badge, time};
use super::{App, PageError};
use axum::extract::rejection::QueryRejection;

use crate::store::{
    Anchor, Cursor, JobFilter, JobPage, JobRecord, JobStore, RunRecord, Status, StoreError,
};

/// Jobs on one page.
pub(super) const PAGE_SIZE: usize = 50;

/// The URL's query: filters, order and where the page starts.
#[derive(Debug, Default, Deserialize)]
pub(super) struct JobsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    run: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    deleted: String,
    #[serde(default)]
    kept: u64,
    #[serde(default)]
    waiting: String,
    /// The server's signature of the note above, so a link cannot make the
    /// page say what did not happen.
    #[serde(default)]
    note: String,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn date(text: &str, name: &str) -> Result<Option<jiff::civil::Date>, PageError> {
    given(text)
        .map(|text| {
            text.parse().map_err(|_| {
                PageError::BadRequest(format!("`{name}` must be a date such as 2026-11-30"))
            })
        })
        .transpose()
}

fn cursor(text: &str) -> Result<Option<Cursor>, PageError> {
    given(text)
        .map(|text| {
            text.split_once('~')
                .map(|(started_at, id)| Cursor {
                    started_at: started_at.to_owned(),
                    id: id.to_owned(),
                })
                .ok_or_else(|| {
                    PageError::BadRequest("the page link is not one bulkops made".into())
                })
        })
        .transpose()
}

impl JobsQuery {
    fn filter(&self) -> Result<JobFilter, PageError> {
        let status = given(&self.status)
            .map(|key| {
                Status::parse(&key)
                    .ok_or_else(|| PageError::BadRequest(format!("no status is called `{key}`")))
            })
            .transpose()?;
        Ok(JobFilter {
            status,
            operation: given(&self.operation),
            workflow: given(&self.workflow),
            run: given(&self.run),
            since: date(&self.since, "since")?,
            until: date(&self.until, "until")?,
            of_runs: None,
        })
    }

    fn anchor(&self) -> Result<Anchor, PageError> {
        Ok(match (cursor(&self.after)?, cursor(&self.before)?) {
            (Some(after), _) => Anchor::After(after),
            (None, Some(before)) => Anchor::Before(before),
            (None, None) => Anchor::First,
        })
    }

    fn oldest_first(&self) -> bool {
        self.sort == "oldest"
    }

    fn check_sort(&self) -> Result<(), PageError> {
        match self.sort.as_str() {
            "" | "newest" | "oldest" => Ok(()),
            other => Err(PageError::BadRequest(format!(
                "`sort` is `newest` or `oldest`, not `{other}`"
            ))),
        }
    }

    /// The deleted job and the files it kept, when the server said so.
    fn deleted(&self, guard: &super::guard::Guard) -> Option<(String, u64)> {
        let id = given(&self.deleted)?;
        guard
            .note_is_genuine(&format!("deleted:{id}:{}", self.kept), &self.note)
            .then_some((id, self.kept))
    }

    /// The job whose retry waits, when the server said so.
    fn waiting(&self, guard: &super::guard::Guard) -> Option<String> {
        let id = given(&self.waiting)?;
        guard
            .note_is_genuine(&format!("waiting:{id}"), &self.note)
            .then_some(id)
    }

    /// This page's link with the filters kept and `place` as its start.
    fn link(&self, place: Option<(&str, &Cursor)>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", &self.status),
            ("operation", &self.operation),
            ("workflow", &self.workflow),
            ("run", &self.run),
            ("since", &self.since),
            ("until", &self.until),
            ("sort", &self.sort),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(name, value.trim());
            }
        }
        if let Some((name, cursor)) = place {
            query.append_pair(name, &format!("{}~{}", cursor.started_at, cursor.id));
        }
        format!("/?{}", query.finish())
    }
}

/// What the page shows besides the jobs.
struct Listing {
    page: JobPage,
    runs: HashMap<String, RunRecord>,
    workflows: Vec<String>,
    operations: Vec<String>,
    /// The job the previous action deleted, once it is gone, and how many of
    /// its files were kept.
    deleted: Option<(String, u64)>,
    /// The job whose retry waits.
    waiting: Option<String>,
}

/// The runs recorded as running that a process executes (`Running`) or that
/// none does (`Interrupted`).
fn runs_that_are(store: &JobStore, status: Status) -> Result<Vec<String>, PageError> {
    let mut runs = Vec::new();
    for run in store.running_runs()? {
        if store.run_is_held(&run)? == (status == Status::Running) {
            runs.push(run);
        }
    }
    Ok(runs)
}

/// `GET /`.
pub(super) async fn show(
    State(app): State<App>,
    query: Result<Query<JobsQuery>, QueryRejection>,
) -> Result<Markup, PageError> {
    let Query(query) = query.map_err(|rejection| PageError::BadRequest(rejection.body_text()))?;
    query.check_sort()?;
    let mut filter = query.filter()?;
    let waiting = query.waiting(&app.guard);
    let anchor = query.anchor()?;
    let oldest_first = query.oldest_first();
    let deleted = query.deleted(&app.guard);
    let listing = app
        .read(move |store| {
            if let Some(status @ (Status::Running | Status::Interrupted)) = filter.status {
                filter.of_runs = Some(runs_that_are(store, status)?);
            }
            let page = store.job_page(&filter, oldest_first, &anchor, PAGE_SIZE)?;
            // Said only of a job that is gone.
            let deleted = deleted
                .filter(|(id, _)| matches!(store.job(id), Err(StoreError::UnknownJob { .. })));
            let mut runs = HashMap::new();
            for job in &page.jobs {
                if !runs.contains_key(&job.run_id) {
                    runs.insert(job.run_id.clone(), store.run(&job.run_id)?);
                }
            }
            let (workflows, operations) = store.job_kinds()?;
            Ok(Listing {
                page,
                runs,
                workflows,
                operations,
                deleted,
                waiting,
            })
        })
        .await?;
    Ok(layout::page("Jobs", &render(&query, &listing)))
}

fn render(query: &JobsQuery, listing: &Listing) -> Markup {
    let page = &listing.page;
    html! {
        h1 { "Bulk operation results" }
        @if let Some((deleted, kept)) = &listing.deleted {
            p.note { "Deleted job " code { (deleted) } "."
                @if *kept > 0 { " " (kept) " of its files were kept: they changed since the job wrote them, or are gone." } }
        }
        @if let Some(waiting) = &listing.waiting {
            p.note { "The retry of job " code { (waiting) } " is waiting (another apply is changing the directory, say); its job appears here when it starts." }
        }
        (filters(query, listing))
        p.note { (page.matching) " matching " (if page.matching == 1 { "job" } else { "jobs" }) }
        table.jobs {
            thead { tr {
                th { "File name" } th { "Operation" } th { "Status" }
                th.num { "# Success" } th.num { "# Failure" } th.num { "Total Requests" }
                th { "Started (UTC)" } th { "Duration" } th { "Workflow" } th { "Step" }
                th { "Run" } th { "Source" }
            } }
            tbody {
                @for job in &page.jobs {
                    (row(job, listing.runs.get(&job.run_id)))
                }
            }
        }
        (pager(query, page))
    }
}

fn filters(query: &JobsQuery, listing: &Listing) -> Markup {
    let statuses = ["running", "interrupted", "completed", "failed", "cancelled"];
    html! {
        form.filters method="get" action="/" {
            label { "Status" select name="status" {
                option value="" { "any" }
                @for status in statuses {
                    option value=(status) selected[query.status == status] { (status) }
                }
            } }
            label { "Operation" select name="operation" {
                option value="" { "any" }
                @for operation in &listing.operations {
                    option value=(operation) selected[&query.operation == operation] { (operation) }
                }
            } }
            label { "Workflow" select name="workflow" {
                option value="" { "any" }
                @for workflow in &listing.workflows {
                    option value=(workflow) selected[&query.workflow == workflow] { (workflow) }
                }
            } }
            label { "From" input type="date" name="since" value=(query.since); }
            label { "To" input type="date" name="until" value=(query.until); }
            label { "Order" select name="sort" {
                option value="newest" selected[!query.oldest_first()] { "newest first" }
                option value="oldest" selected[query.oldest_first()] { "oldest first" }
            } }
            @if !query.run.is_empty() {
                input type="hidden" name="run" value=(query.run);
            }
            button type="submit" { "Show" }
            a href="/" { "Clear" }
        }
    }
}

fn row(job: &JobRecord, run: Option<&RunRecord>) -> Markup {
    let file = job.input_file.as_deref().map_or("", file_name);
    html! {
        tr {
            td { a href={ "/jobs/" (job.id) } { @if file.is_empty() { (job.name()) } @else { (file) } } }
            td { (job.operation) }
            td {
                (status_badge(job.status))
                @if let Some(reason) = &job.reason { br; span.reason { (short(reason)) } }
            }
            td.num { (job.succeeded) }
            td.num { (job.failed) }
            td.num { (job.total) }
            td.nowrap { (time(job.started_at)) }
            td { (crate::text::took(job.started_at, job.finished_at)) }
            td { (job.workflow) }
            td { (job.step) }
            td.nowrap { a href={ "/runs/" (job.run_id) } { (job.run_id) } }
            td { (source(job, run)) }
        }
    }
}

/// What started the job's run: a watched file, or a manifest.
fn source(job: &JobRecord, run: Option<&RunRecord>) -> Markup {
    html! {
        @if let Some(file) = &job.trigger_file {
            span title=(file) { "file " (file_name(file)) }
        } @else if let Some(run) = run {
            span title=(run.manifest_path) { "manifest " (file_name(&run.manifest_path)) }
        }
    }
}

fn short(reason: &str) -> String {
    if reason.chars().count() > 80 {
        reason.chars().take(79).chain(['…']).collect()
    } else {
        reason.to_owned()
    }
}

fn pager(query: &JobsQuery, page: &JobPage) -> Markup {
    html! {
        nav.pager {
            @if let Some(previous) = &page.previous {
                a rel="prev" href=(query.link(Some(("before", previous)))) { "← Previous" }
            }
            @if let Some(next) = &page.next {
                a rel="next" href=(query.link(Some(("after", next)))) { "Next →" }
            }
        }
    }
}
