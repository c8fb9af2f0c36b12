//! `/jobs/{id}`: a job's counts first, then its rows from the result file, a
//! page at a time (failed ones only if asked), its downloads and actions.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, file_name, status_badge, time};
use super::result_file::{self, RowsPage};
use super::{App, PageError};
use crate::store::{JobFile, JobRecord, RunRecord, Status};

/// Rows on one page.
pub(super) const ROWS_PER_PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RowsQuery {
    /// Where the page starts in the result file, signed by this server (only
    /// offsets of rows it found are taken).
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    failed: Option<String>,
}

impl RowsQuery {
    fn failed_only(&self) -> Result<bool, PageError> {
        match self.failed.as_deref() {
            None | Some("" | "0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(PageError::BadRequest(format!(
                "`failed` is 1 (failed rows only) or 0, not `{other}`"
            ))),
        }
    }
}

/// What the page shows.
struct Shown {
    job: JobRecord,
    run: RunRecord,
    deletable: Option<String>,
    files: Vec<JobFile>,
    /// The rows an open job is to process, when it recorded them.
    planned: Option<u64>,
    rows: Option<Result<RowsPage, String>>,
    /// Where the next page starts, signed.
    next: Option<String>,
}

/// `GET /jobs/{id}`.
pub(super) async fn show(
    State(app): State<App>,
    Path(id): Path<String>,
    query: Result<Query<RowsQuery>, QueryRejection>,
) -> Result<Markup, PageError> {
    let Query(query) = query.map_err(|rejection| PageError::BadRequest(rejection.body_text()))?;
    let failed_only = query.failed_only()?;
    let from = query
        .from
        .as_deref()
        .map(|text| {
            app.guard.verify_offset(&id, text).ok_or_else(|| {
                PageError::BadRequest(
                    "the page link is not one this server made; open the job's first page"
                        .to_owned(),
                )
            })
        })
        .transpose()?;
    let mut shown = app
        .read(move |store| {
            let job = store.job(&id)?;
            let run = store.run(&job.run_id)?;
            let deletable = store.why_kept(&job)?;
            let files = store.files(&id)?;
            let planned = matches!(job.status, Status::Running | Status::Interrupted)
                .then(|| store.planned_rows(&id))
                .transpose()?;
            let results = result_file::results_of(store, &id)?
                .map(|record| result_file::open_file(store, &id, &record));
            Ok((
                Shown {
                    job,
                    run,
                    deletable,
                    files,
                    planned: planned.flatten(),
                    rows: None,
                    next: None,
                },
                results,
            ))
        })
        .await?;
    // The file is read without the store: a page of a large file holds no
    // other page up.
    if let Some(results) = shown.1.take() {
        let page = tokio::task::spawn_blocking(move || {
            results.and_then(|file| result_file::read_page(file, from, failed_only, ROWS_PER_PAGE))
        })
        .await
        .map_err(|error| PageError::Internal(error.to_string()))?;
        shown.0.next = page
            .as_ref()
            .ok()
            .and_then(|page| page.next)
            .map(|next| app.guard.sign_offset(&shown.0.job.id, next));
        shown.0.rows = Some(page.map_err(PageError::into_message));
    }
    let shown = shown.0;
    let title = format!("Job {}", shown.job.name());
    Ok(layout::page(
        &title,
        &render(
            &shown,
            failed_only,
            app.settings.read_only,
            app.guard.csrf(),
        ),
    ))
}

fn render(shown: &Shown, failed_only: bool, read_only: bool, csrf: &str) -> Markup {
    let job = &shown.job;
    let status = job.status;
    html! {
        h1 { (job.name()) " " (status_badge(status)) }
        @if let Some(reason) = &job.reason { p.reason { (reason) } }
        (counts(shown))
        (facts(shown))
        (downloads(shown))
        @if !read_only { (actions(shown, csrf)) }
        h2 { "Rows" }
        (rows(shown, failed_only))
    }
}

fn counts(shown: &Shown) -> Markup {
    let job = &shown.job;
    let (succeeded, failed, total, planned) = (job.succeeded, job.failed, job.total, shown.planned);
    html! {
        div.counts {
            div { b.success { (succeeded) } "# Success" }
            div { b.failure { (failed) } "# Failure" }
            div {
                b.total { (total) @if let Some(planned) = planned { " / " (planned) } }
                "Total Requests"
            }
        }
    }
}

