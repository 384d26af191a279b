//! Selectors (§5.2): `Selector::parse` on arbitrary text.
//!
//! Invariants: nothing panics; an error's position lies inside the text (or just past it)
//! and its message renders; an accepted selector displays as its source, re-parses to
//! itself, has at least one step, and a plain (non-`$`) selector is one literal key.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lut_core::selector::{Selector, Step};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Selector::parse(s) {
        Err(e) => {
            assert!(e.pos <= s.len(), "{e}");
            assert_eq!(e.selector, s);
            let _ = e.to_string();
        }
        Ok(sel) => {
            assert_eq!(sel.source, s);
            assert_eq!(sel.to_string(), s);
            assert!(!sel.steps.is_empty());
            assert!(!sel.key.is_empty());
            assert_eq!(Selector::parse(s).as_ref(), Ok(&sel));
            assert_eq!(sel.has_wildcard(), sel.steps.contains(&Step::Wildcard));
            if !s.starts_with('$') {
                assert_eq!(sel.steps, [Step::Key(s.to_string())]);
                assert_eq!(sel.key, s);
                assert_eq!(sel.root_key(), s);
            } else if let Some(Step::Key(k)) = sel.steps.first() {
                assert_eq!(sel.root_key(), k);
            }
        }
    }
});
