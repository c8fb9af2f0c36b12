//! The job store (`.bulkops/state.db`): runs, bulk jobs, the journal of row
//! outcomes that makes interrupted runs resumable, and the files jobs wrote.
//! Only this module writes SQL for it.
//!
//! Membership and device jobs journal rows in chunks. Before a chunk touches
//! the directory, its planned outcomes are committed (who will be added, who
//! is a member already, who was not found); after the directory has the
//! change, the chunk is marked applied. A run resumed after a crash re-applies
//! planned chunks, which is harmless because adding a member twice or
//! removing one twice changes nothing, and reports the planned outcomes, so
//! the results are those of a run that was never interrupted.
//!
//! A run records what it was planned from (batch size, guard limits, each
//! input's SHA-256) so a resume can refuse to continue from something else,
//! and one process at a time executes it, holding the run's lock file (on
//! SQLite) or its lease (on PostgreSQL, where processes on several machines
//! share the store).
//!
//! Both backends run the same statements ([`sql`]) and the same versioned
//! migrations ([`schema`]); the store's tests run on both.

mod browse;
mod budget;
mod jobs;
mod journal;
mod lease;
mod ledger;
mod location;
mod pg;
mod queue;
mod runs;
mod saved;
mod schema;
mod sql;
#[doc(hidden)]
pub mod testing;
mod watch_owners;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Serialize;

use crate::files::database::{self, FileState};
use sql::{Db, Sql};

pub use browse::{Anchor, Cursor, JobFilter, JobPage, Traffic};
pub use budget::{Charge, SharedBudget, Taken};
pub use jobs::{JobCounts, JobFile, JobRecord, NewJob};
pub use journal::{Charged, Chunk};
pub use lease::{LEASE, Lease};
pub use ledger::{LedgerEntry, LedgerRow};
pub use location::{Location, LocationError, PgUrl};
pub use queue::{Claim, NewQueuedRun, Submitted};
pub use runs::{NewRun, RunLock, RunRecord, StepRecord};
pub use saved::SavedRun;
pub use watch_owners::WatchLease;

/// Where the job store lives unless told otherwise.
pub const DEFAULT_PATH: &str = ".bulkops/state.db";

/// What can go wrong with the job store.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    #[error("the job store failed")]
    #[diagnostic(
        code(bulkops::store::sqlite),
        help("check the cause above; `.bulkops/` must be writable and the disk not full")
    )]
    Sqlite(#[from] rusqlite::Error),
    #[error("the job store's PostgreSQL server refused a statement")]
    #[diagnostic(
        code(bulkops::store::postgres),
        help("check the cause above: the server's log tells more")
    )]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot reach the job store at `{location}`: {cause}")]
    #[diagnostic(
        code(bulkops::store::connect),
        help(
            "check the URL's host, port, database and user, that the server runs, and the password (`PGPASSWORD`)"
        )
    )]
    Connect { location: String, cause: String },
    #[error("the job store answered unexpectedly: {what}")]
    #[diagnostic(
        code(bulkops::store::unexpected),
        help("the store may have been changed by something else than bulkops")
    )]
    Unexpected { what: String },
    #[error(transparent)]
    #[diagnostic(
        code(bulkops::store::url),
        help("write it as postgres://USER@HOST:PORT/DATABASE; a password goes in PGPASSWORD")
    )]
    Location(LocationError),
    #[error("run `{id}` was taken over by another process (its lease ran out), so this one stops")]
    #[diagnostic(
        code(bulkops::store::lease_lost),
        help(
            "the other process resumes the run from its journal; nothing this one did after losing the lease was recorded"
        )
    )]
    LeaseLost { id: String },
    #[error("the claimed file `{claim}` was recorded by another process, which runs it")]
    #[diagnostic(
        code(bulkops::store::claim_recorded),
        help("another watch service took the file over; this one leaves it alone")
    )]
    ClaimRecorded { claim: String },
    #[error("this watch's lease ran out before the run of `{claim}` was recorded")]
    #[diagnostic(
        code(bulkops::store::watch_lease_lost),
        help(
            "another watch service may have taken the file over; this one records nothing more and stops"
        )
    )]
    WatchLeaseLost { claim: String },
    #[error("cannot use `{}`", path.display())]
    #[diagnostic(
        code(bulkops::store::io),
        help("check that the folder exists and is writable")
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{location}` was written by a newer bulkops (schema {found}, this one knows {supported})"
    )]
    #[diagnostic(code(bulkops::store::newer), help("upgrade bulkops"))]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },
    #[error("`{}` is empty (0 bytes): it holds no job history", path.display())]
    #[diagnostic(
        code(bulkops::store::empty),
        help(
            "bulkops never leaves an empty job store; if the file was emptied by accident, restore it from a backup, and to start a new history, delete it"
        )
    )]
    Empty { path: PathBuf },
    #[error("`{}` is not a bulkops job store", path.display())]
    #[diagnostic(
        code(bulkops::store::foreign),
        help("point `--state` at the job store (`.bulkops/state.db`), or move this file away")
    )]
    NotAStore { path: PathBuf },
    #[error("there is no job history at `{location}`")]
    #[diagnostic(
        code(bulkops::store::missing),
        help(
            "runs record their jobs there; run bulkops in the folder of your runs, or pass `--state FILE` (or the database's `postgres://` URL)"
        )
    )]
    Missing { location: String },
    #[error("no run has the id `{id}`")]
    #[diagnostic(
        code(bulkops::store::unknown_run),
        help("`bulkops jobs list` shows the runs and their ids")
    )]
    UnknownRun { id: String },
    #[error("no runs were submitted as group `{id}`")]
    #[diagnostic(
        code(bulkops::store::unknown_group),
        help("`bulkops submit` prints the group of the runs it queues")
    )]
    UnknownGroup { id: String },
    #[error("no job has the id `{id}`")]
    #[diagnostic(
        code(bulkops::store::unknown_job),
        help("`bulkops jobs list` shows the jobs and their ids")
    )]
    UnknownJob { id: String },
    #[error("the same content was run before by run `{earlier}`")]
    #[diagnostic(
        code(bulkops::store::duplicate),
        help("the watch moves it to the duplicates folder; set `duplicates: run` to run it again")
    )]
    DuplicateContent { earlier: String },
    #[error("run `{id}` is being executed by another bulkops process")]
    #[diagnostic(
        code(bulkops::store::run_held),
        help(
            "one process executes a run at a time; wait for the other to end (or stop it), then resume"
        )
    )]
    RunHeld { id: String },
}

