//! The local directory: a SQLite file (by default `.bulkops/directory.db`) with
//! users, groups, devices, service principals and direct memberships.
//!
//! It needs no tenant: on first use it is filled with the demo tenant built into
//! bulkops, `bulkops directory init --from DIR` fills it from CSV files, and
//! `bulkops directory generate` makes one of any size for benchmarks.

mod generate;
mod pull_target;
mod read;
mod schema;
mod seed;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::files::database::{self, BuildError, FileState};

pub use generate::{GenerateOptions, user_id};
pub use pull_target::{PullTarget, Pulled};
pub use seed::TenantSource;
pub use write::ResolvedMember;

/// Where the local directory lives unless told otherwise.
pub const DEFAULT_PATH: &str = ".bulkops/directory.db";

/// What can go wrong with the local directory.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LocalError {
    #[error("the local directory database failed")]
    #[diagnostic(
        code(bulkops::directory::sqlite),
        help(
            "check the cause above; if the file was damaged, recreate it with `bulkops directory init --force`"
        )
    )]
    Sqlite(#[from] rusqlite::Error),
    #[error("the local directory `{}` failed", path.display())]
    #[diagnostic(
        code(bulkops::directory::database),
        help(
            "check the cause above; if the file was damaged, recreate it with `bulkops directory init --force`"
        )
    )]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("`{}` is empty (0 bytes): it is not a directory", path.display())]
    #[diagnostic(
        code(bulkops::directory::empty),
        help(
            "bulkops never leaves an empty directory database; delete the file to start again with the demo tenant, or recreate it with `bulkops directory init --force` (or `--from DIR`)"
        )
    )]
    Empty { path: PathBuf },
    #[error("`{}` is not a bulkops directory: {why}", path.display())]
    #[diagnostic(
        code(bulkops::directory::foreign),
        help(
            "point `--db` at a local directory, or recreate this one with `bulkops directory init --force` (or `--from DIR`)"
        )
    )]
    NotADirectory { path: PathBuf, why: &'static str },
    #[error("cannot use `{}`", path.display())]
    #[diagnostic(
        code(bulkops::directory::io),
        help("check that the folder exists and is writable")
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}, line {line}: {message}")]
    #[diagnostic(
        code(bulkops::directory::seed),
        help(
            "fix the row; every file needs the header row of the demo tenant's file of the same name"
        )
    )]
    Seed {
        file: String,
        line: u64,
        message: String,
    },
    #[error("`{}` is missing", path.display())]
    #[diagnostic(
        code(bulkops::directory::tenant),
        help(
            "a tenant folder holds users.csv, groups.csv, devices.csv, service-principals.csv and memberships.csv, like examples/demo-tenant/"
        )
    )]
    MissingTenantFile { path: PathBuf },
    #[error("`{}` is in use by another bulkops process", path.display())]
    #[diagnostic(
        code(bulkops::directory::in_use),
        help(
            "an apply or an emulator has it open; let it finish (or stop it), then replace the directory"
        )
    )]
    InUse { path: PathBuf },
    #[error("another `bulkops directory pull` is filling `{}`", path.display())]
    #[diagnostic(
        code(bulkops::directory::pull_running),
        help("let it finish; a pull that was stopped continues when it is started again")
    )]
    PullRunning { path: PathBuf },
    #[error("`{}` is being pulled from a tenant, and the pull has not finished", path.display())]
    #[diagnostic(
        code(bulkops::directory::pull_unfinished),
        help(
            "run the same `bulkops directory pull` again: it continues where it stopped; or delete `NAME.pull` beside it"
        )
    )]
    PullUnfinished { path: PathBuf },
    #[error("`{}` already exists", path.display())]
    #[diagnostic(code(bulkops::directory::exists), help("add `--force` to replace it"))]
    Exists { path: PathBuf },
    #[error("`{}` was written by a newer bulkops (schema {found}, this one knows {supported})", path.display())]
    #[diagnostic(
        code(bulkops::directory::newer),
        help("upgrade bulkops, or point `--db` at another file")
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
}

impl LocalError {
    /// The error with the database file named, for a SQLite failure.
    #[must_use]
    pub fn at(self, path: &Path) -> Self {
        match self {
            Self::Sqlite(source) => Self::Database {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        }
    }
}

/// How many objects a local directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub users: u64,
    pub groups: u64,
    pub devices: u64,
    pub service_principals: u64,
    pub memberships: u64,
}

