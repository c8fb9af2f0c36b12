//! `POST /v1.0/$batch`: up to 20 requests in one, each routed, throttled and
//! answered on its own (`status`, `headers`, `body`), `dependsOn` honoured
//! with `424 Failed Dependency` after a failed dependency. The batch itself
//! answers 400 only when it is malformed, else 200.

use serde_json::{Value as Json, json};

use super::State;
use super::answer::Answer;
use super::call::{Call, CallBody};
use super::routes::operate;
use crate::msgraph::batch::MAX_REQUESTS;

/// One request of a batch, as read.
struct Item {
    id: String,
    call: Call,
    depends_on: Vec<String>,
}

/// Answers a batch; `record` is told each item's route and status.
pub(super) fn answer(
    state: &State,
    outer: &Call,
    mut record: impl FnMut(&str, &str, u16),
) -> Answer {
    let rid = state.request_id();
    let items = match read(outer) {
        Ok(items) => items,
        Err(message) => return Answer::error(400, "BadRequest", &message, &rid),
    };
    // One transaction for the batch: Graph's items are independent, and the
    // directory file is written once instead of once per item.
    let mut directory = state.directory();
    if let Err(error) = directory.begin() {
        return super::routes::internal(&rid, &error);
    }
    let mut statuses: Vec<(String, u16)> = Vec::with_capacity(items.len());
    let mut responses = Vec::with_capacity(items.len());
    for item in &items {
        let failed_dependency = item.depends_on.iter().any(|dependency| {
            statuses
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(dependency))
                .is_none_or(|(_, status)| *status >= 400)
        });
        let (route, answer) = if failed_dependency {
            let rid = state.request_id();
            (
                "(dependency failed)",
                Answer::error(
                    424,
                    "FailedDependency",
                    "The request could not be executed because a request it depends on failed.",
                    &rid,
                ),
            )
        } else {
            let routed = operate(state, &item.call, &mut directory);
            (routed.route, routed.answer)
        };
        record(&item.call.method, route, answer.status);
        statuses.push((item.id.clone(), answer.status));
        responses.push(response(&item.id, &answer));
    }
    if let Err(error) = directory.commit() {
        directory.rollback();
        return super::routes::internal(&rid, &error);
    }
    let throttled = statuses.iter().any(|(_, status)| *status == 429);
    let status = if throttled && state.options.faults.throttled_batch_status == 424 {
        424
    } else {
        200
    };
    Answer::json(status, json!({ "responses": responses }))
}

fn response(id: &str, answer: &Answer) -> Json {
    let headers: serde_json::Map<String, Json> = answer
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Json::String(value.clone())))
        .collect();
    let mut object = json!({ "id": id, "status": answer.status, "headers": headers });
    if let Some(body) = answer.body_json() {
        object["body"] = body;
    }
    object
}

/// Reads and checks the batch: SYNTHETIC messages, Graph documents the rules only.
fn read(outer: &Call) -> Result<Vec<Item>, String> {
    let CallBody::Json(body) = &outer.body else {
        return Err("Invalid batch payload format.".to_owned());
    };
    let requests = body
        .get("requests")
        .and_then(Json::as_array)
        .ok_or("Invalid batch payload format: `requests` must be an array.")?;
    if requests.len() > MAX_REQUESTS {
        return Err(format!(
            "Number of requests in a batch must not exceed {MAX_REQUESTS}; this batch has {}.",
            requests.len()
        ));
    }
    let mut items: Vec<Item> = Vec::with_capacity(requests.len());
    for request in requests {
        let item = read_item(outer, request)?;
        if items
            .iter()
            .any(|earlier| earlier.id.eq_ignore_ascii_case(&item.id))
        {
            return Err(format!(
                "Batch request ids must be unique; `{}` repeats.",
                item.id
            ));
        }
        items.push(item);
    }
    for item in &items {
        for dependency in &item.depends_on {
            if !items
                .iter()
                .any(|other| other.id.eq_ignore_ascii_case(dependency))
            {
                return Err(format!(
                    "Request `{}` depends on `{dependency}`, which is not in the batch.",
                    item.id
                ));
            }
        }
    }
    Ok(order_by_dependencies(items))
}

fn read_item(outer: &Call, request: &Json) -> Result<Item, String> {
    let text = |key: &str| request.get(key).and_then(Json::as_str);
    let id = text("id")
        .ok_or("Every batch request needs an `id`.")?
        .to_owned();
    let method = text("method").ok_or_else(|| format!("Request `{id}` needs a `method`."))?;
    let url = text("url").ok_or_else(|| format!("Request `{id}` needs a `url`."))?;
    let headers: Vec<(String, String)> = request
        .get("headers")
        .and_then(Json::as_object)
        .map(|headers| {
            headers
                .iter()
                .filter_map(|(name, value)| {
                    value.as_str().map(|value| (name.clone(), value.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let body = match request.get("body") {
        None | Some(Json::Null) => CallBody::None,
        Some(body) => {
            if !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                return Err(format!(
                    "Request `{id}` has a body but no Content-Type header."
                ));
            }
            CallBody::Json(body.clone())
        }
    };
    let depends_on = request
        .get("dependsOn")
        .and_then(Json::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let relative = url.trim_start_matches('/');
    let path = relative.strip_prefix("v1.0/").unwrap_or(relative);
    Ok(Item {
        call: Call::new(method, &format!("/{path}"), headers, body, &outer.base),
        id,
        depends_on,
    })
}

/// Runs dependencies first; otherwise keeps the order given.
fn order_by_dependencies(mut items: Vec<Item>) -> Vec<Item> {
    let mut ordered: Vec<Item> = Vec::with_capacity(items.len());
    while !items.is_empty() {
        let ready = items.iter().position(|item| {
            item.depends_on.iter().all(|dependency| {
                ordered
                    .iter()
                    .any(|done| done.id.eq_ignore_ascii_case(dependency))
            })
        });
        // A cycle: what is left runs in the order given and fails its dependencies.
        let next = ready.unwrap_or(0);
        ordered.push(items.remove(next));
    }
    ordered
}
