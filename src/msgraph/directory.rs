//! The directory over Microsoft Graph v1.0: what steps need, in as few
//! requests and writes as Graph allows. Ids resolve with `getByIds` (1,000
//! per call) and user principal names with batched `GET /users/{upn}`; the
//! group's current members are read once (`$select=id`, `$top=999`) so
//! no-ops cost no writes; adds go as `$batch`es of 20 bind `PATCH`es of 20
//! members (400 members per HTTP request), and a failing PATCH (all or
//! nothing) is split to isolate the row at fault; removals go as batched
//! `DELETE …/members/{id}/$ref`, never without `/$ref`.
//!
//! Lists come back in the same order as from the local directory, so
//! downloads and result files are the same whichever directory ran them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt as _;
use serde_json::{Value as Json, json};

use super::batch::{BatchRequest, BatchResponse};
use super::client::{ClientError, GraphClient, Request, WriteKind};
use super::errors::{GraphError, Meaning, Write, meaning};
use super::query::{self, DEVICE_SELECT, GROUP_SELECT};
use super::url::encode;
use crate::bulkcsv::members::MemberKey;
use crate::directory::local::ResolvedMember;
use crate::directory::model::{Device, Group, Member, MemberType};
use crate::directory::outcome::RowOutcome;
use crate::directory::{Directory, DirectoryError, MemberVisitor};
use crate::manifest::filter::{FilterDevicesSpec, FilterGroupsSpec};
use crate::manifest::target::GroupTargetSpec;

/// Members per bind PATCH.
const BIND_MAX: usize = 20;
/// Ids per `getByIds` call.
const BY_IDS_MAX: usize = 1_000;
/// Rounds of retries for a group Graph has not replicated yet.
const REPLICATION_ROUNDS: u32 = 6;
/// The member properties downloads show.
const MEMBER_SELECT: &str =
    "id,displayName,userPrincipalName,mail,userType,accountEnabled,department,jobTitle";

/// Microsoft Graph as a directory.
#[derive(Clone)]
pub struct GraphDirectory {
    client: Arc<GraphClient>,
    /// Direct member ids of the groups changed in this run, read once.
    members: Arc<Mutex<HashMap<String, HashSet<String>>>>,
}

impl From<ClientError> for DirectoryError {
    fn from(error: ClientError) -> Self {
        if error.is_transient() {
            DirectoryError::Transient {
                message: error.to_string(),
            }
        } else {
            DirectoryError::Graph {
                message: error.to_string(),
            }
        }
    }
}

fn unexpected(what: &str, error: &impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Graph {
        message: format!("Microsoft Graph sent {what} bulkops cannot read: {error}"),
    }
}

/// A lowercase key for ordering as SQLite's NOCASE does.
fn nocase(text: &str) -> String {
    text.to_ascii_lowercase()
}

fn member_type(odata_type: &str) -> MemberType {
    MemberType::ALL
        .into_iter()
        .find(|kind| kind.odata_type().eq_ignore_ascii_case(odata_type))
        .unwrap_or(MemberType::OrgContact)
}

fn member_of(item: &Json) -> Member {
    let text = |key: &str| item.get(key).and_then(Json::as_str).map(str::to_owned);
    let member_type = member_type(
        item.get("@odata.type")
            .and_then(Json::as_str)
            .unwrap_or_default(),
    );
    Member {
        id: text("id").unwrap_or_default(),
        member_type,
        display_name: text("displayName").unwrap_or_default(),
        user_principal_name: text("userPrincipalName"),
        mail: text("mail"),
        user_type: text("userType"),
        account_enabled: item.get("accountEnabled").and_then(Json::as_bool),
        department: text("department"),
        job_title: text("jobTitle"),
    }
}

