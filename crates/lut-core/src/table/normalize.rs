//! Checking one value against its schema field and rendering it as normalised JSON (§4):
//! integers as JSON numbers, booleans as booleans, timestamps in Panther's
//! `YYYY-MM-DD HH:MM:SS.fffffffff` form, strings checked against `validate`.
//!
//! Values arrive as a [`Cell`]: text from a CSV cell, or a value from a JSON row. The
//! rendered JSON is appended straight into the table's arena, so a valid row costs no
//! intermediate document.

use serde_json::Value as Json;

use crate::json::write::{write_number_canonical, write_str};
use crate::net::{parse_ip, Cidr};
use crate::schema::time::{self, TimeFormat};
use crate::schema::{Field, FieldType, Validate};

/// One input value.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Missing,
    Text(&'a str),
    Json(&'a Json),
}

impl Cell<'_> {
    /// JSON null counts as missing, like an empty CSV cell.
    pub fn is_missing(&self) -> bool {
        matches!(self, Cell::Missing | Cell::Json(Json::Null))
    }
}

/// A value problem: `path` is the column (or `column.sub[2]` inside nested values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub path: String,
    pub reason: String,
}

/// What normalising a value learnt besides its JSON form.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extras {
    /// Nanoseconds of an `isExpiration` timestamp.
    pub expires_at: Option<i64>,
    /// The block a `validate: cidr` string parsed to (the last one rendered), so a CIDR
    /// primary key is not parsed twice.
    pub cidr: Option<Cidr>,
}

