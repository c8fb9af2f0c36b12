//! The Graph endpoints bulkops uses, served from the local directory database:
//! groups, members, member references, users, `getByIds` and devices. Each
//! answer follows the Graph reference notes of the project: status codes,
//! error codes and messages, paging and query rules.
//!
//! Choices marked SYNTHETIC are the emulator's own where Graph documents no
//! exact answer.

use serde_json::{Map, Value as Json, json};

use super::State;
use super::answer::{Answer, not_found_message};
use super::call::{Call, CallBody};
use super::quota::{self, Cost};
use crate::bulkcsv::members::{classify, parse_guid};
use crate::directory::local::LocalDirectory;
use crate::directory::model::{Group, Member, MemberType};
// SYNTHETIC texts, shared with the client that reads them.

/// Most members one bind PATCH may add.
pub const MAX_BIND: usize = 20;
/// Most ids one `getByIds` call may carry.
pub const MAX_BY_IDS: usize = 1_000;

/// The route a request took, as counted in `/_emulator/stats`, and its answer.
pub struct Routed {
    pub route: &'static str,
    pub answer: Answer,
}

/// Which endpoint a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Groups,
    Group,
    Members,
    /// `members/microsoft.graph.user`: members of one type.
    MembersCast,
    MembersCount,
    MemberRefs,
    MemberRef,
    Member,
    Users,
    User,
    /// `groups/$count` and `devices/$count`.
    SetCount,
    ServicePrincipals,
    GetByIds,
    Devices,
    Device,
}

impl Route {
    fn template(self) -> &'static str {
        match self {
            Self::Groups => "/groups",
            Self::Group => "/groups/{id}",
            Self::Members => "/groups/{id}/members",
            Self::MembersCast => "/groups/{id}/members/{type}",
            Self::MembersCount => "/groups/{id}/members/$count",
            Self::MemberRefs => "/groups/{id}/members/$ref",
            Self::MemberRef => "/groups/{id}/members/{id}/$ref",
            Self::Member => "/groups/{id}/members/{id}",
            Self::Users => "/users",
            Self::SetCount => "/{set}/$count",
            Self::User => "/users/{id}",
            Self::ServicePrincipals => "/servicePrincipals",
            Self::GetByIds => "/directoryObjects/getByIds",
            Self::Devices => "/devices",
            Self::Device => "/devices/{id}",
        }
    }

    fn of(segments: &[String]) -> Option<Self> {
        let names: Vec<&str> = segments.iter().map(String::as_str).collect();
        Some(match names.as_slice() {
            ["groups" | "devices", "$count"] => Self::SetCount,
            ["groups", _, "members", cast, "$count"] if cast.starts_with("microsoft.graph.") => {
                Self::MembersCount
            }
            ["groups"] => Self::Groups,
            ["groups", _] => Self::Group,
            ["groups", _, "members"] => Self::Members,
            ["groups", _, "members", "$count"] => Self::MembersCount,
            ["groups", _, "members", "$ref"] => Self::MemberRefs,
            ["groups", _, "members", cast] if cast.starts_with("microsoft.graph.") => {
                Self::MembersCast
            }
            ["groups", _, "members", _, "$ref"] => Self::MemberRef,
            ["groups", _, "members", _] => Self::Member,
            ["users"] => Self::Users,
            ["users", _] => Self::User,
            ["servicePrincipals"] => Self::ServicePrincipals,
            [user] if user.starts_with("users(") => Self::User,
            ["directoryObjects", "getByIds"] => Self::GetByIds,
            ["devices"] => Self::Devices,
            ["devices", _] => Self::Device,
            [device] if device.starts_with("devices(") => Self::Device,
            _ => return None,
        })
    }

    fn allows(self, method: &str) -> bool {
        match self {
            Self::Groups
            | Self::Members
            | Self::MembersCast
            | Self::MembersCount
            | Self::Devices
            | Self::Users
            | Self::SetCount
            | Self::User
            | Self::ServicePrincipals => method == "GET",
            Self::Group => matches!(method, "GET" | "PATCH"),
            Self::MemberRefs | Self::GetByIds => method == "POST",
            Self::MemberRef | Self::Member => method == "DELETE",
            Self::Device => matches!(method, "GET" | "PATCH" | "DELETE"),
        }
    }
}

