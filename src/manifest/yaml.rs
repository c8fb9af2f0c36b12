//! YAML with positions: the only place in bulkops that parses YAML.
//!
//! Manifests are parsed into a small tree of [`Node`]s, each carrying the byte range
//! of the source text it came from, so that every later problem can be shown with
//! its line, column and an underlined snippet. The tree follows the YAML 1.2 core
//! schema for plain scalars (`true`, `42`, `~`), keeps quoted scalars as strings,
//! and defends against hostile input: nesting depth and alias expansion are bounded,
//! duplicate keys and unsupported tags are reported.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value as Json};

use crate::problem::{Pointer, Problem, ProblemKind, Segment};

/// The deepest nesting of mappings and sequences a manifest may have.
pub const MAX_DEPTH: usize = 64;

/// The most nodes a manifest may expand to, counting every alias expansion.
/// A 10,000-step manifest has about 100,000; an alias bomb has billions.
pub const MAX_NODES: usize = 2_000_000;

/// How a string scalar was written, which decides whether offsets inside the
/// string can be mapped back onto the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Written as is, without quotes.
    Plain,
    /// Inside single or double quotes.
    Quoted,
    /// A literal (`|`) or folded (`>`) block.
    Block,
}

/// A parsed YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String, Style),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A key and its value in a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
}

/// A YAML value and the byte range of the source text it was written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

/// A problem that stops parsing; boxed because it is rare and large.
pub type Fatal = Box<Problem>;

/// A parsed manifest document and the non-fatal problems found while parsing it.
#[derive(Debug)]
pub struct Document {
    pub root: Node,
    pub problems: Vec<Problem>,
}

impl Node {
    /// Finds the node at `pointer`, if the document has one there.
    pub fn find(&self, pointer: &Pointer) -> Option<&Node> {
        self.find_entry_path(pointer.segments())
            .map(|(node, _)| node)
    }

    /// Finds the node at `pointer` and the span of the key that names it, if it
    /// is a mapping value.
    pub fn find_with_key(&self, pointer: &Pointer) -> Option<(&Node, Option<Range<usize>>)> {
        self.find_entry_path(pointer.segments())
    }

    fn find_entry_path(&self, segments: &[Segment]) -> Option<(&Node, Option<Range<usize>>)> {
        let mut node = self;
        let mut key_span = None;
        for segment in segments {
            (node, key_span) = match (segment, &node.value) {
                (Segment::Key(key), Value::Map(entries)) => {
                    let entry = entries.iter().find(|entry| &entry.key == key)?;
                    (&entry.value, Some(entry.key_span.clone()))
                }
                (Segment::Index(index), Value::Seq(items)) => (items.get(*index)?, None),
                _ => return None,
            };
        }
        Some((node, key_span))
    }

    /// The span of the first line of a node: a whole scalar, or a mapping's first
    /// entry, so that a problem with a large block does not underline all of it.
    pub fn head_span(&self) -> Range<usize> {
        match &self.value {
            Value::Map(entries) => match entries.first() {
                Some(first) if first.value.is_scalar() => self.span.start..first.value.span.end,
                Some(first) => self.span.start..first.key_span.end,
                None => self.span.clone(),
            },
            Value::Seq(items) => match items.first() {
                Some(first) => self.span.start..first.head_span().end,
                None => self.span.clone(),
            },
            _ => self.span.clone(),
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self.value, Value::Map(_) | Value::Seq(_))
    }

    /// Converts the tree into JSON data for schema validation and deserialization.
    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Int(int) => Json::Number((*int).into()),
            Value::Float(float) => Number::from_f64(*float).map_or(Json::Null, Json::Number),
            Value::Str(text, _) => Json::String(text.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

/// Parses one YAML document. A fatal problem (syntax error, more than one
/// document, hostile structure) is returned as `Err`; problems that still leave a
/// usable tree (a duplicate key) are kept in the document.
pub fn parse(text: &str) -> Result<Document, Fatal> {
    let offsets = Offsets::new(text);
    let mut builder = TreeBuilder::new(&offsets);
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) =
            next.map_err(|error| Box::new(syntax_problem(&error, &offsets, text)))?;
        if builder.accept(event, span)? == Flow::Stop {
            break;
        }
    }
    builder.finish()
}

/// Maps the parser's character positions onto byte offsets into the source.
struct Offsets {
    /// Byte offset of every character, plus the length at the end; empty when the
    /// text is ASCII and characters and bytes coincide.
    char_to_byte: Vec<usize>,
    len: usize,
}

