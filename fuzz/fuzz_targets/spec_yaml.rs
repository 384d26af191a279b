//! Lookup-table spec YAML (§2.1): bytes -> str -> yaml::parse -> spec::parse_spec_node.
//!
//! Invariants: nothing panics; a spec comes back exactly when there are no errors; every
//! diagnostic renders and names a line inside the input; accepted values re-parse to
//! themselves (selectors, S3 URI, role ARN) and respect the documented limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lut_core::aws::{RoleArn, S3Uri};
use lut_core::diag::Diagnostics;
use lut_core::selector::Selector;
use lut_core::spec::{
    is_log_type_name, is_lookup_table, parse_spec_node, Source, SpecKind, SpecOptions,
    MAX_PERIOD_MINUTES, MIN_PERIOD_MINUTES,
};
use lut_core::yaml;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let node = match yaml::parse(src) {
        Ok(Some(node)) => node,
        Ok(None) => return,
        Err(e) => {
            common::check_diag(&e.to_diagnostic(), src);
            return;
        }
    };
    common::check_node(&node, src);
    let _ = is_lookup_table(&node);

    let mut diags = Diagnostics::new();
    let out = parse_spec_node(&node, &SpecOptions::default(), &mut diags);
    common::check_diags(&diags, src);
    let Some(kind) = out else {
        assert!(diags.has_errors(), "no spec and no error: {diags:?}");
        return;
    };
    assert!(!diags.has_errors(), "a spec despite errors: {diags:?}");
    let SpecKind::Table(t) = kind else {
        return;
    };
    assert!((1..=128).contains(&t.name.chars().count()), "{:?}", t.name);
    assert!(!t.primary_key.is_empty());
    for lt in &t.log_types {
        assert!(is_log_type_name(&lt.log_type), "{:?}", lt.log_type);
        for sel in &lt.selectors {
            assert_eq!(sel.to_string(), sel.source);
            let again = Selector::parse(&sel.source).expect("an accepted selector re-parses");
            assert_eq!(&again, sel);
        }
    }
    if let Source::S3(s3) = &t.source {
        let p = i64::from(s3.period_minutes);
        assert!(
            (MIN_PERIOD_MINUTES..=MAX_PERIOD_MINUTES).contains(&p),
            "{p}"
        );
        assert_eq!(S3Uri::parse(&s3.uri.to_string()).as_ref(), Ok(&s3.uri));
        assert_eq!(
            RoleArn::parse(&s3.role_arn.to_string()).as_ref(),
            Ok(&s3.role_arn)
        );
        assert_eq!(s3.account_id().len(), 12);
    }
});
