//! `bulkops directory pull`: a copy of a real tenant in a local directory
//! database, to rehearse on (`plan`, `apply` and `bulkops emulate` against
//! real names and sizes, changing nothing in the tenant).
//!
//! The pull reads, in this order, users (id, UPN, display name, mail, type,
//! enabled, department, job title, created), service principals, groups with
//! the properties bulkops uses, devices, and then each group's direct members
//! (the plain member list, plus the service principals v1.0 lists only
//! through its type-cast segment). Every list is paged (999 a page) and every
//! page is saved with where the pull stands, in one transaction, so a pull
//! that is stopped continues from its last saved page when started again with
//! the same profile. Reads are paced by the tenant's resource-unit budget
//! (Graph's published costs per request and limits by tenant size), members
//! of several groups are read at once, and a 429 waits its `Retry-After`.
//! Only a finished pull takes the database's name.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::directory::local::{LocalDirectory, LocalError, PullTarget, Pulled, Stats};
use crate::directory::model::{Device, Group, MemberType, ServicePrincipal, User};
use crate::msgraph::client::{ClientError, GraphClient, Request};
use crate::msgraph::pace::{Budget, Quota, resource_units};
use crate::msgraph::profile::Profile;
use crate::msgraph::query::GROUP_SELECT;
use crate::steps::fault;

/// The device properties a pull reads: bulkops' own, and the extension
/// attributes (`extensionAttribute1` to `15`).
/// (`DEVICE_SELECT` and `extensionAttributes`, as a test checks.)
const DEVICE_PULL_SELECT: &str = "id,deviceId,displayName,operatingSystem,operatingSystemVersion,trustType,accountEnabled,\
isCompliant,isManaged,approximateLastSignInDateTime,registrationDateTime,profileType,manufacturer,model,\
extensionAttributes";

/// The user properties a pull reads.
const USER_SELECT: &str = "id,userPrincipalName,displayName,mail,userType,accountEnabled,department,jobTitle,createdDateTime";
/// Groups whose members are read at once.
const MEMBER_READS: usize = 8;
/// Objects read before they are saved together (with where the pull
/// stands): fewer, larger transactions; a stopped pull reads them again.
/// `BULKOPS_PULL_SAVE_EVERY` sets another number (tests stop pulls between
/// small saves).
fn save_every() -> usize {
    std::env::var("BULKOPS_PULL_SAVE_EVERY")
        .ok()
        .and_then(|text| text.parse().ok())
        .filter(|every| *every > 0)
        .unwrap_or(20_000)
}
/// How often a pull logs where it stands.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Why a pull stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PullError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(#[from] ClientError),
    #[error("`{}` holds an unfinished pull from {was}, not from {now}", path.display())]
    #[diagnostic(
        code(bulkops::pull::other_source),
        help(
            "finish that pull with its profile, or delete `{}` to start this one anew",
            partial.display()
        )
    )]
    OtherSource {
        path: PathBuf,
        partial: PathBuf,
        was: String,
        now: String,
    },
    #[error("Microsoft Graph answered with an object bulkops cannot read: {0}")]
    #[diagnostic(code(bulkops::pull::unexpected))]
    Unexpected(String),
}

/// What a finished pull brought.
pub struct PullSummary {
    pub directory: LocalDirectory,
    pub stats: Stats,
    /// Whether it continued a pull that was stopped.
    pub resumed: bool,
    pub requests: u64,
    pub throttled: u64,
    pub resource_units: u64,
    pub elapsed: Duration,
}

/// Where a pull stands, saved with every page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullState {
    /// The tenant pulled from, so a pull is never continued from another.
    source: String,
    phase: Phase,
    /// The next page of the phase's list, when it is part-read.
    next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Phase {
    Users,
    ServicePrincipals,
    Groups,
    Devices,
    Members,
}

impl Phase {
    fn list(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Users => Some(("/users", USER_SELECT)),
            Self::ServicePrincipals => Some(("/servicePrincipals", "id,displayName,appId")),
            Self::Groups => Some(("/groups", GROUP_SELECT)),
            Self::Devices => Some(("/devices", DEVICE_PULL_SELECT)),
            Self::Members => None,
        }
    }

    fn after(self) -> Self {
        match self {
            Self::Users => Self::ServicePrincipals,
            Self::ServicePrincipals => Self::Groups,
            Self::Groups => Self::Devices,
            Self::Devices | Self::Members => Self::Members,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::ServicePrincipals => "service principals",
            Self::Groups => "groups",
            Self::Devices => "devices",
            Self::Members => "memberships",
        }
    }
}

