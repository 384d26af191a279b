//! Custom-schema YAML (§3): bytes -> str -> schema::parse_schema.
//!
//! Invariants: nothing panics; a schema comes back exactly when there are no errors; every
//! diagnostic renders and names a line inside the input; an accepted schema is internally
//! consistent (unique non-empty field names, time formats and indicators that re-parse from
//! their names, CSV columns that name every field).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lut_core::schema::time::TimeFormat;
use lut_core::schema::{parse_schema, Field, FieldType, Indicator};

#[path = "common.rs"]
mod common;

fn check_fields(fields: &[Field], named: bool) {
    for (i, f) in fields.iter().enumerate() {
        if named {
            assert!(!f.name.is_empty());
            assert!(
                fields[..i].iter().all(|g| g.name != f.name),
                "duplicate field {:?}",
                f.name
            );
        }
        check_field(f);
    }
}

fn check_field(f: &Field) {
    assert!(f.line >= 1);
    let is_ts = matches!(f.ty, FieldType::Timestamp(_));
    assert!(is_ts || !(f.is_event_time || f.is_expiration), "{f:?}");
    assert!(
        !f.is_embedded_json
            || matches!(
                f.ty,
                FieldType::Array(_) | FieldType::Object(_) | FieldType::Json
            ),
        "{f:?}"
    );
    if f.ty != FieldType::String {
        assert!(f.indicators.is_empty(), "{f:?}");
        assert_eq!(f.validate, Default::default(), "{f:?}");
    }
    assert!(!(f.validate.ip.is_some() && f.validate.cidr.is_some()));
    for (i, ind) in f.indicators.iter().enumerate() {
        assert_eq!(Indicator::from_name(ind.name()), Some(*ind));
        assert!(!f.indicators[..i].contains(ind), "repeated indicator");
    }
    match &f.ty {
        FieldType::Timestamp(formats) => {
            assert!(!formats.is_empty());
            for tf in formats {
                assert_eq!(TimeFormat::parse(tf.name()).as_ref(), Ok(tf));
            }
        }
        FieldType::Array(el) => {
            assert!(el.name.is_empty());
            check_field(el);
        }
        FieldType::Object(sub) => check_fields(sub, true),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (schema, diags) = parse_schema(src, None);
    common::check_diags(&diags, src);
    let Some(s) = schema else {
        assert!(diags.has_errors(), "no schema and no error");
        return;
    };
    assert!(diags.is_empty(), "a schema with diagnostics: {diags:?}");
    assert!(!s.name.trim().is_empty());
    assert!(!s.fields.is_empty());
    check_fields(&s.fields, true);
    if let Some(csv) = &s.csv {
        assert!(!matches!(csv.delimiter, b'"' | b'\n' | b'\r'));
        match &csv.columns {
            None => assert!(csv.has_header, "nothing names the CSV columns"),
            Some(cols) => {
                for f in &s.fields {
                    assert!(cols.contains(&f.name), "field {:?} not in columns", f.name);
                }
            }
        }
    }
    for f in &s.fields {
        assert!(s.field(&f.name).is_some());
    }
});