impl Offsets {
    fn new(text: &str) -> Self {
        let char_to_byte = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(byte, _)| byte)
                .chain(std::iter::once(text.len()))
                .collect()
        };
        Self {
            char_to_byte,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.char_to_byte.is_empty() {
            char_index.min(self.len)
        } else {
            self.char_to_byte
                .get(char_index)
                .copied()
                .unwrap_or(self.len)
        }
    }

    fn range(&self, span: Span) -> Range<usize> {
        self.byte(span.start.index())..self.byte(span.end.index())
    }
}

fn syntax_problem(error: &ScanError, offsets: &Offsets, text: &str) -> Problem {
    let start = offsets.byte(error.marker().index());
    let end = text[start..]
        .chars()
        .next()
        .map_or(start, |c| start + c.len_utf8());
    let info = error.info();
    Problem::in_text(
        ProblemKind::YamlSyntax,
        start..end,
        format!("invalid YAML: {info}"),
    )
    .label("here")
    .help(syntax_help(info))
}

fn syntax_help(info: &str) -> &'static str {
    if info.contains("tab") {
        "YAML indentation must use spaces, not tabs"
    } else if info.contains("mapping values are not allowed") {
        "quote a value that contains `: `, or check the indentation of the line above"
    } else {
        "check the indentation and quoting around this position"
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// A mapping or sequence being built, with what is needed to finish it.
enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        nodes_before: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        nodes_before: usize,
        entries: Vec<Entry>,
        /// The keys, once the mapping is large enough for a linear search to be slow.
        keys: Option<HashSet<String>>,
        pending_key: Option<(String, Range<usize>)>,
    },
}

/// Turns the parser's event stream into a [`Node`] tree without recursion, so
/// that deep nesting is reported instead of overflowing the stack.
struct TreeBuilder<'a> {
    offsets: &'a Offsets,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    documents: usize,
    nodes: usize,
    problems: Vec<Problem>,
}

impl<'a> TreeBuilder<'a> {
    fn new(offsets: &'a Offsets) -> Self {
        Self {
            offsets,
            stack: Vec::new(),
            root: None,
            anchors: HashMap::new(),
            documents: 0,
            nodes: 0,
            problems: Vec::new(),
        }
    }

