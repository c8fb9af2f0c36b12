//! The local directory's tables, created and upgraded by numbered migrations
//! recorded in SQLite's `user_version`.

use rusqlite::Connection;

/// Each migration moves the database from the version before it to its own
/// number (its index plus one). Applied migrations are never edited.
const MIGRATIONS: [&str; 4] = [
    r"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        user_principal_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name TEXT NOT NULL,
        mail TEXT,
        user_type TEXT NOT NULL DEFAULT 'Member',
        account_enabled INTEGER NOT NULL DEFAULT 1,
        department TEXT,
        job_title TEXT,
        created_date_time TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        description TEXT,
        mail TEXT,
        mail_enabled INTEGER NOT NULL,
        mail_nickname TEXT NOT NULL,
        security_enabled INTEGER NOT NULL,
        group_types TEXT NOT NULL DEFAULT '',
        membership_rule TEXT,
        on_premises_sync_enabled INTEGER,
        created_date_time TEXT NOT NULL,
        visibility TEXT,
        is_assignable_to_role INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX groups_display_name ON groups (display_name COLLATE NOCASE);
    CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name TEXT NOT NULL,
        operating_system TEXT,
        operating_system_version TEXT,
        trust_type TEXT,
        account_enabled INTEGER NOT NULL DEFAULT 1,
        is_compliant INTEGER,
        is_managed INTEGER,
        approximate_last_sign_in_date_time TEXT,
        registration_date_time TEXT,
        profile_type TEXT,
        manufacturer TEXT,
        model TEXT
    ) WITHOUT ROWID;
    CREATE TABLE service_principals (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        app_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE memberships (
        group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        member_id TEXT NOT NULL,
        member_type TEXT NOT NULL,
        PRIMARY KEY (group_id, member_id)
    ) WITHOUT ROWID;
    CREATE INDEX memberships_member ON memberships (member_id);
",
    // Whether the directory was filled: a file whose creation was interrupted
    // has tables and no data, and must never pass for an empty tenant.
    // Directories made before this had data whenever they had users or groups.
    r"
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta (key, value)
        SELECT 'filled', 'before meta' WHERE EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM groups);
",
    // The directory's own id: saved plans name the directory they were made
    // against by it, so a copy of the file elsewhere is the same directory and
    // a fresh one is not.
    r"
    INSERT OR IGNORE INTO meta (key, value) VALUES ('id', lower(hex(randomblob(16))));
",
    // A device's extensionAttribute1 to 15 (`extensionAttributes` in Graph),
    // set by PATCH; an attribute without a row is null.
    r"
    CREATE TABLE device_extension_attributes (
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 15),
        value TEXT NOT NULL,
        PRIMARY KEY (device_id, number)
    ) WITHOUT ROWID;
",
];

/// The schema version this build of bulkops writes.
#[expect(
    clippy::cast_possible_wrap,
    reason = "there are a handful of migrations"
)]
pub(super) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`], refusing a database written
/// by a newer bulkops; returns the version found.
pub(super) fn migrate_checked(
    connection: &mut Connection,
    path: &std::path::Path,
) -> Result<i64, super::LocalError> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > CURRENT_VERSION {
        return Err(super::LocalError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    Ok(migrate(connection)?)
}

/// Whether the directory was ever filled.
pub(super) fn is_filled(connection: &Connection) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'filled')",
        [],
        |row| row.get(0),
    )
}

/// Brings the database up to [`CURRENT_VERSION`]; returns the version found.
fn migrate(connection: &mut Connection) -> rusqlite::Result<i64> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found == CURRENT_VERSION {
        return Ok(found);
    }
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (version, migration) in (1..=CURRENT_VERSION).zip(MIGRATIONS) {
        if version > found {
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", version)?;
        }
    }
    transaction.commit()?;
    Ok(found)
}
