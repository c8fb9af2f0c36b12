//! What a run watches while it executes: the process's stop request (Ctrl-C,
//! a watch service shutting down), a cancel asked for in the job store (by
//! the jobs page, from any process), and Microsoft Graph's counters, which it
//! records in the store for the run's page.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::directory::any::AnyDirectory;
use crate::runner::stop::Stop;
use crate::store::{JobStore, Traffic};

/// How often the store is read for a cancel request, unless
/// `BULKOPS_MONITOR_EVERY_MS` says otherwise.
const EVERY: Duration = Duration::from_millis(500);

/// A run and the stops it is watched for.
pub(super) struct Watched {
    pub store: Arc<Mutex<JobStore>>,
    pub run_id: String,
    pub directory: AnyDirectory,
    /// The process's stop request.
    pub process: Stop,
    /// The run's own, which the runner obeys.
    pub run: Stop,
}

fn every() -> Duration {
    std::env::var("BULKOPS_MONITOR_EVERY_MS")
        .ok()
        .and_then(|text| text.parse().ok())
        .map_or(EVERY, Duration::from_millis)
}

/// Watches until aborted.
pub(super) async fn watch(watched: Watched) {
    let every = every();
    let mut forwarded = false;
    loop {
        if forwarded {
            tokio::time::sleep(every).await;
        } else {
            tokio::select! {
                () = watched.process.requested() => {
                    watched.run.request();
                    forwarded = true;
                }
                () = tokio::time::sleep(every) => {}
            }
        }
        record_traffic(&watched.store, &watched.run_id, &watched.directory);
        let asked = super::lock_store(&watched.store)
            .cancel_requested(&watched.run_id)
            .unwrap_or(false);
        if asked && !watched.run.is_requested() {
            tracing::warn!(
                run = %watched.run_id,
                "cancel asked for in the job store: no step starts any more; running steps finish"
            );
            watched.run.request();
        }
    }
}

/// Records Graph's counters for the run, when it talks to Graph.
pub(super) fn record_traffic(store: &Mutex<JobStore>, run_id: &str, directory: &AnyDirectory) {
    use std::sync::atomic::Ordering;
    let AnyDirectory::Graph(graph) = directory else {
        return;
    };
    let stats = &graph.client().stats;
    let traffic = Traffic {
        requests: stats.http_requests.load(Ordering::Relaxed),
        throttled: stats.throttled.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
    };
    if let Err(error) = super::lock_store(store).record_traffic(run_id, traffic) {
        tracing::warn!(run = %run_id, error = %crate::text::chain(&error), "could not record the run's Graph traffic");
    }
}
