//! Files bulkops writes: downloads and result files, always inside the output
//! root, always complete, never over a file they were not asked to replace.
//!
//! Every folder below the root is walked without following links (see
//! `files::confined`), so a link planted in the output root cannot send a
//! file elsewhere. Rows go to a temporary file with an unpredictable name
//! beside the target, which takes the target's name only once everything is
//! written and synced, so a crash, a full disk or Ctrl-C never leaves half a
//! file. An existing file is kept unless the manifest says `overwrite: true`:
//! the new one gets a numeric suffix instead. File names longer than the file
//! system allows are shortened the same way every time.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::files::confined;
use crate::files::input::FileIdentity;
use crate::template::escape_reason;

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OutputError {
    #[error("the output path `{path}` {reason}")]
    #[diagnostic(
        code(bulkops::output::escape),
        help("output paths are relative to the output root and cannot climb out of it")
    )]
    Escape { path: String, reason: &'static str },
    #[error("cannot write `{}`", path.display())]
    #[diagnostic(
        code(bulkops::output::io),
        help(
            "check the cause above: the folder must be writable, the disk not full, and no link in the way"
        )
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is the step's input; bulkops never writes over an input", path.display())]
    #[diagnostic(
        code(bulkops::output::input),
        help("give the result file another name (`results:`)")
    )]
    WouldReplaceInput { path: PathBuf },
}

/// Where temporary files are recorded while they exist, so that a run resumed
/// after a kill can remove the ones its first attempt left behind.
pub trait TempLedger: Send + Sync {
    /// Called before a temporary file is created at `path`.
    fn record(&self, path: &Path) -> std::io::Result<()>;
    /// Called once the temporary file at `path` is gone.
    fn forget(&self, path: &Path);
}

/// The folder every output path is relative to.
#[derive(Clone)]
pub struct OutputRoot {
    root: PathBuf,
    ledger: Option<Arc<dyn TempLedger>>,
}

impl std::fmt::Debug for OutputRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputRoot")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// A file that was written: where it is, and what it was when written, so
/// that only that file is ever deleted with its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub identity: WrittenIdentity,
}

/// Device, inode, size and modification time of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenIdentity {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub modified_ns: i128,
}

impl WrittenIdentity {
    fn of(metadata: &std::fs::Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
        }
    }

    fn of_stat(stat: &rustix::fs::Stat) -> Self {
        #[expect(
            clippy::useless_conversion,
            clippy::cast_sign_loss,
            reason = "stat field types differ between platforms"
        )]
        Self {
            device: u64::from(stat.st_dev),
            inode: u64::from(stat.st_ino),
            size: stat.st_size as u64,
            modified_ns: i128::from(stat.st_mtime) * 1_000_000_000 + i128::from(stat.st_mtime_nsec),
        }
    }
}

impl std::fmt::Display for WrittenIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.device, self.inode, self.size, self.modified_ns
        )
    }
}

impl std::str::FromStr for WrittenIdentity {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let mut parts = text.split(':');
        let mut next = || parts.next().ok_or(());
        let identity = Self {
            device: next()?.parse().map_err(|_| ())?,
            inode: next()?.parse().map_err(|_| ())?,
            size: next()?.parse().map_err(|_| ())?,
            modified_ns: next()?.parse().map_err(|_| ())?,
        };
        Ok(identity)
    }
}

/// What became of a written file that was to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Already gone.
    Missing,
    /// Something else is there now (replaced, edited or a link): kept.
    Changed,
    /// The path is not below the output root: kept.
    Outside,
}

