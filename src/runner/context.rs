//! What every step of a run shares: the run's identity and start time, where
//! inputs are read from and outputs written to, and the template values.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::{Map, Value as Json, json};

use crate::bulkcsv::cells::CsvStyle;
use crate::bulkcsv::output::OutputRoot;
use crate::directory::model::Group;
use crate::template::{RenderError, file_name_safe, render};

/// The shared facts of one run.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    pub workflow: String,
    /// The directory profile the run changes (`{{run.directory}}`).
    pub directory: String,
    /// When the run started: the reference for `olderThan` and `{{run.date}}`.
    pub started: Timestamp,
    pub output: OutputRoot,
    /// Relative input paths are read from here (the working directory).
    pub input_base: PathBuf,
    pub vars: BTreeMap<String, String>,
    /// The file that triggered the run, for watch-folder workflows.
    pub trigger_file: Option<PathBuf>,
    /// A preview: steps report what they would do and change nothing, not
    /// even the job history.
    pub dry_run: bool,
    /// In a preview: only check what a run needs (inputs readable, targets
    /// found) and count what guards limit, without looking up every row of
    /// an addition. `apply` checks this way before a run.
    pub check_only: bool,
    /// The steps whose destructive effects a preview in this process counted;
    /// the others count theirs when they start.
    pub counted_steps: HashSet<String>,
    /// Rows planned, journaled and applied together.
    pub chunk_rows: usize,
    /// What CSV files do with cells a spreadsheet would read as formulas.
    pub csv: CsvStyle,
    /// Where progress is shown.
    pub progress: super::progress::Progress,
    /// In a preview: record each job's rows, changed objects and the state of
    /// its target, for a saved plan (`bulkops plan --out`).
    pub record: bool,
    /// In a run of a saved plan: the selections and changes it is held to.
    pub pins: Option<std::sync::Arc<crate::steps::pinned::Pins>>,
}

/// Rows planned, journaled and applied together unless `BULKOPS_CHUNK_ROWS`
/// says otherwise. Large batches let the directory touch each page of its
/// indexes once for many rows; smaller batches journal more often.
pub const CHUNK_ROWS: usize = 50_000;

/// The batch size a new run uses.
pub fn chunk_rows_from_environment() -> usize {
    std::env::var("BULKOPS_CHUNK_ROWS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|rows| *rows > 0)
        .unwrap_or(CHUNK_ROWS)
}

impl RunContext {
    /// The template values for one step, and one group where the step runs per
    /// group. For output paths, values from the directory and the trigger are
    /// made safe as file names.
    pub fn template_values(&self, step: &str, group: Option<&Group>, for_path: bool) -> Json {
        let clean = |text: &str| {
            if for_path {
                file_name_safe(text)
            } else {
                text.to_owned()
            }
        };
        let utc = self.started.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let mut values = Map::new();
        values.insert("workflow".into(), json!({ "name": self.workflow }));
        values.insert(
            "run".into(),
            json!({
                "id": self.run_id,
                "directory": self.directory,
                "date": utc.strftime("%Y-%m-%d").to_string(),
                "time": utc.strftime("%H%M%S").to_string(),
                "timestamp": self.started.to_string(),
            }),
        );
        values.insert("step".into(), json!({ "id": step }));
        values.insert("vars".into(), json!(self.vars));
        if let Some(group) = group {
            values.insert(
                "group".into(),
                json!({ "id": group.id, "displayName": clean(&group.display_name) }),
            );
        }
        if let Some(file) = &self.trigger_file {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file_stem = file
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            values.insert(
                "trigger".into(),
                json!({ "file": file.display().to_string(), "name": clean(&name), "stem": clean(&file_stem) }),
            );
        }
        Json::Object(values)
    }

    /// Renders an output path template.
    pub fn output_path(
        &self,
        template: &str,
        step: &str,
        group: Option<&Group>,
    ) -> Result<String, RenderError> {
        render(template, &self.template_values(step, group, true))
    }

    /// Renders an input path template and resolves it against the input base.
    pub fn input_path(&self, template: &str, step: &str) -> Result<PathBuf, RenderError> {
        let rendered = render(template, &self.template_values(step, None, false))?;
        let path = Path::new(&rendered);
        Ok(if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.input_base.join(path)
        })
    }
}
