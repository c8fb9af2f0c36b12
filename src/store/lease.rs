//! Leases: how one process at a time executes a run on a store that
//! processes on several machines share (PostgreSQL). The process that takes
//! a run writes itself as its `owner` until `lease_until` (on the database's
//! clock) and renews that every third of the lease; each taking counts an
//! `attempt`. A run whose lease ran out (its process died or stalled) may be
//! taken again, with the next attempt.
//!
//! The attempt is the fencing token of every journal write: a write checks,
//! in its transaction and under a share lock of the run's row, that the run
//! is still at the attempt the writer took, so a stalled owner that wakes up
//! after a takeover writes nothing. On SQLite, where a run's lock file
//! excludes every other process on the machine, writes are not fenced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::Pool;

use super::pg::{self, PgDb};
use super::sql::{Db, Sql, args};
use super::{JobStore, StoreError};

/// How long a lease lasts unless renewed (`BULKOPS_LEASE_MS` changes it).
pub const LEASE: Duration = Duration::from_secs(30);

/// The database's clock in milliseconds since 1970.
pub(super) const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The attempts this process holds runs at, by run id.
#[derive(Debug, Clone, Default)]
pub(super) struct Fences(Arc<Mutex<HashMap<String, i64>>>);

impl Fences {
    fn get(&self, run_id: &str) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(run_id)
            .copied()
    }

    fn set(&self, run_id: &str, attempt: i64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run_id.to_owned(), attempt);
    }

    fn forget(&self, run_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(run_id);
    }
}

/// The lease length in force: `BULKOPS_LEASE_MS`, or [`LEASE`].
pub(super) fn lease_length() -> Duration {
    std::env::var("BULKOPS_LEASE_MS")
        .ok()
        .and_then(|text| text.parse().ok())
        .filter(|millis| *millis >= 300)
        .map_or(LEASE, Duration::from_millis)
}

/// This process, as an owner of runs: host, process id and a random part,
/// the same for every store the process opens.
pub(super) fn owner_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(draw_owner_name).clone()
}