impl GraphDirectory {
    /// A directory over a client.
    pub fn new(client: GraphClient) -> Self {
        Self {
            client: Arc::new(client),
            members: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The client, for its counters.
    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        select: &str,
        filter: Option<&str>,
    ) -> Result<Vec<T>, DirectoryError> {
        let mut request = Request::get(format!("{path}?$select={select}&$top=999"));
        if let Some(filter) = filter {
            request.url.push_str("&$filter=");
            request.url.push_str(&encode(filter));
            if advanced(filter) {
                request.url.push_str("&$count=true");
                request = request.eventual();
            }
        }
        let mut items = Vec::new();
        self.client
            .collect(request, |item| {
                items.push(item);
                Ok(())
            })
            .await?;
        items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .map_err(|error| unexpected("an object", &error))
    }

    async fn sorted_groups(&self, filter: Option<&str>) -> Result<Vec<Group>, DirectoryError> {
        let mut groups: Vec<Group> = self.list("/groups", GROUP_SELECT, filter).await?;
        groups.sort_by(|a, b| {
            (nocase(&a.display_name), &a.id).cmp(&(nocase(&b.display_name), &b.id))
        });
        Ok(groups)
    }

    async fn sorted_devices(&self, filter: Option<&str>) -> Result<Vec<Device>, DirectoryError> {
        let mut devices: Vec<Device> = self.list("/devices", DEVICE_SELECT, filter).await?;
        devices.sort_by(|a, b| {
            (nocase(&a.display_name), &a.id).cmp(&(nocase(&b.display_name), &b.id))
        });
        Ok(devices)
    }

    /// The group's direct member ids, read once per run.
    async fn member_ids(&self, group_id: &str) -> Result<HashSet<String>, DirectoryError> {
        if let Some(known) = self.lock_members().get(group_id) {
            return Ok(known.clone());
        }
        let mut ids = HashSet::new();
        self.client
            .collect(
                Request::get(format!("/groups/{group_id}/members?$select=id&$top=999")),
                |item| {
                    if let Some(id) = item.get("id").and_then(Json::as_str) {
                        ids.insert(id.to_ascii_lowercase());
                    }
                    Ok(())
                },
            )
            .await?;
        for principal in self.service_principal_members(group_id).await? {
            ids.insert(principal.id.to_ascii_lowercase());
        }
        self.lock_members().insert(group_id.to_owned(), ids.clone());
        Ok(ids)
    }

    /// The service principals among a group's direct members: v1.0's
    /// plain member list leaves them out, its type-cast segment lists them.
    /// Without options, the cast is not an advanced (eventually consistent)
    /// query. Microsoft 365 groups hold users only, and Graph refuses the
    /// cast there (400).
    async fn service_principal_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<Member>, DirectoryError> {
        let mut found = Vec::new();
        let read = self
            .client
            .collect(
                Request::get(format!(
                    "/groups/{group_id}/members/microsoft.graph.servicePrincipal"
                )),
                |item| {
                    found.push(member_of(&item));
                    Ok(())
                },
            )
            .await;
        match read {
            Ok(()) => Ok(found),
            Err(ClientError::Answer { status: 400, .. }) => Ok(Vec::new()),
            Err(error) => Err(error.into()),
        }
    }

    fn lock_members(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, group_id: &str, id: &str, member: bool) {
        if let Some(known) = self.lock_members().get_mut(group_id) {
            if member {
                known.insert(id.to_owned());
            } else {
                known.remove(id);
            }
        }
    }

    /// Object ids to their member types (and, for groups, whether they are
    /// Microsoft 365 groups), by `getByIds`.
    async fn types_of(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, (MemberType, bool)>, DirectoryError> {
        let mut found = HashMap::with_capacity(ids.len());
        let chunks: Vec<Vec<String>> = ids
            .chunks(BY_IDS_MAX)
            .map(|chunk| chunk.iter().map(|id| (*id).to_owned()).collect())
            .collect();
        let in_flight = usize::try_from(self.client.profile().pacing.concurrency)
            .unwrap_or(1)
            .max(1);
        let answers: Vec<Result<Json, DirectoryError>> = futures_util::stream::iter(chunks)
            .map(|chunk| by_ids(&self.client, chunk, "id,groupTypes"))
            .buffer_unordered(in_flight)
            .collect()
            .await;
        for body in answers {
            for item in body?
                .get("value")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let member = member_of(item);
                let unified =
                    item.get("groupTypes")
                        .and_then(Json::as_array)
                        .is_some_and(|types| {
                            types.iter().any(|t| {
                                t.as_str()
                                    .is_some_and(|t| t.eq_ignore_ascii_case("Unified"))
                            })
                        });
                found.insert(
                    member.id.to_ascii_lowercase(),
                    (
                        member.member_type,
                        unified && member.member_type == MemberType::Group,
                    ),
                );
            }
        }
        Ok(found)
    }

    /// User principal names to user ids, by batched `GET /users/{upn}?$select=id`.
    async fn users_by_upn(&self, upns: &[&str]) -> Result<HashMap<String, String>, DirectoryError> {
        let requests = upns
            .iter()
            .enumerate()
            .map(|(index, upn)| {
                (
                    BatchRequest::new(index.to_string(), "GET", user_url(upn)),
                    None,
                )
            })
            .collect();
        let answers = self.client.batch(requests).await?;
        let mut found = HashMap::new();
        for (upn, answer) in upns.iter().zip(answers) {
            match answer.status {
                200 => {
                    if let Some(id) = answer
                        .body
                        .as_ref()
                        .and_then(|body| body.get("id"))
                        .and_then(Json::as_str)
                    {
                        found.insert(upn.to_lowercase(), id.to_ascii_lowercase());
                    }
                }
                // Not found, or a name Graph cannot read as a user.
                400 | 404 => {}
                _ => return Err(step_error(&answer)),
            }
        }
        Ok(found)
    }

    /// Writes in batches; an answer that is not a row outcome stops the step.
    async fn apply_writes(
        &self,
        group: &Group,
        change: Write,
        units: Vec<Vec<usize>>,
        ids: &[&str],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        let success = if change == Write::Add {
            RowOutcome::Added
        } else {
            RowOutcome::Removed
        };
        let mut outcomes = vec![success; ids.len()];
        // Rows whose request went out again after an answer was lost: the
        // first attempt may have made the change, so "already a member" (or
        // "not a member") says nothing about who did.
        let mut ambiguous = vec![false; ids.len()];
        let mut work = units;
        let mut replication_rounds = 0;
        while !work.is_empty() {
            let requests = work
                .iter()
                .enumerate()
                .map(|(index, unit)| self.write_request(group, change, index, unit, ids))
                .collect();
            let answers = self.client.batch(requests).await?;
            let mut again = Vec::new();
            let mut replicating = false;
            for (unit, answer) in work.into_iter().zip(answers) {
                if answer.resent {
                    for index in &unit {
                        ambiguous[*index] = true;
                    }
                }
                if (200..300).contains(&answer.status) {
                    for index in &unit {
                        self.remember(&group.id, ids[*index], change == Write::Add);
                    }
                    continue;
                }
                let error = GraphError::from_body(
                    answer.status,
                    answer.body.as_ref().unwrap_or(&Json::Null),
                );
                match meaning(
                    change,
                    &error,
                    answer.header("retry-after"),
                    jiff::Timestamp::now(),
                ) {
                    Meaning::Row(outcome) if unit.len() == 1 => {
                        outcomes[unit[0]] = outcome;
                        if matches!(outcome, RowOutcome::AlreadyMember | RowOutcome::NotMember) {
                            let member = outcome == RowOutcome::AlreadyMember;
                            self.remember(&group.id, ids[unit[0]], member);
                        }
                    }
                    // All or nothing: split the PATCH to find the rows at fault.
                    Meaning::Row(_) => {
                        let (left, right) = unit.split_at(unit.len() / 2);
                        again.push(left.to_vec());
                        again.push(right.to_vec());
                    }
                    Meaning::Replicating | Meaning::Retry(_) => {
                        replicating = true;
                        again.push(unit);
                    }
                    Meaning::Stop(message) => return Err(DirectoryError::Graph { message }),
                }
            }
            if replicating {
                replication_rounds += 1;
                if replication_rounds > REPLICATION_ROUNDS {
                    return Err(DirectoryError::Transient {
                        message: format!(
                            "group `{}` is still not visible to Microsoft Graph's writes",
                            group.display_name
                        ),
                    });
                }
                tokio::time::sleep(self.client.replication_delay(replication_rounds)).await;
            }
            work = again;
        }
        for (outcome, ambiguous) in outcomes.iter_mut().zip(ambiguous) {
            if ambiguous && matches!(outcome, RowOutcome::AlreadyMember | RowOutcome::NotMember) {
                *outcome = success;
            }
        }
        Ok(outcomes)
    }

    fn write_request(
        &self,
        group: &Group,
        change: Write,
        index: usize,
        unit: &[usize],
        ids: &[&str],
    ) -> (BatchRequest, Option<WriteKind>) {
        let root = self.client.root();
        match change {
            Write::Add => {
                let binds: Vec<String> = unit
                    .iter()
                    .map(|member| format!("{root}/directoryObjects/{}", ids[*member]))
                    .collect();
                (
                    BatchRequest::with_body(
                        index.to_string(),
                        "PATCH",
                        format!("/groups/{}", group.id),
                        json!({ "members@odata.bind": binds }),
                    ),
                    Some(WriteKind::Bind(unit.len())),
                )
            }
            Write::Remove => (
                BatchRequest::new(
                    index.to_string(),
                    "DELETE",
                    format!("/groups/{}/members/{}/$ref", group.id, ids[unit[0]]),
                ),
                Some(WriteKind::Other),
            ),
        }
    }

    async fn device_writes(
        &self,
        ids: &[&str],
        method: &'static str,
        body: Option<Json>,
    ) -> Result<(), DirectoryError> {
        let requests = ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                let url = format!("/devices/{id}");
                let request = match &body {
                    Some(body) => {
                        BatchRequest::with_body(index.to_string(), method, url, body.clone())
                    }
                    None => BatchRequest::new(index.to_string(), method, url),
                };
                (request, Some(WriteKind::Device))
            })
            .collect();
        for answer in self.client.batch(requests).await? {
            // A device deleted meanwhile is already in the state asked for.
            if !(200..300).contains(&answer.status) && answer.status != 404 {
                return Err(step_error(&answer));
            }
        }
        Ok(())
    }

    async fn devices_by(&self, urls: Vec<String>) -> Result<Vec<Option<Device>>, DirectoryError> {
        let requests = urls
            .into_iter()
            .enumerate()
            .map(|(index, url)| {
                (
                    BatchRequest::new(
                        index.to_string(),
                        "GET",
                        format!("{url}?$select={DEVICE_SELECT}"),
                    ),
                    None,
                )
            })
            .collect();
        let mut found = Vec::new();
        for answer in self.client.batch(requests).await? {
            found.push(match answer.status {
                200 => Some(
                    serde_json::from_value(answer.body.unwrap_or_default())
                        .map_err(|error| unexpected("a device", &error))?,
                ),
                400 | 404 => None,
                _ => return Err(step_error(&answer)),
            });
        }
        Ok(found)
    }
}

