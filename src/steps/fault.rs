//! Kill points for crash tests: places where a test can stop a run for good
//! and know exactly how far it got.
//!
//! `BULKOPS_FAULT_HOLD=PHASE:N` makes the process stop making progress the
//! N-th time it reaches PHASE. With `BULKOPS_FAULT_HOLD_FILE=PATH` it first
//! creates PATH, so a test waits for a file rather than for a time, then kills
//! the process, or signals it and removes the file to let it go on. The
//! phases of a chunk, in order:
//!
//! - `before-journal`: planned, not journaled;
//! - `after-journal`: journaled, nothing applied;
//! - `mid-apply`: journaled, half of its changes applied;
//! - `after-apply`: applied and marked applied;
//!
//! and `check`: a step is being checked before the run starts; `written`: a
//! job's file has its name, the job has not ended. The watch service adds
//! `claimed`: a dropped file was claimed into `.processing/`, its run not yet
//! started; `archiving`: the ledger names where a file goes after its run,
//! and it has not moved yet. `directory pull` adds `pulled`: a page of the
//! tenant is saved with where the pull stands.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a chunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    BeforeJournal,
    AfterJournal,
    MidApply,
    AfterApply,
    Check,
    Written,
    Claimed,
    Archiving,
    Pulled,
}

impl Phase {
    const ALL: [Phase; 9] = [
        Self::BeforeJournal,
        Self::AfterJournal,
        Self::MidApply,
        Self::AfterApply,
        Self::Check,
        Self::Written,
        Self::Claimed,
        Self::Archiving,
        Self::Pulled,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::BeforeJournal => "before-journal",
            Self::AfterJournal => "after-journal",
            Self::MidApply => "mid-apply",
            Self::AfterApply => "after-apply",
            Self::Check => "check",
            Self::Written => "written",
            Self::Claimed => "claimed",
            Self::Archiving => "archiving",
            Self::Pulled => "pulled",
        }
    }
}

static REACHED: [AtomicU64; 9] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// The kill point asked for, if any.
fn wanted() -> Option<(Phase, u64)> {
    static WANTED: OnceLock<Option<(Phase, u64)>> = OnceLock::new();
    *WANTED.get_or_init(|| {
        let value = std::env::var("BULKOPS_FAULT_HOLD").ok()?;
        let (phase, count) = value.split_once(':')?;
        let phase = Phase::ALL.into_iter().find(|known| known.key() == phase)?;
        Some((phase, count.parse().ok()?))
    })
}

/// Counts that a chunk reached `phase`; returns whether this is the time to hold.
pub(crate) fn due(phase: Phase) -> bool {
    let Some((wanted, count)) = wanted() else {
        return false;
    };
    if wanted != phase {
        return false;
    }
    let index = Phase::ALL
        .iter()
        .position(|known| *known == phase)
        .unwrap_or(0);
    REACHED[index].fetch_add(1, Ordering::SeqCst) + 1 == count
}

/// Stops making progress, after telling the test where, until the hold file
/// is removed (without a hold file, for good).
pub(super) async fn hold(phase: Phase) {
    tracing::warn!(phase = phase.key(), "holding as BULKOPS_FAULT_HOLD asks");
    let Some(path) = std::env::var_os("BULKOPS_FAULT_HOLD_FILE") else {
        return std::future::pending::<()>().await;
    };
    let path = std::path::PathBuf::from(path);
    if std::fs::write(&path, phase.key()).is_err() {
        return std::future::pending::<()>().await;
    }
    while path.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::warn!(phase = phase.key(), "released");
}

/// [`hold`] for code that is not async: the thread waits.
pub(crate) fn hold_blocking(phase: Phase) {
    tracing::warn!(phase = phase.key(), "holding as BULKOPS_FAULT_HOLD asks");
    let path = std::env::var_os("BULKOPS_FAULT_HOLD_FILE").map(std::path::PathBuf::from);
    if let Some(path) = &path {
        let _ = std::fs::write(path, phase.key());
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        if path.as_ref().is_some_and(|path| !path.exists()) {
            tracing::warn!(phase = phase.key(), "released");
            return;
        }
    }
}

/// Holds if a chunk reaching `phase` now is the kill point.
pub(crate) async fn reached(phase: Phase) {
    if due(phase) {
        hold(phase).await;
    }
}
