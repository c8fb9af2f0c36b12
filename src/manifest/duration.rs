//! Durations as manifests write them: `500ms`, `3s`, `1m`, `2h`, `30d`.
//!
//! One number and one unit, no spaces, so that a reviewer reading a pull request
//! sees the value at a glance. The schema carries the same pattern, so editors
//! flag a malformed duration while it is typed.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The pattern every duration matches; shared by the schema and the parser.
pub const DURATION_PATTERN: &str = "^[0-9]{1,9}(ms|s|m|h|d)$";

/// A duration written in a manifest, kept with its original spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationSpec {
    amount: u64,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Unit {
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Self::Milliseconds => "ms",
            Self::Seconds => "s",
            Self::Minutes => "m",
            Self::Hours => "h",
            Self::Days => "d",
        }
    }

    fn millis(self) -> u64 {
        match self {
            Self::Milliseconds => 1,
            Self::Seconds => 1_000,
            Self::Minutes => 60_000,
            Self::Hours => 3_600_000,
            Self::Days => 86_400_000,
        }
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration; write a whole number and a unit, like `500ms`, `3s`, `1m`, `2h` or `30d`"
)]
pub struct DurationParseError {
    text: String,
}

impl DurationSpec {
    /// Builds a duration from a number of seconds.
    pub const fn seconds(amount: u64) -> Self {
        Self {
            amount,
            unit: Unit::Seconds,
        }
    }

    /// Builds a duration from a number of days.
    pub const fn days(amount: u64) -> Self {
        Self {
            amount,
            unit: Unit::Days,
        }
    }

    /// Builds a duration from a number of minutes.
    pub const fn minutes(amount: u64) -> Self {
        Self {
            amount,
            unit: Unit::Minutes,
        }
    }

    /// Reads a duration such as `30d`.
    pub fn parse(text: &str) -> Result<Self, DurationParseError> {
        let error = || DurationParseError {
            text: text.to_owned(),
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        let (digits, suffix) = text.split_at(split);
        if digits.is_empty() || digits.len() > 9 {
            return Err(error());
        }
        let unit = match suffix {
            "ms" => Unit::Milliseconds,
            "s" => Unit::Seconds,
            "m" => Unit::Minutes,
            "h" => Unit::Hours,
            "d" => Unit::Days,
            _ => return Err(error()),
        };
        let amount = digits.parse().map_err(|_| error())?;
        Ok(Self { amount, unit })
    }

    /// The length of time this duration stands for.
    pub fn as_duration(self) -> Duration {
        // At most 999,999,999 days, which fits easily in u64 milliseconds.
        Duration::from_millis(self.amount * self.unit.millis())
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as `500ms`, `3s`, `1m`, `2h` or `30d`")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        DurationSpec::parse(text).map_err(E::custom)
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A whole number and a unit: `ms`, `s`, `m` (minutes), `h` or `d`, for example `500ms`, `3s`, `1m`, `30d`.",
            "examples": ["500ms", "3s", "1m", "30d"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("3s", Duration::from_secs(3)),
            ("1m", Duration::from_secs(60)),
            ("2h", Duration::from_secs(7_200)),
            ("30d", Duration::from_secs(30 * 86_400)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            let parsed = DurationSpec::parse(text).unwrap();
            assert_eq!(parsed.as_duration(), expected, "{text}");
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn refuses_malformed_durations() {
        for text in [
            "",
            "s",
            "3",
            "3 s",
            "1.5s",
            "-1s",
            "3w",
            "1234567890s",
            "3S",
            "1h30m",
        ] {
            assert!(DurationSpec::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn pattern_agrees_with_the_parser() {
        let pattern = regex_lite_match;
        for text in [
            "500ms",
            "3s",
            "999999999d",
            "1h30m",
            "3",
            "ms",
            "1234567890s",
        ] {
            assert_eq!(pattern(text), DurationSpec::parse(text).is_ok(), "{text}");
        }
    }

    /// A hand-written matcher for `DURATION_PATTERN`, to keep the parser and the
    /// published pattern in step without a regex dependency.
    fn regex_lite_match(text: &str) -> bool {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        (1..=9).contains(&digits) && ["ms", "s", "m", "h", "d"].contains(&&text[digits..])
    }
}