/// The status of a run or a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Submitted, waiting for a worker to start it.
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    /// Recorded as running, but no process executes it any more (it was
    /// killed, or stopped at once by a second Ctrl-C): `--resume` finishes it.
    /// Never stored; told from the run's lock.
    Interrupted,
}

impl Status {
    /// The word stored and shown.
    pub fn key(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    /// The status a stored or typed word names, if it names one.
    pub fn parse(key: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|status| status.key() == key)
    }

    fn from_key(key: &str) -> Self {
        match key {
            "queued" => Self::Queued,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Running,
        }
    }
}

/// The reason a job failed because some rows did, as the admin center words it.
pub const NOT_ALL_ROWS: &str = "NotAllRowsSuccessfullyProcessed";

/// Whether opening a store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    IfMissing,
    Never,
}

/// The open job store.
pub struct JobStore {
    db: Db,
    location: Location,
    /// The runs this store's process holds leases of, with the attempt each
    /// was taken as (PostgreSQL only): the fencing tokens of its writes.
    fences: lease::Fences,
    /// The runs this store writes for under another store's lease.
    adopted: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The runs of jobs this process wrote, for fencing their writes.
    job_runs: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// This process as the owner of the runs it executes.
    owner: String,
    /// How long a lease lasts unless renewed.
    lease: std::time::Duration,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    value.unsigned_abs()
}

/// An id as messages quote it: at most 80 characters of what was typed.
/// Control characters are escaped.
pub fn quoted_id(id: &str) -> String {
    let shown = crate::text::printable(id);
    if shown.chars().count() > 80 {
        shown.chars().take(80).chain(['…']).collect()
    } else {
        shown.into_owned()
    }
}

fn time(text: Option<String>) -> Option<jiff::Timestamp> {
    text.and_then(|text| text.parse().ok())
}

