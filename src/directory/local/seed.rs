//! Filling a local directory from CSV files: the demo tenant built into
//! bulkops, or a folder with the same files (`bulkops directory init --from`).
//!
//! The files use Microsoft Graph property names as headers: `users.csv`,
//! `groups.csv`, `devices.csv`, `service-principals.csv` and `memberships.csv`
//! (`groupId,memberId,memberType`). Booleans are `true`/`false`, empty is null,
//! times are RFC 3339 UTC, and `groupTypes` lists values separated by `;`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Transaction, params};

use super::LocalError;

/// Where tenant CSV files come from.
#[derive(Debug, Clone)]
pub enum TenantSource {
    /// The demo tenant shipped inside the binary.
    Demo,
    /// A folder holding the five CSV files.
    Folder(PathBuf),
}

const DEMO: [(&str, &str); 5] = [
    (
        "users.csv",
        include_str!("../../../examples/demo-tenant/users.csv"),
    ),
    (
        "groups.csv",
        include_str!("../../../examples/demo-tenant/groups.csv"),
    ),
    (
        "devices.csv",
        include_str!("../../../examples/demo-tenant/devices.csv"),
    ),
    (
        "service-principals.csv",
        include_str!("../../../examples/demo-tenant/service-principals.csv"),
    ),
    (
        "memberships.csv",
        include_str!("../../../examples/demo-tenant/memberships.csv"),
    ),
];

/// The largest tenant CSV file read (memberships of a large tenant).
const TENANT_FILE_LIMIT: u64 = 4 * 1024 * 1024 * 1024;

impl TenantSource {
    /// The file's name for messages, and its text.
    fn read(&self, file: &str) -> Result<(String, String), LocalError> {
        match self {
            Self::Demo => {
                let text = DEMO
                    .iter()
                    .find(|(name, _)| *name == file)
                    .map_or("", |(_, text)| text);
                Ok((format!("demo-tenant/{file}"), text.to_owned()))
            }
            Self::Folder(folder) => {
                let path = folder.join(file);
                let text = crate::files::input::read_limited(&path, TENANT_FILE_LIMIT)
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "the text is not UTF-8",
                            )
                        })
                    })
                    .map_err(|source| LocalError::Io {
                        path: path.clone(),
                        source,
                    })?;
                Ok((path.display().to_string(), text))
            }
        }
    }
}

/// One CSV file being read, for messages that name the file and line.
struct Rows {
    file: String,
    reader: csv::Reader<std::io::Cursor<String>>,
    columns: HashMap<String, usize>,
}

/// One row with access by column name.
struct Row<'a> {
    rows: &'a Rows,
    record: csv::StringRecord,
    line: u64,
}

impl Rows {
    fn open(source: &TenantSource, file: &str) -> Result<Self, LocalError> {
        let (file, text) = source.read(file)?;
        let mut reader = csv::Reader::from_reader(std::io::Cursor::new(text));
        let headers = reader.headers().map_err(|error| csv_error(&file, &error))?;
        let columns = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_owned(), i))
            .collect();
        Ok(Self {
            file,
            reader,
            columns,
        })
    }

    fn each(
        &mut self,
        mut visit: impl FnMut(&Row<'_>) -> Result<(), LocalError>,
    ) -> Result<(), LocalError> {
        let mut record = csv::StringRecord::new();
        loop {
            let more = self
                .reader
                .read_record(&mut record)
                .map_err(|error| csv_error(&self.file, &error))?;
            if !more {
                return Ok(());
            }
            let line = record.position().map_or(0, csv::Position::line);
            visit(&Row {
                rows: self,
                record: record.clone(),
                line,
            })?;
        }
    }
}

fn csv_error(file: &str, error: &csv::Error) -> LocalError {
    let line = error.position().map_or(0, csv::Position::line);
    LocalError::Seed {
        file: file.to_owned(),
        line,
        message: error.to_string(),
    }
}

impl Row<'_> {
    fn fail(&self, message: String) -> LocalError {
        LocalError::Seed {
            file: self.rows.file.clone(),
            line: self.line,
            message,
        }
    }

    fn text(&self, column: &str) -> Result<Option<&str>, LocalError> {
        let index = self
            .rows
            .columns
            .get(column)
            .ok_or_else(|| self.fail(format!("no column `{column}`")))?;
        Ok(self
            .record
            .get(*index)
            .map(str::trim)
            .filter(|value| !value.is_empty()))
    }

    fn required(&self, column: &str) -> Result<&str, LocalError> {
        self.text(column)?
            .ok_or_else(|| self.fail(format!("`{column}` is empty")))
    }

    fn flag(&self, column: &str) -> Result<Option<bool>, LocalError> {
        match self.text(column)? {
            None => Ok(None),
            Some(value) if value.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(value) if value.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(value) => {
                Err(self.fail(format!("`{column}` is `{value}`, not `true` or `false`")))
            }
        }
    }

    fn time(&self, column: &str) -> Result<Option<String>, LocalError> {
        let Some(value) = self.text(column)? else {
            return Ok(None);
        };
        let parsed: Timestamp = value
            .parse()
            .map_err(|error| self.fail(format!("`{column}` is not an RFC 3339 time: {error}")))?;
        Ok(Some(parsed.to_string()))
    }
}

