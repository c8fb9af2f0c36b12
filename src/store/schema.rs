//! The job store's tables, created and upgraded by numbered migrations recorded
//! in SQLite's `user_version`. Applied migrations are never edited.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: [&str; 6] = [
    r"
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
",
    // What a run was planned from, so that a resume can check it: the batch
    // size, the guard limits, each input's SHA-256, and which steps finished
    // (with the selections of filter steps). Temporary files are recorded
    // while they exist; written files with their identity, so that only the
    // file a job wrote is ever deleted with it.
    r"
    ALTER TABLE runs ADD COLUMN chunk_rows INTEGER;
    ALTER TABLE runs ADD COLUMN max_removals INTEGER;
    ALTER TABLE runs ADD COLUMN max_device_deletions INTEGER;
    ALTER TABLE runs ADD COLUMN closed TEXT;
    ALTER TABLE runs ADD COLUMN input_base TEXT;
    ALTER TABLE runs ADD COLUMN directory_location TEXT;
    CREATE TABLE run_inputs (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (run_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE run_steps (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT,
        selection TEXT,
        attempts INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (run_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE run_temp_files (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        PRIMARY KEY (run_id, path)
    ) WITHOUT ROWID;
    ALTER TABLE job_files ADD COLUMN identity TEXT;
",
    // The watch ledger: each file a watched folder handed over, by its
    // content's SHA-256, with the run it started. A row is written in the
    // transaction that records the run, so a file is run once.
    r"
    CREATE TABLE watch_files (
        id INTEGER PRIMARY KEY,
        workflow TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        modified TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        claimed_as TEXT NOT NULL,
        claim TEXT NOT NULL,
        run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
        status TEXT NOT NULL,
        reason TEXT,
        archived_as TEXT
    );
    CREATE INDEX watch_files_claim ON watch_files (workflow, claim);
    CREATE INDEX watch_files_content ON watch_files (workflow, sha256);
    CREATE INDEX watch_files_run ON watch_files (run_id);
",
    // Runs of saved plans: the plan's id and the workflow's part of it (what
    // the run is held to), written in the transaction that records the run,
    // so a plan's run is recorded once and resumes against the same plan.
    r"
    CREATE TABLE saved_plan_runs (
        run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        plan_id TEXT NOT NULL,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX saved_plan_runs_plan ON saved_plan_runs (plan_id);
",
    // The members a `syncMembers` job removes, fixed before its first change
    // so that a resumed job removes exactly those.
    r"
    CREATE TABLE sync_removals (
        job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        removals TEXT NOT NULL
    ) WITHOUT ROWID;
",
    // What the jobs page and a run's page read: indexes for paging jobs by
    // time under each filter, a job's planned rows (its total while it
    // runs), a cancel request from another process, and what a run asked of
    // Microsoft Graph.
    r"
    CREATE INDEX jobs_started ON jobs (started_at, id);
    CREATE INDEX jobs_status ON jobs (status, started_at, id);
    CREATE INDEX jobs_operation ON jobs (operation, started_at, id);
    CREATE INDEX jobs_workflow ON jobs (workflow, started_at, id);
    ALTER TABLE jobs ADD COLUMN planned INTEGER;
    ALTER TABLE runs ADD COLUMN cancel_requested TEXT;
    CREATE TABLE run_traffic (
        run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        requests INTEGER NOT NULL,
        throttled INTEGER NOT NULL,
        retries INTEGER NOT NULL
    ) WITHOUT ROWID;
",
];

#[expect(
    clippy::cast_possible_wrap,
    reason = "there are a handful of migrations"
)]
pub(super) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the store up to the current version from `found`.
pub(super) fn migrate(connection: &mut Connection, found: i64) -> Result<(), StoreError> {
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (version, migration) in (1..=CURRENT_VERSION).zip(MIGRATIONS) {
        if version > found {
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", version)?;
        }
    }
    transaction.commit()?;
    Ok(())
}
