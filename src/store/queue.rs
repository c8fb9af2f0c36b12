//! The queue of a shared store: runs submitted for workers, taken one at a
//! time with `FOR UPDATE SKIP LOCKED` (so workers on any number of machines
//! never take the same run), tenants in turn (the tenant whose last turn is
//! oldest goes first), each taken run held by a lease. A run whose worker
//! died (its lease ran out) is taken again and resumed from its journal.
//!
//! `runs.queue`: `queued` (submitted, not started), `taken` (a worker holds
//! it), `resume` (handed back by a stopping worker), `done` (ended).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::lease::{Lease, NOW_MS};
use super::sql::{Db, args};
use super::{JobStore, StoreError};

/// Where the worker finds what a submitted run reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    /// The absolute folder output paths are relative to.
    pub output_dir: String,
    /// The local directory database, when one was named.
    pub db: Option<String>,
    /// The directory profiles file, when one was named.
    pub profiles: Option<String>,
    /// The directory profile the run changes, when it is not the manifest's.
    pub directory: Option<String>,
}

/// A run submitted for workers.
#[derive(Debug, Clone)]
pub struct NewQueuedRun<'a> {
    pub id: &'a str,
    pub workflow: &'a str,
    pub manifest_path: &'a str,
    pub manifest_text: &'a str,
    /// The directory profile it changes (the tenant, for taking turns).
    pub directory: &'a str,
    pub output_root: &'a str,
    pub input_base: &'a str,
    pub group: &'a str,
    pub submitted: &'a Submitted,
    pub at: Timestamp,
}

/// A run a worker took: start it when `fresh`, resume it otherwise.
#[derive(Debug)]
pub struct Claim {
    pub run_id: String,
    pub attempt: i64,
    pub fresh: bool,
    /// How often workers failed to carry the run on before.
    pub failures: i64,
    pub submitted: Submitted,
    /// The folder relative input paths are read from (where it was submitted).
    pub input_base: Option<String>,
    /// Why the run cannot be run at all, when it cannot.
    pub broken: Option<String>,
    lease: Lease,
}

impl Claim {
    /// Whether another worker took the run over.
    pub fn is_lost(&self) -> bool {
        self.lease.is_lost()
    }

    /// The flag set when another worker takes the run over.
    pub fn lost_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.lease.lost_flag()
    }

    /// Hands the lease back.
    pub fn release(self) {
        self.lease.release();
    }
}

/// A run a worker may take: not ended, and its lease ran out or was handed back.
/// (`{NOW}` stands for the database's clock.)
const CLAIMABLE: &str = "r.queue IN ('queued', 'resume', 'taken') \
                         AND (r.not_before IS NULL OR r.not_before < {NOW}) \
                         AND (r.lease_until IS NULL OR r.lease_until < {NOW})";

