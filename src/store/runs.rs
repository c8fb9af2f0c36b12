//! Runs: their records, what they were planned from (batch size, guard limits,
//! input fingerprints), how each step ended, the temporary files they have
//! open, and the lock that lets one process at a time execute a run.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::sql::{Db, Row, args};
use super::{JobStore, Status, StoreError, quoted_id, time};
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
/// On SQLite, a lock file; on PostgreSQL, the run's lease.
#[derive(Debug)]
pub struct RunLock(Held);

#[derive(Debug)]
enum Held {
    File(LockFile),
    Lease(super::Lease),
    /// Held by another store of this process (a worker's claim).
    Adopted,
}

impl RunLock {
    /// Releases the lock (removing its file, or ending the lease now).
    pub fn release(self) {
        match self.0 {
            Held::File(lock) => lock.remove(),
            Held::Lease(lease) => lease.release(),
            Held::Adopted => {}
        }
    }

    /// Whether another process took the run over (its lease ran out).
    pub fn is_lost(&self) -> bool {
        match &self.0 {
            Held::File(_) | Held::Adopted => false,
            Held::Lease(lease) => lease.is_lost(),
        }
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

fn run_from_row(row: &Row) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.text(0)?,
        workflow: row.text(1)?,
        manifest_path: row.text(2)?,
        manifest_text: row.text(3)?,
        directory: row.text(4)?,
        output_root: row.text(5)?,
        trigger_file: row.opt_text(6)?,
        status: Status::from_key(&row.text(7)?),
        reason: row.opt_text(8)?,
        started_at: time(row.opt_text(9)?).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: time(row.opt_text(10)?),
        chunk_rows: row.opt_count(11)?,
        max_removals: row.opt_count(12)?,
        max_device_deletions: row.opt_count(13)?,
        closed: row.opt_text(14)?,
        input_base: row.opt_text(15)?,
        directory_location: row.opt_text(16)?,
    })
}

impl JobStore {
    /// Records the start of a run with the fingerprints of its inputs, in one
    /// transaction. On a shared store the run is recorded under the lease
    /// this process took for it.
    pub fn start_run(&mut self, run: &NewRun<'_>) -> Result<(), StoreError> {
        let attempt = self.held_attempt(run.id);
        let shared = matches!(self.db, Db::Postgres(_));
        let held = shared && attempt.is_some();
        let owner = (held || !shared).then(|| self.owner.clone());
        // A worker's run (adopted) keeps the lease its worker took.
        let leased = held && !self.is_adopted(run.id);
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let lease_until = if leased {
            format!("{} + ?16", super::lease::NOW_MS)
        } else {
            "NULL".to_owned()
        };
        let mut values = args![
            run.id,
            run.workflow,
            run.manifest_path,
            run.manifest_text,
            run.directory,
            run.output_root,
            run.trigger_file,
            run.started_at.to_string(),
            run.chunk_rows,
            run.max_removals,
            run.max_device_deletions,
            run.input_base,
            run.directory_location,
            owner,
            attempt.unwrap_or(0),
        ];
        if leased {
            values.extend(args![lease_ms]);
        }
        let insert = format!(
            "INSERT INTO runs (id, workflow, manifest_path, manifest_text, directory, output_root, trigger_file, \
             status, started_at, chunk_rows, max_removals, max_device_deletions, input_base, directory_location, \
             owner, attempt, lease_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, {lease_until}) \
             ON CONFLICT (id) DO UPDATE SET workflow = excluded.workflow, manifest_path = excluded.manifest_path, \
             manifest_text = excluded.manifest_text, directory = excluded.directory, output_root = excluded.output_root, \
             trigger_file = excluded.trigger_file, status = 'running', started_at = excluded.started_at, \
             chunk_rows = excluded.chunk_rows, max_removals = excluded.max_removals, \
             max_device_deletions = excluded.max_device_deletions, input_base = excluded.input_base, \
             directory_location = excluded.directory_location, owner = excluded.owner, attempt = excluded.attempt, \
             lease_until = coalesce(excluded.lease_until, runs.lease_until) \
             WHERE runs.status = 'queued'"
        );
        self.db.transaction(|sql| {
            // A queued run (submitted for workers) is recorded in its place;
            // any other run with the id stays as it is.
            if sql.execute(&insert, values)? != 1 {
                return Err(StoreError::Unexpected {
                    what: format!("run `{}` is recorded already", run.id),
                });
            }
            for (path, sha256) in run.inputs {
                sql.execute(
                    "INSERT INTO run_inputs (run_id, path, sha256) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256",
                    args![run.id, path, sha256],
                )?;
            }
            if let Some((entry, skip_duplicates)) = run.ledger
                && let Some(earlier) =
                    super::ledger::insert_for_run(sql, entry, run.id, skip_duplicates)?
            {
                // Failing the transaction records nothing.
                return Err(StoreError::DuplicateContent { earlier });
            }
            if let Some(saved) = &run.saved {
                super::saved::insert_for_run(sql, run.id, saved)?;
            }
            Ok(())
        })
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        id: &str,
        status: Status,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.fenced(id, |sql| {
            sql.execute(
                // A run cancelled on request keeps the request: a worker
                // that finds it hands nothing back.
                "UPDATE runs SET status = ?2, reason = ?3, finished_at = ?4, \
                 cancel_requested = CASE WHEN ?2 = 'cancelled' THEN cancel_requested ELSE NULL END \
                 WHERE id = ?1",
                args![id, status.key(), reason, at.to_string()],
            )?;
            sql.execute("DELETE FROM run_temp_files WHERE run_id = ?1", args![id])?;
            Ok(())
        })
    }

