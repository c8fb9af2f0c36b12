//! Reading the local directory: groups, devices and members, converted into the
//! directory model. Members are streamed to a callback, so a million-member
//! group never sits in memory at once.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{LocalDirectory, LocalError};
use crate::directory::model::{Device, Group, Member, MemberType, ServicePrincipal, User};
use crate::manifest::target::GroupTargetSpec;

const GROUP_COLUMNS: &str = "id, display_name, description, mail, mail_enabled, mail_nickname, security_enabled, group_types, \
     membership_rule, on_premises_sync_enabled, created_date_time, visibility, is_assignable_to_role";

const DEVICE_COLUMNS: &str = "id, device_id, display_name, operating_system, operating_system_version, trust_type, account_enabled, \
     is_compliant, is_managed, approximate_last_sign_in_date_time, registration_date_time, profile_type, manufacturer, model";

/// Members with the properties downloads show; a `WHERE` clause follows.
const MEMBER_SELECT: &str = "SELECT m.member_id, m.member_type, \
        coalesce(u.display_name, g.display_name, d.display_name, s.display_name, ''), \
        u.user_principal_name, coalesce(u.mail, g.mail), u.user_type, coalesce(u.account_enabled, d.account_enabled), \
        u.department, u.job_title \
     FROM memberships m \
     LEFT JOIN users u ON m.member_type = 'user' AND u.id = m.member_id \
     LEFT JOIN groups g ON m.member_type = 'group' AND g.id = m.member_id \
     LEFT JOIN devices d ON m.member_type = 'device' AND d.id = m.member_id \
     LEFT JOIN service_principals s ON m.member_type = 'servicePrincipal' AND s.id = m.member_id";

const USER_COLUMNS: &str = "id, user_principal_name, display_name, mail, user_type, account_enabled, department, \
     job_title, created_date_time";

impl LocalDirectory {
    /// Up to `limit` users with ids after `after`, in id order: a page read
    /// straight from the table, so paging through many users stays linear.
    pub fn users_after(&self, after: &str, limit: usize) -> Result<Vec<User>, LocalError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let users = statement
            .query_map(params![after, limit], user_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(users)
    }

