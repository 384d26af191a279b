//! Reading a Panther custom schema from YAML, reporting every problem with its line and
//! field path. Unknown keys are errors: a misspelt `required` must not silently pass.

use std::path::Path;

use super::time::TimeFormat;
use super::{CsvOptions, Field, FieldType, Indicator, IpFamily, Schema, Validate};
use crate::diag::Diagnostics;
use crate::yaml::{self, MapReader, Node};

const TOP_KEYS: &[&str] = &[
    "schema",
    "description",
    "referenceURL",
    "version",
    "parser",
    "fields",
];
const FIELD_KEYS: &[&str] = &[
    "name",
    "type",
    "required",
    "description",
    "element",
    "fields",
    "timeFormat",
    "timeFormats",
    "isEventTime",
    "isExpiration",
    "isEmbeddedJSON",
    "indicators",
    "validate",
];
const CSV_KEYS: &[&str] = &[
    "delimiter",
    "hasHeader",
    "columns",
    "emptyValues",
    "trimSpace",
];

/// Parses schema YAML text. Diagnostics carry `file` when given. The schema is returned
/// only when there are no errors.
pub fn parse_schema(src: &str, file: Option<&Path>) -> (Option<Schema>, Diagnostics) {
    let mut diags = Diagnostics::new();
    let schema = match yaml::parse(src) {
        Ok(Some(node)) => parse_schema_node(&node, file, &mut diags),
        Ok(None) => {
            diags.push(crate::diag::Diagnostic::error(
                "empty-file",
                "the file holds no YAML document",
            ));
            None
        }
        Err(e) => {
            diags.push(e.to_diagnostic());
            None
        }
    };
    if let Some(f) = file {
        diags.set_file(f);
    }
    (schema, diags)
}

/// Parses an already loaded YAML document as a schema, appending problems to `diags`.
pub fn parse_schema_node(
    node: &Node,
    file: Option<&Path>,
    diags: &mut Diagnostics,
) -> Option<Schema> {
    let errors_before = diags.error_count();
    let mut r = MapReader::new(node, "", diags)?;
    let name = r.required_str("schema", diags).map(str::to_string);
    if let (Some(n), Some(key)) = (&name, node.get("schema")) {
        if n.trim().is_empty() {
            diags.push(key.error("invalid-value", "schema", "the schema name is empty"));
        }
    }
    let description = r.str("description", diags).map(str::to_string);
    let reference_url = r.str("referenceURL", diags).map(str::to_string);
    let version = r.int("version", diags);
    let parser_errors = diags.error_count();
    let csv = r.get("parser").and_then(|p| parse_parser(p, diags));
    let parser_ok = diags.error_count() == parser_errors;
    let fields = match r.get("fields") {
        Some(f) => parse_fields(f, "fields", diags),
        None => {
            diags.push(r.missing("fields"));
            Vec::new()
        }
    };
    r.finish_with_hint(TOP_KEYS, diags);
    if node.get("fields").is_some() && fields.is_empty() && diags.error_count() == errors_before {
        diags.push(node.error(
            "invalid-value",
            "fields",
            "a schema needs at least one field",
        ));
    }
    // Column coverage is only worth checking once the parser block itself is sound.
    if let (Some(csv), true) = (&csv, parser_ok) {
        check_csv_columns(csv, &fields, node, diags);
    }
    if diags.error_count() > errors_before {
        return None;
    }
    Some(Schema {
        name: name?,
        description,
        reference_url,
        version,
        csv,
        fields,
        file: file.map(Path::to_path_buf),
        line: node.line,
    })
}

