//! The local directory: a SQLite file (by default `.bulkops/directory.db`) with
//! users, groups, devices, service principals and direct memberships.
//!
//! It needs no tenant: on first use it is filled with the demo tenant built into
//! bulkops, `bulkops directory init --from DIR` fills it from CSV files, and
//! `bulkops directory generate` makes one of any size for benchmarks.

mod generate;
mod read;
mod schema;
mod seed;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use generate::{GenerateOptions, user_id};
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
        help("if the file was damaged, recreate it with `bulkops directory init --force`")
    )]
    Sqlite(#[from] rusqlite::Error),
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

/// An open local directory.
pub struct LocalDirectory {
    connection: Connection,
    path: PathBuf,
}

impl LocalDirectory {
    /// Opens the directory at `path`, creating it with the demo tenant when it
    /// does not exist yet.
    pub fn open(path: &Path) -> Result<Self, LocalError> {
        let fresh = !path.exists();
        let mut directory = Self::connect(path)?;
        if fresh {
            directory.fill(&TenantSource::Demo)?;
        }
        Ok(directory)
    }

    /// Creates the directory at `path` from tenant CSV files; an existing file
    /// is replaced only when `replace` is set.
    pub fn create(path: &Path, source: &TenantSource, replace: bool) -> Result<Self, LocalError> {
        if let TenantSource::Folder(folder) = source {
            seed::check_folder(folder)?;
        }
        Self::remove_existing(path, replace)?;
        let mut directory = Self::connect(path)?;
        directory.fill(source)?;
        Ok(directory)
    }

    /// Creates a generated directory of any size at `path`.
    pub fn generate(
        path: &Path,
        options: &GenerateOptions,
        replace: bool,
    ) -> Result<Self, LocalError> {
        Self::remove_existing(path, replace)?;
        let mut directory = Self::connect(path)?;
        generate::fill(&mut directory.connection, options)?;
        Ok(directory)
    }

    fn remove_existing(path: &Path, replace: bool) -> Result<(), LocalError> {
        if !path.exists() {
            return Ok(());
        }
        if !replace {
            return Err(LocalError::Exists {
                path: path.to_path_buf(),
            });
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::remove_file(&file)
                    .map_err(|source| LocalError::Io { path: file, source })?;
            }
        }
        Ok(())
    }

    fn connect(path: &Path) -> Result<Self, LocalError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| LocalError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        let found = schema::migrate_checked(&mut connection, path)?;
        tracing::debug!(path = %path.display(), schema = found, "opened the local directory");
        Ok(Self {
            connection,
            path: path.to_path_buf(),
        })
    }

    fn fill(&mut self, source: &TenantSource) -> Result<(), LocalError> {
        let transaction = self.connection.transaction()?;
        seed::load(&transaction, source)?;
        transaction.commit()?;
        Ok(())
    }

    /// The file this directory lives in.
    pub fn path(&self) -> &Path {
        &self.path
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
