//! Handlebars templates in manifests: output file names, result files, inputs.
//!
//! Templates are checked when a manifest is validated, not when a step runs: a
//! syntax error, an unknown variable (strict mode: never an empty string) or an
//! output path that could leave the output root is a validation error. The check
//! walks the compiled template instead of rendering it, so one pass finds every
//! unknown variable.

use std::collections::BTreeMap;
use std::ops::Range;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Path, TemplateError};

use crate::problem::{Pointer, Problem, ProblemKind};
use crate::suggest::did_you_mean;

mod render;
mod simple;

pub use render::{RenderError, file_name_safe, render};

/// Helpers a manifest template may call.
pub const HELPERS: [&str; 3] = ["lower", "upper", "date"];

/// Block helpers a manifest template may use.
const BLOCK_HELPERS: [&str; 2] = ["if", "unless"];

/// Variables that every template can use.
const ALWAYS: [&str; 6] = [
    "workflow.name",
    "run.id",
    "run.directory",
    "run.date",
    "run.time",
    "step.id",
];

/// Variables of a step that runs once per group.
const GROUP: [&str; 2] = ["group.id", "group.displayName"];

/// Variables of a run started by a watched folder.
const TRIGGER: [&str; 3] = ["trigger.file", "trigger.name", "trigger.stem"];

/// What a template may refer to where it is used.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The workflow's `spec.vars`; `None` when they are themselves invalid, in
    /// which case any `vars.NAME` is accepted to avoid follow-on errors.
    pub vars: Option<&'a BTreeMap<String, String>>,
    /// Whether the workflow has a trigger, which sets `trigger.*`.
    pub trigger: bool,
    /// Whether the template is rendered once per group, which sets `group.*`.
    pub group: bool,
}

/// How a rendered template is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A file bulkops writes: it must stay inside the output root.
    Output,
    /// A file bulkops reads: any path is fine.
    Input,
}

/// What a valid template refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateFacts {
    /// The variables used, such as `group.displayName`.
    pub variables: Vec<String>,
}

impl TemplateFacts {
    /// Whether the template tells groups apart.
    pub fn uses_group(&self) -> bool {
        self.variables.iter().any(|name| name.starts_with("group."))
    }
}

/// Checks a template, returning its facts when it is valid and every problem otherwise.
pub fn check(
    source: &str,
    pointer: &Pointer,
    scope: Scope<'_>,
    usage: Usage,
) -> Result<TemplateFacts, Vec<Problem>> {
    check_with(source, pointer, scope, usage, simple::read(source))
}

fn check_with(
    source: &str,
    pointer: &Pointer,
    scope: Scope<'_>,
    usage: Usage,
    simple: Option<Vec<simple::Piece<'_>>>,
) -> Result<TemplateFacts, Vec<Problem>> {
    let mut walker = Walker {
        source,
        pointer,
        scope,
        facts: TemplateFacts::default(),
        preview: String::new(),
        problems: Vec::new(),
    };
    if let Some(pieces) = simple {
        walker.walk_simple(&pieces);
    } else {
        let template = Template::compile(source)
            .map_err(|error| vec![syntax_problem(source, pointer, &error)])?;
        walker.walk(&template, None);
    }
    if usage == Usage::Output && walker.problems.is_empty() {
        walker.check_confined();
    }
    if walker.problems.is_empty() {
        Ok(walker.facts)
    } else {
        Err(walker.problems)
    }
}

fn syntax_problem(source: &str, pointer: &Pointer, error: &TemplateError) -> Problem {
    let problem = Problem::at(
        ProblemKind::TemplateSyntax,
        pointer.clone(),
        "invalid template",
    )
    .help(
        "templates use `{{name}}` for values, for example `{{vars.out}}/{{run.date}}/members.csv`",
    );
    if let Some(start) = unclosed_expression(source) {
        return problem
            .label("`{{` is not closed by `}}`")
            .within(start..start + 2);
    }
    let within = error
        .pos()
        .map(|(line, column)| offset_of(source, line, column))
        .filter(|start| *start < source.len())
        .map(|start| start..start + source[start..].chars().next().map_or(1, char::len_utf8));
    let problem = problem.label("not valid handlebars syntax");
    match within {
        Some(range) => problem.within(range),
        None => problem,
    }
}

