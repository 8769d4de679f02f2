//! The one place that talks to the YAML library.
//!
//! It turns YAML text into a small tree of [`Node`]s that keep their byte spans, so every later
//! check can point at `file:line:col`. Nothing outside this module names the YAML crate, which
//! keeps it swappable. Typing (booleans, nulls, numbers) is *not* decided here: scalars keep their
//! source text and style, and the buildspec model decides what a key means (CodeBuild reads
//! `discard-paths: yes` as YAML 1.1 does, but keeps `1.10` in `env/variables` as written).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A byte range in the buildspec text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// How a scalar was written. Quoted and block scalars are always strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar { value: String, style: Style },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// A non-core tag such as `!Ref`; core tags (`!!str`) are dropped.
    pub tag: Option<String>,
}

impl Node {
    /// The node as JSON: mappings with scalar keys as objects (later keys win), sequences as
    /// arrays, nulls as null, every other scalar as a string (no type guessing: a reader
    /// compares what it expects). Depth is bounded by the parser's [`MAX_DEPTH`].
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            _ if self.is_null() => Value::Null,
            NodeKind::Scalar { value, .. } => Value::String(value.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(pairs) => Value::Object(
                pairs.iter().filter_map(|(k, v)| Some((k.as_scalar()?.to_string(), v.to_json()))).collect(),
            ),
        }
    }

    /// A plain `~`, `null` or empty scalar: YAML's null.
    pub fn is_null(&self) -> bool {
        self.tag.is_none()
            && matches!(&self.kind, NodeKind::Scalar { value, style: Style::Plain }
                if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// What this node is, in words, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        if self.is_null() {
            return "nothing";
        }
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub offset: usize,
    /// 1-based line, as the YAML library reports it.
    pub line: usize,
}

/// Aliases may expand to at most this many nodes in total; a "billion laughs" document is refused.
/// Real buildspecs have a few thousand nodes at most.
const MAX_NODES: usize = 100_000;
/// Aliases may copy at most this much scalar text in total (one long anchored line repeated a
/// hundred thousand times would take gigabytes).
const MAX_ALIAS_BYTES: usize = 8 << 20;

/// Collections may nest at most this deep, in block and flow forms alike. Real buildspecs nest
/// six or seven levels; every later pass over the tree (the model, clones, drops) recurses,
/// so a bound here is what keeps a hostile document from exhausting a thread's stack.
pub const MAX_DEPTH: usize = 64;

/// Parses the first YAML document of `src`. `Ok(None)` means an empty document.
pub fn parse(src: &str) -> Result<Option<Node>, SyntaxError> {
    let offsets = CharOffsets::new(src);
    let mut builder = TreeBuilder::default();
    for item in Parser::new_from_str(src) {
        let (event, span) = item.map_err(|e| {
            let offset = offsets.byte(e.marker().index());
            SyntaxError { message: e.info().to_string(), offset, line: e.marker().line() }
        })?;
        let span = Span::new(offsets.byte(span.start.index()), offsets.byte(span.end.index()));
        if let Some(done) = builder.event(event, span).map_err(|message| SyntaxError {
            message,
            offset: span.start,
            line: line_of(src, span.start),
        })? {
            return Ok(Some(done));
        }
        if builder.finished {
            break;
        }
    }
    Ok(None)
}

/// 1-based line of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// 1-based line and column (in characters) of a byte offset.
/// Where each line of a text starts, for many [`line_col`] lookups in one text: each is a
/// binary search plus the characters of one line, not a scan from the start.
pub struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { src, starts }
    }

    /// The same as [`line_col`].
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.src, offset.min(self.src.len()));
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        (line, self.src[start..offset].chars().count() + 1)
    }
}

pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The YAML library counts positions in characters; miette and the rest of runspec use bytes.
struct CharOffsets {
    /// Byte offset of every char index, plus one past the end. Empty when the text is ASCII.
    table: Vec<usize>,
    len: usize,
}

impl CharOffsets {
    fn new(src: &str) -> Self {
        let table = if src.is_ascii() {
            Vec::new()
        } else {
            src.char_indices().map(|(i, _)| i).chain(std::iter::once(src.len())).collect()
        };
        CharOffsets { table, len: src.len() }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.table.is_empty() {
            char_index.min(self.len)
        } else {
            self.table.get(char_index).copied().unwrap_or(self.len)
        }
    }
}

