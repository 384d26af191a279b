//! Tests of table builds: keys, duplicates, invalid rows and the report.

use super::*;
use crate::diag::Diagnostics;
use crate::schema::parse_schema;
use crate::spec::{parse_spec_node, SpecKind, SpecOptions};
use crate::table::KeyKind;

fn spec(extra: &str, pk: &str) -> TableSpec {
    let src = format!(
        "AnalysisType: lookup_table\nLookupName: t\nEnabled: true\nSchema: S.T\nFilename: f\nLogTypeMap:\n  PrimaryKey: {pk}\n{extra}"
    );
    let node = crate::yaml::parse(&src).unwrap().unwrap();
    let mut d = Diagnostics::new();
    match parse_spec_node(&node, &SpecOptions::default(), &mut d) {
        Some(SpecKind::Table(t)) => *t,
        other => panic!("{other:?} {d:?}"),
    }
}

fn schema(fields: &str) -> Schema {
    let (s, d) = parse_schema(&format!("schema: S.T\nfields:\n{fields}"), None);
    s.unwrap_or_else(|| panic!("{d:?}"))
}

const STR_KEY: &str =
    "  - {name: id, type: string, required: true}\n  - {name: n, type: int, required: true}\n";

#[test]
fn duplicate_keys_name_both_rows_and_reject_the_version() {
    let err = build(
        &spec("", "id"),
        &schema(STR_KEY),
        &b"id,n\na,1\nb,2\na,3\n"[..],
    )
    .unwrap_err();
    let r = &err.report;
    assert!(r.rejected());
    assert_eq!((r.rows_read, r.rows_invalid, r.duplicate_keys), (3, 1, 1));
    assert_eq!(r.problems[0].row, 3);
    assert_eq!(r.problems[0].column.as_deref(), Some("id"));
    assert_eq!(
        r.problems[0].reason,
        "duplicate primary key \"a\" (rows 1 and 3)"
    );
    assert!(err.to_string().contains("rejected"), "{err}");
}

#[test]
fn max_invalid_rows_skips_up_to_n() {
    let data = &b"id,n\na,1\nb,x\na,3\nc,4\n"[..];
    let built = build(&spec("maxInvalidRows: 2\n", "id"), &schema(STR_KEY), data).unwrap();
    assert_eq!(built.table.len(), 2);
    assert_eq!(
        (built.report.rows_loaded, built.report.rows_invalid),
        (2, 2)
    );
    assert!(
        built.report.summary().contains("skipped (2 allowed)"),
        "{}",
        built.report.summary()
    );
    // The first row of a repeated key wins.
    let row = built.table.get(b"a", 0, &mut Vec::new()).unwrap();
    assert_eq!(built.table.fragment(row), br#""id":"a","n":1"#);
    let err = build(&spec("maxInvalidRows: 1\n", "id"), &schema(STR_KEY), data).unwrap_err();
    assert!(err
        .report
        .summary()
        .contains("more than the 1 invalid rows allowed"));
}

#[test]
fn missing_and_empty_keys_and_required_values() {
    let data = &b"id,n\n,1\nb,\n"[..];
    let err = build(&spec("", "id"), &schema(STR_KEY), data).unwrap_err();
    let reasons: Vec<(u64, &str, &str)> = err
        .report
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_deref().unwrap(), p.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, "id", "the primary key is missing"),
            (2, "n", "required value is missing")
        ]
    );
}

#[test]
fn problems_are_capped_but_counted() {
    let mut data = String::from("id,n\n");
    for i in 0..250 {
        data.push_str(&format!("k{i},bad\n"));
    }
    let err = build(&spec("", "id"), &schema(STR_KEY), data.as_bytes()).unwrap_err();
    assert_eq!(
        err.report.problems.len(),
        crate::table::report::MAX_PROBLEMS
    );
    assert_eq!(err.report.rows_invalid, 250);
    assert!(err.report.to_string().contains("... and 150 more"));
}

#[test]
fn integer_keys_use_normalised_digits() {
    let s = schema("  - {name: id, type: bigint, required: true}\n");
    let built = build(&spec("", "id"), &s, &b"{\"id\": 7}\n{\"id\": \"+8\"}\n"[..]).unwrap();
    assert!(built.table.get(b"7", 0, &mut Vec::new()).is_some());
    assert!(built.table.get(b"8", 0, &mut Vec::new()).is_some());
    let err = build(
        &spec("", "id"),
        &s,
        &b"{\"id\": 7}\n{\"id\": \"007\"}\n"[..],
    )
    .unwrap_err();
    assert_eq!(err.report.duplicate_keys, 1);
}

