//! The watch ledger: every file a watched folder handed over, by workflow and
//! the SHA-256 of its content, with its name, size and time, where it was
//! claimed, the run it started and where it went. The row of a run is written
//! in the transaction that records the run, so a file's run is recorded once
//! or not at all, and the same content dropped again is recognised.
//!
//! Statuses: `running` (its run was recorded and has not ended), `processed`
//! and `failed` (its run ended so), `duplicate` (skipped: the content was run
//! before), `refused` (no run was recorded: its check or a guard refused it).

use jiff::Timestamp;
use serde::Serialize;

use super::sql::{Row, Sql, args};
use super::{JobStore, StoreError, time};

/// A file handed over by a watched folder, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub workflow: String,
    pub sha256: String,
    /// The name it was dropped under.
    pub name: String,
    pub size: u64,
    pub modified: Timestamp,
    pub claimed_at: Timestamp,
    /// The absolute path it was claimed to, below `.processing/`.
    pub claimed_as: String,
    /// The claim folder and the name, `CLAIM/NAME`: how a restarted watch
    /// finds the row of a claimed file, even after the folders moved.
    pub claim: String,
    /// On a shared store, the watch service that claimed the file: its run
    /// is recorded only while the service's lease holds (not kept).
    #[serde(skip)]
    pub service: Option<String>,
}

/// A ledger row with what became of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerRow {
    #[serde(flatten)]
    pub entry: LedgerEntry,
    pub run_id: Option<String>,
    /// `running`, `processed`, `failed`, `duplicate` or `refused`.
    pub status: String,
    /// Why a file was refused or skipped.
    pub reason: Option<String>,
    /// Where the file was (or is being) moved once its run ended.
    pub archived_as: Option<String>,
}

/// Content that counts as run before: a run that is going on or completed.
/// Content whose run failed or was refused may be dropped again and runs.
const SEEN: &str = "SELECT run_id FROM watch_files WHERE workflow = ?1 AND sha256 = ?2 \
                    AND status IN ('running', 'processed') ORDER BY id LIMIT 1";

/// Inserts the ledger row of a run inside the transaction that records it,
/// unless (with `skip_duplicates`) the same content was run before; returns
/// the earlier run then.
pub(super) fn insert_for_run(
    sql: &dyn Sql,
    entry: &LedgerEntry,
    run_id: &str,
    skip_duplicates: bool,
) -> Result<Option<String>, StoreError> {
    // Watch services sharing a folder: a service whose lease ran out may
    // have had its claims taken over, so it records nothing more; one claim
    // starts one run, whichever service records it first (this transaction
    // excludes every other writer).
    if let Some(service) = &entry.service
        && sql
            .query_opt(
                &format!(
                    "SELECT 1 FROM watch_owners WHERE owner = ?1 AND lease_until >= {}",
                    super::lease::NOW_MS
                ),
                args![service],
            )?
            .is_none()
    {
        return Err(StoreError::WatchLeaseLost {
            claim: entry.claim.clone(),
        });
    }
    if sql
        .query_opt(
            "SELECT 1 FROM watch_files WHERE workflow = ?1 AND claim = ?2",
            args![&entry.workflow, &entry.claim],
        )?
        .is_some()
    {
        return Err(StoreError::ClaimRecorded {
            claim: entry.claim.clone(),
        });
    }
    if skip_duplicates
        && let Some(earlier) = sql.query_opt(SEEN, args![&entry.workflow, &entry.sha256])?
    {
        return Ok(Some(earlier.opt_text(0)?.unwrap_or_default()));
    }
    insert(sql, entry, Some(run_id), "running", None, None)?;
    Ok(None)
}

