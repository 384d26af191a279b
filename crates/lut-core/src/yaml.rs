//! YAML documents with positions.
//!
//! Specs and schemas are YAML written by people, so every error must name the line. This
//! module turns the event stream of `yaml-rust2` into a small tree whose nodes keep their
//! line and column, resolves scalars by the YAML 1.2 core schema, and offers a [`MapReader`]
//! that reads the known keys of a mapping and reports every unknown or duplicated one.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::{Diagnostic, Diagnostics};

/// A node of a YAML document with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar as written; `plain` is false for quoted and block scalars, which are always
    /// strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid YAML: {message}")]
pub struct YamlError {
    pub message: String,
    pub line: usize,
    pub col: usize,
}

impl YamlError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic::error("yaml-syntax", self.to_string()).at(self.line, self.col)
    }
}

/// Parses one YAML document; `Ok(None)` when the stream holds no document (empty file or
/// only comments). More than one document is an error: a spec is one document.
pub fn parse(src: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        message: e.info().to_string(),
        line: e.marker().line(),
        col: e.marker().col() + 1,
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    match builder.docs.len() {
        0 => Ok(None),
        1 => Ok(builder.docs.pop()),
        _ => Err(YamlError {
            message: "more than one YAML document in the file".into(),
            line: builder.second_doc_line,
            col: 1,
        }),
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, usize)>,
    /// Pending mapping key per open mapping, aligned with `stack`.
    keys: Vec<Option<Node>>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    second_doc_line: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some((parent, _)) = self.stack.last_mut() else {
            if self.docs.len() == 1 && self.second_doc_line == 0 {
                self.second_doc_line = node.line;
            }
            self.docs.push(node);
            return;
        };
        match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => {
                let slot = self.keys.last_mut().expect("key slot for open mapping");
                match slot.take() {
                    None => *slot = Some(node),
                    Some(key) => entries.push((key, node)),
                }
            }
            Value::Scalar { .. } => unreachable!("scalars have no children"),
        }
    }

    fn close(&mut self) {
        if let Some((mut node, anchor)) = self.stack.pop() {
            // The parser marks a block mapping where it recognised it (at the first
            // key's colon); its first key is where a reader would look.
            if let Value::Map(entries) = &node.value {
                if let Some((k, _)) = entries.first() {
                    (node.line, node.col) = (k.line, k.col);
                }
            }
            self.keys.pop();
            self.push_value(node, anchor);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let (line, col) = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_value(
                    Node {
                        value: Value::Scalar { text, plain },
                        line,
                        col,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                let node = Node {
                    value: Value::Seq(Vec::new()),
                    line,
                    col,
                };
                self.stack.push((node, anchor));
                self.keys.push(None);
            }
            Event::MappingStart(anchor, _) => {
                let node = Node {
                    value: Value::Map(Vec::new()),
                    line,
                    col,
                };
                self.stack.push((node, anchor));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.line = line;
                    node.col = col;
                    self.push_value(node, 0);
                }
                None => {
                    self.error.get_or_insert(YamlError {
                        message: "alias refers to an unknown anchor".into(),
                        line,
                        col,
                    });
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(v) = i64::from_str_radix(hex, 16) {
            return Resolved::Int(v);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(v) = i64::from_str_radix(oct, 8) {
            return Resolved::Int(v);
        }
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = text.parse::<i64>() {
            return Resolved::Int(v);
        }
    }
    if looks_like_float(digits) {
        if let Ok(v) = text.parse::<f64>() {
            return Resolved::Float(v);
        }
    }
    Resolved::Str(text)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` after the sign.
fn looks_like_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

impl Node {
    pub fn resolved(&self) -> Option<Resolved<'_>> {
        match &self.value {
            Value::Scalar { text, plain: true } => Some(resolve_plain(text)),
            Value::Scalar { text, plain: false } => Some(Resolved::Str(text)),
            _ => None,
        }
    }

    /// A human description of what this node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match (&self.value, self.resolved()) {
            (Value::Seq(_), _) => "a list".into(),
            (Value::Map(_), _) => "a mapping".into(),
            (_, Some(Resolved::Null)) => "nothing (null)".into(),
            (_, Some(Resolved::Bool(b))) => format!("a boolean ({b})"),
            (_, Some(Resolved::Int(i))) => format!("an integer ({i})"),
            (_, Some(Resolved::Float(f))) => format!("a number ({f})"),
            (_, Some(Resolved::Str(s))) => format!("a string ({s:?})"),
            (_, None) => "a value".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.resolved()? {
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.resolved()? {
            Resolved::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.resolved()? {
            Resolved::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.resolved(), Some(Resolved::Null))
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a mapping (first occurrence), without marking anything.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A diagnostic positioned at this node.
    pub fn error(&self, code: &'static str, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, message)
            .at(self.line, self.col)
            .with_path(path)
    }

    pub fn warning(
        &self,
        code: &'static str,
        path: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::warning(code, message)
            .at(self.line, self.col)
            .with_path(path)
    }
}

/// Joins a parent path and a key: `LogTypeMap` + `PrimaryKey`.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Reads the keys of one mapping, remembering which were read so that [`MapReader::finish`]
/// can report the rest as unknown.
pub struct MapReader<'n> {
    node: &'n Node,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    path: String,
}

impl<'n> MapReader<'n> {
    /// `None` (with an error pushed) when `node` is not a mapping. Duplicate and non-string
    /// keys are reported here.
    pub fn new(node: &'n Node, path: &str, diags: &mut Diagnostics) -> Option<Self> {
        let Some(entries) = node.as_map() else {
            diags.push(node.error(
                "wrong-type",
                path,
                format!("expected a mapping, found {}", node.describe()),
            ));
            return None;
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, _) in entries {
            match k.as_str() {
                Some(name) => {
                    if let Some(first) = seen.insert(name, k.line) {
                        diags.push(k.error(
                            "duplicate-key",
                            &join(path, name),
                            format!("key {name:?} appears twice (first on line {first})"),
                        ));
                    }
                }
                None => diags.push(k.error(
                    "wrong-type",
                    path,
                    format!("keys must be strings, found {}", k.describe()),
                )),
            }
        }
        Some(MapReader {
            node,
            entries,
            used: vec![false; entries.len()],
            path: path.to_string(),
        })
    }

    pub fn node(&self) -> &'n Node {
        self.node
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn child_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Whether `key` is present (without marking it read).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.as_str() == Some(key))
    }

    /// The value under `key`, marking it read. A key with a null value counts as absent.
    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        let i = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        self.used[i] = true;
        let v = &self.entries[i].1;
        (!v.is_null()).then_some(v)
    }

    /// A string value; a wrong type is reported and read as absent.
    pub fn str(&mut self, key: &str, diags: &mut Diagnostics) -> Option<&'n str> {
        let node = self.get(key)?;
        match node.as_str() {
            Some(s) => Some(s),
            None => {
                diags.push(self.wrong_type(node, key, "a string"));
                None
            }
        }
    }

    /// Like [`MapReader::str`] but a missing key is an error.
    pub fn required_str(&mut self, key: &str, diags: &mut Diagnostics) -> Option<&'n str> {
        if !self.has(key) || self.entries_value(key).is_some_and(Node::is_null) {
            diags.push(self.missing(key));
            self.get(key);
            return None;
        }
        self.str(key, diags)
    }

    pub fn bool(&mut self, key: &str, diags: &mut Diagnostics) -> Option<bool> {
        let node = self.get(key)?;
        match node.as_bool() {
            Some(b) => Some(b),
            None => {
                diags.push(self.wrong_type(node, key, "a boolean (true or false)"));
                None
            }
        }
    }

    pub fn int(&mut self, key: &str, diags: &mut Diagnostics) -> Option<i64> {
        let node = self.get(key)?;
        match node.as_i64() {
            Some(i) => Some(i),
            None => {
                diags.push(self.wrong_type(node, key, "an integer"));
                None
            }
        }
    }

    /// A list of strings; wrong elements are reported and skipped.
    pub fn str_list(
        &mut self,
        key: &str,
        diags: &mut Diagnostics,
    ) -> Option<Vec<(&'n str, &'n Node)>> {
        let node = self.get(key)?;
        let Some(items) = node.as_seq() else {
            diags.push(self.wrong_type(node, key, "a list of strings"));
            return None;
        };
        let path = self.child_path(key);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push((s, item)),
                None => diags.push(item.error(
                    "wrong-type",
                    &format!("{path}[{i}]"),
                    format!("expected a string, found {}", item.describe()),
                )),
            }
        }
        Some(out)
    }

    fn entries_value(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn missing(&self, key: &str) -> Diagnostic {
        self.node.error(
            "missing-key",
            &self.child_path(key),
            format!("required key {key:?} is missing"),
        )
    }

    pub fn wrong_type(&self, node: &Node, key: &str, expected: &str) -> Diagnostic {
        node.error(
            "wrong-type",
            &self.child_path(key),
            format!("{key} must be {expected}, found {}", node.describe()),
        )
    }

    /// Reports every key that was never read, naming `allowed` keys in the message.
    pub fn finish(self, diags: &mut Diagnostics) {
        let allowed: Vec<&str> = Vec::new();
        self.finish_with_hint(&allowed, diags);
    }

    pub fn finish_with_hint(self, allowed: &[&str], diags: &mut Diagnostics) {
        let used_names: Vec<&str> = self
            .entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| **used)
            .filter_map(|((k, _), _)| k.as_str())
            .collect();
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            let Some(name) = k.as_str() else { continue };
            // A repeat of a key that was read is already reported as a duplicate.
            if *used || used_names.contains(&name) {
                continue;
            }
            let mut msg = format!("unknown key {name:?}");
            if let Some(close) = allowed.iter().find(|a| a.eq_ignore_ascii_case(name)) {
                msg.push_str(&format!(" (did you mean {close:?}?)"));
            } else if !allowed.is_empty() {
                msg.push_str(&format!("; allowed keys: {}", allowed.join(", ")));
            }
            diags.push(k.error("unknown-key", &join(&self.path, name), msg));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(src: &str) -> Node {
        parse(src).expect("valid yaml").expect("a document")
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let n = doc("a: 1\nb:\n  c: x\n");
        let (k, v) = &n.as_map().unwrap()[1];
        assert_eq!((k.line, k.col), (2, 1));
        let inner = &v.as_map().unwrap()[0];
        assert_eq!((inner.0.line, inner.0.col), (3, 3));
        assert_eq!(inner.1.as_str(), Some("x"));
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let n = doc(
            "a: true\nb: 'true'\nc: 12\nd: '12'\ne: 1.5\nf: ~\ng: 0x1F\nh: 1e3\ni: 12abc\nj: -7\n",
        );
        assert_eq!(n.get("a").unwrap().as_bool(), Some(true));
        assert_eq!(n.get("b").unwrap().as_str(), Some("true"));
        assert_eq!(n.get("c").unwrap().as_i64(), Some(12));
        assert_eq!(n.get("d").unwrap().as_str(), Some("12"));
        assert_eq!(n.get("e").unwrap().resolved(), Some(Resolved::Float(1.5)));
        assert!(n.get("f").unwrap().is_null());
        assert_eq!(n.get("g").unwrap().as_i64(), Some(31));
        assert_eq!(
            n.get("h").unwrap().resolved(),
            Some(Resolved::Float(1000.0))
        );
        assert_eq!(n.get("i").unwrap().as_str(), Some("12abc"));
        assert_eq!(n.get("j").unwrap().as_i64(), Some(-7));
    }

    #[test]
    fn mappings_are_positioned_at_their_first_key() {
        let n = doc("# comment\nAnalysisType: x\nRefresh:\n  PeriodMinutes: 60\n");
        assert_eq!((n.line, n.col), (2, 1));
        let r = n.get("Refresh").unwrap();
        assert_eq!((r.line, r.col), (4, 3));
    }

    #[test]
    fn empty_and_comment_only_files_have_no_document() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# nothing here\n").unwrap(), None);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err:?}");
        let err = parse("a: b\n  c: d\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn two_documents_are_rejected() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("more than one"), "{err:?}");
    }

    #[test]
    fn aliases_are_expanded() {
        let n = doc("base: &b {x: 1}\nother: *b\n");
        assert_eq!(n.get("other").unwrap().get("x").unwrap().as_i64(), Some(1));
    }

    #[test]
    fn map_reader_reports_unknown_duplicate_missing_and_wrong_types() {
        let n = doc("Name: x\nEnabled: maybe\nName: y\nExtra: 1\n");
        let mut diags = Diagnostics::new();
        let mut r = MapReader::new(&n, "", &mut diags).unwrap();
        assert_eq!(r.str("Name", &mut diags), Some("x"));
        assert_eq!(r.bool("Enabled", &mut diags), None);
        assert_eq!(r.required_str("Schema", &mut diags), None);
        r.finish_with_hint(&["Name", "Enabled", "Schema"], &mut diags);
        let codes: Vec<_> = diags.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            codes,
            vec![
                ("duplicate-key", Some(3)),
                ("wrong-type", Some(2)),
                ("missing-key", Some(1)),
                ("unknown-key", Some(4)),
            ]
        );
        let unknown = diags.iter().last().unwrap();
        assert_eq!(unknown.path, "Extra");
        assert!(
            unknown.message.contains("allowed keys"),
            "{}",
            unknown.message
        );
    }

    #[test]
    fn unknown_key_suggests_case_fix() {
        let n = doc("lookupname: x\n");
        let mut diags = Diagnostics::new();
        let r = MapReader::new(&n, "", &mut diags).unwrap();
        r.finish_with_hint(&["LookupName"], &mut diags);
        assert!(diags
            .iter()
            .next()
            .unwrap()
            .message
            .contains("did you mean \"LookupName\""));
    }
}
