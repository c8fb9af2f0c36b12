//! Runs: their records, what they were planned from (batch size, guard limits,
//! input fingerprints), how each step ended, the temporary files they have
//! open, and the lock that lets one process at a time execute a run.

use std::path::PathBuf;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{JobStore, Status, StoreError, time, to_i64, to_u64};
use crate::files::lock::LockFile;

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub id: String,
    pub workflow: String,
    pub manifest_path: String,
    #[serde(skip)]
    pub manifest_text: String,
    pub directory: String,
    /// The absolute output root; every file the run writes is below it.
    pub output_root: String,
    pub trigger_file: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The batch size the run journals rows in (`None` for runs recorded by
    /// an older bulkops).
    pub chunk_rows: Option<u64>,
    pub max_removals: Option<u64>,
    pub max_device_deletions: Option<u64>,
    /// Why the run can no longer be resumed, if it cannot.
    pub closed: Option<String>,
    /// The absolute folder relative input paths are read from.
    pub input_base: Option<String>,
    /// Which directory the run changes: the local database's path, or Graph's
    /// tenant and address.
    pub directory_location: Option<String>,
}

/// A new run's identity and what it was planned from.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub workflow: &'a str,
    pub manifest_path: &'a str,
    pub manifest_text: &'a str,
    pub directory: &'a str,
    pub output_root: &'a str,
    pub input_base: &'a str,
    pub directory_location: &'a str,
    pub trigger_file: Option<&'a str>,
    pub started_at: Timestamp,
    pub chunk_rows: u64,
    pub max_removals: u64,
    pub max_device_deletions: u64,
    /// Each input's absolute path and SHA-256, as checked before the run.
    pub inputs: &'a [(String, String)],
    /// For a run a watched folder started: the file's ledger entry, and
    /// whether the same content run before makes this one a duplicate.
    pub ledger: Option<(&'a super::LedgerEntry, bool)>,
    /// For a run of a saved plan: the plan's id and the run's part of it.
    pub saved: Option<super::SavedRun<'a>>,
}

/// How one step of a run ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub step: String,
    /// `finished`, `failed`, `skipped` or `cancelled`.
    pub state: String,
    pub detail: Option<String>,
    /// A filter step's selection, as JSON.
    pub selection: Option<String>,
    pub attempts: u32,
}

/// The lock of a run: while a process holds it, no other executes the run.
#[derive(Debug)]
pub struct RunLock(LockFile);

impl RunLock {
    /// Releases the lock and removes its file.
    pub fn release(self) {
        self.0.remove();
    }
}

/// Run ids are made by bulkops; anything else never names a run (nor a file).
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

const RUN_COLUMNS: &str = "id, workflow, manifest_path, manifest_text, directory, output_root, trigger_file, \
     status, reason, started_at, finished_at, chunk_rows, max_removals, max_device_deletions, closed, input_base, directory_location";

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let optional = |value: Option<i64>| value.map(to_u64);
    Ok(RunRecord {
        id: row.get(0)?,
        workflow: row.get(1)?,
        manifest_path: row.get(2)?,
        manifest_text: row.get(3)?,
        directory: row.get(4)?,
        output_root: row.get(5)?,
        trigger_file: row.get(6)?,
        status: Status::from_key(&row.get::<_, String>(7)?),
        reason: row.get(8)?,
        started_at: time(row.get(9)?).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: time(row.get(10)?),
        chunk_rows: optional(row.get(11)?),
        max_removals: optional(row.get(12)?),
        max_device_deletions: optional(row.get(13)?),
        closed: row.get(14)?,
        input_base: row.get(15)?,
        directory_location: row.get(16)?,
    })
}

