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

#[test]
fn yaml_syntax_errors_carry_the_line() {
    let d = the_error("schema: Custom.Y\nfields:\n  - name: a\n    type: string\n   bad: indent\n");
    assert_eq!(d.code, "yaml-syntax");
    assert_eq!(d.line, Some(5), "{d:?}");

    let d = the_error("schema: Custom.Y\nfields: [\n  {name: a, type: string\n");
    assert_eq!(d.code, "yaml-syntax");
    assert!(d.line.is_some_and(|l| l >= 3), "{d:?}");

    let d = the_error("schema: Custom.Y\nfields: []\n---\nschema: Custom.Z\n");
    assert_eq!(d.code, "yaml-syntax");
    assert!(d.message.contains("more than one"), "{}", d.message);
}

#[test]
fn top_level_must_be_a_mapping() {
    assert_eq!(errors("- schema: Custom.X\n"), [e("wrong-type", 1, "")]);
    assert_eq!(errors("just text\n"), [e("wrong-type", 1, "")]);
}

#[test]
fn top_level_required_keys_and_types() {
    assert_eq!(
        errors("description: no name\nfields:\n  - name: a\n    type: string\n"),
        [e("missing-key", 1, "schema")]
    );
    assert_eq!(
        errors("schema: Custom.NoFields\n"),
        [e("missing-key", 1, "fields")]
    );
    assert_eq!(
        errors("schema: Custom.E\nfields: []\n"),
        [e("invalid-value", 1, "fields")]
    );
    assert_eq!(
        errors("schema: ' '\nfields:\n  - name: a\n    type: string\n"),
        [e("invalid-value", 1, "schema")]
    );
    assert_eq!(
        errors("schema: Custom.T\nfields: a\n"),
        [e("wrong-type", 2, "fields")]
    );
    assert_eq!(
        errors("schema: [a]\ndescription: {x: 1}\nreferenceURL: 3\nversion: one\nfields:\n  - name: a\n    type: string\n"),
        [
            e("wrong-type", 1, "schema"),
            e("wrong-type", 2, "description"),
            e("wrong-type", 3, "referenceURL"),
            e("wrong-type", 4, "version"),
        ]
    );
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let src = "\
schema: Custom.Many
extra: 1
fields:
  - name: a
    type: strng
  - name: b
    type: int
    indicators: [ip]
  - name: c
    type: timestamp
";
    assert_eq!(
        errors(src),
        [
            e("invalid-value", 5, "fields[0](a).type"),
            e("invalid-value", 8, "fields[1](b).indicators"),
            e("missing-key", 9, "fields[2](c).timeFormat"),
            e("unknown-key", 2, "extra"),
        ]
    );
}

// ----------------------------------------------------------------------------------------
// Fields

#[test]
fn field_must_be_a_mapping_with_name_and_type() {
    assert_eq!(
        errors("schema: Custom.F\nfields:\n  - a\n  - [b]\n"),
        [
            e("wrong-type", 3, "fields[0]"),
            e("wrong-type", 4, "fields[1]")
        ]
    );
    assert_eq!(
        errors("schema: Custom.F\nfields:\n  - type: string\n"),
        [e("missing-key", 3, "fields[0].name")]
    );
    assert_eq!(
        errors("schema: Custom.F\nfields:\n  - name: ''\n    type: string\n"),
        [e("invalid-value", 3, "fields[0].name")]
    );
    assert_eq!(
        errors("schema: Custom.F\nfields:\n  - name: a\n"),
        [e("missing-key", 3, "fields[0](a).type")]
    );
    assert_eq!(
        errors("schema: Custom.F\nfields:\n  - name: 7\n    type: string\n"),
        [e("wrong-type", 3, "fields[0].name")]
    );
}

#[test]
fn unknown_type() {
    for ty in ["integer", "String", "map", "'1'", "[string]"] {
        let src = one_field(&format!("    type: {ty}\n"));
        let errs = errors(&src);
        assert_eq!(errs.len(), 1, "{ty}: {errs:?}");
        assert_eq!(errs[0].1, 4, "{ty}");
        assert!(
            errs[0] == e("invalid-value", 4, "fields[0](x).type")
                || errs[0] == e("wrong-type", 4, "fields[0](x).type"),
            "{ty}: {errs:?}"
        );
    }
    let d = the_error(&one_field("    type: integer\n"));
    assert!(d.message.contains("\"integer\""), "{}", d.message);
    assert!(d.message.contains("smallint"), "{}", d.message);
}

