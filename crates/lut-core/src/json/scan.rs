//! Strict, single-pass validation of one line as exactly one JSON object (RFC 8259), recording
//! where each top-level member's key and value lie so callers can read selector values and
//! splice bytes into the line without re-serialising it. Also owns the cheap, non-validating
//! walkers over values that `scan_object` already accepted, and string-body unescaping.
//!
//! The scanner is iterative with a fixed-size nesting stack, so a hostile line can neither
//! overflow the call stack nor make it allocate; the only allocation is the caller's reusable
//! `members` vector growing.

use memchr::{memchr, memchr2};

/// Maximum container nesting accepted by [`scan_object`], counting the top-level object.
pub const MAX_DEPTH: usize = 512;

/// The JSON type of a value token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Number,
    True,
    False,
    Null,
    Object,
    Array,
}

/// A top-level member; all positions are byte offsets into the scanned line (or, from
/// [`members`], into the object slice it was given), as half-open `(start, end)` ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The key's raw bytes, inside the quotes.
    pub key: (usize, usize),
    /// The raw key contains a backslash escape.
    pub key_escaped: bool,
    /// The whole value token, quotes/brackets included.
    pub value: (usize, usize),
    pub kind: Kind,
    /// Strings only: the raw value contains a backslash escape.
    pub value_escaped: bool,
}

/// Where the line's object sits once surrounding whitespace is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectSpan {
    /// Index of the opening `{`.
    pub open: usize,
    /// Index of the matching `}`.
    pub close: usize,
}

/// Why a line is not exactly one JSON object, and the byte offset where that became certain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {offset}")]
pub struct ScanError {
    pub offset: usize,
    pub reason: &'static str,
}

const EOL: &str = "unexpected end of line";
const CONTROL: &str = "control character in string";
const BAD_ESCAPE: &str = "invalid escape";
const SURROGATE: &str = "unpaired surrogate";
const BAD_NUMBER: &str = "invalid number";
const BAD_LITERAL: &str = "invalid literal";