    /// The extension attributes set on one device: (number, value).
    pub fn extension_attributes_of(
        &self,
        device_id: &str,
    ) -> Result<Vec<(u8, String)>, LocalError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT number, value FROM device_extension_attributes WHERE device_id = ?1 ORDER BY 1",
        )?;
        let attributes = statement
            .query_map([device_id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(attributes)
    }

    /// The extension attributes set on devices: device id, then (number, value).
    pub fn extension_attributes(&self) -> Result<HashMap<String, Vec<(u8, String)>>, LocalError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT device_id, number, value FROM device_extension_attributes ORDER BY 1, 2",
        )?;
        let mut found: HashMap<String, Vec<(u8, String)>> = HashMap::new();
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, u8>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (device, number, value) = row?;
            found.entry(device).or_default().push((number, value));
        }
        Ok(found)
    }

    /// The user with this object id.
    pub fn user(&self, id: &str) -> Result<Option<User>, LocalError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let mut rows = statement.query_map([id], user_from_row)?;
        rows.next().transpose().map_err(LocalError::from)
    }

    /// Every service principal, in id order.
    pub fn service_principals(&self) -> Result<Vec<ServicePrincipal>, LocalError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, display_name, app_id FROM service_principals ORDER BY id",
        )?;
        let principals = statement
            .query_map([], |row| {
                Ok(ServicePrincipal {
                    id: row.get(0)?,
                    display_name: row.get(1)?,
                    app_id: row.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(principals)
    }

    /// Every group, ordered by display name and id.
    pub fn groups(&self) -> Result<Vec<Group>, LocalError> {
        let sql =
            format!("SELECT {GROUP_COLUMNS} FROM groups ORDER BY display_name COLLATE NOCASE, id");
        let mut statement = self.connection.prepare_cached(&sql)?;
        let groups = statement
            .query_map([], group_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(groups)
    }

    /// The groups a target names; display names and mail nicknames are matched
    /// without regard to case, and may name several groups.
    pub fn find_groups(&self, target: &GroupTargetSpec) -> Result<Vec<Group>, LocalError> {
        let (column, value) = match target {
            GroupTargetSpec::Id(id) => ("id", id.to_ascii_lowercase()),
            GroupTargetSpec::DisplayName(name) => ("display_name", name.clone()),
            GroupTargetSpec::MailNickname(nickname) => ("mail_nickname", nickname.clone()),
        };
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE {column} = ?1 COLLATE NOCASE ORDER BY id"
        );
        let mut statement = self.connection.prepare_cached(&sql)?;
        let groups = statement
            .query_map([value], group_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(groups)
    }

    /// The group with this object id.
    pub fn group(&self, id: &str) -> Result<Option<Group>, LocalError> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?1");
        let mut statement = self.connection.prepare_cached(&sql)?;
        Ok(statement
            .query_row([id.to_ascii_lowercase()], group_from_row)
            .optional()?)
    }

    /// Every device, ordered by display name and id.
    pub fn devices(&self) -> Result<Vec<Device>, LocalError> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY display_name COLLATE NOCASE, id"
        );
        let mut statement = self.connection.prepare_cached(&sql)?;
        let devices = statement
            .query_map([], device_from_row)?
            .collect::<Result<_, _>>()?;
        Ok(devices)
    }

    /// The device with this object id or device id.
    pub fn device(&self, id: &str) -> Result<Option<Device>, LocalError> {
        let sql =
            format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 OR device_id = ?1 LIMIT 1");
        let mut statement = self.connection.prepare_cached(&sql)?;
        Ok(statement
            .query_row([id.to_ascii_lowercase()], device_from_row)
            .optional()?)
    }

    /// Calls `visit` with every direct member of a group, ordered by member type
    /// and display name.
    pub fn for_each_member<E: From<LocalError>>(
        &self,
        group_id: &str,
        mut visit: impl FnMut(Member) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = format!(
            "{MEMBER_SELECT} WHERE m.group_id = ?1 ORDER BY m.member_type, 3 COLLATE NOCASE, m.member_id"
        );
        let mut statement = self
            .connection
            .prepare_cached(&sql)
            .map_err(LocalError::from)?;
        let mut rows = statement
            .query(params![group_id.to_ascii_lowercase()])
            .map_err(LocalError::from)?;
        while let Some(row) = rows.next().map_err(LocalError::from)? {
            visit(member_from_row(row).map_err(LocalError::from)?)?;
        }
        Ok(())
    }

    /// Up to `limit` direct members of a group in object id order, after the
    /// member `after`: the pages the emulator serves.
    pub fn member_page(
        &self,
        group_id: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Member>, LocalError> {
        let sql = format!(
            "{MEMBER_SELECT} WHERE m.group_id = ?1 AND m.member_id > ?2 ORDER BY m.member_id LIMIT ?3"
        );
        let mut statement = self.connection.prepare_cached(&sql)?;
        let members = statement
            .query_map(
                params![
                    group_id.to_ascii_lowercase(),
                    after,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                member_from_row,
            )?
            .collect::<Result<_, _>>()?;
        Ok(members)
    }

    /// The type of each object id, or `None` where no object has it; looked
    /// up in id order, answered in the order given.
    pub fn object_types(&self, ids: &[&str]) -> Result<Vec<Option<MemberType>>, LocalError> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|index| ids[*index]);
        let mut found = vec![None; ids.len()];
        let tables = [
            ("users", MemberType::User),
            ("groups", MemberType::Group),
            ("devices", MemberType::Device),
            ("service_principals", MemberType::ServicePrincipal),
        ];
        for (table, kind) in tables {
            let mut statement = self
                .connection
                .prepare_cached(&format!("SELECT 1 FROM {table} WHERE id = ?1"))?;
            for index in &order {
                if found[*index].is_none() && statement.exists([ids[*index]])? {
                    found[*index] = Some(kind);
                }
            }
        }
        Ok(found)
    }

    /// How long a statement waits for another writer before it fails busy.
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<(), LocalError> {
        self.connection.busy_timeout(wait)?;
        Ok(())
    }

    /// Sets the page cache size, in MiB.
    pub fn set_cache_mib(&self, mebibytes: u32) -> Result<(), LocalError> {
        self.connection
            .pragma_update(None, "cache_size", -i64::from(mebibytes) * 1024)?;
        Ok(())
    }

    /// How many direct members a group has.
    /// A user's principal name or another object's display name, by id.
    pub fn names_of(&self, ids: &[String]) -> Result<HashMap<String, String>, LocalError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT user_principal_name FROM users WHERE id = ?1 \
             UNION ALL SELECT display_name FROM groups WHERE id = ?1 \
             UNION ALL SELECT display_name FROM devices WHERE id = ?1 \
             UNION ALL SELECT display_name FROM service_principals WHERE id = ?1 LIMIT 1",
        )?;
        let mut names = HashMap::with_capacity(ids.len());
        for id in ids {
            let id = id.to_ascii_lowercase();
            if let Some(name) = statement
                .query_row([&id], |row| row.get::<_, String>(0))
                .optional()?
            {
                names.insert(id, name);
            }
        }
        Ok(names)
    }

    pub fn member_count(&self, group_id: &str) -> Result<u64, LocalError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT count(*) FROM memberships WHERE group_id = ?1")?;
        let count: i64 = statement.query_row([group_id.to_ascii_lowercase()], |row| row.get(0))?;
        Ok(count.unsigned_abs())
    }
}

