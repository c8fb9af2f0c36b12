//! Plan output for people and tools: text for a terminal or a pull request
//! comment, JSON for scripts, Graphviz DOT and Mermaid for diagrams.

use std::fmt::Write as _;

use serde::Serialize;

use super::Plan;
use super::dag::EdgeReason;

/// The formats `bulkops plan --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// A readable outline by layer.
    Text,
    /// A JSON document for scripts.
    Json,
    /// A Graphviz `digraph`.
    Dot,
    /// A Mermaid `flowchart` in a fenced block, ready to paste into Markdown (GitHub and GitLab draw it).
    Mermaid,
    /// A pull-request comment: what the run would change, as tables and lists.
    Markdown,
}

/// Renders the plan's step graph and order in the given format.
pub fn render(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => text(plan),
        PlanFormat::Json => json(plan),
        PlanFormat::Dot => dot(plan),
        PlanFormat::Mermaid => mermaid(plan),
        // The comment is made from the preview, not from the graph.
        PlanFormat::Markdown => String::new(),
    }
}

fn text(plan: &Plan) -> String {
    let layers = plan.dag.layers();
    let width = plan
        .steps
        .iter()
        .map(|step| step.id.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "workflow `{}` on directory `{}`",
        plan.workflow, plan.directory
    );
    let _ = writeln!(
        out,
        "{} in {}, up to {} at a time",
        count(plan.steps.len(), "step"),
        count(layers.len(), "layer"),
        plan.concurrency
    );
    for (number, layer) in layers.iter().enumerate() {
        let _ = writeln!(out, "\nlayer {}", number + 1);
        for index in layer {
            let step = &plan.steps[*index];
            let kind = step.action.kind().key();
            let after = dependencies_text(plan, *index);
            let line = format!("  {:width$}  {kind:17}{after}", step.id);
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let order: Vec<&str> = plan
        .order()
        .into_iter()
        .map(|index| plan.steps[index].id.as_str())
        .collect();
    let _ = writeln!(out, "\norder: {}", order.join(", "));
    out
}

fn dependencies_text(plan: &Plan, index: usize) -> String {
    let dependencies = plan.dag.dependencies(index);
    if dependencies.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = dependencies
        .iter()
        .map(|(dependency, reason)| {
            format!("{} ({})", plan.steps[*dependency].id, reason.describe())
        })
        .collect();
    format!("after {}", parts.join(", "))
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonPlan<'a> {
    workflow: &'a str,
    directory: &'a str,
    concurrency: u32,
    steps: Vec<JsonStep<'a>>,
    order: Vec<&'a str>,
    layers: Vec<Vec<&'a str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonStep<'a> {
    id: &'a str,
    kind: &'static str,
    layer: usize,
    after: Vec<JsonDependency<'a>>,
}

#[derive(Serialize)]
struct JsonDependency<'a> {
    step: &'a str,
    reason: EdgeReason,
}

fn json(plan: &Plan) -> String {
    let layers = plan.dag.layers();
    let mut layer_of = vec![0; plan.steps.len()];
    for (number, layer) in layers.iter().enumerate() {
        for index in layer {
            layer_of[*index] = number + 1;
        }
    }
    let id = |index: usize| plan.steps[index].id.as_str();
    let steps = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| JsonStep {
            id: &step.id,
            kind: step.action.kind().key(),
            layer: layer_of[index],
            after: plan
                .dag
                .dependencies(index)
                .into_iter()
                .map(|(dependency, reason)| JsonDependency {
                    step: id(dependency),
                    reason,
                })
                .collect(),
        })
        .collect();
    let document = JsonPlan {
        workflow: &plan.workflow,
        directory: &plan.directory,
        concurrency: plan.concurrency,
        steps,
        order: plan.order().into_iter().map(id).collect(),
        layers: layers
            .iter()
            .map(|layer| layer.iter().map(|index| id(*index)).collect())
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&document).expect("a plan serializes");
    text.push('\n');
    text
}

fn dot(plan: &Plan) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        plan.workflow
    );
    for step in &plan.steps {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\n{}\"];",
            step.id,
            step.id,
            step.action.kind()
        );
    }
    for (dependency, dependent, reason) in plan.dag.edges() {
        let style = match reason {
            EdgeReason::Needs => String::new(),
            other => format!(" [label=\"{}\", style=dashed]", other.describe()),
        };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\"{style};",
            plan.steps[dependency].id, plan.steps[dependent].id
        );
    }
    out.push_str("}\n");
    out
}

/// A fenced `mermaid` block, ready to paste into Markdown.
fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("```mermaid\nflowchart LR\n");
    for (index, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  s{index}[\"{}<br/><small>{}</small>\"]",
            step.id,
            step.action.kind()
        );
    }
    for (dependency, dependent, reason) in plan.dag.edges() {
        let arrow = match reason {
            EdgeReason::Needs => "-->".to_owned(),
            other => format!("-.->|{}|", other.describe()),
        };
        let _ = writeln!(out, "  s{dependency} {arrow} s{dependent}");
    }
    out.push_str("```\n");
    out
}