enum Frame {
    Seq { items: Vec<Node>, start: usize, anchor: usize, tag: Option<String> },
    Map { entries: Vec<(Node, Node)>, key: Option<Node>, start: usize, anchor: usize, tag: Option<String> },
}

/// Keeps only tags that are not YAML core-schema tags (`!!str`, `!!int`, …).
fn custom_tag(tag: Option<&saphyr_parser::Tag>) -> Option<String> {
    let tag = tag?;
    if tag.is_yaml_core_schema() {
        return None;
    }
    Some(tag.to_string())
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    /// Anchored nodes with their node counts, so an alias is checked before it is copied.
    anchors: HashMap<usize, (Node, usize, usize)>,
    nodes: usize,
    alias_bytes: usize,
    finished: bool,
}

impl TreeBuilder {
    fn deeper(&self) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("collections nest deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    /// Feeds one event; returns the root once the first document's root node is complete.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<Option<Node>, String> {
        match event {
            Event::StreamEnd => {
                self.finished = true;
                Ok(None)
            }
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd => Ok(None),
            Event::Alias(id) => {
                let (node, count, bytes) =
                    self.anchors.get(&id).ok_or_else(|| "alias refers to an unknown anchor".to_string())?;
                self.nodes += count;
                self.alias_bytes += bytes;
                if self.nodes > MAX_NODES {
                    return Err(format!("document expands to more than {MAX_NODES} nodes"));
                }
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(format!("aliases copy more than {} MiB of text", MAX_ALIAS_BYTES >> 20));
                }
                let node = node.clone();
                Ok(self.push(Node { span, ..node }))
            }
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    _ => Style::Block,
                };
                let node = Node {
                    kind: NodeKind::Scalar { value: value.into_owned(), style },
                    span,
                    tag: custom_tag(tag.as_deref()),
                };
                self.nodes += 1;
                if anchor > 0 {
                    let bytes = text_bytes(&node);
                    self.anchors.insert(anchor, (node.clone(), 1, bytes));
                }
                Ok(self.push(node))
            }
            Event::SequenceStart(anchor, tag) => {
                self.deeper()?;
                let tag = custom_tag(tag.as_deref());
                self.stack.push(Frame::Seq { items: Vec::new(), start: span.start, anchor, tag });
                Ok(None)
            }
            Event::MappingStart(anchor, tag) => {
                self.deeper()?;
                let tag = custom_tag(tag.as_deref());
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    start: span.start,
                    anchor,
                    tag,
                });
                Ok(None)
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (kind, start, anchor, tag) = match self.stack.pop() {
                    Some(Frame::Seq { items, start, anchor, tag }) => {
                        (NodeKind::Seq(items), start, anchor, tag)
                    }
                    Some(Frame::Map { entries, start, anchor, tag, .. }) => {
                        (NodeKind::Map(entries), start, anchor, tag)
                    }
                    None => return Err("unbalanced collection end".to_string()),
                };
                self.nodes += 1;
                // Block collections end where the next token starts; end them at their last child
                // instead, so a label does not run into the next entry.
                let end = match &kind {
                    NodeKind::Seq(items) => items.last().map(|n| n.span.end),
                    NodeKind::Map(entries) => entries.last().map(|(_, v)| v.span.end),
                    NodeKind::Scalar { .. } => None,
                };
                let end = if src_is_flow_end(span) { span.end } else { end.unwrap_or(span.end) };
                let node = Node { kind, span: Span::new(start, end.max(start)), tag };
                if anchor > 0 {
                    let (count, bytes) = (count_nodes(&node), text_bytes(&node));
                    self.anchors.insert(anchor, (node.clone(), count, bytes));
                }
                Ok(self.push(node))
            }
        }
    }

    /// Attaches a finished node to its parent; returns it when it is the document root.
    fn push(&mut self, node: Node) -> Option<Node> {
        match self.stack.last_mut() {
            None => Some(node),
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                None
            }
            Some(Frame::Map { entries, key, .. }) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
                None
            }
        }
    }
}

/// A flow collection (`[...]`, `{...}`) ends on its closing bracket, which the span covers.
fn src_is_flow_end(span: Span) -> bool {
    !span.is_empty()
}

