//! Taking a complete file out of a watched folder and putting it away after
//! its run. A file is claimed by one atomic rename into its own folder below
//! `<watched>/.processing/<workflow>/`, so no second claimer, sender or
//! listing ever sees it again under its dropped name; after the run it is
//! renamed into the archive folders with the run id in its name, never
//! replacing a file there. Every folder is opened without following links
//! (a link planted in the watched folder cannot move a file elsewhere), and
//! all of them must be on the watched folder's file system, which is checked
//! with a real rename before the watch starts.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, RenameFlags};
use rustix::io::Errno;

use super::folder::{Look, MARKER_SUFFIX};
use crate::files::confined;
use crate::files::lock::{LockFile, SharedLock};
use crate::manifest::spec::ArchiveSpec;

/// The folder below a watched folder that claimed files wait in.
pub const PROCESSING: &str = ".processing";

/// Why a watched folder cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ClaimError {
    #[error("cannot prepare `{}` for workflow `{workflow}`", path.display())]
    #[diagnostic(
        code(bulkops::watch::folder),
        help(
            "check the cause above; the watched folder and its archive folders must be creatable and writable"
        )
    )]
    Folder {
        workflow: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is on another file system than the watched folder `{}`", folder.display(), watched.display())]
    #[diagnostic(
        code(bulkops::watch::other_filesystem),
        help(
            "bulkops claims and archives files by renaming them, which cannot cross file systems; put the archive folders inside the watched folder (the default) or on its file system"
        )
    )]
    OtherFilesystem { watched: PathBuf, folder: PathBuf },
    #[error("another `bulkops watch` serves workflow `{workflow}` on `{}`", watched.display())]
    #[diagnostic(
        code(bulkops::watch::held),
        help("one watch service takes the files of a workflow's folder; stop the other one first")
    )]
    Held { workflow: String, watched: PathBuf },
    #[error("an archive folder of workflow `{workflow}`, `{}`, is the watched folder", folder.display())]
    #[diagnostic(
        code(bulkops::watch::archive_is_watched),
        help(
            "archived files would be claimed and run again; name archive folders below the watched folder (the defaults are `processed`, `failed` and `duplicates`)"
        )
    )]
    ArchiveIsWatched { workflow: String, folder: PathBuf },
}

/// Where a file goes after its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Processed,
    Failed,
    Duplicates,
}

impl Destination {
    /// The ledger status of a file put here.
    pub fn status(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Duplicates => "duplicate",
        }
    }

    /// The destination the ledger status names, for finishing a move.
    pub fn from_status(status: &str) -> Option<Self> {
        match status {
            "processed" => Some(Self::Processed),
            "failed" | "refused" => Some(Self::Failed),
            "duplicate" => Some(Self::Duplicates),
            _ => None,
        }
    }
}

/// An opened folder and how it is shown.
struct Opened {
    fd: OwnedFd,
    path: PathBuf,
}

/// The folders of one workflow's watch. They are opened again for every
/// claim and move (never through a link below the watched folder), so a
/// folder an administrator rotates or recreates is the one used, and the
/// ledger names where a file really went.
pub struct Folders {
    pub watched: PathBuf,
    workflow: String,
    archive: ArchiveSpec,
    /// Held while the watch serves the folder.
    lock: FolderLock,
    /// On a shared store: the name of this watch service, whose claims go
    /// into `.processing/<workflow>/@<name>/`.
    service: Option<String>,
}

/// How a watch holds its workflow's folder: alone (on a store of one
/// machine), or with the other services of a shared store (which keeps out
/// a watch that would serve it alone).
enum FolderLock {
    Alone(LockFile),
    Shared(SharedLock),
}

impl FolderLock {
    /// Whether the lock file is still the one at its path: a watch whose lock
    /// file was removed or replaced no longer keeps other watches out.
    fn still_in_place(&self) -> io::Result<bool> {
        match self {
            Self::Alone(lock) => lock.still_in_place(),
            Self::Shared(lock) => lock.still_in_place(),
        }
    }
}

/// The prefix of a watch service's folder of claims.
const SERVICE_PREFIX: char = '@';

/// A file claimed for a run: alone in its claim folder, under its dropped name.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The claim folder's name: when it was claimed, and a sequence number.
    pub id: String,
    /// The name the file was dropped under.
    pub name: String,
    /// The file's absolute path now.
    pub path: PathBuf,
    /// Whether its marker file was claimed with it.
    pub marker: bool,
}

impl Claimed {
    /// How the ledger knows the claim: `CLAIM/NAME`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.id, self.name)
    }
}

