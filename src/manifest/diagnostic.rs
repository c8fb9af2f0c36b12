//! Problems placed in the source text: the diagnostics `bulkops validate` prints,
//! with the file, line and column, the offending text underlined, and a help line.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

use super::yaml::{Node, Style, Value};
use crate::problem::{Part, Place, Problem, ProblemKind};

/// The text of one manifest, with the name it is shown under.
#[derive(Debug, Clone)]
pub struct ManifestSource {
    /// The path as the user gave it, for messages.
    pub name: String,
    /// The file's text; invalid UTF-8 is shown with replacement characters.
    pub text: Arc<String>,
}

/// One problem of one manifest, ready to print.
#[derive(Debug, Clone)]
pub struct ManifestDiagnostic {
    kind: ProblemKind,
    message: String,
    label: String,
    help: Option<String>,
    span: Option<Range<usize>>,
    source: NamedSource<Arc<String>>,
}

impl ManifestDiagnostic {
    /// Places a problem in the source, using the document tree to find nodes.
    pub fn new(problem: Problem, source: &ManifestSource, root: Option<&Node>) -> Self {
        let span = match &problem.place {
            Place::Text(range) => Some(range.clone()),
            Place::Node {
                pointer,
                part,
                within,
            } => root.map(|root| node_span(root, &source.text, pointer, *part, within.as_ref())),
            Place::File => None,
        };
        let message = match span {
            Some(_) => problem.message,
            None => format!("{}: {}", source.name, problem.message),
        };
        Self {
            kind: problem.kind,
            message,
            label: problem.label,
            help: problem.help,
            span,
            source: NamedSource::new(source.name.clone(), Arc::clone(&source.text))
                .with_language("yaml"),
        }
    }

    /// The class of problem.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// The byte range the problem underlines, if it has one.
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// The 1-based line and column where the problem starts.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        let span = self.span.as_ref()?;
        let contents = self
            .source
            .read_span(&SourceSpan::from(span.start..span.start), 0, 0)
            .ok()?;
        Some((contents.line() + 1, contents.column() + 1))
    }

    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The advice, if any.
    pub fn help_text(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The file name the problem is in.
    pub fn file(&self) -> &str {
        self.source.name()
    }
}

/// Finds the source range of the node or key at `pointer`, walking up to the
/// nearest node that exists when the pointer leads nowhere.
fn node_span(
    root: &Node,
    text: &str,
    pointer: &crate::problem::Pointer,
    part: Part,
    within: Option<&Range<usize>>,
) -> Range<usize> {
    let mut segments = pointer.segments().to_vec();
    loop {
        let current = crate::problem::Pointer::from_segments(segments.clone());
        if let Some((node, key_span)) = root.find_with_key(&current) {
            return match (part, key_span) {
                (Part::Key, Some(key_span)) => key_span,
                _ => value_span(node, text, within),
            };
        }
        if segments.pop().is_none() {
            return root.head_span();
        }
    }
}

/// The range of a value, narrowed to `within` when the string was written so
/// that offsets inside it match offsets in the file.
fn value_span(node: &Node, text: &str, within: Option<&Range<usize>>) -> Range<usize> {
    let (Some(within), Value::Str(value, style)) = (within, &node.value) else {
        return node.head_span();
    };
    let written = text.get(node.span.clone()).unwrap_or_default();
    let content_start = match style {
        Style::Plain if written == value => Some(node.span.start),
        Style::Quoted
            if written.len() == value.len() + 2 && &written[1..written.len() - 1] == value =>
        {
            Some(node.span.start + 1)
        }
        _ => None,
    };
    match content_start {
        Some(start) => start + within.start..start + within.end,
        None => node.span.clone(),
    }
}

impl fmt::Display for ManifestDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestDiagnostic {}

impl Diagnostic for ManifestDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("bulkops::manifest::{}", self.kind.code())))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.span.as_ref().map(|_| &self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        let length = span.end.saturating_sub(span.start);
        Some(Box::new(std::iter::once(LabeledSpan::new(
            label, span.start, length,
        ))))
    }
}