/// Builds a directory at `path` whole: tables, then `filling`, under a
/// temporary name that takes the name `path` at the end.
fn build(
    path: &Path,
    filling: impl FnOnce(&mut Connection) -> Result<(), LocalError>,
) -> Result<(), LocalError> {
    database::create_whole(path, |connection| {
        set_pragmas(connection)?;
        schema::migrate_checked(connection, path)?;
        filling(connection)
    })
    .map_err(|error| match error {
        BuildError::Io(path, source) => LocalError::Io { path, source },
        BuildError::Sqlite(error) => LocalError::Sqlite(error),
        BuildError::Build(error) => error,
    })
}

fn set_pragmas(connection: &Connection) -> Result<(), LocalError> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // SQLite's own defaults, stated so that the benchmark's floor runs with
    // exactly these. A larger cache, a memory map and rarer checkpoints were
    // measured (BENCHMARKS.md) and not kept: they raise peak memory to
    // 150-400 MB for at most a 1.2x faster import.
    connection.pragma_update(None, "cache_size", SETTINGS.cache_kib)?;
    connection.pragma_update(None, "mmap_size", SETTINGS.mmap_bytes)?;
    connection.pragma_update(None, "wal_autocheckpoint", SETTINGS.checkpoint_pages)?;
    Ok(())
}

/// SQLite settings of every connection to a local directory.
pub struct SqliteSettings {
    /// `PRAGMA cache_size` (negative: KiB).
    pub cache_kib: i64,
    /// `PRAGMA mmap_size`.
    pub mmap_bytes: i64,
    /// `PRAGMA wal_autocheckpoint`, in pages.
    pub checkpoint_pages: i64,
}

/// The settings, also given to the benchmark's floor so it runs as bulkops does.
pub const SETTINGS: SqliteSettings = SqliteSettings {
    cache_kib: -2_000,
    mmap_bytes: 0,
    checkpoint_pages: 1_000,
};

impl SqliteSettings {
    /// The settings as `PRAGMA` statements, for the `sqlite3` shell.
    pub fn pragmas(&self) -> String {
        format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size={}; PRAGMA mmap_size={}; PRAGMA wal_autocheckpoint={};",
            self.cache_kib, self.mmap_bytes, self.checkpoint_pages
        )
    }
}

/// Fills a new directory from tenant files, in one transaction.
fn fill(connection: &mut Connection, source: &TenantSource) -> Result<(), LocalError> {
    let transaction = connection.transaction()?;
    seed::load(&transaction, source)?;
    transaction.commit()?;
    let from = match source {
        TenantSource::Demo => "demo tenant".to_owned(),
        TenantSource::Folder(folder) => folder.display().to_string(),
    };
    mark_filled(connection, &from)
}

/// Records that the directory was filled, and from what.
fn mark_filled(connection: &Connection, from: &str) -> Result<(), LocalError> {
    connection.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('filled', ?1)",
        [from],
    )?;
    Ok(())
}

/// An open local directory.
pub struct LocalDirectory {
    connection: Connection,
    path: PathBuf,
    /// Held while the directory is open, so it is never replaced under a
    /// process that uses it (`directory init --force` while an apply runs);
    /// none for the demo held in memory.
    _in_use: Option<crate::files::lock::SharedLock>,
}

impl LocalDirectory {
    /// Opens the directory at `path`, creating it with the demo tenant when it
    /// does not exist yet. Creation happens under the database's creation
    /// lock and appears whole, so processes starting together all see the
    /// same complete directory; an empty or unfilled file is refused.
    pub fn open(path: &Path) -> Result<Self, LocalError> {
        let io = |source| LocalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let lock = database::creation_lock(path).map_err(io)?;
        match database::state(path).map_err(io)? {
            FileState::Missing if database::sibling(path, ".pull").exists() => {
                return Err(LocalError::PullUnfinished {
                    path: path.to_path_buf(),
                });
            }
            FileState::Missing => {
                build(path, |connection| fill(connection, &TenantSource::Demo))?;
                tracing::info!(path = %path.display(), "created the demo directory here, as none existed (`bulkops directory init --from DIR` loads your own tenant's CSV files)");
            }
            FileState::Empty => {
                return Err(LocalError::Empty {
                    path: path.to_path_buf(),
                });
            }
            FileState::Present => {}
        }
        let directory = Self::connect(path).map_err(|error| error.at(path))?;
        drop(lock);
        Ok(directory)
    }

