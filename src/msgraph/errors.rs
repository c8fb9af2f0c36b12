//! Microsoft Graph answers to membership writes, read into row outcomes,
//! retries and step failures, and `Retry-After` values read into delays.
//!
//! Graph's directory errors share codes (`Request_BadRequest` means many
//! things), so the message text decides, as every working client does. The
//! texts are the documented ones (see the Graph reference notes of the project).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value as Json;

use crate::directory::outcome::RowOutcome;

/// An error answer from Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl GraphError {
    /// Reads `{"error": {"code", "message"}}`; a body that is not one keeps the status only.
    pub fn from_body(status: u16, body: &Json) -> Self {
        let error = body.get("error");
        let text = |key: &str| {
            error
                .and_then(|e| e.get(key))
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            status,
            code: text("code"),
            message: text("message"),
        }
    }
}

/// Which membership write a Graph answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Add,
    Remove,
}

/// What an error answer means for the row, the batch or the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    /// The row is done with this outcome.
    Row(RowOutcome),
    /// Try again after the delay Graph asked for, or by backoff if it did not say.
    Retry(Option<Duration>),
    /// A group created moments ago is not visible everywhere yet: retry briefly.
    Replicating,
    /// The step cannot go on (permissions, a group Graph cannot change); the
    /// text says what to do.
    Stop(String),
}

const ALREADY_MEMBER: &str = "One or more added object references already exist";
const NOT_A_MEMBER: &str = "One or more removed object references do not exist";
const REPLICATING: &str =
    "The source resource object or one of the objects being referenced don't exist";
const INVALID_ID: &str = "Invalid object identifier";
const UNSUPPORTED_LINK: &str =
    "Unsupported referenced-object resource identifier for link property";
/// What the emulator answers for a change to a dynamic group (Graph documents
/// only that it is refused).
pub const DYNAMIC_MEMBERSHIP: &str = "Members of a group with dynamic membership are set by its rule and cannot be added or removed.";
/// What the emulator answers for a member the group cannot hold.
pub const UNSUPPORTED_MEMBER: &str = "The object cannot be a member of this group";
const MAIL_ENABLED: &str = "Cannot Update a mail-enabled security groups and or distribution list";

/// What a failed add or remove means. `retry_after` is the answer's
/// `Retry-After` header, if it had one.
pub fn meaning(
    write: Write,
    error: &GraphError,
    retry_after: Option<&str>,
    now: Timestamp,
) -> Meaning {
    let message = error.message.as_str();
    match (error.status, write) {
        (429 | 503 | 504, _) => Meaning::Retry(retry_after.and_then(|value| parse_retry_after(value, now))),
        (_, _) if message.contains(MAIL_ENABLED) => Meaning::Stop(
            "Microsoft Graph cannot change the members of a mail-enabled security group or distribution list; manage it in Exchange".to_owned(),
        ),
        (400, _) if message.starts_with(DYNAMIC_MEMBERSHIP) => Meaning::Row(RowOutcome::DynamicMembership),
        (400, Write::Add) if message.starts_with(UNSUPPORTED_MEMBER) => Meaning::Row(RowOutcome::UnsupportedMemberType),
        (400, Write::Add) if message.starts_with(ALREADY_MEMBER) => Meaning::Row(RowOutcome::AlreadyMember),
        (400, Write::Remove) if message.starts_with(NOT_A_MEMBER) => Meaning::Row(RowOutcome::NotMember),
        (400, _) if message.starts_with(REPLICATING) => Meaning::Replicating,
        (400, _) if message.starts_with(INVALID_ID) || message.starts_with(UNSUPPORTED_LINK) => {
            Meaning::Row(RowOutcome::InvalidId)
        }
        (404, Write::Add) => Meaning::Row(RowOutcome::NotFound),
        // Graph answers a missing member, a missing group and "not a member" alike.
        (404, Write::Remove) => Meaning::Row(RowOutcome::NotMember),
        (401, _) => Meaning::Stop(
            "Microsoft Graph did not accept the credentials; check the app registration, its secret or certificate, and admin consent".to_owned(),
        ),
        (403, _) if error.code == "Directory_QuotaExceeded" => Meaning::Stop(format!("a directory quota is reached: {message}")),
        (403, _) => Meaning::Stop(
            "the app lacks a permission: grant GroupMember.ReadWrite.All (and Device.ReadWrite.All for devices, \
             RoleManagement.ReadWrite.Directory for role-assignable groups) as application permissions with admin consent"
                .to_owned(),
        ),
        (status, _) if status >= 500 => Meaning::Retry(retry_after.and_then(|value| parse_retry_after(value, now))),
        (status, _) => Meaning::Stop(format!("Microsoft Graph answered {status} {}: {message}", error.code)),
    }
}

