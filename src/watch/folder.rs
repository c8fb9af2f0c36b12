//! What a watched folder holds and when a file in it is complete: the names
//! that are never taken (dotfiles, editor backups, partial downloads, names
//! outside the workflow's pattern, bulkops' own folders), a listing of the
//! candidates, and the settle rule: a file counts as complete once its size,
//! modification time and inode stayed the same across two observations at
//! least `settle` apart, or (in marker mode) once `NAME.done` exists.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::manifest::spec::CompleteSpec;

/// The suffix of the marker file that says `NAME` is complete.
pub const MARKER_SUFFIX: &str = ".done";

/// Name endings that partial downloads and editors use, compared without case.
const PARTIAL_ENDINGS: [&str; 7] = [
    "~",
    ".tmp",
    ".part",
    ".partial",
    ".crdownload",
    ".filepart",
    ".swp",
];

/// Whether a workflow with this pattern and mode may take a file so named.
pub fn is_candidate(name: &str, pattern: &str, complete: CompleteSpec) -> bool {
    if name.starts_with('.') || is_partial(name) {
        return false;
    }
    if complete == CompleteSpec::Marker && name.ends_with(MARKER_SUFFIX) {
        return false;
    }
    glob_matches(pattern.as_bytes(), name.as_bytes())
}

fn is_partial(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PARTIAL_ENDINGS.iter().any(|ending| lower.ends_with(ending))
}

/// Matches a file name against a pattern with `*` (any run of characters)
/// and `?` (one character); everything else stands for itself.
pub fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    // The classic linear algorithm: remember the last `*` and backtrack to it.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What a file looked like when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub size: u64,
    pub modified: SystemTime,
    pub inode: u64,
}

impl Look {
    /// The look of a regular file; `None` for anything else (a link, a folder,
    /// a pipe), which is never taken.
    pub fn of(metadata: &std::fs::Metadata) -> Option<Self> {
        metadata.file_type().is_file().then(|| Self {
            size: metadata.len(),
            modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            inode: metadata.ino(),
        })
    }

    /// The look of `path` now, without following a link; `None` when it is
    /// gone or not a regular file.
    pub fn at(path: &Path) -> io::Result<Option<Self>> {
        match std::fs::symlink_metadata(path) {
            Ok(metadata) => Ok(Self::of(&metadata)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The candidates in a folder, by name, with how they look now.
pub fn list(
    folder: &Path,
    pattern: &str,
    complete: CompleteSpec,
) -> io::Result<BTreeMap<String, Look>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(file = ?entry.file_name(), "skipped: its name is not UTF-8");
            continue;
        };
        if !is_candidate(&name, pattern, complete) {
            continue;
        }
        match entry.metadata() {
            Ok(metadata) => {
                if let Some(look) = Look::of(&metadata) {
                    found.insert(name, look);
                }
            }
            // Gone between the listing and the look: nothing to take.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(found)
}

/// A candidate being watched until it is complete.
#[derive(Debug, Clone, Copy)]
pub struct Settling {
    pub look: Look,
    /// When the file was first seen looking like this.
    pub since: Instant,
}

/// What one observation of a candidate concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It changed (or is new): look again at this instant.
    Wait(Instant),
    /// It stayed the same for the settle time: it is complete.
    Complete(Look),
}

impl Settling {
    /// A file seen for the first time.
    pub fn new(look: Look, now: Instant) -> Self {
        Self { look, since: now }
    }

    /// Observes the file again: complete once unchanged for `settle`.
    pub fn observe(&mut self, look: Look, now: Instant, settle: Duration) -> Verdict {
        if look != self.look {
            *self = Self::new(look, now);
        }
        let due = self.since + settle;
        if now >= due {
            Verdict::Complete(look)
        } else {
            Verdict::Wait(due)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_a_shell() {
        let cases = [
            ("*.csv", "new-hires.csv", true),
            ("*.csv", "new-hires.csv.bak", false),
            ("*.csv", ".csv", true),
            ("new-hires-*.csv", "new-hires-2026-11-30.csv", true),
            ("new-hires-*.csv", "leavers-2026.csv", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxxc", false),
            ("*", "", true),
            ("", "x", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                glob_matches(pattern.as_bytes(), name.as_bytes()),
                expected,
                "{pattern} {name}"
            );
        }
    }

    #[test]
    fn partial_and_hidden_names_are_never_taken() {
        let settled = CompleteSpec::Settled;
        for name in [
            ".hidden.csv",
            "a.csv~",
            "a.csv.tmp",
            "a.csv.part",
            "a.csv.PARTIAL",
            "a.csv.crdownload",
            "a.csv.filepart",
            ".a.csv.swp",
            "a.txt",
        ] {
            assert!(
                !is_candidate(name, "*", settled) || name == "a.txt",
                "{name}"
            );
            assert!(!is_candidate(name, "*.csv", settled), "{name}");
        }
        assert!(is_candidate("a.csv", "*.csv", settled));
        assert!(is_candidate("a.csv.done", "*", settled));
        assert!(!is_candidate("a.csv.done", "*", CompleteSpec::Marker));
    }

    #[test]
    fn a_file_is_complete_only_after_staying_the_same_for_the_settle_time() {
        let settle = Duration::from_secs(2);
        let start = Instant::now();
        let look = |size| Look {
            size,
            modified: SystemTime::UNIX_EPOCH,
            inode: 7,
        };
        let mut settling = Settling::new(look(10), start);
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        assert_eq!(
            settling.observe(look(10), at(1), settle),
            Verdict::Wait(at(2))
        );
        assert_eq!(
            settling.observe(look(20), at(1), settle),
            Verdict::Wait(at(3))
        );
        assert_eq!(
            settling.observe(look(20), at(2), settle),
            Verdict::Wait(at(3))
        );
        assert_eq!(
            settling.observe(look(20), at(3), settle),
            Verdict::Complete(look(20))
        );
    }
}
