//! Lists as Graph serves them: `$top` within Graph's bounds, `$filter` and
//! `$search` refused where they need advanced query parameters the request
//! did not send, pages in id order (or `$orderby` order) behind an opaque
//! `$skiptoken`, `@odata.count` with `$count=true`, `@odata.context` and
//! `@odata.nextLink` built from the emulator's own address, and `$select`
//! projections.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value as Json, json};

use super::answer::Answer;
use super::call::Call;
use super::odata;
use super::routes::Served;
use super::search::{self, Search};

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

/// What a list request asks for: which objects, and in which order.
#[derive(Debug, Default)]
pub(super) struct Query {
    pub(super) filter: Option<odata::Filter>,
    pub(super) search: Option<Search>,
    /// `$orderby`: the property, and whether descending.
    pub(super) order: Option<(String, bool)>,
}

impl Query {
    /// Whether an object meets the filter and the search.
    pub(super) fn matches(&self, object: &Json) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| odata::matches(filter, object))
            && self
                .search
                .as_ref()
                .is_none_or(|search| search::matches(search, object))
    }

    /// Whether the query narrows the objects at all.
    pub(super) fn narrows(&self) -> bool {
        self.filter.is_some() || self.search.is_some()
    }
}

/// `$filter`, `$search` and `$orderby` of a list request, refused where they
/// need advanced query parameters the request did not send
/// (`always_advanced`: every option does, as on member lists).
pub(super) fn query_of(call: &Call, rid: &str, always_advanced: bool) -> Result<Query, Answer> {
    let search = search_of(call, rid)?;
    let filter = filter_of(call, rid, always_advanced)?;
    let order = match call.option("$orderby") {
        None => None,
        Some(text) => {
            let mut words = text.split_whitespace();
            let property = words.next().unwrap_or_default().to_owned();
            let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(_) => return Err(sorting_unsupported(rid)),
            };
            let entity = call.segments.first().map_or("", String::as_str);
            let by_default = matches!(entity, "groups" | "users")
                && ["displayName", "userPrincipalName"]
                    .iter()
                    .any(|name| name.eq_ignore_ascii_case(&property));
            if (always_advanced || !by_default) && !call.advanced() {
                return Err(sorting_unsupported(rid));
            }
            Some((property, descending))
        }
    };
    Ok(Query {
        filter,
        search,
        order,
    })
}

fn sorting_unsupported(rid: &str) -> Answer {
    Answer::error(
        400,
        "Request_UnsupportedQuery",
        "Sorting not supported for current query.",
        rid,
    )
}

/// `$search`, which needs `ConsistencyLevel: eventual`.
fn search_of(call: &Call, rid: &str) -> Result<Option<Search>, Answer> {
    let Some(text) = call.option("$search") else {
        return Ok(None);
    };
    if !call
        .header("consistencylevel")
        .is_some_and(|value| value.eq_ignore_ascii_case("eventual"))
    {
        return Err(Answer::error(
            400,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            rid,
        ));
    }
    search::parse(text)
        .map(Some)
        .map_err(|error| Answer::error(400, "Request_UnsupportedQuery", &error.to_string(), rid))
}

/// The filter of a list request, refused when it needs advanced query
/// parameters the request did not send.
fn filter_of(
    call: &Call,
    rid: &str,
    always_advanced: bool,
) -> Result<Option<odata::Filter>, Answer> {
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
    let entity = call.segments.first().map_or("", String::as_str);
    if let Some(property) = odata::advanced_property(&filter, entity)
        && !call.advanced()
    {
        let resource = if entity == "devices" {
            "Device"
        } else {
            "Group"
        };
        // The text Graph gives for a property it filters only with advanced
        // query parameters varies; this is its text for such a clause.
        return Err(Answer::error(
            400,
            "Request_UnsupportedQuery",
            &format!(
                "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
            ),
            rid,
        ));
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
    let query = query_of(call, rid, false)?;
    let matching: Vec<&Json> = objects
        .iter()
        .filter(|object| query.matches(object))
        .collect();
    if let Some(order) = &query.order {
        return ordered(call, rid, entity, matching, order);
    }
    let after = skip_token(call, rid)?;
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

/// Pages through objects in `$orderby` order (then id). The `$skiptoken`
/// holds the position of the next object.
pub(super) fn ordered(
    call: &Call,
    rid: &str,
    entity: &str,
    mut matching: Vec<&Json>,
    (property, descending): &(String, bool),
) -> Served {
    let size = page_size(call, rid)?;
    let key = |object: &Json| {
        object
            .get(property.as_str())
            .and_then(Json::as_str)
            .map(str::to_lowercase)
    };
    matching.sort_by(|a, b| {
        let order = key(a).cmp(&key(b));
        let order = if *descending { order.reverse() } else { order };
        order.then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    let token = skip_token(call, rid)?;
    let start = if token.is_empty() {
        0
    } else {
        token
            .strip_prefix("at:")
            .and_then(|at| at.parse::<usize>().ok())
            .ok_or_else(|| expired_token(rid))?
    };
    let total = matching.len();
    let page: Vec<Json> = matching
        .iter()
        .skip(start)
        .take(size)
        .map(|object| project(call, (*object).clone()))
        .collect();
    let next = (start + size < total).then(|| format!("at:{}", start + size));
    let mut body = envelope(
        call,
        entity,
        page,
        None,
        (start == 0 && call.advanced()).then_some(total),
    );
    if let Some(next) = next {
        let token = URL_SAFE_NO_PAD.encode(format!("after:{next}"));
        body["@odata.nextLink"] = Json::String(call.next_link(&token));
    }
    Ok(Answer::json(200, body))
}

fn expired_token(rid: &str) -> Answer {
    Answer::error(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
        rid,
    )
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
        .filter(|after| !after.is_empty())
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
