//! The enrichment hot path's JSON scanner: `json::scan::scan_object` must accept exactly the
//! inputs serde_json accepts as one JSON object (surrounded by JSON whitespace), and the
//! non-validating walkers (`members`, `elements`, `unescape_into`, `raw_str_eq`) must agree
//! with serde_json on everything the scanner accepted.
//!
//! Known, deliberate differences are not compared: nesting deeper than `MAX_DEPTH` (the
//! scanner refuses it) and numbers serde_json cannot hold in an f64 (`1e400`; JSON itself
//! has no range limit).

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use lut_core::json::scan::{
    elements, members, raw_str_eq, scan_object, unescape_into, Kind, MAX_DEPTH,
};
use serde::Deserialize;
use serde_json::Value;

/// Nesting depth, counting brackets outside strings (an over-estimate is harmless).
fn depth(b: &[u8]) -> usize {
    let (mut d, mut max, mut in_str, mut esc) = (0usize, 0, false, false);
    for &c in b {
        if in_str {
            match c {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                d += 1;
                max = max.max(d);
            }
            b'}' | b']' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn serde_parse(b: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(b);
    de.disable_recursion_limit();
    let v = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(true) => Kind::True,
        Value::Bool(false) => Kind::False,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

fn unescaped(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    unescape_into(raw, &mut out);
    out
}

/// Checks one accepted value (its exact bytes) against serde_json's reading of it.
fn check_value(bytes: &[u8], kind: Kind, escaped: bool, v: &Value) {
    assert_eq!(kind, kind_of(v), "{}", String::from_utf8_lossy(bytes));
    match v {
        Value::String(s) => {
            let raw = &bytes[1..bytes.len() - 1];
            assert_eq!(escaped, raw.contains(&b'\\'));
            assert_eq!(unescaped(raw), s.as_bytes());
            assert!(raw_str_eq(raw, escaped, s.as_bytes()));
        }
        Value::Array(items) => {
            let els: Vec<_> = elements(bytes).collect();
            assert_eq!(els.len(), items.len(), "{}", String::from_utf8_lossy(bytes));
            for ((start, end, kind, esc), item) in els.into_iter().zip(items) {
                check_value(&bytes[start..end], kind, esc, item);
            }
        }
        Value::Object(map) => {
            let walked: Vec<_> = members(bytes)
                .map(|m| {
                    let raw = &bytes[m.key.0..m.key.1];
                    assert_eq!(m.key_escaped, raw.contains(&b'\\'));
                    let key = String::from_utf8(unescaped(raw)).expect("keys unescape to UTF-8");
                    assert!(raw_str_eq(raw, m.key_escaped, key.as_bytes()));
                    (key, m)
                })
                .collect();
            let mut count: HashMap<&str, usize> = HashMap::new();
            for (key, _) in &walked {
                *count.entry(key).or_default() += 1;
            }
            assert_eq!(
                count.len(),
                map.len(),
                "members() and serde_json disagree on the keys"
            );
            for (key, m) in &walked {
                let inner = map.get(key).expect("every member key is in serde's map");
                // With duplicate keys serde keeps the last value; only check a unique key's.
                if count[key.as_str()] == 1 {
                    check_value(&bytes[m.value.0..m.value.1], m.kind, m.value_escaped, inner);
                }
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut found = Vec::new();
    let scanned = scan_object(data, &mut found);
    if let Err(e) = &scanned {
        assert!(e.offset <= data.len(), "{e}");
        if e.reason == "nesting too deep" {
            return;
        }
    }
    if depth(data) > MAX_DEPTH + 1 {
        return;
    }
    let reference = serde_parse(data);
    if let Err(e) = &reference {
        if e.to_string().contains("number out of range") {
            return;
        }
    }
    let serde_says = matches!(reference, Ok(Value::Object(_)));
    assert_eq!(
        scanned.is_ok(),
        serde_says,
        "scan_object: {scanned:?}, serde_json: {reference:?}, input {:?}",
        String::from_utf8_lossy(data)
    );
    let (Ok(span), Ok(v)) = (scanned, reference) else {
        return;
    };
    assert_eq!(data[span.open], b'{');
    assert_eq!(data[span.close], b'}');
    let object = &data[span.open..=span.close];
    // The walker over the object slice sees the same top-level members as the scanner.
    let walked: Vec<_> = members(object).collect();
    assert_eq!(walked.len(), found.len());
    for (w, f) in walked.iter().zip(&found) {
        let shift = |(a, b): (usize, usize)| (a + span.open, b + span.open);
        assert_eq!(shift(w.key), f.key);
        assert_eq!(shift(w.value), f.value);
        assert_eq!(
            (w.kind, w.key_escaped, w.value_escaped),
            (f.kind, f.key_escaped, f.value_escaped)
        );
    }
    check_value(object, Kind::Object, false, &v);
});