fn fail<T>(offset: usize, reason: &'static str) -> Result<T, ScanError> {
    Err(ScanError { offset, reason })
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Open containers as a bit stack (set bit = array), so depth costs no allocation.
struct Nesting {
    bits: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Nesting {
    fn push(&mut self, array: bool, at: usize) -> Result<(), ScanError> {
        if self.depth == MAX_DEPTH {
            return fail(at, "nesting too deep");
        }
        let (word, mask) = (self.depth / 64, 1u64 << (self.depth % 64));
        if array {
            self.bits[word] |= mask;
        } else {
            self.bits[word] &= !mask;
        }
        self.depth += 1;
        Ok(())
    }

    fn in_array(&self) -> bool {
        let d = self.depth - 1;
        (self.bits[d / 64] >> (d % 64)) & 1 == 1
    }
}

enum State {
    ObjectFirst,
    ObjectKey,
    ArrayFirst,
    Value,
    AfterValue,
    /// `b[i]` is a `}` or `]` that matches the innermost open container.
    Close,
}

/// Validates `line` as exactly one JSON object (surrounding space, tab, CR and LF allowed) and
/// fills `members` (cleared first) with its top-level members in order; duplicate keys are all
/// recorded, in order. On error `members` holds whatever was recorded before the error.
pub fn scan_object(line: &[u8], members: &mut Vec<Member>) -> Result<ObjectSpan, ScanError> {
    // The result is as if UTF-8 were checked first, but without a second pass over every
    // line: structure is ASCII, so a byte from 0x80 up outside a string fails the scan,
    // and the string loop notes whether it saw one. Only a failed scan or a line with
    // non-ASCII text gets the full UTF-8 check, whose error then takes precedence.
    let mut high = 0;
    let scanned = scan_structure(line, members, &mut high);
    if scanned.is_err() || high & HIGHS != 0 {
        if let Err(e) = std::str::from_utf8(line) {
            members.clear();
            return fail(e.valid_up_to(), "invalid UTF-8");
        }
    }
    scanned
}

/// [`scan_object`] without the UTF-8 check; ORs every string byte into `high`.
#[inline]
fn scan_structure(
    line: &[u8],
    members: &mut Vec<Member>,
    high: &mut u64,
) -> Result<ObjectSpan, ScanError> {
    members.clear();
    let b = line;
    let len = b.len();
    let mut i = skip_ws(b, 0);
    match b.get(i) {
        None => return fail(i, "empty line"),
        Some(b'{') => {}
        Some(_) => return fail(i, "not a JSON object"),
    }
    let open = i;
    i += 1;
    let mut nest = Nesting {
        bits: [0; MAX_DEPTH / 64],
        depth: 1,
    };
    // The member being scanned at depth 1; only meaningful between its key and value end.
    let mut key = (0, 0);
    let mut key_escaped = false;
    let mut value_start = 0;
    let mut state = State::ObjectFirst;
    loop {
        match state {
            State::ObjectFirst => {
                i = skip_ws(b, i);
                state = match b.get(i) {
                    Some(b'}') => State::Close,
                    _ => State::ObjectKey,
                };
            }
            State::ArrayFirst => {
                i = skip_ws(b, i);
                state = match b.get(i) {
                    Some(b']') => State::Close,
                    _ => State::Value,
                };
            }
            State::ObjectKey => {
                i = skip_ws(b, i);
                match b.get(i) {
                    Some(b'"') => {}
                    Some(_) => return fail(i, "expected a string key"),
                    None => return fail(len, EOL),
                }
                let start = i + 1;
                i = start;
                let escaped = scan_string(b, &mut i, high)?;
                if nest.depth == 1 {
                    key = (start, i - 1);
                    key_escaped = escaped;
                }
                i = skip_ws(b, i);
                match b.get(i) {
                    Some(b':') => i += 1,
                    Some(_) => return fail(i, "expected ':'"),
                    None => return fail(len, EOL),
                }
                state = State::Value;
            }
            State::Value => {
                i = skip_ws(b, i);
                let Some(&c) = b.get(i) else {
                    return fail(len, EOL);
                };
                let start = i;
                let (kind, escaped) = match c {
                    b'"' => {
                        i += 1;
                        (Kind::String, scan_string(b, &mut i, high)?)
                    }
                    b'{' | b'[' => {
                        let array = c == b'[';
                        nest.push(array, i)?;
                        if nest.depth == 2 {
                            value_start = start;
                        }
                        i += 1;
                        state = if array {
                            State::ArrayFirst
                        } else {
                            State::ObjectFirst
                        };
                        continue;
                    }
                    b't' => (scan_literal(b, &mut i, b"true")?, false),
                    b'f' => (scan_literal(b, &mut i, b"false")?, false),
                    b'n' => (scan_literal(b, &mut i, b"null")?, false),
                    b'-' | b'0'..=b'9' => {
                        scan_number(b, &mut i)?;
                        (Kind::Number, false)
                    }
                    b'.' | b'+' => return fail(i, BAD_NUMBER),
                    _ => return fail(i, "expected a value"),
                };
                if nest.depth == 1 {
                    members.push(Member {
                        key,
                        key_escaped,
                        value: (start, i),
                        kind,
                        value_escaped: escaped,
                    });
                }
                state = State::AfterValue;
            }
            State::AfterValue => {
                i = skip_ws(b, i);
                let in_array = nest.in_array();
                state = match (b.get(i), in_array) {
                    (Some(b','), true) => {
                        i += 1;
                        State::Value
                    }
                    (Some(b','), false) => {
                        i += 1;
                        State::ObjectKey
                    }
                    (Some(b']'), true) | (Some(b'}'), false) => State::Close,
                    (Some(_), true) => return fail(i, "expected ',' or ']'"),
                    (Some(_), false) => return fail(i, "expected ',' or '}'"),
                    (None, _) => return fail(len, EOL),
                };
            }
            State::Close => {
                let kind = if b[i] == b']' {
                    Kind::Array
                } else {
                    Kind::Object
                };
                nest.depth -= 1;
                i += 1;
                match nest.depth {
                    0 => {
                        let close = i - 1;
                        i = skip_ws(b, i);
                        if i != len {
                            return fail(i, "trailing characters after the object");
                        }
                        return Ok(ObjectSpan { open, close });
                    }
                    1 => members.push(Member {
                        key,
                        key_escaped,
                        value: (value_start, i),
                        kind,
                        value_escaped: false,
                    }),
                    _ => {}
                }
                state = State::AfterValue;
            }
        }
    }
}

/// Bytes that end a plain run inside a string: the quote, a backslash, or a control byte.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// For 8 bytes loaded little-endian: a mask whose lowest set bit is the high bit of the
/// first byte that is `"`, `\` or below 0x20, or 0 when there is none.
///
/// `(x - ONES) & !x & HIGHS` flags zero bytes of `x`, and `(w - 0x20 * ONES) & !w` bytes
/// below 0x20 (bytes from 0x80 up have their high bit set in `w`, so `!w` clears them).
/// A borrow can flag bytes *above* a true hit, never below one, so the lowest set bit of
/// the union is exact, which is all a search for the first stop needs.
#[inline(always)]
fn stop_mask(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (quote | backslash | control) & HIGHS
}

/// Index of the first quote, backslash or control byte at or after `i`, or `b.len()`.
/// Eight bytes per step (SWAR): string bodies are mostly plain runs of a few to a few
/// hundred bytes, and this is the scanner's hottest loop. Every byte up to the stop (and
/// possibly a few after it) is ORed into `high`, so its top bits tell whether any was
/// non-ASCII.
#[inline]
fn find_stop(b: &[u8], mut i: usize, high: &mut u64) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        *high |= w;
        let m = stop_mask(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STRING_STOP[usize::from(b[i])] {
        *high |= u64::from(b[i]);
        i += 1;
    }
    i
}

/// `*pos` is just past the opening quote; on success it is just past the closing quote and the
/// result says whether the body holds an escape. UTF-8 is left to the caller (see `high` in
/// [`find_stop`]).
#[inline]
fn scan_string(b: &[u8], pos: &mut usize, high: &mut u64) -> Result<bool, ScanError> {
    let len = b.len();
    let mut i = *pos;
    let mut escaped = false;
    loop {
        i = find_stop(b, i, high);
        match b.get(i) {
            None => return fail(len, EOL),
            Some(b'"') => {
                *pos = i + 1;
                return Ok(escaped);
            }
            Some(b'\\') => {
                escaped = true;
                i = scan_escape(b, i)?;
            }
            Some(_) => return fail(i, CONTROL),
        }
    }
}

/// `b[i]` is a backslash; returns the index just past the escape sequence.
fn scan_escape(b: &[u8], i: usize) -> Result<usize, ScanError> {
    match b.get(i + 1) {
        None => fail(b.len(), EOL),
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let unit = scan_hex4(b, i + 2)?;
            match unit {
                0xD800..=0xDBFF => {
                    if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                        let low = scan_hex4(b, i + 8)?;
                        if (0xDC00..=0xDFFF).contains(&low) {
                            return Ok(i + 12);
                        }
                    } else if b"\\u".starts_with(&b[i + 6..]) {
                        // The line ends where the low half should be.
                        return fail(b.len(), EOL);
                    }
                    fail(i, SURROGATE)
                }
                0xDC00..=0xDFFF => fail(i, SURROGATE),
                _ => Ok(i + 6),
            }
        }
        Some(_) => fail(i, BAD_ESCAPE),
    }
}

