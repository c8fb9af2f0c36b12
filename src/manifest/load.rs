//! Loading one manifest: bytes → YAML with positions → schema check → spec →
//! plan, collecting every problem of every phase that can run.
//!
//! Nothing here touches a directory, the job store or the network: loading is
//! synchronous and depends only on the text.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::diagnostic::{ManifestDiagnostic, ManifestSource};
use super::schema;
use super::spec::WorkflowSpec;
use super::step::{StepKind, StepSpec};
use super::yaml::{self, Document, Node, Value};
use crate::plan::{self, DraftStep, DraftWorkflow, Plan};
use crate::problem::{Place, Pointer, Problem, ProblemKind, Segment};

/// The largest manifest bulkops reads. A 10,000-step workflow is about 1.5 MB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A manifest that passed every check.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub source: ManifestSource,
    pub plan: Plan,
    /// Where `metadata.name` is written, for problems found across files.
    pub name_span: std::ops::Range<usize>,
}

impl LoadedManifest {
    /// The manifest for one of its directories (or any profile `--profile`
    /// names): the same steps, run against `directory` alone.
    #[must_use]
    pub fn for_directory(mut self, directory: &str) -> Self {
        directory.clone_into(&mut self.plan.directory);
        self.plan.directories = vec![directory.to_owned()];
        self
    }

    /// One manifest per directory it runs against, in the order written.
    pub fn per_directory(self) -> Vec<Self> {
        let directories = self.plan.directories.clone();
        directories
            .iter()
            .map(|directory| self.clone().for_directory(directory))
            .collect()
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read `{path}`")]
    #[diagnostic(
        code(bulkops::manifest::read),
        help("check that the path exists and is readable")
    )]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file was read and has problems.
    #[error("`{}` has {} {}", .0.file, .0.diagnostics.len(), if .0.diagnostics.len() == 1 { "problem" } else { "problems" })]
    #[diagnostic(code(bulkops::manifest::invalid))]
    Invalid(InvalidManifest),
}

/// Every problem found in one manifest, in source order.
#[derive(Debug)]
pub struct InvalidManifest {
    /// The file's name as given.
    pub file: String,
    /// The problems, placed in the source.
    pub diagnostics: Vec<ManifestDiagnostic>,
}

/// Reads and loads a manifest file.
pub fn load_file(path: &Path) -> Result<LoadedManifest, LoadError> {
    let bytes = read_file(path)?;
    load_bytes(&path.display().to_string(), bytes).map_err(LoadError::Invalid)
}

/// Reads a manifest file's bytes (at most one byte over the size limit, which
/// `load_bytes` then refuses).
pub fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    read_limited(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Reads at most one byte more than the limit, so a huge file is refused
/// without reading all of it; only a regular file (a named pipe would block).
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = crate::files::input::open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Loads a manifest from its bytes; `name` is how the file is shown in messages.
pub fn load_bytes(name: &str, bytes: Vec<u8>) -> Result<LoadedManifest, InvalidManifest> {
    let (text, early) = decode(bytes);
    let source = ManifestSource {
        name: name.to_owned(),
        text: Arc::new(text),
    };
    let invalid = |problems: Vec<Problem>, root: Option<&Node>| InvalidManifest {
        file: name.to_owned(),
        diagnostics: place_all(problems, &source, root),
    };
    if let Some(problem) = early {
        return Err(invalid(vec![problem], None));
    }
    let document = yaml::parse(&source.text).map_err(|problem| invalid(vec![*problem], None))?;
    if document.root.value == Value::Null {
        let problem = Problem::in_file(ProblemKind::Unreadable, "the manifest is empty")
            .help("a workflow needs `apiVersion`, `kind`, `metadata` and `spec`; see `manifests/quickstart.yaml`");
        return Err(invalid(vec![problem], None));
    }
    match check_document(&document) {
        Ok(plan) => {
            let name_span = document
                .root
                .find(&Pointer::root().key("metadata").key("name"))
                .map_or(0..0, |node| node.span.clone());
            Ok(LoadedManifest {
                source,
                plan,
                name_span,
            })
        }
        Err(problems) => Err(invalid(problems, Some(&document.root))),
    }
}

/// Decodes the bytes, refusing oversized and non-UTF-8 files with a problem.
fn decode(bytes: Vec<u8>) -> (String, Option<Problem>) {
    if bytes.len() > MAX_MANIFEST_BYTES {
        let problem = Problem::in_file(
            ProblemKind::Unreadable,
            format!(
                "the file is larger than the {} MiB a manifest may have",
                MAX_MANIFEST_BYTES / (1024 * 1024)
            ),
        )
        .help("split the workflow into several manifests, or check that this is the right file");
        return (String::new(), Some(problem));
    }
    match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            let text = printable(&String::from_utf8_lossy(error.as_bytes()));
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            let problem = Problem::in_text(
                ProblemKind::Unreadable,
                at..end,
                "the file is not valid UTF-8 text",
            )
            .label("not UTF-8")
            .help("save the manifest as UTF-8; bulkops manifests are YAML text files");
            (text, Some(problem))
        }
    }
}

/// The text with ASCII control characters replaced by `?`, byte for byte, so
/// that showing a snippet of a binary file cannot disturb the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_control() && !matches!(c, '\n' | '\r' | '\t') {
                '?'
            } else {
                c
            }
        })
        .collect()
}