impl Folders {
    /// Opens (creating them) the watched folder, its claim folder and its
    /// archive folders; takes the workflow's watch lock (a share of it for
    /// `service`, one of several services of a shared store); and checks with
    /// a real rename that files can move between them.
    pub fn prepare(
        watched: &Path,
        workflow: &str,
        archive: &ArchiveSpec,
        service: Option<&str>,
    ) -> Result<Self, ClaimError> {
        let processing = watched.join(PROCESSING);
        let lock_path = processing.join(format!("{workflow}.lock"));
        let folder_error = |path: &Path, source| ClaimError::Folder {
            workflow: workflow.to_owned(),
            path: path.to_path_buf(),
            source,
        };
        let root = confined::open_root(watched, true).map_err(|e| folder_error(watched, e))?;
        confined::open_below(&root, &[OsStr::new(PROCESSING)], true)
            .map_err(|e| folder_error(&processing, e))?;
        let lock = match service {
            None => LockFile::try_exclusive(&lock_path).map(|lock| lock.map(FolderLock::Alone)),
            Some(_) => SharedLock::try_take(&lock_path).map(|lock| lock.map(FolderLock::Shared)),
        };
        let lock = match lock {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                return Err(ClaimError::Held {
                    workflow: workflow.to_owned(),
                    watched: watched.to_path_buf(),
                });
            }
            Err(source) => return Err(folder_error(&lock_path, source)),
        };
        let folders = Self {
            watched: watched.to_path_buf(),
            workflow: workflow.to_owned(),
            archive: archive.clone(),
            lock,
            service: service.map(|name| format!("{SERVICE_PREFIX}{name}")),
        };
        folders.check_same_filesystem()?;
        Ok(folders)
    }

    /// Takes the archive folders an edited manifest names, checked as at
    /// start; the claim folder, its lock and the claimed files stay.
    pub fn rearchive(&mut self, archive: &ArchiveSpec) -> Result<(), ClaimError> {
        let old = std::mem::replace(&mut self.archive, archive.clone());
        if let Err(error) = self.check_same_filesystem() {
            self.archive = old;
            return Err(error);
        }
        Ok(())
    }

    fn folder_error(&self, path: &Path, source: io::Error) -> ClaimError {
        ClaimError::Folder {
            workflow: self.workflow.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// The watched folder, opened now.
    fn root(&self) -> io::Result<OwnedFd> {
        confined::open_root(&self.watched, true)
    }

    /// The workflow's claim folder, `.processing/<workflow>`, opened now.
    fn all_claims(&self, root: &OwnedFd) -> io::Result<Opened> {
        let parts = [OsStr::new(PROCESSING), OsStr::new(&self.workflow)];
        Ok(Opened {
            fd: confined::open_below(root, &parts, true)?,
            path: self.watched.join(PROCESSING).join(&self.workflow),
        })
    }

    /// This watch's claim folder, opened now: the workflow's, or this
    /// service's folder in it.
    fn claims(&self, root: &OwnedFd) -> io::Result<Opened> {
        let all = self.all_claims(root)?;
        let Some(service) = &self.service else {
            return Ok(all);
        };
        Ok(Opened {
            fd: confined::open_below(&all.fd, &[OsStr::new(service)], true)?,
            path: all.path.join(service),
        })
    }

    /// Takes over the claims of watch services that are gone (`alive` says
    /// which are not) and those a watch serving the folder alone left: each
    /// claim folder is renamed into this service's, so of several services
    /// taking over at once one gets each. Returns the claims taken.
    pub fn adopt_orphans(&self, alive: &dyn Fn(&str) -> bool) -> io::Result<Vec<String>> {
        let mut adopted = Vec::new();
        let Some(mine) = &self.service else {
            return Ok(adopted);
        };
        let root = self.root()?;
        let all = self.all_claims(&root)?;
        let own = self.claims(&root)?;
        for entry in std::fs::read_dir(&all.path)?.filter_map(Result::ok) {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) || name == *mine {
                continue;
            }
            match name.strip_prefix(SERVICE_PREFIX) {
                Some(owner) if alive(owner) => {}
                Some(_) => {
                    let folder = confined::open_below(&all.fd, &[OsStr::new(&name)], false)?;
                    for claim in std::fs::read_dir(all.path.join(&name))?.filter_map(Result::ok) {
                        let claim = claim.file_name().to_string_lossy().into_owned();
                        if is_claim_id(&claim) && adopt(&folder, &claim, &own.fd) {
                            adopted.push(claim);
                        }
                    }
                    let _ = rustix::fs::unlinkat(&all.fd, &*name, AtFlags::REMOVEDIR);
                }
                // A claim of a watch that served the folder alone: none
                // does now, since this one holds a share of the lock.
                None => {
                    if is_claim_id(&name) && adopt(&all.fd, &name, &own.fd) {
                        adopted.push(name);
                    }
                }
            }
        }
        Ok(adopted)
    }

    /// An archive folder, opened (created) now.
    fn destination(&self, root: &OwnedFd, destination: Destination) -> io::Result<Opened> {
        let relative = match destination {
            Destination::Processed => &self.archive.processed,
            Destination::Failed => &self.archive.failed,
            Destination::Duplicates => &self.archive.duplicates,
        };
        Ok(Opened {
            fd: open_archive(root, &self.watched, relative)?,
            path: self.watched.join(relative),
        })
    }

    /// Renames a probe file into every folder and back: the only sure test
    /// that a rename will not fail with `EXDEV` (bind mounts share a device
    /// number and still refuse).
    fn check_same_filesystem(&self) -> Result<(), ClaimError> {
        let root = self
            .root()
            .map_err(|e| self.folder_error(&self.watched, e))?;
        let mut folders = vec![self.claims(&root).map_err(|e| {
            self.folder_error(&self.watched.join(PROCESSING).join(&self.workflow), e)
        })?];
        for destination in [
            Destination::Processed,
            Destination::Failed,
            Destination::Duplicates,
        ] {
            let opened = self.destination(&root, destination).map_err(|e| {
                let relative = match destination {
                    Destination::Processed => &self.archive.processed,
                    Destination::Failed => &self.archive.failed,
                    Destination::Duplicates => &self.archive.duplicates,
                };
                self.folder_error(&self.watched.join(relative), e)
            })?;
            folders.push(opened);
        }
        self.refuse_archiving_into_the_watched_folder(&root, &folders)?;
        let probe = confined::temp_name();
        if let Err(source) = confined::create_exclusive(&root, &probe) {
            return Err(self.folder_error(&self.watched, source));
        }
        let mut outcome = Ok(());
        for folder in &folders {
            outcome = match rustix::fs::renameat(&root, &*probe, &folder.fd, &*probe) {
                Ok(()) => rustix::fs::renameat(&folder.fd, &*probe, &root, &*probe)
                    .map_err(|errno| self.probe_error(folder, errno)),
                Err(errno) => Err(self.probe_error(folder, errno)),
            };
            if outcome.is_err() {
                break;
            }
        }
        let _ = confined::remove(&root, OsStr::new(&probe));
        outcome
    }

    /// An archive folder that is the watched folder (or its claim folder)
    /// would hand every archived file back to be claimed again.
    fn refuse_archiving_into_the_watched_folder(
        &self,
        root: &OwnedFd,
        folders: &[Opened],
    ) -> Result<(), ClaimError> {
        let identity = |fd: &OwnedFd| rustix::fs::fstat(fd).map(|stat| (stat.st_dev, stat.st_ino));
        let watched =
            identity(root).map_err(|errno| self.folder_error(&self.watched, errno.into()))?;
        let claims = folders.first().map(|claims| identity(&claims.fd));
        for folder in folders.iter().skip(1) {
            let found = identity(&folder.fd)
                .map_err(|errno| self.folder_error(&folder.path, errno.into()))?;
            if found == watched || claims.is_some_and(|claims| claims == Ok(found)) {
                return Err(ClaimError::ArchiveIsWatched {
                    workflow: self.workflow.clone(),
                    folder: folder.path.clone(),
                });
            }
        }
        Ok(())
    }

    fn probe_error(&self, folder: &Opened, errno: Errno) -> ClaimError {
        if errno == Errno::XDEV {
            ClaimError::OtherFilesystem {
                watched: self.watched.clone(),
                folder: folder.path.clone(),
            }
        } else {
            self.folder_error(&folder.path, errno.into())
        }
    }

    /// The absolute path of a file in the watched folder.
    pub fn dropped(&self, name: &str) -> PathBuf {
        self.watched.join(name)
    }

    /// Claims `name` if it still looks as it did when it was found complete.
    /// `None` when it is gone (another claimer took it) or changed (it goes
    /// back, to settle again). In marker mode the marker is claimed first, so
    /// a crash in between never leaves a marker that would vouch for the
    /// next file of the same name.
    pub fn claim(&self, name: &str, look: Look, marker: bool) -> io::Result<Option<Claimed>> {
        if !self.lock.still_in_place()? {
            return Err(io::Error::other(format!(
                "the watch lock `{}` was removed or replaced while this watch ran, so another watch may serve the folder; no more files are claimed from it: stop the other watch and restart this one",
                self.watched
                    .join(PROCESSING)
                    .join(format!("{}.lock", self.workflow))
                    .display()
            )));
        }
        let root = self.root()?;
        let claims = self.claims(&root)?;
        let (id, claim_fd) = new_claim_folder(&claims.fd, self.service.is_some())?;
        let marker_name = format!("{name}{MARKER_SUFFIX}");
        let give_up = |error: Option<io::Error>| {
            if marker {
                let _ = rename_no_replace(&claim_fd, &marker_name, &root, &marker_name);
            }
            let _ = rustix::fs::unlinkat(&claims.fd, &*id, AtFlags::REMOVEDIR);
            error.map_or(Ok(None), Err)
        };
        if marker {
            match rename_no_replace(&root, &marker_name, &claim_fd, &marker_name) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => return give_up(None),
                Err(error) => return give_up(Some(error)),
            }
        }
        match rename_no_replace(&root, name, &claim_fd, name) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return give_up(None),
            Err(error) => return give_up(Some(error)),
        }
        let path = claims.path.join(&id).join(name);
        if Look::at(&path)? != Some(look) {
            // Written to after it was found complete: not complete after all.
            rename_no_replace(&claim_fd, name, &root, name)?;
            return give_up(None);
        }
        let _ = confined::sync_dir(&claim_fd);
        Ok(Some(Claimed {
            id,
            name: name.to_owned(),
            path,
            marker,
        }))
    }

    /// The first free name for a claimed file in a destination:
    /// `<stem>.<tag>.<extension>`, then `<stem>.<tag>-2.<extension>`, …
    pub fn archive_path(
        &self,
        claimed: &Claimed,
        destination: Destination,
        tag: &str,
    ) -> io::Result<PathBuf> {
        let root = self.root()?;
        let folder = self.destination(&root, destination)?;
        let name = free_name(&folder, &claimed.name, tag)?;
        Ok(folder.path.join(name))
    }

    /// Moves a claimed file (and its marker) to `target`, a path
    /// [`Self::archive_path`] chose; when that name was taken meanwhile,
    /// to the next free one, which is returned.
    pub fn archive(
        &self,
        claimed: &Claimed,
        destination: Destination,
        target: &Path,
        tag: &str,
    ) -> io::Result<PathBuf> {
        let root = self.root()?;
        let folder = self.destination(&root, destination)?;
        let claims = self.claims(&root)?;
        let claim_fd = confined::open_below(&claims.fd, &[OsStr::new(&claimed.id)], false)?;
        let mut name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The marker goes first: a claim folder left with the file alone is
        // still recognised by the file's claim after a crash.
        let marker = format!("{}{MARKER_SUFFIX}", claimed.name);
        if claimed.marker && confined::stat(&claim_fd, OsStr::new(&marker))?.is_some() {
            let archived_marker = format!("{name}{MARKER_SUFFIX}");
            rename_no_replace(&claim_fd, &marker, &folder.fd, &archived_marker)?;
        }
        loop {
            match rename_no_replace(&claim_fd, &claimed.name, &folder.fd, &name) {
                Ok(()) => break,
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    name = free_name(&folder, &claimed.name, tag)?;
                }
                Err(error) => return Err(error),
            }
        }
        let _ = confined::sync_dir(&folder.fd);
        let _ = rustix::fs::unlinkat(&claims.fd, &*claimed.id, AtFlags::REMOVEDIR);
        Ok(folder.path.join(name))
    }

    /// The files left claimed by an earlier watch (it stopped or was killed
    /// before their runs ended), oldest claim first. Empty claim folders (their
    /// file was archived) are removed; in marker mode, a marker whose file was
    /// never claimed goes back to the watched folder.
    pub fn leftovers(&self, marker_mode: bool) -> io::Result<Vec<Claimed>> {
        let root = self.root()?;
        let claims = self.claims(&root)?;
        let mut ids: Vec<String> = std::fs::read_dir(&claims.path)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        ids.sort();
        let mut claimed = Vec::new();
        for id in ids {
            let folder = claims.path.join(&id);
            let mut names: Vec<String> = std::fs::read_dir(&folder)?
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect();
            names.sort();
            let is_marker = |name: &str| {
                name.strip_suffix(MARKER_SUFFIX)
                    .is_some_and(|base| marker_mode || names.iter().any(|other| other == base))
            };
            if let Some(name) = names.iter().find(|name| !is_marker(name)).cloned() {
                let marker = names.contains(&format!("{name}{MARKER_SUFFIX}"));
                claimed.push(Claimed {
                    path: folder.join(&name),
                    id,
                    name,
                    marker,
                });
            } else {
                // Empty, or a marker whose file was never claimed: it goes back.
                let claim_fd = confined::open_below(&claims.fd, &[OsStr::new(&id)], false)?;
                for marker in &names {
                    let _ = rename_no_replace(&claim_fd, marker, &root, marker);
                }
                let _ = rustix::fs::unlinkat(&claims.fd, &*id, AtFlags::REMOVEDIR);
            }
        }
        Ok(claimed)
    }
}

