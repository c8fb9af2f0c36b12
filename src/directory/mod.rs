//! Directories: where groups, users and devices live. The [`Directory`] trait is
//! what steps run against; the local SQLite directory implements it here, and
//! Microsoft Graph beside it.
//!
//! Reads stream or return whole lists of modest size; writes take a batch and
//! return one outcome per row, so a bad row fails only itself.

pub mod any;
pub mod filter;
pub mod local;
pub mod model;
pub mod outcome;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::bulkcsv::members::MemberKey;
use crate::manifest::filter::{FilterDevicesSpec, FilterGroupsSpec};
use crate::manifest::target::GroupTargetSpec;
use local::{LocalDirectory, LocalError, ResolvedMember};
use model::{Device, Group, Member};
use outcome::RowOutcome;

/// Why a directory call failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DirectoryError {
    /// The local directory failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Local(#[from] LocalError),
    /// A failure that may pass: throttling, a timeout, a dropped connection.
    #[error("the directory did not answer: {message}")]
    #[diagnostic(
        code(bulkops::directory::transient),
        help("bulkops retries this by the step's retry policy")
    )]
    Transient { message: String },
    /// Microsoft Graph refused in a way that retrying will not change.
    #[error("{message}")]
    #[diagnostic(code(bulkops::directory::graph))]
    Graph { message: String },
}

impl DirectoryError {
    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// A visitor of streamed members.
pub type MemberVisitor<'a> = dyn FnMut(Member) -> Result<(), DirectoryError> + Send + 'a;

/// The operations steps need from a directory.
pub trait Directory: Send + Sync {
    /// Every group.
    fn groups(&self) -> impl Future<Output = Result<Vec<Group>, DirectoryError>> + Send;

