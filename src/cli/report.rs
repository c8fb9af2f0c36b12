//! How problems are shown: rendered for people on stderr with the source
//! snippet, or as JSON or GitHub Actions annotations for tools.

use std::fmt::Write as _;
use std::io::IsTerminal;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use serde::Serialize;

use crate::manifest::ManifestDiagnostic;

/// The width diagnostics are wrapped at when stderr is not a terminal.
const DEFAULT_WIDTH: usize = 100;

/// How `validate` reports manifest problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MessageFormat {
    /// Snippets with underlines on stderr.
    #[default]
    Human,
    /// One JSON document on stdout listing every problem.
    Json,
    /// GitHub Actions `::error` annotations on stdout, which mark the lines of a pull request.
    Github,
}

/// Renders diagnostics for people.
pub struct Reporter {
    handler: GraphicalReportHandler,
}

impl Reporter {
    /// A reporter for stderr: colours only on a terminal and without `NO_COLOR`.
    pub fn for_stderr() -> Self {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let theme = if colour {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        Self::with_theme(theme)
    }

    /// A reporter without colours, as used for files and tests.
    pub fn plain() -> Self {
        Self::with_theme(GraphicalTheme::unicode_nocolor())
    }

    fn with_theme(theme: GraphicalTheme) -> Self {
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(DEFAULT_WIDTH)
            .with_links(false)
            .with_context_lines(1);
        Self { handler }
    }

    /// Renders one diagnostic with its causes, snippet and help.
    pub fn render(&self, diagnostic: &dyn Diagnostic) -> String {
        let mut out = String::new();
        if self.handler.render_report(&mut out, diagnostic).is_err() {
            out = format!("  × {diagnostic}\n");
        }
        out
    }

    /// Prints one diagnostic to stderr, followed by a blank line; a closed
    /// stderr loses the message, never the process.
    pub fn emit(&self, diagnostic: &dyn Diagnostic) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", self.render(diagnostic));
    }
}

#[derive(Serialize)]
struct JsonProblem<'a> {
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    code: String,
    message: &'a str,
    help: Option<&'a str>,
}

/// Every diagnostic as a JSON array, for scripts and review bots.
pub(super) fn to_json(diagnostics: &[&ManifestDiagnostic]) -> String {
    let problems: Vec<JsonProblem<'_>> = diagnostics
        .iter()
        .map(|diagnostic| {
            let position = diagnostic.line_column();
            JsonProblem {
                file: diagnostic.file(),
                line: position.map(|(line, _)| line),
                column: position.map(|(_, column)| column),
                code: diagnostic.kind().code().to_owned(),
                message: diagnostic.message(),
                help: diagnostic.help_text(),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&problems).expect("problems serialize");
    text.push('\n');
    text
}

/// Every diagnostic as a GitHub Actions workflow command.
pub(super) fn to_github(diagnostics: &[&ManifestDiagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let mut properties = format!("file={}", escape_property(diagnostic.file()));
        if let Some((line, column)) = diagnostic.line_column() {
            let _ = write!(properties, ",line={line},col={column}");
        }
        let title = format!("bulkops {}", diagnostic.kind().code());
        let _ = write!(properties, ",title={}", escape_property(&title));
        let mut message = diagnostic.message().to_owned();
        if let Some(help) = diagnostic.help_text() {
            let _ = write!(message, "\nhelp: {help}");
        }
        let _ = writeln!(out, "::error {properties}::{}", escape_data(&message));
    }
    out
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
