//! Plans for reviewers: who a plan adds and removes, which devices it
//! changes, which files it writes and which jobs it deletes — as text (each
//! list capped at `--detail` entries) and as a Markdown comment for a pull
//! request, kept below the size GitHub accepts.
//!
//! Names come from the directory and are untrusted: text escapes control
//! characters, Markdown escapes every character Markdown or HTML would read.

use std::fmt::Write as _;

use super::format::{PlanFile, SavedStep, SavedWorkflow};
use crate::directory::outcome::RowOutcome;
use crate::steps::pinned::{JobOps, ObjectRef};
use crate::text::printable;

/// The largest comment written: GitHub refuses comments over 65,536
/// characters, and the last lines must fit after the cut.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// The changing outcomes of a job, removals first, each with its mark and verb.
const CHANGES: [(RowOutcome, &str, &str); 5] = [
    (RowOutcome::Removed, "-", "remove"),
    (RowOutcome::Deleted, "-", "delete"),
    (RowOutcome::Disabled, "-", "disable"),
    (RowOutcome::Added, "+", "add"),
    (RowOutcome::Enabled, "+", "enable"),
];

/// The text "who" section of a workflow's plan: every step with work, each
/// list capped at `detail` entries.
pub fn text(workflow: &SavedWorkflow, detail: usize) -> String {
    let mut out = String::new();
    for step in &workflow.steps {
        let lines = step_lines(step, detail);
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {} ({})", step.id, step.kind);
        for line in lines {
            let _ = writeln!(out, "    {line}");
        }
    }
    if out.is_empty() {
        return String::new();
    }
    format!("\nwho and what, by step (at most {detail} of each list; --detail N for more):\n{out}")
}

fn step_lines(step: &SavedStep, detail: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for job in &step.jobs {
        let target = job.target.as_ref().map_or_else(
            || "devices".to_owned(),
            |target| printable(&target.shown()).into_owned(),
        );
        for (outcome, mark, verb) in CHANGES {
            let changed = job.changed(outcome);
            if changed.is_empty() {
                continue;
            }
            lines.push(format!("{target}: {verb} {}", changed.len()));
            lines.extend(
                changed
                    .iter()
                    .take(detail)
                    .map(|object| format!("  {mark} {}", printable(&object.shown()))),
            );
            if changed.len() > detail {
                lines.push(format!("  and {} more", changed.len() - detail));
            }
        }
    }
    for file in &step.files {
        lines.push(format!("writes {}", printable(file)));
    }
    if !step.deleted_jobs.is_empty() {
        lines.push(format!("deletes {} jobs", step.deleted_jobs.len()));
        lines.extend(
            step.deleted_jobs
                .iter()
                .take(detail)
                .map(|job| format!("  - job {}", printable(job))),
        );
        if step.deleted_jobs.len() > detail {
            lines.push(format!("  and {} more", step.deleted_jobs.len() - detail));
        }
    }
    lines
}

/// Where the full plan is, for the comment's last line.
pub enum FullPlan<'a> {
    /// Saved to this path.
    Saved(&'a str),
    /// Not saved.
    NotSaved,
}

/// The Markdown comment of a plan: its id, a table per workflow with the
/// change of every group (removals first and marked), device, file and job
/// deletion, then the lists in `<details>`; never longer than
/// [`MARKDOWN_LIMIT`] characters, with a line saying where the full plan is.
pub fn markdown(file: &PlanFile, full: &FullPlan<'_>) -> String {
    let mut page = Page::new(MARKDOWN_LIMIT - 1_000);
    page.push("## bulkops plan\n\n");
    match full {
        FullPlan::Saved(path) => page.push(&format!(
            "Plan `{}`, saved as {}. Merging applies exactly this plan: `bulkops apply {}`.\n",
            file.plan_id,
            md(path),
            md(path)
        )),
        FullPlan::NotSaved => page.push(
            "This plan is not saved: `bulkops plan MANIFEST --out plan.json` saves one to apply exactly.\n",
        ),
    };
    for workflow in &file.body.workflows {
        summary_table(&mut page, workflow);
    }
    for workflow in &file.body.workflows {
        detail_lists(&mut page, workflow);
    }
    let mut text = page.text;
    if page.open_details {
        text.push_str("\n</details>\n");
    }
    if page.cut > 0 {
        let location = match full {
            FullPlan::Saved(path) => format!("in {}", md(path)),
            FullPlan::NotSaved => "saved by `bulkops plan --out FILE`".to_owned(),
        };
        let _ = write!(
            text,
            "\n\n**This comment is cut at {MARKDOWN_LIMIT} characters: {} more lines (members, devices, files) are not shown. The full plan is {location}.**\n",
            page.cut
        );
    }
    text
}