/// Whether `name` is a claim folder's name (anything else found among the
/// claims is not a watch's, and is left where it is).
fn is_claim_id(name: &str) -> bool {
    name.len() > 8
        && name.bytes().take(8).all(|byte| byte.is_ascii_digit())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_digit() || matches!(byte, b'a'..=b'f' | b'-'))
}

/// Moves the claim folder `claim` from `from` into `to`, never over another;
/// whether it moved (another service may have taken it first).
fn adopt(from: &OwnedFd, claim: &str, to: &OwnedFd) -> bool {
    match rename_no_replace(from, claim, to, claim) {
        Ok(()) => true,
        Err(error) if error.kind() == io::ErrorKind::NotFound => false,
        Err(error) => {
            tracing::warn!(claim, %error, "cannot take over a claimed file a stopped watch left");
            false
        }
    }
}

/// A new, empty claim folder named by the time and a sequence number, and
/// with `unique`, a random part too (services sharing a folder claim at
/// once, and a claim keeps its name when another service takes it over).
fn new_claim_folder(claims: &OwnedFd, unique: bool) -> io::Result<(String, OwnedFd)> {
    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let mut stamp = now.strftime("%Y%m%d-%H%M%S-%6f").to_string();
    if unique {
        let mut random = [0_u8; 4];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
        stamp = format!("{stamp}-{:08x}", u32::from_be_bytes(random));
    }
    for sequence in 0..10_000u32 {
        let id = format!("{stamp}-{sequence:04}");
        match rustix::fs::mkdirat(claims, &*id, Mode::from_raw_mode(0o777)) {
            Ok(()) => {
                let fd = confined::open_below(claims, &[OsStr::new(&id)], false)?;
                return Ok((id, fd));
            }
            Err(Errno::EXIST) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Err(io::Error::other("no free claim folder name"))
}

/// The first free `<stem>.<tag>[-N].<extension>` in a folder, with room for
/// its marker's `.done`.
fn free_name(folder: &Opened, dropped: &str, tag: &str) -> io::Result<String> {
    let (stem, extension) = match dropped.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (dropped, String::new()),
    };
    let room = confined::NAME_MAX - MARKER_SUFFIX.len();
    for attempt in 1..10_000u32 {
        let suffix = if attempt == 1 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let name = confined::fit_name_within(&format!("{stem}.{tag}{suffix}{extension}"), room)
            .into_owned();
        let marker = format!("{name}{MARKER_SUFFIX}");
        if confined::stat(&folder.fd, OsStr::new(&name))?.is_none()
            && confined::stat(&folder.fd, OsStr::new(&marker))?.is_none()
        {
            return Ok(name);
        }
    }
    Err(io::Error::other("no free archive name"))
}

/// Opens an archive folder: below the watched folder without following
/// links, or an absolute folder as the manifest names it.
fn open_archive(watched_fd: &OwnedFd, watched: &Path, relative: &str) -> io::Result<OwnedFd> {
    let path = Path::new(relative);
    if path.is_absolute() {
        return confined::open_root(path, true);
    }
    let parts: Vec<&OsStr> = path
        .components()
        .filter_map(|component| match component {
            std::path::Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    if parts.is_empty()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{relative}` must name a folder inside `{}` (no `..`)",
                watched.display()
            ),
        ));
    }
    confined::open_below(watched_fd, &parts, true)
}

/// Renames without ever replacing a file at the target: `RENAME_NOREPLACE`,
/// or, where the file system lacks it, a look before the rename (a folder is
/// renamed into by one watch service alone: services sharing a folder claim
/// into folders of their own, and archive names carry the claim's id).
fn rename_no_replace(from_dir: &OwnedFd, from: &str, to_dir: &OwnedFd, to: &str) -> io::Result<()> {
    match rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            if confined::stat(to_dir, OsStr::new(to))?.is_some() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?)
        }
        Err(errno) => Err(errno.into()),
    }
}