/// One `getByIds` call.
/// `getByIds` for these ids, with only the `select`ed properties (`$select`
/// also makes a call cost 2 resource units instead of 5).
async fn by_ids(
    client: &GraphClient,
    ids: Vec<String>,
    select: &str,
) -> Result<Json, DirectoryError> {
    let request = Request {
        method: reqwest::Method::POST,
        url: format!("/directoryObjects/getByIds?$select={select}"),
        headers: Vec::new(),
        body: Some(json!({ "ids": ids, "types": ["user", "group", "device", "servicePrincipal"] })),
    };
    let reply = client.send(&request).await?;
    if reply.status == 200 {
        Ok(reply.body)
    } else {
        Err(super::client::answer_error(&reply).into())
    }
}

/// `GET /users/{upn}`, quoted when the name starts with `$` and with `#` of
/// guest names escaped.
fn user_url(upn: &str) -> String {
    if upn.starts_with('$') {
        format!("/users('{}')?$select=id", encode(&upn.replace('\'', "''")))
    } else {
        format!("/users/{}?$select=id", encode(upn))
    }
}

/// Whether a filter needs Graph's advanced query parameters.
fn advanced(filter: &str) -> bool {
    let lower = filter.to_ascii_lowercase();
    lower.contains(" ne ")
        || lower.contains("not(")
        || lower.contains("endswith(")
        || lower.contains(" eq null")
}

