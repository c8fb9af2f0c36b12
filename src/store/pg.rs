//! The job store on PostgreSQL: a pool of tokio-postgres connections driven by
//! a small runtime of the store's own, so the store keeps the same blocking
//! calls on both backends and may be called from inside another runtime.
//!
//! Transactions run on one connection taken from the pool and begin with the
//! store's transaction lock (`pg_advisory_xact_lock`), so two processes'
//! transactions never interleave, as with SQLite's `BEGIN IMMEDIATE`. A
//! connection dropped inside a transaction is closed, never handed back.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::StoreError;
use super::location::PgUrl;
use super::sql::{Row, Sql, Value};

/// The key of the store's transaction lock.
const TRANSACTION_LOCK: i64 = 0x6275_6c6b_6f70_7301;

/// How many connections one process keeps at most.
const POOL_SIZE: usize = 8;

fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("bulkops-store")
                .enable_all()
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| StoreError::Unexpected {
            what: format!("the job store's runtime could not start: {error}"),
        })
}

/// Runs `future` on the store's runtime and waits for it. Safe to call from
/// any thread, including the threads of another runtime (the call blocks the
/// thread, as a SQLite statement does).
pub(super) fn block<T: Send + 'static>(
    future: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.recv().map_err(|_| StoreError::Unexpected {
        what: "the job store's runtime stopped".to_owned(),
    })?
}

/// Runs `future` on the store's runtime and awaits it without blocking the
/// caller's thread (for callers inside another runtime).
pub(super) async fn run<T: Send + 'static>(
    future: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    runtime()?.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.await.map_err(|_| StoreError::Unexpected {
        what: "the job store's runtime stopped".to_owned(),
    })?
}

/// Runs one statement on a connection of `pool`, without blocking.
pub(super) async fn query_async(
    pool: Pool,
    sql: &str,
    args: Vec<Value>,
) -> Result<Vec<Row>, StoreError> {
    let sql = numbered(sql);
    run(async move {
        let client = pool.get().await?;
        query_on(&client, &sql, &args).await
    })
    .await
}

/// Starts `task` on the store's runtime.
pub(super) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Result<(), StoreError> {
    runtime()?.spawn(task);
    Ok(())
}

/// The open PostgreSQL job store.
pub(crate) struct PgDb {
    pool: Pool,
}

impl PgDb {
    /// Connects to the server `url` names (one connection now, to report a
    /// wrong address or password at once).
    pub(super) fn connect(url: &PgUrl) -> Result<Self, StoreError> {
        let mut config = url.config().clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.keepalives(true);
        config.application_name("bulkops");
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|error| StoreError::Unexpected {
                what: format!("the connection pool could not be made: {error}"),
            })?;
        let shown = url.shown().to_owned();
        let first = pool.clone();
        block(async move {
            first
                .get()
                .await
                .map(drop)
                .map_err(|error| StoreError::Connect {
                    location: shown,
                    cause: pool_cause(&error),
                })
        })?;
        Ok(Self { pool })
    }

    /// Runs `work` in one transaction on one connection, under the store's
    /// transaction lock.
    pub(super) fn transaction<T>(
        &self,
        work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction_with(
            &format!("BEGIN; SELECT pg_advisory_xact_lock({TRANSACTION_LOCK})"),
            work,
        )
    }

    /// Runs `work` in one transaction on one connection, beside other
    /// processes' transactions (for writes that lock the rows they need).
    pub(super) fn transaction_unlocked<T>(
        &self,
        work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction_with("BEGIN", work)
    }

    fn transaction_with<T>(
        &self,
        begin: &str,
        work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = self.pool.clone();
        let client = block(async move { Ok(pool.get().await?) })?;
        let pinned = Pinned {
            client: Some(Arc::new(client)),
            open: std::cell::Cell::new(true),
        };
        pinned.batch(begin.to_owned())?;
        let value = work(&pinned)?;
        pinned.batch("COMMIT".to_owned())?;
        pinned.open.set(false);
        Ok(value)
    }

    /// The pool, for work that runs on the store's runtime (heartbeats).
    pub(super) fn pool(&self) -> &Pool {
        &self.pool
    }
}

fn pool_cause(error: &deadpool_postgres::PoolError) -> String {
    use std::error::Error as _;
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !cause.contains(&text) {
            cause = format!("{cause}: {text}");
        }
        source = inner.source();
    }
    cause
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Unexpected {
            what: format!("no connection to the job store: {}", pool_cause(&error)),
        }
    }
}

impl Sql for PgDb {
    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let (pool, sql) = (self.pool.clone(), sql.to_owned());
        block(async move { Ok(pool.get().await?.batch_execute(&sql).await?) })
    }

    fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let (pool, sql) = (self.pool.clone(), numbered(sql));
        block(async move {
            let client = pool.get().await?;
            execute_on(&client, &sql, &args).await
        })
    }

    fn query(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let (pool, sql) = (self.pool.clone(), numbered(sql));
        block(async move {
            let client = pool.get().await?;
            query_on(&client, &sql, &args).await
        })
    }
}

/// One connection inside a transaction.
struct Pinned {
    client: Option<Arc<Object>>,
    /// Whether a transaction is open on it (then it is closed when dropped).
    open: std::cell::Cell<bool>,
}

impl Pinned {
    fn client(&self) -> Arc<Object> {
        Arc::clone(
            self.client
                .as_ref()
                .expect("a pinned connection until dropped"),
        )
    }

    fn batch(&self, sql: String) -> Result<(), StoreError> {
        let client = self.client();
        block(async move { Ok(client.batch_execute(&sql).await?) })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if self.open.get()
            && let Some(client) = self.client.take()
            && let Ok(client) = Arc::try_unwrap(client)
        {
            // A transaction left open is never handed to the next user:
            // the connection is closed, which rolls it back.
            drop(Object::take(client));
        }
    }
}

impl Sql for Pinned {
    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        Pinned::batch(self, sql.to_owned())
    }

    fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let (client, sql) = (self.client(), numbered(sql));
        block(async move { execute_on(&client, &sql, &args).await })
    }

    fn query(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let (client, sql) = (self.client(), numbered(sql));
        block(async move { query_on(&client, &sql, &args).await })
    }
}

fn parameters(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

async fn execute_on(client: &Object, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, &parameters(args)).await?)
}

async fn query_on(client: &Object, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    let rows = client.query(&statement, &parameters(args)).await?;
    rows.iter().map(row_of).collect()
}

/// The statement with PostgreSQL's parameter marks: `?N` becomes `$N`
/// (outside quoted text).
pub(super) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(char) = chars.next() {
        match char {
            '\'' => {
                quoted = !quoted;
                out.push(char);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(char),
        }
    }
    out
}

fn row_of(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map(|value| Value::Int(value.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)?
                .map(|value| Value::Int(value.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map(|value| Value::Int(value.into())),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Bytes),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                row.try_get::<_, Option<String>>(index)?.map(Value::Text)
            }
            ref other => {
                return Err(StoreError::Unexpected {
                    what: format!("column `{}` has the type {other}", column.name()),
                });
            }
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(value) => match *ty {
                Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
                Type::BOOL => (*value != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => value.to_string().to_sql(ty, out),
                _ => value.to_sql(ty, out),
            },
            Self::Text(text) => text.to_sql(ty, out),
            Self::Bytes(bytes) => bytes.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn numbers_parameters_outside_quoted_text() {
        assert_eq!(
            numbered("SELECT ?1, '?2', x FROM t WHERE a = ?12 AND b = ?"),
            "SELECT $1, '?2', x FROM t WHERE a = $12 AND b = ?"
        );
    }
}
