//! Groups and devices as Graph v1.0 serves them without `$select`: every
//! default property of the resource, in the order of the API reference's
//! examples, null or empty where the local directory keeps no value.
//!
//! SYNTHETIC values, where the local directory has nothing to give:
//! `membershipRuleProcessingState` is `On` for dynamic groups; a group's
//! `renewedDateTime` is its `createdDateTime`; `proxyAddresses` is
//! `SMTP:` and the group's mail; `securityIdentifier` is derived from the
//! object id as Entra derives it (`S-1-12-1-` and the id's four 32-bit
//! little-endian words).

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::call::Call;
use crate::bulkcsv::members::parse_guid;
use crate::directory::local::{LocalDirectory, LocalError};
use crate::directory::model::{Device, Group, MemberType};

/// A group with the default properties of `GET /groups/{id}`.
pub(super) fn group_json(group: &Group) -> Json {
    let created = group.created_date_time.to_string();
    let dynamic = group.is_dynamic();
    let proxy: Vec<String> = group
        .mail
        .iter()
        .map(|mail| format!("SMTP:{mail}"))
        .collect();
    let fields: [(&str, Json); 33] = [
        ("id", json!(group.id)),
        ("deletedDateTime", Json::Null),
        ("classification", Json::Null),
        ("createdDateTime", json!(created)),
        ("description", json!(group.description)),
        ("displayName", json!(group.display_name)),
        ("expirationDateTime", Json::Null),
        ("groupTypes", json!(group.group_types)),
        ("isAssignableToRole", json!(group.is_assignable_to_role)),
        ("mail", json!(group.mail)),
        ("mailEnabled", json!(group.mail_enabled)),
        ("mailNickname", json!(group.mail_nickname)),
        ("membershipRule", json!(group.membership_rule)),
        (
            "membershipRuleProcessingState",
            if dynamic { json!("On") } else { Json::Null },
        ),
        ("onPremisesDomainName", Json::Null),
        ("onPremisesLastSyncDateTime", Json::Null),
        ("onPremisesNetBiosName", Json::Null),
        ("onPremisesSamAccountName", Json::Null),
        ("onPremisesSecurityIdentifier", Json::Null),
        (
            "onPremisesSyncEnabled",
            json!(group.on_premises_sync_enabled),
        ),
        ("preferredDataLocation", Json::Null),
        ("preferredLanguage", Json::Null),
        ("proxyAddresses", json!(proxy)),
        ("renewedDateTime", json!(created)),
        ("resourceBehaviorOptions", json!([])),
        ("resourceProvisioningOptions", json!([])),
        ("securityEnabled", json!(group.security_enabled)),
        ("securityIdentifier", json!(security_identifier(&group.id))),
        ("serviceProvisioningErrors", json!([])),
        ("theme", Json::Null),
        ("uniqueName", Json::Null),
        ("visibility", json!(group.visibility)),
        ("onPremisesProvisioningErrors", json!([])),
    ];
    Json::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `S-1-12-1-` and the object id's four little-endian 32-bit words.
fn security_identifier(id: &str) -> Option<String> {
    let value = parse_guid(id)?;
    let bytes = value.to_be_bytes();
    // The GUID's text is Data1 (4 bytes), Data2 and Data3 (2 each) as
    // numbers, then 8 bytes in order; in memory Data1..3 are little-endian.
    let memory = [
        bytes[3], bytes[2], bytes[1], bytes[0], bytes[5], bytes[4], bytes[7], bytes[6], bytes[8],
        bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ];
    let words: Vec<String> = memory
        .chunks(4)
        .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]).to_string())
        .collect();
    Some(format!("S-1-12-1-{}", words.join("-")))
}