fn scan_hex4(b: &[u8], at: usize) -> Result<u32, ScanError> {
    let mut v = 0;
    for k in at..at + 4 {
        match b.get(k) {
            None => return fail(b.len(), EOL),
            Some(&h) => match hex_val(h) {
                Some(d) => v = v << 4 | d,
                None => return fail(k, BAD_ESCAPE),
            },
        }
    }
    Ok(v)
}

#[inline]
fn hex_val(h: u8) -> Option<u32> {
    match h {
        b'0'..=b'9' => Some(u32::from(h - b'0')),
        b'a'..=b'f' => Some(u32::from(h - b'a' + 10)),
        b'A'..=b'F' => Some(u32::from(h - b'A' + 10)),
        _ => None,
    }
}

fn scan_literal(b: &[u8], i: &mut usize, lit: &'static [u8]) -> Result<Kind, ScanError> {
    let rest = &b[*i..];
    if rest.starts_with(lit) {
        *i += lit.len();
        Ok(match lit[0] {
            b't' => Kind::True,
            b'f' => Kind::False,
            _ => Kind::Null,
        })
    } else if rest.len() < lit.len() && lit.starts_with(rest) {
        fail(b.len(), EOL)
    } else {
        fail(*i, BAD_LITERAL)
    }
}

#[inline]
fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// A required digit is missing at `i`: running out of line is a truncation, not a bad number.
fn missing_digit<T>(b: &[u8], i: usize) -> Result<T, ScanError> {
    if i == b.len() {
        fail(i, EOL)
    } else {
        fail(i, BAD_NUMBER)
    }
}