impl JobStore {
    /// Records runs for workers to start, all or none, in one transaction;
    /// an id another run has already is drawn again with `fresh_id`.
    /// Returns the ids the runs were recorded under.
    pub fn submit(
        &mut self,
        runs: &[NewQueuedRun<'_>],
        fresh_id: &dyn Fn() -> String,
    ) -> Result<Vec<String>, StoreError> {
        self.db.transaction(|sql| {
            let mut ids = Vec::with_capacity(runs.len());
            for run in runs {
                let submitted = serde_json::to_string(run.submitted).unwrap_or_default();
                let at = run.at.to_string();
                let mut id = run.id.to_owned();
                while sql.execute(
                    "INSERT INTO runs (id, workflow, manifest_path, manifest_text, directory, output_root, input_base, \
                     status, started_at, queue, submitted_at, tenant, run_group, submitted) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, 'queued', ?8, ?5, ?9, ?10) \
                     ON CONFLICT (id) DO NOTHING",
                    args![
                        id.as_str(),
                        run.workflow,
                        run.manifest_path,
                        run.manifest_text,
                        run.directory,
                        run.output_root,
                        run.input_base,
                        at.as_str(),
                        run.group,
                        submitted.as_str()
                    ],
                )? != 1
                {
                    id = fresh_id();
                }
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// Takes the next run for this worker, if one waits: the oldest of the
    /// tenant whose turn is oldest. Only a shared store has a queue.
    pub fn claim_next(&self) -> Result<Option<Claim>, StoreError> {
        let Db::Postgres(database) = &self.db else {
            return Ok(None);
        };
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let taken = database.transaction_unlocked(|sql| {
            let Some(row) = sql.query_opt(
                &format!(
                    "WITH candidate AS ( \
                       SELECT r.id FROM runs r LEFT JOIN tenant_turns t ON t.tenant = r.tenant \
                       WHERE {claimable} \
                       ORDER BY t.last_claimed NULLS FIRST, r.submitted_at, r.id \
                       LIMIT 1 FOR UPDATE OF r SKIP LOCKED) \
                     UPDATE runs SET owner = ?1, lease_until = {NOW_MS} + ?2, attempt = attempt + 1, queue = 'taken' \
                     FROM candidate WHERE runs.id = candidate.id \
                     RETURNING runs.id, runs.attempt, runs.status, runs.tenant, runs.submitted, runs.failures, \
                     runs.input_base",
                    claimable = CLAIMABLE.replace("{NOW}", NOW_MS)
                ),
                args![self.owner.as_str(), lease_ms],
            )?
            else {
                return Ok(None);
            };
            sql.execute(
                &format!(
                    "INSERT INTO tenant_turns (tenant, last_claimed) VALUES (?1, {NOW_MS}) \
                     ON CONFLICT (tenant) DO UPDATE SET last_claimed = excluded.last_claimed"
                ),
                args![row.opt_text(3)?.unwrap_or_default()],
            )?;
            Ok(Some(row))
        })?;
        let Some(row) = taken else {
            return Ok(None);
        };
        let run_id = row.text(0)?;
        let attempt = row.int(1)?;
        // Settings that cannot be read break the run, not the worker.
        let (submitted, broken) = match serde_json::from_str(&row.opt_text(4)?.unwrap_or_default())
        {
            Ok(submitted) => (submitted, None),
            Err(error) => (
                Submitted::default(),
                Some(format!("its submitted settings cannot be read: {error}")),
            ),
        };
        let lease = self.start_lease(database, &run_id, attempt)?;
        Ok(Some(Claim {
            fresh: row.text(2)? == "queued",
            failures: row.int(5)?,
            input_base: row.opt_text(6)?,
            run_id,
            attempt,
            submitted,
            broken,
            lease,
        }))
    }

    /// Records what became of a taken run: `done`, or `resume` for another
    /// worker to finish. Only while the claim is still this worker's.
    pub fn end_claim(&self, claim: &Claim, queue: &str) -> Result<(), StoreError> {
        self.fenced(&claim.run_id, |sql| {
            sql.execute(
                "UPDATE runs SET queue = ?2 WHERE id = ?1",
                args![claim.run_id.as_str(), queue],
            )
        })?;
        Ok(())
    }

    /// Records that this worker failed to carry a run on: a worker tries it
    /// again after `retry_after`, or, with `give_up`, it ends failed with
    /// why (a person can still resume it).
    pub fn fail_claim(
        &self,
        claim: &Claim,
        why: &str,
        give_up: bool,
        retry_after: std::time::Duration,
    ) -> Result<(), StoreError> {
        let delay = i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX);
        self.fenced(&claim.run_id, |sql| {
            if give_up {
                sql.execute(
                    "UPDATE runs SET queue = 'done', failures = failures + 1, status = 'failed', \
                     reason = ?2, finished_at = ?3 WHERE id = ?1",
                    args![claim.run_id.as_str(), why, Timestamp::now().to_string()],
                )
            } else {
                sql.execute(
                    &format!(
                        "UPDATE runs SET queue = 'resume', failures = failures + 1, \
                         not_before = {NOW_MS} + ?2 WHERE id = ?1"
                    ),
                    args![claim.run_id.as_str(), delay],
                )
            }
        })?;
        Ok(())
    }

    /// Lists the run `run_id` in `group` (the runs one `apply` started for
    /// the directories of one manifest).
    pub fn join_group(&self, run_id: &str, group: &str) -> Result<(), StoreError> {
        self.sql().execute(
            "UPDATE runs SET run_group = ?2 WHERE id = ?1",
            args![run_id, group],
        )?;
        Ok(())
    }

    /// The runs submitted or applied together as `group`, oldest first.
    pub fn runs_of_group(&self, group: &str) -> Result<Vec<String>, StoreError> {
        self.sql()
            .query(
                "SELECT id FROM runs WHERE run_group = ?1 ORDER BY submitted_at, id",
                args![group],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
    }
}