fn insert(
    sql: &dyn Sql,
    entry: &LedgerEntry,
    run_id: Option<&str>,
    status: &str,
    reason: Option<&str>,
    archived_as: Option<&str>,
) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO watch_files (workflow, sha256, name, size, modified, claimed_at, claimed_as, \
         claim, run_id, status, reason, archived_as) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        args![
            &entry.workflow,
            &entry.sha256,
            &entry.name,
            entry.size,
            entry.modified.to_string(),
            entry.claimed_at.to_string(),
            &entry.claimed_as,
            &entry.claim,
            run_id,
            status,
            reason,
            archived_as
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "workflow, sha256, name, size, modified, claimed_at, claimed_as, claim, \
                       run_id, status, reason, archived_as";

fn row_of(row: &Row) -> Result<LedgerRow, StoreError> {
    Ok(LedgerRow {
        entry: LedgerEntry {
            workflow: row.text(0)?,
            sha256: row.text(1)?,
            name: row.text(2)?,
            size: row.count(3)?,
            modified: time(row.opt_text(4)?).unwrap_or(Timestamp::UNIX_EPOCH),
            claimed_at: time(row.opt_text(5)?).unwrap_or(Timestamp::UNIX_EPOCH),
            claimed_as: row.text(6)?,
            claim: row.text(7)?,
            service: None,
        },
        run_id: row.opt_text(8)?,
        status: row.text(9)?,
        reason: row.opt_text(10)?,
        archived_as: row.opt_text(11)?,
    })
}

impl JobStore {
    /// The latest row of a workflow's claim (`CLAIM/NAME`): what a
    /// restarted watch finds for a file left in `.processing/`.
    pub fn ledger_by_claim(
        &self,
        workflow: &str,
        claim: &str,
    ) -> Result<Option<LedgerRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM watch_files WHERE workflow = ?1 AND claim = ?2 \
             ORDER BY id DESC LIMIT 1"
        );
        self.sql()
            .query_opt(&sql, args![workflow, claim])?
            .as_ref()
            .map(row_of)
            .transpose()
    }

    /// The run of this content, when the workflow ran it before (a run that
    /// is going on or completed).
    pub fn ledger_seen(&self, workflow: &str, sha256: &str) -> Result<Option<String>, StoreError> {
        self.sql()
            .query_opt(SEEN, args![workflow, sha256])?
            .map(|row| Ok(row.opt_text(0)?.unwrap_or_default()))
            .transpose()
    }

    /// Records a file that started no run: skipped as a duplicate, or
    /// refused before its run was recorded.
    pub fn ledger_note(
        &self,
        entry: &LedgerEntry,
        status: &str,
        reason: &str,
        archived_as: &str,
    ) -> Result<(), StoreError> {
        insert(
            self.sql(),
            entry,
            None,
            status,
            Some(reason),
            Some(archived_as),
        )
    }

    /// Records how a run's file ended and where it is being moved; written
    /// before the move, so a restart finishes a move a crash interrupted.
    pub fn ledger_archived(
        &self,
        run_id: &str,
        status: &str,
        archived_as: &str,
    ) -> Result<(), StoreError> {
        self.sql().execute(
            "UPDATE watch_files SET status = ?2, archived_as = ?3 WHERE run_id = ?1",
            args![run_id, status, archived_as],
        )?;
        Ok(())
    }

    /// Changes where a claimed file is being moved (its first choice of
    /// name was taken meanwhile).
    pub fn ledger_rename(
        &self,
        workflow: &str,
        claim: &str,
        archived_as: &str,
    ) -> Result<(), StoreError> {
        self.sql().execute(
            "UPDATE watch_files SET archived_as = ?3 WHERE id = \
             (SELECT max(id) FROM watch_files WHERE workflow = ?1 AND claim = ?2)",
            args![workflow, claim, archived_as],
        )?;
        Ok(())
    }

    /// Every ledger row, oldest first.
    pub fn ledger(&self) -> Result<Vec<LedgerRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM watch_files ORDER BY id");
        self.sql()
            .query(&sql, args![])?
            .iter()
            .map(row_of)
            .collect()
    }
}