/// A pull in progress: the client, the target, and the read budget.
struct Puller {
    client: GraphClient,
    target: Mutex<PullTarget>,
    source: String,
    budget: Mutex<(Budget, Instant)>,
    units: std::sync::atomic::AtomicU64,
    last_log: Mutex<Instant>,
}

/// Copies the tenant of `profile` into the local directory `db`.
pub async fn pull(profile: Profile, db: PathBuf, replace: bool) -> Result<PullSummary, PullError> {
    let started = Instant::now();
    let source = format!(
        "profile `{}` (tenant {} at {})",
        profile.name, profile.tenant, profile.graph_url
    );
    let scale = profile.pacing.time_scale.max(1);
    let target = PullTarget::open(&db, replace)?;
    let saved = match target.state()? {
        Some(text) => Some(
            serde_json::from_str::<PullState>(&text)
                .map_err(|error| PullError::Unexpected(error.to_string()))?,
        ),
        None => None,
    };
    if let Some(saved) = &saved
        && saved.source != source
    {
        return Err(PullError::OtherSource {
            partial: crate::files::database::sibling(&db, ".pull"),
            path: db,
            was: saved.source.clone(),
            now: source,
        });
    }
    let resumed = saved.is_some();
    let users = target.users()?;
    let puller = Puller {
        client: GraphClient::new(profile)?,
        target: Mutex::new(target),
        source: source.clone(),
        budget: Mutex::new((
            Budget::new(Quota::resource_units(users).scaled(scale)),
            Instant::now(),
        )),
        units: std::sync::atomic::AtomicU64::new(0),
        last_log: Mutex::new(Instant::now()),
    };
    let mut state = saved.unwrap_or(PullState {
        source,
        phase: Phase::Users,
        next: None,
    });
    if resumed {
        tracing::info!(
            phase = state.phase.name(),
            "continuing the pull that was stopped"
        );
    }
    while let Some((path, select)) = state.phase.list() {
        puller.read_list(&mut state, path, select).await?;
        if state.phase == Phase::Users {
            puller.size_budget(scale)?;
        }
        state = PullState {
            phase: state.phase.after(),
            next: None,
            ..state
        };
    }
    puller.read_members().await?;
    let Puller {
        client,
        target,
        units,
        ..
    } = puller;
    let target = target
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let directory = target.finish(&format!("pull from {}", state.source))?;
    let objects = directory.stats()?;
    let counters = &client.stats;
    Ok(PullSummary {
        directory,
        stats: objects,
        resumed,
        requests: counters
            .http_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        throttled: counters
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed),
        resource_units: units.into_inner(),
        elapsed: started.elapsed(),
    })
}

impl Puller {
    /// Reads a list from where the state says, saving every page.
    async fn read_list(
        &self,
        state: &mut PullState,
        path: &str,
        select: &str,
    ) -> Result<(), PullError> {
        let first = format!("{}{path}?$select={select}&$top=999", self.client.root());
        let mut url = state.next.clone().unwrap_or(first);
        let mut read = 0u64;
        let mut unsaved = Vec::new();
        loop {
            self.pace("GET", path, true).await;
            let (items, next) = self.client.page(&Request::get(url)).await?;
            read += items.len() as u64;
            unsaved.extend(items);
            state.next.clone_from(&next);
            if unsaved.len() >= save_every() || next.is_none() {
                // Once the last page is saved, the pull stands at the next phase.
                let saved = match &next {
                    Some(_) => state.clone(),
                    None => PullState {
                        phase: state.phase.after(),
                        ..state.clone()
                    },
                };
                let text = serde_json::to_string(&saved).expect("a pull state serializes");
                self.save_items(state.phase, &std::mem::take(&mut unsaved), &text)?;
                fault::reached(fault::Phase::Pulled).await;
            }
            self.log_progress(state.phase, read);
            match next {
                Some(link) => url = link,
                None => break,
            }
        }
        tracing::info!(phase = state.phase.name(), read, "pulled");
        Ok(())
    }