/// `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`
fn scan_number(b: &[u8], pos: &mut usize) -> Result<(), ScanError> {
    let mut i = *pos;
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = skip_digits(b, i + 1),
        _ => return missing_digit(b, i),
    }
    if b.get(i) == Some(&b'.') {
        let j = skip_digits(b, i + 1);
        if j == i + 1 {
            return missing_digit(b, j);
        }
        i = j;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let j = skip_digits(b, i);
        if j == i {
            return missing_digit(b, j);
        }
        i = j;
    }
    // Only reachable right after a leading "0": "01", "-00".
    if let Some(b'0'..=b'9') = b.get(i) {
        return fail(i, BAD_NUMBER);
    }
    *pos = i;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Non-validating walkers. Their input was accepted by `scan_object`, so they only find token
// boundaries; on garbage they stop (every step advances, every index is bounds-checked).

/// `i` is just past an opening quote; returns (index past the closing quote, saw an escape).
fn skip_string_loose(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i += memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some((i + 1, escaped));
        }
        escaped = true;
        i += 2;
    }
}

/// `b[i]` is `{` or `[`; returns the index past its matching closer.
fn skip_container_loose(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *b.get(i)? {
            b'"' => {
                i = skip_string_loose(b, i + 1)?.0;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Returns (end, kind, escaped) of the value token starting at `b[i]`.
fn skip_value_loose(b: &[u8], i: usize) -> Option<(usize, Kind, bool)> {
    let literal = |lit: &[u8], kind| {
        b[i..]
            .starts_with(lit)
            .then_some((i + lit.len(), kind, false))
    };
    match *b.get(i)? {
        b'"' => skip_string_loose(b, i + 1).map(|(end, esc)| (end, Kind::String, esc)),
        b'{' => skip_container_loose(b, i).map(|end| (end, Kind::Object, false)),
        b'[' => skip_container_loose(b, i).map(|end| (end, Kind::Array, false)),
        b't' => literal(b"true", Kind::True),
        b'f' => literal(b"false", Kind::False),
        b'n' => literal(b"null", Kind::Null),
        b'-' | b'0'..=b'9' => {
            let mut end = i + 1;
            while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = b.get(end) {
                end += 1;
            }
            Some((end, Kind::Number, false))
        }
        _ => None,
    }
}

/// Where a walker is: `i` is where the next item may start; once `done` it yields nothing.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    done: bool,
}

impl<'a> Cursor<'a> {
    fn open(b: &'a [u8], opener: u8) -> Self {
        let i = skip_ws(b, 0);
        let done = b.get(i) != Some(&opener);
        Cursor { b, i: i + 1, done }
    }

    /// An item ended at `end`: another follows only after a comma; anything else ends the walk.
    fn item_ended(&mut self, end: usize) {
        let i = skip_ws(self.b, end);
        self.done = self.b.get(i) != Some(&b',');
        self.i = i + 1;
    }
}

/// Iterator over the members of an already-validated object; see [`members`].
#[derive(Debug, Clone)]
pub struct MemberIter<'a>(Cursor<'a>);

/// Iterates the members of an already-validated object value (e.g. a nested value slice from a
/// line `scan_object` accepted). Positions are relative to `object`. Stops early on garbage.
pub fn members(object: &[u8]) -> MemberIter<'_> {
    MemberIter(Cursor::open(object, b'{'))
}

impl Iterator for MemberIter<'_> {
    type Item = Member;

    fn next(&mut self) -> Option<Member> {
        let c = &mut self.0;
        if c.done {
            return None;
        }
        // Stays done unless a whole member is read.
        c.done = true;
        let b = c.b;
        let key_start = skip_ws(b, c.i) + 1;
        if b.get(key_start - 1) != Some(&b'"') {
            return None;
        }
        let (key_after, key_escaped) = skip_string_loose(b, key_start)?;
        let colon = skip_ws(b, key_after);
        if b.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, colon + 1);
        let (end, kind, value_escaped) = skip_value_loose(b, start)?;
        c.item_ended(end);
        Some(Member {
            key: (key_start, key_after - 1),
            key_escaped,
            value: (start, end),
            kind,
            value_escaped,
        })
    }
}

