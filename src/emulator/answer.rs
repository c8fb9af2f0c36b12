//! What the emulator answers: a status, headers and a body, with Graph's error
//! bodies (`{"error": {"code", "message", "innerError"}}`) built in one place.

use serde_json::{Value as Json, json};

/// The answer to one request, or to one request of a `$batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// An answer's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Json(Json),
    Text(String),
}

/// The content type Graph gives JSON answers.
pub const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

impl Answer {
    /// `204 No Content`, as every successful write answers.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, body: Json) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), JSON_CONTENT_TYPE.to_owned())],
            body: Body::Json(body),
        }
    }

    /// A plain-text answer (`$count`).
    pub fn text(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
            body: Body::Text(body),
        }
    }

    /// A Graph error answer. `request_id` fills `innerError`.
    pub fn error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        let date = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string();
        Self::json(
            status,
            json!({
                "error": {
                    "code": code,
                    "message": message,
                    "innerError": {
                        "date": date,
                        "request-id": request_id,
                        "client-request-id": request_id,
                    }
                }
            }),
        )
    }

    /// A JSON answer of the identity platform (`application/json`, not
    /// Graph's OData type), never cached, as the token endpoint answers.
    pub fn identity_json(status: u16, body: Json) -> Self {
        Self {
            status,
            headers: vec![
                (
                    "Content-Type".to_owned(),
                    "application/json; charset=utf-8".to_owned(),
                ),
                ("Cache-Control".to_owned(), "no-store, no-cache".to_owned()),
                ("Pragma".to_owned(), "no-cache".to_owned()),
            ],
            body: Body::Json(body),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The body as bytes on the wire.
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Empty => Vec::new(),
            Body::Json(json) => serde_json::to_vec(json).expect("JSON serializes"),
            Body::Text(text) => text.clone().into_bytes(),
        }
    }

    /// The body as a `$batch` response carries it.
    pub fn body_json(&self) -> Option<Json> {
        match &self.body {
            Body::Empty => None,
            Body::Json(json) => Some(json.clone()),
            Body::Text(text) => Some(Json::String(text.clone())),
        }
    }
}

/// The message Graph gives for a missing object (and for "not a member" on removal).
pub fn not_found_message(id: &str) -> String {
    format!(
        "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
    )
}
