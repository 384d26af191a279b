//! JSON rows: one object per line (JSON lines), or one array of objects. A line that is
//! not a JSON object is a bad row; a JSON array that breaks mid-way cannot be resumed and
//! is a fatal error naming the line.

use std::fmt;
use std::io::BufRead;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{CellSource, DataError, RowPos, RowSink};
use crate::schema::Schema;
use crate::table::normalize::Cell;

struct JsonCells<'a> {
    obj: &'a Map<String, Value>,
    schema: &'a Schema,
}

impl CellSource for JsonCells<'_> {
    fn cell(&self, field: usize) -> Cell<'_> {
        match self.obj.get(&self.schema.fields[field].name) {
            Some(v) => Cell::Json(v),
            None => Cell::Missing,
        }
    }
}

/// Keys not in the schema, remembered once each (the report lists them).
fn note_ignored(obj: &Map<String, Value>, schema: &Schema, ignored: &mut Vec<String>) {
    if ignored.len() >= 100 {
        return;
    }
    for k in obj.keys() {
        if schema.field(k).is_none() && !ignored.iter().any(|i| i == k) {
            ignored.push(k.clone());
        }
    }
}

fn handle(
    value: Value,
    pos: RowPos,
    schema: &Schema,
    sink: &mut dyn RowSink,
    ignored: &mut Vec<String>,
) {
    match value {
        Value::Object(obj) => {
            note_ignored(&obj, schema, ignored);
            sink.row(pos, &JsonCells { obj: &obj, schema });
        }
        other => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            sink.bad_row(pos, None, format!("expected a JSON object, found {kind}"));
        }
    }
}

pub(super) fn read_lines(
    mut input: Box<dyn BufRead + '_>,
    schema: &Schema,
    sink: &mut dyn RowSink,
    compressed: bool,
) -> Result<Vec<String>, DataError> {
    let mut ignored = Vec::new();
    let mut line = Vec::with_capacity(4096);
    let (mut line_no, mut row_no) = (0u64, 0u64);
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::from_io(e, compressed))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        row_no += 1;
        let pos = RowPos {
            row: row_no,
            line: Some(line_no),
        };
        match serde_json::from_slice::<Value>(&line) {
            Ok(v) => handle(v, pos, schema, sink, &mut ignored),
            Err(e) => sink.bad_row(pos, None, format!("invalid JSON: {e}")),
        }
    }
    Ok(ignored)
}

pub(super) fn read_array(
    input: Box<dyn BufRead + '_>,
    schema: &Schema,
    sink: &mut dyn RowSink,
    compressed: bool,
) -> Result<Vec<String>, DataError> {
    let mut ignored = Vec::new();
    let mut de = serde_json::Deserializer::from_reader(input);
    let seed = Elements {
        schema,
        sink,
        ignored: &mut ignored,
    };
    let res = seed.deserialize(&mut de).and_then(|()| de.end());
    match res {
        Ok(()) => Ok(ignored),
        Err(e) if e.is_io() => Err(DataError::from_io(e.into(), compressed)),
        Err(e) => Err(DataError::Malformed {
            line: Some(e.line() as u64),
            message: format!("invalid JSON array: {e}"),
        }),
    }
}

/// Streams the elements of a top-level array to the sink without collecting them.
struct Elements<'a> {
    schema: &'a Schema,
    sink: &'a mut dyn RowSink,
    ignored: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut row = 0u64;
        while let Some(v) = seq.next_element::<Value>()? {
            row += 1;
            handle(
                v,
                RowPos { row, line: None },
                self.schema,
                self.sink,
                self.ignored,
            );
        }
        Ok(())
    }
}
