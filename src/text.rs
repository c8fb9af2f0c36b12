//! Text made safe to show: values from the directory and from files (display
//! names, CSV cells) with their control characters escaped, so a name with a
//! line break cannot forge a log line or a terminal escape sequence; and an
//! error with every cause in its chain, so the real reason (the OS error, the
//! SQLite message) reaches the person reading it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with control characters escaped (`\n`, `\u{1b}`, ...); other text
/// unchanged.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_to_show) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_to_show(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Control characters, and the invisible ones that reorder or hide text
/// (bidirectional overrides and isolates, zero-width characters, the byte
/// order mark): shown escaped, so a name cannot disguise what it is.
pub fn unsafe_to_show(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// A count with its noun, singular for one: `1 file`, `3 files`, `0 files`.
pub fn counted(count: impl Into<u64>, one: &str, many: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// An error and its causes, each once: `cannot write "x": No space left on
/// device (os error 28)`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = inner.source();
    }
    out
}

/// A time as a list shows it: `2026-11-30 11:02:07` (UTC).
pub fn shown_time(at: jiff::Timestamp) -> String {
    at.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A duration as a list shows it: `4.2s`, `3m 05s`, `1h 02m`.
pub fn took(started: jiff::Timestamp, finished: Option<jiff::Timestamp>) -> String {
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
    fn control_characters_are_escaped() {
        assert_eq!(printable("eng-platform"), "eng-platform");
        assert_eq!(
            printable("a\nINFO forged\u{1b}[31m"),
            "a\\nINFO forged\\u{1b}[31m"
        );
    }

    #[test]
    fn chains_name_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot write `x.csv`")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::from_raw_os_error(28));
        assert_eq!(
            chain(&error),
            "cannot write `x.csv`: No space left on device (os error 28)"
        );
    }
    #[test]
    fn durations_read_at_a_glance() {
        let start: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let at = |text: &str| Some(text.parse::<jiff::Timestamp>().unwrap());
        assert_eq!(took(start, at("2026-11-30T10:00:04.2Z")), "4.2s");
        assert_eq!(took(start, at("2026-11-30T10:03:05Z")), "3m 05s");
        assert_eq!(took(start, at("2026-11-30T11:02:00Z")), "1h 02m");
        assert_eq!(took(start, None), "");
    }
}
