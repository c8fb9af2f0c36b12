//! A step's input list, read whole before any change (every row checked, the
//! SHA-256 taken, the rows counted) and, in a run, copied as it is read into
//! a private file without a name, from which the step then reads its rows:
//! whatever happens to the input meanwhile (rewritten in place, replaced), the
//! rows applied are exactly the rows checked and fingerprinted.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{InputRead, StepError};
use crate::bulkcsv::members::{GroupBy, MemberList, MemberListError};
use crate::files::input::{DigestHandle, FileIdentity, TeeReader, anonymous_file, hashing};

/// An input list that was read whole and found readable.
pub(super) struct CheckedInput {
    path: PathBuf,
    file: File,
    /// How many data rows it has.
    pub(super) rows: usize,
    /// Its absolute path and SHA-256.
    pub(super) read: InputRead,
    /// Its identity on the file system, so results never replace it.
    pub(super) identity: FileIdentity,
    /// The groups a list for several groups names, if it has a group column.
    pub(super) groups: Option<ListedGroups>,
    /// A group column the list has and the step does not read (it names
    /// its groups itself).
    pub(super) unread_group_column: Option<String>,
}

/// The groups a list for several groups names, in the order they first
/// appear, each with how many rows name it.
pub(super) struct ListedGroups {
    /// The group column's header cell, for messages.
    pub(super) column: String,
    /// How the column names groups.
    pub(super) by: GroupBy,
    /// Each group value as written (trimmed), its first line, and its rows.
    pub(super) values: Vec<ListedGroup>,
}

/// One value of a list's group column.
pub(super) struct ListedGroup {
    pub(super) value: String,
    pub(super) first_line: u64,
    pub(super) rows: usize,
}

/// The most distinct groups one list may name.
pub(super) const MAX_LISTED_GROUPS: usize = 10_000;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StepError + '_ {
    move |source| {
        StepError::Input(MemberListError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Reads the list at `path` end to end: a broken line near the end of a large
/// file stops the step before its first row is applied. With a `snapshot`
/// folder, the bytes read are kept in a private copy there, which is what
/// the step's rows come from; without, the rows are read again from the
/// input itself (a preview). With `by_row_group`, the list is read as a list
/// for several groups, and the groups its rows name are counted.
pub(super) fn check(
    path: &Path,
    snapshot: Option<&Path>,
    by_row_group: bool,
) -> Result<CheckedInput, StepError> {
    let original = MemberList::open_file(path)?;
    let identity = FileIdentity::of(&original).map_err(io(path))?;
    let (reader, digest, file): (Box<dyn std::io::Read + Send>, _, _) =
        if let Some(folder) = snapshot {
            // The CSV reader reads 64 KiB at a time: the copy is written in
            // blocks that size, and a failed write fails the read at once.
            let copy = anonymous_file(folder).map_err(io(folder))?;
            let writer = copy.try_clone().map_err(io(folder))?;
            let (reader, digest) = hashing(TeeReader::new(original, writer));
            (Box::new(reader), digest, copy)
        } else {
            let (reader, digest) = hashing(original.try_clone().map_err(io(path))?);
            (Box::new(reader), digest, original)
        };
    let mut list = MemberList::from_reader(path, reader)?;
    let unread_group_column = (!by_row_group)
        .then(|| list.group_column_name().map(str::to_owned))
        .flatten();
    let mut groups = if by_row_group {
        list.by_row_group()?
            .map(|(column, by)| (column.to_owned(), by, Vec::new(), HashMap::new()))
    } else {
        None
    };
    let mut rows = 0;
    while let Some(row) = list.next_row()? {
        rows += 1;
        if let (Some((_, _, values, index)), Some(group)) = (groups.as_mut(), row.group) {
            count_group(path, values, index, group, row.line)?;
        }
    }
    drop(list);
    let sha256 = digest.fingerprint();
    let absolute = std::path::absolute(path).map_err(io(path))?;
    Ok(CheckedInput {
        path: path.to_path_buf(),
        file,
        rows,
        read: InputRead {
            path: absolute.display().to_string(),
            sha256: sha256.to_string(),
        },
        identity,
        groups: groups.map(|(column, by, values, _)| ListedGroups { column, by, values }),
        unread_group_column,
    })
}

/// Counts a row of `group`, refusing a list that names too many groups.
fn count_group(
    path: &Path,
    values: &mut Vec<ListedGroup>,
    index: &mut HashMap<String, usize>,
    group: String,
    line: u64,
) -> Result<(), StepError> {
    if let Some(&at) = index.get(&group) {
        values[at].rows += 1;
        return Ok(());
    }
    if values.len() == MAX_LISTED_GROUPS {
        return Err(StepError::TooManyListedGroups {
            path: path.to_path_buf(),
            line,
            limit: MAX_LISTED_GROUPS,
        });
    }
    index.insert(group.clone(), values.len());
    values.push(ListedGroup {
        value: group,
        first_line: line,
        rows: 1,
    });
    Ok(())
}

impl CheckedInput {
    /// The list again from its first row, and the digest of what is read.
    pub(super) fn reread(&self) -> Result<(MemberList, DigestHandle), StepError> {
        let mut file = self.file.try_clone().map_err(io(&self.path))?;
        file.seek(SeekFrom::Start(0)).map_err(io(&self.path))?;
        let (reader, digest) = hashing(file);
        let list = MemberList::from_reader(&self.path, Box::new(reader))?;
        Ok((list, digest))
    }

    /// The list again from its first row, only the rows of `groups` when
    /// given, and the digest of what is read.
    pub(super) fn reread_only(
        &self,
        groups: Option<&Arc<HashSet<String>>>,
    ) -> Result<(MemberList, DigestHandle), StepError> {
        let (mut list, digest) = self.reread()?;
        if let Some(groups) = groups {
            list.only_groups(Arc::clone(groups))?;
        }
        Ok((list, digest))
    }

    /// Checks, once a reread has reached the end, that it read the same bytes.
    pub(super) fn verify(&self, digest: &DigestHandle) -> Result<(), StepError> {
        let now = digest.fingerprint();
        if now.as_str() == self.read.sha256 {
            return Ok(());
        }
        Err(StepError::InputChanged {
            path: self.path.clone(),
            recorded: self.read.sha256.clone(),
            now: now.to_string(),
        })
    }
}
