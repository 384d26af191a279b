//! Reading table data files (§4): CSV, JSON lines and JSON arrays, any of them gzipped.
//!
//! Input is streamed: rows are handed one at a time to a [`RowSink`] while the file is
//! read, so a large file never sits in memory as text. Gzip is recognised by its magic
//! bytes, not the file name. Problems confined to one row go to the sink as bad rows (they
//! may be skipped under `maxInvalidRows`); problems that make the rest of the file
//! unreadable (corrupt gzip, a broken JSON array, a header without the key column) are a
//! [`DataError`].

mod csv;
mod json;

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

use crate::schema::Schema;
use crate::table::normalize::Cell;

/// The data formats lut reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    Csv,
    Jsonl,
    #[serde(rename = "json-array")]
    JsonArray,
}

impl DataFormat {
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Csv => "csv",
            DataFormat::Jsonl => "jsonl",
            DataFormat::JsonArray => "json-array",
        }
    }
}

/// Where a row is in the file: its 1-based row number (header excluded) and, when known,
/// the 1-based line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPos {
    pub row: u64,
    pub line: Option<u64>,
}

/// Gives the value of each top-level schema field (by index into `schema.fields`).
pub trait CellSource {
    fn cell(&self, field: usize) -> Cell<'_>;
}

/// Receives rows as they are read.
pub trait RowSink {
    fn row(&mut self, pos: RowPos, cells: &dyn CellSource);
    fn bad_row(&mut self, pos: RowPos, column: Option<&str>, reason: String);
}

/// Facts about a file that was read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataInfo {
    pub format: DataFormat,
    pub compressed: bool,
    /// Columns or keys present in the data that the schema does not describe (ignored).
    pub ignored_columns: Vec<String>,
}

/// A problem that stops reading the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("could not read the data: {0}")]
    Io(#[source] io::Error),
    #[error("the data is not valid gzip: {0}")]
    Gzip(#[source] io::Error),
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Malformed { line: Option<u64>, message: String },
    #[error("{0}")]
    Header(String),
    #[error("the data is larger than the {cap}-byte limit after decompression")]
    TooLarge { cap: u64 },
}

impl DataError {
    fn from_io(e: io::Error, compressed: bool) -> DataError {
        if let Some(c) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<CapExceeded>())
        {
            return DataError::TooLarge { cap: c.0 };
        }
        // flate2 reports corrupt streams as InvalidInput/InvalidData/UnexpectedEof.
        if compressed
            && matches!(
                e.kind(),
                io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof
            )
        {
            DataError::Gzip(e)
        } else {
            DataError::Io(e)
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Marker error carried through `io::Error` when [`Capped`] trips.
#[derive(Debug)]
struct CapExceeded(u64);

impl std::fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes", self.0)
    }
}

impl std::error::Error for CapExceeded {}

/// Counts bytes read and fails past a cap.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            left: cap,
            cap,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(CapExceeded(self.cap)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads every row of `input` according to `schema` (a csv parser means CSV; otherwise the
/// content decides: `[` starts a JSON array, `{` JSON lines, anything else CSV with a
/// header row).
pub fn read_rows<'r>(
    input: impl Read + 'r,
    schema: &Schema,
    sink: &mut dyn RowSink,
) -> Result<DataInfo, DataError> {
    read_rows_capped(input, schema, sink, u64::MAX)
}

/// Like [`read_rows`], but stops with [`DataError::TooLarge`] once more than
/// `max_uncompressed` bytes have been read after decompression, so a gzip bomb cannot
/// exhaust memory or time.
pub fn read_rows_capped<'r>(
    input: impl Read + 'r,
    schema: &Schema,
    sink: &mut dyn RowSink,
    max_uncompressed: u64,
) -> Result<DataInfo, DataError> {
    let mut raw = BufReader::with_capacity(256 * 1024, input);
    let head = raw.fill_buf().map_err(DataError::Io)?;
    let compressed = head.starts_with(&GZIP_MAGIC);
    let mut reader: Box<dyn BufRead + 'r> = if compressed {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            Capped::new(MultiGzDecoder::new(raw), max_uncompressed),
        ))
    } else {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            Capped::new(raw, max_uncompressed),
        ))
    };
    skip_bom(&mut reader).map_err(|e| DataError::from_io(e, compressed))?;
    let format = match &schema.csv {
        Some(_) => DataFormat::Csv,
        None => sniff(&mut reader).map_err(|e| DataError::from_io(e, compressed))?,
    };
    let ignored_columns = match format {
        DataFormat::Csv => {
            let default_opts = crate::schema::CsvOptions::default();
            let opts = schema.csv.as_ref().unwrap_or(&default_opts);
            csv::read(reader, schema, opts, sink, compressed)?
        }
        DataFormat::Jsonl => json::read_lines(reader, schema, sink, compressed)?,
        DataFormat::JsonArray => json::read_array(reader, schema, sink, compressed)?,
    };
    Ok(DataInfo {
        format,
        compressed,
        ignored_columns,
    })
}

fn skip_bom(r: &mut dyn BufRead) -> io::Result<()> {
    let buf = r.fill_buf()?;
    if buf.starts_with(UTF8_BOM) {
        r.consume(UTF8_BOM.len());
    }
    Ok(())
}

/// Decides between JSON array, JSON lines and CSV from the first non-blank byte.
fn sniff(r: &mut dyn BufRead) -> io::Result<DataFormat> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(DataFormat::Jsonl);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                return Ok(match buf[i] {
                    b'[' => DataFormat::JsonArray,
                    b'{' => DataFormat::Jsonl,
                    _ => DataFormat::Csv,
                })
            }
            None => {
                // All blank so far: blank lines are skipped by every reader anyway.
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