fn draw_owner_name() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let mut random = [0_u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let random = u32::from_be_bytes(random);
    format!("{host}:{}:{random:08x}", std::process::id())
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A run's lease, held and renewed until released.
pub struct Lease {
    run_id: String,
    attempt: i64,
    pool: Pool,
    fences: Fences,
    lost: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Lease {
    /// Whether another process took the run over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The flag the heartbeat sets when the run is taken over.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lost)
    }

    /// Hands the run back: its lease ends now, so another process may take
    /// it at once.
    pub fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        let _ = stop.send(());
        self.fences.forget(&self.run_id);
        let (pool, run_id, attempt) = (self.pool.clone(), self.run_id.clone(), self.attempt);
        let _ = pg::block(async move {
            let client = pool.get().await?;
            client
                .execute(
                    "UPDATE runs SET lease_until = NULL WHERE id = $1 AND attempt = $2",
                    &[&run_id, &attempt],
                )
                .await?;
            Ok(())
        });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.end();
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Lease({} #{})", self.run_id, self.attempt)
    }
}

/// Renews the lease every third of its length until stopped; marks it lost
/// when the run is found at another attempt.
async fn heartbeat(
    pool: Pool,
    run_id: String,
    attempt: i64,
    length: Duration,
    lost: Arc<AtomicBool>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let renew = format!(
        "UPDATE runs SET lease_until = {NOW_MS} + $3 WHERE id = $1 AND attempt = $2 \
         RETURNING attempt"
    );
    loop {
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(length / 3) => {}
        }
        let Ok(client) = pool.get().await else {
            continue;
        };
        match client
            .query(&renew, &[&run_id, &attempt, &millis(length)])
            .await
        {
            Ok(rows) if rows.is_empty() => {
                let exists = client
                    .query("SELECT 1 FROM runs WHERE id = $1", &[&run_id])
                    .await
                    .is_ok_and(|rows| !rows.is_empty());
                if exists {
                    tracing::warn!(run = %run_id, attempt, "the run's lease was taken over by another process");
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(run = %run_id, %error, "the run's lease could not be renewed");
            }
        }
    }
}

impl JobStore {
    /// Takes a run's lease on a shared store: the run when its lease ran out
    /// or was handed back (the next attempt), or a run about to be recorded
    /// (attempt 1, written by `start_run`).
    pub(super) fn take_lease(&self, database: &PgDb, run_id: &str) -> Result<Lease, StoreError> {
        let length = self.lease;
        let taken = database.query_opt(
            &format!(
                "UPDATE runs SET owner = ?2, lease_until = {NOW_MS} + ?3, attempt = attempt + 1 \
                 WHERE id = ?1 AND (lease_until IS NULL OR lease_until < {NOW_MS}) RETURNING attempt"
            ),
            args![run_id, self.owner.as_str(), millis(length)],
        )?;
        let attempt = match taken {
            Some(row) => row.int(0)?,
            None if database
                .query_opt("SELECT 1 FROM runs WHERE id = ?1", args![run_id])?
                .is_some() =>
            {
                return Err(StoreError::RunHeld {
                    id: run_id.to_owned(),
                });
            }
            None => 1,
        };
        self.start_lease(database, run_id, attempt)
    }

    /// Holds the lease of a run taken at `attempt`: its fence, and the
    /// heartbeat that renews it.
    pub(super) fn start_lease(
        &self,
        database: &PgDb,
        run_id: &str,
        attempt: i64,
    ) -> Result<Lease, StoreError> {
        let length = self.lease;
        self.fences.set(run_id, attempt);
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let pool = database.pool().clone();
        pg::spawn(heartbeat(
            pool.clone(),
            run_id.to_owned(),
            attempt,
            length,
            Arc::clone(&lost),
            stopped,
        ))?;
        Ok(Lease {
            run_id: run_id.to_owned(),
            attempt,
            pool,
            fences: self.fences.clone(),
            lost,
            stop: Some(stop),
        })
    }

    /// The attempt this process holds a run at, for the run's first record.
    pub(super) fn held_attempt(&self, run_id: &str) -> Option<i64> {
        self.fences.get(run_id)
    }

    /// Sets how long the leases this store takes last.
    pub fn set_lease(&mut self, length: Duration) {
        self.lease = length.max(Duration::from_millis(300));
    }

    /// Writes as the holder of a run another store of this process holds
    /// the lease of (a worker's run, executed by the lifecycle's store): its
    /// writes are fenced with `attempt`, and locking the run is granted
    /// without a lease of its own.
    pub fn adopt(&self, run_id: &str, attempt: i64) {
        self.fences.set(run_id, attempt);
        self.adopted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run_id.to_owned());
    }

    /// Whether this store writes for a run another store of this process
    /// holds (a worker's run).
    pub fn is_adopted(&self, run_id: &str) -> bool {
        self.adopted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(run_id)
    }

    /// Runs `work` as a journal write of `run_id`: on a shared store, only
    /// while this process holds the run at the attempt it took.
    pub(super) fn fenced<T>(
        &self,
        run_id: &str,
        work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Db::Postgres(database) = &self.db else {
            return work(self.sql());
        };
        let lost = || StoreError::LeaseLost {
            id: run_id.to_owned(),
        };
        let attempt = self.fences.get(run_id).ok_or_else(lost)?;
        database.transaction_unlocked(|sql| {
            let current = sql
                .query_opt(
                    "SELECT attempt FROM runs WHERE id = ?1 FOR SHARE",
                    args![run_id],
                )?
                .map(|row| row.int(0))
                .transpose()?;
            // A run not recorded yet is being recorded by this process.
            if current.is_some_and(|current| current != attempt) {
                return Err(lost());
            }
            work(sql)
        })
    }

    /// Refuses, on a shared store, when this process no longer holds the run
    /// of `job_id` (checked before a chunk changes the directory and before
    /// a job's file takes its name, so a stalled owner that wakes up after a
    /// takeover goes no further).
    pub fn confirm_held(&self, job_id: &str) -> Result<(), StoreError> {
        self.fenced_job(job_id, |_| Ok(()))
    }

    /// Runs `work` as a journal write of the job `job_id`'s run.
    pub(super) fn fenced_job<T>(
        &self,
        job_id: &str,
        work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !matches!(self.db, Db::Postgres(_)) {
            return work(self.sql());
        }
        let run_id = self.run_of_job(job_id)?;
        self.fenced(&run_id, work)
    }

    fn run_of_job(&self, job_id: &str) -> Result<String, StoreError> {
        if let Some(run_id) = self
            .job_runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(job_id)
        {
            return Ok(run_id.clone());
        }
        let run_id = self
            .sql()
            .query_opt("SELECT run_id FROM jobs WHERE id = ?1", args![job_id])?
            .ok_or_else(|| StoreError::UnknownJob {
                id: job_id.to_owned(),
            })?
            .text(0)?;
        self.remember_job(job_id, &run_id);
        Ok(run_id)
    }

    /// Remembers a job's run, for fencing its writes.
    pub(super) fn remember_job(&self, job_id: &str, run_id: &str) {
        self.job_runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(job_id.to_owned(), run_id.to_owned());
    }

    /// Whether a run's lease is held now (a shared store).
    pub(super) fn lease_is_held(&self, run_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .sql()
            .query_opt(
                &format!("SELECT lease_until > {NOW_MS} FROM runs WHERE id = ?1"),
                args![run_id],
            )?
            .map(|row| row.opt_int(0))
            .transpose()?
            .flatten()
            .is_some_and(|held| held != 0))
    }
}