    fn accept(&mut self, event: Event<'_>, span: Span) -> Result<Flow, Fatal> {
        let range = self.offsets.range(span);
        match event {
            Event::DocumentStart(_) => self.start_document(range)?,
            Event::StreamEnd => return Ok(Flow::Stop),
            Event::Scalar(text, style, anchor, tag) => {
                let node = self.scalar(&text, style, tag.as_deref(), range);
                self.complete(node, anchor)?;
            }
            Event::Alias(anchor) => self.alias(anchor, range)?,
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), &range);
                self.open(false, anchor, range.start)?;
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), &range);
                self.open(true, anchor, range.start)?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close()?,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(Flow::Continue)
    }

    fn start_document(&mut self, range: Range<usize>) -> Result<(), Fatal> {
        self.documents += 1;
        if self.documents > 1 {
            return Err(Box::new(
                Problem::in_text(
                    ProblemKind::YamlSyntax,
                    range.start..range.start + 3,
                    "a manifest holds one YAML document, but a second one starts here",
                )
                .label("second document")
                .help("put each workflow in a file of its own"),
            ));
        }
        Ok(())
    }

    fn open(&mut self, is_map: bool, anchor: usize, start: usize) -> Result<(), Fatal> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Box::new(Problem::in_text(
                ProblemKind::YamlSyntax,
                start..start + 1,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            )
            .label("too deep")
            .help("a manifest never needs this much nesting; check that the file is a bulkops manifest")));
        }
        self.count_nodes(1, start)?;
        let nodes_before = self.nodes;
        self.stack.push(if is_map {
            Frame::Map {
                start,
                anchor,
                nodes_before,
                entries: Vec::new(),
                keys: None,
                pending_key: None,
            }
        } else {
            Frame::Seq {
                start,
                anchor,
                nodes_before,
                items: Vec::new(),
            }
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Fatal> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (node, anchor, nodes_before) = match frame {
            Frame::Seq {
                start,
                anchor,
                nodes_before,
                items,
            } => {
                let end = items.last().map_or(start + 1, |last| last.span.end);
                let node = Node {
                    span: start..end.max(start),
                    value: Value::Seq(items),
                };
                (node, anchor, nodes_before)
            }
            Frame::Map {
                start,
                anchor,
                nodes_before,
                entries,
                ..
            } => {
                let end = entries.last().map_or(start + 1, |last| last.value.span.end);
                let node = Node {
                    span: start..end.max(start),
                    value: Value::Map(entries),
                };
                (node, anchor, nodes_before)
            }
        };
        self.remember_anchor(anchor, &node, self.nodes - nodes_before + 1);
        self.attach(node)
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Fatal> {
        self.count_nodes(1, node.span.start)?;
        self.remember_anchor(anchor, &node, 1);
        self.attach(node)
    }

    fn remember_anchor(&mut self, anchor: usize, node: &Node, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
    }

    fn alias(&mut self, anchor: usize, range: Range<usize>) -> Result<(), Fatal> {
        let Some((node, size)) = self.anchors.get(&anchor).cloned() else {
            return Err(Box::new(
                Problem::in_text(
                    ProblemKind::YamlSyntax,
                    range,
                    "alias refers to an unknown anchor",
                )
                .label("unknown anchor")
                .help("define the anchor with `&name` before using it as `*name`"),
            ));
        };
        self.count_nodes(size, range.start)?;
        self.attach(node)
    }

    fn count_nodes(&mut self, added: usize, at: usize) -> Result<(), Fatal> {
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > MAX_NODES {
            return Err(Box::new(Problem::in_text(
                ProblemKind::YamlSyntax,
                at..at + 1,
                format!("the document expands to more than {MAX_NODES} values"),
            )
            .label("expansion limit reached here")
            .help("YAML aliases (`*name`) that repeat large anchors multiply the document; write the values out or split the workflow")));
        }
        Ok(())
    }

    /// Places a finished node into its parent: an item, a key, or a key's value.
    fn attach(&mut self, node: Node) -> Result<(), Fatal> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                keys,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    *pending_key = Some(mapping_key(node)?);
                    Ok(())
                }
                Some((key, key_span)) => {
                    if is_new_key(&key, entries, keys) {
                        entries.push(Entry {
                            key,
                            key_span,
                            value: node,
                        });
                    } else {
                        self.problems.push(duplicate_key(&key, key_span));
                    }
                    Ok(())
                }
            },
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        range: Range<usize>,
    ) -> Node {
        let value = match (style, tag) {
            (_, Some(tag)) if !tag.is_yaml_core_schema() => {
                self.problems.push(unsupported_tag(tag, &range));
                Value::Str(text.to_owned(), Style::Plain)
            }
            (_, Some(tag)) if tag.suffix == "str" => Value::Str(text.to_owned(), Style::Quoted),
            (ScalarStyle::Plain, _) => resolve_plain(text),
            (ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, _) => {
                Value::Str(text.to_owned(), Style::Quoted)
            }
            (ScalarStyle::Literal | ScalarStyle::Folded, _) => {
                Value::Str(text.to_owned(), Style::Block)
            }
        };
        Node { span: range, value }
    }

    fn check_collection_tag(&mut self, tag: Option<&Tag>, range: &Range<usize>) {
        if let Some(tag) = tag.filter(|tag| !tag.is_yaml_core_schema()) {
            self.problems.push(unsupported_tag(tag, range));
        }
    }

    fn finish(self) -> Result<Document, Fatal> {
        let root = self.root.ok_or_else(|| {
            Box::new(Problem::in_file(ProblemKind::Unreadable, "the manifest is empty")
                .help("start from `bulkops schema` or a manifest in `manifests/`; a workflow needs `apiVersion`, `kind`, `metadata` and `spec`"))
        })?;
        Ok(Document {
            root,
            problems: self.problems,
        })
    }
}

/// Mappings in manifests are small, so keys are searched linearly until a
/// mapping grows past a few dozen entries.
fn is_new_key(key: &str, entries: &[Entry], keys: &mut Option<HashSet<String>>) -> bool {
    const LINEAR_LIMIT: usize = 32;
    if entries.len() < LINEAR_LIMIT {
        return !entries.iter().any(|entry| entry.key == key);
    }
    let known = keys.get_or_insert_with(|| entries.iter().map(|entry| entry.key.clone()).collect());
    known.insert(key.to_owned())
}

fn mapping_key(node: Node) -> Result<(String, Range<usize>), Fatal> {
    match node.value {
        Value::Str(text, _) => Ok((text, node.span)),
        Value::Null => Ok((String::new(), node.span)),
        Value::Bool(flag) => Ok((flag.to_string(), node.span)),
        Value::Int(int) => Ok((int.to_string(), node.span)),
        Value::Float(float) => Ok((float.to_string(), node.span)),
        Value::Seq(_) | Value::Map(_) => Err(Box::new(
            Problem::in_text(
                ProblemKind::YamlSyntax,
                node.span,
                "a mapping key must be a plain word, not a list or a mapping",
            )
            .label("complex key")
            .help("manifest keys are field names such as `id` or `steps`"),
        )),
    }
}