impl JobStore {
    /// Opens (and creates or upgrades) the SQLite store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Create::IfMissing)
    }

    /// Opens the SQLite store at `path`, creating it only when asked.
    pub fn open_with(path: &Path, create: Create) -> Result<Self, StoreError> {
        Self::open_at(&Location::File(path.to_path_buf()), create)
    }

    /// Opens the store at `location`, creating it only when asked. Creation
    /// and upgrades happen under the store's creation lock, so processes
    /// starting together never see half a store; an empty or foreign file is
    /// refused.
    pub fn open_at(location: &Location, create: Create) -> Result<Self, StoreError> {
        let db = match location {
            Location::File(path) => Db::Sqlite(open_sqlite(path, create)?),
            Location::Postgres(url) => Db::Postgres(open_postgres(url, location, create)?),
            Location::Unusable(error) => return Err(StoreError::Location(error.clone())),
        };
        Ok(Self::with_db(db, location.clone()))
    }

    fn with_db(db: Db, location: Location) -> Self {
        Self {
            db,
            location,
            fences: lease::Fences::default(),
            adopted: std::sync::Mutex::default(),
            job_runs: std::sync::Mutex::default(),
            owner: lease::owner_name(),
            lease: lease::lease_length(),
        }
    }

    /// This process, as the owner it records of the runs it executes.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A store in memory, for previews where no job history exists yet.
    pub fn in_memory() -> Result<Self, StoreError> {
        let mut connection = Connection::open_in_memory()?;
        schema::migrate(&mut connection, 0)?;
        Ok(Self::with_db(
            Db::Sqlite(connection),
            Location::File(PathBuf::from(":memory:")),
        ))
    }

    /// Where the store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Where single statements run.
    fn sql(&self) -> &dyn Sql {
        self.db.sql()
    }

    /// The folder that holds the lock files of runs (SQLite stores).
    fn lock_folder(&self) -> PathBuf {
        match &self.location {
            Location::File(path) => database::sibling(path, ".locks"),
            Location::Postgres(_) | Location::Unusable(_) => {
                self.location.local_folder().join("locks")
            }
        }
    }
}

fn open_sqlite(path: &Path, create: Create) -> Result<Connection, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let lock = database::creation_lock(path).map_err(io)?;
    match database::state(path).map_err(io)? {
        FileState::Missing if create == Create::IfMissing => {
            database::create_whole(path, |connection| {
                connection.pragma_update(None, "journal_mode", "WAL")?;
                schema::migrate(connection, 0)
            })
            .map_err(|error| match error {
                database::BuildError::Io(path, source) => StoreError::Io { path, source },
                database::BuildError::Sqlite(error) => StoreError::Sqlite(error),
                database::BuildError::Build(error) => error,
            })?;
        }
        FileState::Missing => {
            return Err(StoreError::Missing {
                location: path.display().to_string(),
            });
        }
        FileState::Empty => {
            return Err(StoreError::Empty {
                path: path.to_path_buf(),
            });
        }
        FileState::Present => {}
    }
    let connection = connect_sqlite(path)?;
    drop(lock);
    Ok(connection)
}

fn connect_sqlite(path: &Path) -> Result<Connection, StoreError> {
    let foreign = || StoreError::NotAStore {
        path: path.to_path_buf(),
    };
    let mut connection = Connection::open(path)?;
    // Several bulkops processes may share a store (a watcher and a person);
    // wait for a lock rather than fail at once.
    connection.busy_timeout(std::time::Duration::from_secs(60))?;
    let found: i64 = match connection.query_row("PRAGMA user_version", [], |row| row.get(0)) {
        Ok(found) => found,
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(foreign());
        }
        Err(error) => return Err(error.into()),
    };
    if found == 0 {
        return Err(foreign());
    }
    if found > schema::CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            location: path.display().to_string(),
            found,
            supported: schema::CURRENT_VERSION,
        });
    }
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    if found < schema::CURRENT_VERSION {
        schema::migrate(&mut connection, found)?;
    }
    Ok(connection)
}

/// Connects to a PostgreSQL store, creating its tables when asked; an
/// upgrade runs under the store's transaction lock.
fn open_postgres(url: &PgUrl, location: &Location, create: Create) -> Result<pg::PgDb, StoreError> {
    let database = pg::PgDb::connect(url)?;
    let found = schema::pg_version(&database)?;
    if found > schema::CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            location: location.to_string(),
            found,
            supported: schema::CURRENT_VERSION,
        });
    }
    if found == 0 && create == Create::Never {
        return Err(StoreError::Missing {
            location: location.to_string(),
        });
    }
    if found < schema::CURRENT_VERSION {
        database.transaction(schema::migrate_pg)?;
    }
    Ok(database)
}

#[cfg(test)]
mod tests;