fn step_error(answer: &BatchResponse) -> DirectoryError {
    let error = GraphError::from_body(answer.status, answer.body.as_ref().unwrap_or(&Json::Null));
    DirectoryError::Graph {
        message: format!(
            "Microsoft Graph answered {} {}: {}",
            answer.status, error.code, error.message
        ),
    }
}

impl Directory for GraphDirectory {
    async fn groups(&self) -> Result<Vec<Group>, DirectoryError> {
        self.sorted_groups(None).await
    }

    async fn filter_groups(
        &self,
        spec: &FilterGroupsSpec,
        now: jiff::Timestamp,
    ) -> Result<Vec<Group>, DirectoryError> {
        let query = query::groups(spec);
        let groups = self.sorted_groups(query.filter.as_deref()).await?;
        // The server-side filter may be partial: bulkops' own filter decides.
        Ok(groups
            .into_iter()
            .filter(|group| crate::directory::filter::group_matches(spec, group, now))
            .collect())
    }

    async fn find_groups(&self, target: &GroupTargetSpec) -> Result<Vec<Group>, DirectoryError> {
        let filter = match target {
            GroupTargetSpec::Id(id) if crate::bulkcsv::members::parse_guid(id).is_some() => {
                format!("id eq {}", query::literal(&id.to_ascii_lowercase()))
            }
            GroupTargetSpec::Id(_) => return Ok(Vec::new()),
            GroupTargetSpec::DisplayName(name) => {
                format!("displayName eq {}", query::literal(name))
            }
            GroupTargetSpec::MailNickname(nickname) => {
                format!("mailNickname eq {}", query::literal(nickname))
            }
        };
        let mut groups: Vec<Group> = self.list("/groups", GROUP_SELECT, Some(&filter)).await?;
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(groups)
    }