fn parse_parser(node: &Node, diags: &mut Diagnostics) -> Option<CsvOptions> {
    let mut r = MapReader::new(node, "parser", diags)?;
    let csv_node = r.get("csv");
    for (k, _) in node.as_map().unwrap_or_default() {
        let Some(name) = k.as_str() else { continue };
        if name != "csv" {
            r.get(name);
            diags.push(k.error(
                "unsupported",
                &format!("parser.{name}"),
                format!("parser {name:?} is not supported for lookup tables; use \"csv\" or no parser (JSON)"),
            ));
        }
    }
    r.finish(diags);
    // `csv:` with nothing under it still declares a CSV parser, with Panther's defaults.
    let mut opts = CsvOptions {
        has_header: false,
        ..CsvOptions::default()
    };
    let Some(csv_node) = csv_node else {
        return node.get("csv").is_some().then_some(opts);
    };
    if csv_node.as_map().is_some_and(|m| m.is_empty()) {
        return Some(opts);
    }
    let mut c = MapReader::new(csv_node, "parser.csv", diags)?;
    if let Some(d) = c.get("delimiter") {
        match d.as_str() {
            Some(s) if s.len() == 1 && s != "\"" && s != "\n" && s != "\r" => opts.delimiter = s.as_bytes()[0],
            Some("\\t") => opts.delimiter = b'\t',
            _ => diags.push(d.error(
                "invalid-value",
                "parser.csv.delimiter",
                format!("the delimiter must be a single ASCII character other than a quote or newline, found {}", d.describe()),
            )),
        }
    }
    // Panther's default is no header; without `columns` the columns then have no names,
    // which check_csv_columns reports.
    if let Some(h) = c.bool("hasHeader", diags) {
        opts.has_header = h;
    }
    if let Some(cols) = c.str_list("columns", diags) {
        opts.columns = Some(cols.into_iter().map(|(s, _)| s.to_string()).collect());
    }
    if let Some(vals) = c.str_list("emptyValues", diags) {
        opts.empty_values = vals.into_iter().map(|(s, _)| s.to_string()).collect();
    }
    if let Some(t) = c.bool("trimSpace", diags) {
        opts.trim_space = t;
    }
    c.finish_with_hint(CSV_KEYS, diags);
    Some(opts)
}

fn check_csv_columns(csv: &CsvOptions, fields: &[Field], node: &Node, diags: &mut Diagnostics) {
    let parser = node.get("parser").unwrap_or(node);
    let at = parser
        .get("csv")
        .and_then(|c| c.get("columns"))
        .unwrap_or(parser);
    match &csv.columns {
        None if !csv.has_header => diags.push(at.error(
            "invalid-value",
            "parser.csv",
            "a CSV parser without a header row needs `columns` to name the columns",
        )),
        Some(cols) => {
            for f in fields {
                if !cols.iter().any(|c| c == &f.name) {
                    diags.push(at.error(
                        "invalid-value",
                        "parser.csv.columns",
                        format!("field {:?} is not one of the CSV columns", f.name),
                    ));
                }
            }
        }
        None => {}
    }
}

fn parse_fields(node: &Node, path: &str, diags: &mut Diagnostics) -> Vec<Field> {
    let Some(items) = node.as_seq() else {
        diags.push(node.error(
            "wrong-type",
            path,
            format!("fields must be a list, found {}", node.describe()),
        ));
        return Vec::new();
    };
    let mut fields: Vec<Field> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        if let Some(f) = parse_field(item, &item_path, true, diags) {
            if fields.iter().any(|g| g.name == f.name) {
                diags.push(item.error(
                    "duplicate-field",
                    &item_path,
                    format!("field {:?} is defined twice", f.name),
                ));
                continue;
            }
            fields.push(f);
        }
    }
    fields
}

