//! A step's input list, read whole before any change (every row checked, the
//! SHA-256 taken, the rows counted) and, in a run, copied as it is read into
//! a private file without a name, from which the step then reads its rows:
//! whatever happens to the input meanwhile (rewritten in place, replaced), the
//! rows applied are exactly the rows checked and fingerprinted.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{InputRead, StepError};
use crate::bulkcsv::members::{MemberList, MemberListError};
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
}

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
/// input itself (a preview).
pub(super) fn check(path: &Path, snapshot: Option<&Path>) -> Result<CheckedInput, StepError> {
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
    let mut rows = 0;
    while list.next_row()?.is_some() {
        rows += 1;
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
    })
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
