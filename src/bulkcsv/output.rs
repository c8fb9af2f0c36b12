//! Files bulkops writes: downloads and result files, always inside the output
//! root, always complete. Rows go to a temporary file beside the target, which
//! takes the target's name only once everything is written, so a crash, a full
//! disk or Ctrl-C never leaves half a file. An existing file is kept unless the
//! manifest says `overwrite: true`: the new one gets a numeric suffix instead.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

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
        help("check that the folder is writable and the disk is not full")
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The folder every output path is relative to.
#[derive(Debug, Clone)]
pub struct OutputRoot {
    root: PathBuf,
}

impl OutputRoot {
    /// An output root at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The full path of a relative output path, refused if it could leave the root.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, OutputError> {
        let escape = |reason| OutputError::Escape {
            path: relative.to_owned(),
            reason,
        };
        if let Some(reason) = escape_reason(relative) {
            return Err(escape(reason));
        }
        let path = Path::new(relative);
        if path
            .components()
            .any(|part| !matches!(part, Component::Normal(_) | Component::CurDir))
        {
            return Err(escape("is not a plain relative path"));
        }
        Ok(self.root.join(path))
    }

    /// Starts writing the file at a relative output path.
    pub fn create(&self, relative: &str, overwrite: bool) -> Result<PendingFile, OutputError> {
        let target = self.resolve(relative)?;
        PendingFile::create(target, overwrite)
    }

    /// The path as shown to people: relative to the root.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }
}

/// A file being written under a temporary name.
pub struct PendingFile {
    target: PathBuf,
    temp: PathBuf,
    overwrite: bool,
    writer: Option<BufWriter<File>>,
}

impl PendingFile {
    fn create(target: PathBuf, overwrite: bool) -> Result<Self, OutputError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutputError::Io { path, source }
        };
        let folder = target.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&folder).map_err(io(&folder))?;
        let name = target.file_name().map_or_else(
            || "output".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let temp = folder.join(format!(".{name}.{}.partial", std::process::id()));
        let file = File::create(&temp).map_err(io(&temp))?;
        Ok(Self {
            target,
            temp,
            overwrite,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// A writer for the file's contents.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer
            .as_mut()
            .expect("a pending file has a writer until it is committed")
    }

    /// Finishes the file and gives it its name; returns the path it got.
    pub fn commit(mut self) -> Result<PathBuf, OutputError> {
        let writer = self
            .writer
            .take()
            .expect("a pending file is committed once");
        let file = writer.into_inner().map_err(|error| OutputError::Io {
            path: self.temp.clone(),
            source: error.into_error(),
        })?;
        file.sync_all().map_err(|source| OutputError::Io {
            path: self.temp.clone(),
            source,
        })?;
        drop(file);
        let placed = if self.overwrite {
            self.replace()
        } else {
            self.place_beside()
        };
        let _ = std::fs::remove_file(&self.temp);
        placed
    }

    fn replace(&self) -> Result<PathBuf, OutputError> {
        std::fs::rename(&self.temp, &self.target).map_err(|source| OutputError::Io {
            path: self.target.clone(),
            source,
        })?;
        Ok(self.target.clone())
    }

    /// Links the file under the target name, or the first free `name-N.ext`;
    /// a hard link never replaces an existing file, even one written meanwhile.
    fn place_beside(&self) -> Result<PathBuf, OutputError> {
        for attempt in 0..10_000 {
            let candidate = numbered(&self.target, attempt);
            match std::fs::hard_link(&self.temp, &candidate) {
                Ok(()) => return Ok(candidate),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(OutputError::Io {
                        path: candidate,
                        source,
                    });
                }
            }
        }
        Err(OutputError::Io {
            path: self.target.clone(),
            source: std::io::Error::other("10,000 files of this name exist already"),
        })
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.temp);
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

/// `name.ext`, then `name-1.ext`, `name-2.ext`, ...
fn numbered(target: &Path, attempt: u32) -> PathBuf {
    if attempt == 0 {
        return target.to_path_buf();
    }
    let stem = target
        .file_stem()
        .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
    let name = match target.extension() {
        Some(extension) => format!("{stem}-{attempt}.{}", extension.to_string_lossy()),
        None => format!("{stem}-{attempt}"),
    };
    target.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &OutputRoot, path: &str, text: &str, overwrite: bool) -> PathBuf {
        let mut file = root.create(path, overwrite).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file.commit().unwrap()
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
        for path in ["/etc/passwd", "../x.csv", "a/../../x.csv", "C:\\x.csv", ""] {
            assert!(
                matches!(root.resolve(path), Err(OutputError::Escape { .. })),
                "{path}"
            );
        }
        assert_eq!(
            root.resolve("a/./b.csv").unwrap(),
            PathBuf::from("/tmp/root/a/./b.csv")
        );
    }
}
