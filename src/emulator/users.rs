//! `GET /users` and `GET /servicePrincipals`: the directory's users and
//! service principals as Graph lists them. A user carries Graph v1.0's
//! default properties (`businessPhones`, `displayName`, `givenName`,
//! `jobTitle`, `mail`, `mobilePhone`, `officeLocation`, `preferredLanguage`,
//! `surname`, `userPrincipalName`, `id`); `$select` may ask for the others the
//! local directory keeps (`userType`, `accountEnabled`, `department`,
//! `createdDateTime`). Without a filter, users are paged straight from the
//! table in id order, so a tenant of any size lists in linear time.

use serde_json::{Map, Value as Json, json};

use super::answer::Answer;
use super::call::Call;
use super::paging::{envelope, list, page_size, project, skip_token};
use super::routes::{Served, internal};
use crate::directory::local::LocalDirectory;
use crate::directory::model::{ServicePrincipal, User};

/// The properties Graph v1.0 returns for a user without `$select`, in its order.
const DEFAULT_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// A user as Graph serves it: the default properties unless `$select` asks
/// for others.
pub(super) fn user_json(call: &Call, user: &User) -> Json {
    let mut object = Map::new();
    for key in DEFAULT_PROPERTIES {
        let value = match key {
            "businessPhones" => json!([]),
            "displayName" => json!(user.display_name),
            "jobTitle" => json!(user.job_title),
            "mail" => json!(user.mail),
            "userPrincipalName" => json!(user.user_principal_name),
            "id" => json!(user.id),
            _ => Json::Null,
        };
        object.insert(key.to_owned(), value);
    }
    if call.option("$select").is_none() {
        return Json::Object(object);
    }
    object.insert("userType".into(), json!(user.user_type));
    object.insert("accountEnabled".into(), json!(user.account_enabled));
    object.insert("department".into(), json!(user.department));
    object.insert(
        "createdDateTime".into(),
        json!(user.created_date_time.to_string()),
    );
    project(call, Json::Object(object))
}

/// `GET /users`.
pub(super) fn users(directory: &LocalDirectory, call: &Call, rid: &str) -> Served {
    if call.option("$filter").is_some() || call.option("$search").is_some() {
        let all = directory
            .users_after("", usize::MAX)
            .map_err(|error| internal(rid, &error))?;
        let objects: Vec<Json> = all.iter().map(|user| user_json(call, user)).collect();
        return list(call, rid, "users", &objects);
    }
    let size = page_size(call, rid)?;
    let after = skip_token(call, rid)?;
    let mut page = directory
        .users_after(&after, size + 1)
        .map_err(|error| internal(rid, &error))?;
    let more = page.len() > size;
    page.truncate(size);
    let next = more.then(|| page.last().map(|user| user.id.clone()).unwrap_or_default());
    let values = page.iter().map(|user| user_json(call, user)).collect();
    let count = if after.is_empty() && call.advanced() {
        Some(
            directory
                .stats()
                .map_err(|error| internal(rid, &error))?
                .users,
        )
    } else {
        None
    };
    Ok(Answer::json(
        200,
        envelope(
            call,
            "users",
            values,
            next.as_deref(),
            count.and_then(|count| usize::try_from(count).ok()),
        ),
    ))
}

/// `GET /servicePrincipals`.
pub(super) fn service_principals(directory: &LocalDirectory, call: &Call, rid: &str) -> Served {
    let principals = directory
        .service_principals()
        .map_err(|error| internal(rid, &error))?;
    let objects: Vec<Json> = principals.iter().map(principal_json).collect();
    list(call, rid, "servicePrincipals", &objects)
}

fn principal_json(principal: &ServicePrincipal) -> Json {
    json!({
        "id": principal.id,
        "appId": principal.app_id,
        "displayName": principal.display_name,
    })
}
