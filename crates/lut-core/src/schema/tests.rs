//! Tests of the schema parser (§3): every type and option, and for every kind of mistake
//! the diagnostic code, the 1-based line and the field path a user is shown.

use std::path::Path;

use super::time::TimeFormat;
use super::*;
use crate::diag::{Diagnostic, Diagnostics};

fn parse(src: &str) -> (Option<Schema>, Diagnostics) {
    parse_schema(src, None)
}

/// The schema, which must parse without any diagnostic at all.
fn ok(src: &str) -> Schema {
    let (schema, diags) = parse(src);
    assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
    schema.expect("a schema when there are no errors")
}

/// Every error as (code, line, path); also checks that no schema comes back.
fn errors(src: &str) -> Vec<(&'static str, usize, String)> {
    let (schema, diags) = parse(src);
    assert!(diags.has_errors(), "expected errors for:\n{src}");
    assert!(
        schema.is_none(),
        "a schema with errors must not be returned"
    );
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            (
                d.code,
                d.line.expect("every schema error has a line"),
                d.path.clone(),
            )
        })
        .collect()
}

/// The only error of `src`.
fn the_error(src: &str) -> Diagnostic {
    let (schema, diags) = parse(src);
    assert!(schema.is_none());
    let all: Vec<Diagnostic> = diags.into_vec();
    assert_eq!(all.len(), 1, "expected exactly one diagnostic: {all:#?}");
    all.into_iter().next().unwrap()
}

fn e(code: &'static str, line: usize, path: &str) -> (&'static str, usize, String) {
    (code, line, path.to_string())
}

/// A one-field schema whose field body (indented by four spaces, starting with the line
/// after `- name: x`) is `body`; the field's `name` is on line 3.
fn one_field(ty_and_more: &str) -> String {
    format!("schema: Custom.T\nfields:\n  - name: x\n{ty_and_more}")
}

// ----------------------------------------------------------------------------------------
// Accepted schemas

const EVERY_TYPE: &str = "\
schema: Custom.Every
description: one field of each type
referenceURL: https://example.com/schema
version: 0
fields:
  - name: s
    type: string
    required: true
    description: a string
    indicators: [ip, domain, ip]
    validate:
      allow: [a, b]
      deny: [c]
  - name: i
    type: int
  - name: si
    type: smallint
  - name: bi
    type: bigint
  - name: f
    type: float
  - name: b
    type: boolean
  - name: ts
    type: timestamp
    timeFormat: rfc3339
    isEventTime: true
  - name: exp
    type: timestamp
    timeFormats: [unix, unix_ms, unix_us, unix_ns, '%Y-%m-%d %H:%M:%S']
    isExpiration: true
  - name: arr
    type: array
    isEmbeddedJSON: true
    element:
      type: string
      indicators: [email]
  - name: obj
    type: object
    isEmbeddedJSON: true
    fields:
      - name: inner
        type: int
        required: true
      - name: deeper
        type: array
        element:
          type: object
          fields:
            - name: leaf
              type: boolean
  - name: j
    type: json
    isEmbeddedJSON: true
";