    fn save_items(&self, phase: Phase, items: &[Json], state: &str) -> Result<(), PullError> {
        let mut target = self.lock_target();
        match phase {
            Phase::Users => {
                let users: Vec<User> = items.iter().map(user_of).collect::<Result<_, _>>()?;
                target.save(&[Pulled::Users(&users)], state)?;
            }
            Phase::ServicePrincipals => {
                let principals: Vec<ServicePrincipal> = parse_all(items)?;
                target.save(&[Pulled::ServicePrincipals(&principals)], state)?;
            }
            Phase::Groups => {
                let groups: Vec<Group> = items.iter().map(group_of).collect::<Result<_, _>>()?;
                target.save(&[Pulled::Groups(&groups)], state)?;
            }
            Phase::Devices => {
                let devices: Vec<Device> = parse_all(items)?;
                let attributes: Vec<(String, u8, String)> =
                    items.iter().flat_map(extension_attributes_of).collect();
                target.save(
                    &[
                        Pulled::Devices(&devices),
                        Pulled::DeviceAttributes(&attributes),
                    ],
                    state,
                )?;
            }
            Phase::Members => {}
        }
        Ok(())
    }

    /// After the users are read, paces by the budget of a tenant this size.
    fn size_budget(&self, scale: u32) -> Result<(), PullError> {
        let users = self.lock_target().users()?;
        let mut budget = self
            .budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *budget = (
            Budget::new(Quota::resource_units(users).scaled(scale)),
            Instant::now(),
        );
        Ok(())
    }

    /// Reads the members of every group not read yet, several at once.
    async fn read_members(&self) -> Result<(), PullError> {
        let groups = self.lock_target().groups_without_members()?;
        let total = groups.len() as u64;
        let state = serde_json::to_string(&PullState {
            source: self.source.clone(),
            phase: Phase::Members,
            next: None,
        })
        .expect("a pull state serializes");
        let mut done = 0u64;
        let mut reads = stream::iter(groups)
            .map(|group| async move {
                let members = self.members_of(&group).await?;
                Ok::<_, PullError>((group, members))
            })
            .buffer_unordered(MEMBER_READS);
        let mut unsaved: Vec<(Group, Vec<(String, MemberType)>)> = Vec::new();
        let mut unsaved_members = 0;
        loop {
            let next = reads.next().await.transpose()?;
            let finished = next.is_none();
            if let Some((group, members)) = next {
                unsaved_members += members.len() + 1;
                unsaved.push((group, members));
                done += 1;
                self.log_progress(Phase::Members, done);
            }
            if unsaved_members >= save_every() || (finished && !unsaved.is_empty()) {
                let pages: Vec<Pulled<'_>> = unsaved
                    .iter()
                    .map(|(group, members)| Pulled::Members {
                        group_id: &group.id,
                        members,
                    })
                    .collect();
                self.lock_target().save(&pages, &state)?;
                unsaved.clear();
                unsaved_members = 0;
                fault::reached(fault::Phase::Pulled).await;
            }
            if finished {
                break;
            }
        }
        tracing::info!(phase = "memberships", groups = total, "pulled");
        Ok(())
    }

    /// A group's direct members: the plain list, and the service principals
    /// its type-cast segment lists (Microsoft 365 groups hold none, and Graph
    /// refuses the cast there).
    async fn members_of(&self, group: &Group) -> Result<Vec<(String, MemberType)>, PullError> {
        let root = self.client.root();
        let mut members = Vec::new();
        let mut next = Some(format!(
            "{root}/groups/{}/members?$select=id&$top=999",
            group.id
        ));
        while let Some(url) = next.take() {
            self.pace("GET", "/groups/{id}/members", true).await;
            let (items, link) = self.client.page(&Request::get(url)).await?;
            members.extend(items.iter().filter_map(member_of));
            next = link;
        }
        if group.is_unified() {
            return Ok(members);
        }
        // Without options: with any, the cast is an advanced query.
        let mut next = Some(format!(
            "{root}/groups/{}/members/microsoft.graph.servicePrincipal",
            group.id
        ));
        while let Some(url) = next.take() {
            self.pace("GET", "/groups/{id}/members/{type}", false).await;
            let (items, link) = self.client.page(&Request::get(url)).await?;
            members.extend(items.iter().filter_map(|item| {
                let id = item.get("id")?.as_str()?.to_ascii_lowercase();
                Some((id, MemberType::ServicePrincipal))
            }));
            next = link;
        }
        Ok(members)
    }