/// Inserts every object of the tenant into an empty directory.
pub(super) fn load(transaction: &Transaction<'_>, source: &TenantSource) -> Result<(), LocalError> {
    load_users(transaction, source)?;
    load_groups(transaction, source)?;
    load_devices(transaction, source)?;
    load_service_principals(transaction, source)?;
    load_memberships(transaction, source)
}

fn load_users(transaction: &Transaction<'_>, source: &TenantSource) -> Result<(), LocalError> {
    let mut insert = transaction.prepare(
        "INSERT INTO users (id, user_principal_name, display_name, mail, user_type, account_enabled, department, job_title, created_date_time) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    Rows::open(source, "users.csv")?.each(|row| {
        insert.execute(params![
            row.required("id")?.to_ascii_lowercase(),
            row.required("userPrincipalName")?,
            row.required("displayName")?,
            row.text("mail")?,
            row.text("userType")?.unwrap_or("Member"),
            row.flag("accountEnabled")?.unwrap_or(true),
            row.text("department")?,
            row.text("jobTitle")?,
            row.time("createdDateTime")?
                .unwrap_or_else(|| Timestamp::UNIX_EPOCH.to_string()),
        ])?;
        Ok(())
    })
}

fn load_groups(transaction: &Transaction<'_>, source: &TenantSource) -> Result<(), LocalError> {
    let mut insert = transaction.prepare(
        "INSERT INTO groups (id, display_name, description, mail, mail_enabled, mail_nickname, security_enabled, group_types, \
         membership_rule, on_premises_sync_enabled, created_date_time, visibility, is_assignable_to_role) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    Rows::open(source, "groups.csv")?.each(|row| {
        insert.execute(params![
            row.required("id")?.to_ascii_lowercase(),
            row.required("displayName")?,
            row.text("description")?,
            row.text("mail")?,
            row.flag("mailEnabled")?.unwrap_or(false),
            row.required("mailNickname")?,
            row.flag("securityEnabled")?.unwrap_or(true),
            row.text("groupTypes")?.unwrap_or_default(),
            row.text("membershipRule")?,
            row.flag("onPremisesSyncEnabled")?,
            row.time("createdDateTime")?
                .unwrap_or_else(|| Timestamp::UNIX_EPOCH.to_string()),
            row.text("visibility")?,
            row.flag("isAssignableToRole")?,
        ])?;
        Ok(())
    })
}

fn load_devices(transaction: &Transaction<'_>, source: &TenantSource) -> Result<(), LocalError> {
    let mut insert = transaction.prepare(
        "INSERT INTO devices (id, device_id, display_name, operating_system, operating_system_version, trust_type, account_enabled, \
         is_compliant, is_managed, approximate_last_sign_in_date_time, registration_date_time, profile_type, manufacturer, model) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    Rows::open(source, "devices.csv")?.each(|row| {
        insert.execute(params![
            row.required("id")?.to_ascii_lowercase(),
            row.required("deviceId")?.to_ascii_lowercase(),
            row.required("displayName")?,
            row.text("operatingSystem")?,
            row.text("operatingSystemVersion")?,
            row.text("trustType")?,
            row.flag("accountEnabled")?.unwrap_or(true),
            row.flag("isCompliant")?,
            row.flag("isManaged")?,
            row.time("approximateLastSignInDateTime")?,
            row.time("registrationDateTime")?,
            row.text("profileType")?,
            row.text("manufacturer")?,
            row.text("model")?,
        ])?;
        Ok(())
    })
}

fn load_service_principals(
    transaction: &Transaction<'_>,
    source: &TenantSource,
) -> Result<(), LocalError> {
    let mut insert = transaction
        .prepare("INSERT INTO service_principals (id, display_name, app_id) VALUES (?1, ?2, ?3)")?;
    Rows::open(source, "service-principals.csv")?.each(|row| {
        insert.execute(params![
            row.required("id")?.to_ascii_lowercase(),
            row.required("displayName")?,
            row.required("appId")?,
        ])?;
        Ok(())
    })
}

fn load_memberships(
    transaction: &Transaction<'_>,
    source: &TenantSource,
) -> Result<(), LocalError> {
    let mut insert = transaction.prepare(
        "INSERT INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, ?3)",
    )?;
    Rows::open(source, "memberships.csv")?.each(|row| {
        let member_type = row.required("memberType")?;
        if crate::directory::model::MemberType::from_key(member_type).is_none() {
            return Err(row.fail(format!("`memberType` is `{member_type}`; use user, group, device, servicePrincipal or orgContact")));
        }
        insert.execute(params![
            row.required("groupId")?.to_ascii_lowercase(),
            row.required("memberId")?.to_ascii_lowercase(),
            member_type,
        ])?;
        Ok(())
    })
}

/// Whether `folder` looks like tenant CSVs, for a clear message when it does not.
pub(super) fn check_folder(folder: &Path) -> Result<(), LocalError> {
    for (file, _) in DEMO {
        let path = folder.join(file);
        if !path.is_file() {
            return Err(LocalError::MissingTenantFile { path });
        }
    }
    Ok(())
}