#[test]
fn every_type_parses() {
    let s = ok(EVERY_TYPE);
    assert_eq!(s.name, "Custom.Every");
    assert_eq!(s.description.as_deref(), Some("one field of each type"));
    assert_eq!(
        s.reference_url.as_deref(),
        Some("https://example.com/schema")
    );
    assert_eq!(s.version, Some(0));
    assert_eq!(s.csv, None, "no parser means JSON input");
    assert_eq!(s.line, 1);
    assert_eq!(s.file, None);

    let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["s", "i", "si", "bi", "f", "b", "ts", "exp", "arr", "obj", "j"]
    );
    let types: Vec<&str> = s.fields.iter().map(|f| f.ty.name()).collect();
    assert_eq!(
        types,
        [
            "string",
            "int",
            "smallint",
            "bigint",
            "float",
            "boolean",
            "timestamp",
            "timestamp",
            "array",
            "object",
            "json"
        ]
    );
    let lines: Vec<usize> = s.fields.iter().map(|f| f.line).collect();
    assert_eq!(lines, [6, 14, 16, 18, 20, 22, 24, 28, 32, 38, 52]);

    let f = s.field("s").unwrap();
    assert_eq!(f.ty, FieldType::String);
    assert!(f.required);
    assert_eq!(f.description.as_deref(), Some("a string"));
    assert_eq!(
        f.indicators,
        [Indicator::Ip, Indicator::Domain],
        "a repeated indicator is kept once"
    );
    assert_eq!(
        f.validate,
        Validate {
            allow: Some(vec!["a".into(), "b".into()]),
            deny: vec!["c".into()],
            ip: None,
            cidr: None,
        }
    );
    assert!(!f.is_event_time && !f.is_expiration && !f.is_embedded_json);

    let i = s.field("i").unwrap();
    assert_eq!(i.ty, FieldType::Int);
    assert!(!i.required, "required defaults to false");
    assert_eq!(i.description, None);
    assert!(i.indicators.is_empty());
    assert_eq!(i.validate, Validate::default());
    assert_eq!(s.field("si").unwrap().ty, FieldType::SmallInt);
    assert_eq!(s.field("bi").unwrap().ty, FieldType::BigInt);
    assert_eq!(s.field("f").unwrap().ty, FieldType::Float);
    assert_eq!(s.field("b").unwrap().ty, FieldType::Boolean);

    let ts = s.field("ts").unwrap();
    assert_eq!(ts.ty, FieldType::Timestamp(vec![TimeFormat::Rfc3339]));
    assert!(ts.is_event_time && !ts.is_expiration);

    let exp = s.field("exp").unwrap();
    assert_eq!(
        exp.ty,
        FieldType::Timestamp(vec![
            TimeFormat::Unix,
            TimeFormat::UnixMs,
            TimeFormat::UnixUs,
            TimeFormat::UnixNs,
            TimeFormat::Strftime("%Y-%m-%d %H:%M:%S".into()),
        ]),
        "timeFormats keep their order"
    );
    assert!(exp.is_expiration && !exp.is_event_time);

    let arr = s.field("arr").unwrap();
    assert!(arr.is_embedded_json);
    let FieldType::Array(el) = &arr.ty else {
        panic!("arr is {:?}", arr.ty)
    };
    assert_eq!(el.name, "", "an element has no name");
    assert_eq!(el.ty, FieldType::String);
    assert_eq!(el.indicators, [Indicator::Email]);
    assert_eq!(el.line, 36);

    let obj = s.field("obj").unwrap();
    assert!(obj.is_embedded_json);
    let FieldType::Object(sub) = &obj.ty else {
        panic!("obj is {:?}", obj.ty)
    };
    assert_eq!(sub.len(), 2);
    assert_eq!(
        (sub[0].name.as_str(), &sub[0].ty),
        ("inner", &FieldType::Int)
    );
    assert!(sub[0].required);
    assert_eq!(sub[0].line, 42);
    let FieldType::Array(deeper) = &sub[1].ty else {
        panic!("deeper is {:?}", sub[1].ty)
    };
    let FieldType::Object(leaves) = &deeper.ty else {
        panic!("deeper's element is {:?}", deeper.ty)
    };
    assert_eq!(leaves[0].name, "leaf");
    assert_eq!(leaves[0].ty, FieldType::Boolean);

    let j = s.field("j").unwrap();
    assert_eq!(j.ty, FieldType::Json);
    assert!(j.is_embedded_json);
    assert!(s.field("nope").is_none());
}

#[test]
fn all_sixteen_indicators_are_accepted() {
    let names: Vec<&str> = Indicator::ALL.iter().map(|i| i.name()).collect();
    let src = one_field(&format!(
        "    type: string\n    indicators: [{}]\n",
        names.join(", ")
    ));
    let s = ok(&src);
    assert_eq!(s.fields[0].indicators, Indicator::ALL);
}