    /// Waits until a request of this kind fits the read budget, and spends it.
    async fn pace(&self, method: &str, route: &str, select: bool) {
        let cost = resource_units(method, route, select, Some(999));
        self.units
            .fetch_add(u64::from(cost), std::sync::atomic::Ordering::Relaxed);
        loop {
            let wait = {
                let mut guard = self
                    .budget
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (budget, started) = &mut *guard;
                let now = started.elapsed();
                let wait = budget.wait_for(now, cost);
                if wait.is_zero() {
                    budget.spend(now, cost);
                }
                wait
            };
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn log_progress(&self, phase: Phase, read: u64) {
        let mut last = self
            .last_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= PROGRESS_EVERY {
            *last = Instant::now();
            let stats = &self.client.stats;
            tracing::info!(
                phase = phase.name(),
                read,
                requests = stats
                    .http_requests
                    .load(std::sync::atomic::Ordering::Relaxed),
                throttled = stats.throttled.load(std::sync::atomic::Ordering::Relaxed),
                "pulling"
            );
        }
    }

    fn lock_target(&self) -> std::sync::MutexGuard<'_, PullTarget> {
        self.target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse_all<T: serde::de::DeserializeOwned>(items: &[Json]) -> Result<Vec<T>, PullError> {
    items
        .iter()
        .map(|item| {
            serde_json::from_value(item.clone())
                .map_err(|error| PullError::Unexpected(format!("{error} in {}", short(item))))
        })
        .collect()
}

/// A user as Graph lists it; properties Graph leaves empty get the local
/// directory's defaults (a member, enabled, created at the epoch).
fn user_of(item: &Json) -> Result<User, PullError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        id: String,
        user_principal_name: String,
        display_name: Option<String>,
        mail: Option<String>,
        user_type: Option<String>,
        account_enabled: Option<bool>,
        department: Option<String>,
        job_title: Option<String>,
        created_date_time: Option<jiff::Timestamp>,
    }
    let wire: Wire = serde_json::from_value(item.clone())
        .map_err(|error| PullError::Unexpected(format!("{error} in {}", short(item))))?;
    Ok(User {
        id: wire.id.to_ascii_lowercase(),
        display_name: wire.display_name.unwrap_or_default(),
        user_principal_name: wire.user_principal_name,
        mail: wire.mail,
        user_type: wire.user_type.unwrap_or_else(|| "Member".to_owned()),
        account_enabled: wire.account_enabled.unwrap_or(true),
        department: wire.department,
        job_title: wire.job_title,
        created_date_time: wire.created_date_time.unwrap_or_default(),
    })
}

/// A group as Graph lists it.
fn group_of(item: &Json) -> Result<Group, PullError> {
    let mut item = item.clone();
    if let Some(object) = item.as_object_mut() {
        for key in ["groupTypes"] {
            if object.get(key).is_none_or(Json::is_null) {
                object.insert(key.to_owned(), Json::Array(Vec::new()));
            }
        }
        if object.get("createdDateTime").is_none_or(Json::is_null) {
            object.insert(
                "createdDateTime".to_owned(),
                Json::String(jiff::Timestamp::UNIX_EPOCH.to_string()),
            );
        }
    }
    let mut group: Group = serde_json::from_value(item.clone())
        .map_err(|error| PullError::Unexpected(format!("{error} in {}", short(&item))))?;
    group.id = group.id.to_ascii_lowercase();
    Ok(group)
}

/// A member as the plain member list gives it, if it is of a type the
/// local directory keeps.
fn member_of(item: &Json) -> Option<(String, MemberType)> {
    let id = item.get("id")?.as_str()?.to_ascii_lowercase();
    let odata = item.get("@odata.type")?.as_str()?;
    let kind = MemberType::ALL
        .into_iter()
        .find(|kind| kind.odata_type() == odata)?;
    Some((id, kind))
}

/// A device's extension attributes that hold a value: (device id, number, value).
fn extension_attributes_of(item: &Json) -> Vec<(String, u8, String)> {
    let id = item
        .get("id")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(attributes) = item.get("extensionAttributes").and_then(Json::as_object) else {
        return Vec::new();
    };
    attributes
        .iter()
        .filter_map(|(name, value)| {
            let number = name
                .strip_prefix("extensionAttribute")?
                .parse::<u8>()
                .ok()
                .filter(|n| (1..=15).contains(n))?;
            Some((id.clone(), number, value.as_str()?.to_owned()))
        })
        .collect()
}

fn short(item: &Json) -> String {
    let text = item.to_string();
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_read_with_bulkops_properties_and_extension_attributes() {
        assert_eq!(
            DEVICE_PULL_SELECT,
            format!(
                "{},extensionAttributes",
                crate::msgraph::query::DEVICE_SELECT
            )
        );
    }
}