/// Parses a field (or, with `named` false, an array's `element`).
fn parse_field(node: &Node, path: &str, named: bool, diags: &mut Diagnostics) -> Option<Field> {
    let errors_before = diags.error_count();
    // Name the field in every path: `fields[2](ip).type` reads better than an index.
    let path = match node.get("name").and_then(Node::as_str) {
        Some(n) if named && !n.is_empty() => format!("{path}({n})"),
        _ => path.to_string(),
    };
    let mut r = MapReader::new(node, &path, diags)?;
    let name = if named {
        let n = r.required_str("name", diags);
        if n.is_some_and(|n| n.is_empty()) {
            diags.push(node.error(
                "invalid-value",
                &r.child_path("name"),
                "the field name is empty",
            ));
        }
        n.unwrap_or_default().to_string()
    } else {
        String::new()
    };
    let ty_name = r.required_str("type", diags);
    let required = r.bool("required", diags).unwrap_or(false);
    let description = r.str("description", diags).map(str::to_string);
    let is_event_time = r.bool("isEventTime", diags).unwrap_or(false);
    let is_expiration = r.bool("isExpiration", diags).unwrap_or(false);
    let is_embedded_json = r.bool("isEmbeddedJSON", diags).unwrap_or(false);
    let element = r.get("element");
    let sub_fields = r.get("fields");
    let time_format = r.get("timeFormat");
    let time_formats = r.get("timeFormats");
    let indicators_node = r.get("indicators");
    let validate_node = r.get("validate");
    r.finish_with_hint(FIELD_KEYS, diags);

    let here = |key: &str| yaml::join(&path, key);
    let ty = match ty_name {
        None => None,
        Some("string") => Some(FieldType::String),
        Some("int") => Some(FieldType::Int),
        Some("smallint") => Some(FieldType::SmallInt),
        Some("bigint") => Some(FieldType::BigInt),
        Some("float") => Some(FieldType::Float),
        Some("boolean") => Some(FieldType::Boolean),
        Some("json") => Some(FieldType::Json),
        Some("timestamp") => {
            let formats = parse_time_formats(node, time_format, time_formats, &path, diags);
            Some(FieldType::Timestamp(formats))
        }
        Some("array") => match element {
            Some(el) => parse_field(el, &here("element"), false, diags)
                .map(|f| FieldType::Array(Box::new(f))),
            None => {
                diags.push(node.error(
                    "missing-key",
                    &here("element"),
                    "an array field needs `element`",
                ));
                None
            }
        },
        Some("object") => match sub_fields {
            Some(sf) => Some(FieldType::Object(parse_fields(sf, &here("fields"), diags))),
            None => {
                diags.push(node.error(
                    "missing-key",
                    &here("fields"),
                    "an object field needs `fields`",
                ));
                None
            }
        },
        Some(other) => {
            let at = node.get("type").unwrap_or(node);
            diags.push(at.error(
                "invalid-value",
                &here("type"),
                format!("unknown type {other:?}; expected one of string, int, smallint, bigint, float, boolean, timestamp, array, object, json"),
            ));
            None
        }
    };
    let ty = ty?;
    let misplaced = |key: &str, present: bool, allowed: bool, diags: &mut Diagnostics| {
        if present && !allowed {
            let at = node.get(key).unwrap_or(node);
            diags.push(at.error(
                "invalid-value",
                &here(key),
                format!("`{key}` is not allowed on a field of type {}", ty.name()),
            ));
        }
    };
    let is_ts = matches!(ty, FieldType::Timestamp(_));
    misplaced(
        "element",
        element.is_some(),
        matches!(ty, FieldType::Array(_)),
        diags,
    );
    misplaced(
        "fields",
        sub_fields.is_some(),
        matches!(ty, FieldType::Object(_)),
        diags,
    );
    misplaced("timeFormat", time_format.is_some(), is_ts, diags);
    misplaced("timeFormats", time_formats.is_some(), is_ts, diags);
    misplaced("isEventTime", is_event_time, is_ts, diags);
    misplaced("isExpiration", is_expiration, is_ts, diags);
    misplaced(
        "isEmbeddedJSON",
        is_embedded_json,
        matches!(
            ty,
            FieldType::Array(_) | FieldType::Object(_) | FieldType::Json
        ),
        diags,
    );
    let is_string = ty == FieldType::String;
    misplaced("indicators", indicators_node.is_some(), is_string, diags);
    misplaced("validate", validate_node.is_some(), is_string, diags);

    let indicators = indicators_node
        .filter(|_| is_string)
        .map(|n| parse_indicators(n, &here("indicators"), diags))
        .unwrap_or_default();
    let validate = validate_node
        .filter(|_| is_string)
        .map(|n| parse_validate(n, &here("validate"), diags))
        .unwrap_or_default();

    if diags.error_count() > errors_before {
        return None;
    }
    Some(Field {
        name,
        ty,
        required,
        description,
        indicators,
        validate,
        is_event_time,
        is_expiration,
        is_embedded_json,
        line: node.line,
    })
}