#[test]
fn field_flag_types_are_checked() {
    let src = one_field("    type: timestamp\n    timeFormat: unix\n    required: yes\n    isEventTime: 1\n    description: [a]\n");
    assert_eq!(
        errors(&src),
        [
            e("wrong-type", 6, "fields[0](x).required"),
            e("wrong-type", 8, "fields[0](x).description"),
            e("wrong-type", 7, "fields[0](x).isEventTime"),
        ]
    );
}

#[test]
fn duplicate_field_names() {
    let src = "\
schema: Custom.D
fields:
  - name: id
    type: string
  - name: other
    type: int
  - name: id
    type: bigint
";
    let d = the_error(src);
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("duplicate-field", Some(7), "fields[2]")
    );
    assert!(d.message.contains("\"id\""), "{}", d.message);

    // Inside an object too; the same name at different levels is fine.
    let src = "\
schema: Custom.D
fields:
  - name: id
    type: object
    fields:
      - name: id
        type: string
      - name: id
        type: string
";
    assert_eq!(
        errors(src),
        [e("duplicate-field", 8, "fields[0](id).fields[1]")]
    );
}

// ----------------------------------------------------------------------------------------
// Arrays and objects

#[test]
fn array_needs_an_element_and_object_needs_fields() {
    assert_eq!(
        errors(&one_field("    type: array\n")),
        [e("missing-key", 3, "fields[0](x).element")]
    );
    assert_eq!(
        errors(&one_field("    type: object\n")),
        [e("missing-key", 3, "fields[0](x).fields")]
    );
    assert_eq!(
        errors(&one_field("    type: array\n    element: string\n")),
        [e("wrong-type", 5, "fields[0](x).element")]
    );
    assert_eq!(
        errors(&one_field("    type: object\n    fields: {a: string}\n")),
        [e("wrong-type", 5, "fields[0](x).fields")]
    );
}

#[test]
fn element_and_fields_only_on_their_types() {
    assert_eq!(
        errors(&one_field(
            "    type: string\n    element:\n      type: string\n"
        )),
        [e("invalid-value", 6, "fields[0](x).element")]
    );
    assert_eq!(
        errors(&one_field(
            "    type: json\n    fields:\n      - name: a\n        type: string\n"
        )),
        [e("invalid-value", 6, "fields[0](x).fields")]
    );
}

#[test]
fn errors_nested_in_objects_and_arrays_have_full_paths() {
    let src = "\
schema: Custom.N
fields:
  - name: id
    type: string
  - name: user
    type: object
    fields:
      - name: name
        type: string
      - name: ips
        type: array
        element:
          type: string
          validate:
            cidr: ipv5
      - name: seen
        type: timestamp
        timeFormat: '%Y-%m-%d %Q'
  - name: events
    type: array
    element:
      type: object
      fields:
        - name: when
          type: int
          isEventTime: true
        - name: what
";
    assert_eq!(
        errors(src),
        [
            e(
                "invalid-value",
                15,
                "fields[1](user).fields[1](ips).element.validate.cidr"
            ),
            e(
                "invalid-value",
                18,
                "fields[1](user).fields[2](seen).timeFormat"
            ),
            e(
                "invalid-value",
                26,
                "fields[2](events).element.fields[0](when).isEventTime"
            ),
            e(
                "missing-key",
                27,
                "fields[2](events).element.fields[1](what).type"
            ),
        ]
    );
}

#[test]
fn element_without_type() {
    assert_eq!(
        errors(&one_field(
            "    type: array\n    element:\n      required: true\n"
        )),
        [e("missing-key", 6, "fields[0](x).element.type")]
    );
}

// ----------------------------------------------------------------------------------------
// Timestamps