/// The offset of the first `{{` that has no `}}` after it.
fn unclosed_expression(source: &str) -> Option<usize> {
    let mut rest = 0;
    while let Some(open) = source[rest..].find("{{") {
        let start = rest + open;
        match source[start + 2..].find("}}") {
            Some(close) => rest = start + 2 + close + 2,
            None => return Some(start),
        }
    }
    None
}

/// The byte offset of a 1-based line and column in `source`.
fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &source[line_start..];
    let column_bytes: usize = rest
        .chars()
        .take(column.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    (line_start + column_bytes).min(source.len())
}

struct Walker<'a> {
    source: &'a str,
    pointer: &'a Pointer,
    scope: Scope<'a>,
    facts: TemplateFacts,
    /// The template with every variable replaced by a sample value, for the
    /// output-root check.
    preview: String,
    problems: Vec<Problem>,
}

impl Walker<'_> {
    fn walk(&mut self, template: &Template, inherited: Option<&Range<usize>>) {
        for (index, element) in template.elements.iter().enumerate() {
            let range = inherited
                .cloned()
                .or_else(|| self.element_range(template, index));
            self.element(element, range.as_ref());
        }
    }

    fn walk_simple(&mut self, pieces: &[simple::Piece<'_>]) {
        for piece in pieces {
            match piece {
                simple::Piece::Text(text) => self.preview.push_str(text),
                simple::Piece::Expression {
                    helper,
                    path,
                    range,
                } => {
                    if let Some(helper) = helper
                        && !HELPERS.contains(helper)
                    {
                        self.unknown_helper(helper, Some(range));
                    }
                    self.variable(path, Some(range));
                }
            }
        }
    }

    fn element_range(&self, template: &Template, index: usize) -> Option<Range<usize>> {
        let mapping = template.mapping.get(index)?;
        let start = offset_of(self.source, mapping.0, mapping.1);
        let end = self.source[start..]
            .find("}}")
            .map_or(self.source.len(), |at| start + at + 2);
        Some(start..end)
    }

    fn element(&mut self, element: &TemplateElement, range: Option<&Range<usize>>) {
        match element {
            TemplateElement::RawString(text) => self.preview.push_str(text),
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                self.expression(helper, range);
            }
            TemplateElement::HelperBlock(helper) => self.block(helper, range),
            TemplateElement::Comment(_) => {}
            // Partials, decorators, and elements added by later handlebars versions.
            _ => self.unsupported(range),
        }
    }

    fn expression(&mut self, helper: &HelperTemplate, range: Option<&Range<usize>>) {
        let is_call = !helper.params.is_empty() || !helper.hash.is_empty();
        match &helper.name {
            Parameter::Name(name) if is_call => self.helper_call(name, helper, range),
            Parameter::Name(name) => self.variable(name, range),
            Parameter::Path(path) => self.path(path, range),
            Parameter::Literal(value) => self.preview.push_str(&value.to_string()),
            Parameter::Subexpression(sub) => self.element(&sub.element, range),
            _ => self.unsupported(range),
        }
    }

    fn helper_call(&mut self, name: &str, helper: &HelperTemplate, range: Option<&Range<usize>>) {
        if name == "date" {
            self.date(helper, range);
            return;
        }
        if !HELPERS.contains(&name) {
            self.unknown_helper(name, range);
        }
        for parameter in helper.params.iter().chain(helper.hash.values()) {
            self.parameter(parameter, range);
        }
    }

    /// `{{date "%Y-%m"}}`: the run's start time in UTC, in a strftime format.
    fn date(&mut self, helper: &HelperTemplate, range: Option<&Range<usize>>) {
        let format = match helper.params.as_slice() {
            [Parameter::Literal(serde_json::Value::String(format))] if helper.hash.is_empty() => {
                format.clone()
            }
            _ => {
                let problem = Problem::at(ProblemKind::TemplateSyntax, self.pointer.clone(), "`date` takes one format in quotes")
                    .label("expected a format")
                    .help("for example `{{date \"%Y-%m-%d\"}}`; the formats are strftime's: %Y year, %m month, %d day, %H hour, %M minute");
                return self.push(problem, range);
            }
        };
        match render::format_date(&format, jiff::Timestamp::UNIX_EPOCH) {
            Ok(sample) => self.preview.push_str(&sample),
            Err(reason) => {
                let problem = Problem::at(ProblemKind::TemplateSyntax, self.pointer.clone(), format!("invalid date format `{format}`"))
                    .label(reason)
                    .help("the formats are strftime's: %Y year, %m month, %d day, %H hour, %M minute, %S second");
                self.push(problem, range);
            }
        }
    }

    fn block(&mut self, helper: &HelperTemplate, range: Option<&Range<usize>>) {
        let name = match &helper.name {
            Parameter::Name(name) => name.clone(),
            Parameter::Path(path) => path_text(path).to_owned(),
            _ => String::new(),
        };
        if !BLOCK_HELPERS.contains(&name.as_str()) {
            self.unknown_helper(&name, range);
        }
        let preview_before = self.preview.len();
        for parameter in &helper.params {
            self.parameter(parameter, range);
        }
        // A condition's value is not part of the output.
        self.preview.truncate(preview_before);
        for branch in [&helper.template, &helper.inverse].into_iter().flatten() {
            self.walk(branch, range);
        }
    }

    fn parameter(&mut self, parameter: &Parameter, range: Option<&Range<usize>>) {
        match parameter {
            Parameter::Name(name) => self.variable(name, range),
            Parameter::Path(path) => self.path(path, range),
            Parameter::Literal(_) => {}
            Parameter::Subexpression(sub) => self.element(&sub.element, range),
            _ => self.unsupported(range),
        }
    }

    fn path(&mut self, path: &Path, range: Option<&Range<usize>>) {
        self.variable(path_text(path), range);
    }

    fn variable(&mut self, name: &str, range: Option<&Range<usize>>) {
        if self.is_known(name) {
            if !self.facts.variables.iter().any(|known| known == name) {
                self.facts.variables.push(name.to_owned());
            }
            let sample = self.sample(name);
            self.preview.push_str(&sample);
        } else {
            let problem = self.unknown_variable(name);
            self.push(problem, range);
        }
    }

    fn is_known(&self, name: &str) -> bool {
        if let Some(var) = name.strip_prefix("vars.") {
            return self.scope.vars.is_none_or(|vars| vars.contains_key(var));
        }
        ALWAYS.contains(&name)
            || (self.scope.group && GROUP.contains(&name))
            || (self.scope.trigger && TRIGGER.contains(&name))
    }

    /// A value the variable could take, used to see where an output path leads.
    /// Values from the directory or the trigger are sanitized before use, so a
    /// plain word stands for them; `vars` are known exactly.
    fn sample(&self, name: &str) -> String {
        match name.strip_prefix("vars.") {
            Some(var) => self
                .scope
                .vars
                .and_then(|vars| vars.get(var))
                .cloned()
                .unwrap_or_else(|| "value".to_owned()),
            None => "value".to_owned(),
        }
    }

    fn unknown_variable(&self, name: &str) -> Problem {
        let problem = Problem::at(
            ProblemKind::UnknownVariable,
            self.pointer.clone(),
            format!("unknown template variable `{name}`"),
        )
        .label("not defined here");
        let help = if let Some(var) = name.strip_prefix("vars.") {
            let defined = self
                .scope
                .vars
                .map(|vars| vars.keys().map(String::as_str).collect::<Vec<_>>());
            match defined.and_then(|names| did_you_mean(var, names)) {
                Some(close) => format!("did you mean `vars.{close}`?"),
                None => format!("define `{var}` under `spec.vars`"),
            }
        } else if GROUP.contains(&name) {
            "`group.*` is only set where a step writes one file per group; use it in `downloadMembers.output` without `combined`, or in `results`".to_owned()
        } else if TRIGGER.contains(&name) {
            "`trigger.*` is only set for workflows started by a watched folder; add `spec.trigger.watch`".to_owned()
        } else {
            let known = ALWAYS.iter().chain(&GROUP).chain(&TRIGGER).copied();
            match did_you_mean(name, known) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "available everywhere: {}; `vars.NAME` for values from `spec.vars`",
                    ALWAYS.map(|n| format!("`{n}`")).join(", ")
                ),
            }
        };
        problem.help(help)
    }

    fn unknown_helper(&mut self, name: &str, range: Option<&Range<usize>>) {
        let known = HELPERS.iter().chain(&BLOCK_HELPERS).copied();
        let help = match did_you_mean(name, known) {
            Some(close) => format!("did you mean `{close}`?"),
            None => {
                "the helpers are `lower`, `upper`, and the blocks `#if` and `#unless`".to_owned()
            }
        };
        let problem = Problem::at(
            ProblemKind::UnknownVariable,
            self.pointer.clone(),
            format!("unknown template helper `{name}`"),
        )
        .label("no such helper")
        .help(help);
        self.push(problem, range);
    }

    fn unsupported(&mut self, range: Option<&Range<usize>>) {
        let problem = Problem::at(
            ProblemKind::TemplateSyntax,
            self.pointer.clone(),
            "partials and decorators are not supported in manifest templates",
        )
        .label("unsupported")
        .help("use `{{name}}` values and the `lower` and `upper` helpers");
        self.push(problem, range);
    }

    fn push(&mut self, problem: Problem, range: Option<&Range<usize>>) {
        self.problems.push(match range {
            Some(range) => problem.within(range.clone()),
            None => problem,
        });
    }

    /// An output path must be relative and must not climb out of the output root.
    fn check_confined(&mut self) {
        if let Some(reason) = escape_reason(&self.preview) {
            let problem = Problem::at(
                ProblemKind::PathEscape,
                self.pointer.clone(),
                format!("this output path {reason}"),
            )
            .label("leaves the output root")
            .help("write output paths relative to the output root, without `..`; choose the root with `--output-dir`");
            self.problems.push(problem);
        }
    }
}

