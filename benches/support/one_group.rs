//! The directory the import benchmarks start from: generated users and one
//! empty group, at `pristine.db` in their folder.

use std::path::Path;

use bulkops::directory::local::{GenerateOptions, LocalDirectory};
use bulkops::directory::model::Group;

/// Generates `users` users (with `seed`) and one group into `folder/pristine.db`; returns the group.
pub(crate) fn pristine_directory(folder: &Path, users: u64, seed: u64) -> Group {
    let options = GenerateOptions {
        users,
        groups: 1,
        devices: 0,
        members: 0,
        seed,
    };
    LocalDirectory::generate(&folder.join("pristine.db"), &options, false)
        .expect("a generated directory")
        .groups()
        .expect("groups")
        .remove(0)
}
