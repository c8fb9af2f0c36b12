//! Problems found in a manifest, before they are tied to a source position.
//!
//! The schema check and the resolver work on data, not text: they report *where*
//! a problem is as a [`Pointer`] into the document (`spec.steps[2].needs[0]`).
//! The manifest loader turns pointers into line, column and an underlined snippet.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// One step of a path into a manifest document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key; field names of the manifest language are borrowed, so
    /// that building pointers on the hot path does not allocate strings.
    Key(Cow<'static, str>),
    /// A sequence index, counted from zero.
    Index(usize),
}

/// A path from the document root to one node, like a JSON pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Pointer(Vec<Segment>);

impl Pointer {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// Builds a pointer from its segments.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        Self(segments)
    }

    /// The pointer to a key's value below this node.
    #[must_use]
    pub fn key(&self, key: impl Into<Cow<'static, str>>) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(Segment::Key(key.into()));
        Self(segments)
    }

    /// The pointer to an item of the sequence at this node.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(Segment::Index(index));
        Self(segments)
    }

    /// The segments from the root down.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The last segment, if this is not the root.
    pub fn last(&self) -> Option<&Segment> {
        self.0.last()
    }
}

impl fmt::Display for Pointer {
    /// Writes the path the way a manifest author reads it: `spec.steps[2].needs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Which part of a mapping entry a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The value at the pointer.
    Value,
    /// The key naming the value at the pointer (an unknown field, a duplicate id).
    Key,
}

/// Where a problem is: a pointer into the data, or a byte range of the source text
/// (for YAML syntax problems, found before there is any data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A node of the document; `within` narrows to bytes inside a string value.
    Node {
        pointer: Pointer,
        part: Part,
        within: Option<Range<usize>>,
    },
    /// A byte range of the source text.
    Text(Range<usize>),
    /// The file as a whole (empty file, duplicate workflow name in a folder).
    File,
}

/// A stable name for each class of problem; shown as the diagnostic code
/// (`bulkops::manifest::unknown-field`) and used by tests and tooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file is not valid UTF-8, too large, empty or not one YAML document.
    Unreadable,
    /// YAML syntax error, duplicate key, unsupported YAML feature or hostile structure.
    YamlSyntax,
    /// A field the manifest language does not know.
    UnknownField,
    /// A required field is missing.
    MissingField,
    /// A value has the wrong type.
    WrongType,
    /// A value is not one of the allowed words.
    UnknownValue,
    /// A number, length or duration is out of the allowed range.
    OutOfRange,
    /// A string does not have the required form (pattern, duration syntax, date).
    BadFormat,
    /// An object that must hold exactly one of several keys holds none or several.
    OneOf,
    /// Two steps share an id.
    DuplicateId,
    /// A `needs` entry or a group or device set names no step.
    UnknownStep,
    /// A reference names a step of the wrong kind.
    WrongStepKind,
    /// The steps depend on each other in a circle.
    Cycle,
    /// A template does not compile.
    TemplateSyntax,
    /// A template uses a variable or helper that does not exist there.
    UnknownVariable,
    /// An output template could leave the output root.
    PathEscape,
    /// Two manifests in one folder have the same `metadata.name`.
    DuplicateName,
    /// Options that contradict each other.
    Conflict,
}

impl ProblemKind {
    /// The short, stable code for this kind of problem.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::YamlSyntax => "yaml-syntax",
            Self::UnknownField => "unknown-field",
            Self::MissingField => "missing-field",
            Self::WrongType => "wrong-type",
            Self::UnknownValue => "unknown-value",
            Self::OutOfRange => "out-of-range",
            Self::BadFormat => "bad-format",
            Self::OneOf => "one-of",
            Self::DuplicateId => "duplicate-id",
            Self::UnknownStep => "unknown-step",
            Self::WrongStepKind => "wrong-step-kind",
            Self::Cycle => "cycle",
            Self::TemplateSyntax => "template-syntax",
            Self::UnknownVariable => "unknown-variable",
            Self::PathEscape => "path-escape",
            Self::DuplicateName => "duplicate-name",
            Self::Conflict => "conflict",
        }
    }
}

/// One problem in a manifest: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The class of problem.
    pub kind: ProblemKind,
    /// Where it is.
    pub place: Place,
    /// What is wrong, as a lowercase sentence fragment.
    pub message: String,
    /// A short text shown under the underlined source.
    pub label: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl Problem {
    /// A problem about the value at `pointer`.
    pub fn at(kind: ProblemKind, pointer: Pointer, message: impl Into<String>) -> Self {
        Self {
            kind,
            place: Place::Node {
                pointer,
                part: Part::Value,
                within: None,
            },
            message: message.into(),
            label: String::new(),
            help: None,
        }
    }

    /// A problem about the key that names the value at `pointer`.
    pub fn at_key(kind: ProblemKind, pointer: Pointer, message: impl Into<String>) -> Self {
        let mut problem = Self::at(kind, pointer, message);
        if let Place::Node { part, .. } = &mut problem.place {
            *part = Part::Key;
        }
        problem
    }

    /// A problem about a byte range of the source text.
    pub fn in_text(kind: ProblemKind, range: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            kind,
            place: Place::Text(range),
            message: message.into(),
            label: String::new(),
            help: None,
        }
    }

    /// A problem about the file as a whole.
    pub fn in_file(kind: ProblemKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            place: Place::File,
            message: message.into(),
            label: String::new(),
            help: None,
        }
    }

    /// Sets the text shown under the underlined source.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the advice on how to fix the problem.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the advice only when there is some.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Narrows the place to a byte range inside the string value.
    #[must_use]
    pub fn within(mut self, range: Range<usize>) -> Self {
        if let Place::Node { within, .. } = &mut self.place {
            *within = Some(range);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_reads_like_a_path() {
        let pointer = Pointer::root()
            .key("spec")
            .key("steps")
            .index(2)
            .key("needs");
        assert_eq!(pointer.to_string(), "spec.steps[2].needs");
        assert_eq!(Pointer::root().to_string(), "(document)");
    }
}
