//! Runs of saved plans, and the fixed removals of sync jobs. Each run of a saved plan records the id of the plan it applies and
//! its workflow's part of the plan, in the transaction that records the run.
//! A plan's runs are named when the plan is made, so a plan applied once
//! cannot start again, and a resumed run is held to the same plan.

use super::sql::{Sql, args};
use super::{JobStore, StoreError};

/// The saved plan a new run applies.
#[derive(Debug, Clone, Copy)]
pub struct SavedRun<'a> {
    pub plan_id: &'a str,
    /// The workflow's part of the plan, as JSON.
    pub body: &'a str,
}

/// Records that a run applies a saved plan.
pub(super) fn insert_for_run(
    sql: &dyn Sql,
    run_id: &str,
    saved: &SavedRun<'_>,
) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO saved_plan_runs (run_id, plan_id, body) VALUES (?1, ?2, ?3)",
        args![run_id, saved.plan_id, saved.body],
    )?;
    Ok(())
}

impl JobStore {
    /// The saved plan a run applies, as its id and the run's part of it.
    pub fn saved_plan_of(&self, run_id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.sql()
            .query_opt(
                "SELECT plan_id, body FROM saved_plan_runs WHERE run_id = ?1",
                args![run_id],
            )?
            .map(|row| Ok((row.text(0)?, row.text(1)?)))
            .transpose()
    }

    /// The members a sync job removes, as recorded before its first change.
    /// As JSON, written by the step.
    pub fn sync_removals(&self, job_id: &str) -> Result<Option<String>, StoreError> {
        self.sql()
            .query_opt(
                "SELECT removals FROM sync_removals WHERE job_id = ?1",
                args![job_id],
            )?
            .map(|row| row.text(0))
            .transpose()
    }

    /// Records the members a sync job removes (once: a resumed job keeps the first).
    pub fn record_sync_removals(&self, job_id: &str, removals: &str) -> Result<(), StoreError> {
        self.fenced_job(job_id, |sql| {
            sql.execute(
                "INSERT INTO sync_removals (job_id, removals) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![job_id, removals],
            )
        })?;
        Ok(())
    }

    /// The newest completed run of a workflow from the manifest at
    /// `manifest_path` against `directory`, for `apply --changed-only`.
    pub fn last_completed_run(
        &self,
        workflow: &str,
        manifest_path: &str,
        directory: &str,
    ) -> Result<Option<String>, StoreError> {
        self.sql()
            .query_opt(
                "SELECT id FROM runs WHERE workflow = ?1 AND manifest_path = ?2 AND directory = ?3 \
                 AND status = 'completed' ORDER BY started_at DESC, id DESC LIMIT 1",
                args![workflow, manifest_path, directory],
            )?
            .map(|row| row.text(0))
            .transpose()
    }

    /// The runs recorded for a saved plan, oldest first.
    pub fn runs_of_plan(&self, plan_id: &str) -> Result<Vec<String>, StoreError> {
        self.sql()
            .query(
                "SELECT run_id FROM saved_plan_runs WHERE plan_id = ?1 ORDER BY run_id",
                args![plan_id],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
    }
}
