//! Selectors (§5.2): which values of an event are looked up.
//!
//! A selector is either a plain top-level key (taken literally, dots and all) or a JSONPath
//! in the subset real specs use: `$.a.b`, `$['a.b']`, `$.a[0].b`, `$.a[*].b`, plus the
//! `$a.b` spelling (no dot after `$`) found in Panther's own fixtures. Parsing happens once
//! per table build; the enrichment path only walks the resulting steps.

use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member, by exact name.
    Key(String),
    /// An array element (0-based).
    Index(usize),
    /// Every element of an array.
    Wildcard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The selector as written in the spec.
    pub source: String,
    /// The key its matches are stored under in `p_enrichment.<table>`.
    pub key: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {selector:?}: {reason} (at character {pos})")]
pub struct SelectorError {
    pub selector: String,
    pub pos: usize,
    pub reason: &'static str,
}

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, SelectorError> {
        let err = |pos: usize, reason| SelectorError {
            selector: s.to_string(),
            pos,
            reason,
        };
        if s.is_empty() {
            return Err(err(0, "a selector cannot be empty"));
        }
        let Some(rest) = s.strip_prefix('$') else {
            return Ok(Selector {
                source: s.to_string(),
                key: s.to_string(),
                steps: vec![Step::Key(s.to_string())],
            });
        };
        if rest.is_empty() {
            return Err(err(1, "`$` alone selects the whole event, not a value"));
        }
        // `$name.sub` is how some real specs write `$.name.sub`.
        let (body, key) = if rest.starts_with('.') || rest.starts_with('[') {
            (rest, rest.strip_prefix('.').unwrap_or(rest))
        } else {
            (rest, rest)
        };
        let normalized_dot = !body.starts_with('.') && !body.starts_with('[');
        let steps =
            parse_steps(body, normalized_dot, 1).map_err(|(pos, reason)| err(pos, reason))?;
        Ok(Selector {
            source: s.to_string(),
            key: key.to_string(),
            steps,
        })
    }

    /// Whether the matches are always stored as a list, even for a single value (§5.3).
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// The top-level key this selector starts at.
    pub fn root_key(&self) -> &str {
        match self.steps.first() {
            Some(Step::Key(k)) => k,
            _ => "",
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Parses `.a.b[0]['c'][*]`; with `implicit_dot`, the body starts with a bare name.
fn parse_steps(
    body: &str,
    implicit_dot: bool,
    offset: usize,
) -> Result<Vec<Step>, (usize, &'static str)> {
    let b = body.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    let mut first = true;
    while i < b.len() || (first && implicit_dot) {
        let at_name = (first && implicit_dot) || b.get(i) == Some(&b'.');
        first = false;
        if at_name {
            if b.get(i) == Some(&b'.') {
                i += 1;
            }
            let start = i;
            while i < b.len() && !matches!(b[i], b'.' | b'[') {
                if matches!(b[i], b']' | b'\'' | b'"') || b[i].is_ascii_whitespace() {
                    return Err((
                        offset + i,
                        "unexpected character in a name; quote it as ['...']",
                    ));
                }
                i += 1;
            }
            let name = &body[start..i];
            if name.is_empty() {
                return Err((offset + start, "empty name after '.'"));
            }
            if name == "*" {
                return Err((offset + start, "`.*` is not supported; use [*] on arrays"));
            }
            steps.push(Step::Key(name.to_string()));
        } else if b[i] == b'[' {
            i += 1;
            match b.get(i) {
                Some(b'\'' | b'"') => {
                    let quote = b[i];
                    i += 1;
                    let mut name = String::new();
                    loop {
                        match b.get(i) {
                            None => return Err((offset + i, "unterminated quoted name")),
                            Some(&c) if c == quote => break,
                            Some(b'\\') => {
                                match b.get(i + 1) {
                                    Some(&c @ (b'\\' | b'\'' | b'"')) => name.push(c as char),
                                    _ => {
                                        return Err((
                                            offset + i,
                                            "only \\\\, \\' and \\\" escapes are allowed",
                                        ))
                                    }
                                }
                                i += 2;
                            }
                            Some(_) => {
                                let ch = body[i..].chars().next().expect("in bounds");
                                name.push(ch);
                                i += ch.len_utf8();
                            }
                        }
                    }
                    i += 1;
                    steps.push(Step::Key(name));
                }
                Some(b'*') => {
                    i += 1;
                    steps.push(Step::Wildcard);
                }
                Some(b'0'..=b'9') => {
                    let start = i;
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    let n = body[start..i]
                        .parse::<usize>()
                        .map_err(|_| (offset + start, "array index is too large"))?;
                    steps.push(Step::Index(n));
                }
                Some(b'-') => return Err((offset + i, "negative array indexes are not supported")),
                _ => {
                    return Err((
                        offset + i,
                        "expected a quoted name, an index or * after '['",
                    ))
                }
            }
            if b.get(i) != Some(&b']') {
                return Err((offset + i, "expected ']'"));
            }
            i += 1;
        } else {
            return Err((offset + i, "expected '.' or '['"));
        }
    }
    if steps.is_empty() {
        return Err((offset, "the path selects nothing"));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Step {
        Step::Key(s.to_string())
    }

    #[test]
    fn plain_names_are_literal_keys() {
        let s = Selector::parse("id.orig_h").unwrap();
        assert_eq!(s.steps, vec![key("id.orig_h")]);
        assert_eq!(s.key, "id.orig_h");
        assert!(!s.has_wildcard());
    }

    #[test]
    fn dotted_paths() {
        let s = Selector::parse("$.userIdentity.accountId").unwrap();
        assert_eq!(s.steps, vec![key("userIdentity"), key("accountId")]);
        assert_eq!(s.key, "userIdentity.accountId");
    }

    #[test]
    fn dollar_without_dot_is_accepted() {
        let s = Selector::parse("$userIdentity.accountId").unwrap();
        assert_eq!(s.steps, vec![key("userIdentity"), key("accountId")]);
        assert_eq!(s.key, "userIdentity.accountId");
    }

    #[test]
    fn brackets_indexes_and_wildcards() {
        let s = Selector::parse("$['a.b']").unwrap();
        assert_eq!(s.steps, vec![key("a.b")]);
        assert_eq!(s.key, "['a.b']");
        let s = Selector::parse("$.a[0].b").unwrap();
        assert_eq!(s.steps, vec![key("a"), Step::Index(0), key("b")]);
        let s = Selector::parse("$.a[*].b").unwrap();
        assert_eq!(s.steps, vec![key("a"), Step::Wildcard, key("b")]);
        assert!(s.has_wildcard());
        assert_eq!(s.key, "a[*].b");
        let s = Selector::parse("$[\"x\\\"y\"]['z']").unwrap();
        assert_eq!(s.steps, vec![key("x\"y"), key("z")]);
        let s = Selector::parse("$.résumé['ü']").unwrap();
        assert_eq!(s.steps, vec![key("résumé"), key("ü")]);
    }

    #[test]
    fn errors_name_the_position() {
        for (bad, pos) in [
            ("", 0),
            ("$", 1),
            ("$.", 2),
            ("$.a..b", 4),
            ("$.a[", 4),
            ("$.a[1", 5),
            ("$.a[-1]", 4),
            ("$.a['b]", 7),
            ("$.a.*", 4),
            ("$.a b", 3),
            ("$.a[x]", 4),
        ] {
            let e = Selector::parse(bad).unwrap_err();
            assert_eq!(e.pos, pos, "{bad}: {e}");
        }
    }
}