    /// The groups that meet every criterion of a filter.
    fn filter_groups(
        &self,
        spec: &FilterGroupsSpec,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Group>, DirectoryError>> + Send {
        async move {
            let groups = self.groups().await?;
            Ok(groups
                .into_iter()
                .filter(|group| filter::group_matches(spec, group, now))
                .collect())
        }
    }

    /// The devices that meet every criterion of a filter.
    fn filter_devices(
        &self,
        spec: &FilterDevicesSpec,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Device>, DirectoryError>> + Send {
        async move {
            let devices = self.devices().await?;
            Ok(devices
                .into_iter()
                .filter(|device| filter::device_matches(spec, device, now))
                .collect())
        }
    }

    /// The groups a target names: none, one, or (for a display name) several.
    fn find_groups(
        &self,
        target: &GroupTargetSpec,
    ) -> impl Future<Output = Result<Vec<Group>, DirectoryError>> + Send;

    /// Every device.
    fn devices(&self) -> impl Future<Output = Result<Vec<Device>, DirectoryError>> + Send;

    /// Streams a group's direct members to `visit`.
    fn for_each_member(
        &self,
        group_id: &str,
        visit: &mut MemberVisitor<'_>,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;

    /// Names people recognise for objects, by lowercased id: a user's
    /// principal name, any other object's display name. Unknown ids are left out.
    fn names_of(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, String>, DirectoryError>> + Send;

    /// How many direct members a group has, from a complete read.
    fn member_count(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<u64, DirectoryError>> + Send;

    /// The object each key names, and whether it is a direct member of the group.
    fn resolve_for_group(
        &self,
        group_id: &str,
        keys: &[MemberKey],
    ) -> impl Future<Output = Result<Vec<Option<(ResolvedMember, bool)>>, DirectoryError>> + Send;

    /// Adds members, with an outcome per member.
    fn add_members(
        &self,
        group: &Group,
        members: &[ResolvedMember],
    ) -> impl Future<Output = Result<Vec<RowOutcome>, DirectoryError>> + Send;

    /// Removes members by id, with an outcome per member.
    fn remove_members(
        &self,
        group: &Group,
        ids: &[&str],
    ) -> impl Future<Output = Result<Vec<RowOutcome>, DirectoryError>> + Send;

    /// Finds devices by object id or device id.
    fn find_devices(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Device>>, DirectoryError>> + Send;

    /// Enables or disables devices by object id.
    fn set_devices_enabled(
        &self,
        ids: &[&str],
        enabled: bool,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;

    /// Deletes devices by object id.
    fn delete_devices(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
}

/// The local directory, shared by the steps of a run. Its calls are short
/// SQLite transactions, run on the calling worker thread with
/// `block_in_place` so the async runtime keeps scheduling other steps.
#[derive(Clone)]
pub struct SharedLocal {
    inner: Arc<Mutex<LocalDirectory>>,
}

impl SharedLocal {
    /// Shares an open local directory.
    pub fn new(directory: LocalDirectory) -> Self {
        Self {
            inner: Arc::new(Mutex::new(directory)),
        }
    }

    /// The database's path, as opened.
    pub fn path(&self) -> std::path::PathBuf {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .path()
            .to_path_buf()
    }

    /// The directory's id.
    pub fn id(&self) -> Result<String, DirectoryError> {
        self.with_blocking(LocalDirectory::id)
    }

    fn with_blocking<T>(
        &self,
        work: impl FnOnce(&LocalDirectory) -> Result<T, LocalError>,
    ) -> Result<T, DirectoryError> {
        let directory = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&directory).map_err(|error| DirectoryError::from(error.at(directory.path())))
    }

    fn with<T>(
        &self,
        work: impl FnOnce(&mut LocalDirectory) -> Result<T, LocalError>,
    ) -> Result<T, DirectoryError> {
        tokio::task::block_in_place(|| {
            let mut directory = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let path = directory.path().to_path_buf();
            work(&mut directory).map_err(|error| DirectoryError::from(error.at(&path)))
        })
    }
}

impl Directory for SharedLocal {
    async fn groups(&self) -> Result<Vec<Group>, DirectoryError> {
        self.with(|directory| directory.groups())
    }

    async fn find_groups(&self, target: &GroupTargetSpec) -> Result<Vec<Group>, DirectoryError> {
        self.with(|directory| directory.find_groups(target))
    }

    async fn devices(&self) -> Result<Vec<Device>, DirectoryError> {
        self.with(|directory| directory.devices())
    }

    async fn for_each_member(
        &self,
        group_id: &str,
        visit: &mut MemberVisitor<'_>,
    ) -> Result<(), DirectoryError> {
        tokio::task::block_in_place(|| {
            let directory = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            directory
                .for_each_member(group_id, visit)
                .map_err(|error| match error {
                    DirectoryError::Local(local) => {
                        DirectoryError::Local(local.at(directory.path()))
                    }
                    other => other,
                })
        })
    }

    async fn member_count(&self, group_id: &str) -> Result<u64, DirectoryError> {
        self.with(|directory| directory.member_count(group_id))
    }

    async fn names_of(&self, ids: &[String]) -> Result<HashMap<String, String>, DirectoryError> {
        self.with(|directory| directory.names_of(ids))
    }

    async fn resolve_for_group(
        &self,
        group_id: &str,
        keys: &[MemberKey],
    ) -> Result<Vec<Option<(ResolvedMember, bool)>>, DirectoryError> {
        self.with(|directory| directory.resolve_for_group(group_id, keys))
    }

    async fn add_members(
        &self,
        group: &Group,
        members: &[ResolvedMember],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        self.with(|directory| directory.add_members(group, members))
    }

    async fn remove_members(
        &self,
        group: &Group,
        ids: &[&str],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        self.with(|directory| directory.remove_members(group, ids))
    }

    async fn find_devices(&self, ids: &[String]) -> Result<Vec<Option<Device>>, DirectoryError> {
        self.with(|directory| directory.find_devices(ids))
    }

    async fn set_devices_enabled(&self, ids: &[&str], enabled: bool) -> Result<(), DirectoryError> {
        self.with(|directory| directory.set_devices_enabled(ids, enabled))
    }

    async fn delete_devices(&self, ids: &[&str]) -> Result<(), DirectoryError> {
        self.with(|directory| directory.delete_devices(ids))
    }
}
