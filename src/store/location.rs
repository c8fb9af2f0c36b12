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

/// The URL as shown: rebuilt from the settings it was read into (user, hosts,
/// ports, database), never from its text, so no spelling of a password
/// (in the user part, an option, percent-encoded) can show. A password, when
/// there is one, shows as `***`; options are left out.
fn shown_form(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or_default();
    let password = if config.get_password().is_some() {
        ":***"
    } else {
        ""
    };
    let at = if user.is_empty() && password.is_empty() {
        ""
    } else {
        "@"
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let name = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(index).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    format!(
        "postgres://{user}{password}{at}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
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
            // A libpq connection string is no file name: it would be shown
            // (and created) with its password.
            if value.to_ascii_lowercase().contains("password") && value.contains('=') {
                return Ok(Self::Unusable(LocationError {
                    shown: "(a connection string)".to_owned(),
                    cause: "bulkops takes a postgres://USER@HOST:PORT/DATABASE URL, with the password in PGPASSWORD".to_owned(),
                }));
            }
            return Ok(Self::File(PathBuf::from(value)));
        }
        Ok(Self::parse_url(value).unwrap_or_else(Self::Unusable))
    }
}

impl Location {
    fn parse_url(value: &str) -> Result<Self, LocationError> {
        // Nothing of a URL that cannot be read is shown: it may hold a
        // password anywhere.
        let mut config = tokio_postgres::Config::from_str(value).map_err(|_| LocationError {
            shown: "postgres://…".to_owned(),
            cause: "it cannot be read as postgres://USER@HOST:PORT/DATABASE?OPTIONS \
                        (percent-encode special characters)"
                .to_owned(),
        })?;
        // An `@` or `:` the URL's reader would take for part of the host or
        // the user name is most likely in a password: nothing is shown.
        let authority = value.split_once("://").map_or(value, |(_, rest)| {
            rest.split(['/', '?']).next().unwrap_or(rest)
        });
        let user_has_colon = config.get_user().is_some_and(|user| user.contains(':'));
        if authority.matches('@').count() > 1 || user_has_colon {
            return Err(LocationError {
                shown: "postgres://…".to_owned(),
                cause: "percent-encode `@`, `:` and `/` in the user name and password (`%40`, `%3A`, `%2F`), or put the password in PGPASSWORD".to_owned(),
            });
        }
        let shown = shown_form(&config);
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
            "postgres://ops:***@db.example:5433/bulkops"
        );
        assert!(!format!("{location:?}").contains("s3cret"));
        for url in [
            "postgresql://ops@db/bulkops?password=s3cret&application_name=x",
            "postgres://ops:a/bs3cret@db:5432/bulkops",
            "postgres://ops:a?bs3cret@db:5432/bulkops",
            "postgres://ops@db:5432/bulkops?pass%77ord=s3cret",
            "postgres://ops:p%40ss%3As3cret@db/bulkops",
            "postgres://ops@db/bulkops?password%3Ds3cret",
            "postgres://ops@db/bulkops?password =s3cret",
            "POSTGRES://ops:s3cret@db/bulkops",
            "postgres://ops:s3@cret@db:5432/bulkops",
            "postgres://ops%3As3cret@db:5432/bulkops",
            "host=db user=ops password=s3cret dbname=bulkops",
        ] {
            let location: Location = url.parse().unwrap();
            let shown = format!("{location} {location:?}");
            assert!(!shown.contains("s3cret"), "{url} shows as {shown}");
            if let Location::Unusable(error) = &location {
                assert!(!error.to_string().contains("s3cret"), "{error}");
            }
        }
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
