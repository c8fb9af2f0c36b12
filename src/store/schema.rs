//! The job store's tables, created and upgraded by numbered migrations: on
//! SQLite recorded in `user_version`, on PostgreSQL in `bulkops_schema`.
//! Each version exists in both dialects and means the same tables; applied
//! migrations are never edited.

use rusqlite::Connection;

use super::StoreError;
use super::sql::{Sql, args};

/// How many migrations there are: each exists in both dialects.
const COUNT: usize = 10;

const MIGRATIONS: [&str; COUNT] = [
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
    // Leases: on a shared store, the process that executes a run holds it
    // until `lease_until` (milliseconds since 1970 on the database's clock)
    // and renews it; each taking of a run counts an attempt, and journal
    // writes carry the attempt they were made under.
    r"
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_until INTEGER;
    ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
",
    // The queue: runs submitted for workers (`queue`: `queued` until a
    // worker starts it, `taken` while one executes it, `resume` when handed
    // back, `done` once it ended), when, for which tenant (the fairness
    // key), in which group of runs submitted together, and where the worker
    // finds what the run reads and writes (JSON). Each tenant's last turn,
    // for taking tenants round-robin. How often workers failed to carry a
    // run on, and when it may be tried again.
    r"
    ALTER TABLE runs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN not_before INTEGER;
    ALTER TABLE runs ADD COLUMN queue TEXT;
    ALTER TABLE runs ADD COLUMN submitted_at TEXT;
    ALTER TABLE runs ADD COLUMN tenant TEXT;
    ALTER TABLE runs ADD COLUMN run_group TEXT;
    ALTER TABLE runs ADD COLUMN submitted TEXT;
    CREATE INDEX runs_queue ON runs (queue, submitted_at);
    CREATE INDEX runs_group ON runs (run_group);
    CREATE TABLE tenant_turns (
        tenant TEXT PRIMARY KEY,
        last_claimed INTEGER NOT NULL
    ) WITHOUT ROWID;
",
    // Microsoft Graph budgets a fleet shares, one row per service, tenant and
    // app: each quota's theoretical arrival time and the cool-down of the
    // last 429, in microseconds since 1970 on the database's clock.
    r"
    CREATE TABLE graph_budgets (
        budget TEXT PRIMARY KEY,
        writes_at INTEGER NOT NULL DEFAULT 0,
        device_writes_at INTEGER NOT NULL DEFAULT 0,
        units_at INTEGER NOT NULL DEFAULT 0,
        quiet_until INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
",
    // Watch services sharing a folder through a shared store: each holds a
    // lease (milliseconds since 1970 on the database's clock) renewed while
    // it lives; the files a service whose lease ran out left claimed are
    // taken over by another.
    r"
    CREATE TABLE watch_owners (
        owner TEXT PRIMARY KEY,
        lease_until INTEGER NOT NULL
    ) WITHOUT ROWID;
",
];

/// The same migrations in PostgreSQL's dialect. Text that is compared or
/// sorted is `COLLATE "C"`, so it orders byte by byte as on SQLite.
const PG_MIGRATIONS: [&str; COUNT] = [
    r#"
    CREATE TABLE runs (
        id TEXT COLLATE "C" PRIMARY KEY,
        workflow TEXT COLLATE "C" NOT NULL,
        manifest_path TEXT COLLATE "C" NOT NULL,
        manifest_text TEXT NOT NULL,
        directory TEXT COLLATE "C" NOT NULL,
        output_root TEXT COLLATE "C" NOT NULL,
        trigger_file TEXT COLLATE "C",
        status TEXT COLLATE "C" NOT NULL,
        reason TEXT,
        started_at TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C"
    );
    CREATE INDEX runs_workflow ON runs (workflow, started_at);
    CREATE TABLE jobs (
        id TEXT COLLATE "C" PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        workflow TEXT COLLATE "C" NOT NULL,
        step TEXT COLLATE "C" NOT NULL,
        operation TEXT COLLATE "C" NOT NULL,
        target_id TEXT COLLATE "C" NOT NULL DEFAULT '',
        target_name TEXT,
        input_file TEXT,
        status TEXT COLLATE "C" NOT NULL,
        reason TEXT,
        total BIGINT NOT NULL DEFAULT 0,
        succeeded BIGINT NOT NULL DEFAULT 0,
        failed BIGINT NOT NULL DEFAULT 0,
        changed BIGINT NOT NULL DEFAULT 0,
        started_at TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        UNIQUE (run_id, step, target_id)
    );
    CREATE INDEX jobs_run ON jobs (run_id);
    CREATE TABLE job_chunks (
        job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        chunk BIGINT NOT NULL,
        first_row BIGINT NOT NULL,
        outcomes BYTEA NOT NULL,
        applied BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, chunk)
    );
    CREATE TABLE job_files (
        job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        kind TEXT COLLATE "C" NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        rows BIGINT NOT NULL,
        PRIMARY KEY (job_id, path)
    );
"#,
    r#"
    ALTER TABLE runs ADD COLUMN chunk_rows BIGINT;
    ALTER TABLE runs ADD COLUMN max_removals BIGINT;
    ALTER TABLE runs ADD COLUMN max_device_deletions BIGINT;
    ALTER TABLE runs ADD COLUMN closed TEXT;
    ALTER TABLE runs ADD COLUMN input_base TEXT;
    ALTER TABLE runs ADD COLUMN directory_location TEXT;
    CREATE TABLE run_inputs (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path TEXT COLLATE "C" NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (run_id, path)
    );
    CREATE TABLE run_steps (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step TEXT COLLATE "C" NOT NULL,
        state TEXT COLLATE "C" NOT NULL,
        detail TEXT,
        selection TEXT,
        attempts BIGINT NOT NULL DEFAULT 1,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE run_temp_files (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (run_id, path)
    );
    ALTER TABLE job_files ADD COLUMN identity TEXT;
"#,
    r#"
    CREATE TABLE watch_files (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        workflow TEXT COLLATE "C" NOT NULL,
        sha256 TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        size BIGINT NOT NULL,
        modified TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        claimed_as TEXT NOT NULL,
        claim TEXT COLLATE "C" NOT NULL,
        run_id TEXT COLLATE "C" REFERENCES runs (id) ON DELETE SET NULL,
        status TEXT COLLATE "C" NOT NULL,
        reason TEXT,
        archived_as TEXT
    );
    CREATE INDEX watch_files_claim ON watch_files (workflow, claim);
    CREATE INDEX watch_files_content ON watch_files (workflow, sha256);
    CREATE INDEX watch_files_run ON watch_files (run_id);
"#,
    r#"
    CREATE TABLE saved_plan_runs (
        run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        plan_id TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX saved_plan_runs_plan ON saved_plan_runs (plan_id);
"#,
    r#"
    CREATE TABLE sync_removals (
        job_id TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        removals TEXT NOT NULL
    );
"#,
    r#"
    CREATE INDEX jobs_started ON jobs (started_at, id);
    CREATE INDEX jobs_status ON jobs (status, started_at, id);
    CREATE INDEX jobs_operation ON jobs (operation, started_at, id);
    CREATE INDEX jobs_workflow ON jobs (workflow, started_at, id);
    ALTER TABLE jobs ADD COLUMN planned BIGINT;
    ALTER TABLE runs ADD COLUMN cancel_requested TEXT;
    CREATE TABLE run_traffic (
        run_id TEXT COLLATE "C" PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        requests BIGINT NOT NULL,
        throttled BIGINT NOT NULL,
        retries BIGINT NOT NULL
    );
"#,
    r"
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_until BIGINT;
    ALTER TABLE runs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
",
    r#"
    ALTER TABLE runs ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN not_before BIGINT;
    ALTER TABLE runs ADD COLUMN queue TEXT COLLATE "C";
    ALTER TABLE runs ADD COLUMN submitted_at TEXT COLLATE "C";
    ALTER TABLE runs ADD COLUMN tenant TEXT COLLATE "C";
    ALTER TABLE runs ADD COLUMN run_group TEXT COLLATE "C";
    ALTER TABLE runs ADD COLUMN submitted TEXT;
    CREATE INDEX runs_queue ON runs (queue, submitted_at);
    CREATE INDEX runs_group ON runs (run_group);
    CREATE TABLE tenant_turns (
        tenant TEXT COLLATE "C" PRIMARY KEY,
        last_claimed BIGINT NOT NULL
    );
"#,
    r#"
    CREATE TABLE graph_budgets (
        budget TEXT COLLATE "C" PRIMARY KEY,
        writes_at BIGINT NOT NULL DEFAULT 0,
        device_writes_at BIGINT NOT NULL DEFAULT 0,
        units_at BIGINT NOT NULL DEFAULT 0,
        quiet_until BIGINT NOT NULL DEFAULT 0
    );
"#,
    r#"
    CREATE TABLE watch_owners (
        owner TEXT COLLATE "C" PRIMARY KEY,
        lease_until BIGINT NOT NULL
    );
"#,
];

#[expect(
    clippy::cast_possible_wrap,
    reason = "there are a handful of migrations"
)]
pub(super) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings a SQLite store up to the current version from `found`.
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

