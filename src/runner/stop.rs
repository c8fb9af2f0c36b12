//! The request to stop a run, shared by everything that must notice it: the
//! scheduler (which starts no more steps), `apply`'s checks before a run
//! (which then record the run as cancelled), and the signal handler that
//! sets it on Ctrl-C. One per process, so a Ctrl-C is never lost between a
//! preview and the run that follows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stop request: set once, seen by every clone.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    requested: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Stop {
    /// A stop nobody asked for yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop starting new work.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Waits until a stop is asked for.
    pub async fn requested(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}
