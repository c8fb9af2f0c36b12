//! Folders below a root, walked one component at a time with `openat` and
//! `O_NOFOLLOW`: a symbolic link anywhere below the root is refused, so no
//! file is ever created, replaced or removed outside it, whatever links a
//! local user plants. The root itself is taken as given (it may be a link
//! that the person running bulkops chose).
//!
//! Temporary files get unpredictable names and are created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, so a name planted in advance is never
//! written through.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The longest file name most file systems take, in bytes.
pub const NAME_MAX: usize = 255;

/// Opens the root folder, creating it (and its parents) when asked.
pub fn open_root(root: &Path, create: bool) -> io::Result<OwnedFd> {
    if create {
        std::fs::create_dir_all(root)?;
    }
    Ok(rustix::fs::open(
        root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens the folder `parts` below `root`, creating missing folders when asked.
/// Every part must be a real folder: a link or a file in the way is refused.
pub fn open_below(root: &OwnedFd, parts: &[&OsStr], create: bool) -> io::Result<OwnedFd> {
    let mut current = rustix::io::dup(root)?;
    for (depth, part) in parts.iter().enumerate() {
        if create {
            match rustix::fs::mkdirat(&current, *part, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(error) => return Err(error.into()),
            }
        }
        current = match rustix::fs::openat(
            &current,
            *part,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return Err(in_the_way(&current, &parts[..=depth]));
            }
            Err(error) => return Err(error.into()),
        };
    }
    Ok(current)
}

/// Why a path component cannot be walked through.
fn in_the_way(parent: &OwnedFd, parts: &[&OsStr]) -> io::Error {
    let shown = parts
        .iter()
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let last = parts.last().copied().unwrap_or_default();
    let link = rustix::fs::statat(parent, last, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink);
    let message = if link {
        format!("`{shown}` is a symbolic link; bulkops does not follow links below the output root")
    } else {
        format!("`{shown}` is in the way: it is not a folder")
    };
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Creates the new file `name` in `dir`; an existing file or link of that
/// name is an error, never written through.
pub fn create_exclusive(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )?;
    Ok(File::from(fd))
}

/// The prefix and suffix of every temporary file name bulkops makes.
pub const TEMP_PREFIX: &str = ".bulkops.";
/// See [`TEMP_PREFIX`].
pub const TEMP_SUFFIX: &str = ".partial";

/// A fresh temporary name: `.bulkops.<128 random bits in hex>.partial`.
pub fn temp_name() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator works");
    format!("{TEMP_PREFIX}{}{TEMP_SUFFIX}", super::input::hex(&bytes))
}

/// Whether `name` is a temporary name bulkops made.
pub fn is_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Gives `from` the name `to` in the same folder unless `to` exists; returns
/// whether it did. A hard link never replaces anything, even a file created
/// a moment ago by another process.
pub fn link_if_free(dir: &OwnedFd, from: &str, to: &OsStr) -> io::Result<bool> {
    match rustix::fs::linkat(dir, from, dir, to, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Renames `from` to `to` in the same folder, replacing `to` (a link at `to`
/// is replaced itself, never followed).
pub fn replace(dir: &OwnedFd, from: &str, to: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::renameat(dir, from, dir, to)?)
}

/// Removes the file `name` from `dir`.
pub fn remove(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// What is at `name` in `dir`, without following a link.
pub fn stat(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The other names in `dir` of the file `name` (hard links to the same
/// inode), without following links.
pub fn twins(dir: &OwnedFd, name: &OsStr) -> io::Result<Vec<std::ffi::OsString>> {
    use std::os::unix::ffi::OsStrExt;
    let Some(own) = stat(dir, name)? else {
        return Ok(Vec::new());
    };
    if own.st_nlink < 2 {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let other = OsStr::from_bytes(entry.file_name().to_bytes());
        if other == name || other == "." || other == ".." {
            continue;
        }
        #[expect(
            clippy::useless_conversion,
            reason = "inode types differ between platforms"
        )]
        if entry.ino() == u64::from(own.st_ino)
            && stat(dir, other)?
                .is_some_and(|twin| twin.st_dev == own.st_dev && twin.st_ino == own.st_ino)
        {
            found.push(other.to_os_string());
        }
    }
    Ok(found)
}

/// Makes a folder's entries durable (after a rename or link in it).
pub fn sync_dir(dir: &OwnedFd) -> io::Result<()> {
    Ok(rustix::fs::fsync(dir)?)
}

/// `name` shortened to fit [`NAME_MAX`] bytes, deterministically: the start of
/// the name, `~` and eight hex digits of its hash, and the extension.
pub fn fit_name(name: &str) -> std::borrow::Cow<'_, str> {
    fit_name_within(name, NAME_MAX)
}

/// [`fit_name`] within `max` bytes (at least 32), for a name that gets a
/// suffix later.
pub fn fit_name_within(name: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let max = max.clamp(32, NAME_MAX);
    if name.len() <= max {
        return name.into();
    }
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let hash = super::input::hex(&digest.as_ref()[..4]);
    let room = max - extension.len() - 1 - hash.len();
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}{extension}", &stem[..cut]).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn parts(path: &str) -> Vec<&OsStr> {
        path.split('/').map(OsStr::new).collect()
    }

    #[test]
    fn walks_and_creates_real_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(&dir.path().join("out"), true).unwrap();
        let below = open_below(&root, &parts("a/b"), true).unwrap();
        let name = temp_name();
        drop(create_exclusive(&below, &name).unwrap());
        assert!(create_exclusive(&below, &name).is_err());
        assert!(is_temp_name(&name));
        assert!(link_if_free(&below, &name, OsStr::new("x.csv")).unwrap());
        assert!(!link_if_free(&below, &name, OsStr::new("x.csv")).unwrap());
        remove(&below, OsStr::new(&name)).unwrap();
        assert!(dir.path().join("out/a/b/x.csv").is_file());
    }

    #[test]
    fn refuses_links_below_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        symlink(&outside, dir.path().join("out/exports")).unwrap();
        let root = open_root(&dir.path().join("out"), false).unwrap();
        let error = open_below(&root, &parts("exports/2026"), true).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`exports` is a symbolic link; bulkops does not follow links below the output root"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        std::fs::write(dir.path().join("out/file"), "x").unwrap();
        let error = open_below(&root, &parts("file/x"), true).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`file` is in the way: it is not a folder"
        );
    }

    #[test]
    fn replacing_a_link_replaces_the_link_only() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        symlink(&victim, dir.path().join("out/r.csv")).unwrap();
        let root = open_root(&dir.path().join("out"), false).unwrap();
        let name = temp_name();
        drop(create_exclusive(&root, &name).unwrap());
        assert!(!link_if_free(&root, &name, OsStr::new("r.csv")).unwrap());
        replace(&root, &name, OsStr::new("r.csv")).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(
            !std::fs::symlink_metadata(dir.path().join("out/r.csv"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn long_names_are_shortened_the_same_way_each_time() {
        let long = format!("{}.csv", "é".repeat(200));
        let fitted = fit_name(&long);
        assert!(fitted.len() <= NAME_MAX, "{}", fitted.len());
        assert!(fitted.ends_with(".csv"));
        assert_eq!(fitted, fit_name(&long));
        assert_ne!(fitted, fit_name(&format!("{}x.csv", "é".repeat(200))));
        assert_eq!(fit_name("short.csv"), "short.csv");
    }
}