/// Carries out one request (or one request of a batch): route, injected
/// faults, quotas, then the endpoint, on the directory given (locked by the
/// caller; inside a batch, in the batch's transaction).
pub fn operate(state: &State, call: &Call, directory: &mut LocalDirectory) -> Routed {
    let request_id = state.request_id();
    let Some(route) = Route::of(&call.segments) else {
        let segment = call.segments.first().cloned().unwrap_or_default();
        return Routed {
            route: "(unknown)",
            answer: Answer::error(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{segment}'."),
                &request_id,
            ),
        };
    };
    let template = route.template();
    let routed = |answer| Routed {
        route: template,
        answer,
    };
    if !route.allows(&call.method) {
        return routed(Answer::error(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
            &request_id,
        ));
    }
    if let Some(answer) = state.injected_failure(&request_id) {
        return routed(answer);
    }
    let cost = cost_of(state, route, call);
    if let Err(answer) = state.admit(cost, &request_id) {
        return routed(answer);
    }
    let lag = state.options.faults.replication_lag;
    let answer = match serve(directory, route, call, &request_id, lag) {
        Ok(answer) | Err(answer) => answer,
    };
    routed(answer.with_header("x-ms-resource-unit", cost.resource_units.to_string()))
}

fn cost_of(state: &State, route: Route, call: &Call) -> Cost {
    let top = call.option("$top").and_then(|top| top.parse().ok());
    let resource_units = quota::resource_units(
        &call.method,
        route.template(),
        call.option("$select").is_some(),
        top,
    );
    let write = call.method != "GET" && route != Route::GetByIds;
    let binds = match (&call.body, route) {
        (CallBody::Json(body), Route::Group) => body
            .get("members@odata.bind")
            .and_then(Json::as_array)
            .map_or(0, Vec::len),
        _ => 0,
    };
    Cost {
        resource_units,
        writes: match route {
            _ if !write => 0,
            Route::Device => 0,
            Route::Group if binds > 0 => state.options.bind_write_cost.writes(binds),
            _ => 1,
        },
        device_writes: u32::from(write && route == Route::Device),
    }
}

use super::paging::{
    Query, context, envelope, list, ordered, page_size, project, query_of, skip_token, unsupported,
    with_context,
};
use super::writes::{add_reference, patch_group, remove_reference, replicated};

/// An answer, as `Err` when it is an error answer (for `?`).
pub type Served = Result<Answer, Answer>;

fn serve(
    directory: &mut LocalDirectory,
    route: Route,
    call: &Call,
    rid: &str,
    lag: std::time::Duration,
) -> Served {
    let id = call.segments.get(1).map(String::as_str).unwrap_or_default();
    match (route, call.method.as_str()) {
        (Route::Groups, _) => list(call, rid, "groups", &groups_json(directory, rid)?),
        (Route::Group, "GET") => {
            let group = group(directory, id, rid)?;
            Ok(Answer::json(
                200,
                with_context(call, "groups/$entity", project(call, group_json(&group))),
            ))
        }
        (Route::Group, _) => {
            replicated(directory, id, lag, rid)?;
            patch_group(directory, call, id, rid)
        }
        (Route::Members | Route::MembersCast, _) => members(directory, call, id, rid),
        (Route::MembersCount, _) => count_members(directory, call, id, rid),
        (Route::MemberRefs, _) => {
            replicated(directory, id, lag, rid)?;
            add_reference(directory, call, id, rid)
        }
        (Route::MemberRef, _) => {
            replicated(directory, id, lag, rid)?;
            remove_reference(directory, id, &call.segments[3], rid)
        }
        // Without `/$ref` Graph deletes the member object itself when the app
        // may; the emulated app may not (as an app with GroupMember.ReadWrite.All only).
        (Route::Member, _) => Err(Answer::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            rid,
        )),
        (Route::Users, _) => super::users::users(directory, call, rid),
        (Route::SetCount, _) => count_set(directory, call, rid),
        (Route::User, _) => user(directory, call, rid),
        (Route::ServicePrincipals, _) => super::users::service_principals(directory, call, rid),
        (Route::GetByIds, _) => get_by_ids(directory, call, rid),
        (Route::Devices, _) => list(call, rid, "devices", &devices_json(directory, rid)?),
        (Route::Device, method) => device(directory, call, method, rid),
    }
}

