//! The page's actions, each a POST with this server's CSRF token, refused in
//! `--read-only` mode: delete a job (after a confirmation page, and never a
//! job whose run runs or can still be resumed), cancel a running run (its
//! process drains as on the first Ctrl-C), and retry a job's failed rows as a
//! new run of the same step over a file of those rows.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{App, PageError, layout, retry};
use crate::steps::delete_job_files;

/// The fields every action's form carries.
#[derive(Debug, Deserialize)]
pub(super) struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// Refuses an action the server does not allow or the form did not prove.
fn allowed(app: &App, form: Result<Form<ActionForm>, FormRejection>) -> Result<(), PageError> {
    if app.settings.read_only {
        return Err(PageError::Forbidden(
            "this page is read-only (`bulkops serve --read-only`)".to_owned(),
        ));
    }
    let proven = form.is_ok_and(|Form(form)| app.guard.csrf_matches(&form.csrf));
    if !proven {
        return Err(PageError::Forbidden(
            "the form is not one this server showed (reload the page and try again)".to_owned(),
        ));
    }
    Ok(())
}

/// The job, unless it must be kept (its run executes or can be resumed).
fn deletable(
    store: &crate::store::JobStore,
    job_id: &str,
) -> Result<crate::store::JobRecord, PageError> {
    let job = store.job(job_id)?;
    match store.why_kept(&job)? {
        Some(why) => Err(PageError::Conflict(format!(
            "job `{job_id}` cannot be deleted: {why}"
        ))),
        None => Ok(job),
    }
}

/// `GET /jobs/{id}/delete`: what would be deleted, and a button to do it.
pub(super) async fn confirm_delete(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    if app.settings.read_only {
        return Err(PageError::Forbidden(
            "this page is read-only (`bulkops serve --read-only`)".to_owned(),
        ));
    }
    let job_id = id.clone();
    let (job, files) = app
        .read(move |store| {
            let job = deletable(store, &job_id)?;
            Ok((job, store.files(&job_id)?))
        })
        .await?;
    let body = html! {
        h1 { "Delete job " (job.name()) "?" }
        p { "The job record " code { (job.id) } " and the files it wrote are deleted. This cannot be undone." }
        @if !files.is_empty() {
            ul { @for file in &files { li { (file.path) } } }
        }
        form.actions method="post" action={ "/jobs/" (job.id) "/delete" } {
            input type="hidden" name="csrf" value=(app.guard.csrf());
            button.danger #confirm-delete type="submit" { "Delete" }
            a href={ "/jobs/" (job.id) } { "Cancel" }
        }
    };
    Ok(layout::page("Delete job", &body))
}

/// `POST /jobs/{id}/delete`.
pub(super) async fn delete(
    State(app): State<App>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    allowed(&app, form)?;
    let job_id = id.clone();
    let kept = app.read(move |store| {
        deletable(store, &job_id)?;
        let deleted = delete_job_files(store, &job_id, false)?;
        tracing::info!(job = %job_id, files = deleted.removed.len(), kept = deleted.kept.len(), "job deleted from the jobs page");
        Ok(deleted.kept.len())
    })
    .await?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("deleted", &id);
    query.append_pair("kept", &kept.to_string());
    query.append_pair(
        "note",
        &app.guard.sign_note(&format!("deleted:{id}:{kept}")),
    );
    Ok(Redirect::to(&format!("/?{}", query.finish())).into_response())
}

/// `POST /runs/{id}/cancel`.
pub(super) async fn cancel(
    State(app): State<App>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    allowed(&app, form)?;
    let run_id = id.clone();
    app.read(move |store| {
        if !store.run_is_held(&run_id)? && !store.waits_for_worker(&run_id)? {
            store.run(&run_id)?;
            return Err(PageError::Conflict(format!(
                "no process executes run `{run_id}`: there is nothing to cancel"
            )));
        }
        if !store.request_cancel(&run_id, jiff::Timestamp::now())? {
            return Err(PageError::Conflict(format!(
                "run `{run_id}` is not running"
            )));
        }
        tracing::info!(run = %run_id, "cancel asked for from the jobs page");
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&format!("/runs/{}", encode(&id))).into_response())
}

/// `POST /jobs/{id}/retry`: starts the new run and shows it.
pub(super) async fn retry(
    State(app): State<App>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, PageError> {
    allowed(&app, form)?;
    let job_id = id.clone();
    let source = app.read(move |store| retry::source(store, &job_id)).await?;
    let profiles = app.settings.paths.profiles.clone();
    let Some(claim) = retry::Claim::take(&app, &id) else {
        return Err(PageError::Conflict(format!(
            "a retry of job `{id}` started here is still going on"
        )));
    };
    let prepared = tokio::task::spawn_blocking(move || retry::prepare(source, profiles))
        .await
        .map_err(|error| PageError::Internal(error.to_string()))??;
    Ok(match retry::start(&app, prepared, claim).await? {
        retry::Started::Run(run_id) => Redirect::to(&format!("/runs/{}", encode(&run_id))),
        retry::Started::Waiting(workflow) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("workflow", &workflow);
            query.append_pair("waiting", &id);
            query.append_pair("note", &app.guard.sign_note(&format!("waiting:{id}")));
            Redirect::to(&format!("/?{}", query.finish()))
        }
    }
    .into_response())
}

fn encode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