/// A document that stops growing at its budget and counts what it left out.
struct Page {
    text: String,
    budget: usize,
    cut: usize,
    /// Whether a `<details>` block is open (closed when the page is cut).
    open_details: bool,
}

impl Page {
    fn new(budget: usize) -> Self {
        Self {
            text: String::new(),
            budget,
            cut: 0,
            open_details: false,
        }
    }

    /// Appends `line` if it fits (and nothing was cut before it).
    fn push(&mut self, line: &str) -> bool {
        if self.cut > 0 || self.text.len() + line.len() > self.budget {
            self.cut += 1;
            return false;
        }
        self.text.push_str(line);
        true
    }
}

fn summary_table(page: &mut Page, workflow: &SavedWorkflow) {
    page.push(&format!(
        "\n### Workflow {} ({}), directory {}\n\n",
        md(&workflow.workflow),
        md(&workflow.manifest.path),
        md(&workflow.directory.name)
    ));
    let mut rows: Vec<(bool, String)> = Vec::new();
    let mut unchanged = 0;
    for step in &workflow.steps {
        for job in &step.jobs {
            if job.changes.is_empty() {
                unchanged += 1;
            } else {
                rows.push(job_row(step, job));
            }
        }
        for path in &step.files {
            rows.push((
                false,
                format!(
                    "| {} | {} | {} | writes |\n",
                    md(&step.id),
                    step.kind,
                    md(path)
                ),
            ));
        }
        if !step.deleted_jobs.is_empty() {
            rows.push((
                true,
                format!(
                    "| {} | {} | job history | **deletes {} jobs** |\n",
                    md(&step.id),
                    step.kind,
                    step.deleted_jobs.len()
                ),
            ));
        }
    }
    if rows.is_empty() {
        page.push("No changes.\n");
    } else {
        // Removals first.
        rows.sort_by_key(|(removes, _)| !*removes);
        page.push("| step | kind | target | change |\n|:--|:--|:--|:--|\n");
        for (_, row) in rows {
            page.push(&row);
        }
    }
    if unchanged > 0 {
        page.push(&format!(
            "\n{unchanged} more groups or device lists are checked and need no change.\n"
        ));
    }
}

