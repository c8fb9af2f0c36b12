//! The emulator's writes: member references added (one by `POST …/$ref`, up
//! to twenty by a bind `PATCH`, all or nothing) and removed, refused as Graph
//! refuses them: groups not yet replicated, groups Graph cannot change,
//! members already there, member types the group cannot take.

use serde_json::Value as Json;

use super::answer::Answer;
use super::call::{Call, CallBody};
use super::routes::{MAX_BIND, Served, group, internal, invalid_id, not_found};
use crate::bulkcsv::members::{MemberKey, parse_guid};
use crate::directory::local::LocalDirectory;
use crate::directory::model::Group;
// SYNTHETIC texts, shared with the client that reads them.
use crate::msgraph::errors::{DYNAMIC_MEMBERSHIP, UNSUPPORTED_MEMBER};

const MAIL_ENABLED_MESSAGE: &str =
    "Cannot Update a mail-enabled security groups and or distribution list.";
const ALREADY_MEMBER_MESSAGE: &str = "One or more added object references already exist for the following modified properties: 'members'.";

/// Refuses writes to a group created less than `lag` ago, as Graph does
/// before a new group has replicated (`--replication-lag`; the code is
/// SYNTHETIC, Graph documents only the message).
pub(super) fn replicated(
    directory: &LocalDirectory,
    id: &str,
    lag: std::time::Duration,
    rid: &str,
) -> Result<(), Answer> {
    if lag.is_zero() || parse_guid(id).is_none() {
        return Ok(());
    }
    let Some(found) = directory.group(id).map_err(|error| internal(rid, &error))? else {
        return Ok(());
    };
    let age = jiff::Timestamp::now().duration_since(found.created_date_time);
    if age.is_negative() || std::time::Duration::try_from(age).is_ok_and(|age| age < lag) {
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            "The source resource object or one of the objects being referenced don't exist.",
            rid,
        ));
    }
    Ok(())
}

/// A group whose members Graph lets the app change.
pub(super) fn writable_group(
    directory: &LocalDirectory,
    id: &str,
    rid: &str,
) -> Result<Group, Answer> {
    let group = group(directory, id, rid)?;
    if !group.is_manageable() {
        // The text third-party clients see; the documentation says 403.
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            MAIL_ENABLED_MESSAGE,
            rid,
        ));
    }
    if group.is_dynamic() {
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            DYNAMIC_MEMBERSHIP,
            rid,
        ));
    }
    Ok(group)
}

/// The object id at the end of a bind or `@odata.id` URL, with any host and
/// empty segments: `https://graph.microsoft.com/v1.0//directoryObjects/{id}`.
pub(super) fn bound_id(reference: &str) -> Option<String> {
    let path = reference.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    match segments.as_slice() {
        [.., kind, id]
            if matches!(
                kind.to_ascii_lowercase().as_str(),
                "directoryobjects"
                    | "users"
                    | "groups"
                    | "devices"
                    | "serviceprincipals"
                    | "serviceprincipal"
                    | "orgcontact"
                    | "contacts"
            ) =>
        {
            Some((*id).to_ascii_lowercase())
        }
        _ => None,
    }
}

pub(super) fn patch_group(
    directory: &mut LocalDirectory,
    call: &Call,
    id: &str,
    rid: &str,
) -> Served {
    let body = match &call.body {
        CallBody::None => return Err(super::routes::empty_payload(rid)),
        CallBody::Malformed(error) => {
            return Err(Answer::error(
                400,
                "BadRequest",
                &format!("Unable to read JSON request payload: {error}"),
                rid,
            ));
        }
        CallBody::Json(body) => body,
    };
    let Some(binds) = body.get("members@odata.bind") else {
        // SYNTHETIC: the emulator changes memberships only.
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            "The emulator changes only members@odata.bind of a group.",
            rid,
        ));
    };
    let references: Vec<&str> = binds
        .as_array()
        .map(|items| items.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if references.len() > MAX_BIND {
        // SYNTHETIC: Graph documents the limit of 20, not the text.
        return Err(Answer::error(
            400,
            "Request_BadRequest",
            &format!(
                "A request can add at most {MAX_BIND} members with members@odata.bind; this one has {}.",
                references.len()
            ),
            rid,
        ));
    }
    add(directory, id, &references, rid)
}

pub(super) fn add_reference(
    directory: &mut LocalDirectory,
    call: &Call,
    id: &str,
    rid: &str,
) -> Served {
    let reference = match &call.body {
        CallBody::Json(body) => body
            .get("@odata.id")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    if reference.is_empty() {
        return Err(super::routes::empty_payload(rid));
    }
    add(directory, id, &[reference.as_str()], rid)
}

/// Adds members, all or nothing, as a bind PATCH does.
pub(super) fn add(
    directory: &mut LocalDirectory,
    group_id: &str,
    references: &[&str],
    rid: &str,
) -> Served {
    let group = writable_group(directory, group_id, rid)?;
    let mut keys = Vec::with_capacity(references.len());
    for reference in references {
        let id = bound_id(reference).filter(|id| parse_guid(id).is_some());
        let Some(id) = id else {
            return Err(invalid_id(reference, rid));
        };
        keys.push(MemberKey::ObjectId(id));
    }
    let found = directory
        .resolve_for_group(&group.id, &keys)
        .map_err(|error| internal(rid, &error))?;
    let mut members = Vec::with_capacity(keys.len());
    let mut seen = std::collections::HashSet::new();
    for (key, found) in keys.iter().zip(found) {
        let Some((member, is_member)) = found else {
            return Err(not_found(key.as_str(), rid));
        };
        if is_member || !seen.insert(member.id.clone()) {
            return Err(Answer::error(
                400,
                "Request_BadRequest",
                ALREADY_MEMBER_MESSAGE,
                rid,
            ));
        }
        if !group.accepts(&member) {
            return Err(Answer::error(
                400,
                "Request_BadRequest",
                &format!("{UNSUPPORTED_MEMBER}: '{}'.", member.id),
                rid,
            ));
        }
        members.push(member);
    }
    directory
        .add_members(&group, &members)
        .map_err(|error| internal(rid, &error))?;
    Ok(Answer::no_content())
}

pub(super) fn remove_reference(
    directory: &mut LocalDirectory,
    group_id: &str,
    member_id: &str,
    rid: &str,
) -> Served {
    let group = writable_group(directory, group_id, rid)?;
    let member_id = member_id.to_ascii_lowercase();
    if parse_guid(&member_id).is_none() {
        return Err(Answer::error(
            400,
            "Request_UnsupportedQuery",
            "Unsupported referenced-object resource identifier for link property 'members'.",
            rid,
        ));
    }
    if !directory
        .is_member(&group.id, &member_id)
        .map_err(|error| internal(rid, &error))?
    {
        return Err(not_found(&member_id, rid));
    }
    let outcome = directory
        .remove_members(&group, &[member_id.as_str()])
        .map_err(|error| internal(rid, &error))?;
    debug_assert_eq!(outcome.len(), 1);
    Ok(Answer::no_content())
}