/// Appends the normalised JSON of `cell` for `field` to `out`. On error `out` may hold a
/// partial value; the caller truncates it.
pub fn render(
    field: &Field,
    cell: Cell<'_>,
    path: &str,
    out: &mut Vec<u8>,
    extras: &mut Extras,
) -> Result<(), ValueError> {
    let err = |reason: String| ValueError {
        path: path.to_string(),
        reason,
    };
    match &field.ty {
        FieldType::String => {
            let owned;
            let s: &str = match cell {
                Cell::Text(s) => s,
                Cell::Json(Json::String(s)) => s,
                Cell::Json(v @ (Json::Number(_) | Json::Bool(_))) => {
                    owned = v.to_string();
                    &owned
                }
                Cell::Json(v) => {
                    return Err(err(format!("expected a string, found {}", json_kind(v))))
                }
                Cell::Missing => return Err(err("missing value".into())),
            };
            if let Some(c) = check_string(&field.validate, s).map_err(err)? {
                extras.cidr = Some(c);
            }
            write_str(out, s.as_bytes());
        }
        FieldType::Int | FieldType::SmallInt | FieldType::BigInt => {
            let (min, max) = match field.ty {
                FieldType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
                FieldType::Int => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            let v = match cell {
                Cell::Text(s) => parse_int(s),
                Cell::Json(Json::String(s)) => parse_int(s),
                Cell::Json(Json::Number(n)) => n.as_i64().ok_or(()),
                _ => Err(()),
            };
            let v = v.map_err(|_| {
                err(format!(
                    "expected an integer ({}), found {}",
                    field.ty.name(),
                    describe(cell)
                ))
            })?;
            if v < min || v > max {
                return Err(err(format!(
                    "{v} is out of range for {} ({min} to {max})",
                    field.ty.name()
                )));
            }
            out.extend_from_slice(v.to_string().as_bytes());
        }
        FieldType::Float => {
            let v = match cell {
                Cell::Text(s) => s.parse::<f64>().ok(),
                Cell::Json(Json::String(s)) => s.parse::<f64>().ok(),
                Cell::Json(Json::Number(n)) => n.as_f64(),
                _ => None,
            };
            match v {
                Some(f) if f.is_finite() => {
                    write_number_canonical(out, format!("{f:e}").as_bytes())
                }
                _ => {
                    return Err(err(format!(
                        "expected a finite number, found {}",
                        describe(cell)
                    )))
                }
            }
        }
        FieldType::Boolean => {
            let v = match cell {
                Cell::Text(s) => parse_bool(s),
                Cell::Json(Json::String(s)) => parse_bool(s),
                Cell::Json(Json::Bool(b)) => Some(*b),
                _ => None,
            };
            let b = v.ok_or_else(|| {
                err(format!(
                    "expected a boolean (true/false), found {}",
                    describe(cell)
                ))
            })?;
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        FieldType::Timestamp(formats) => {
            let nanos = parse_time(formats, cell).map_err(err)?;
            if field.is_expiration {
                extras.expires_at = Some(nanos);
            }
            let mut s = String::with_capacity(29);
            time::write_panther(nanos, &mut s);
            write_str(out, s.as_bytes());
        }
        FieldType::Json => match cell {
            Cell::Json(Json::String(s)) if field.is_embedded_json => {
                let v: Json = serde_json::from_str(s)
                    .map_err(|e| err(format!("embedded JSON is invalid: {e}")))?;
                write_json(out, &v);
            }
            Cell::Json(v) => write_json(out, v),
            Cell::Text(s) => match serde_json::from_str::<Json>(s) {
                Ok(v) => write_json(out, &v),
                Err(e) if field.is_embedded_json => {
                    return Err(err(format!("embedded JSON is invalid: {e}")))
                }
                Err(_) => write_str(out, s.as_bytes()),
            },
            Cell::Missing => return Err(err("missing value".into())),
        },
        FieldType::Array(element) => {
            let mut parsed = None;
            let v = container(field, cell, &mut parsed).map_err(err)?;
            let Json::Array(items) = v else {
                return Err(err(format!("expected an array, found {}", json_kind(v))));
            };
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if item.is_null() {
                    out.extend_from_slice(b"null");
                    continue;
                }
                render(
                    element,
                    Cell::Json(item),
                    &format!("{path}[{i}]"),
                    out,
                    extras,
                )?;
            }
            out.push(b']');
        }
        FieldType::Object(fields) => {
            let mut parsed = None;
            let v = container(field, cell, &mut parsed).map_err(err)?;
            let Json::Object(map) = v else {
                return Err(err(format!("expected an object, found {}", json_kind(v))));
            };
            out.push(b'{');
            let mut first = true;
            for sub in fields {
                let sub_cell = map.get(&sub.name).map_or(Cell::Missing, Cell::Json);
                let sub_path = format!("{path}.{}", sub.name);
                if sub_cell.is_missing() {
                    if sub.required {
                        return Err(ValueError {
                            path: sub_path,
                            reason: "required value is missing".into(),
                        });
                    }
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                write_str(out, sub.name.as_bytes());
                out.push(b':');
                // Expiration is a top-level notion; nested timestamps do not set it.
                let mut nested = Extras::default();
                render(sub, sub_cell, &sub_path, out, &mut nested)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The string checks of `validate` (§3). A CIDR value is returned parsed (normalised),
/// so a primary key can be stored in canonical form without parsing it again.
pub fn check_string(v: &Validate, s: &str) -> Result<Option<Cidr>, String> {
    if let Some(allow) = &v.allow {
        if !allow.iter().any(|a| a == s) {
            return Err(format!(
                "{s:?} is not one of the allowed values ({})",
                allow.join(", ")
            ));
        }
    }
    if v.deny.iter().any(|d| d == s) {
        return Err(format!("{s:?} is a denied value"));
    }
    if let Some(fam) = v.ip {
        match parse_ip(s.as_bytes()) {
            Some(ip) if fam.accepts(ip.is_ipv4()) => {}
            Some(_) => return Err(format!("{s:?} is not an {} address", fam.name())),
            None => return Err(format!("{s:?} is not an IP address")),
        }
    }
    if let Some(fam) = v.cidr {
        return match Cidr::parse(s) {
            Ok(c) if fam.accepts(c.is_ipv4()) => Ok(Some(c)),
            Ok(_) => Err(format!("{s:?} is not an {} CIDR block", fam.name())),
            Err(e) => Err(format!("{s:?} is not a CIDR block: {e}")),
        };
    }
    Ok(None)
}

fn parse_time(formats: &[TimeFormat], cell: Cell<'_>) -> Result<i64, String> {
    let r = match cell {
        Cell::Text(s) => time::parse_text(s, formats),
        Cell::Json(Json::String(s)) => time::parse_text(s, formats),
        Cell::Json(Json::Number(n)) => time::parse_number(&n.to_string(), formats),
        other => return Err(format!("expected a timestamp, found {}", describe(other))),
    };
    r.map_err(|e| e.to_string())
}

/// Decimal integers, as CSV and JSON strings write them: an optional sign and digits.
fn parse_int(s: &str) -> Result<i64, ()> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    s.parse::<i64>().map_err(|_| ())
}

/// The spellings Go's strconv.ParseBool accepts, which Panther's parsers follow.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The value of an array/object field: parsed from text (a CSV cell, or an embedded-JSON
/// string) into `slot`, or the JSON value itself.
fn container<'v>(
    field: &Field,
    cell: Cell<'v>,
    slot: &'v mut Option<Json>,
) -> Result<&'v Json, String> {
    let text = match cell {
        Cell::Json(Json::String(s)) if field.is_embedded_json => s.as_str(),
        Cell::Text(s) => s,
        Cell::Json(v) => return Ok(v),
        Cell::Missing => return Err("missing value".into()),
    };
    Ok(slot.insert(embedded(text)?))
}

fn embedded(s: &str) -> Result<Json, String> {
    serde_json::from_str(s).map_err(|e| format!("embedded JSON is invalid: {e}"))
}

fn write_json(out: &mut Vec<u8>, v: &Json) {
    serde_json::to_writer(out, v).expect("writing JSON to a Vec cannot fail");
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn describe(cell: Cell<'_>) -> String {
    match cell {
        Cell::Missing => "nothing".into(),
        Cell::Text(s) => format!("{s:?}"),
        Cell::Json(Json::String(s)) => format!("{s:?}"),
        Cell::Json(v @ (Json::Number(_) | Json::Bool(_))) => v.to_string(),
        Cell::Json(v) => json_kind(v).into(),
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