    /// Marks a run as running again, for `--resume`, with the guard limits
    /// now in force.
    pub fn reopen_run(
        &self,
        id: &str,
        max_removals: u64,
        max_device_deletions: u64,
    ) -> Result<(), StoreError> {
        self.fenced(id, |sql| {
            sql.execute(
                "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, \
                 cancel_requested = CASE WHEN ?5 = 1 THEN cancel_requested ELSE NULL END, \
                 max_removals = ?2, max_device_deletions = ?3, owner = ?4 WHERE id = ?1",
                // A worker taking over a run keeps a cancel asked of it
                // (the resume then drains it); a person resuming asks anew.
                args![
                    id,
                    max_removals,
                    max_device_deletions,
                    self.owner.as_str(),
                    self.is_adopted(id)
                ],
            )
        })?;
        Ok(())
    }

    /// Marks a run as one that can no longer be resumed, and why; a run
    /// waiting for a worker leaves the queue.
    pub fn close_run(&self, id: &str, why: &str) -> Result<(), StoreError> {
        self.sql().execute(
            "UPDATE runs SET closed = ?2, \
             queue = CASE WHEN queue IN ('queued', 'resume') THEN 'done' ELSE queue END \
             WHERE id = ?1 AND closed IS NULL",
            args![id, why],
        )?;
        Ok(())
    }

