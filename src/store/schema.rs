//! The job store's tables, created and upgraded by numbered migrations recorded
//! in SQLite's `user_version`. Applied migrations are never edited.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: [&str; 1] = [r"
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        manifest_path TEXT NOT NULL,
        manifest_text TEXT NOT NULL,
        directory TEXT NOT NULL,
        output_root TEXT NOT NULL,
        trigger_file TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX runs_workflow ON runs (workflow, started_at);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        workflow TEXT NOT NULL,
        step TEXT NOT NULL,
        operation TEXT NOT NULL,
        target_id TEXT NOT NULL DEFAULT '',
        target_name TEXT,
        input_file TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        total INTEGER NOT NULL DEFAULT 0,
        succeeded INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        changed INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (run_id, step, target_id)
    ) WITHOUT ROWID;
    CREATE INDEX jobs_run ON jobs (run_id);
    CREATE TABLE job_chunks (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        chunk INTEGER NOT NULL,
        first_row INTEGER NOT NULL,
        outcomes BLOB NOT NULL,
        applied INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, chunk)
    ) WITHOUT ROWID;
    CREATE TABLE job_files (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        rows INTEGER NOT NULL,
        PRIMARY KEY (job_id, path)
    ) WITHOUT ROWID;
"];

#[expect(
    clippy::cast_possible_wrap,
    reason = "there are a handful of migrations"
)]
const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the store up to the current version, refusing one from a newer bulkops.
pub(super) fn migrate(
    connection: &mut Connection,
    path: &std::path::Path,
) -> Result<(), StoreError> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    let transaction = connection.transaction()?;
    for (version, migration) in (1..=CURRENT_VERSION).zip(MIGRATIONS) {
        if version > found {
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", version)?;
        }
    }
    transaction.commit()?;
    Ok(())
}
