//! Schema parser tests, continued: the diagnostics shown for each kind of mistake.

use super::*;

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