/// The scalar text in a node (what copying it copies), at least one byte per node.
fn text_bytes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { value, .. } => value.len().max(1),
        NodeKind::Seq(items) => 1 + items.iter().map(text_bytes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries.iter().map(|(k, v)| text_bytes(k) + text_bytes(v)).sum::<usize>()
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries.iter().map(|(k, v)| count_nodes(k) + count_nodes(v)).sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(src: &'a str, node: &Node) -> &'a str {
        &src[node.span.start..node.span.end]
    }

    /// Runs `f` on a thread with a small stack, as a hostile document would find it.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(512 << 10).spawn(f).unwrap().join().unwrap()
    }

    #[test]
    fn nesting_is_bounded_in_every_form() {
        // 20,000 nested block sequences (40 kB) once overflowed the build thread's stack and
        // took the whole server down; flow sequences, flow and block mappings the same.
        let block_seq = "- ".repeat(20_000) + "x\n";
        let flow_seq = "[".repeat(20_000) + &"]".repeat(20_000);
        let flow_map = "{a: ".repeat(20_000) + &"}".repeat(20_000);
        let block_map: String = (0..5_000).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        for doc in [block_seq, flow_seq, flow_map, block_map] {
            let e = on_small_stack(move || parse(&doc).unwrap_err());
            assert!(e.message.contains("deeper than") || e.message.contains("recursion"), "{}", e.message);
            // Through the whole buildspec parser too: a YAML_FILE_ERROR, not a crash.
        }
        let doc = "version: 0.2\nphases:\n  build:\n    commands:\n      - ".to_string()
            + &"- ".repeat(20_000)
            + "x\n";
        let parsed =
            on_small_stack(move || crate::buildspec::parse("b.yml", &doc).diagnostics.codebuild_message());
        assert!(parsed.unwrap_or_default().contains("deeper than"));
    }

    #[test]
    fn the_deepest_allowed_document_fits_a_small_stack() {
        let deepest = "- ".repeat(MAX_DEPTH) + "x\n";
        let node = on_small_stack(move || {
            let node = parse(&deepest).unwrap().unwrap();
            let copy = node.clone();
            drop(node);
            count_nodes(&copy)
        });
        assert_eq!(node, MAX_DEPTH + 1);
        let doc = "version: 0.2\nphases:\n  build:\n    commands:\n      - ".to_string()
            + &"- ".repeat(MAX_DEPTH - 4)
            + "x\n";
        let e =
            on_small_stack(move || crate::buildspec::parse("b.yml", &doc).diagnostics.codebuild_message());
        assert!(!e.unwrap_or_default().contains("deeper than"));
    }

    #[test]
    fn scalars_keep_their_source_span_and_style() {
        let src = "version: 0.2\nenv:\n  variables:\n    A: \"x y\"\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else { panic!("not a map") };
        assert_eq!(text(src, &entries[0].0), "version");
        assert_eq!(text(src, &entries[0].1), "0.2");
        let NodeKind::Map(env) = &entries[1].1.kind else { panic!() };
        let NodeKind::Map(vars) = &env[0].1.kind else { panic!() };
        let NodeKind::Scalar { value, style, .. } = &vars[0].1.kind else { panic!() };
        assert_eq!((value.as_str(), *style), ("x y", Style::Quoted));
    }

    #[test]
    fn spans_are_bytes_even_after_multibyte_text() {
        let src = "a: \"héllo wörld\"\nb: c\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else { panic!() };
        assert_eq!(text(src, &entries[1].0), "b");
        assert_eq!(line_col(src, entries[1].1.span.start), (2, 4));
        let index = LineIndex::new(src);
        for offset in 0..=src.len() + 2 {
            assert_eq!(index.line_col(offset), line_col(src, offset), "{offset}");
        }
    }

    #[test]
    fn empty_value_is_null_and_empty_document_is_none() {
        let root = parse("a:\n").unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else { panic!() };
        assert!(entries[0].1.is_null());
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn aliases_expand_to_the_anchored_node() {
        let src = "a: &x [1, 2]\nb: *x\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else { panic!() };
        assert_eq!(entries[0].1.kind, entries[1].1.kind);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("more than"), "{err:?}");
        // Few nodes, but each a copy of one long line.
        let long = format!("a: &a '{}'\nb: [{}]\n", "x".repeat(100_000), vec!["*a"; 200].join(", "));
        let t = std::time::Instant::now();
        let err = parse(&long).unwrap_err();
        assert!(err.message.contains("MiB of text"), "{err:?}");
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn tab_indentation_is_a_syntax_error_with_a_position() {
        let err = parse("phases:\n\tbuild:\n").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
