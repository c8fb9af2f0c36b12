//! The SQL the job store speaks to either backend: statements with numbered
//! parameters (`?1`, `?2`, …) in the dialect SQLite and PostgreSQL share,
//! values of four kinds, and rows read by column. SQLite runs them through
//! rusqlite; PostgreSQL through [`super::pg`], which numbers parameters its
//! own way (`$1`).

use super::StoreError;
use super::pg::PgDb;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Self::Int(super::to_i64(value))
    }
}

impl From<u32> for Value {
    fn from(value: u32) -> Self {
        Self::Int(i64::from(value))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Int(i64::from(value))
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Self::Bytes(value)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// The parameters of a statement, each turned into a [`Value`].
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::sql::Value::from($value)),*]
    };
}
pub(super) use args;

/// A row of a result, read by column index.
#[derive(Debug, Clone)]
pub(super) struct Row(pub(super) Vec<Value>);

impl Row {
    fn value(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or_else(|| unexpected(index, "a column"))
    }

    pub(super) fn text(&self, index: usize) -> Result<String, StoreError> {
        self.opt_text(index)?
            .ok_or_else(|| unexpected(index, "text, found NULL"))
    }

    pub(super) fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            _ => Err(unexpected(index, "text")),
        }
    }

    pub(super) fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.opt_int(index)?
            .ok_or_else(|| unexpected(index, "a number, found NULL"))
    }

    pub(super) fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Int(value) => Ok(Some(*value)),
            _ => Err(unexpected(index, "a number")),
        }
    }

    pub(super) fn count(&self, index: usize) -> Result<u64, StoreError> {
        Ok(super::to_u64(self.int(index)?))
    }

    pub(super) fn opt_count(&self, index: usize) -> Result<Option<u64>, StoreError> {
        Ok(self.opt_int(index)?.map(super::to_u64))
    }

    /// A truth value: SQLite gives 0 or 1, PostgreSQL a boolean (read as 0 or 1).
    pub(super) fn flag(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.int(index)? != 0)
    }

    pub(super) fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.value(index)? {
            Value::Bytes(bytes) => Ok(bytes.clone()),
            _ => Err(unexpected(index, "bytes")),
        }
    }
}

fn unexpected(index: usize, expected: &str) -> StoreError {
    StoreError::Unexpected {
        what: format!("column {index} is not {expected}"),
    }
}

/// Where statements run: a connection, or one inside a transaction.
pub(super) trait Sql {
    /// Runs a statement; returns how many rows it changed.
    fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError>;

    /// Runs statements without parameters, one after the other.
    fn batch(&self, sql: &str) -> Result<(), StoreError>;

    /// Runs a query; returns its rows.
    fn query(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError>;

    /// The first row of a query, if there is one.
    fn query_opt(&self, sql: &str, args: Vec<Value>) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row of a query that always returns one.
    fn query_one(&self, sql: &str, args: Vec<Value>) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Unexpected {
                what: "a query that returns a row returned none".to_owned(),
            })
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(value) => ValueRef::Integer(*value),
            Self::Text(text) => ValueRef::Text(text.as_bytes()),
            Self::Bytes(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

fn sqlite_value(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(value) => Value::Int(value),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the store keeps no real numbers; a stray one reads as its whole part"
        )]
        ValueRef::Real(value) => Value::Int(value as i64),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

impl Sql for rusqlite::Connection {
    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.execute_batch(sql)?)
    }

    fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let mut statement = self.prepare_cached(sql)?;
        let changed = statement.execute(rusqlite::params_from_iter(args.iter()))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.prepare_cached(sql)?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                values.push(sqlite_value(row.get_ref(index)?));
            }
            found.push(Row(values));
        }
        Ok(found)
    }
}

/// The open database of a job store.
pub(super) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(PgDb),
}

impl Db {
    /// Where single statements run.
    pub(super) fn sql(&self) -> &dyn Sql {
        match self {
            Self::Sqlite(connection) => connection,
            Self::Postgres(database) => database,
        }
    }

    /// Runs `work` in one transaction that no other writer interleaves with
    /// (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL, the store's transaction
    /// lock); commits when it succeeds.
    pub(super) fn transaction<T>(
        &mut self,
        work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Self::Sqlite(connection) => {
                let transaction = connection
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let value = work(&*transaction)?;
                transaction.commit()?;
                Ok(value)
            }
            Self::Postgres(database) => database.transaction(work),
        }
    }
}
