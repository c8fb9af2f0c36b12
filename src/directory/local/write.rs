//! Changing the local directory: resolving member ids and names, and adding or
//! removing members with one outcome per row, one transaction per batch.

use rusqlite::{OptionalExtension, params};

use super::{LocalDirectory, LocalError};
use crate::bulkcsv::members::MemberKey;
use crate::directory::model::{Group, MemberType};
use crate::directory::outcome::RowOutcome;

/// A member found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMember {
    pub id: String,
    pub member_type: MemberType,
    /// Whether the member is a Microsoft 365 group (which cannot be nested).
    pub unified_group: bool,
}

/// Writes that commit together or not at all.
struct WriteScope<'c> {
    connection: &'c rusqlite::Connection,
    nested: bool,
    done: bool,
}

impl WriteScope<'_> {
    fn commit(mut self) -> Result<(), LocalError> {
        let end = if self.nested {
            "RELEASE bulkops_write"
        } else {
            "COMMIT"
        };
        self.connection.execute_batch(end)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for WriteScope<'_> {
    fn drop(&mut self) {
        if !self.done {
            let undo = if self.nested {
                "ROLLBACK TO bulkops_write; RELEASE bulkops_write"
            } else {
                "ROLLBACK"
            };
            let _ = self.connection.execute_batch(undo);
        }
    }
}

impl LocalDirectory {
    /// A transaction for a group of reads, unless one is open already.
    fn read_transaction(&self) -> Result<Option<rusqlite::Transaction<'_>>, LocalError> {
        if self.connection.is_autocommit() {
            Ok(Some(self.connection.unchecked_transaction()?))
        } else {
            Ok(None)
        }
    }

    /// Starts a transaction that the changes until [`Self::commit`] join: the
    /// emulator makes each `$batch` one transaction. It takes the write lock
    /// at once, so another writer on the same file makes it wait (and then
    /// answer busy) rather than fail half-way.
    pub fn begin(&self) -> Result<(), LocalError> {
        self.connection.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Commits what [`Self::begin`] started.
    pub fn commit(&self) -> Result<(), LocalError> {
        self.connection.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Undoes what [`Self::begin`] started, if anything is open.
    pub fn rollback(&self) {
        if !self.connection.is_autocommit() {
            let _ = self.connection.execute_batch("ROLLBACK");
        }
    }

    /// A scope for writes: its own transaction, with the write lock taken up
    /// front, or a savepoint inside a transaction already open.
    fn write_scope(&self) -> Result<WriteScope<'_>, LocalError> {
        let nested = !self.connection.is_autocommit();
        let begin = if nested {
            "SAVEPOINT bulkops_write"
        } else {
            "BEGIN IMMEDIATE"
        };
        self.connection.execute_batch(begin)?;
        Ok(WriteScope {
            connection: &self.connection,
            nested,
            done: false,
        })
    }

    /// Resolves keys and tells, for each member found, whether it is in the
    /// group already: one query per key instead of two.
    pub fn resolve_for_group(
        &self,
        group_id: &str,
        keys: &[MemberKey],
    ) -> Result<Vec<Option<(ResolvedMember, bool)>>, LocalError> {
        let transaction = self.read_transaction()?;
        let mut by_id = self.connection.prepare_cached(
            "SELECT kind, EXISTS (SELECT 1 FROM memberships WHERE group_id = ?2 AND member_id = ?1), unified FROM ( \
               SELECT 'user' AS kind, 0 AS unified FROM users WHERE id = ?1 \
               UNION ALL SELECT 'group', instr(lower(group_types), 'unified') > 0 FROM groups WHERE id = ?1 \
               UNION ALL SELECT 'device', 0 FROM devices WHERE id = ?1 \
               UNION ALL SELECT 'servicePrincipal', 0 FROM service_principals WHERE id = ?1 LIMIT 1)",
        )?;
        let mut by_upn = self.connection.prepare_cached(
            "SELECT u.id, EXISTS (SELECT 1 FROM memberships WHERE group_id = ?2 AND member_id = u.id) \
             FROM users u WHERE u.user_principal_name = ?1",
        )?;
        // Looking keys up in index order keeps neighbouring B-tree pages in the
        // cache; results go back in the order of the keys.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|a, b| keys[*a].as_str().cmp(keys[*b].as_str()));
        let found = order
            .iter()
            .map(|index| {
                let key = &keys[*index];
                let row: Option<(String, bool, bool)> = match key {
                    MemberKey::ObjectId(id) => by_id
                        .query_row(params![id, group_id], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })
                        .optional()?,
                    MemberKey::Upn(upn) => by_upn
                        .query_row(params![upn, group_id], |row| {
                            Ok((row.get(0)?, row.get(1)?, false))
                        })
                        .optional()?,
                };
                Ok(row.and_then(|(found, member, unified_group)| match key {
                    MemberKey::ObjectId(id) => MemberType::from_key(&found).map(|member_type| {
                        (
                            ResolvedMember {
                                id: id.clone(),
                                member_type,
                                unified_group,
                            },
                            member,
                        )
                    }),
                    MemberKey::Upn(_) => Some((
                        ResolvedMember {
                            id: found,
                            member_type: MemberType::User,
                            unified_group: false,
                        },
                        member,
                    )),
                }))
            })
            .collect::<Result<Vec<_>, LocalError>>();
        drop((by_id, by_upn));
        if let Some(transaction) = transaction {
            transaction.commit()?;
        }
        let sorted = found?;
        let mut results = vec![None; keys.len()];
        for (index, result) in order.into_iter().zip(sorted) {
            results[index] = result;
        }
        Ok(results)
    }

    /// Whether `member_id` is a direct member of the group.
    pub fn is_member(&self, group_id: &str, member_id: &str) -> Result<bool, LocalError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT 1 FROM memberships WHERE group_id = ?1 AND member_id = ?2")?;
        Ok(statement.exists(params![group_id, member_id])?)
    }

    /// Adds members to a group, in one transaction, with an outcome per member.
    pub fn add_members(
        &mut self,
        group: &Group,
        members: &[ResolvedMember],
    ) -> Result<Vec<RowOutcome>, LocalError> {
        if group.is_dynamic() {
            return Ok(vec![RowOutcome::DynamicMembership; members.len()]);
        }
        let transaction = self.write_scope()?;
        let outcomes = {
            let mut insert = self.connection.prepare_cached(
                "INSERT OR IGNORE INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, ?3)",
            )?;
            // Inserting in key order touches each B-tree page once per batch.
            let mut order: Vec<usize> = (0..members.len()).collect();
            order.sort_unstable_by(|a, b| members[*a].id.cmp(&members[*b].id));
            let mut outcomes = vec![RowOutcome::AlreadyMember; members.len()];
            for index in order {
                let member = &members[index];
                outcomes[index] = if group.accepts(member) {
                    let inserted =
                        insert.execute(params![group.id, member.id, member.member_type.key()])?;
                    if inserted == 1 {
                        RowOutcome::Added
                    } else {
                        RowOutcome::AlreadyMember
                    }
                } else {
                    RowOutcome::UnsupportedMemberType
                };
            }
            outcomes
        };
        transaction.commit()?;
        Ok(outcomes)
    }

    /// Removes members from a group, in one transaction, with an outcome per member.
    pub fn remove_members(
        &mut self,
        group: &Group,
        member_ids: &[&str],
    ) -> Result<Vec<RowOutcome>, LocalError> {
        if group.is_dynamic() {
            return Ok(vec![RowOutcome::DynamicMembership; member_ids.len()]);
        }
        let transaction = self.write_scope()?;
        let outcomes = {
            let mut delete = self
                .connection
                .prepare_cached("DELETE FROM memberships WHERE group_id = ?1 AND member_id = ?2")?;
            member_ids
                .iter()
                .map(|id| {
                    let deleted = delete.execute(params![group.id, id])?;
                    Ok(if deleted == 1 {
                        RowOutcome::Removed
                    } else {
                        RowOutcome::NotMember
                    })
                })
                .collect::<Result<Vec<_>, LocalError>>()?
        };
        transaction.commit()?;
        Ok(outcomes)
    }
}