fn path_text(path: &Path) -> &str {
    match path {
        Path::Relative((_, raw)) => raw,
        Path::Local((_, name, _)) => name,
    }
}

/// Why a rendered output path would leave the output root, if it would.
pub fn escape_reason(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    if path.starts_with('/') || path.starts_with('\\') {
        return Some("is absolute");
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("names a drive");
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Some("climbs out with `..`");
    }
    if path.trim().is_empty() {
        return Some("is empty");
    }
    if path.contains('\0') {
        return Some("contains a NUL character");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(vars: &BTreeMap<String, String>) -> Scope<'_> {
        Scope {
            vars: Some(vars),
            trigger: false,
            group: true,
        }
    }

    fn messages(result: Result<TemplateFacts, Vec<Problem>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn accepts_known_variables_and_reports_their_use() {
        let vars = BTreeMap::from([("out".to_owned(), "exports".to_owned())]);
        let facts = check(
            "{{vars.out}}/{{run.date}}/{{lower group.displayName}}.csv",
            &Pointer::root(),
            scope(&vars),
            Usage::Output,
        )
        .unwrap();
        assert!(facts.uses_group());
    }

    #[test]
    fn reports_every_unknown_variable() {
        let vars = BTreeMap::new();
        let found = messages(check(
            "{{vars.missing}}/{{trigger.file}}/{{run.dat}}",
            &Pointer::root(),
            scope(&vars),
            Usage::Input,
        ));
        assert_eq!(
            found,
            [
                "unknown template variable `vars.missing`",
                "unknown template variable `trigger.file`",
                "unknown template variable `run.dat`"
            ]
        );
    }

    #[test]
    fn locates_an_unknown_variable_inside_the_text() {
        let vars = BTreeMap::new();
        let problems = check(
            "out/{{run.dat}}.csv",
            &Pointer::root(),
            scope(&vars),
            Usage::Output,
        )
        .unwrap_err();
        let crate::problem::Place::Node { within, .. } = &problems[0].place else {
            panic!()
        };
        assert_eq!(within.clone(), Some(4..15));
    }

    #[test]
    fn refuses_paths_that_leave_the_output_root() {
        let vars = BTreeMap::from([("up".to_owned(), "../..".to_owned())]);
        for source in [
            "/etc/passwd",
            "../x.csv",
            "a/../../x.csv",
            "{{vars.up}}/x.csv",
            "C:\\x.csv",
        ] {
            let found = messages(check(source, &Pointer::root(), scope(&vars), Usage::Output));
            assert_eq!(found.len(), 1, "{source}: {found:?}");
            assert!(found[0].starts_with("this output path"), "{source}");
        }
        assert!(check("../in.csv", &Pointer::root(), scope(&vars), Usage::Input).is_ok());
    }

    #[test]
    fn the_fast_reader_agrees_with_handlebars() {
        let vars = BTreeMap::from([
            ("out".to_owned(), "exports".to_owned()),
            ("up".to_owned(), "..".to_owned()),
        ]);
        for source in [
            "{{vars.out}}/{{run.date}}/{{group.displayName}}.csv",
            "{{ lower group.displayName }}-{{upper step.id}}.csv",
            "{{vars.nope}}/{{run.dat}}/{{trigger.file}}",
            "{{shout run.id}}.csv",
            "{{vars.up}}/x.csv",
            "/abs/{{run.id}}",
            "plain/file.csv",
        ] {
            for usage in [Usage::Output, Usage::Input] {
                let fast = check(source, &Pointer::root(), scope(&vars), usage);
                let slow = check_with(source, &Pointer::root(), scope(&vars), usage, None);
                assert!(
                    simple::read(source).is_some(),
                    "{source} takes the fast path"
                );
                assert_eq!(fast, slow, "{source}");
            }
        }
    }

    #[test]
    fn checks_date_formats() {
        let vars = BTreeMap::new();
        assert!(
            check(
                "out/{{date \"%Y-%m\"}}.csv",
                &Pointer::root(),
                scope(&vars),
                Usage::Output
            )
            .is_ok()
        );
        let found = messages(check(
            "out/{{date \"%Y-%\"}}.csv",
            &Pointer::root(),
            scope(&vars),
            Usage::Output,
        ));
        assert_eq!(found, ["invalid date format `%Y-%`"]);
        let found = messages(check(
            "out/{{date run.id}}.csv",
            &Pointer::root(),
            scope(&vars),
            Usage::Output,
        ));
        assert_eq!(found, ["`date` takes one format in quotes"]);
        let found = messages(check(
            "{{date \"/%Y\"}}",
            &Pointer::root(),
            scope(&vars),
            Usage::Output,
        ));
        assert_eq!(found, ["this output path is absolute"]);
    }

    #[test]
    fn reports_syntax_errors() {
        let vars = BTreeMap::new();
        let found = messages(check(
            "{{run.id",
            &Pointer::root(),
            scope(&vars),
            Usage::Output,
        ));
        assert_eq!(found, ["invalid template"]);
    }
}