#[test]
fn validate_ip_and_cidr_families() {
    for (rule, fam) in [
        ("ip: ipv4", IpFamily::V4),
        ("ip: ipv6", IpFamily::V6),
        ("ip: any", IpFamily::Any),
    ] {
        let s = ok(&one_field(&format!(
            "    type: string\n    validate:\n      {rule}\n"
        )));
        assert_eq!(s.fields[0].validate.ip, Some(fam), "{rule}");
        assert_eq!(s.fields[0].validate.cidr, None, "{rule}");
    }
    for (rule, fam) in [("cidr: ipv4", IpFamily::V4), ("cidr: ipv6", IpFamily::V6)] {
        let s = ok(&one_field(&format!(
            "    type: string\n    validate:\n      {rule}\n"
        )));
        assert_eq!(s.fields[0].validate.cidr, Some(fam), "{rule}");
        assert_eq!(s.fields[0].validate.ip, None, "{rule}");
    }
    // An empty allow list is a list (nothing allowed), not "no rule".
    let s = ok(&one_field(
        "    type: string\n    validate:\n      allow: []\n",
    ));
    assert_eq!(s.fields[0].validate.allow, Some(vec![]));
}

#[test]
fn null_optional_values_count_as_absent() {
    let s = ok(&one_field(
        "    type: string\n    required:\n    description: ~\n    indicators: null\n",
    ));
    let f = &s.fields[0];
    assert!(!f.required);
    assert_eq!(f.description, None);
    assert!(f.indicators.is_empty());
}

#[test]
fn flow_style_fields() {
    let s = ok("schema: Custom.Flow\nfields: [{name: a, type: string}, {name: b, type: bigint, required: true}]\n");
    assert_eq!(s.fields.len(), 2);
    assert_eq!(s.fields[1].ty, FieldType::BigInt);
    assert!(s.fields[1].required);
    assert_eq!((s.fields[0].line, s.fields[1].line), (2, 2));
}

#[test]
fn file_is_recorded_on_schema_and_diagnostics() {
    let file = Path::new("schemas/accounts.yml");
    let (s, d) = parse_schema(
        "schema: Custom.A\nfields:\n  - name: a\n    type: string\n",
        Some(file),
    );
    assert!(d.is_empty());
    assert_eq!(s.unwrap().file.as_deref(), Some(file));

    let (s, d) = parse_schema(
        "schema: Custom.A\nfields:\n  - name: a\n    type: strin\n",
        Some(file),
    );
    assert!(s.is_none());
    let d: Vec<_> = d.into_vec();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].file.as_deref(), Some(file));
    let shown = d[0].to_string();
    assert!(
        shown.starts_with(
            "schemas/accounts.yml:4:11: error: fields[0](a).type: unknown type \"strin\""
        ),
        "{shown}"
    );
    assert!(shown.ends_with("[invalid-value]"), "{shown}");

    // Errors found before the YAML was understood carry the file too.
    let (_, d) = parse_schema("", Some(file));
    assert!(d.iter().all(|d| d.file.as_deref() == Some(file)), "{d:?}");
    let (_, d) = parse_schema("a: [1\n", Some(file));
    assert!(d.iter().all(|d| d.file.as_deref() == Some(file)), "{d:?}");
}

/// The shape of panther_analysis_tool's conformance schema (`Custom.AWSAccountIDs`): a CSV
/// parser indented by four spaces, quoted strings, `version: 0`, three required strings.
#[test]
fn pat_conformance_style_schema_parses() {
    let src = "\
schema: Custom.SampleAccounts
description: \"Accounts of the organisation\"
referenceURL: \"https://example.com/accounts\"
version: 0
parser:
    csv:
        delimiter: ','
        hasHeader: true
fields:
  - name: email
    required: true
    type: string
  - name: awsacctid
    required: true
    type: string
  - name: isProduction
    required: true
    type: string
";
    let s = ok(src);
    assert_eq!(s.name, "Custom.SampleAccounts");
    assert_eq!(s.version, Some(0));
    assert_eq!(
        s.csv,
        Some(CsvOptions {
            delimiter: b',',
            has_header: true,
            columns: None,
            empty_values: vec![],
            trim_space: false,
        })
    );
    assert_eq!(s.fields.len(), 3);
    assert!(s
        .fields
        .iter()
        .all(|f| f.required && f.ty == FieldType::String));
    assert_eq!(s.field("isProduction").unwrap().line, 16);
}

// ----------------------------------------------------------------------------------------
// CSV parser options

