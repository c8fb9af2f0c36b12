//! Generated directories of any size, for benchmarks and load tests: users,
//! groups of every type, devices and memberships, reproducible from a seed.

use rusqlite::{Connection, params};

use super::LocalError;

/// How large a generated directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    pub users: u64,
    pub groups: u64,
    pub devices: u64,
    /// Members of each group, drawn from the users.
    pub members: u64,
    pub seed: u64,
}

/// Rows per transaction: large enough to amortise commits, small enough to keep
/// the write-ahead log modest.
const CHUNK: u64 = 50_000;

/// A small xorshift generator: reproducible across platforms and releases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }

    /// A version-4 GUID.
    fn guid(&mut self) -> String {
        let (high, low) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0x0fff,
            0x8000 | (low >> 48 & 0x3fff),
            low & 0xffff_ffff_ffff
        )
    }
}

/// The id of user number `index` for a seed: computable without a lookup, so
/// memberships can be drawn without keeping every id in memory.
pub fn user_id(seed: u64, index: u64) -> String {
    Rng(
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9)
            | 1,
    )
    .guid()
}

pub(super) fn fill(
    connection: &mut Connection,
    options: &GenerateOptions,
) -> Result<(), LocalError> {
    let mut rng = Rng(options.seed | 1);
    insert_users(connection, options)?;
    let group_ids = insert_groups(connection, options, &mut rng)?;
    insert_devices(connection, options, &mut rng)?;
    insert_memberships(connection, options, &group_ids, &mut rng)
}

fn insert_users(connection: &mut Connection, options: &GenerateOptions) -> Result<(), LocalError> {
    let mut start = 0;
    while start < options.users {
        let end = (start + CHUNK).min(options.users);
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare(
                "INSERT INTO users (id, user_principal_name, display_name, mail, user_type, account_enabled, department, job_title, created_date_time) \
                 VALUES (?1, ?2, ?3, ?2, 'Member', 1, ?4, NULL, '2024-01-01T00:00:00Z')",
            )?;
            for index in start..end {
                let upn = format!("user{index:07}@generated.example");
                let department = ["Engineering", "Sales", "Marketing", "Finance", "Operations"]
                    [(index % 5) as usize];
                insert.execute(params![
                    user_id(options.seed, index),
                    upn,
                    format!("User {index:07}"),
                    department
                ])?;
            }
        }
        transaction.commit()?;
        start = end;
    }
    Ok(())
}

fn insert_groups(
    connection: &mut Connection,
    options: &GenerateOptions,
    rng: &mut Rng,
) -> Result<Vec<String>, LocalError> {
    let transaction = connection.transaction()?;
    let mut ids = Vec::new();
    {
        let mut insert = transaction.prepare(
            "INSERT INTO groups (id, display_name, description, mail, mail_enabled, mail_nickname, security_enabled, group_types, \
             membership_rule, on_premises_sync_enabled, created_date_time, visibility, is_assignable_to_role) \
             VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, NULL, '2024-01-01T00:00:00Z', ?9, 0)",
        )?;
        for index in 0..options.groups {
            let id = rng.guid();
            let nickname = format!("group-{index:05}");
            // Every fifth group is a Microsoft 365 group, every seventh dynamic.
            let unified = index % 5 == 4;
            let dynamic = index % 7 == 6;
            let types = match (unified, dynamic) {
                (true, true) => "Unified;DynamicMembership",
                (true, false) => "Unified",
                (false, true) => "DynamicMembership",
                (false, false) => "",
            };
            let rule = dynamic.then_some("(user.department -eq \"Engineering\")");
            let mail = unified.then(|| format!("{nickname}@generated.example"));
            let visibility = if unified { "Public" } else { "Private" };
            insert.execute(params![
                id, nickname, mail, unified, nickname, !unified, types, rule, visibility
            ])?;
            ids.push(id);
        }
    }
    transaction.commit()?;
    Ok(ids)
}

fn insert_devices(
    connection: &mut Connection,
    options: &GenerateOptions,
    rng: &mut Rng,
) -> Result<(), LocalError> {
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO devices (id, device_id, display_name, operating_system, operating_system_version, trust_type, account_enabled, \
             is_compliant, is_managed, approximate_last_sign_in_date_time, registration_date_time, profile_type, manufacturer, model) \
             VALUES (?1, ?2, ?3, ?4, '1.0', ?5, 1, 1, 1, ?6, '2024-01-01T00:00:00Z', 'RegisteredDevice', 'Generated', 'Standard')",
        )?;
        for index in 0..options.devices {
            let (os, trust) = [
                ("Windows", "AzureAd"),
                ("iOS", "Workplace"),
                ("MacMDM", "AzureAd"),
            ][(index % 3) as usize];
            let month = 1 + rng.below(12);
            let last = format!("2026-{month:02}-15T12:00:00Z");
            insert.execute(params![
                rng.guid(),
                rng.guid(),
                format!("DEV-{index:07}"),
                os,
                trust,
                last
            ])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

fn insert_memberships(
    connection: &mut Connection,
    options: &GenerateOptions,
    group_ids: &[String],
    rng: &mut Rng,
) -> Result<(), LocalError> {
    let per_group = options.members.min(options.users);
    for group_id in group_ids {
        // A run of consecutive users from a random start: distinct, and cheap.
        let first = rng.below(options.users.max(1));
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare(
                "INSERT INTO memberships (group_id, member_id, member_type) VALUES (?1, ?2, 'user')",
            )?;
            for offset in 0..per_group {
                let user = (first + offset) % options.users;
                insert.execute(params![group_id, user_id(options.seed, user)])?;
            }
        }
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_guids_and_reproducible() {
        let id = user_id(7, 42);
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_eq!(id, user_id(7, 42));
        assert_ne!(id, user_id(7, 43));
        assert_ne!(id, user_id(8, 42));
    }
}