/// The version of a PostgreSQL store (0: the database holds no job store).
pub(super) fn pg_version(sql: &dyn Sql) -> Result<i64, StoreError> {
    // Read from the catalog's table under the statement's own snapshot, so a
    // table another process just committed is seen.
    let exists = sql
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = 'bulkops_schema' AND n.nspname = current_schema())",
            args![],
        )?
        .flag(0)?;
    if !exists {
        return Ok(0);
    }
    Ok(sql
        .query_opt("SELECT version FROM bulkops_schema", args![])?
        .map(|row| row.int(0))
        .transpose()?
        .unwrap_or(0))
}

/// Brings a PostgreSQL store up to the current version, inside the store's
/// transaction lock (processes starting together never see half a store).
pub(super) fn migrate_pg(sql: &dyn Sql) -> Result<(), StoreError> {
    let found = pg_version(sql)?;
    if found == 0 {
        sql.batch(
            "CREATE TABLE bulkops_schema (version BIGINT NOT NULL); INSERT INTO bulkops_schema VALUES (0)",
        )?;
    }
    for (version, migration) in (1..=CURRENT_VERSION).zip(PG_MIGRATIONS) {
        if version > found {
            sql.batch(migration)?;
            sql.execute("UPDATE bulkops_schema SET version = ?1", args![version])?;
        }
    }
    Ok(())
}