#[test]
fn csv_options_all_set() {
    let s = ok("\
schema: Custom.C
parser:
  csv:
    delimiter: ';'
    hasHeader: false
    columns: [a, b, unused]
    emptyValues: ['-', 'N/A']
    trimSpace: true
fields:
  - name: a
    type: string
  - name: b
    type: int
");
    assert_eq!(
        s.csv,
        Some(CsvOptions {
            delimiter: b';',
            has_header: false,
            columns: Some(vec!["a".into(), "b".into(), "unused".into()]),
            empty_values: vec!["-".into(), "N/A".into()],
            trim_space: true,
        })
    );
}

#[test]
fn csv_delimiters() {
    for (written, byte) in [
        ("'|'", b'|'),
        ("\"\\t\"", b'\t'),
        ("'\\t'", b'\t'),
        ("' '", b' '),
        ("';'", b';'),
    ] {
        let s = ok(&format!(
            "schema: Custom.C\nparser:\n  csv:\n    delimiter: {written}\n    hasHeader: true\nfields:\n  - name: a\n    type: string\n"
        ));
        assert_eq!(s.csv.unwrap().delimiter, byte, "delimiter {written}");
    }
    for written in ["'||'", "'\"'", "\"\\n\"", "''", "'é'", "1", "[',']"] {
        let src = format!(
            "schema: Custom.C\nparser:\n  csv:\n    delimiter: {written}\n    hasHeader: true\nfields:\n  - name: a\n    type: string\n"
        );
        assert_eq!(
            errors(&src),
            [e("invalid-value", 4, "parser.csv.delimiter")],
            "delimiter {written}"
        );
    }
}

#[test]
fn csv_header_and_columns_rules() {
    // A header names the columns.
    let s = ok("schema: Custom.C\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - name: a\n    type: string\n");
    assert!(s.csv.as_ref().unwrap().has_header);
    assert_eq!(s.csv.unwrap().columns, None);

    // Header and columns together: the header row is skipped, columns name the cells.
    let s = ok("schema: Custom.C\nparser:\n  csv:\n    hasHeader: true\n    columns: [a]\nfields:\n  - name: a\n    type: string\n");
    assert_eq!(s.csv.unwrap().columns, Some(vec!["a".to_string()]));

    // No header and no columns: nothing names the columns. Reported at the parser.
    assert_eq!(
        errors("schema: Custom.C\nparser:\n  csv:\n    hasHeader: false\nfields:\n  - name: a\n    type: string\n"),
        [e("invalid-value", 3, "parser.csv")]
    );
    // hasHeader absent from a non-empty csv block means no header (Panther's default).
    assert_eq!(
        errors("schema: Custom.C\nparser:\n  csv:\n    delimiter: ','\nfields:\n  - name: a\n    type: string\n"),
        [e("invalid-value", 3, "parser.csv")]
    );

    // Columns must cover every field; each missing field is one error.
    let src = "\
schema: Custom.C
parser:
  csv:
    hasHeader: false
    columns: [a, c]
fields:
  - name: a
    type: string
  - name: b
    type: string
  - name: d
    type: int
";
    let (_, d) = parse(src);
    let errs: Vec<_> = d
        .iter()
        .map(|d| (d.code, d.line, d.path.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(errs[0].0, "invalid-value");
    assert_eq!(errs[0].2, "parser.csv.columns");
    assert!(errs[0].3.contains("\"b\""), "{}", errs[0].3);
    assert!(errs[1].3.contains("\"d\""), "{}", errs[1].3);
    // Reported at the `columns` list itself.
    assert_eq!(errs[0].1, Some(5));
}

#[test]
fn csv_option_types_are_checked() {
    let src = "\
schema: Custom.C
parser:
  csv:
    hasHeader: yes
    columns: a,b
    emptyValues: [x, 1]
    trimSpace: 'true'
fields:
  - name: a
    type: string
";
    assert_eq!(
        errors(src),
        [
            e("wrong-type", 4, "parser.csv.hasHeader"),
            e("wrong-type", 5, "parser.csv.columns"),
            e("wrong-type", 6, "parser.csv.emptyValues[1]"),
            e("wrong-type", 7, "parser.csv.trimSpace"),
        ]
    );
}

#[test]
fn unsupported_parsers_are_errors() {
    let d = the_error("schema: Custom.R\nparser:\n  regex:\n    match: ['^(?P<a>.*)$']\nfields:\n  - name: a\n    type: string\n");
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("unsupported", Some(3), "parser.regex")
    );
    assert!(d.message.contains("\"regex\""), "{}", d.message);

    // Next to csv, another parser is still an error.
    assert_eq!(
        errors("schema: Custom.R\nparser:\n  csv:\n    hasHeader: true\n  fastmatch:\n    match: ['%{a}']\nfields:\n  - name: a\n    type: string\n"),
        [e("unsupported", 5, "parser.fastmatch")]
    );
    assert_eq!(
        errors("schema: Custom.R\nparser: csv\nfields:\n  - name: a\n    type: string\n"),
        [e("wrong-type", 2, "parser")]
    );
}

// ----------------------------------------------------------------------------------------
// Unknown keys, at every level: code, line and path.

#[test]
fn unknown_top_level_key() {
    let d = the_error("schema: Custom.U\ndescriptoin: x\nfields:\n  - name: a\n    type: string\n");
    assert_eq!(
        (d.code, d.line, d.column),
        ("unknown-key", Some(2), Some(1))
    );
    assert_eq!(d.path, "descriptoin");
    assert!(d.message.contains("\"descriptoin\""), "{}", d.message);
    assert!(
        d.message.contains("allowed keys: schema, description"),
        "{}",
        d.message
    );

    let d = the_error("schema: Custom.U\nFields: []\nfields:\n  - name: a\n    type: string\n");
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("unknown-key", Some(2), "Fields")
    );
    assert!(
        d.message.contains("did you mean \"fields\""),
        "{}",
        d.message
    );
}

#[test]
fn unknown_field_key() {
    let src = "\
schema: Custom.U
fields:
  - name: a
    type: string
  - name: ip
    type: string
    requird: true
";
    let d = the_error(src);
    assert_eq!(
        (d.code, d.line, d.column),
        ("unknown-key", Some(7), Some(5))
    );
    assert_eq!(d.path, "fields[1](ip).requird");
    assert!(d.message.contains("\"requird\""), "{}", d.message);
}

#[test]
fn unknown_csv_key() {
    let d = the_error("schema: Custom.U\nparser:\n  csv:\n    hasHeader: true\n    header: true\nfields:\n  - name: a\n    type: string\n");
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("unknown-key", Some(5), "parser.csv.header")
    );
    assert!(d.message.contains("\"header\""), "{}", d.message);
}

