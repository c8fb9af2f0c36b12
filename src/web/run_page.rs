//! `/runs/{id}`: a run's steps as a graph with each step's state and rows,
//! its jobs, and its Microsoft Graph traffic. While the run goes on, the part
//! that changes is fetched again every second (`/runs/{id}/live`); the answer
//! for an ended run says so, and the page stops asking.

use std::collections::HashMap;

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::graph_svg::{self, Node};
use super::layout::{self, status_badge, time};
use super::{App, PageError};
use crate::store::{JobRecord, JobStore, RunRecord, Status, StepRecord, Traffic};

/// How often the page asks again while the run goes on, in milliseconds.
const EVERY_MS: u32 = 1000;

/// What the live part shows.
struct Live {
    run: RunRecord,
    status: Status,
    cancel_asked: bool,
    nodes: Vec<Node>,
    layers: Vec<Vec<usize>>,
    edges: Vec<(usize, usize)>,
    jobs: Vec<(JobRecord, u64, Option<u64>)>,
    traffic: Option<Traffic>,
}

fn load(store: &JobStore, run_id: &str) -> Result<Live, PageError> {
    // The store gives a run and its jobs as they are now: interrupted when
    // no process executes the run, open jobs with their journaled counts.
    let run = store.run(run_id)?;
    let status = run.status;
    let mut jobs = Vec::new();
    for job in store.jobs_of_run(run_id)? {
        let planned = store.planned_rows(&job.id)?;
        let open = matches!(job.status, Status::Running | Status::Interrupted);
        let planned = if open {
            planned
        } else {
            planned.or(Some(job.total))
        };
        let done = job.total;
        jobs.push((job, done, planned));
    }
    let records: HashMap<String, StepRecord> = store
        .steps(run_id)?
        .into_iter()
        .map(|record| (record.step.clone(), record))
        .collect();
    let (nodes, layers, edges) = graph_of(&run, &records, &jobs, status);
    Ok(Live {
        cancel_asked: store.cancel_requested(run_id)?,
        traffic: store.traffic(run_id)?,
        run,
        status,
        nodes,
        layers,
        edges,
        jobs,
    })
}

type Graph = (Vec<Node>, Vec<Vec<usize>>, Vec<(usize, usize)>);

/// The steps of the run's manifest, each with its state and rows.
fn graph_of(
    run: &RunRecord,
    records: &HashMap<String, StepRecord>,
    jobs: &[(JobRecord, u64, Option<u64>)],
    status: Status,
) -> Graph {
    let Ok(loaded) =
        crate::manifest::load_bytes(&run.manifest_path, run.manifest_text.clone().into_bytes())
    else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let plan = &loaded.plan;
    let nodes = plan
        .steps
        .iter()
        .map(|step| {
            let of_step: Vec<_> = jobs
                .iter()
                .filter(|(job, _, _)| job.step == step.id)
                .collect();
            let running = of_step
                .iter()
                .any(|(job, _, _)| matches!(job.status, Status::Running | Status::Interrupted));
            let state = match records.get(&step.id) {
                Some(record) => record.state.clone(),
                None if running && status == Status::Running => "running".to_owned(),
                None if running => "interrupted".to_owned(),
                None => "pending".to_owned(),
            };
            let rows = (!of_step.is_empty()).then(|| {
                let done = of_step.iter().map(|(_, done, _)| done).sum();
                let planned = of_step
                    .iter()
                    .map(|(_, _, planned)| *planned)
                    .sum::<Option<u64>>();
                (done, planned)
            });
            Node {
                id: step.id.clone(),
                kind: step.action.kind().key(),
                state,
                rows,
            }
        })
        .collect();
    let edges = plan
        .dag
        .edges()
        .into_iter()
        .map(|(from, to, _)| (from, to))
        .collect();
    (nodes, plan.dag.layers(), edges)
}

/// `GET /runs/{id}`.
pub(super) async fn show(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let run_id = id.clone();
    let live = app.read(move |store| load(store, &run_id)).await?;
    let read_only = app.settings.read_only;
    let body = html! {
        h1 { "Run " code { (live.run.id) } }
        dl.facts {
            dt { "Workflow" } dd { (live.run.workflow) }
            dt { "Manifest" } dd { (live.run.manifest_path) }
            dt { "Directory" } dd { (live.run.directory) }
            @if let Some(file) = &live.run.trigger_file { dt { "Started by file" } dd { (file) } }
            dt { "Started (UTC)" } dd { (time(live.run.started_at)) }
        }
        @if !read_only && live.status == Status::Running {
            form.actions method="post" action={ "/runs/" (live.run.id) "/cancel" } {
                input type="hidden" name="csrf" value=(app.guard.csrf());
                button.danger type="submit" { "Cancel run" }
                span.reason { " No step starts after a cancel; running steps finish, and the run can be resumed." }
            }
        }
        (live_part(&live))
    };
    Ok(layout::page(&format!("Run {id}"), &body))
}

/// `GET /runs/{id}/live`: the part of the run's page that changes.
pub(super) async fn live(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let live = app.read(move |store| load(store, &id)).await?;
    Ok(live_part(&live))
}

fn live_part(live: &Live) -> Markup {
    let ended = live.status != Status::Running;
    html! {
        section #live data-live={ "/runs/" (live.run.id) "/live" } data-every=(EVERY_MS) data-final[ended] data-status=(live.status.key()) {
            p { "Status: " (status_badge(live.status))
                @if let Some(finished) = live.run.finished_at { " ended " (time(finished)) " after " (crate::text::took(live.run.started_at, Some(finished))) }
                @if live.cancel_asked && !ended { " " span.reason { "cancel asked for; the running steps are finishing" } }
            }
            @if let Some(reason) = &live.run.reason { p.reason { (reason) } }
            @if live.nodes.is_empty() { p.note { "The run's manifest cannot be read by this bulkops; its steps are listed below." } }
            @else { (graph_svg::render(&live.nodes, &live.layers, &live.edges)) }
            @if let Some(traffic) = live.traffic {
                h2 { "Microsoft Graph" }
                p.traffic { (traffic.requests) " requests, " (traffic.throttled) " answered 429 (throttled), " (traffic.retries) " retries" }
            }
            h2 { "Jobs" }
            table.jobs {
                thead { tr { th { "Step" } th { "Target" } th { "Status" } th.num { "# Success" } th.num { "# Failure" } th.num { "Rows" } } }
                tbody {
                    @for (job, done, planned) in &live.jobs {
                        tr data-job=(job.id) {
                            td { a href={ "/jobs/" (job.id) } { (job.step) } }
                            td { (job.target_name.as_deref().unwrap_or("")) }
                            td { (status_badge(job.status)) }
                            td.num { (job.succeeded) }
                            td.num { (job.failed) }
                            td.num.rows { (done) @if let Some(planned) = planned { " / " (planned) } }
                        }
                    }
                }
            }
        }
    }
}
