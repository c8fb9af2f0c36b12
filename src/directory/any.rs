//! The directory a run uses, chosen by the manifest's `spec.directory`: the
//! local SQLite directory, or Microsoft Graph through a profile.

use jiff::Timestamp;

use super::local::ResolvedMember;
use super::model::{Device, Group};
use super::outcome::RowOutcome;
use super::{Directory, DirectoryError, MemberVisitor, SharedLocal};
use crate::bulkcsv::members::MemberKey;
use crate::manifest::filter::{FilterDevicesSpec, FilterGroupsSpec};
use crate::manifest::target::GroupTargetSpec;
use crate::msgraph::directory::GraphDirectory;

/// Either directory.
#[derive(Clone)]
pub enum AnyDirectory {
    Local(SharedLocal),
    Graph(GraphDirectory),
}

/// Calls the same method on whichever directory this is.
macro_rules! either {
    ($self:ident, $directory:ident => $call:expr) => {
        match $self {
            AnyDirectory::Local($directory) => $call.await,
            AnyDirectory::Graph($directory) => $call.await,
        }
    };
}

impl Directory for AnyDirectory {
    async fn groups(&self) -> Result<Vec<Group>, DirectoryError> {
        either!(self, directory => directory.groups())
    }

    async fn filter_groups(
        &self,
        spec: &FilterGroupsSpec,
        now: Timestamp,
    ) -> Result<Vec<Group>, DirectoryError> {
        either!(self, directory => directory.filter_groups(spec, now))
    }

    async fn find_groups(&self, target: &GroupTargetSpec) -> Result<Vec<Group>, DirectoryError> {
        either!(self, directory => directory.find_groups(target))
    }

    async fn devices(&self) -> Result<Vec<Device>, DirectoryError> {
        either!(self, directory => directory.devices())
    }

    async fn filter_devices(
        &self,
        spec: &FilterDevicesSpec,
        now: Timestamp,
    ) -> Result<Vec<Device>, DirectoryError> {
        either!(self, directory => directory.filter_devices(spec, now))
    }

    async fn for_each_member(
        &self,
        group_id: &str,
        visit: &mut MemberVisitor<'_>,
    ) -> Result<(), DirectoryError> {
        either!(self, directory => directory.for_each_member(group_id, visit))
    }

    async fn names_of(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, DirectoryError> {
        either!(self, directory => directory.names_of(ids))
    }

    async fn member_count(&self, group_id: &str) -> Result<u64, DirectoryError> {
        either!(self, directory => directory.member_count(group_id))
    }

    async fn resolve_for_group(
        &self,
        group_id: &str,
        keys: &[MemberKey],
    ) -> Result<Vec<Option<(ResolvedMember, bool)>>, DirectoryError> {
        either!(self, directory => directory.resolve_for_group(group_id, keys))
    }

    async fn add_members(
        &self,
        group: &Group,
        members: &[ResolvedMember],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        either!(self, directory => directory.add_members(group, members))
    }

    async fn remove_members(
        &self,
        group: &Group,
        ids: &[&str],
    ) -> Result<Vec<RowOutcome>, DirectoryError> {
        either!(self, directory => directory.remove_members(group, ids))
    }

    async fn find_devices(&self, ids: &[String]) -> Result<Vec<Option<Device>>, DirectoryError> {
        either!(self, directory => directory.find_devices(ids))
    }

    async fn set_devices_enabled(&self, ids: &[&str], enabled: bool) -> Result<(), DirectoryError> {
        either!(self, directory => directory.set_devices_enabled(ids, enabled))
    }

    async fn delete_devices(&self, ids: &[&str]) -> Result<(), DirectoryError> {
        either!(self, directory => directory.delete_devices(ids))
    }
}
