//! Lists as Graph serves them: `$top` within Graph's bounds, `$filter`
//! refused where it needs advanced query parameters the request did not
//! send, pages in id order behind an opaque `$skiptoken`, `@odata.context`
//! and `@odata.nextLink` built from the emulator's own address, and
//! `$select` projections.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value as Json, json};

use super::answer::Answer;
use super::call::Call;
use super::odata;
use super::routes::Served;

/// Page sizes Graph accepts.
const MAX_TOP: usize = 999;
const DEFAULT_TOP: usize = 100;

/// `$top` as Graph checks it.
pub(super) fn page_size(call: &Call, rid: &str) -> Result<usize, Answer> {
    let Some(top) = call.option("$top") else {
        return Ok(DEFAULT_TOP);
    };
    match top.parse::<usize>() {
        Ok(size) if (1..=MAX_TOP).contains(&size) => Ok(size),
        _ => Err(Answer::error(
            400,
            "Request_UnsupportedQuery",
            &format!("Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."),
            rid,
        )),
    }
}

/// The filter of a list request, refused when it needs advanced query
/// parameters the request did not send.
pub(super) fn filter_of(
    call: &Call,
    rid: &str,
    always_advanced: bool,
) -> Result<Option<odata::Filter>, Answer> {
    if call.option("$search").is_some() {
        return Err(if call.header("consistencylevel").is_none() {
            Answer::error(
                400,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                rid,
            )
        } else {
            // SYNTHETIC: the emulator has no search index.
            Answer::error(
                400,
                "Request_UnsupportedQuery",
                "The emulator does not support $search.",
                rid,
            )
        });
    }
    let advanced_needed = call.option("$orderby").is_some() && call.option("$filter").is_some();
    let Some(text) = call.option("$filter") else {
        return if advanced_needed && !call.advanced() {
            Err(unsupported(rid))
        } else {
            Ok(None)
        };
    };
    let filter = odata::parse(text)
        .map_err(|error| Answer::error(400, "BadRequest", &error.to_string(), rid))?;
    if (always_advanced || advanced_needed || odata::is_advanced(&filter)) && !call.advanced() {
        return Err(unsupported(rid));
    }
    Ok(Some(filter))
}

pub(super) fn unsupported(rid: &str) -> Answer {
    Answer::error(400, "Request_UnsupportedQuery", "Unsupported Query.", rid)
}

/// Pages through objects in id order. The `$skiptoken` is opaque to clients:
/// the id of the last object served, encoded.
pub(super) fn list(call: &Call, rid: &str, entity: &str, objects: &[Json]) -> Served {
    let size = page_size(call, rid)?;
    let filter = filter_of(call, rid, false)?;
    let after = skip_token(call, rid)?;
    let matching: Vec<&Json> = objects
        .iter()
        .filter(|object| {
            filter
                .as_ref()
                .is_none_or(|filter| odata::matches(filter, object))
        })
        .collect();
    let total = matching.len();
    let rest: Vec<&Json> = matching
        .into_iter()
        .filter(|object| object["id"].as_str().unwrap_or_default() > after.as_str())
        .collect();
    let page: Vec<Json> = rest
        .iter()
        .take(size)
        .map(|object| project(call, (*object).clone()))
        .collect();
    let next = (rest.len() > size).then(|| {
        page.last()
            .and_then(|last| last["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    });
    Ok(Answer::json(
        200,
        envelope(
            call,
            entity,
            page,
            next.as_deref(),
            (after.is_empty() && call.advanced()).then_some(total),
        ),
    ))
}

pub(super) fn skip_token(call: &Call, rid: &str) -> Result<String, Answer> {
    let Some(token) = call.option("$skiptoken") else {
        return Ok(String::new());
    };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("after:").map(str::to_owned))
        .ok_or_else(|| {
            Answer::error(
                400,
                "Directory_ExpiredPageToken",
                "The specified page token value has expired and can no longer be included in your request.",
                rid,
            )
        })
}

pub(super) fn envelope(
    call: &Call,
    entity: &str,
    page: Vec<Json>,
    next_after: Option<&str>,
    count: Option<usize>,
) -> Json {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Json::String(context(call, entity)));
    if let Some(count) = count {
        body.insert("@odata.count".into(), json!(count));
    }
    if let Some(after) = next_after {
        let token = URL_SAFE_NO_PAD.encode(format!("after:{after}"));
        body.insert(
            "@odata.nextLink".into(),
            Json::String(call.next_link(&token)),
        );
    }
    body.insert("value".into(), Json::Array(page));
    Json::Object(body)
}

pub(super) fn context(call: &Call, entity: &str) -> String {
    match call.option("$select") {
        Some(select) if !entity.contains('/') => {
            format!("{}/v1.0/$metadata#{entity}({select})", call.base)
        }
        _ => format!("{}/v1.0/$metadata#{entity}", call.base),
    }
}

pub(super) fn with_context(call: &Call, entity: &str, object: Json) -> Json {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Json::String(context(call, entity)));
    if let Json::Object(fields) = object {
        body.extend(fields);
    }
    Json::Object(body)
}

/// Keeps the `$select`ed properties (and `@odata.type`, and `id`).
pub(super) fn project(call: &Call, object: Json) -> Json {
    let Some(select) = call.option("$select") else {
        return object;
    };
    let wanted: Vec<&str> = select.split(',').map(str::trim).collect();
    match object {
        Json::Object(fields) => Json::Object(
            fields
                .into_iter()
                .filter(|(key, _)| {
                    key == "id"
                        || key == "@odata.type"
                        || wanted.iter().any(|want| want.eq_ignore_ascii_case(key))
                })
                .collect(),
        ),
        other => other,
    }
}
