//! The watch ledger: every file a watched folder handed over, by workflow and
//! the SHA-256 of its content, with its name, size and time, the run it
//! started and where it went. The row of a run is written in the transaction
//! that records the run, so a file's run is recorded once or not at all, and
//! the same content dropped again is recognised.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::{JobStore, StoreError, time, to_i64, to_u64};

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
}

/// A ledger row with what became of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerRow {
    #[serde(flatten)]
    pub entry: LedgerEntry,
    pub run_id: Option<String>,
    /// `running`, `processed`, `failed` or `duplicate`.
    pub status: String,
    pub archived_as: Option<String>,
}

/// Inserts the ledger row of a run inside the transaction that records it,
/// unless (with `skip_duplicates`) the same content was run before; returns
/// the earlier run then.
pub(super) fn insert_for_run(
    transaction: &Transaction<'_>,
    entry: &LedgerEntry,
    run_id: &str,
    skip_duplicates: bool,
) -> Result<Option<String>, StoreError> {
    if skip_duplicates {
        let earlier: Option<Option<String>> = transaction
            .query_row(
                "SELECT run_id FROM watch_files WHERE workflow = ?1 AND sha256 = ?2 AND status != 'duplicate' \
                 ORDER BY id LIMIT 1",
                params![entry.workflow, entry.sha256],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(earlier) = earlier {
            return Ok(Some(earlier.unwrap_or_default()));
        }
    }
    insert(transaction, entry, Some(run_id), "running", None)?;
    Ok(None)
}

fn insert(
    connection: &rusqlite::Connection,
    entry: &LedgerEntry,
    run_id: Option<&str>,
    status: &str,
    archived_as: Option<&str>,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO watch_files (workflow, sha256, name, size, modified, claimed_at, run_id, status, archived_as) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            entry.workflow,
            entry.sha256,
            entry.name,
            to_i64(entry.size),
            entry.modified.to_string(),
            entry.claimed_at.to_string(),
            run_id,
            status,
            archived_as
        ],
    )?;
    Ok(())
}

const COLUMNS: &str =
    "workflow, sha256, name, size, modified, claimed_at, run_id, status, archived_as";

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<LedgerRow> {
    Ok(LedgerRow {
        entry: LedgerEntry {
            workflow: row.get(0)?,
            sha256: row.get(1)?,
            name: row.get(2)?,
            size: to_u64(row.get(3)?),
            modified: time(row.get(4)?).unwrap_or(Timestamp::UNIX_EPOCH),
            claimed_at: time(row.get(5)?).unwrap_or(Timestamp::UNIX_EPOCH),
        },
        run_id: row.get(6)?,
        status: row.get(7)?,
        archived_as: row.get(8)?,
    })
}

impl JobStore {
    /// The run a workflow started for this content, if one did and its file
    /// was not archived yet: what a restarted watch resumes.
    pub fn ledger_open_run(
        &self,
        workflow: &str,
        sha256: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT run_id FROM watch_files WHERE workflow = ?1 AND sha256 = ?2 \
                 AND status = 'running' AND run_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                params![workflow, sha256],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Whether this content was run before by the workflow.
    pub fn ledger_seen(&self, workflow: &str, sha256: &str) -> Result<Option<String>, StoreError> {
        let found: Option<Option<String>> = self
            .connection
            .query_row(
                "SELECT run_id FROM watch_files WHERE workflow = ?1 AND sha256 = ?2 AND status != 'duplicate' \
                 ORDER BY id LIMIT 1",
                params![workflow, sha256],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.map(Option::unwrap_or_default))
    }

    /// Records a file skipped because its content was run before.
    pub fn ledger_duplicate(
        &self,
        entry: &LedgerEntry,
        archived_as: &str,
    ) -> Result<(), StoreError> {
        insert(
            &self.connection,
            entry,
            None,
            "duplicate",
            Some(archived_as),
        )
    }

    /// Records where a run's file went once its run ended.
    pub fn ledger_archived(
        &self,
        run_id: &str,
        status: &str,
        archived_as: &str,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE watch_files SET status = ?2, archived_as = ?3 WHERE run_id = ?1",
            params![run_id, status, archived_as],
        )?;
        Ok(())
    }

    /// Every ledger row, oldest first.
    pub fn ledger(&self) -> Result<Vec<LedgerRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM watch_files ORDER BY id");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let rows = statement.query_map([], row_of)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