#[test]
fn timestamp_needs_exactly_one_of_time_format_and_time_formats() {
    // Neither.
    let d = the_error(&one_field("    type: timestamp\n"));
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("missing-key", Some(3), "fields[0](x).timeFormat")
    );
    assert!(d.message.contains("timeFormats"), "{}", d.message);

    // Both.
    let d = the_error(&one_field(
        "    type: timestamp\n    timeFormat: unix\n    timeFormats: [unix_ms]\n",
    ));
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("invalid-value", Some(6), "fields[0](x).timeFormats")
    );
    assert!(d.message.contains("not both"), "{}", d.message);

    // A list with one entry is fine; an empty list or a scalar is not.
    let s = ok(&one_field(
        "    type: timestamp\n    timeFormats: ['%d/%m/%Y']\n",
    ));
    assert_eq!(
        s.fields[0].ty,
        FieldType::Timestamp(vec![TimeFormat::Strftime("%d/%m/%Y".into())])
    );
    assert_eq!(
        errors(&one_field("    type: timestamp\n    timeFormats: []\n")),
        [e("wrong-type", 5, "fields[0](x).timeFormats")]
    );
    assert_eq!(
        errors(&one_field("    type: timestamp\n    timeFormats: unix\n")),
        [e("wrong-type", 5, "fields[0](x).timeFormats")]
    );
    assert_eq!(
        errors(&one_field("    type: timestamp\n    timeFormat: [unix]\n")),
        [e("wrong-type", 5, "fields[0](x).timeFormat")]
    );
    assert_eq!(
        errors(&one_field(
            "    type: timestamp\n    timeFormats:\n      - unix\n      - 12\n      - rfc3339\n"
        )),
        [e("wrong-type", 7, "fields[0](x).timeFormats[1]")]
    );
}

#[test]
fn bad_time_formats() {
    // An unknown strftime directive names the directive.
    let d = the_error(&one_field(
        "    type: timestamp\n    timeFormat: '%Y-%m-%d %Q'\n",
    ));
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("invalid-value", Some(5), "fields[0](x).timeFormat")
    );
    assert!(d.message.contains("%Q"), "{}", d.message);

    // In a list, the entry's index is in the path and its own line is reported.
    let d = the_error(&one_field(
        "    type: timestamp\n    timeFormats:\n      - rfc3339\n      - '%Y %K'\n",
    ));
    assert_eq!(
        (d.code, d.line, d.path.as_str()),
        ("invalid-value", Some(7), "fields[0](x).timeFormats[1]")
    );
    assert!(d.message.contains("%K"), "{}", d.message);

    for bad in ["''", "iso8601", "RFC3339", "Unix", "'%H:%M'", "'%Y-%m'"] {
        let src = one_field(&format!("    type: timestamp\n    timeFormat: {bad}\n"));
        assert_eq!(
            errors(&src),
            [e("invalid-value", 5, "fields[0](x).timeFormat")],
            "timeFormat {bad}"
        );
    }
}

#[test]
fn time_options_only_on_timestamps() {
    for ty in ["string", "int", "json", "boolean"] {
        for (key, value) in [
            ("isEventTime", "true"),
            ("isExpiration", "true"),
            ("timeFormat", "unix"),
            ("timeFormats", "[unix]"),
        ] {
            let src = one_field(&format!("    type: {ty}\n    {key}: {value}\n"));
            assert_eq!(
                errors(&src),
                [e("invalid-value", 5, &format!("fields[0](x).{key}"))],
                "{key} on {ty}"
            );
        }
        // Spelled false, the flags say nothing and are accepted anywhere.
        ok(&one_field(&format!(
            "    type: {ty}\n    isEventTime: false\n    isExpiration: false\n"
        )));
    }
    let d = the_error(&one_field("    type: string\n    isExpiration: true\n"));
    assert!(d.message.contains("type string"), "{}", d.message);
}

#[test]
fn embedded_json_only_on_arrays_objects_and_json() {
    for ty in ["string", "int", "smallint", "bigint", "float", "boolean"] {
        let src = one_field(&format!("    type: {ty}\n    isEmbeddedJSON: true\n"));
        assert_eq!(
            errors(&src),
            [e("invalid-value", 5, "fields[0](x).isEmbeddedJSON")],
            "isEmbeddedJSON on {ty}"
        );
    }
    assert_eq!(
        errors(&one_field(
            "    type: timestamp\n    timeFormat: unix\n    isEmbeddedJSON: true\n"
        )),
        [e("invalid-value", 6, "fields[0](x).isEmbeddedJSON")]
    );
}

// ----------------------------------------------------------------------------------------
// Indicators and validate (strings only)

