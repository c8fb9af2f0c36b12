//! Advisory file locks (`flock`): held while a process lives, released by the
//! kernel when it ends, however it ends (a `kill -9` included). bulkops uses
//! them to create and migrate its databases one process at a time, and to let
//! only one process execute a run.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A shared lock on a lock file: many holders at once, none while someone
/// holds it exclusively; released when dropped.
#[derive(Debug)]
pub struct SharedLock {
    file: File,
    path: PathBuf,
}

impl SharedLock {
    /// Waits until no process holds `path` exclusively and takes a share.
    pub fn take(path: &Path) -> io::Result<Self> {
        let file = open_creating(path)?;
        file.lock_shared()?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Takes a share of `path` unless a process holds it exclusively.
    pub fn try_take(path: &Path) -> io::Result<Option<Self>> {
        Ok(try_locked(path, File::try_lock_shared)?.map(|file| Self {
            file,
            path: path.to_path_buf(),
        }))
    }

    /// Whether the locked file is still the one at its path (see
    /// [`LockFile::still_in_place`]).
    pub fn still_in_place(&self) -> io::Result<bool> {
        still_linked(&self.file, &self.path)
    }
}

/// An exclusive lock on a lock file; released when dropped.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
}

impl LockFile {
    /// Waits until the lock on `path` is free and takes it, creating the file
    /// (and its folder) when missing.
    pub fn exclusive(path: &Path) -> io::Result<Self> {
        loop {
            let file = open_creating(path)?;
            file.lock()?;
            if still_linked(&file, path)? {
                return Ok(Self {
                    file,
                    path: path.to_path_buf(),
                });
            }
        }
    }

    /// Takes the lock on `path` if no other process holds it.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<Self>> {
        Ok(try_locked(path, File::try_lock)?.map(|file| Self {
            file,
            path: path.to_path_buf(),
        }))
    }

    /// Whether the locked file is still the one at its path: a lock file
    /// removed or replaced (by a clean-up job) no longer keeps another
    /// process out.
    pub fn still_in_place(&self) -> io::Result<bool> {
        still_linked(&self.file, &self.path)
    }

    /// Whether some process holds the lock on `path` now. A missing file is a
    /// lock nobody holds.
    pub fn is_held(path: &Path) -> io::Result<bool> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(error)) => Err(error),
        }
    }

    /// Replaces the lock file's content with `note` (who holds it, for
    /// processes that wait).
    pub fn write_note(&self, note: &str) -> io::Result<()> {
        use std::io::{Seek as _, Write as _};
        let mut file = &self.file;
        file.set_len(0)?;
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(note.as_bytes())
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the lock file and releases the lock. A process waiting for the
    /// lock notices that its file is gone and takes a new one.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}

fn open_creating(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Whether the locked file is still the one at `path`: a lock taken on a file
/// that another process removed meanwhile protects nothing.
/// Opens (creating) the lock file at `path` and takes its lock with `lock`
/// unless another process holds it; a file removed or replaced meanwhile is
/// opened again.
fn try_locked(
    path: &Path,
    lock: impl Fn(&File) -> Result<(), TryLockError>,
) -> io::Result<Option<File>> {
    loop {
        let file = open_creating(path)?;
        match lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(error)) => return Err(error),
        }
        if still_linked(&file, path)? {
            return Ok(Some(file));
        }
    }
}

fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/run.lock");
        assert!(!LockFile::is_held(&path).unwrap());
        let first = LockFile::exclusive(&path).unwrap();
        assert!(LockFile::is_held(&path).unwrap());
        assert!(LockFile::try_exclusive(&path).unwrap().is_none());
        drop(first);
        assert!(!LockFile::is_held(&path).unwrap());
        let second = LockFile::try_exclusive(&path).unwrap().unwrap();
        second.remove();
        assert!(!path.exists());
        assert!(!LockFile::is_held(&path).unwrap());
    }

    #[test]
    fn a_waiter_does_not_keep_a_removed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        let first = LockFile::exclusive(&path).unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || LockFile::exclusive(&path).unwrap())
        };
        first.remove();
        let second = waiter.join().unwrap();
        assert!(path.exists(), "the waiter holds a lock on a linked file");
        assert!(LockFile::is_held(&path).unwrap());
        drop(second);
    }
}
