//! Ctrl-C for a run, installed once per process: the first asks the run to
//! stop (no step starts after it; running steps finish), the second ends the
//! process at once. The journal stays consistent either way, and the run is
//! shown as interrupted until `--resume` finishes it.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use crate::runner::stop::Stop;

/// The run a Ctrl-C would interrupt, for the message that tells how to resume it.
pub(super) type CurrentRun = Arc<Mutex<Option<String>>>;

/// Writes a line to stderr; a closed stderr is not a reason to fail a run.
pub(super) fn notice(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Listens for Ctrl-C on the current runtime.
pub(super) fn install(stop: &Stop, current: &CurrentRun) {
    let (stop, current) = (stop.clone(), Arc::clone(current));
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.request();
        let running = crate::runner::progress::running_steps();
        if running.is_empty() {
            notice("stopping: no step starts from now on; press Ctrl-C again to stop at once");
        } else {
            notice(&format!(
                "stopping: no step starts from now on; waiting for {} to finish ({}); press Ctrl-C again to stop at once",
                crate::text::counted(running.len() as u64, "running step", "running steps"),
                running.join(", ")
            ));
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            let run = current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            match run {
                Some(run) => notice(&format!(
                    "stopped; finish the run with `bulkops apply --resume {run}`"
                )),
                None => notice("stopped before the run started"),
            }
            std::process::exit(crate::exit_code::CANCELLED);
        }
    });
}