    async fn devices(&self) -> Result<Vec<Device>, DirectoryError> {
        self.sorted_devices(None).await
    }

    async fn filter_devices(
        &self,
        spec: &FilterDevicesSpec,
        now: jiff::Timestamp,
    ) -> Result<Vec<Device>, DirectoryError> {
        let query = query::devices(spec, now);
        let devices = self.sorted_devices(query.filter.as_deref()).await?;
        Ok(devices
            .into_iter()
            .filter(|device| crate::directory::filter::device_matches(spec, device, now))
            .collect())
    }

    async fn for_each_member(
        &self,
        group_id: &str,
        visit: &mut MemberVisitor<'_>,
    ) -> Result<(), DirectoryError> {
        let mut members = Vec::new();
        self.client
            .collect(
                Request::get(format!(
                    "/groups/{group_id}/members?$select={MEMBER_SELECT}&$top=999"
                )),
                |item| {
                    members.push(member_of(&item));
                    Ok(())
                },
            )
            .await?;
        for principal in self.service_principal_members(group_id).await? {
            if !members
                .iter()
                .any(|member| member.id.eq_ignore_ascii_case(&principal.id))
            {
                members.push(principal);
            }
        }
        // Graph gives no order; downloads list members by type, then name.
        members.sort_by(|a, b| {
            (a.member_type.key(), nocase(&a.display_name), &a.id).cmp(&(
                b.member_type.key(),
                nocase(&b.display_name),
                &b.id,
            ))
        });
        members.into_iter().try_for_each(visit)
    }