/// The answer to a directory failure: another writer holding the database
/// is Graph's "busy, try again" (503 with Retry-After), anything else a 500.
pub(super) fn internal(rid: &str, error: &crate::directory::local::LocalError) -> Answer {
    if is_busy(error) {
        // SYNTHETIC: Graph's text for a busy service varies.
        return Answer::error(
            503,
            "serviceNotAvailable",
            "The service is busy; retry after the time in Retry-After.",
            rid,
        )
        .with_header("Retry-After", "1");
    }
    Answer::error(
        500,
        "InternalServerError",
        &format!("The directory failed: {}", crate::text::chain(error)),
        rid,
    )
}

/// Whether a directory failure is another writer holding the database.
fn is_busy(error: &crate::directory::local::LocalError) -> bool {
    matches!(
        error,
        crate::directory::local::LocalError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
            if matches!(failure.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Graph's answer to a write without a body.
pub(super) fn empty_payload(rid: &str) -> Answer {
    Answer::error(
        400,
        "BadRequest",
        "Empty Payload. JSON content expected.",
        rid,
    )
}

/// A request's JSON body, or Graph's answer to one without.
fn json_body<'a>(call: &'a Call, rid: &str) -> Result<&'a Json, Answer> {
    match &call.body {
        CallBody::Json(body) => Ok(body),
        _ => Err(empty_payload(rid)),
    }
}

pub(super) fn invalid_id(value: &str, rid: &str) -> Answer {
    Answer::error(
        400,
        "Request_BadRequest",
        &format!("Invalid object identifier '{value}'."),
        rid,
    )
}

pub(super) fn not_found(id: &str, rid: &str) -> Answer {
    Answer::error(404, "Request_ResourceNotFound", &not_found_message(id), rid)
}

pub(super) fn group(directory: &LocalDirectory, id: &str, rid: &str) -> Result<Group, Answer> {
    if parse_guid(id).is_none() {
        return Err(invalid_id(id, rid));
    }
    directory
        .group(id)
        .map_err(|error| internal(rid, &error))?
        .ok_or_else(|| not_found(id, rid))
}

fn group_json(group: &Group) -> Json {
    super::objects::group_json(group)
}

fn groups_json(directory: &LocalDirectory, rid: &str) -> Result<Vec<Json>, Answer> {
    let mut groups = directory.groups().map_err(|error| internal(rid, &error))?;
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(groups.iter().map(group_json).collect())
}

fn devices_json(directory: &LocalDirectory, rid: &str) -> Result<Vec<Json>, Answer> {
    let mut devices = directory.devices().map_err(|error| internal(rid, &error))?;
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    let attributes = directory
        .extension_attributes()
        .map_err(|error| internal(rid, &error))?;
    Ok(super::objects::devices_json(&devices, &attributes))
}

fn member_json(member: &Member) -> Json {
    let mut object = Map::new();
    object.insert("@odata.type".into(), json!(member.member_type.odata_type()));
    object.insert("id".into(), json!(member.id));
    object.insert("displayName".into(), json!(member.display_name));
    match member.member_type {
        MemberType::User => {
            object.insert(
                "userPrincipalName".into(),
                json!(member.user_principal_name),
            );
            object.insert("mail".into(), json!(member.mail));
            object.insert("userType".into(), json!(member.user_type));
            object.insert("accountEnabled".into(), json!(member.account_enabled));
            object.insert("department".into(), json!(member.department));
            object.insert("jobTitle".into(), json!(member.job_title));
        }
        MemberType::Group => {
            object.insert("mail".into(), json!(member.mail));
        }
        MemberType::Device => {
            object.insert("accountEnabled".into(), json!(member.account_enabled));
        }
        MemberType::ServicePrincipal | MemberType::OrgContact => {}
    }
    Json::Object(object)
}

/// The member type of an OData cast segment, and the entity set it names.
fn cast_of(
    call: &Call,
    group: &Group,
    rid: &str,
) -> Result<Option<(MemberType, &'static str)>, Answer> {
    let Some(segment) = call.segments.get(3) else {
        return Ok(None);
    };
    let cast = segment.trim_start_matches("microsoft.graph.");
    let found = [
        (MemberType::User, "users"),
        (MemberType::Group, "groups"),
        (MemberType::Device, "devices"),
        (MemberType::ServicePrincipal, "servicePrincipals"),
        (MemberType::OrgContact, "orgContacts"),
    ]
    .into_iter()
    .find(|(kind, _)| kind.key().eq_ignore_ascii_case(cast));
    let Some((kind, entity)) = found else {
        return Err(Answer::error(
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{segment}'."),
            rid,
        ));
    };
    // Microsoft 365 groups hold users only; other casts are refused there.
    if group.is_unified() && kind != MemberType::User {
        return Err(unsupported(rid));
    }
    // A cast with any other query option is an advanced query.
    if !call.query.is_empty() && !call.advanced() {
        return Err(unsupported(rid));
    }
    Ok(Some((kind, entity)))
}

/// Whether a member shows in a member list: of the cast's type, or, without
/// a cast, anything but a service principal (v1.0's member list leaves them
/// out, a known issue; only the type-cast segment lists them).
fn listed(member: &Member, cast: Option<(MemberType, &str)>) -> bool {
    match cast {
        Some((kind, _)) => kind == member.member_type,
        None => member.member_type != MemberType::ServicePrincipal,
    }
}

/// Every member a list shows that meets the query, in id order.
fn all_matching(
    directory: &LocalDirectory,
    id: &str,
    cast: Option<(MemberType, &str)>,
    query: &Query,
    rid: &str,
) -> Result<Vec<Json>, Answer> {
    let mut found = Vec::new();
    let mut cursor = String::new();
    loop {
        let batch = directory
            .member_page(id, &cursor, 1_000)
            .map_err(|error| internal(rid, &error))?;
        let Some(last) = batch.last() else {
            return Ok(found);
        };
        cursor.clone_from(&last.id);
        found.extend(
            batch
                .iter()
                .filter(|member| listed(member, cast))
                .map(member_json)
                .filter(|object| query.matches(object)),
        );
    }
}

fn members(directory: &LocalDirectory, call: &Call, id: &str, rid: &str) -> Served {
    let found = group(directory, id, rid)?;
    let cast = cast_of(call, &found, rid)?;
    let size = page_size(call, rid)?;
    let query = query_of(call, rid, true)?;
    let entity = cast.map_or("directoryObjects", |(_, entity)| entity);
    if let Some(order) = &query.order {
        let all = all_matching(directory, id, cast, &query, rid)?;
        return ordered(call, rid, entity, all.iter().collect(), order);
    }
    let after = skip_token(call, rid)?;
    let mut page = Vec::with_capacity(size);
    let mut cursor = after.clone();
    let mut more = false;
    // Filtered pages read on until they are full or the group ends.
    loop {
        let batch = directory
            .member_page(id, &cursor, size + 1)
            .map_err(|error| internal(rid, &error))?;
        let exhausted = batch.len() <= size;
        for member in batch {
            cursor.clone_from(&member.id);
            if !listed(&member, cast) {
                continue;
            }
            let object = member_json(&member);
            if query.matches(&object) {
                if page.len() == size {
                    more = true;
                    break;
                }
                page.push(project(call, object));
            }
        }
        if more || exhausted {
            break;
        }
    }
    let next = more.then(|| {
        page.last()
            .and_then(|last| last["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    });
    let count = if !after.is_empty() || !call.advanced() {
        None
    } else if query.narrows() || cast.is_some() {
        Some(all_matching(directory, id, cast, &query, rid)?.len())
    } else {
        let count = directory
            .member_count(id)
            .map_err(|error| internal(rid, &error))?;
        Some(usize::try_from(count).unwrap_or(usize::MAX))
    };
    Ok(Answer::json(
        200,
        envelope(call, entity, page, next.as_deref(), count),
    ))
}

/// A `$count` segment needs `ConsistencyLevel: eventual`.
fn refuse_count_without_eventual(call: &Call, rid: &str) -> Result<(), Answer> {
    if call
        .header("consistencylevel")
        .is_some_and(|value| value.eq_ignore_ascii_case("eventual"))
    {
        return Ok(());
    }
    Err(Answer::error(
        400,
        "Request_BadRequest",
        "$count is not currently supported.",
        rid,
    ))
}

/// `groups/{id}/members/$count` and `…/members/microsoft.graph.user/$count`,
/// with `$filter` and `$search` if given.
fn count_members(directory: &LocalDirectory, call: &Call, id: &str, rid: &str) -> Served {
    refuse_count_without_eventual(call, rid)?;
    let found = group(directory, id, rid)?;
    let cast = if call.segments.len() == 5 {
        cast_of(call, &found, rid)?
    } else {
        None
    };
    let query = query_of(call, rid, true)?;
    let count = if query.narrows() || cast.is_some() {
        all_matching(directory, id, cast, &query, rid)?.len() as u64
    } else {
        directory
            .member_count(id)
            .map_err(|error| internal(rid, &error))?
    };
    Ok(Answer::text(200, count.to_string()))
}

/// `groups/$count` and `devices/$count`, with `$filter` and `$search` if given.
fn count_set(directory: &LocalDirectory, call: &Call, rid: &str) -> Served {
    refuse_count_without_eventual(call, rid)?;
    let objects = if call.segments[0] == "groups" {
        groups_json(directory, rid)?
    } else {
        devices_json(directory, rid)?
    };
    let query = query_of(call, rid, false)?;
    let count = objects
        .iter()
        .filter(|object| query.matches(object))
        .count();
    Ok(Answer::text(200, count.to_string()))
}

/// `users/{id | upn}` or `users('{upn}')` (the form UPNs starting with `$` need).
fn user(directory: &LocalDirectory, call: &Call, rid: &str) -> Served {
    let (key, quoted) = match call.segments.as_slice() {
        [_, key] => (key.clone(), false),
        [form] => {
            let inner = form.trim_start_matches("users(").trim_end_matches(')');
            (inner.trim_matches('\'').replace("''", "'"), true)
        }
        _ => unreachable!("the route has one or two segments"),
    };
    if key.starts_with('$') && !quoted {
        // Graph reads `$…` as a system segment; the UPN must be quoted.
        return Err(Answer::error(
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{key}'."),
            rid,
        ));
    }
    let parsed = classify(&key).map_err(|_| not_found(&key, rid))?;
    let found = directory
        .resolve_for_group("", std::slice::from_ref(&parsed))
        .map_err(|error| internal(rid, &error))?
        .into_iter()
        .next()
        .flatten()
        .filter(|(member, _)| member.member_type == MemberType::User);
    let Some((member, _)) = found else {
        return Err(not_found(&key, rid));
    };
    let user = directory
        .user(&member.id)
        .map_err(|error| internal(rid, &error))?
        .ok_or_else(|| not_found(&key, rid))?;
    let entity = match call.option("$select") {
        Some(select) => format!("users({select})/$entity"),
        None => "users/$entity".to_owned(),
    };
    Ok(Answer::json(
        200,
        with_context(call, &entity, super::users::user_json(call, &user)),
    ))
}

fn get_by_ids(directory: &LocalDirectory, call: &Call, rid: &str) -> Served {
    let body = json_body(call, rid)?;
    let ids: Vec<&str> = body
        .get("ids")
        .and_then(Json::as_array)
        .map(|ids| ids.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if ids.len() > MAX_BY_IDS {
        // SYNTHETIC: the documented limit, in the emulator's words.
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            &format!(
                "The ids parameter can have at most {MAX_BY_IDS} values; it has {}.",
                ids.len()
            ),
            rid,
        ));
    }
    if let Some(bad) = ids.iter().find(|id| parse_guid(id).is_none()) {
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            &format!("Invalid GUID:{bad}"),
            rid,
        ));
    }
    let lowered: Vec<String> = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    let lowered: Vec<&str> = lowered.iter().map(String::as_str).collect();
    let types: Vec<String> = body
        .get("types")
        .and_then(Json::as_array)
        .map(|types| {
            types
                .iter()
                .filter_map(Json::as_str)
                .map(|kind| {
                    kind.trim_start_matches("microsoft.graph.")
                        .to_ascii_lowercase()
                })
                .collect()
        })
        .unwrap_or_default();
    let found = directory
        .object_types(&lowered)
        .map_err(|error| internal(rid, &error))?;
    let value: Vec<Json> = lowered
        .iter()
        .zip(found)
        .filter_map(|(id, kind)| kind.map(|kind| (id, kind)))
        .filter(|(_, kind)| {
            types.is_empty()
                || types.iter().any(|wanted| {
                    wanted == "directoryobject" || wanted.eq_ignore_ascii_case(kind.key())
                })
        })
        .map(|(id, kind)| {
            super::objects::directory_object(directory, call, id, kind)
                .map(|object| project(call, object))
        })
        .collect::<Result<_, _>>()
        .map_err(|error| internal(rid, &error))?;
    Ok(Answer::json(
        200,
        json!({ "@odata.context": context(call, "directoryObjects"), "value": value }),
    ))
}

/// `PATCH /devices/{id}`: `accountEnabled` and `extensionAttributes`.
fn patch_device(directory: &mut LocalDirectory, call: &Call, id: &str, rid: &str) -> Served {
    let body = json_body(call, rid)?;
    let fields = body.as_object().cloned().unwrap_or_default();
    if let Some(other) = fields
        .keys()
        .find(|key| !matches!(key.as_str(), "accountEnabled" | "extensionAttributes"))
    {
        // SYNTHETIC: the emulator changes these two properties only.
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            &format!(
                "The emulator changes only accountEnabled and extensionAttributes of a device, not '{other}'."
            ),
            rid,
        ));
    }
    let attributes = fields
        .get("extensionAttributes")
        .map(super::objects::extension_attributes)
        .transpose()
        .map_err(|message| Answer::error(400, "Request_BadRequest", &message, rid))?;
    let enabled = match fields.get("accountEnabled") {
        None => None,
        Some(Json::Bool(enabled)) => Some(*enabled),
        Some(_) => {
            return Err(Answer::error(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'accountEnabled' of resource 'Device'.",
                rid,
            ));
        }
    };
    if let Some(attributes) = attributes {
        directory
            .set_extension_attributes(id, &attributes)
            .map_err(|error| internal(rid, &error))?;
    }
    if let Some(enabled) = enabled {
        directory
            .set_devices_enabled(&[id], enabled)
            .map_err(|error| internal(rid, &error))?;
    }
    Ok(Answer::no_content())
}