fn facts(shown: &Shown) -> Markup {
    let job = &shown.job;
    html! {
        dl.facts {
            dt { "Job" } dd { code { (job.id) } }
            dt { "Operation" } dd { (job.operation) }
            dt { "Run" } dd { a href={ "/runs/" (job.run_id) } { (job.run_id) } }
            dt { "Workflow" } dd { (job.workflow) }
            dt { "Step" } dd { (job.step) }
            @if let Some(target) = &job.target_name {
                dt { "Target" } dd { (target) " " span.reason { (job.target_id) } }
            }
            @if let Some(input) = &job.input_file { dt { "Input" } dd { (input) } }
            @if let Some(file) = &job.trigger_file { dt { "Started by file" } dd { (file) } }
            dt { "Manifest" } dd { (shown.run.manifest_path) }
            dt { "Started (UTC)" } dd { (time(job.started_at)) }
            @if let Some(finished) = job.finished_at {
                dt { "Finished (UTC)" } dd { (time(finished)) " (" (crate::text::took(job.started_at, Some(finished))) ")" }
            }
        }
    }
}

fn downloads(shown: &Shown) -> Markup {
    let job = &shown.job;
    let has_results = shown.files.iter().any(|file| file.kind == "results");
    html! {
        h2 { "Files" }
        ul.files {
            @if has_results {
                li { a href={ "/jobs/" (job.id) "/results.csv" } download { "Download results" } }
                @if job.failed > 0 {
                    li { a #failed-rows href={ "/jobs/" (job.id) "/failed-rows.csv" } download { "Download failed rows" }
                        " " span.reason { "(the input's columns: give it back to the step)" } }
                }
            }
            @if job.input_file.is_some() {
                li { a href={ "/jobs/" (job.id) "/input" } download { "Input: " (job.input_file.as_deref().map_or("", file_name)) } }
            }
            @for (index, file) in shown.files.iter().enumerate() {
                @if file.kind != "results" {
                    li { a href={ "/jobs/" (job.id) "/files/" (index) } download { (file.kind) ": " (file_name(&file.path)) } " (" (file.rows) " rows)" }
                }
            }
        }
    }
}

fn actions(shown: &Shown, csrf: &str) -> Markup {
    let job = &shown.job;
    let retryable = job.failed > 0 && shown.files.iter().any(|file| file.kind == "results");
    html! {
        div.actions {
            @if retryable && shown.deletable.is_none() {
                form method="post" action={ "/jobs/" (job.id) "/retry" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { "Retry failed rows" }
                }
            }
            @match &shown.deletable {
                None => { a.button href={ "/jobs/" (job.id) "/delete" } { "Delete…" } }
                Some(why) => { span.reason { "Cannot be deleted: " (why) } }
            }
        }
    }
}

fn rows(shown: &Shown, failed_only: bool) -> Markup {
    let job = &shown.job;
    let base = format!("/jobs/{}", job.id);
    let Some(rows) = &shown.rows else {
        return html! {
            p.note { @if matches!(job.status, Status::Running | Status::Interrupted) {
                "The result file is written when the job ends; the counts above are those journaled so far."
            } @else { "This job wrote no result file." } }
        };
    };
    let page = match rows {
        Ok(page) => page,
        Err(message) => return html! { p.error { (message) } },
    };
    let filter_link = if failed_only {
        base.clone()
    } else {
        format!("{base}?failed=1")
    };
    html! {
        p {
            @if failed_only { "Failed rows only. " a href=(filter_link) { "Show all rows" } }
            @else { a #failed-only href=(filter_link) { "Show failed rows only" } }
        }
        table.rows {
            thead { tr { @for column in &page.header { th { (column) } } } }
            tbody {
                @for row in &page.rows {
                    tr class=[result_file::is_result_header(&page.header).then(|| if result_file::failed(row, &page.header) { "failed" } else { "ok" })] {
                        @for cell in row { td { (cell) } }
                    }
                }
            }
        }
        @if page.rows.is_empty() { p.note { "No rows." } }
        nav.pager {
            a href=(if failed_only { format!("{base}?failed=1") } else { base.clone() }) { "First page" }
            @if let Some(next) = &shown.next {
                a rel="next" href={ (base) "?from=" (next) @if failed_only { "&failed=1" } } { "Next →" }
            }
        }
    }
}