    async fn names_of(&self, ids: &[String]) -> Result<HashMap<String, String>, DirectoryError> {
        let mut names = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(BY_IDS_MAX) {
            let body = by_ids(
                &self.client,
                chunk.to_vec(),
                "id,displayName,userPrincipalName",
            )
            .await?;
            for item in body
                .get("value")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let member = member_of(item);
                let name = member
                    .user_principal_name
                    .clone()
                    .unwrap_or(member.display_name);
                names.insert(member.id.to_ascii_lowercase(), name);
            }
        }
        Ok(names)
    }

    async fn member_count(&self, group_id: &str) -> Result<u64, DirectoryError> {
        Ok(self.member_ids(group_id).await?.len() as u64)
    }

    async fn resolve_for_group(
        &self,
        group_id: &str,
        keys: &[MemberKey],
    ) -> Result<Vec<Option<(ResolvedMember, bool)>>, DirectoryError> {
        let ids: Vec<&str> = keys
            .iter()
            .filter_map(|key| match key {
                MemberKey::ObjectId(id) => Some(id.as_str()),
                MemberKey::Upn(_) => None,
            })
            .collect();
        let upns: Vec<&str> = keys
            .iter()
            .filter_map(|key| match key {
                MemberKey::Upn(upn) => Some(upn.as_str()),
                MemberKey::ObjectId(_) => None,
            })
            .collect();
        let types = self.types_of(&ids).await?;
        let users = if upns.is_empty() {
            HashMap::new()
        } else {
            self.users_by_upn(&upns).await?
        };
        let current = self.member_ids(group_id).await?;
        Ok(keys
            .iter()
            .map(|key| {
                let member = match key {
                    MemberKey::ObjectId(id) => {
                        types.get(id).map(|(kind, unified_group)| ResolvedMember {
                            id: id.clone(),
                            member_type: *kind,
                            unified_group: *unified_group,
                        })
                    }
                    MemberKey::Upn(upn) => {
                        users.get(&upn.to_lowercase()).map(|id| ResolvedMember {
                            id: id.clone(),
                            member_type: MemberType::User,
                            unified_group: false,
                        })
                    }
                }?;
                let is_member = current.contains(&member.id);
                Some((member, is_member))
            })
            .collect())
    }

    async fn add_members(
        &self,
        group: &Group,
        members: &[ResolvedMember],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        let ids: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
        // Binds in id order: neighbours share a PATCH, which the directory
        // stores with fewer page writes; outcomes still map back by row.
        let mut indices: Vec<usize> = (0..ids.len()).collect();
        indices.sort_unstable_by_key(|index| ids[*index]);
        let units = indices.chunks(BIND_MAX).map(<[usize]>::to_vec).collect();
        self.apply_writes(group, Write::Add, units, &ids).await
    }

    async fn remove_members(
        &self,
        group: &Group,
        ids: &[&str],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        let mut indices: Vec<usize> = (0..ids.len()).collect();
        indices.sort_unstable_by_key(|index| ids[*index]);
        let units = indices.into_iter().map(|index| vec![index]).collect();
        self.apply_writes(group, Write::Remove, units, ids).await
    }

    async fn find_devices(&self, ids: &[String]) -> Result<Vec<Option<Device>>, DirectoryError> {
        let mut found = self
            .devices_by(
                ids.iter()
                    .map(|id| format!("/devices/{}", encode(id)))
                    .collect(),
            )
            .await?;
        let missing: Vec<usize> = (0..ids.len())
            .filter(|index| found[*index].is_none())
            .collect();
        if !missing.is_empty() {
            let urls = missing
                .iter()
                .map(|index| format!("/devices(deviceId='{}')", encode(&ids[*index])))
                .collect();
            for (index, device) in missing.into_iter().zip(self.devices_by(urls).await?) {
                found[index] = device;
            }
        }
        Ok(found)
    }

    async fn set_devices_enabled(&self, ids: &[&str], enabled: bool) -> Result<(), DirectoryError> {
        self.device_writes(ids, "PATCH", Some(json!({ "accountEnabled": enabled })))
            .await
    }

    async fn delete_devices(&self, ids: &[&str]) -> Result<(), DirectoryError> {
        self.device_writes(ids, "DELETE", None).await
    }
}
