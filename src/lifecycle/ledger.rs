//! The job store as the ledger of a run's temporary files: each is recorded
//! before it is created and forgotten once it is gone, so a run resumed after
//! a kill removes what its first attempt left behind.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::bulkcsv::output::TempLedger;
use crate::store::JobStore;

/// Temporary files of one run, recorded in the job store.
pub(super) struct StoreLedger {
    pub(super) store: Arc<Mutex<JobStore>>,
    pub(super) run_id: String,
}

impl StoreLedger {
    fn with<T>(&self, work: impl FnOnce(&JobStore) -> T) -> T {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&store)
    }
}

impl TempLedger for StoreLedger {
    fn record(&self, path: &Path) -> std::io::Result<()> {
        self.with(|store| store.record_temp(&self.run_id, &path.display().to_string()))
            .map_err(|error| std::io::Error::other(crate::text::chain(&error)))
    }

    fn forget(&self, path: &Path) {
        if let Err(error) =
            self.with(|store| store.forget_temp(&self.run_id, &path.display().to_string()))
        {
            tracing::warn!(file = %path.display(), error = %crate::text::chain(&error), "could not forget a temporary file");
        }
    }
}
