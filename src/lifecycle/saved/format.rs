//! The saved plan file (`bulkops plan --out plan.json`): a format version,
//! and per workflow the manifest and inputs it was made from (paths and
//! SHA-256), the directory it was made against, the run it becomes, and each
//! step's exact work with the state its targets must still be in.
//!
//! The plan id is the SHA-256 of the plan's canonical content (compact JSON
//! of everything but the id), so a reviewer's id names exactly one plan and a
//! plan edited by hand is refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::directory::outcome::RowOutcome;
use crate::steps::pinned::{JobOps, ObjectRef, Pins};

/// The format this bulkops writes and reads.
pub const FORMAT: &str = "bulkops-plan/1";

/// The largest plan file read: a plan of a million changes fits well below it.
const MAX_BYTES: u64 = 1 << 30;

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanFileError {
    #[error("cannot read the plan file `{}`", path.display())]
    #[diagnostic(code(bulkops::plan_file::read), help("check the cause above"))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a bulkops plan file: {reason}", path.display())]
    #[diagnostic(
        code(bulkops::plan_file::invalid),
        help("make a plan file with `bulkops plan MANIFEST --out FILE`")
    )]
    Invalid { path: PathBuf, reason: String },
    #[error("`{}` is a plan file of format `{found}`; this bulkops reads `{FORMAT}`", path.display())]
    #[diagnostic(
        code(bulkops::plan_file::format),
        help("make the plan again with this bulkops: `bulkops plan MANIFEST --out FILE`")
    )]
    Format { path: PathBuf, found: String },
    #[error("the plan file `{}` was changed after it was made: its content does not match its id {id}", path.display())]
    #[diagnostic(
        code(bulkops::plan_file::tampered),
        help(
            "a plan is applied only as it was made and reviewed; make it again with `bulkops plan MANIFEST --out FILE`"
        )
    )]
    Changed { path: PathBuf, id: String },
    #[error("cannot write the plan file `{}`", path.display())]
    #[diagnostic(
        code(bulkops::plan_file::write),
        help("check the cause above: the folder must exist and be writable")
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A plan file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    pub format: String,
    /// `sha256:` and the SHA-256 of the canonical content.
    pub plan_id: String,
    #[serde(flatten)]
    pub body: PlanBody,
}

/// Everything a plan id covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanBody {
    /// When the plan was made (RFC 3339).
    pub created_at: String,
    pub workflows: Vec<SavedWorkflow>,
}

/// One manifest's part of a plan: it becomes one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedWorkflow {
    pub workflow: String,
    /// The run that applies this part; named when the plan is made.
    pub run_id: String,
    pub manifest: SavedFile,
    pub directory: SavedDirectory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_file: Option<String>,
    pub guards: SavedGuards,
    /// Every input the preview read.
    pub inputs: Vec<SavedFile>,
    pub steps: Vec<SavedStep>,
}

/// A file by path (relative to the folder bulkops runs in, when below it)
/// and content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedFile {
    pub path: String,
    pub sha256: String,
}

/// The directory a plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedDirectory {
    /// `local`, or the profile the manifest names.
    pub name: String,
    /// The local directory's id, or the profile's tenant and address.
    pub identity: String,
}

/// The guard limits the plan was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedGuards {
    pub max_removals: u64,
    pub max_device_deletions: u64,
}

/// One step's exact work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedStep {
    pub id: String,
    pub kind: String,
    /// What a filter step selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Vec<ObjectRef>>,
    /// One per group changed, or one for a device change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobOps>,
    /// Files written, relative to the output root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Jobs deleted, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_jobs: Vec<String>,
}

impl PlanBody {
    /// The plan id: `sha256:` and the SHA-256 of the compact JSON of the
    /// format and the body.
    pub fn id(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            format: &'a str,
            #[serde(flatten)]
            body: &'a PlanBody,
        }
        let bytes = serde_json::to_vec(&Canonical {
            format: FORMAT,
            body: self,
        })
        .expect("a plan serializes");
        format!(
            "sha256:{}",
            crate::files::input::Fingerprint::of_bytes(&bytes)
        )
    }
}

impl PlanFile {
    /// A plan of these workflows, made now.
    pub fn new(workflows: Vec<SavedWorkflow>) -> Self {
        let body = PlanBody {
            created_at: jiff::Timestamp::now().to_string(),
            workflows,
        };
        Self {
            format: FORMAT.to_owned(),
            plan_id: body.id(),
            body,
        }
    }

    /// Reads and checks a plan file: its format, and its content against its id.
    pub fn read(path: &Path) -> Result<Self, PlanFileError> {
        let bytes = read_limited(path)?;
        let invalid = |reason: String| PlanFileError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
        let found = value
            .get("format")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("it has no `format`".to_owned()))?;
        if found != FORMAT {
            return Err(PlanFileError::Format {
                path: path.to_path_buf(),
                found: found.to_owned(),
            });
        }
        let file: Self =
            serde_json::from_value(value.clone()).map_err(|error| invalid(error.to_string()))?;
        if serde_json::to_value(&file).ok().as_ref() != Some(&value) {
            return Err(invalid(
                "it holds fields a plan file does not have, or values written differently"
                    .to_owned(),
            ));
        }
        if file.body.id() != file.plan_id {
            return Err(PlanFileError::Changed {
                path: path.to_path_buf(),
                id: file.plan_id,
            });
        }
        Ok(file)
    }

    /// Writes the plan file whole: a temporary file beside it, renamed over it.
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let failed = |source| PlanFileError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(self).expect("a plan serializes") + "\n";
        let folder = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let temporary = folder.join(format!(
            ".bulkops-plan-{}.tmp",
            crate::files::input::Fingerprint::of_bytes(
                format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes()
            )
            .as_str()
            .get(..16)
            .unwrap_or_default()
        ));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(failed(error));
        }
        Ok(())
    }
}

/// Whether `path` holds a plan file rather than a manifest: JSON whose
/// first key is `format` with a bulkops plan format.
pub fn looks_like_plan_file(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 256];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let read = file.read(&mut head).unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..read]);
    let text = text.trim_start();
    text.starts_with('{')
        && text[1..]
            .trim_start()
            .strip_prefix("\"format\"")
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        && text.contains("\"bulkops-plan/")
}

fn read_limited(path: &Path) -> Result<Vec<u8>, PlanFileError> {
    use std::io::Read as _;
    let failed = |source| PlanFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(PlanFileError::Invalid {
            path: path.to_path_buf(),
            reason: format!("it is larger than {MAX_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

impl SavedWorkflow {
    /// What a run of this part is held to.
    pub fn pins(&self) -> Pins {
        let mut pins = Pins::default();
        for step in &self.steps {
            if let Some(selection) = &step.selection {
                pins.select(
                    &step.id,
                    selection.iter().map(|object| object.id.clone()).collect(),
                );
            }
            for job in &step.jobs {
                pins.job(&step.id, job);
            }
            if step.kind == "deleteJobs" {
                pins.delete_jobs(&step.id, step.deleted_jobs.iter().cloned());
            }
        }
        pins
    }

    /// How many rows of the plan have `outcome`.
    pub fn count(&self, outcome: RowOutcome) -> u64 {
        self.steps
            .iter()
            .flat_map(|step| &step.jobs)
            .map(|job| job.count(outcome))
            .sum()
    }
}