impl JobStore {
    /// Records the start of a run with the fingerprints of its inputs, in one
    /// transaction.
    pub fn start_run(&mut self, run: &NewRun<'_>) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        transaction.execute(
            "INSERT INTO runs (id, workflow, manifest_path, manifest_text, directory, output_root, trigger_file, \
             status, started_at, chunk_rows, max_removals, max_device_deletions, input_base, directory_location) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                run.id,
                run.workflow,
                run.manifest_path,
                run.manifest_text,
                run.directory,
                run.output_root,
                run.trigger_file,
                run.started_at.to_string(),
                to_i64(run.chunk_rows),
                to_i64(run.max_removals),
                to_i64(run.max_device_deletions),
                run.input_base,
                run.directory_location,
            ],
        )?;
        for (path, sha256) in run.inputs {
            transaction.execute(
                "INSERT OR REPLACE INTO run_inputs (run_id, path, sha256) VALUES (?1, ?2, ?3)",
                params![run.id, path, sha256],
            )?;
        }
        if let Some((entry, skip_duplicates)) = run.ledger
            && let Some(earlier) =
                super::ledger::insert_for_run(&transaction, entry, run.id, skip_duplicates)?
        {
            // Dropping the transaction records nothing.
            return Err(StoreError::DuplicateContent { earlier });
        }
        if let Some(saved) = &run.saved {
            super::saved::insert_for_run(&transaction, run.id, saved)?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        id: &str,
        status: Status,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE runs SET status = ?2, reason = ?3, finished_at = ?4, cancel_requested = NULL WHERE id = ?1",
            params![id, status.key(), reason, at.to_string()],
        )?;
        self.connection
            .execute("DELETE FROM run_temp_files WHERE run_id = ?1", [id])?;
        Ok(())
    }

    /// Marks a run as running again, for `--resume`, with the guard limits
    /// now in force.
    pub fn reopen_run(
        &self,
        id: &str,
        max_removals: u64,
        max_device_deletions: u64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, cancel_requested = NULL, \
             max_removals = ?2, max_device_deletions = ?3 WHERE id = ?1",
            params![id, to_i64(max_removals), to_i64(max_device_deletions)],
        )?;
        Ok(())
    }

    /// Marks a run as one that can no longer be resumed, and why.
    pub fn close_run(&self, id: &str, why: &str) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE runs SET closed = ?2 WHERE id = ?1 AND closed IS NULL",
            params![id, why],
        )?;
        Ok(())
    }

    /// The run with this id, with its status as it is now (a run recorded as
    /// running that no process holds is interrupted).
    pub fn run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let unknown = || StoreError::UnknownRun { id: id.to_owned() };
        if !plausible_id(id) {
            return Err(unknown());
        }
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let mut run = statement
            .query_row([id], run_from_row)
            .optional()?
            .ok_or_else(unknown)?;
        run.status = self.effective_status(id, run.status)?;
        Ok(run)
    }

    /// Every run, newest first, with its status as it is now.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let runs = statement
            .query_map([], run_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        runs.into_iter()
            .map(|mut run| {
                run.status = self.effective_status(&run.id, run.status)?;
                Ok(run)
            })
            .collect()
    }

    /// A stored status as it is now: `running` without a holder is interrupted.
    pub(super) fn effective_status(
        &self,
        run_id: &str,
        stored: Status,
    ) -> Result<Status, StoreError> {
        if stored == Status::Running && !self.run_is_held(run_id)? {
            Ok(Status::Interrupted)
        } else {
            Ok(stored)
        }
    }

    fn run_lock_path(&self, run_id: &str) -> PathBuf {
        self.lock_folder().join(format!("{run_id}.lock"))
    }

    /// Takes the run's lock, refusing when another process holds it.
    pub fn lock_run(&self, run_id: &str) -> Result<RunLock, StoreError> {
        let path = self.run_lock_path(run_id);
        match LockFile::try_exclusive(&path) {
            Ok(Some(lock)) => Ok(RunLock(lock)),
            Ok(None) => Err(StoreError::RunHeld {
                id: run_id.to_owned(),
            }),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Whether some process executes the run now.
    pub fn run_is_held(&self, run_id: &str) -> Result<bool, StoreError> {
        if !plausible_id(run_id) {
            return Ok(false);
        }
        let path = self.run_lock_path(run_id);
        LockFile::is_held(&path).map_err(|source| StoreError::Io { path, source })
    }

    /// Records an input's fingerprint the first time the run reads it; returns
    /// the recorded one when it differs from `sha256`.
    pub fn record_input(
        &self,
        run_id: &str,
        path: &str,
        sha256: &str,
    ) -> Result<Option<String>, StoreError> {
        self.connection.execute(
            "INSERT OR IGNORE INTO run_inputs (run_id, path, sha256) VALUES (?1, ?2, ?3)",
            params![run_id, path, sha256],
        )?;
        let recorded: String = self.connection.query_row(
            "SELECT sha256 FROM run_inputs WHERE run_id = ?1 AND path = ?2",
            params![run_id, path],
            |row| row.get(0),
        )?;
        Ok((recorded != sha256).then_some(recorded))
    }

    /// The inputs a run recorded: absolute path and SHA-256.
    pub fn inputs(&self, run_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT path, sha256 FROM run_inputs WHERE run_id = ?1 ORDER BY path",
        )?;
        let inputs = statement
            .query_map([run_id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(inputs)
    }

    /// Records how a step of a run ended.
    pub fn record_step(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT OR REPLACE INTO run_steps (run_id, step, state, detail, selection, attempts) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run_id,
                step.step,
                step.state,
                step.detail,
                step.selection,
                step.attempts
            ],
        )?;
        Ok(())
    }

    /// How the steps of a run ended so far.
    pub fn steps(&self, run_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT step, state, detail, selection, attempts FROM run_steps WHERE run_id = ?1 ORDER BY step",
        )?;
        let steps = statement
            .query_map([run_id], |row| {
                Ok(StepRecord {
                    step: row.get(0)?,
                    state: row.get(1)?,
                    detail: row.get(2)?,
                    selection: row.get(3)?,
                    attempts: row.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(steps)
    }

    /// Records a temporary file before it is created.
    pub fn record_temp(&self, run_id: &str, path: &str) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT OR IGNORE INTO run_temp_files (run_id, path) VALUES (?1, ?2)",
            params![run_id, path],
        )?;
        Ok(())
    }

    /// Forgets a temporary file that is gone.
    pub fn forget_temp(&self, run_id: &str, path: &str) -> Result<(), StoreError> {
        self.connection.execute(
            "DELETE FROM run_temp_files WHERE run_id = ?1 AND path = ?2",
            params![run_id, path],
        )?;
        Ok(())
    }

    /// The temporary files a run may have left.
    pub fn temps(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT path FROM run_temp_files WHERE run_id = ?1 ORDER BY path")?;
        let paths = statement
            .query_map([run_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(paths)
    }
}