#[test]
fn unknown_indicator() {
    let src = "\
schema: Custom.I
fields:
  - name: a
    type: string
    indicators:
      - ip
      - ip_address
      - 5
";
    assert_eq!(
        errors(src),
        [
            e("invalid-value", 7, "fields[0](a).indicators[1]"),
            e("invalid-value", 8, "fields[0](a).indicators[2]"),
        ]
    );
    let (_, d) = parse(src);
    let msg = &d.iter().next().unwrap().message;
    assert!(msg.contains("\"ip_address\""), "{msg}");
    assert!(msg.contains("aws_arn_only"), "lists the valid names: {msg}");

    // Names are case-sensitive.
    assert_eq!(
        errors(&one_field("    type: string\n    indicators: [IP]\n")),
        [e("invalid-value", 5, "fields[0](x).indicators[0]")]
    );
    assert_eq!(
        errors(&one_field("    type: string\n    indicators: ip\n")),
        [e("wrong-type", 5, "fields[0](x).indicators")]
    );
}

#[test]
fn indicators_and_validate_only_on_strings() {
    for ty in ["int", "bigint", "json"] {
        assert_eq!(
            errors(&one_field(&format!(
                "    type: {ty}\n    indicators: [ip]\n"
            ))),
            [e("invalid-value", 5, "fields[0](x).indicators")],
            "indicators on {ty}"
        );
        assert_eq!(
            errors(&one_field(&format!(
                "    type: {ty}\n    validate:\n      ip: ipv4\n"
            ))),
            [e("invalid-value", 6, "fields[0](x).validate")],
            "validate on {ty}"
        );
    }
}

#[test]
fn wrong_validate_values() {
    let src = "\
schema: Custom.V
fields:
  - name: a
    type: string
  - name: ip
    type: string
    validate:
      ip: v4
  - name: net
    type: string
    validate:
      cidr: ipv7
  - name: lists
    type: string
    validate:
      allow: one
      deny: [x, {y: 1}]
  - name: both
    type: string
    validate:
      ip: ipv4
      cidr: ipv4
  - name: scalar
    type: string
    validate: ipv4
";
    assert_eq!(
        errors(src),
        [
            e("invalid-value", 8, "fields[1](ip).validate.ip"),
            e("invalid-value", 12, "fields[2](net).validate.cidr"),
            e("wrong-type", 16, "fields[3](lists).validate.allow"),
            e("wrong-type", 17, "fields[3](lists).validate.deny[1]"),
            e("invalid-value", 21, "fields[4](both).validate"),
            e("wrong-type", 25, "fields[5](scalar).validate"),
        ]
    );
    let (_, d) = parse(src);
    let first = d.iter().next().unwrap();
    assert!(first.message.contains("\"v4\""), "{}", first.message);
    assert!(first.message.contains("\"ipv4\""), "{}", first.message);
}

#[test]
fn cidr_validate_rejects_wrong_value_with_path() {
    let src = "\
schema: Custom.Nets
fields:
  - name: name
    type: string
  - name: ip
    type: string
    required: true
    validate:
      cidr: true
";
    let d = the_error(src);
    assert_eq!(
        (d.code, d.line, d.column, d.path.as_str()),
        (
            "invalid-value",
            Some(9),
            Some(13),
            "fields[1](ip).validate.cidr"
        )
    );
    assert!(d.message.contains("a boolean (true)"), "{}", d.message);
}

// ----------------------------------------------------------------------------------------
// parse_schema_node directly

#[test]
fn parse_schema_node_appends_to_existing_diagnostics() {
    let node = crate::yaml::parse("schema: Custom.A\nfields:\n  - name: a\n    type: string\n")
        .unwrap()
        .unwrap();
    let mut diags = Diagnostics::new();
    diags.push(Diagnostic::error("earlier", "from another file"));
    // An earlier error in the list must not make a good schema fail.
    let s = parse_schema_node(&node, Some(Path::new("a.yml")), &mut diags);
    assert_eq!(s.unwrap().file.as_deref(), Some(Path::new("a.yml")));
    assert_eq!(diags.len(), 1);

    let bad = crate::yaml::parse("schema: Custom.A\nfields: 3\n")
        .unwrap()
        .unwrap();
    assert!(parse_schema_node(&bad, None, &mut diags).is_none());
    assert_eq!(diags.error_count(), 2);
}
