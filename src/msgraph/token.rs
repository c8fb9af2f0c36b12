//! Access tokens from the client-credentials flow: the token endpoint's answer
//! read, and kept until shortly before it expires so that no request goes out
//! with a token about to lapse. The token is never printed: its `Debug` hides it.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// How long before expiry a token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A bearer token and when it stops being usable, as an offset from the
/// moment the client started (the caller's clock).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: String,
    usable_until: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<hidden>")
            .field("usable_until", &self.usable_until)
            .finish()
    }
}

impl AccessToken {
    /// The value for `Authorization: Bearer …`.
    pub fn bearer(&self) -> &str {
        &self.secret
    }
}

/// The token endpoint's success answer.
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    token_type: String,
    expires_in: u64,
    access_token: String,
}

/// The token endpoint's error answer.
#[derive(Debug, Deserialize)]
struct TokenFailure {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the sign-in was refused: {error}: {description}")]
    Refused { error: String, description: String },
    #[error("the token endpoint answered something unexpected: {0}")]
    Unexpected(String),
    #[error("cannot reach the token endpoint: {0}")]
    Unreachable(String),
}

/// Reads the token endpoint's answer body received at `now`.
pub fn read_answer(body: &[u8], now: Duration) -> Result<AccessToken, TokenError> {
    if let Ok(answer) = serde_json::from_slice::<TokenAnswer>(body) {
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::Unexpected(format!(
                "token type `{}`",
                answer.token_type
            )));
        }
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(REFRESH_MARGIN);
        return Ok(AccessToken {
            secret: answer.access_token,
            usable_until: now + lifetime,
        });
    }
    match serde_json::from_slice::<TokenFailure>(body) {
        Ok(failure) => Err(TokenError::Refused {
            error: failure.error,
            description: failure.error_description,
        }),
        Err(error) => Err(TokenError::Unexpected(error.to_string())),
    }
}

/// The current token, if any, and whether it must be replaced.
#[derive(Debug, Default)]
pub struct TokenCache {
    token: Option<AccessToken>,
}

impl TokenCache {
    /// The token to use at `now`, or `None` when a new one is needed.
    pub fn current(&self, now: Duration) -> Option<&AccessToken> {
        self.token.as_ref().filter(|token| now < token.usable_until)
    }

    /// Keeps a new token.
    pub fn store(&mut self, token: AccessToken) {
        self.token = Some(token);
    }

    /// Forgets the token, after Graph answered 401 to it.
    pub fn clear(&mut self) {
        self.token = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_replaced_five_minutes_before_they_expire() {
        let body = br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi.secret"}"#;
        let token = read_answer(body, Duration::from_secs(100)).unwrap();
        assert_eq!(token.bearer(), "eyJ0eXAi.secret");
        let mut cache = TokenCache::default();
        cache.store(token);
        assert!(cache.current(Duration::from_secs(100 + 3_298)).is_some());
        assert!(cache.current(Duration::from_secs(100 + 3_299)).is_none());
        cache.clear();
        assert!(cache.current(Duration::from_secs(101)).is_none());
    }

    #[test]
    fn refusals_are_explained_and_tokens_never_printed() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#;
        assert_eq!(
            read_answer(body, Duration::ZERO).unwrap_err().to_string(),
            "the sign-in was refused: invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        let token = read_answer(
            br#"{"token_type":"Bearer","expires_in":3599,"access_token":"topsecret"}"#,
            Duration::ZERO,
        )
        .unwrap();
        assert!(!format!("{token:?}").contains("topsecret"));
        assert!(matches!(
            read_answer(b"<html>", Duration::ZERO),
            Err(TokenError::Unexpected(_))
        ));
    }
}