#[test]
fn unknown_validate_key() {
    let src = "\
schema: Custom.U
fields:
  - name: a
    type: string
  - name: ip
    type: string
    validate:
      cidrs: ipv4
";
    let d = the_error(src);
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("unknown-key", Some(8), "fields[1](ip).validate.cidrs")
    );
    assert!(d.message.contains("\"cidrs\""), "{}", d.message);
    assert!(d.message.contains("allow, deny, ip, cidr"), "{}", d.message);
}

#[test]
fn unknown_keys_in_nested_fields() {
    let src = "\
schema: Custom.U
fields:
  - name: tags
    type: array
    element:
      type: string
      name: tag
  - name: owner
    type: object
    fields:
      - name: id
        type: string
        color: blue
";
    assert_eq!(
        errors(src),
        [
            e("unknown-key", 7, "fields[0](tags).element.name"),
            e("unknown-key", 13, "fields[1](owner).fields[0](id).color"),
        ]
    );
}

#[test]
fn duplicate_keys() {
    let src = one_field("    type: string\n    required: true\n    required: false\n");
    let d = the_error(&src);
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("duplicate-key", Some(6), "fields[0](x).required")
    );
    assert!(d.message.contains("first on line 5"), "{}", d.message);

    assert_eq!(
        errors("schema: Custom.A\nschema: Custom.B\nfields:\n  - name: a\n    type: string\n"),
        [e("duplicate-key", 2, "schema")]
    );
}

// ----------------------------------------------------------------------------------------
// Top level

#[test]
fn empty_and_comment_only_files() {
    for src in ["", "\n\n", "# just a comment\n"] {
        let d = {
            let (schema, diags) = parse(src);
            assert!(schema.is_none());
            diags.into_vec()
        };
        assert_eq!(d.len(), 1, "{src:?}: {d:?}");
        assert_eq!(d[0].code, "empty-file", "{src:?}");
        assert!(d[0].is_error());
    }
}

#[path = "tests_errors.rs"]
mod errors_tests;