/// Iterator over the elements of an already-validated array; see [`elements`].
#[derive(Debug, Clone)]
pub struct ElementIter<'a>(Cursor<'a>);

/// Iterates the elements of an already-validated array value, yielding
/// `(start, end, kind, escaped)` relative to `array` (`escaped` only for strings). Stops early
/// on garbage.
pub fn elements(array: &[u8]) -> ElementIter<'_> {
    ElementIter(Cursor::open(array, b'['))
}

impl Iterator for ElementIter<'_> {
    type Item = (usize, usize, Kind, bool);

    fn next(&mut self) -> Option<Self::Item> {
        let c = &mut self.0;
        if c.done {
            return None;
        }
        c.done = true;
        let start = skip_ws(c.b, c.i);
        let (end, kind, escaped) = skip_value_loose(c.b, start)?;
        c.item_ended(end);
        Some((start, end, kind, escaped))
    }
}

// ---------------------------------------------------------------------------------------------
// Unescaping. Inputs are validated string bodies; anything malformed decodes to U+FFFD rather
// than panicking, so a caller bug cannot take the process down.

/// `raw[*i]` is a backslash; decodes one escape and moves `*i` past it (never beyond the end).
fn decode_escape(raw: &[u8], i: &mut usize) -> char {
    let at = *i;
    let (c, used) = match raw.get(at + 1) {
        Some(b'"') => ('"', 2),
        Some(b'\\') => ('\\', 2),
        Some(b'/') => ('/', 2),
        Some(b'b') => ('\u{8}', 2),
        Some(b'f') => ('\u{c}', 2),
        Some(b'n') => ('\n', 2),
        Some(b'r') => ('\r', 2),
        Some(b't') => ('\t', 2),
        Some(b'u') => match hex4_loose(raw, at + 2) {
            Some(high @ 0xD800..=0xDBFF) => {
                let low = (raw.get(at + 6..at + 8) == Some(b"\\u"))
                    .then(|| hex4_loose(raw, at + 8))
                    .flatten()
                    .filter(|low| (0xDC00..=0xDFFF).contains(low));
                match low {
                    Some(low) => {
                        let cp = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                        (
                            char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER),
                            12,
                        )
                    }
                    None => (char::REPLACEMENT_CHARACTER, 6),
                }
            }
            Some(unit) => (
                char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
                6,
            ),
            None => (char::REPLACEMENT_CHARACTER, 2),
        },
        _ => (char::REPLACEMENT_CHARACTER, 2),
    };
    *i = (at + used).min(raw.len());
    c
}

fn hex4_loose(raw: &[u8], at: usize) -> Option<u32> {
    raw.get(at..at + 4)?
        .iter()
        .try_fold(0, |v, &h| Some(v << 4 | hex_val(h)?))
}

/// Does the raw key/string content (between the quotes) equal `wanted` after unescaping?
/// With `escaped == false` this is a plain byte comparison and `raw` is taken literally.
pub fn raw_str_eq(raw: &[u8], escaped: bool, wanted: &[u8]) -> bool {
    if !escaped {
        return raw == wanted;
    }
    // Every escape decodes to at most as many bytes as it spells, so this rules out most misses.
    if wanted.len() > raw.len() {
        return false;
    }
    let (mut i, mut w) = (0, 0);
    while let Some(k) = memchr(b'\\', &raw[i..]) {
        if wanted.get(w..w + k) != Some(&raw[i..i + k]) {
            return false;
        }
        w += k;
        i += k;
        let mut buf = [0u8; 4];
        let unit = decode_escape(raw, &mut i).encode_utf8(&mut buf).as_bytes();
        if wanted.get(w..w + unit.len()) != Some(unit) {
            return false;
        }
        w += unit.len();
    }
    wanted.get(w..) == Some(&raw[i..])
}

/// Appends the unescaped content of a raw JSON string body (between the quotes) to `out`.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(k) = memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + k]);
        i += k;
        let mut buf = [0u8; 4];
        out.extend_from_slice(decode_escape(raw, &mut i).encode_utf8(&mut buf).as_bytes());
    }
    out.extend_from_slice(&raw[i..]);
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