    /// The run with this id, with its status as it is now (a run recorded as
    /// running that no process holds is interrupted).
    pub fn run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let unknown = || StoreError::UnknownRun { id: quoted_id(id) };
        if !plausible_id(id) {
            return Err(unknown());
        }
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        let row = self.sql().query_opt(&sql, args![id])?.ok_or_else(unknown)?;
        let mut run = run_from_row(&row)?;
        run.status = self.effective_status(id, run.status)?;
        Ok(run)
    }

    /// Every run, newest first, with its status as it is now.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC");
        self.sql()
            .query(&sql, args![])?
            .iter()
            .map(|row| {
                let mut run = run_from_row(row)?;
                run.status = self.effective_status(&run.id, run.status)?;
                Ok(run)
            })
            .collect()
    }

    /// The process that executes (or last executed) a run, as it names
    /// itself: host, process id and a random part.
    pub fn owner_of(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .sql()
            .query_opt("SELECT owner FROM runs WHERE id = ?1", args![run_id])?
            .map(|row| row.opt_text(0))
            .transpose()?
            .flatten())
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
        if self.is_adopted(run_id) {
            return Ok(RunLock(Held::Adopted));
        }
        if let Db::Postgres(database) = &self.db {
            return Ok(RunLock(Held::Lease(self.take_lease(database, run_id)?)));
        }
        let path = self.run_lock_path(run_id);
        match LockFile::try_exclusive(&path) {
            Ok(Some(lock)) => Ok(RunLock(Held::File(lock))),
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
        if matches!(self.db, Db::Postgres(_)) {
            return self.lease_is_held(run_id);
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
        self.fenced(run_id, |sql| {
            sql.execute(
                "INSERT INTO run_inputs (run_id, path, sha256) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                args![run_id, path, sha256],
            )?;
            let recorded = sql
                .query_one(
                    "SELECT sha256 FROM run_inputs WHERE run_id = ?1 AND path = ?2",
                    args![run_id, path],
                )?
                .text(0)?;
            Ok((recorded != sha256).then_some(recorded))
        })
    }

    /// A watched file moved with its claim (another watch service took the
    /// claim over): its run, its recorded input and its ledger row name the
    /// new path, so the run resumes reading the same file there.
    pub fn move_trigger_file(
        &mut self,
        run_id: &str,
        from: &str,
        to: &str,
    ) -> Result<(), StoreError> {
        self.db.transaction(|sql| {
            sql.execute(
                "UPDATE runs SET trigger_file = ?3 WHERE id = ?1 AND trigger_file = ?2",
                args![run_id, from, to],
            )?;
            sql.execute(
                "UPDATE run_inputs SET path = ?3 WHERE run_id = ?1 AND path = ?2",
                args![run_id, from, to],
            )?;
            sql.execute(
                "UPDATE watch_files SET claimed_as = ?3 WHERE run_id = ?1 AND claimed_as = ?2",
                args![run_id, from, to],
            )?;
            Ok(())
        })
    }

    /// The inputs a run recorded: absolute path and SHA-256.
    pub fn inputs(&self, run_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.sql()
            .query(
                "SELECT path, sha256 FROM run_inputs WHERE run_id = ?1 ORDER BY path",
                args![run_id],
            )?
            .iter()
            .map(|row| Ok((row.text(0)?, row.text(1)?)))
            .collect()
    }

    /// Records how a step of a run ended.
    pub fn record_step(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError> {
        self.fenced(run_id, |sql| {
            sql.execute(
                "INSERT INTO run_steps (run_id, step, state, detail, selection, attempts) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (run_id, step) DO UPDATE SET state = excluded.state, detail = excluded.detail, \
                 selection = excluded.selection, attempts = excluded.attempts",
                args![
                    run_id,
                    &step.step,
                    &step.state,
                    step.detail.as_deref(),
                    step.selection.as_deref(),
                    step.attempts
                ],
            )
        })?;
        Ok(())
    }

    /// How the steps of a run ended so far.
    pub fn steps(&self, run_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        self.sql()
            .query(
                "SELECT step, state, detail, selection, attempts FROM run_steps WHERE run_id = ?1 ORDER BY step",
                args![run_id],
            )?
            .iter()
            .map(|row| {
                Ok(StepRecord {
                    step: row.text(0)?,
                    state: row.text(1)?,
                    detail: row.opt_text(2)?,
                    selection: row.opt_text(3)?,
                    attempts: u32::try_from(row.int(4)?).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// Records a temporary file before it is created.
    pub fn record_temp(&self, run_id: &str, path: &str) -> Result<(), StoreError> {
        self.fenced(run_id, |sql| {
            sql.execute(
                "INSERT INTO run_temp_files (run_id, path) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![run_id, path],
            )
        })?;
        Ok(())
    }

    /// Forgets a temporary file that is gone.
    pub fn forget_temp(&self, run_id: &str, path: &str) -> Result<(), StoreError> {
        self.fenced(run_id, |sql| {
            sql.execute(
                "DELETE FROM run_temp_files WHERE run_id = ?1 AND path = ?2",
                args![run_id, path],
            )
        })?;
        Ok(())
    }

    /// The temporary files a run may have left.
    pub fn temps(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        self.sql()
            .query(
                "SELECT path FROM run_temp_files WHERE run_id = ?1 ORDER BY path",
                args![run_id],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
    }
}
