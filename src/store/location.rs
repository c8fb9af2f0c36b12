//! Where a job store lives: a SQLite file (the embedded default) or a
//! PostgreSQL database named by a `postgres://` URL (`--state` or
//! `BULKOPS_STATE_URL`). A URL's password is a secret: it is never shown;
//! messages show the URL with `***` in its place. A URL without a password
//! takes `PGPASSWORD` from the environment.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A PostgreSQL server and database, as a URL.
#[derive(Clone)]
pub struct PgUrl {
    config: tokio_postgres::Config,
    shown: String,
}

impl PgUrl {
    /// The connection settings.
    pub(super) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.shown)
    }
}

impl PartialEq for PgUrl {
    fn eq(&self, other: &Self) -> bool {
        self.shown == other.shown
    }
}

/// The URL with any password replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = credentials.split(':').next().unwrap_or_default();
    let shown_tail = hide_password_option(tail);
    if credentials.contains(':') {
        format!("{scheme}://{user}:***@{host}{shown_tail}")
    } else {
        format!("{scheme}://{credentials}@{host}{shown_tail}")
    }
}

/// A `password=` query option, hidden.
fn hide_password_option(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let options: Vec<String> = query
        .split('&')
        .map(|option| {
            if option.starts_with("password=") {
                "password=***".to_owned()
            } else {
                option.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", options.join("&"))
}

/// Where a job store lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PgUrl>),
    /// A `postgres://` URL that names no usable database: opening it fails
    /// with why. (Parsing never fails, so a URL with a password is never
    /// echoed by the argument parser.)
    Unusable(LocationError),
}

/// Why a `--state` value names no job store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a PostgreSQL URL bulkops can use: {cause}")]
pub struct LocationError {
    shown: String,
    cause: String,
}

impl Location {
    /// Whether the value names a PostgreSQL database.
    fn is_url(value: &str) -> bool {
        let lower = value.to_ascii_lowercase();
        lower.starts_with("postgres://") || lower.starts_with("postgresql://")
    }

    /// The SQLite file, when the store is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Postgres(_) | Self::Unusable(_) => None,
        }
    }

    /// Whether the store is shared by processes on several machines (its
    /// runs are held by leases in the database, not by lock files).
    pub fn is_shared(&self) -> bool {
        !matches!(self, Self::File(_))
    }

    /// The folder lock files of this store's processes go into: beside a
    /// SQLite file; `.bulkops/` in the working folder for a database.
    pub fn local_folder(&self) -> PathBuf {
        match self {
            Self::File(path) => path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            Self::Postgres(_) | Self::Unusable(_) => PathBuf::from(".bulkops"),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(formatter, "{}", path.display()),
            Self::Postgres(url) => formatter.write_str(url.shown()),
            Self::Unusable(error) => formatter.write_str(&error.shown),
        }
    }
}

impl FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if !Self::is_url(value) {
            return Ok(Self::File(PathBuf::from(value)));
        }
        Ok(Self::parse_url(value).unwrap_or_else(Self::Unusable))
    }
}

impl Location {
    fn parse_url(value: &str) -> Result<Self, LocationError> {
        let shown = without_password(value);
        let mut config =
            tokio_postgres::Config::from_str(value).map_err(|error| LocationError {
                shown: shown.clone(),
                cause: error.to_string(),
            })?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_dbname().is_none() {
            return Err(LocationError {
                shown,
                cause: "it names no database (add `/DATABASE` after the host)".to_owned(),
            });
        }
        Ok(Self::Postgres(Box::new(PgUrl { config, shown })))
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Self::File(path.to_path_buf())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        let location: Location = "postgres://ops:s3cret@db.example:5433/bulkops?sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(
            location.to_string(),
            "postgres://ops:***@db.example:5433/bulkops?sslmode=disable"
        );
        assert!(!format!("{location:?}").contains("s3cret"));
        let option: Location = "postgresql://ops@db/bulkops?password=s3cret&application_name=x"
            .parse()
            .unwrap();
        assert_eq!(
            option.to_string(),
            "postgresql://ops@db/bulkops?password=***&application_name=x"
        );
    }

    #[test]
    fn anything_else_is_a_file() {
        assert_eq!(
            "state.db".parse::<Location>().unwrap(),
            Location::File(PathBuf::from("state.db"))
        );
        let Ok(Location::Unusable(error)) = "postgres://ops:s3cret@db".parse::<Location>() else {
            panic!("a URL without a database is unusable");
        };
        assert!(error.to_string().contains("names no database"), "{error}");
        assert!(!error.to_string().contains("s3cret"));
    }
}
