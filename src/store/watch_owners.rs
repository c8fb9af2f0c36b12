//! Watch services that share a folder through a shared store (PostgreSQL):
//! each service holds a lease under its own name, renewed every third of its
//! length, so the others can tell a living service from one that died (or
//! stalled) and take over only the files a dead one left claimed. A service
//! whose lease ran out before it renewed it learns so at its next renewal and
//! must claim nothing more.
//!
//! On SQLite one service serves a folder (a lock file), so there are no
//! leases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;

use super::lease::{NOW_MS, millis};
use super::pg;
use super::sql::{Db, args};
use super::{JobStore, StoreError};

/// A watch service's lease, renewed until dropped (which ends it at once).
pub struct WatchLease {
    owner: String,
    pool: Pool,
    lost: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for WatchLease {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "WatchLease({})", self.owner)
    }
}

impl WatchLease {
    /// The name the service claims files under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Whether the lease ran out before it was renewed: other services may
    /// have taken this one's files over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for WatchLease {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let (pool, owner) = (self.pool.clone(), self.owner.clone());
        let _ = pg::block(async move {
            let client = pool.get().await?;
            client
                .execute("DELETE FROM watch_owners WHERE owner = $1", &[&owner])
                .await?;
            Ok(())
        });
    }
}

/// A name for a watch service that is also a file name: the process's
/// owner name with anything but letters, digits, `.`, `_` and `-` as `_`.
fn service_name(owner: &str) -> String {
    owner
        .chars()
        .map(|char| {
            if char.is_ascii_alphanumeric() || matches!(char, '.' | '_' | '-') {
                char
            } else {
                '_'
            }
        })
        .collect()
}

impl JobStore {
    /// Starts holding a watch service's lease (PostgreSQL), or `None` on a
    /// store one machine has to itself.
    pub fn hold_watch(&self) -> Result<Option<WatchLease>, StoreError> {
        let Db::Postgres(database) = &self.db else {
            return Ok(None);
        };
        let owner = service_name(&self.owner);
        let length = self.lease;
        self.sql().execute(
            &format!(
                "INSERT INTO watch_owners (owner, lease_until) VALUES (?1, {NOW_MS} + ?2) \
                 ON CONFLICT (owner) DO UPDATE SET lease_until = excluded.lease_until"
            ),
            args![owner.as_str(), millis(length)],
        )?;
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let pool = database.pool().clone();
        pg::spawn(renew(
            pool.clone(),
            owner.clone(),
            length,
            Arc::clone(&lost),
            stopped,
        ))?;
        Ok(Some(WatchLease {
            owner,
            pool,
            lost,
            stop: Some(stop),
        }))
    }

    /// Whether the watch service `owner` holds its lease now.
    pub fn watch_owner_alive(&self, owner: &str) -> Result<bool, StoreError> {
        Ok(self
            .sql()
            .query_opt(
                &format!("SELECT lease_until >= {NOW_MS} FROM watch_owners WHERE owner = ?1"),
                args![owner],
            )?
            .map(|row| row.flag(0))
            .transpose()?
            .unwrap_or(false))
    }
}

/// Renews the lease every third of its length; marks it lost when it had
/// run out before the renewal.
async fn renew(
    pool: Pool,
    owner: String,
    length: Duration,
    lost: Arc<AtomicBool>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let statement = format!(
        "UPDATE watch_owners SET lease_until = {NOW_MS} + $2 \
         WHERE owner = $1 AND lease_until >= {NOW_MS} RETURNING 1"
    );
    loop {
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(length / 3) => {}
        }
        let Ok(client) = pool.get().await else {
            continue;
        };
        match client.query(&statement, &[&owner, &millis(length)]).await {
            Ok(rows) if rows.is_empty() => {
                tracing::error!(owner = %owner, "this watch's lease ran out before it was renewed; other watch services may have taken its files over");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(owner = %owner, %error, "the watch's lease could not be renewed");
            }
        }
    }
}