/// A device with the properties of `GET /devices/{id}`, and its extension
/// attributes (number, value).
pub(super) fn device_json(device: &Device, attributes: &[(u8, String)]) -> Json {
    let mut extension = Map::new();
    for number in 1..=15u8 {
        let value = attributes
            .iter()
            .find(|(n, _)| *n == number)
            .map_or(Json::Null, |(_, value)| json!(value));
        extension.insert(format!("extensionAttribute{number}"), value);
    }
    let time = |value: Option<jiff::Timestamp>| value.map(|time| time.to_string());
    let fields: [(&str, Json); 33] = [
        ("id", json!(device.id)),
        ("deletedDateTime", Json::Null),
        ("accountEnabled", json!(device.account_enabled)),
        (
            "approximateLastSignInDateTime",
            json!(time(device.approximate_last_sign_in_date_time)),
        ),
        ("complianceExpirationDateTime", Json::Null),
        ("createdDateTime", Json::Null),
        ("deviceCategory", Json::Null),
        ("deviceId", json!(device.device_id)),
        ("deviceMetadata", Json::Null),
        ("deviceOwnership", Json::Null),
        ("deviceVersion", Json::Null),
        ("displayName", json!(device.display_name)),
        ("domainName", Json::Null),
        ("enrollmentProfileName", Json::Null),
        ("enrollmentType", Json::Null),
        ("externalSourceName", Json::Null),
        ("isCompliant", json!(device.is_compliant)),
        ("isManaged", json!(device.is_managed)),
        ("isRooted", Json::Null),
        ("managementType", Json::Null),
        ("manufacturer", json!(device.manufacturer)),
        ("mdmAppId", Json::Null),
        ("model", json!(device.model)),
        ("onPremisesLastSyncDateTime", Json::Null),
        ("onPremisesSyncEnabled", Json::Null),
        ("operatingSystem", json!(device.operating_system)),
        (
            "operatingSystemVersion",
            json!(device.operating_system_version),
        ),
        ("physicalIds", json!([])),
        ("profileType", json!(device.profile_type)),
        (
            "registrationDateTime",
            json!(time(device.registration_date_time)),
        ),
        ("systemLabels", json!([])),
        ("trustType", json!(device.trust_type)),
        ("extensionAttributes", Json::Object(extension)),
    ];
    let mut object: Map<String, Json> =
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    object.insert("alternativeSecurityIds".to_owned(), json!([]));
    Json::Object(object)
}

/// Every device as [`device_json`] gives it.
pub(super) fn devices_json(
    devices: &[Device],
    attributes: &HashMap<String, Vec<(u8, String)>>,
) -> Vec<Json> {
    devices
        .iter()
        .map(|device| {
            device_json(
                device,
                attributes.get(&device.id).map_or(&[][..], Vec::as_slice),
            )
        })
        .collect()
}

/// The extension attributes of a `PATCH /devices/{id}` body: each
/// `extensionAttributeN` (1 to 15) set to a text or cleared with null; `Err`
/// names what is not one.
pub(super) fn extension_attributes(body: &Json) -> Result<Vec<(u8, Option<String>)>, String> {
    let Some(object) = body.as_object() else {
        return Err("extensionAttributes must be an object".to_owned());
    };
    object
        .iter()
        .map(|(name, value)| {
            let number = name
                .strip_prefix("extensionAttribute")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (1..=15).contains(n))
                .ok_or_else(|| format!("Invalid property '{name}'."))?;
            match value {
                Json::Null => Ok((number, None)),
                Json::String(text) if text.chars().count() <= 1024 => {
                    Ok((number, Some(text.clone())))
                }
                _ => Err(format!(
                    "Invalid value for property '{name}': a string of at most 1024 characters or null."
                )),
            }
        })
        .collect()
}

/// An object of `directoryObjects/getByIds`: its type, then the default
/// properties of its kind.
pub(super) fn directory_object(
    directory: &LocalDirectory,
    call: &Call,
    id: &str,
    kind: MemberType,
) -> Result<Json, LocalError> {
    let properties = match kind {
        MemberType::User => directory
            .user(id)?
            .map(|user| super::users::user_json(call, &user)),
        MemberType::Group => directory.group(id)?.map(|group| group_json(&group)),
        MemberType::Device => match directory.device(id)? {
            Some(device) => Some(device_json(
                &device,
                &directory.extension_attributes_of(id)?,
            )),
            None => None,
        },
        MemberType::ServicePrincipal => directory
            .service_principals()?
            .into_iter()
            .find(|principal| principal.id == id)
            .map(|principal| {
                json!({ "id": principal.id, "appId": principal.app_id, "displayName": principal.display_name })
            }),
        MemberType::OrgContact => None,
    };
    let mut object = Map::new();
    object.insert("@odata.type".to_owned(), json!(kind.odata_type()));
    match properties {
        Some(Json::Object(fields)) => object.extend(fields),
        _ => {
            object.insert("id".to_owned(), json!(id));
        }
    }
    Ok(Json::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_identifiers_are_derived_as_entra_derives_them() {
        // The example of Graph's group resource.
        assert_eq!(
            security_identifier("02bd9fd6-8f93-4758-87c3-1fb73740a315").as_deref(),
            Some("S-1-12-1-45981654-1196986259-3072312199-363020343")
        );
    }
}
