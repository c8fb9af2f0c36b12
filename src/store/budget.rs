//! Budgets the processes of a fleet share, kept in the job store when it is
//! PostgreSQL: one row per budget (a Microsoft Graph service, tenant and
//! app) holding, for each of its quotas, the theoretical arrival time of a
//! GCRA bucket, and the cool-down every process honours.
//!
//! A grant is one atomic `UPDATE`: it moves each quota's arrival time on by
//! the grant's cost, only if every quota fits now (the arrival time stays at
//! most the burst ahead of the database's clock) and no cool-down holds.
//! Times are microseconds since 1970 on the database's clock, so processes on
//! different machines agree. On SQLite, where one process at a time changes
//! a directory, there is no shared budget.

use std::time::Duration;

use deadpool_postgres::Pool;

use super::pg;
use super::sql::{Db, args};
use super::{JobStore, StoreError};

/// The database's clock in microseconds since 1970, read once per statement.
const CLOCK: &str =
    "(SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now) AS clock";

/// One quota's part of a grant: how far it moves the quota's arrival time,
/// and how far ahead of now that time may be (the burst), in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub cost_us: i64,
    pub burst_us: i64,
}

/// What a request for a grant got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Granted, at this time on the database's clock (microseconds).
    Granted { at_us: i64 },
    /// Not now: ask again after this long.
    Wait(Duration),
}

/// A budget shared through the store: writes, device writes and resource
/// units, in that order.
#[derive(Clone)]
pub struct SharedBudget {
    pool: Pool,
    name: String,
    /// The longest cool-down honoured, in microseconds.
    longest_quiet_us: i64,
}

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SharedBudget")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl JobStore {
    /// The budget `name` shared by every process on this store, or `None`
    /// on SQLite. Cool-downs longer than `longest_quiet` are cut to it.
    pub fn shared_budget(
        &self,
        name: &str,
        longest_quiet: Duration,
    ) -> Result<Option<SharedBudget>, StoreError> {
        let Db::Postgres(pg) = &self.db else {
            return Ok(None);
        };
        self.sql().execute(
            "INSERT INTO graph_budgets (budget) VALUES (?1) ON CONFLICT (budget) DO NOTHING",
            args![name],
        )?;
        Ok(Some(SharedBudget {
            pool: pg.pool().clone(),
            name: name.to_owned(),
            longest_quiet_us: i64::try_from(longest_quiet.as_micros()).unwrap_or(i64::MAX / 4),
        }))
    }
}

impl SharedBudget {
    /// Grants `charges` (writes, device writes, resource units) if each fits
    /// its bucket now and no cool-down holds; otherwise says how long to wait.
    pub async fn take(&self, charges: [Charge; 3]) -> Result<Taken, StoreError> {
        let [writes, devices, units] = charges;
        // ?1 the budget; ?2..?7 each quota's cost and burst.
        let parameters = args![
            self.name.as_str(),
            writes.cost_us,
            writes.burst_us,
            devices.cost_us,
            devices.burst_us,
            units.cost_us,
            units.burst_us,
        ];
        let granted = pg::query_async(
            self.pool.clone(),
            &format!(
                "UPDATE graph_budgets AS b SET \
                 writes_at = GREATEST(b.writes_at, clock.now) + ?2, \
                 device_writes_at = GREATEST(b.device_writes_at, clock.now) + ?4, \
                 units_at = GREATEST(b.units_at, clock.now) + ?6 \
                 FROM {CLOCK} \
                 WHERE b.budget = ?1 AND b.quiet_until <= clock.now \
                 AND GREATEST(b.writes_at, clock.now) + ?2 - ?3 <= clock.now \
                 AND GREATEST(b.device_writes_at, clock.now) + ?4 - ?5 <= clock.now \
                 AND GREATEST(b.units_at, clock.now) + ?6 - ?7 <= clock.now \
                 RETURNING clock.now"
            ),
            parameters.clone(),
        )
        .await?;
        if let Some(row) = granted.first() {
            return Ok(Taken::Granted { at_us: row.int(0)? });
        }
        // Not granted: how long to wait. A grant never leaves a quota's
        // arrival time more than its burst ahead, nor a cool-down longer
        // than `longest_quiet`; values beyond that (written by hand, or by
        // a client with other quotas) are brought back within, so the wait
        // is bounded.
        let waits = pg::query_async(
            self.pool.clone(),
            &format!(
                "UPDATE graph_budgets AS b SET \
                 writes_at = LEAST(b.writes_at, clock.now + ?3), \
                 device_writes_at = LEAST(b.device_writes_at, clock.now + ?5), \
                 units_at = LEAST(b.units_at, clock.now + ?7), \
                 quiet_until = LEAST(b.quiet_until, clock.now + ?8) \
                 FROM {CLOCK} WHERE b.budget = ?1 \
                 RETURNING GREATEST(b.quiet_until - clock.now, \
                 GREATEST(b.writes_at, clock.now) + ?2 - ?3 - clock.now, \
                 GREATEST(b.device_writes_at, clock.now) + ?4 - ?5 - clock.now, \
                 GREATEST(b.units_at, clock.now) + ?6 - ?7 - clock.now, 1)"
            ),
            [parameters, args![self.longest_quiet_us]].concat(),
        )
        .await?;
        let wait_us = match waits.first() {
            Some(row) => row.int(0)?,
            None => {
                return Err(StoreError::Unexpected {
                    what: format!("the shared budget `{}` is missing", self.name),
                });
            }
        };
        Ok(Taken::Wait(Duration::from_micros(wait_us.unsigned_abs())))
    }

    /// Holds every process back until `delay` from now (or later, if a
    /// longer cool-down holds already).
    pub async fn cool_down(&self, delay: Duration) -> Result<(), StoreError> {
        let delay_us = i64::try_from(delay.as_micros())
            .unwrap_or(i64::MAX)
            .min(self.longest_quiet_us);
        pg::query_async(
            self.pool.clone(),
            &format!(
                "UPDATE graph_budgets AS b SET quiet_until = \
                 LEAST(GREATEST(b.quiet_until, clock.now + ?2), clock.now + ?3) \
                 FROM {CLOCK} WHERE b.budget = ?1"
            ),
            args![self.name.as_str(), delay_us, self.longest_quiet_us],
        )
        .await?;
        Ok(())
    }
}
