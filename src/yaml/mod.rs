//! YAML with positions: a small tree of [`Node`]s built from the
//! `saphyr-parser` event stream, so every input error can name its line and
//! column. Plain scalars are resolved with the YAML 1.2 core schema; quoted
//! scalars are strings. This is the only place that knows about the parser.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::{Pos, Source, SourceError};

/// Expanding aliases beyond this many nodes is refused ("billion laughs").
const MAX_NODES: usize = 2_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key: always a scalar, kept as its text, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The key entry named `key` in a mapping (for its position).
    pub fn key(&self, key: &str) -> Option<&Key> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k)
    }

    /// A scalar rendered as text (for `KEY=VALUE` style uses and messages).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Null => Some(String::new()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The position of the key a serde path ends with, if it ends with one
    /// (errors about a field point at its key).
    pub fn locate_key(&self, path: &serde_path_to_error::Path, key: &str) -> Option<Pos> {
        use serde_path_to_error::Segment;
        let segs: Vec<&Segment> = path.iter().collect();
        let (last, parents) = segs.split_last()?;
        match last {
            Segment::Map { key: k } if k == key => {}
            _ => return None,
        }
        let mut node = self;
        for seg in parents {
            node = match seg {
                Segment::Seq { index } => node.as_seq()?.get(*index)?,
                Segment::Map { key } => node.get(key)?,
                _ => return None,
            };
        }
        node.key(key).map(|k| k.pos)
    }

    /// The node a serde path (`a.b[2].c`) points at, as deep as it resolves.
    pub fn locate<'a>(&'a self, path: &serde_path_to_error::Path) -> &'a Node {
        use serde_path_to_error::Segment;
        let mut node = self;
        for seg in path.iter() {
            let next = match seg {
                Segment::Seq { index } => node.as_seq().and_then(|s| s.get(*index)),
                Segment::Map { key } => node.get(key),
                Segment::Enum { variant } => node.get(variant),
                Segment::Unknown => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

/// Parses one YAML document. An empty document yields `Kind::Null`.
pub fn parse(src: &Arc<Source>) -> Result<Node, SourceError> {
    let mut builder = Builder {
        src,
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        nodes: 0,
        documents: 0,
    };
    for item in Parser::new_from_str(&src.text) {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            SourceError::at(
                src,
                Pos {
                    line: m.line(),
                    col: m.col() + 1,
                },
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        kind: Kind::Null,
    }))
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Key, Node)>, Option<Key>),
}

struct Builder<'s> {
    src: &'s Arc<Source>,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    root: Option<Node>,
    nodes: usize,
    documents: usize,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SourceError> {
        let pos = pos_of(&span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SourceError::at(
                        self.src,
                        pos,
                        "a second YAML document (`---`): one document per file",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let kind = if style == ScalarStyle::Plain && !is_str_tag {
                    resolve_plain(&text)
                } else {
                    Kind::Str(text.into_owned())
                };
                self.push(Node { pos, kind }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(pos, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(pos, anchor, Vec::new(), None))
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(p, anchor, mut items)) = self.stack.pop() {
                    // Growth leaves up to half of a list spare; a playbook's
                    // tree lives through the whole load.
                    items.shrink_to_fit();
                    self.push(
                        Node {
                            pos: p,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    )?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(p, anchor, mut entries, _)) = self.stack.pop() {
                    entries.shrink_to_fit();
                    self.push(
                        Node {
                            pos: p,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    )?;
                }
            }
            Event::Alias(id) => {
                let node =
                    self.anchors.get(&id).cloned().ok_or_else(|| {
                        SourceError::at(self.src, pos, "alias to an unknown anchor")
                    })?;
                self.nodes += count(&node);
                if self.nodes > MAX_NODES {
                    return Err(SourceError::at(
                        self.src,
                        pos,
                        "aliases expand to too many nodes (more than 2,000,000)",
                    ));
                }
                self.push(Node { pos, ..node }, 0)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), SourceError> {
        self.nodes += 1;
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, pending)) => match pending.take() {
                None => {
                    let name = node.scalar_text().ok_or_else(|| {
                        SourceError::at(
                            self.src,
                            node.pos,
                            format!("a mapping key must be a scalar, not {}", node.type_name()),
                        )
                    })?;
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                        return Err(SourceError::at(
                            self.src,
                            node.pos,
                            format!("duplicate key `{name}` (first at line {})", first.pos.line),
                        ));
                    }
                    *pending = Some(Key {
                        pos: node.pos,
                        name,
                    });
                }
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

fn count(node: &Node) -> usize {
    match &node.kind {
        Kind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + count(v)).sum::<usize>(),
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Kind::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Kind::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Kind::Int(i);
    }
    if is_core_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Kind::Float(f);
    }
    Kind::Str(text.to_string())
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, SourceError> {
        parse(&Source::new("t.yaml", text))
    }

    #[test]
    fn positions_and_core_schema() {
        let n = p("a: 1\nb:\n  - x\n  - 'true'\n  - true\n  - 1.5\n  - ~\nc: 0x1f\n").unwrap();
        assert_eq!(n.key("b").unwrap().pos, Pos { line: 2, col: 1 });
        let b = n.get("b").unwrap().as_seq().unwrap();
        assert_eq!(b[0].pos, Pos { line: 3, col: 5 });
        assert_eq!(b[1].kind, Kind::Str("true".into()));
        assert_eq!(b[2].kind, Kind::Bool(true));
        assert_eq!(b[3].kind, Kind::Float(1.5));
        assert_eq!(b[4].kind, Kind::Null);
        assert_eq!(n.get("c").unwrap().kind, Kind::Int(31));
        assert_eq!(n.get("a").unwrap().kind, Kind::Int(1));
    }

    #[test]
    fn versions_stay_strings() {
        let n = p("v: 4.1.5\nw: 3.8\n").unwrap();
        assert_eq!(n.get("v").unwrap().kind, Kind::Str("4.1.5".into()));
        assert_eq!(n.get("w").unwrap().kind, Kind::Float(3.8));
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_lines() {
        let e = p("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos, Some(Pos { line: 3, col: 1 }));
        assert!(e.message.contains("first at line 1"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = p("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.pos.is_some());
        assert!(e.message.starts_with("invalid YAML"));
    }

    #[test]
    fn aliases_expand_and_are_bounded() {
        let n = p("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(n.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let e = p(&bomb).unwrap_err();
        assert!(e.message.contains("too many nodes"), "{}", e.message);
    }

    #[test]
    fn second_document_rejected() {
        assert!(p("a: 1\n---\nb: 2\n").is_err());
    }
}
