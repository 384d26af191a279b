//! Table data (§4): arbitrary bytes built into a table with a fixed small schema, once with
//! a CSV parser and once as JSON (lines or array), keyed by a string and by a CIDR column.
//!
//! The first byte picks options (case-insensitive keys, maxInvalidRows, gzip, a truncated
//! gzip stream, `cidrMatch: all`); the rest is the file.
//!
//! Invariants: nothing panics; a rejected version's report says it is rejected; an accepted
//! version's counts add up, every row renders to a JSON object (per serde_json and per the
//! enrichment scanner), every exact key finds its own row, every CIDR key is normalised
//! and contains its own network address.

#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use lut_core::json::scan_object;
use lut_core::net::Cidr;
use lut_core::schema::{parse_schema, Schema};
use lut_core::spec::{CidrMatch, Source, TableSpec};
use lut_core::table::{self, KeyKind};

const FIELDS: &str = "
fields:
  - name: id
    type: string
    required: true
    indicators: [username]
  - name: net
    type: string
    validate:
      cidr: any
  - name: ip
    type: string
    indicators: [ip]
    validate:
      ip: any
  - name: n
    type: int
  - name: small
    type: smallint
  - name: big
    type: bigint
  - name: f
    type: float
  - name: ok
    type: boolean
  - name: ts
    type: timestamp
    timeFormats: [rfc3339, unix, '%Y-%m-%d']
  - name: exp
    type: timestamp
    timeFormat: unix_ms
    isExpiration: true
  - name: word
    type: string
    validate:
      allow: [a, b, c]
      deny: [b]
  - name: tags
    type: array
    element:
      type: string
  - name: obj
    type: object
    fields:
      - name: a
        type: string
      - name: b
        type: int
  - name: j
    type: json
";

fn schema(head: &str) -> Schema {
    let src = format!("schema: Fuzz.Rows\n{head}{FIELDS}");
    let (s, d) = parse_schema(&src, None);
    s.unwrap_or_else(|| panic!("fixed schema is invalid: {d:?}"))
}

struct Schemas {
    csv_header: Schema,
    csv_columns: Schema,
    json: Schema,
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| Schemas {
        csv_header: schema(
            "parser:\n  csv:\n    hasHeader: true\n    emptyValues: ['-', 'N/A']\n    trimSpace: true\n",
        ),
        csv_columns: schema(
            "parser:\n  csv:\n    delimiter: ';'\n    hasHeader: false\n    columns: [id, net, ip, n, small, big, f, ok, ts, exp, word, tags, obj, j]\n",
        ),
        json: schema(""),
    })
}

fn spec(key: &str, flags: u8) -> TableSpec {
    TableSpec {
        name: "fuzz".into(),
        enabled: true,
        description: None,
        reference: None,
        schema: "Fuzz.Rows".into(),
        source: Source::File {
            filename: "rows".into(),
        },
        primary_key: key.into(),
        log_types: Vec::new(),
        case_insensitive: flags & 1 != 0,
        cidr_match: if flags & 16 != 0 {
            CidrMatch::All
        } else {
            CidrMatch::Longest
        },
        max_invalid_rows: if flags & 2 != 0 { u64::MAX } else { 0 },
        file: None,
        line: 1,
    }
}

/// `LUT_FUZZ_DEBUG=1` prints each build's outcome (to check that seeds get past parsing).
fn debug() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| std::env::var_os("LUT_FUZZ_DEBUG").is_some())
}

fn build(spec: &TableSpec, schema: &Schema, input: &[u8]) {
    let result = table::build(spec, schema, input);
    if debug() {
        match &result {
            Ok(b) => eprintln!("key {}: built: {}", spec.primary_key, b.report),
            Err(r) => eprintln!("key {}: {r}\n{}", spec.primary_key, r.report),
        }
    }
    let built = match result {
        Ok(b) => b,
        Err(rej) => {
            assert!(rej.report.rejected(), "rejected but not per its report");
            let _ = rej.to_string();
            let _ = rej.report.to_string();
            return;
        }
    };
    let (t, r) = (&built.table, &built.report);
    let _ = r.to_string();
    assert!(!r.rejected());
    assert!(r.fatal.is_none());
    assert_eq!(r.rows_loaded, t.len() as u64);
    assert_eq!(r.rows_read, r.rows_loaded + r.rows_invalid, "{r:?}");
    assert!(r.rows_invalid <= r.max_invalid_rows);
    assert!(r.duplicate_keys <= r.rows_invalid);
    assert!(r.problems.len() as u64 <= r.rows_invalid);
    let mut scratch = Vec::new();
    let mut members = Vec::new();
    let mut obj = Vec::new();
    for row in 0..t.len() as u32 {
        obj.clear();
        obj.push(b'{');
        obj.extend_from_slice(t.fragment(row));
        obj.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&obj).unwrap_or_else(|e| {
            panic!(
                "row {row} is not JSON ({e}): {}",
                String::from_utf8_lossy(&obj)
            )
        });
        assert!(v.is_object());
        scan_object(&obj, &mut members).unwrap_or_else(|e| {
            panic!(
                "row {row} rejected by the scanner ({e}): {}",
                String::from_utf8_lossy(&obj)
            )
        });
        let key = t.key(row);
        match t.kind() {
            KeyKind::Exact => {
                assert!(!key.is_empty());
                // Only an expiry of exactly i64::MIN ns is not live at i64::MIN.
                let found = t.get(key, i64::MIN, &mut scratch);
                assert!(
                    found == Some(row)
                        || (found.is_none()
                            && v["exp"] == serde_json::json!("1677-09-21 00:12:43.145224192")),
                    "key {:?} of row {row} finds {found:?}",
                    String::from_utf8_lossy(key)
                );
            }
            KeyKind::Cidr => {
                let text = std::str::from_utf8(key).expect("CIDR keys are text");
                let c = Cidr::parse(text).expect("a stored CIDR key parses");
                assert_eq!(c.to_string(), text, "stored CIDR keys are normalised");
                assert_eq!(v["net"], serde_json::json!(text));
                assert!(c.contains(c.addr()));
                let _ = t.get_ip(c.addr(), i64::MIN, |_| {});
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut input = rest.to_vec();
    if flags & 4 != 0 {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(rest).unwrap();
        input = gz.finish().unwrap();
        if flags & 8 != 0 {
            let cut = input.len() / 2;
            input.truncate(cut);
        }
    }
    let s = schemas();
    let csv = if flags & 32 != 0 {
        &s.csv_columns
    } else {
        &s.csv_header
    };
    build(&spec("id", flags), csv, &input);
    build(&spec("id", flags), &s.json, &input);
    build(&spec("net", flags), &s.json, &input);
});
