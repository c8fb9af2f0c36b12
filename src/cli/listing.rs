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

/// A time as a list shows it: `2026-11-30 11:02:07` (UTC).
pub(super) fn shown(at: Timestamp) -> String {
    at.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A duration as a list shows it: `4.2s`, `3m 05s`, `1h 02m`.
pub(super) fn took(started: Timestamp, finished: Option<Timestamp>) -> String {
    let Some(finished) = finished else {
        return String::new();
    };
    let span = finished.duration_since(started);
    let whole = u64::try_from(span.as_secs()).unwrap_or(0);
    if whole < 60 {
        format!("{}.{}s", whole, span.subsec_millis().max(0) / 100)
    } else if whole < 3600 {
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60)
    }
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

    #[test]
    fn durations_read_at_a_glance() {
        let start: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let at = |text: &str| Some(text.parse::<Timestamp>().unwrap());
        assert_eq!(took(start, at("2026-11-30T10:00:04.2Z")), "4.2s");
        assert_eq!(took(start, at("2026-11-30T10:03:05Z")), "3m 05s");
        assert_eq!(took(start, at("2026-11-30T11:02:00Z")), "1h 02m");
        assert_eq!(took(start, None), "");
    }
}
