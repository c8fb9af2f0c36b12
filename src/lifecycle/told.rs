//! What a run tells while it goes and when it ends: its steps' progress
//! with Microsoft Graph's counters in the log, Graph's traffic at the end,
//! and the reason recorded for a run that did not complete.

use std::sync::Arc;

use crate::directory::any::AnyDirectory;
use crate::runner::RunReport;
use crate::store::Status;

/// Logs the running steps' progress every interval, with Graph's counters.
pub(super) async fn log_progress(
    board: Arc<crate::runner::progress::Board>,
    directory: AnyDirectory,
) {
    let every = crate::runner::progress::log_every();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let graph = match &directory {
            AnyDirectory::Graph(graph) => {
                use std::sync::atomic::Ordering;
                let stats = &graph.client().stats;
                Some((
                    stats.http_requests.load(Ordering::Relaxed),
                    stats.throttled.load(Ordering::Relaxed),
                ))
            }
            AnyDirectory::Local(_) => None,
        };
        board.log_now(graph);
    }
}

/// What a run asked of Microsoft Graph, for the log.
pub(super) fn log_graph_traffic(directory: &AnyDirectory) {
    if let AnyDirectory::Graph(graph) = directory {
        use std::sync::atomic::Ordering;
        let stats = &graph.client().stats;
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        tracing::info!(
            http_requests = read(&stats.http_requests),
            throttled = read(&stats.throttled),
            retries = read(&stats.retries),
            "Microsoft Graph traffic"
        );
    }
}

/// Why a run did not complete, as its record says.
pub(super) fn describe_failure(report: &RunReport) -> String {
    use crate::runner::StepState;
    let cancelled = report
        .steps
        .iter()
        .filter(|step| step.state == StepState::Cancelled)
        .count();
    let failed_steps = report
        .steps
        .iter()
        .filter(|step| matches!(step.state, StepState::Failed { .. }))
        .count();
    let failed_jobs = report
        .steps
        .iter()
        .flat_map(|step| &step.jobs)
        .filter(|job| job.status == Status::Failed)
        .count();
    if report.status == Status::Cancelled {
        return format!(
            "cancelled: {} stopped or never started",
            crate::text::counted(cancelled as u64, "step", "steps")
        );
    }
    match (failed_steps, failed_jobs) {
        (0, jobs) => format!(
            "{} failed",
            crate::text::counted(jobs as u64, "job", "jobs")
        ),
        (steps, 0) => format!(
            "{} failed",
            crate::text::counted(steps as u64, "step", "steps")
        ),
        (steps, jobs) => format!(
            "{} failed, {} failed",
            crate::text::counted(steps as u64, "step", "steps"),
            crate::text::counted(jobs as u64, "job", "jobs")
        ),
    }
}