    /// Creates the directory at `path` from tenant CSV files; an existing file
    /// is replaced only when `replace` is set.
    pub fn create(path: &Path, source: &TenantSource, replace: bool) -> Result<Self, LocalError> {
        if let TenantSource::Folder(folder) = source {
            seed::check_folder(folder)?;
        }
        Self::replace_with(path, replace, |connection| fill(connection, source))
    }

    /// Creates a generated directory of any size at `path`.
    pub fn generate(
        path: &Path,
        options: &GenerateOptions,
        replace: bool,
    ) -> Result<Self, LocalError> {
        Self::replace_with(path, replace, |connection| {
            generate::fill(connection, options)?;
            mark_filled(connection, "generated")
        })
    }

    /// Builds a directory whole under the creation lock and gives it the name
    /// `path`, refusing to replace one unless asked.
    fn replace_with(
        path: &Path,
        replace: bool,
        filling: impl FnOnce(&mut Connection) -> Result<(), LocalError>,
    ) -> Result<Self, LocalError> {
        let io = |source| LocalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let lock = database::creation_lock(path).map_err(io)?;
        if database::sibling(path, ".pull").exists() {
            return Err(LocalError::PullUnfinished {
                path: path.to_path_buf(),
            });
        }
        if database::state(path).map_err(io)? != FileState::Missing && !replace {
            return Err(LocalError::Exists {
                path: path.to_path_buf(),
            });
        }
        // No process may have the old directory open: it would go on
        // writing into a file that is no longer the directory.
        let in_use = database::sibling(path, ".in-use");
        let Some(exclusive) =
            crate::files::lock::LockFile::try_exclusive(&in_use).map_err(|source| {
                LocalError::Io {
                    path: in_use.clone(),
                    source,
                }
            })?
        else {
            return Err(LocalError::InUse {
                path: path.to_path_buf(),
            });
        };
        build(path, filling)?;
        drop(exclusive);
        let directory = Self::connect(path)?;
        drop(lock);
        Ok(directory)
    }

    fn connect(path: &Path) -> Result<Self, LocalError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(std::time::Duration::from_secs(60))?;
        let foreign = |why| LocalError::NotADirectory {
            path: path.to_path_buf(),
            why,
        };
        let found: i64 = match connection.query_row("PRAGMA user_version", [], |row| row.get(0)) {
            Ok(found) => found,
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::NotADatabase =>
            {
                return Err(foreign("it is not a SQLite database"));
            }
            Err(error) => return Err(error.into()),
        };
        if found == 0 {
            return Err(foreign("it has no bulkops tables"));
        }
        set_pragmas(&connection)?;
        let found = schema::migrate_checked(&mut connection, path)?;
        if !schema::is_filled(&connection)? {
            return Err(foreign(
                "it was never filled (its creation was interrupted)",
            ));
        }
        tracing::debug!(path = %path.display(), schema = found, "opened the local directory");
        let in_use = crate::files::lock::SharedLock::take(&database::sibling(path, ".in-use"))
            .map_err(|source| LocalError::Io {
                path: database::sibling(path, ".in-use"),
                source,
            })?;
        Ok(Self {
            connection,
            path: path.to_path_buf(),
            _in_use: Some(in_use),
        })
    }

    /// The directory's id, made when the database was created.
    pub fn id(&self) -> Result<String, LocalError> {
        Ok(self
            .connection
            .query_row("SELECT value FROM meta WHERE key = 'id'", [], |row| {
                row.get(0)
            })?)
    }

    /// The file this directory lives in (for the demo held in memory, the
    /// file it would be created as).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The demo tenant in memory, for a preview where `path` does not exist
    /// yet: nothing is written.
    pub fn demo_in_memory(path: &Path) -> Result<Self, LocalError> {
        let mut connection = Connection::open_in_memory()?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate_checked(&mut connection, path)?;
        fill(&mut connection, &TenantSource::Demo)?;
        Ok(Self {
            connection,
            path: path.to_path_buf(),
            _in_use: None,
        })
    }

    /// How many objects the directory holds.
    pub fn stats(&self) -> Result<Stats, LocalError> {
        let count = |table: &str| -> Result<u64, LocalError> {
            let sql = format!("SELECT count(*) FROM {table}");
            let count: i64 = self.connection.query_row(&sql, [], |row| row.get(0))?;
            Ok(count.unsigned_abs())
        };
        Ok(Stats {
            users: count("users")?,
            groups: count("groups")?,
            devices: count("devices")?,
            service_principals: count("service_principals")?,
            memberships: count("memberships")?,
        })
    }
}
