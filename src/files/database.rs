//! Database files (the job store and the local directory): created whole or
//! not at all, by one process at a time, and never mistaken for empty.
//!
//! Several bulkops processes may start at once in a fresh folder. Each takes
//! the database's creation lock (`NAME.lock` beside it) before it looks at the
//! file; the first builds the database under a temporary name and renames it
//! into place, so the others find either no file or a complete one. A file
//! that exists but is empty (0 bytes) was not made by bulkops this way, and
//! is refused rather than used as an empty database.

use std::io;
use std::path::{Path, PathBuf};

use super::lock::LockFile;

/// What is at a database's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Missing,
    /// A file of 0 bytes.
    Empty,
    Present,
}

/// What is at `path`; anything but a regular file is an error.
pub fn state(path: &Path) -> io::Result<FileState> {
    match std::fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        )),
        Ok(metadata) if metadata.len() == 0 => Ok(FileState::Empty),
        Ok(_) => Ok(FileState::Present),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(FileState::Missing),
        Err(error) => Err(error),
    }
}

/// Waits for and takes the creation lock of the database at `path`.
pub fn creation_lock(path: &Path) -> io::Result<LockFile> {
    LockFile::exclusive(&sibling(path, ".lock"))
}

/// `path` with `suffix` added to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Why a database could not be built.
#[derive(Debug)]
pub enum BuildError<E> {
    /// The file system refused (the path is named in the error's text).
    Io(PathBuf, io::Error),
    Sqlite(rusqlite::Error),
    /// The build itself failed.
    Build(E),
}

/// Builds a database with `build` under a temporary name beside `path`, then
/// gives it the name `path` (replacing what is there). Call it with the
/// creation lock held; temporary files of builds that were killed are removed.
pub fn create_whole<E>(
    path: &Path,
    build: impl FnOnce(&mut rusqlite::Connection) -> Result<(), E>,
) -> Result<(), BuildError<E>> {
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| BuildError::Io(path, error)
    };
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    remove_stale_builds(path).map_err(io(folder))?;
    let temp = sibling(path, &format!(".new-{}", std::process::id()));
    let result = build_at(&temp, build);
    if result.is_err() {
        remove_with_journals(&temp);
        return result;
    }
    // Journals of a database that was here before would be read as the new
    // one's: they go first.
    for suffix in ["-wal", "-shm"] {
        let journal = sibling(path, suffix);
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(BuildError::Io(journal, error)),
        }
    }
    std::fs::rename(&temp, path).map_err(io(path))?;
    Ok(())
}

fn build_at<E>(
    temp: &Path,
    build: impl FnOnce(&mut rusqlite::Connection) -> Result<(), E>,
) -> Result<(), BuildError<E>> {
    remove_with_journals(temp);
    let mut connection = rusqlite::Connection::open(temp).map_err(BuildError::Sqlite)?;
    build(&mut connection).map_err(BuildError::Build)?;
    // A clean close folds the write-ahead log into the file, so the rename
    // moves everything.
    connection
        .close()
        .map_err(|(_, error)| BuildError::Sqlite(error))?;
    for suffix in ["-wal", "-shm"] {
        let journal = sibling(temp, suffix);
        if journal.exists() {
            std::fs::remove_file(&journal).map_err(|error| BuildError::Io(journal, error))?;
        }
    }
    Ok(())
}

/// Removes `NAME.new-*` files (and their journals) that builds killed before
/// their rename left; the caller holds the creation lock, so none is in use.
fn remove_stale_builds(path: &Path) -> io::Result<()> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let prefix = format!("{name}.new-");
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn remove_with_journals(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(path, suffix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum TestError {
        Sqlite,
        Refused,
    }
    impl From<rusqlite::Error> for TestError {
        fn from(_: rusqlite::Error) -> Self {
            Self::Sqlite
        }
    }

    #[test]
    fn a_database_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.db");
        assert_eq!(state(&path).unwrap(), FileState::Missing);
        let _lock = creation_lock(&path).unwrap();
        let failed = create_whole(&path, |connection| {
            connection.execute_batch("CREATE TABLE t (a)")?;
            Err::<(), _>(TestError::Refused)
        });
        assert!(matches!(failed, Err(BuildError::Build(TestError::Refused))));
        assert_eq!(state(&path).unwrap(), FileState::Missing);
        std::fs::write(sibling(&path, ".new-1"), "left by a killed build").unwrap();
        create_whole(&path, |connection| {
            connection.execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE t (a); INSERT INTO t VALUES (1);",
            )?;
            Ok::<(), TestError>(())
        })
        .unwrap();
        assert_eq!(state(&path).unwrap(), FileState::Present);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["x.db", "x.db.lock"]);
        let count: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
        std::fs::write(&path, "").unwrap();
        assert_eq!(state(&path).unwrap(), FileState::Empty);
    }
}