fn duplicate_key(key: &str, key_span: Range<usize>) -> Problem {
    Problem::in_text(
        ProblemKind::YamlSyntax,
        key_span,
        format!("duplicate key `{key}`"),
    )
    .label("repeated here")
    .help(format!(
        "`{key}` is already set earlier in this mapping; keep one of them"
    ))
}

fn unsupported_tag(tag: &Tag, range: &Range<usize>) -> Problem {
    Problem::in_text(
        ProblemKind::YamlSyntax,
        range.start..range.start + 1,
        format!("unsupported YAML tag `{tag}`"),
    )
    .label("tagged value")
    .help("remove the tag; manifests use plain YAML values")
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(int) = parse_int(text) {
        return Value::Int(int);
    }
    if looks_like_float(text)
        && let Ok(float) = text.parse::<f64>()
        && float.is_finite()
    {
        return Value::Float(float);
    }
    Value::Str(text.to_owned(), Style::Plain)
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mantissa = body.split(['e', 'E']).next().unwrap_or_default();
    !mantissa.is_empty()
        && mantissa.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn parse_ok(text: &str) -> Document {
        parse(text).expect("document parses")
    }

    #[test]
    fn keeps_byte_spans_of_keys_and_values() {
        let text = "a: 1\nbé: [x, 'y']\n";
        let document = parse_ok(text);
        let pointer = Pointer::root().key("bé").index(1);
        let (node, key) = document.root.find_with_key(&pointer).unwrap();
        assert_eq!(&text[node.span.clone()], "'y'");
        assert!(key.is_none());
        let (_, key) = document
            .root
            .find_with_key(&Pointer::root().key("bé"))
            .unwrap();
        assert_eq!(&text[key.unwrap()], "bé");
    }

    #[test]
    fn resolves_plain_scalars_by_the_core_schema() {
        assert_eq!(resolve_plain("true"), Value::Bool(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("0x1f"), Value::Int(31));
        assert_eq!(resolve_plain("-12"), Value::Int(-12));
        assert_eq!(resolve_plain("1.5e3"), Value::Float(1500.0));
        assert_eq!(resolve_plain("yes"), Value::Str("yes".into(), Style::Plain));
        assert_eq!(resolve_plain("3s"), Value::Str("3s".into(), Style::Plain));
        assert_eq!(
            resolve_plain(".inf"),
            Value::Str(".inf".into(), Style::Plain)
        );
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let document = parse_ok("a: '42'\nb: !!str true\n");
        assert_eq!(
            document.root.to_json(),
            serde_json::json!({"a": "42", "b": "true"})
        );
    }

    #[test]
    fn reports_duplicate_keys_and_keeps_the_first() {
        let document = parse_ok("a: 1\na: 2\n");
        assert_eq!(document.root.to_json(), serde_json::json!({"a": 1}));
        assert_eq!(document.problems.len(), 1);
        assert_eq!(document.problems[0].message, "duplicate key `a`");
    }

    #[test]
    fn rejects_alias_bombs() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = level - 1;
            let aliases = vec![format!("*a{previous}"); 10].join(", ");
            let _ = writeln!(text, "a{level}: &a{level} [{aliases}]");
        }
        let problem = parse(&text).unwrap_err();
        assert!(
            problem.message.contains("expands to more than"),
            "{problem:?}"
        );
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing() {
        let flow = "[".repeat(100_000);
        let problem = parse(&flow).unwrap_err();
        assert_eq!(problem.kind, ProblemKind::YamlSyntax, "{problem:?}");
        let mut block = String::new();
        for depth in 0..200 {
            let _ = writeln!(block, "{}k:", " ".repeat(depth));
        }
        let problem = parse(&block).unwrap_err();
        assert!(problem.message.contains("nesting is deeper"), "{problem:?}");
    }

    #[test]
    fn rejects_a_second_document() {
        let problem = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(problem.message.contains("second one"), "{problem:?}");
    }

    #[test]
    fn empty_input_is_an_empty_manifest() {
        for text in ["", "# only a comment\n", "---\n"] {
            let result = parse(text);
            match result {
                Err(problem) => assert_eq!(problem.message, "the manifest is empty"),
                Ok(document) => assert_eq!(document.root.value, Value::Null),
            }
        }
    }
}
