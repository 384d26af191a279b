//! Tests of value normalisation.

use super::*;
use crate::schema::time::TimeFormat;
use crate::schema::IpFamily;

fn field(ty: FieldType) -> Field {
    Field {
        name: "f".into(),
        ty,
        required: false,
        description: None,
        indicators: vec![],
        validate: Validate::default(),
        is_event_time: false,
        is_expiration: false,
        is_embedded_json: false,
        line: 1,
    }
}

fn ok(f: &Field, cell: Cell<'_>) -> String {
    let mut out = Vec::new();
    render(f, cell, "f", &mut out, &mut Extras::default()).unwrap_or_else(|e| panic!("{e:?}"));
    String::from_utf8(out).unwrap()
}

fn bad(f: &Field, cell: Cell<'_>) -> ValueError {
    let mut out = Vec::new();
    render(f, cell, "f", &mut out, &mut Extras::default()).expect_err("should fail")
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn strings_are_escaped_and_numbers_become_strings() {
    let f = field(FieldType::String);
    assert_eq!(ok(&f, Cell::Text("a\"b\\c\n")), r#""a\"b\\c\n""#);
    assert_eq!(ok(&f, Cell::Json(&json("12"))), r#""12""#);
    assert_eq!(ok(&f, Cell::Json(&json("true"))), r#""true""#);
    assert!(bad(&f, Cell::Json(&json("[1]")))
        .reason
        .contains("expected a string"));
}

#[test]
fn integers_are_range_checked_and_normalised() {
    let f = field(FieldType::Int);
    assert_eq!(ok(&f, Cell::Text("+007")), "7");
    assert_eq!(ok(&f, Cell::Text("-2147483648")), "-2147483648");
    assert!(bad(&f, Cell::Text("2147483648"))
        .reason
        .contains("out of range"));
    assert!(bad(&f, Cell::Text("1.0"))
        .reason
        .contains("expected an integer"));
    assert!(bad(&f, Cell::Text(" 1"))
        .reason
        .contains("expected an integer"));
    assert_eq!(ok(&f, Cell::Json(&json("42"))), "42");
    assert_eq!(ok(&f, Cell::Json(&json("\"42\""))), "42");
    assert!(bad(&f, Cell::Json(&json("4.5")))
        .reason
        .contains("expected an integer"));
    let s = field(FieldType::SmallInt);
    assert!(bad(&s, Cell::Text("40000")).reason.contains("out of range"));
    let b = field(FieldType::BigInt);
    assert_eq!(
        ok(&b, Cell::Text("9223372036854775807")),
        "9223372036854775807"
    );
    assert!(bad(&b, Cell::Text("9223372036854775808"))
        .reason
        .contains("expected an integer"));
}

#[test]
fn floats_booleans() {
    let f = field(FieldType::Float);
    assert_eq!(ok(&f, Cell::Text("7.50")), "7.5");
    assert_eq!(ok(&f, Cell::Text("2.0")), "2");
    assert_eq!(ok(&f, Cell::Json(&json("1e3"))), "1000");
    assert!(bad(&f, Cell::Text("NaN")).reason.contains("finite"));
    assert!(bad(&f, Cell::Text("abc")).reason.contains("finite"));
    let b = field(FieldType::Boolean);
    assert_eq!(ok(&b, Cell::Text("True")), "true");
    assert_eq!(ok(&b, Cell::Text("0")), "false");
    assert_eq!(ok(&b, Cell::Json(&json("false"))), "false");
    assert!(bad(&b, Cell::Text("yes")).reason.contains("boolean"));
}

#[test]
fn timestamps_render_in_panther_form_and_record_expiry() {
    let mut f = field(FieldType::Timestamp(vec![
        TimeFormat::Rfc3339,
        TimeFormat::Unix,
    ]));
    f.is_expiration = true;
    let mut out = Vec::new();
    let mut extras = Extras::default();
    render(
        &f,
        Cell::Text("2024-06-01T12:00:00.5Z"),
        "f",
        &mut out,
        &mut extras,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#""2024-06-01 12:00:00.500000000""#
    );
    assert_eq!(extras.expires_at, Some(1_717_243_200_500_000_000));
    assert_eq!(
        ok(&f, Cell::Json(&json("1717200000"))),
        r#""2024-06-01 00:00:00.000000000""#
    );
    assert!(bad(&f, Cell::Text("yesterday"))
        .reason
        .contains("does not match"));
}

#[test]
fn validate_rules() {
    let mut f = field(FieldType::String);
    f.validate.allow = Some(vec!["a".into(), "b".into()]);
    assert_eq!(ok(&f, Cell::Text("a")), r#""a""#);
    assert!(bad(&f, Cell::Text("c"))
        .reason
        .contains("not one of the allowed"));
    let mut f = field(FieldType::String);
    f.validate.deny = vec!["root".into()];
    assert!(bad(&f, Cell::Text("root")).reason.contains("denied"));
    let mut f = field(FieldType::String);
    f.validate.ip = Some(IpFamily::V4);
    assert_eq!(ok(&f, Cell::Text("10.0.0.1")), r#""10.0.0.1""#);
    assert!(bad(&f, Cell::Text("::1")).reason.contains("ipv4"));
    assert!(bad(&f, Cell::Text("10.0.0")).reason.contains("not an IP"));
    let mut f = field(FieldType::String);
    f.validate.cidr = Some(IpFamily::V6);
    assert_eq!(ok(&f, Cell::Text("2001:db8::/32")), r#""2001:db8::/32""#);
    assert!(bad(&f, Cell::Text("10.0.0.0/8")).reason.contains("ipv6"));
    assert!(bad(&f, Cell::Text("2001:db8::/129"))
        .reason
        .contains("not a CIDR"));
}

#[test]
fn arrays_objects_and_json() {
    let el = field(FieldType::Int);
    let a = field(FieldType::Array(Box::new(el)));
    assert_eq!(ok(&a, Cell::Json(&json("[1, \"2\", null]"))), "[1,2,null]");
    assert_eq!(ok(&a, Cell::Text("[3,4]")), "[3,4]");
    let e = bad(&a, Cell::Json(&json("[1, \"x\"]")));
    assert_eq!(e.path, "f[1]");
    let mut inner = field(FieldType::String);
    inner.name = "name".into();
    inner.required = true;
    let mut n = field(FieldType::Int);
    n.name = "n".into();
    let o = field(FieldType::Object(vec![inner, n]));
    assert_eq!(
        ok(&o, Cell::Json(&json(r#"{"n":1,"name":"x","extra":true}"#))),
        r#"{"name":"x","n":1}"#
    );
    let e = bad(&o, Cell::Json(&json(r#"{"n":1}"#)));
    assert_eq!(
        (e.path.as_str(), e.reason.as_str()),
        ("f.name", "required value is missing")
    );
    let mut emb = field(FieldType::Object(vec![field(FieldType::Int)]));
    emb.is_embedded_json = true;
    assert_eq!(ok(&emb, Cell::Json(&json(r#""{\"f\": 5}""#))), r#"{"f":5}"#);
    let j = field(FieldType::Json);
    assert_eq!(
        ok(&j, Cell::Json(&json(r#"{"a": [1, {"b": null}]}"#))),
        r#"{"a":[1,{"b":null}]}"#
    );
    assert_eq!(ok(&j, Cell::Text("not json")), r#""not json""#);
    assert_eq!(ok(&j, Cell::Text("[1,2]")), "[1,2]");
}