/// Reads `Retry-After`: seconds, possibly fractional (`2.128`), or an HTTP date.
/// A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn error(status: u16, code: &str, message: &str) -> GraphError {
        GraphError::from_body(
            status,
            &json!({"error": {"code": code, "message": message, "innerError": {}}}),
        )
    }

    #[test]
    fn documented_answers_become_row_outcomes() {
        let already = error(
            400,
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        );
        assert_eq!(
            meaning(Write::Add, &already, None, now()),
            Meaning::Row(RowOutcome::AlreadyMember)
        );
        let missing = error(
            404,
            "Request_ResourceNotFound",
            "Resource 'x' does not exist or one of its queried reference-property objects are not present.",
        );
        assert_eq!(
            meaning(Write::Add, &missing, None, now()),
            Meaning::Row(RowOutcome::NotFound)
        );
        assert_eq!(
            meaning(Write::Remove, &missing, None, now()),
            Meaning::Row(RowOutcome::NotMember)
        );
        let removed = error(
            400,
            "Request_BadRequest",
            "One or more removed object references do not exist for the following modified properties: 'members'.",
        );
        assert_eq!(
            meaning(Write::Remove, &removed, None, now()),
            Meaning::Row(RowOutcome::NotMember)
        );
        let invalid = error(
            400,
            "Request_BadRequest",
            "Invalid object identifier 'MyGroup'.",
        );
        assert_eq!(
            meaning(Write::Add, &invalid, None, now()),
            Meaning::Row(RowOutcome::InvalidId)
        );
        let lag = error(
            400,
            "Request_BadRequest",
            "The source resource object or one of the objects being referenced don't exist.",
        );
        assert_eq!(meaning(Write::Add, &lag, None, now()), Meaning::Replicating);
    }

    #[test]
    fn throttling_and_outages_are_retried_with_the_asked_delay() {
        let throttled = error(429, "TooManyRequests", "Please retry again later.");
        assert_eq!(
            meaning(Write::Add, &throttled, Some("2.128"), now()),
            Meaning::Retry(Some(Duration::from_millis(2_128)))
        );
        assert_eq!(
            meaning(Write::Add, &throttled, None, now()),
            Meaning::Retry(None)
        );
        let unavailable = GraphError::from_body(503, &json!("not json error"));
        assert_eq!(
            meaning(Write::Remove, &unavailable, Some("10"), now()),
            Meaning::Retry(Some(Duration::from_secs(10)))
        );
    }

    #[test]
    fn permission_and_group_problems_stop_the_step() {
        let denied = error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
        assert!(
            matches!(meaning(Write::Add, &denied, None, now()), Meaning::Stop(text) if text.contains("GroupMember.ReadWrite.All"))
        );
        let list = error(
            400,
            "Request_BadRequest",
            "Cannot Update a mail-enabled security groups and or distribution list.",
        );
        assert!(
            matches!(meaning(Write::Add, &list, None, now()), Meaning::Stop(text) if text.contains("Exchange"))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after("10", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(" 0.5 ", now()),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
    }
}
