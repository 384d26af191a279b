//! CSV rows per the schema's `parser.csv` options (delimiter, header, columns,
//! emptyValues, trimSpace). Quoted fields may span lines; ragged rows and cells that are
//! not UTF-8 are bad rows, not fatal errors.

use std::io::BufRead;

use super::{CellSource, DataError, RowPos, RowSink};
use crate::schema::{CsvOptions, Schema};
use crate::table::normalize::Cell;

/// One record's cells as byte ranges into its (UTF-8 checked) text; `None` is missing.
struct CsvCells<'a> {
    text: &'a str,
    cells: &'a [Option<(usize, usize)>],
    field_col: &'a [Option<usize>],
}

impl CellSource for CsvCells<'_> {
    fn cell(&self, field: usize) -> Cell<'_> {
        match self.field_col[field].and_then(|c| self.cells.get(c).copied().flatten()) {
            Some((s, e)) => Cell::Text(&self.text[s..e]),
            None => Cell::Missing,
        }
    }
}

pub(super) fn read(
    input: Box<dyn BufRead + '_>,
    schema: &Schema,
    opts: &CsvOptions,
    sink: &mut dyn RowSink,
    compressed: bool,
) -> Result<Vec<String>, DataError> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = ::csv::ByteRecord::new();
    let map_err = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(io) => DataError::from_io(io, compressed),
        other => DataError::Malformed {
            line: None,
            message: format!("{other:?}"),
        },
    };

    let columns: Vec<String> = match &opts.columns {
        Some(cols) => {
            if opts.has_header && !rdr.read_byte_record(&mut record).map_err(map_err)? {
                return Ok(Vec::new());
            }
            cols.clone()
        }
        None => {
            if !rdr.read_byte_record(&mut record).map_err(map_err)? {
                return Err(DataError::Header(
                    "the CSV file is empty: a header row naming the columns is required".into(),
                ));
            }
            let mut names = Vec::with_capacity(record.len());
            for (i, raw) in record.iter().enumerate() {
                let name = std::str::from_utf8(raw).map_err(|_| {
                    DataError::Header(format!("header column {} is not valid UTF-8", i + 1))
                })?;
                let name = if opts.trim_space { name.trim() } else { name };
                if names.iter().any(|n: &String| n == name) {
                    return Err(DataError::Header(format!(
                        "header column {name:?} appears twice"
                    )));
                }
                names.push(name.to_string());
            }
            names
        }
    };
    let field_col: Vec<Option<usize>> = schema
        .fields
        .iter()
        .map(|f| columns.iter().position(|c| c == &f.name))
        .collect();
    for (f, col) in schema.fields.iter().zip(&field_col) {
        if col.is_none() && f.required {
            return Err(DataError::Header(format!(
                "required column {:?} is missing from the CSV header (columns: {})",
                f.name,
                columns.join(", ")
            )));
        }
    }
    let ignored: Vec<String> = columns
        .iter()
        .filter(|c| schema.field(c).is_none())
        .cloned()
        .collect();

    let mut row_no = 0u64;
    let mut quoted_newlines = 0u64;
    let mut cells: Vec<Option<(usize, usize)>> = Vec::with_capacity(columns.len());
    loop {
        let more = match rdr.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return match e.into_kind() {
                    ::csv::ErrorKind::Io(io) => Err(DataError::from_io(io, compressed)),
                    other => Err(DataError::Malformed {
                        line,
                        message: format!("invalid CSV: {other:?}"),
                    }),
                };
            }
        };
        if !more {
            break;
        }
        // A line holding nothing at all is not a row.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        row_no += 1;
        // The csv crate does not count newlines inside quoted fields; add them back so the
        // line points where the record starts in an editor.
        let pos = RowPos {
            row: row_no,
            line: record.position().map(|p| p.line() + quoted_newlines),
        };
        quoted_newlines += memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
        if record.len() != columns.len() {
            sink.bad_row(
                pos,
                None,
                format!(
                    "row has {} fields, expected {} ({})",
                    record.len(),
                    columns.len(),
                    columns.join(", ")
                ),
            );
            continue;
        }
        // One UTF-8 check per record; only a failing record is searched for its column.
        let text = match std::str::from_utf8(record.as_slice()) {
            Ok(t) => t,
            Err(_) => {
                let i = (0..record.len())
                    .find(|&i| std::str::from_utf8(&record[i]).is_err())
                    .unwrap_or(0);
                sink.bad_row(
                    pos,
                    Some(&columns[i]),
                    "the value is not valid UTF-8".into(),
                );
                continue;
            }
        };
        cells.clear();
        for i in 0..record.len() {
            let r = record.range(i).expect("index within record");
            let (mut s, mut e) = (r.start, r.end);
            if opts.trim_space {
                let cell = &text[s..e];
                let trimmed = cell.trim_start();
                s += cell.len() - trimmed.len();
                e = s + trimmed.trim_end().len();
            }
            let cell = &text[s..e];
            let empty = cell.is_empty() || opts.empty_values.iter().any(|v| v == cell);
            cells.push((!empty).then_some((s, e)));
        }
        sink.row(
            pos,
            &CsvCells {
                text,
                cells: &cells,
                field_col: &field_col,
            },
        );
    }
    Ok(ignored)
}