/// A table row for one job, and whether it removes or deletes anything.
fn job_row(step: &SavedStep, job: &JobOps) -> (bool, String) {
    let target = job
        .target
        .as_ref()
        .map_or_else(|| "devices".to_owned(), object_line);
    let removed = job.count(RowOutcome::Removed);
    let added = job.count(RowOutcome::Added);
    let destructive = removed + job.count(RowOutcome::Deleted) + job.count(RowOutcome::Disabled);
    let change = if job.target.is_some() {
        let minus = if removed > 0 {
            format!("**−{removed}**")
        } else {
            "−0".to_owned()
        };
        format!("{minus} / +{added}")
    } else {
        CHANGES
            .iter()
            .filter(|(outcome, ..)| job.count(*outcome) > 0)
            .map(|(outcome, mark, verb)| {
                let text = format!("{verb} {}", job.count(*outcome));
                if *mark == "-" {
                    format!("**{text}**")
                } else {
                    text
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let change = if change.is_empty() {
        "no change".to_owned()
    } else {
        change
    };
    (
        destructive > 0,
        format!(
            "| {} | {} | {target} | {change} |\n",
            md(&step.id),
            step.kind
        ),
    )
}

/// Every changed object, in `<details>` per job and change: removals,
/// deletions and disables of the whole workflow first.
fn detail_lists(page: &mut Page, workflow: &SavedWorkflow) {
    for (outcome, mark, verb) in CHANGES {
        for step in &workflow.steps {
            for job in &step.jobs {
                let changed = job.changed(outcome);
                if changed.is_empty() {
                    continue;
                }
                let target = job
                    .target
                    .as_ref()
                    .map_or_else(|| "devices".to_owned(), object_line);
                let sign = if mark == "-" { "−" } else { "+" };
                if page.push(&format!(
                    "\n<details><summary>{} {target}: {verb} {} ({sign})</summary>\n\n",
                    md(&step.id),
                    changed.len()
                )) {
                    page.open_details = true;
                }
                for object in &changed {
                    page.push(&format!("- {sign} {}\n", object_line(object)));
                }
                if page.push("\n</details>\n") {
                    page.open_details = false;
                }
            }
        }
    }
}

fn object_line(object: &ObjectRef) -> String {
    match &object.name {
        Some(name) if name != &object.id => format!("{} `{}`", md(name), object.id),
        _ => format!("`{}`", object.id),
    }
}

/// Text made inert for Markdown and HTML: control characters as spaces,
/// `<`, `>` and `&` as entities, and every other character Markdown reads
/// (and `@`, which would mention people) escaped.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '!' | '|'
            | '~' | '@' => {
                out.push('\\');
                out.push(character);
            }
            hidden if crate::text::unsafe_to_show(hidden) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(hidden));
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_html_in_names_are_inert() {
        assert_eq!(
            md("<script>alert(1)</script> | **x**"),
            "&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\| \\*\\*x\\*\\*"
        );
        assert_eq!(md("a\nb"), "a\\u{a}b");
        assert_eq!(md("Build\u{202e}enilepiP"), "Build\\u{202e}enilepiP");
        assert_eq!(md("ada@contoso.example"), "ada\\@contoso.example");
    }

    #[test]
    fn a_page_stops_at_its_budget_and_counts_the_rest() {
        let mut page = Page::new(10);
        assert!(page.push("12345"));
        assert!(!page.push("1234567"));
        assert!(!page.push("1"), "nothing after a cut line");
        assert_eq!(page.text, "12345");
        assert_eq!(page.cut, 2);
    }
}

#[cfg(test)]
mod large {
    use super::*;
    use crate::lifecycle::saved::format::{
        SavedDirectory, SavedFile, SavedGuards, SavedStep, SavedWorkflow,
    };

    fn job(group: &str, outcome: RowOutcome, count: u64) -> JobOps {
        let mut ops = JobOps {
            target: Some(ObjectRef {
                id: format!("{group:0>8}-0000-4000-8000-000000000000"),
                name: Some(group.to_owned()),
                kind: None,
            }),
            ..JobOps::default()
        };
        for number in 0..count {
            ops.push_row(outcome);
            ops.changes.push(ObjectRef {
                id: format!("{number:08x}-1111-4000-8000-000000000000"),
                name: Some(format!("user{number}@contoso.example")),
                kind: Some(crate::directory::model::MemberType::User),
            });
        }
        ops
    }

    /// A plan of 100,000 changes: 50,000 additions to one group, 50,000
    /// removals from another.
    fn hundred_thousand() -> PlanFile {
        let workflow = SavedWorkflow {
            workflow: "engineering-access".to_owned(),
            run_id: "20261130-120000-abcd".to_owned(),
            manifest: SavedFile {
                path: "manifests/engineering.yaml".to_owned(),
                sha256: "0".repeat(64),
            },
            directory: SavedDirectory {
                name: "local".to_owned(),
                identity: "local directory 0".to_owned(),
            },
            trigger_file: None,
            guards: SavedGuards {
                max_removals: 100_000,
                max_device_deletions: 0,
            },
            inputs: Vec::new(),
            steps: vec![SavedStep {
                id: "sync".to_owned(),
                kind: "syncMembers".to_owned(),
                selection: None,
                jobs: vec![
                    job("grants", RowOutcome::Added, 50_000),
                    job("revokes", RowOutcome::Removed, 50_000),
                ],
                files: Vec::new(),
                deleted_jobs: Vec::new(),
            }],
        };
        let mut file = PlanFile::new(vec![workflow]);
        file.plan_id = "sha256:PLAN".to_owned();
        file
    }

    #[test]
    fn a_hundred_thousand_changes_make_a_comment_below_the_limit_that_says_where_the_rest_is() {
        let text = markdown(&hundred_thousand(), &FullPlan::Saved("plan.json"));
        assert!(text.chars().count() < MARKDOWN_LIMIT, "{}", text.len());
        assert!(text.len() > MARKDOWN_LIMIT - 2_000, "the budget is used");
        let lines: Vec<&str> = text.lines().collect();
        let head = lines[..12].join("\n");
        let tail = lines[lines.len() - 3..].join("\n");
        insta::assert_snapshot!(format!("{head}\n…\n{tail}"));
    }
}
