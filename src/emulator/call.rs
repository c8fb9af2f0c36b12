//! One request to the emulated Graph: from the wire or from inside a `$batch`,
//! read into the same shape so both take the same path.

use serde_json::Value as Json;

use crate::msgraph::url;

/// A request, decoded.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Path segments after `/v1.0`, decoded; empty segments (`/v1.0//groups`) dropped.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: CallBody,
    /// `http://host:port`, for links in answers.
    pub base: String,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum CallBody {
    None,
    Json(Json),
    /// Not JSON: the text of the parse error.
    Malformed(String),
}

impl CallBody {
    /// Reads a body from bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Self::None;
        }
        serde_json::from_slice(bytes)
            .map_or_else(|error| Self::Malformed(error.to_string()), Self::Json)
    }
}

impl Call {
    /// A call from a path with query string, relative to the service root
    /// (`/v1.0/groups?$top=5` or, inside a batch, `groups?$top=5`).
    pub fn new(
        method: &str,
        path_and_query: &str,
        headers: Vec<(String, String)>,
        body: CallBody,
        base: &str,
    ) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut segments: Vec<String> = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| url::decode(segment, false))
            .collect();
        if segments.first().is_some_and(|first| first == "v1.0") {
            segments.remove(0);
        }
        Self {
            method: method.to_ascii_uppercase(),
            segments,
            query: url::query_pairs(query),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
            body,
            base: base.to_owned(),
        }
    }

    /// A query option (`$top`, also written `top` or `%24top`).
    pub fn option(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('$');
        self.query
            .iter()
            .find(|(key, _)| key.trim_start_matches('$').eq_ignore_ascii_case(bare))
            .map(|(_, value)| value.as_str())
    }

    /// A header, by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the request asks for advanced queries: `ConsistencyLevel: eventual` and `$count=true`.
    pub fn advanced(&self) -> bool {
        self.header("consistencylevel")
            .is_some_and(|value| value.eq_ignore_ascii_case("eventual"))
            && self.counted()
    }

    /// Whether `$count=true` was asked for.
    pub fn counted(&self) -> bool {
        self.option("$count")
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }

    /// The query string for a next page: every option but the old `$skiptoken`, then the new one.
    pub fn next_link(&self, token: &str) -> String {
        let mut query: Vec<String> = self
            .query
            .iter()
            .filter(|(key, _)| {
                !key.trim_start_matches('$')
                    .eq_ignore_ascii_case("skiptoken")
            })
            .map(|(key, value)| format!("{}={}", url::encode(key), url::encode(value)))
            .collect();
        query.push(format!("$skiptoken={token}"));
        let path: Vec<String> = self
            .segments
            .iter()
            .map(|segment| url::encode(segment))
            .collect();
        format!("{}/v1.0/{}?{}", self.base, path.join("/"), query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_as_sdks_send_them() {
        let call = Call::new(
            "get",
            "/v1.0//users/AdeleV_adatum.com%23EXT%23@contoso.com?%24select=id",
            vec![("ConsistencyLevel".into(), "eventual".into())],
            CallBody::None,
            "http://127.0.0.1:1",
        );
        assert_eq!(
            call.segments,
            ["users", "AdeleV_adatum.com#EXT#@contoso.com"]
        );
        assert_eq!(call.option("$select"), Some("id"));
        assert_eq!(call.header("consistencyLevel"), Some("eventual"));
        assert!(!call.advanced());
    }

    #[test]
    fn next_links_carry_every_option() {
        let call = Call::new(
            "GET",
            "/v1.0/groups?$filter=startswith(displayName,'a b')&$top=2&$skiptoken=old",
            Vec::new(),
            CallBody::None,
            "http://h",
        );
        assert_eq!(
            call.next_link("new"),
            "http://h/v1.0/groups?$filter=startswith(displayName,'a%20b')&$top=2&$skiptoken=new"
        );
    }
}
