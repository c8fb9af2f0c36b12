//! A local directory being filled from a tenant (`bulkops directory pull`):
//! built in `NAME.pull` beside its final name, page by page, each page in one
//! transaction together with where the pull stands, so a pull that is killed
//! continues where it stopped. Only a finished pull takes the final name, so
//! a half-pulled tenant is never used as a directory; until then other
//! commands do not see it at all.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{LocalDirectory, LocalError, mark_filled, schema, set_pragmas};
use crate::directory::model::{Device, Group, MemberType, ServicePrincipal, User};
use crate::files::database::{self, FileState};
use crate::files::lock::LockFile;

/// What a page of a pull brings.
pub enum Pulled<'a> {
    Users(&'a [User]),
    ServicePrincipals(&'a [ServicePrincipal]),
    Groups(&'a [Group]),
    Devices(&'a [Device]),
    /// Devices' extension attributes: (device id, number 1 to 15, value).
    DeviceAttributes(&'a [(String, u8, String)]),
    /// A group's complete direct members; the group is then done.
    Members {
        group_id: &'a str,
        members: &'a [(String, MemberType)],
    },
}

/// A directory database being pulled into.
pub struct PullTarget {
    connection: Connection,
    partial: PathBuf,
    path: PathBuf,
    _lock: LockFile,
}

impl PullTarget {
    /// Opens the pull into `path`: the one in progress in `NAME.pull` if
    /// there is one, else a new one. Refuses an existing `path` unless
    /// `replace`, and a second pull into the same file at once.
    pub fn open(path: &Path, replace: bool) -> Result<Self, LocalError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LocalError::Io { path, source }
        };
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(io(folder))?;
        }
        let partial = database::sibling(path, ".pull");
        let lock_path = database::sibling(path, ".pull.lock");
        let Some(lock) = LockFile::try_exclusive(&lock_path).map_err(io(&lock_path))? else {
            return Err(LocalError::PullRunning {
                path: path.to_path_buf(),
            });
        };
        if database::state(path).map_err(io(path))? != FileState::Missing && !replace {
            return Err(LocalError::Exists {
                path: path.to_path_buf(),
            });
        }
        let mut connection =
            Connection::open(&partial).map_err(|e| LocalError::from(e).at(&partial))?;
        set_pragmas(&connection)?;
        // Pages are written in big transactions; a crash loses at most the
        // page in flight, which the pull reads again.
        connection.pragma_update(None, "cache_size", -65_536)?;
        schema::migrate_checked(&mut connection, &partial)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS pull_groups_done (group_id TEXT PRIMARY KEY) WITHOUT ROWID;",
        )?;
        Ok(Self {
            connection,
            partial,
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// Where the pull stands, as it was last saved (`None` for a new pull).
    pub fn state(&self) -> Result<Option<String>, LocalError> {
        Ok(self
            .connection
            .query_row("SELECT value FROM meta WHERE key = 'pull'", [], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// The pulled groups whose members are not pulled yet, in id order.
    pub fn groups_without_members(&self) -> Result<Vec<Group>, LocalError> {
        let done: std::collections::HashSet<String> = self
            .connection
            .prepare("SELECT group_id FROM pull_groups_done")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let view = self.view()?;
        let mut groups = view.groups()?;
        groups.retain(|group| !done.contains(&group.id));
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(groups)
    }

    /// How many users the pull holds so far.
    pub fn users(&self) -> Result<u64, LocalError> {
        Ok(self
            .connection
            .query_row("SELECT count(*) FROM users", [], |row| row.get::<_, i64>(0))?
            .unsigned_abs())
    }

    /// Saves pages and where the pull stands after them, together.
    pub fn save(&mut self, pages: &[Pulled<'_>], state: &str) -> Result<(), LocalError> {
        let transaction = self.connection.transaction()?;
        for page in pages {
            insert(&transaction, page)?;
        }
        transaction.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('pull', ?1)",
            [state],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Finishes the pull: marks the directory filled from `from`, and gives
    /// it its final name (replacing the file there, which no process may
    /// have open).
    pub fn finish(self, from: &str) -> Result<LocalDirectory, LocalError> {
        let Self {
            connection,
            partial,
            path,
            _lock,
        } = self;
        connection.execute("DELETE FROM meta WHERE key = 'pull'", [])?;
        connection.execute_batch("DROP TABLE pull_groups_done;")?;
        mark_filled(&connection, from)?;
        connection.pragma_update(None, "journal_mode", "DELETE")?;
        connection
            .close()
            .map_err(|(_, error)| LocalError::from(error).at(&partial))?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LocalError::Io { path, source }
        };
        let creation = database::creation_lock(&path).map_err(io(&path))?;
        let in_use = database::sibling(&path, ".in-use");
        let Some(exclusive) = LockFile::try_exclusive(&in_use).map_err(io(&in_use))? else {
            return Err(LocalError::InUse { path });
        };
        for suffix in ["-wal", "-shm"] {
            let journal = database::sibling(&path, suffix);
            match std::fs::remove_file(&journal) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io(&journal)(error)),
            }
        }
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        drop(exclusive);
        drop(creation);
        // The pull's own lock file goes with it (still held, so no other
        // pull of this file can be starting on it).
        let _ = std::fs::remove_file(database::sibling(&path, ".pull.lock"));
        LocalDirectory::open(&path)
    }

    /// The partial database read as a directory (for its groups).
    fn view(&self) -> Result<LocalDirectory, LocalError> {
        let connection = Connection::open(&self.partial)?;
        Ok(LocalDirectory {
            connection,
            path: self.partial.clone(),
            _in_use: None,
        })
    }
}

fn insert(transaction: &Transaction<'_>, page: &Pulled<'_>) -> Result<(), LocalError> {
    match page {
        Pulled::Users(users) => insert_users(transaction, users),
        Pulled::ServicePrincipals(principals) => {
            let mut statement = transaction.prepare_cached(
                "INSERT OR REPLACE INTO service_principals (id, display_name, app_id) VALUES (?1, ?2, ?3)",
            )?;
            for principal in *principals {
                statement.execute(params![
                    principal.id,
                    principal.display_name,
                    principal.app_id
                ])?;
            }
            Ok(())
        }
        Pulled::Groups(groups) => insert_groups(transaction, groups),
        Pulled::Devices(devices) => insert_devices(transaction, devices),
        Pulled::DeviceAttributes(attributes) => {
            let mut statement = transaction.prepare_cached(
                "INSERT OR REPLACE INTO device_extension_attributes (device_id, number, value) VALUES (?1, ?2, ?3)",
            )?;
            for (device, number, value) in *attributes {
                statement.execute(params![device, number, value])?;
            }
            Ok(())
        }
        Pulled::Members { group_id, members } => {
            transaction.execute("DELETE FROM memberships WHERE group_id = ?1", [group_id])?;
            let mut statement = transaction.prepare_cached(
                "INSERT OR IGNORE INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, ?3)",
            )?;
            for (member, kind) in *members {
                statement.execute(params![group_id, member, kind.key()])?;
            }
            transaction.execute(
                "INSERT OR IGNORE INTO pull_groups_done (group_id) VALUES (?1)",
                [group_id],
            )?;
            Ok(())
        }
    }
}

fn insert_users(transaction: &Transaction<'_>, users: &[User]) -> Result<(), LocalError> {
    let mut statement = transaction.prepare_cached(
        "INSERT OR REPLACE INTO users (id, user_principal_name, display_name, mail, user_type, \
         account_enabled, department, job_title, created_date_time) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for user in users {
        statement.execute(params![
            user.id,
            user.user_principal_name,
            user.display_name,
            user.mail,
            user.user_type,
            user.account_enabled,
            user.department,
            user.job_title,
            user.created_date_time.to_string(),
        ])?;
    }
    Ok(())
}

fn insert_groups(transaction: &Transaction<'_>, groups: &[Group]) -> Result<(), LocalError> {
    let mut statement = transaction.prepare_cached(
        "INSERT OR REPLACE INTO groups (id, display_name, description, mail, mail_enabled, \
         mail_nickname, security_enabled, group_types, membership_rule, on_premises_sync_enabled, \
         created_date_time, visibility, is_assignable_to_role) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for group in groups {
        statement.execute(params![
            group.id,
            group.display_name,
            group.description,
            group.mail,
            group.mail_enabled,
            group.mail_nickname,
            group.security_enabled,
            group.group_types.join(";"),
            group.membership_rule,
            group.on_premises_sync_enabled,
            group.created_date_time.to_string(),
            group.visibility,
            group.is_assignable_to_role,
        ])?;
    }
    Ok(())
}

fn insert_devices(transaction: &Transaction<'_>, devices: &[Device]) -> Result<(), LocalError> {
    let mut statement = transaction.prepare_cached(
        "INSERT OR REPLACE INTO devices (id, device_id, display_name, operating_system, \
         operating_system_version, trust_type, account_enabled, is_compliant, is_managed, \
         approximate_last_sign_in_date_time, registration_date_time, profile_type, manufacturer, model) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for device in devices {
        statement.execute(params![
            device.id,
            device.device_id,
            device.display_name,
            device.operating_system,
            device.operating_system_version,
            device.trust_type,
            device.account_enabled,
            device.is_compliant,
            device.is_managed,
            device
                .approximate_last_sign_in_date_time
                .map(|time| time.to_string()),
            device.registration_date_time.map(|time| time.to_string()),
            device.profile_type,
            device.manufacturer,
            device.model,
        ])?;
    }
    Ok(())
}