#[test]
fn case_insensitive_keys_collide_when_folded() {
    let s = schema("  - {name: id, type: string, required: true}\n");
    let err = build(
        &spec("caseInsensitive: true\n", "id"),
        &s,
        &b"id\nAbc\naBC\n"[..],
    )
    .unwrap_err();
    assert_eq!(
        err.report.problems[0].reason,
        "duplicate primary key \"abc\" (rows 1 and 2)"
    );
    let built = build(&spec("", "id"), &s, &b"id\nAbc\naBC\n"[..]).unwrap();
    assert_eq!(built.table.len(), 2);
}

#[test]
fn cidr_keys_are_normalised_and_deduplicated() {
    let s = schema("  - {name: net, type: string, required: true, validate: {cidr: any}}\n");
    let built = build(
        &spec("", "net"),
        &s,
        &b"net\n10.1.2.3/8\n2001:db8::1/32\n192.0.2.1\n"[..],
    )
    .unwrap();
    assert_eq!(built.table.kind(), KeyKind::Cidr);
    assert_eq!(built.table.fragment(0), br#""net":"10.0.0.0/8""#);
    assert_eq!(built.table.fragment(1), br#""net":"2001:db8::/32""#);
    assert_eq!(built.table.fragment(2), br#""net":"192.0.2.1/32""#);
    let err = build(&spec("", "net"), &s, &b"net\n10.0.0.0/8\n10.9.9.9/8\n"[..]).unwrap_err();
    assert_eq!(
        err.report.problems[0].reason,
        "duplicate primary key \"10.0.0.0/8\" (rows 1 and 2)"
    );
}

#[test]
fn unusable_keys_are_fatal() {
    let s = schema("  - {name: id, type: string}\n  - {name: f, type: float}\n");
    for (pk, extra, want) in [
        ("nope", "", "not a top-level field"),
        ("f", "", "must be a string, int"),
        ("id", "cidrMatch: all\n", "needs a CIDR primary key"),
    ] {
        let err = build(&spec(extra, pk), &s, &b"id,f\na,1\n"[..]).unwrap_err();
        assert!(err.report.fatal.as_deref().unwrap().contains(want), "{err}");
    }
}

#[test]
fn fatal_data_errors_reject_even_with_allowance() {
    let s = schema(STR_KEY);
    let err = build(
        &spec("maxInvalidRows: 100\n", "id"),
        &s,
        &b"\x1f\x8b\x08\x00garbage"[..],
    )
    .unwrap_err();
    assert!(
        err.report.fatal.as_deref().unwrap().contains("gzip"),
        "{err}"
    );
}

#[test]
fn cidr_keys_are_written_as_display_writes_them() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    for i in 0..20_000 {
        let r = next();
        let ip = if i % 3 == 0 {
            // Zero-heavy IPv6: each group is zero with probability 1/2, so zero runs of
            // every length and position (and ties between runs) occur; some are mapped.
            let mut seg = [0u16; 8];
            for (k, g) in seg.iter_mut().enumerate() {
                if (r >> k) & 1 == 1 {
                    *g = (next() >> (next() % 64)) as u16;
                }
            }
            if r % 17 == 0 {
                seg[..6].copy_from_slice(&[0, 0, 0, 0, 0, 0xffff]);
            }
            std::net::IpAddr::V6(seg.into())
        } else if i % 3 == 1 {
            std::net::IpAddr::V6(((u128::from(r) << 64) | u128::from(next() >> (r % 64))).into())
        } else {
            // Small octets too, so 1-, 2- and 3-digit forms all occur.
            std::net::IpAddr::V4(((r as u32) >> (r % 29)).into())
        };
        let max = if ip.is_ipv4() { 33 } else { 129 };
        let c = Cidr::new(ip, (next() % max) as u8).unwrap();
        out.clear();
        write_cidr(&mut out, &c);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), c.to_string());
    }
    // Display's mapped form, which a normalised block never reaches but the writer keeps.
    let mapped: std::net::Ipv6Addr = "::ffff:1.2.3.4".parse().unwrap();
    let mut out = Vec::new();
    write_v6(&mut out, mapped);
    assert_eq!(String::from_utf8(out).unwrap(), mapped.to_string());
}
