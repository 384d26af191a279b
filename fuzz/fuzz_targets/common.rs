//! Checks shared by the YAML targets: every diagnostic renders and points inside the input.

#![allow(dead_code)]

use lut_core::diag::{Diagnostic, Diagnostics};
use lut_core::yaml::{Node, Value};

/// An upper bound on the 1-based line numbers a position in `src` can have (every CR and LF
/// counted as a line break, plus one for a position just past the end).
pub fn max_line(src: &str) -> usize {
    src.bytes().filter(|&b| b == b'\n' || b == b'\r').count() + 2
}

pub fn check_diag(d: &Diagnostic, src: &str) {
    assert!(!d.code.is_empty(), "diagnostic without code: {d:?}");
    assert!(!d.message.is_empty(), "diagnostic without message: {d:?}");
    if let Some(line) = d.line {
        assert!(
            (1..=max_line(src)).contains(&line),
            "line {line} outside the input: {d:?}"
        );
    }
    if let Some(col) = d.column {
        assert!(col >= 1, "column {col} is not 1-based: {d:?}");
    }
    let shown = d.to_string();
    assert!(shown.contains(d.code), "{shown}");
}

pub fn check_diags(diags: &Diagnostics, src: &str) {
    for d in diags {
        check_diag(d, src);
    }
}

/// Every node of a parsed document has a position inside the input.
pub fn check_node(node: &Node, src: &str) {
    let limit = max_line(src);
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        assert!(
            (1..=limit).contains(&n.line) && n.col >= 1,
            "node position {}:{} outside the input",
            n.line,
            n.col
        );
        // Describing and resolving any node must not panic.
        let _ = n.describe();
        let _ = n.resolved();
        match &n.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => stack.extend(items),
            Value::Map(entries) => {
                for (k, v) in entries {
                    stack.push(k);
                    stack.push(v);
                }
            }
        }
    }
}