/// `devices/{id}` or `devices(deviceId='{deviceId}')`.
fn device(directory: &mut LocalDirectory, call: &Call, method: &str, rid: &str) -> Served {
    let (key, by_device_id) = match call.segments.as_slice() {
        [_, id] => (id.to_ascii_lowercase(), false),
        [form] => {
            let inner = form.trim_start_matches("devices(").trim_end_matches(')');
            let value = inner.split_once('=').map_or(inner, |(_, value)| value);
            (value.trim_matches('\'').to_ascii_lowercase(), true)
        }
        _ => unreachable!("the route has one or two segments"),
    };
    if parse_guid(&key).is_none() {
        return Err(invalid_id(&key, rid));
    }
    let found = directory
        .device(&key)
        .map_err(|error| internal(rid, &error))?
        .filter(|device| {
            if by_device_id {
                device.device_id == key
            } else {
                device.id == key
            }
        })
        .ok_or_else(|| not_found(&key, rid))?;
    match method {
        "GET" => {
            let attributes = directory
                .extension_attributes_of(&found.id)
                .map_err(|error| internal(rid, &error))?;
            let object = super::objects::device_json(&found, &attributes);
            Ok(Answer::json(
                200,
                with_context(call, "devices/$entity", project(call, object)),
            ))
        }
        "PATCH" => patch_device(directory, call, &found.id, rid),
        _ => {
            directory
                .delete_devices(&[found.id.as_str()])
                .map_err(|error| internal(rid, &error))?;
            Ok(Answer::no_content())
        }
    }
}
