//! Opening inputs: member lists, device lists, manifests, tenant files.
//!
//! Only regular files are read. A named pipe (FIFO) would block the open until
//! some writer appears and a device may never end, so a file is opened without
//! waiting (`O_NONBLOCK`) and checked before a byte is read. Inputs are
//! fingerprinted with SHA-256 as they are read, so a run can tell later
//! whether the file it planned from is still the same.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Opens `path` for reading if it is a regular file (following links, as a
/// person naming the file would expect).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}; bulkops reads regular files only"),
    ))
}

/// Reads a whole regular file, refusing one larger than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is {size} bytes long; the limit is {limit} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it grew beyond the limit of {limit} bytes while it was read"),
        ));
    }
    Ok(bytes)
}

/// A new file without a name in `dir` (Linux `O_TMPFILE`; elsewhere a file
/// created under a random name and unlinked at once): it is gone when the
/// process ends, however it ends, and no other process can open it.
pub fn anonymous_file(dir: &Path) -> io::Result<File> {
    let folder = rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if let Ok(fd) = rustix::fs::openat(
        &folder,
        ".",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        return Ok(File::from(fd));
    }
    // A file system without unnamed files: name it, and unlink it at once.
    let name = super::confined::temp_name();
    let fd = rustix::fs::openat(
        &folder,
        name.as_str(),
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    rustix::fs::unlinkat(&folder, name.as_str(), rustix::fs::AtFlags::empty())?;
    Ok(File::from(fd))
}

/// A reader that copies what passes through it into a writer.
pub struct TeeReader<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: io::Write> TeeReader<R, W> {
    /// Copies everything read from `inner` into `copy`.
    pub fn new(inner: R, copy: W) -> Self {
        Self { inner, copy }
    }
}

impl<R: Read, W: io::Write> Read for TeeReader<R, W> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.copy.write_all(&buffer[..read])?;
        Ok(read)
    }
}

/// The identity of a file on its file system: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub device: u64,
    pub inode: u64,
}

impl FileIdentity {
    /// The identity of an open file.
    pub fn of(file: &File) -> io::Result<Self> {
        let metadata = file.metadata()?;
        Ok(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }
}

/// A SHA-256 digest, shown as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The digest as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fingerprint read back from its hex form.
    pub fn from_hex(hex: String) -> Self {
        Self(hex)
    }

    /// The fingerprint of bytes in memory.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        Self(hex(digest.as_ref()))
    }

    /// The fingerprint of a whole file, read once.
    pub fn of_file(path: &Path) -> io::Result<Self> {
        let mut reader = HashingReader::new(open_regular(path)?);
        io::copy(&mut reader, &mut io::sink())?;
        Ok(reader.finish())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    context: ring::digest::Context,
}

impl<R: Read> HashingReader<R> {
    /// Hashes everything read from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            context: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    /// The fingerprint of what was read.
    pub fn finish(self) -> Fingerprint {
        hex_of(self.context.finish().as_ref())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.context.update(&buffer[..read]);
        Ok(read)
    }
}

/// A reader that hashes what passes through it into a digest its owner can
/// read once the reader is used up, even after handing the reader away.
pub struct SharedHashingReader<R> {
    inner: R,
    digest: DigestHandle,
}

/// The digest side of a [`SharedHashingReader`].
#[derive(Clone)]
pub struct DigestHandle(std::sync::Arc<std::sync::Mutex<ring::digest::Context>>);

impl DigestHandle {
    /// The fingerprint of what was read so far.
    pub fn fingerprint(&self) -> Fingerprint {
        let context = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        hex_of(context.finish().as_ref())
    }
}

/// A reader over `inner` that hashes, and the handle to its digest.
pub fn hashing<R: Read>(inner: R) -> (SharedHashingReader<R>, DigestHandle) {
    let digest = DigestHandle(std::sync::Arc::new(std::sync::Mutex::new(
        ring::digest::Context::new(&ring::digest::SHA256),
    )));
    (
        SharedHashingReader {
            inner,
            digest: digest.clone(),
        },
        digest,
    )
}

impl<R: Read> Read for SharedHashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.digest
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .update(&buffer[..read]);
        Ok(read)
    }
}

fn hex_of(bytes: &[u8]) -> Fingerprint {
    Fingerprint(hex(bytes))
}

/// Bytes as lowercase hex digits.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = open_regular(dir.path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is a folder; bulkops reads regular files only"
        );
        let fifo = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let error = open_regular(&fifo).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is a named pipe (FIFO); bulkops reads regular files only"
        );
    }

    #[test]
    fn fingerprints_are_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            Fingerprint::of_file(&path).unwrap().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_shared_digest_is_read_after_the_reader_is_gone() {
        let (mut reader, digest) = hashing(&b"abc"[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        drop(reader);
        assert_eq!(
            digest.fingerprint().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn anonymous_files_leave_no_name() {
        use std::io::{Seek, Write};
        let dir = tempfile::tempdir().unwrap();
        let mut file = anonymous_file(dir.path()).unwrap();
        file.write_all(b"rows").unwrap();
        file.seek(io::SeekFrom::Start(0)).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "rows");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn reads_within_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_limited(&path, 10).unwrap().len(), 10);
        let error = read_limited(&path, 9).unwrap_err();
        assert_eq!(
            error.to_string(),
            "it is 10 bytes long; the limit is 9 bytes"
        );
    }
}
