//! JSON batching: up to 20 Graph requests in one `POST /$batch`, and their
//! answers matched back by id (Graph may answer in any order).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The most requests one batch may carry.
pub const MAX_REQUESTS: usize = 20;

/// One request inside a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    pub id: String,
    pub method: &'static str,
    /// Relative to the Graph version root, e.g. `/groups/{id}`.
    pub url: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub headers: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Json>,
}

impl BatchRequest {
    /// A request without a body.
    pub fn new(id: impl Into<String>, method: &'static str, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            method,
            url: url.into(),
            headers: HashMap::new(),
            body: None,
        }
    }

    /// A request with a JSON body (which needs its content type inside the batch).
    pub fn with_body(
        id: impl Into<String>,
        method: &'static str,
        url: impl Into<String>,
        body: Json,
    ) -> Self {
        let headers = HashMap::from([("Content-Type".to_owned(), "application/json".to_owned())]);
        Self {
            id: id.into(),
            method,
            url: url.into(),
            headers,
            body: Some(body),
        }
    }
}

/// The body of `POST /$batch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    pub requests: Vec<BatchRequest>,
}

/// One answer inside a batch response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    #[serde(default)]
    pub body: Option<Json>,
    /// Whether the `$batch` carrying it was sent again after an attempt whose
    /// answer was lost.
    #[serde(skip)]
    pub resent: bool,
}

impl BatchResponse {
    /// A header of the answer, found without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Deserialize)]
struct BatchAnswer {
    responses: Vec<BatchResponse>,
}

/// Why a batch answer cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("the batch answer is not valid JSON of the expected shape: {0}")]
    Shape(String),
    #[error("the batch answer has no answer for request `{0}`")]
    Missing(String),
}

/// Splits requests into batches of at most [`MAX_REQUESTS`].
pub fn batches(requests: Vec<BatchRequest>) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        batches.push(Batch {
            requests: requests.by_ref().take(MAX_REQUESTS).collect(),
        });
    }
    batches
}

/// The answers of a batch, in the order of its requests.
pub fn answers(batch: &Batch, body: &[u8]) -> Result<Vec<BatchResponse>, BatchError> {
    let answer: BatchAnswer =
        serde_json::from_slice(body).map_err(|error| BatchError::Shape(error.to_string()))?;
    let mut by_id: HashMap<String, BatchResponse> = answer
        .responses
        .into_iter()
        .map(|response| (response.id.to_ascii_lowercase(), response))
        .collect();
    batch
        .requests
        .iter()
        .map(|request| {
            by_id
                .remove(&request.id.to_ascii_lowercase())
                .ok_or_else(|| BatchError::Missing(request.id.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_serialize_as_graph_expects() {
        let bind =
            json!({"members@odata.bind": ["https://graph.microsoft.com/v1.0/directoryObjects/1"]});
        let batch = Batch {
            requests: vec![
                BatchRequest::with_body("1", "PATCH", "/groups/g1", bind.clone()),
                BatchRequest::new("2", "DELETE", "/groups/g1/members/m1/$ref"),
            ],
        };
        assert_eq!(
            serde_json::to_value(&batch).unwrap(),
            json!({"requests": [
                {"id": "1", "method": "PATCH", "url": "/groups/g1", "headers": {"Content-Type": "application/json"}, "body": bind},
                {"id": "2", "method": "DELETE", "url": "/groups/g1/members/m1/$ref"}
            ]})
        );
    }

    #[test]
    fn splits_into_batches_of_twenty() {
        let requests: Vec<BatchRequest> = (0..45)
            .map(|i| BatchRequest::new(i.to_string(), "GET", "/users"))
            .collect();
        let sizes: Vec<usize> = batches(requests)
            .iter()
            .map(|batch| batch.requests.len())
            .collect();
        assert_eq!(sizes, [20, 20, 5]);
    }

    #[test]
    fn answers_come_back_in_request_order_with_their_headers() {
        let batch = Batch {
            requests: vec![
                BatchRequest::new("a", "GET", "/x"),
                BatchRequest::new("b", "GET", "/y"),
            ],
        };
        let body = json!({"responses": [
            {"id": "b", "status": 429, "headers": {"retry-after": "2.5"}, "body": {"error": {"code": "TooManyRequests"}}},
            {"id": "A", "status": 204}
        ]});
        let answers = answers(&batch, body.to_string().as_bytes()).unwrap();
        assert_eq!((answers[0].status, answers[1].status), (204, 429));
        assert_eq!(answers[1].header("Retry-After"), Some("2.5"));
        let partial = json!({"responses": [{"id": "a", "status": 204}]});
        assert_eq!(
            answers_missing(&batch, &partial),
            BatchError::Missing("b".into())
        );
    }

    fn answers_missing(batch: &Batch, body: &Json) -> BatchError {
        answers(batch, body.to_string().as_bytes()).unwrap_err()
    }
}