impl LocalDirectory {
    /// Finds devices by object id or by device id.
    pub fn find_devices(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<crate::directory::model::Device>>, LocalError> {
        let transaction = self.read_transaction()?;
        let found = ids.iter().map(|id| self.device(id)).collect();
        if let Some(transaction) = transaction {
            transaction.commit()?;
        }
        found
    }

    /// Sets (`Some`) or clears (`None`) extension attributes 1 to 15 of a device.
    pub fn set_extension_attributes(
        &mut self,
        device_id: &str,
        values: &[(u8, Option<String>)],
    ) -> Result<(), LocalError> {
        // A savepoint: inside a `$batch` the emulator holds a transaction.
        let transaction = self.connection.savepoint()?;
        for (number, value) in values {
            match value {
                Some(value) => transaction.execute(
                    "INSERT OR REPLACE INTO device_extension_attributes (device_id, number, value) VALUES (?1, ?2, ?3)",
                    rusqlite::params![device_id, number, value],
                )?,
                None => transaction.execute(
                    "DELETE FROM device_extension_attributes WHERE device_id = ?1 AND number = ?2",
                    rusqlite::params![device_id, number],
                )?,
            };
        }
        transaction.commit()?;
        Ok(())
    }

    /// Enables or disables devices, in one transaction.
    pub fn set_devices_enabled(&mut self, ids: &[&str], enabled: bool) -> Result<(), LocalError> {
        let transaction = self.write_scope()?;
        {
            let mut update = self
                .connection
                .prepare_cached("UPDATE devices SET account_enabled = ?2 WHERE id = ?1")?;
            for id in ids {
                update.execute(params![id, enabled])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Deletes devices and their group memberships, in one transaction.
    pub fn delete_devices(&mut self, ids: &[&str]) -> Result<(), LocalError> {
        let transaction = self.write_scope()?;
        {
            let mut delete = self
                .connection
                .prepare_cached("DELETE FROM devices WHERE id = ?1")?;
            let mut memberships = self
                .connection
                .prepare_cached("DELETE FROM memberships WHERE member_id = ?1")?;
            for id in ids {
                delete.execute([id])?;
                memberships.execute([id])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
}