impl OutputRoot {
    /// An output root at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            ledger: None,
        }
    }

    /// The same root, recording temporary files in `ledger`.
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn TempLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The components of a relative output path, each fitted to the file
    /// system's name limit; refused if the path could leave the root.
    fn components(relative: &str) -> Result<Vec<OsString>, OutputError> {
        let escape = |reason| OutputError::Escape {
            path: relative.to_owned(),
            reason,
        };
        if let Some(reason) = escape_reason(relative) {
            return Err(escape(reason));
        }
        if relative.contains('\0') {
            return Err(escape("contains a NUL character"));
        }
        let mut parts = Vec::new();
        for part in Path::new(relative).components() {
            match part {
                Component::Normal(name) => parts.push(OsString::from(
                    confined::fit_name(&name.to_string_lossy()).as_ref(),
                )),
                Component::CurDir => {}
                _ => return Err(escape("is not a plain relative path")),
            }
        }
        if parts.is_empty() {
            return Err(escape("names no file"));
        }
        Ok(parts)
    }

    /// The full path of a relative output path, refused if it could leave the root.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, OutputError> {
        let parts = Self::components(relative)?;
        Ok(parts
            .iter()
            .fold(self.root.clone(), |path, part| path.join(part)))
    }

    /// Starts writing the file at a relative output path.
    pub fn create(&self, relative: &str, overwrite: bool) -> Result<PendingFile, OutputError> {
        self.create_protecting(relative, overwrite, None)
    }

    /// Starts writing the file at a relative output path, which must never
    /// replace the file `protect` (the step's input).
    pub fn create_protecting(
        &self,
        relative: &str,
        overwrite: bool,
        protect: Option<FileIdentity>,
    ) -> Result<PendingFile, OutputError> {
        let mut parts = Self::components(relative)?;
        let name = parts.pop().expect("a path names a file");
        let folder = parts
            .iter()
            .fold(self.root.clone(), |path, part| path.join(part));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutputError::Io { path, source }
        };
        let root = confined::open_root(&self.root, true).map_err(io(&self.root))?;
        let borrowed: Vec<&OsStr> = parts.iter().map(OsString::as_os_str).collect();
        let dir = confined::open_below(&root, &borrowed, true).map_err(io(&folder))?;
        if overwrite {
            // Refused now, before the step changes anything, not when the
            // file is done.
            refuse_input(&dir, &name, protect, &folder)?;
        }
        let temp = confined::temp_name();
        let temp_path = folder.join(&temp);
        if let Some(ledger) = &self.ledger {
            ledger.record(&temp_path).map_err(io(&temp_path))?;
        }
        let file = match confined::create_exclusive(&dir, &temp) {
            Ok(file) => file,
            Err(source) => {
                self.forget(&temp_path);
                return Err(OutputError::Io {
                    path: temp_path,
                    source,
                });
            }
        };
        Ok(PendingFile {
            dir,
            folder,
            name,
            temp,
            overwrite,
            protect,
            ledger: self.ledger.clone(),
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Whether writing `relative` with `overwrite` would replace the file
    /// `input`: a step that would is refused before it changes anything.
    pub fn would_replace(
        &self,
        relative: &str,
        overwrite: bool,
        input: FileIdentity,
    ) -> Result<bool, OutputError> {
        if !overwrite {
            return Ok(false);
        }
        let mut parts = Self::components(relative)?;
        let name = parts.pop().expect("a path names a file");
        let borrowed: Vec<&OsStr> = parts.iter().map(OsString::as_os_str).collect();
        let Ok(root) = confined::open_root(&self.root, false) else {
            return Ok(false);
        };
        let Ok(dir) = confined::open_below(&root, &borrowed, false) else {
            return Ok(false);
        };
        let folder = parts
            .iter()
            .fold(self.root.clone(), |path, part| path.join(part));
        Ok(refuse_input(&dir, &name, Some(input), &folder).is_err())
    }

    fn forget(&self, path: &Path) {
        if let Some(ledger) = &self.ledger {
            ledger.forget(path);
        }
    }

    /// The path as shown to people: relative to the root.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// The folder below the root that holds `path`, and the file's name;
    /// `None` when `path` is not below the root.
    fn locate(&self, path: &Path) -> Result<Option<(OwnedFd, OsString)>, std::io::Error> {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return Ok(None);
        };
        let mut parts: Vec<&OsStr> = Vec::new();
        for part in relative.components() {
            match part {
                Component::Normal(name) => parts.push(name),
                _ => return Ok(None),
            }
        }
        let Some(name) = parts.pop() else {
            return Ok(None);
        };
        let root = confined::open_root(&self.root, false)?;
        let dir = confined::open_below(&root, &parts, false)?;
        Ok(Some((dir, name.to_os_string())))
    }

    /// Deletes a file this root's run wrote, only if it is still that file.
    pub fn remove_written(
        &self,
        path: &Path,
        identity: &WrittenIdentity,
    ) -> Result<Removal, OutputError> {
        let io = |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        };
        let located = match self.locate(path) {
            Ok(located) => located,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Removal::Missing);
            }
            Err(error) => return Err(io(error)),
        };
        let Some((dir, name)) = located else {
            return Ok(Removal::Outside);
        };
        let Some(stat) = confined::stat(&dir, &name).map_err(io)? else {
            return Ok(Removal::Missing);
        };
        let regular =
            rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile;
        if !regular || WrittenIdentity::of_stat(&stat) != *identity {
            return Ok(Removal::Changed);
        }
        confined::remove(&dir, &name).map_err(io)?;
        Ok(Removal::Removed)
    }

    /// Opens a file this root's run wrote, for reading, only if it is still
    /// that file (no link followed, the same device, inode, size and time);
    /// `None` when it is gone or changed.
    pub fn open_written(
        &self,
        path: &Path,
        identity: &WrittenIdentity,
    ) -> Result<Option<File>, OutputError> {
        let io = |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        };
        let located = match self.locate(path) {
            Ok(located) => located,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io(error)),
        };
        let Some((dir, name)) = located else {
            return Ok(None);
        };
        let fd = match rustix::fs::openat(
            &dir,
            name.as_os_str(),
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP) => return Ok(None),
            Err(error) => return Err(io(error.into())),
        };
        let file = File::from(fd);
        let metadata = file.metadata().map_err(io)?;
        if !metadata.is_file() || WrittenIdentity::of(&metadata) != *identity {
            return Ok(None);
        }
        Ok(Some(file))
    }

    /// Removes a temporary file that an interrupted run left at `path`, if it
    /// is one bulkops made; returns whether there was one.
    pub fn remove_temp(&self, path: &Path) -> Result<bool, OutputError> {
        let io = |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        };
        let located = match self.locate(path) {
            Ok(located) => located,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(io(error)),
        };
        let Some((dir, name)) = located else {
            return Ok(false);
        };
        if !confined::is_temp_name(&name.to_string_lossy()) {
            return Ok(false);
        }
        match confined::stat(&dir, &name).map_err(io)? {
            Some(stat)
                if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                    == rustix::fs::FileType::RegularFile =>
            {
                // Killed after the file got its name but before it was
                // recorded with its job: the name is an orphan, and goes too.
                for twin in confined::twins(&dir, &name).map_err(io)? {
                    confined::remove(&dir, &twin).map_err(io)?;
                }
                confined::remove(&dir, &name).map_err(io)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Refuses a target that is the file `protect`.
fn refuse_input(
    dir: &OwnedFd,
    name: &OsStr,
    protect: Option<FileIdentity>,
    folder: &Path,
) -> Result<(), OutputError> {
    let Some(protect) = protect else {
        return Ok(());
    };
    let existing = confined::stat(dir, name).map_err(|source| OutputError::Io {
        path: folder.join(name),
        source,
    })?;
    match existing {
        Some(stat) => {
            let existing = WrittenIdentity::of_stat(&stat);
            if existing.device == protect.device && existing.inode == protect.inode {
                Err(OutputError::WouldReplaceInput {
                    path: folder.join(name),
                })
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}

/// A file being written under a temporary name.
pub struct PendingFile {
    dir: OwnedFd,
    folder: PathBuf,
    name: OsString,
    temp: String,
    overwrite: bool,
    protect: Option<FileIdentity>,
    ledger: Option<Arc<dyn TempLedger>>,
    writer: Option<BufWriter<File>>,
}

impl PendingFile {
    /// A writer for the file's contents.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer
            .as_mut()
            .expect("a pending file has a writer until it is committed")
    }

    /// The path the file is meant to get, for messages.
    pub fn target(&self) -> PathBuf {
        self.folder.join(&self.name)
    }

    fn temp_path(&self) -> PathBuf {
        self.folder.join(&self.temp)
    }

    /// Finishes the file and gives it its name; returns where it went.
    pub fn commit(self) -> Result<WrittenFile, OutputError> {
        self.commit_with(|_| Ok(()))
    }

    /// Finishes the file, gives it its name and has `record` note it while
    /// its temporary name still exists: a process killed in between leaves
    /// the temporary name (in the ledger) beside the new one, so the new one
    /// can be found and removed. A file `record` fails for loses its name.
    pub fn commit_with(
        mut self,
        record: impl FnOnce(&WrittenFile) -> std::io::Result<()>,
    ) -> Result<WrittenFile, OutputError> {
        let writer = self
            .writer
            .take()
            .expect("a pending file is committed once");
        let placed = self
            .finish(writer)
            .and_then(|written| match record(&written) {
                Ok(()) => Ok(written),
                Err(source) => {
                    if let Some(name) = written.path.file_name() {
                        let _ = confined::remove(&self.dir, name);
                    }
                    Err(OutputError::Io {
                        path: written.path,
                        source,
                    })
                }
            });
        let _ = confined::remove(&self.dir, OsStr::new(&self.temp));
        if let Some(ledger) = &self.ledger {
            ledger.forget(&self.temp_path());
        }
        placed
    }

    fn finish(&self, writer: BufWriter<File>) -> Result<WrittenFile, OutputError> {
        let io = |path: PathBuf| move |source| OutputError::Io { path, source };
        let file = writer.into_inner().map_err(|error| OutputError::Io {
            path: self.target(),
            source: error.into_error(),
        })?;
        file.sync_all().map_err(io(self.target()))?;
        let identity = WrittenIdentity::of(&file.metadata().map_err(io(self.target()))?);
        drop(file);
        let name = if self.overwrite {
            self.replace()?
        } else {
            self.place_beside()?
        };
        confined::sync_dir(&self.dir).map_err(io(self.folder.clone()))?;
        Ok(WrittenFile {
            path: self.folder.join(name),
            identity,
        })
    }

    fn replace(&self) -> Result<OsString, OutputError> {
        let io = |source| OutputError::Io {
            path: self.target(),
            source,
        };
        if let (Some(protect), Some(stat)) = (
            self.protect,
            confined::stat(&self.dir, &self.name).map_err(io)?,
        ) {
            let existing = WrittenIdentity::of_stat(&stat);
            if existing.device == protect.device && existing.inode == protect.inode {
                return Err(OutputError::WouldReplaceInput {
                    path: self.target(),
                });
            }
        }
        confined::replace(&self.dir, &self.temp, &self.name).map_err(io)?;
        Ok(self.name.clone())
    }

    /// Links the file under the target name, or the first free `name-N.ext`;
    /// a hard link never replaces an existing file, even one written meanwhile.
    fn place_beside(&self) -> Result<OsString, OutputError> {
        for attempt in 0..10_000 {
            let candidate = numbered(&self.name, attempt);
            match confined::link_if_free(&self.dir, &self.temp, &candidate) {
                Ok(true) => return Ok(candidate),
                Ok(false) => {}
                Err(source) => {
                    return Err(OutputError::Io {
                        path: self.folder.join(candidate),
                        source,
                    });
                }
            }
        }
        Err(OutputError::Io {
            path: self.target(),
            source: std::io::Error::other("10,000 files of this name exist already"),
        })
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = confined::remove(&self.dir, OsStr::new(&self.temp));
            if let Some(ledger) = &self.ledger {
                ledger.forget(&self.temp_path());
            }
        }
    }
}

impl Write for PendingFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.writer().write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

/// `name.ext`, then `name-1.ext`, `name-2.ext`, ..., each within the name limit.
fn numbered(name: &OsStr, attempt: u32) -> OsString {
    if attempt == 0 {
        return name.to_os_string();
    }
    let path = Path::new(name);
    let stem = path
        .file_stem()
        .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
    let suffix = match path.extension() {
        Some(extension) => format!("-{attempt}.{}", extension.to_string_lossy()),
        None => format!("-{attempt}"),
    };
    let mut cut = stem
        .len()
        .min(confined::NAME_MAX.saturating_sub(suffix.len()));
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    OsString::from(format!("{}{suffix}", &stem[..cut]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &OutputRoot, path: &str, text: &str, overwrite: bool) -> PathBuf {
        let mut file = root.create(path, overwrite).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file.commit().unwrap().path
    }

    #[test]
    fn keeps_existing_files_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = OutputRoot::new(dir.path());
        let first = write(&root, "out/a.csv", "one", false);
        let second = write(&root, "out/a.csv", "two", false);
        assert_eq!(root.display(&first), "out/a.csv");
        assert_eq!(root.display(&second), "out/a-1.csv");
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "one");
        let replaced = write(&root, "out/a.csv", "three", true);
        assert_eq!(replaced, first);
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "three");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files are left: {names:?}");
    }

    #[test]
    fn an_abandoned_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = OutputRoot::new(dir.path());
        let mut file = root.create("b.csv", false).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn refuses_paths_outside_the_root() {
        let root = OutputRoot::new("/tmp/root");
        for path in [
            "/etc/passwd",
            "../x.csv",
            "a/../../x.csv",
            "C:\\x.csv",
            "",
            ".",
            "a\0b.csv",
        ] {
            assert!(
                matches!(root.resolve(path), Err(OutputError::Escape { .. })),
                "{path:?}"
            );
        }
        assert_eq!(
            root.resolve("a/./b.csv").unwrap(),
            PathBuf::from("/tmp/root/a/b.csv")
        );
    }

    #[test]
    fn never_replaces_the_protected_input() {
        let dir = tempfile::tempdir().unwrap();
        let root = OutputRoot::new(dir.path());
        std::fs::write(dir.path().join("in.csv"), "rows").unwrap();
        let input = File::open(dir.path().join("in.csv")).unwrap();
        let identity = FileIdentity::of(&input).unwrap();
        assert!(root.would_replace("in.csv", true, identity).unwrap());
        assert!(!root.would_replace("in.csv", false, identity).unwrap());
        assert!(!root.would_replace("other.csv", true, identity).unwrap());
        // Refused when the file is started, before anything is written.
        assert!(matches!(
            root.create_protecting("in.csv", true, Some(identity)),
            Err(OutputError::WouldReplaceInput { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("in.csv")).unwrap(),
            "rows"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_temporary_file_left_after_its_commit_takes_its_orphan_name_along() {
        let dir = tempfile::tempdir().unwrap();
        let root = OutputRoot::new(dir.path());
        // As a process killed between naming the file and recording it leaves it.
        let temp = dir.path().join(confined::temp_name());
        std::fs::write(&temp, "rows").unwrap();
        std::fs::hard_link(&temp, dir.path().join("results.csv")).unwrap();
        std::fs::write(dir.path().join("other.csv"), "rows").unwrap();
        assert!(root.remove_temp(&temp).unwrap());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["other.csv"]);
    }

    #[test]
    fn removes_only_the_file_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let root = OutputRoot::new(dir.path());
        let mut file = root.create("r/a.csv", false).unwrap();
        file.write_all(b"a").unwrap();
        let written = file.commit().unwrap();
        let mut file = root.create("r/b.csv", false).unwrap();
        file.write_all(b"b").unwrap();
        let edited = file.commit().unwrap();
        std::fs::remove_file(&edited.path).unwrap();
        std::fs::write(&edited.path, "someone else's").unwrap();
        assert_eq!(
            root.remove_written(&written.path, &written.identity)
                .unwrap(),
            Removal::Removed
        );
        assert_eq!(
            root.remove_written(&written.path, &written.identity)
                .unwrap(),
            Removal::Missing
        );
        assert_eq!(
            root.remove_written(&edited.path, &edited.identity).unwrap(),
            Removal::Changed
        );
        assert_eq!(
            root.remove_written(Path::new("/etc/passwd"), &edited.identity)
                .unwrap(),
            Removal::Outside
        );
        let parsed: WrittenIdentity = written.identity.to_string().parse().unwrap();
        assert_eq!(parsed, written.identity);
    }
}