fn parse_time_formats(
    node: &Node,
    one: Option<&Node>,
    many: Option<&Node>,
    path: &str,
    diags: &mut Diagnostics,
) -> Vec<TimeFormat> {
    let mut raw: Vec<(&str, &Node, String)> = Vec::new();
    match (one, many) {
        (Some(_), Some(m)) => diags.push(m.error(
            "invalid-value",
            &yaml::join(path, "timeFormats"),
            "use either timeFormat or timeFormats, not both",
        )),
        (Some(o), None) => match o.as_str() {
            Some(s) => raw.push((s, o, yaml::join(path, "timeFormat"))),
            None => diags.push(o.error(
                "wrong-type",
                &yaml::join(path, "timeFormat"),
                format!("timeFormat must be a string, found {}", o.describe()),
            )),
        },
        (None, Some(m)) => match m.as_seq() {
            Some(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{}[{i}]", yaml::join(path, "timeFormats"));
                    match item.as_str() {
                        Some(s) => raw.push((s, item, p)),
                        None => diags.push(item.error(
                            "wrong-type",
                            &p,
                            format!("a time format must be a string, found {}", item.describe()),
                        )),
                    }
                }
            }
            _ => diags.push(m.error(
                "wrong-type",
                &yaml::join(path, "timeFormats"),
                "timeFormats must be a non-empty list of formats",
            )),
        },
        (None, None) => diags.push(node.error(
            "missing-key",
            &yaml::join(path, "timeFormat"),
            "a timestamp field needs timeFormat or timeFormats",
        )),
    }
    let mut out = Vec::with_capacity(raw.len());
    for (s, at, p) in raw {
        match TimeFormat::parse(s) {
            Ok(f) => out.push(f),
            Err(e) => diags.push(at.error("invalid-value", &p, e.to_string())),
        }
    }
    out
}

fn parse_indicators(node: &Node, path: &str, diags: &mut Diagnostics) -> Vec<Indicator> {
    let Some(items) = node.as_seq() else {
        diags.push(node.error(
            "wrong-type",
            path,
            format!("indicators must be a list, found {}", node.describe()),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(Indicator::from_name) {
            Some(ind) if !out.contains(&ind) => out.push(ind),
            Some(_) => {}
            None => {
                let names: Vec<&str> = Indicator::ALL.iter().map(|i| i.name()).collect();
                diags.push(item.error(
                    "invalid-value",
                    &format!("{path}[{i}]"),
                    format!(
                        "unknown indicator {}; expected one of {}",
                        item.describe(),
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

fn parse_validate(node: &Node, path: &str, diags: &mut Diagnostics) -> Validate {
    let mut v = Validate::default();
    let Some(mut r) = MapReader::new(node, path, diags) else {
        return v;
    };
    if let Some(allow) = r.str_list("allow", diags) {
        v.allow = Some(allow.into_iter().map(|(s, _)| s.to_string()).collect());
    }
    if let Some(deny) = r.str_list("deny", diags) {
        v.deny = deny.into_iter().map(|(s, _)| s.to_string()).collect();
    }
    for key in ["ip", "cidr"] {
        let Some(n) = r.get(key) else { continue };
        let fam = match n.as_str() {
            Some("ipv4") => Some(IpFamily::V4),
            Some("ipv6") => Some(IpFamily::V6),
            Some("any") => Some(IpFamily::Any),
            _ => {
                diags.push(n.error(
                    "invalid-value",
                    &yaml::join(path, key),
                    format!(
                        "{key} must be \"ipv4\", \"ipv6\" or \"any\", found {}",
                        n.describe()
                    ),
                ));
                None
            }
        };
        if key == "ip" {
            v.ip = fam;
        } else {
            v.cidr = fam;
        }
    }
    if v.ip.is_some() && v.cidr.is_some() {
        diags.push(node.error(
            "invalid-value",
            path,
            "a field cannot be validated as both ip and cidr",
        ));
    }
    r.finish_with_hint(&["allow", "deny", "ip", "cidr"], diags);
    v
}