fn timestamp(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| {
        text.parse().map_err(|error: jiff::Error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    })
    .transpose()
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        user_principal_name: row.get(1)?,
        display_name: row.get(2)?,
        mail: row.get(3)?,
        user_type: row.get(4)?,
        account_enabled: row.get(5)?,
        department: row.get(6)?,
        job_title: row.get(7)?,
        created_date_time: timestamp(row, 8)?.unwrap_or_default(),
    })
}

fn group_from_row(row: &Row<'_>) -> rusqlite::Result<Group> {
    let group_types: String = row.get(7)?;
    Ok(Group {
        id: row.get(0)?,
        display_name: row.get(1)?,
        description: row.get(2)?,
        mail: row.get(3)?,
        mail_enabled: row.get(4)?,
        mail_nickname: row.get(5)?,
        security_enabled: row.get(6)?,
        group_types: group_types
            .split(';')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        membership_rule: row.get(8)?,
        on_premises_sync_enabled: row.get(9)?,
        created_date_time: timestamp(row, 10)?.unwrap_or(Timestamp::UNIX_EPOCH),
        visibility: row.get(11)?,
        is_assignable_to_role: row.get(12)?,
    })
}

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: row.get(0)?,
        device_id: row.get(1)?,
        display_name: row.get(2)?,
        operating_system: row.get(3)?,
        operating_system_version: row.get(4)?,
        trust_type: row.get(5)?,
        account_enabled: row.get(6)?,
        is_compliant: row.get(7)?,
        is_managed: row.get(8)?,
        approximate_last_sign_in_date_time: timestamp(row, 9)?,
        registration_date_time: timestamp(row, 10)?,
        profile_type: row.get(11)?,
        manufacturer: row.get(12)?,
        model: row.get(13)?,
    })
}

fn member_from_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    let kind: String = row.get(1)?;
    Ok(Member {
        id: row.get(0)?,
        member_type: MemberType::from_key(&kind).unwrap_or(MemberType::OrgContact),
        display_name: row.get(2)?,
        user_principal_name: row.get(3)?,
        mail: row.get(4)?,
        user_type: row.get(5)?,
        account_enabled: row.get(6)?,
        department: row.get(7)?,
        job_title: row.get(8)?,
    })
}
