//! Scratch PostgreSQL databases for tests and benchmarks: each one is made
//! on the server `BULKOPS_TEST_PG` names (`bash .ci/test` starts one) and
//! dropped when its guard goes.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Location, StoreError, pg};

/// A database made for one test, dropped with it.
pub struct ScratchDatabase {
    server: String,
    name: String,
    /// The database, as `--state` takes it.
    pub url: String,
}

impl ScratchDatabase {
    /// The database as a store location.
    pub fn location(&self) -> Location {
        self.url.parse().expect("a scratch database's URL parses")
    }
}

/// The server tests make their databases on.
///
/// # Panics
/// When `BULKOPS_TEST_PG` is not set: the PostgreSQL tests are never
/// skipped quietly.
pub fn test_server() -> String {
    std::env::var("BULKOPS_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need a server: run them with `bash .ci/test`, which starts one, \
             or set BULKOPS_TEST_PG=postgres://USER@HOST:PORT/DATABASE"
        )
    })
}

/// A new, empty database on the test server.
///
/// # Panics
/// When the server cannot be reached or refuses.
pub fn scratch_database() -> ScratchDatabase {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let server = test_server();
    let mut random = [0_u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .expect("random bytes");
    let name = format!(
        "bulkops_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        u32::from_be_bytes(random)
    );
    admin(&server, format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|error| panic!("cannot make a test database on {server}: {error}"));
    let url = with_database(&server, &name);
    ScratchDatabase { server, name, url }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = admin(
            &self.server,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The server's URL with another database name.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(base, query)| (base, Some(query)));
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        url = format!("{url}?{query}");
    }
    url
}

/// Runs `sql` on the server's own database.
fn admin(server: &str, sql: String) -> Result<(), StoreError> {
    let server = server.to_owned();
    pg::block(async move {
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(&sql).await?;
        Ok(())
    })
}