fn place_all(
    mut problems: Vec<Problem>,
    source: &ManifestSource,
    root: Option<&Node>,
) -> Vec<ManifestDiagnostic> {
    problems.dedup();
    let mut diagnostics: Vec<ManifestDiagnostic> = problems
        .into_iter()
        .map(|problem| ManifestDiagnostic::new(problem, source, root))
        .collect();
    diagnostics.sort_by_key(|diagnostic| {
        diagnostic
            .span()
            .map_or((0, 0), |span| (span.start + 1, span.end))
    });
    diagnostics
}

/// Runs the schema check, deserialization and resolution.
fn check_document(document: &Document) -> Result<Plan, Vec<Problem>> {
    let json = document.root.to_json();
    let mut problems = document.problems.clone();
    let schema_problems = schema::check(&json);
    if schema_problems.is_empty() {
        match deserialize::<WorkflowSpec>(&json, &Pointer::root()) {
            Ok(spec) => match plan::resolve(spec) {
                Ok(plan) if problems.is_empty() => return Ok(plan),
                Ok(_) => {}
                Err(found) => problems.extend(found),
            },
            Err(problem) => problems.push(*problem),
        }
    } else {
        problems.extend(check_partially(&json, &schema_problems));
        problems.extend(schema_problems);
    }
    Err(problems)
}

/// Deserializes JSON into a spec type; a failure is placed at the field it
/// concerns. The path is tracked only on the second try, after a failure, to
/// keep the common case fast.
fn deserialize<T: DeserializeOwned>(json: &Json, base: &Pointer) -> Result<T, Box<Problem>> {
    if let Ok(value) = T::deserialize(json) {
        return Ok(value);
    }
    serde_path_to_error::deserialize(json).map_err(|error| {
        let mut pointer = base.clone();
        for segment in error.path() {
            pointer = match segment {
                serde_path_to_error::Segment::Seq { index } => pointer.index(*index),
                serde_path_to_error::Segment::Map { key } => pointer.key(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => pointer.key(variant.clone()),
                serde_path_to_error::Segment::Unknown => pointer,
            };
        }
        let message = error.into_inner().to_string();
        let help = deserialize_help(&pointer);
        Box::new(
            Problem::at(ProblemKind::BadFormat, pointer, message)
                .label("invalid value")
                .help(help),
        )
    })
}

/// Values the schema accepts but the types refuse are dates that do not exist.
fn deserialize_help(pointer: &Pointer) -> &'static str {
    match pointer.last() {
        Some(Segment::Key(key)) if key == "before" || key == "after" => {
            "write a date that exists, as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC)"
        }
        _ => "see the field's description in `bulkops schema`",
    }
}

/// Cross-step checks on a manifest that failed the schema: the parts that did
/// pass are checked, so that one run reports everything.
fn check_partially(json: &Json, schema_problems: &[Problem]) -> Vec<Problem> {
    let spec = Pointer::root().key("spec");
    let untouched = |pointer: &Pointer| {
        !schema_problems
            .iter()
            .any(|problem| is_within(problem, pointer))
    };
    let part = |key: &str| json.get("spec").and_then(|body| body.get(key));
    let parsed_vars: Option<std::collections::BTreeMap<String, String>> = part("vars")
        .filter(|_| untouched(&spec.key("vars")))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let retry = part("retry")
        .filter(|_| untouched(&spec.key("retry")))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let steps: Vec<Json> = part("steps")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let valid_steps: Vec<Option<StepSpec>> = steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let pointer = spec.key("steps").index(index);
            untouched(&pointer)
                .then(|| serde_json::from_value(step.clone()).ok())
                .flatten()
        })
        .collect();
    let vars = match part("vars") {
        None => Some(&EMPTY_VARS),
        Some(_) => parsed_vars.as_ref(),
    };
    let draft = DraftWorkflow {
        vars,
        has_trigger: part("trigger").is_some(),
        watch: None,
        retry: retry.as_ref(),
        steps: steps
            .iter()
            .zip(&valid_steps)
            .enumerate()
            .map(|(index, (raw, valid))| match valid {
                Some(step) => DraftStep::Valid(step),
                None => broken_step(raw, untouched(&spec.key("steps").index(index).key("needs"))),
            })
            .collect(),
    };
    plan::check_draft(&draft).0
}

static EMPTY_VARS: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();

fn broken_step(raw: &Json, needs_valid: bool) -> DraftStep<'static> {
    let id = raw.get("id").and_then(Json::as_str).map(str::to_owned);
    let needs = raw
        .get("needs")
        .filter(|_| needs_valid)
        .and_then(|needs| serde_json::from_value(needs.clone()).ok())
        .unwrap_or_default();
    let kind = raw
        .as_object()
        .and_then(|fields| fields.keys().find_map(|key| StepKind::from_key(key)));
    DraftStep::Broken { id, kind, needs }
}

fn is_within(problem: &Problem, prefix: &Pointer) -> bool {
    match &problem.place {
        Place::Node { pointer, .. } => starts_with(pointer.segments(), prefix.segments()),
        Place::Text(_) | Place::File => false,
    }
}

fn starts_with(segments: &[Segment], prefix: &[Segment]) -> bool {
    segments.len() >= prefix.len() && segments[..prefix.len()] == *prefix
}
