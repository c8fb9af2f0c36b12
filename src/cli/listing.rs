//! What `runs list` and `jobs list` share: the `--since` cut-off, read as a
//! duration back from now (`7d`, `12h`) or a UTC date (`2026-11-01`).

use jiff::Timestamp;

use crate::manifest::duration::DurationSpec;

/// Reads `--since`: a duration back from now, or a date (midnight UTC).
pub(super) fn since(text: &str) -> Result<Timestamp, String> {
    if let Ok(duration) = DurationSpec::parse(text) {
        let span = jiff::SignedDuration::try_from(duration.as_duration())
            .map_err(|error| error.to_string())?;
        return Timestamp::now()
            .checked_sub(span)
            .map_err(|error| error.to_string());
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| {
        format!(
            "`{text}` is neither a duration such as `7d` or `12h` nor a date such as `2026-11-01`"
        )
    })?;
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .map_err(|error| error.to_string())
}

pub(super) use crate::text::{shown_time as shown, took};

/// The job store a command reads or writes (`--state`); on every
/// subcommand of `jobs` and `runs`.
#[derive(Debug, clap::Args)]
pub(super) struct StateArg {
    /// The job store: a SQLite file, or a PostgreSQL database's
    /// `postgres://` URL (a password in it is never shown; `PGPASSWORD` is
    /// read when it has none).
    #[arg(
        long,
        global = true,
        value_name = "FILE|URL",
        env = "BULKOPS_STATE_URL",
        hide_env_values = true,
        default_value = crate::store::DEFAULT_PATH
    )]
    pub(super) state: crate::store::Location,
}

/// The runs submitted together as `group`; a group no run belongs to is an
/// error, not an empty list.
pub(super) fn runs_of_group(
    store: &crate::store::JobStore,
    group: &str,
) -> Result<Vec<String>, crate::store::StoreError> {
    let runs = store.runs_of_group(group)?;
    if runs.is_empty() {
        return Err(crate::store::StoreError::UnknownGroup {
            id: crate::store::quoted_id(group),
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_date() {
        let day = since("1d").unwrap();
        let now = Timestamp::now();
        let back = now.duration_since(day).as_secs();
        assert!((86_390..=86_410).contains(&back), "{back}");
        assert_eq!(
            since("2026-11-01").unwrap().to_string(),
            "2026-11-01T00:00:00Z"
        );
        assert!(since("last tuesday").is_err());
    }
}
