//! File-system events as hints. A notify watcher on every watched folder (and
//! on the manifests) sends each event's paths through a bounded channel with
//! `try_send`: when the channel is full, or notify reports an error or an
//! event queue overflow, a flag asks for a full listing instead, so no burst
//! is ever lost — the listing finds what the events missed. In poll mode (for
//! network shares, where no events arrive) there is no watcher at all.
//!
//! `BULKOPS_WATCH_DROP_EVENTS=1` drops every event, as an overflowing queue
//! would: tests use it to show that the periodic listing alone finds every file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// How many hints wait at most before a full listing replaces them.
pub(super) const CAPACITY: usize = 4096;

/// A path something happened to.
pub(super) type Hint = PathBuf;

/// The watcher and what it shares with the service.
pub(super) struct Events {
    watcher: RecommendedWatcher,
    /// Set when hints were lost: the service lists every folder.
    pub(super) rescan: Arc<AtomicBool>,
    /// Woken whenever `rescan` is set.
    pub(super) wake: Arc<tokio::sync::Notify>,
}

impl Events {
    /// Starts a watcher that sends hints into `hints`.
    pub(super) fn start(hints: mpsc::Sender<Hint>) -> notify::Result<Self> {
        let rescan = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        let drop_all = std::env::var_os("BULKOPS_WATCH_DROP_EVENTS").is_some_and(|v| v == "1");
        let (flag, waker) = (Arc::clone(&rescan), Arc::clone(&wake));
        let lost = move || {
            flag.store(true, Ordering::SeqCst);
            waker.notify_one();
        };
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if drop_all {
                return;
            }
            match event {
                Ok(event) if event.need_rescan() => lost(),
                Ok(event) => {
                    for path in event.paths {
                        if hints.try_send(path).is_err() {
                            lost();
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "file events failed: listing every folder");
                    lost();
                }
            }
        })?;
        Ok(Self {
            watcher,
            rescan,
            wake,
        })
    }

    /// Watches a folder's own entries (or, for a manifest folder, its tree).
    pub(super) fn add(&mut self, path: &Path, recursive: bool) {
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        if let Err(error) = self.watcher.watch(path, mode) {
            tracing::warn!(path = %path.display(), error = %error, "cannot watch for file events: the periodic listing finds its files");
        }
    }

    /// Stops watching a folder.
    pub(super) fn remove(&mut self, path: &Path) {
        let _ = self.watcher.unwatch(path);
    }

    /// Whether hints were lost since the last call.
    pub(super) fn take_rescan(&self) -> bool {
        self.rescan.swap(false, Ordering::SeqCst)
    }
}
