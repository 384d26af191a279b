//! Building a table version from a data file: validate and normalise every row, enforce
//! the primary key, index, and decide whether the version is accepted (§4).
//!
//! The builder is the [`RowSink`] the data readers stream into. Each row is rendered into
//! a scratch buffer and copied into the arena only once it is known to be valid and its
//! key unique, so a bad row leaves no trace in the table.

use std::collections::HashMap;
use std::io::Read;

use super::normalize::{self, Cell, Extras};
use super::report::{BuildReport, RowProblem};
use super::{entry_at, fold_case, key_field, KeyIndex, KeyKind, Table, HEADER, NO_EXPIRY};
use crate::data::{self, CellSource, RowPos, RowSink};
use crate::index::{CidrIndexBuilder, ExactIndex};
use crate::json::write::write_str;
use crate::net::Cidr;
use crate::schema::{FieldType, Schema};
use crate::spec::{CidrMatch, TableSpec};

/// A successfully built version and its report (which may list skipped rows).
#[derive(Debug)]
pub struct Built {
    pub table: Table,
    pub report: BuildReport,
}

/// A version rejected as a whole; the report says why.
#[derive(Debug, thiserror::Error)]
#[error("table {table:?}: data rejected: {}", report.summary())]
pub struct Rejected {
    pub table: String,
    pub report: Box<BuildReport>,
}

/// Reads, validates and indexes `input` for `spec` (whose schema is `schema`).
pub fn build(spec: &TableSpec, schema: &Schema, input: impl Read) -> Result<Built, Rejected> {
    build_with(spec, schema, input, &BuildOptions::default())
}

/// Limits applied while building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Bytes of data after decompression; more rejects the version.
    pub max_uncompressed_bytes: u64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            max_uncompressed_bytes: u64::MAX,
        }
    }
}

/// [`build`] with explicit limits.
pub fn build_with(
    spec: &TableSpec,
    schema: &Schema,
    input: impl Read,
    opts: &BuildOptions,
) -> Result<Built, Rejected> {
    let mut report = BuildReport {
        max_invalid_rows: spec.max_invalid_rows,
        ..BuildReport::default()
    };
    let (key_idx, kind) = match key_field(spec, schema) {
        Ok(k) => k,
        Err(e) => {
            report.fatal = Some(e);
            return Err(Rejected {
                table: spec.name.clone(),
                report: Box::new(report),
            });
        }
    };
    let mut b = Builder {
        schema,
        key_idx,
        kind,
        case_insensitive: spec.case_insensitive,
        has_expiry: schema.fields.iter().any(|f| f.is_expiration),
        arena: Vec::new(),
        entries: Vec::new(),
        expires: Vec::new(),
        exact: ExactIndex::with_capacity(0),
        cidrs: HashMap::default(),
        row_numbers: Vec::new(),
        cidr_list: Vec::new(),
        frag: Vec::with_capacity(512),
        key: Vec::with_capacity(64),
        report,
    };
    match data::read_rows_capped(input, schema, &mut b, opts.max_uncompressed_bytes) {
        Ok(info) => {
            b.report.format = Some(info.format);
            b.report.compressed = info.compressed;
            b.report.ignored_columns = info.ignored_columns;
        }
        Err(e) => b.report.fatal = Some(e.to_string()),
    }
    b.finish(spec)
}

struct Builder<'s> {
    schema: &'s Schema,
    key_idx: usize,
    kind: KeyKind,
    case_insensitive: bool,
    has_expiry: bool,
    arena: Vec<u8>,
    entries: Vec<u64>,
    expires: Vec<i64>,
    exact: ExactIndex,
    /// Normalised block -> its row number, to report duplicates with both rows. Keys are
    /// the owner's own data, so the fast fixed hasher is fine (SipHash cost a tenth of a
    /// CIDR row).
    cidrs: HashMap<Cidr, u64, foldhash::fast::FixedState>,
    /// Row number of each accepted row, so a duplicate key can name the first occurrence.
    row_numbers: Vec<u64>,
    cidr_list: Vec<(Cidr, u32)>,
    frag: Vec<u8>,
    key: Vec<u8>,
    report: BuildReport,
}

impl Builder<'_> {
    fn problem(&mut self, pos: RowPos, column: Option<&str>, reason: String) {
        self.report.problem(RowProblem {
            row: pos.row,
            line: pos.line,
            column: column.map(str::to_string),
            reason,
        });
    }

    /// Renders the row into `self.frag`/`self.key`; `Err` names the column and reason.
    fn render_row(
        &mut self,
        cells: &dyn CellSource,
        extras: &mut Extras,
    ) -> Result<Option<Cidr>, (String, String)> {
        self.frag.clear();
        self.key.clear();
        let mut cidr = None;
        let mut first = true;
        for (i, field) in self.schema.fields.iter().enumerate() {
            let cell = cells.cell(i);
            if cell.is_missing() {
                if i == self.key_idx {
                    return Err((field.name.clone(), "the primary key is missing".into()));
                }
                if field.required {
                    return Err((field.name.clone(), "required value is missing".into()));
                }
                continue;
            }
            if !first {
                self.frag.push(b',');
            }
            first = false;
            write_str(&mut self.frag, field.name.as_bytes());
            self.frag.push(b':');
            let value_start = self.frag.len();
            extras.cidr = None;
            normalize::render(field, cell, &field.name, &mut self.frag, extras)
                .map_err(|e| (e.path, e.reason))?;
            if i != self.key_idx {
                continue;
            }
            match self.kind {
                KeyKind::Cidr => {
                    // Rendering validated the key as a block (a CIDR key has `validate:
                    // cidr`); parse only if that ever stops being the case.
                    let c = match extras.cidr.take() {
                        Some(c) => c,
                        None => Cidr::parse(&cell_text(cell))
                            .map_err(|e| (field.name.clone(), e.to_string()))?,
                    };
                    // Store the block normalised (host bits zero), in the key column too.
                    self.frag.truncate(value_start);
                    write_cidr(&mut self.key, &c);
                    write_str(&mut self.frag, &self.key);
                    cidr = Some(c);
                }
                KeyKind::Exact => {
                    let text = cell_text(cell);
                    // Integer keys use their normalised digits ("+7" and "007" -> "7").
                    let text: &[u8] = if field.ty == FieldType::String {
                        text.as_bytes()
                    } else {
                        &self.frag[value_start..]
                    };
                    if text.is_empty() {
                        return Err((field.name.clone(), "the primary key is empty".into()));
                    }
                    if self.case_insensitive {
                        fold_case(text, &mut self.key);
                    } else {
                        self.key.extend_from_slice(text);
                    }
                }
            }
        }
        Ok(cidr)
    }

    fn finish(mut self, spec: &TableSpec) -> Result<Built, Rejected> {
        self.report.rows_loaded = self.entries.len() as u64;
        if self.report.rejected() {
            return Err(Rejected {
                table: spec.name.clone(),
                report: Box::new(self.report),
            });
        }
        let key = match self.kind {
            KeyKind::Exact => KeyIndex::Exact {
                index: self.exact,
                case_insensitive: self.case_insensitive,
            },
            KeyKind::Cidr => {
                let mut ib = CidrIndexBuilder::with_capacity(self.cidr_list.len());
                for (c, row) in self.cidr_list {
                    ib.insert(c, row);
                }
                KeyIndex::Cidr {
                    index: ib.build(),
                    match_all: spec.cidr_match == CidrMatch::All,
                }
            }
        };
        self.arena.shrink_to_fit();
        self.entries.shrink_to_fit();
        Ok(Built {
            table: Table {
                arena: self.arena,
                entries: self.entries,
                expires: self.expires,
                key,
            },
            report: self.report,
        })
    }
}

/// Appends `c` as its `Display` form writes it (RFC 5952 text for IPv6). Formatting
/// through `core::fmt` cost as much as all the rest of a row, so it is done by hand; a
/// test holds it to `Display` on random and zero-heavy blocks.
fn write_cidr(out: &mut Vec<u8>, c: &Cidr) {
    match c.addr() {
        std::net::IpAddr::V4(a) => write_v4(out, a),
        std::net::IpAddr::V6(a) => write_v6(out, a),
    }
    out.push(b'/');
    write_decimal(out, c.len());
}

fn write_v4(out: &mut Vec<u8>, a: std::net::Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        write_decimal(out, octet);
    }
}

/// Lower-case hex groups; the first longest run of two or more zero groups becomes `::`;
/// an IPv4-mapped address ends in dotted decimal.
fn write_v6(out: &mut Vec<u8>, a: std::net::Ipv6Addr) {
    if let Some(v4) = a.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        write_v4(out, v4);
        return;
    }
    let seg = a.segments();
    let (mut best, mut best_len, mut run) = (0, 0, 0);
    for (i, &g) in seg.iter().enumerate() {
        run = if g == 0 { run + 1 } else { 0 };
        if run > best_len {
            best_len = run;
            best = i + 1 - run;
        }
    }
    let groups = |out: &mut Vec<u8>, gs: &[u16]| {
        for (i, &g) in gs.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
            for d in (0..digits).rev() {
                out.push(b"0123456789abcdef"[usize::from((g >> (4 * d)) & 0xf)]);
            }
        }
    };
    if best_len > 1 {
        groups(out, &seg[..best]);
        out.extend_from_slice(b"::");
        groups(out, &seg[best + best_len..]);
    } else {
        groups(out, &seg);
    }
}

fn write_decimal(out: &mut Vec<u8>, v: u8) {
    if v >= 100 {
        out.push(b'0' + v / 100);
    }
    if v >= 10 {
        out.push(b'0' + v / 10 % 10);
    }
    out.push(b'0' + v % 10);
}

/// Starts an arena entry: row id, key length, fragment length (see [`HEADER`]).
fn push_header(arena: &mut Vec<u8>, row: u32, key_len: usize, frag_len: u32) {
    let key_len = u32::try_from(key_len).expect("a key under 4 GiB");
    let start = arena.len();
    arena.extend_from_slice(&row.to_le_bytes());
    arena.extend_from_slice(&key_len.to_le_bytes());
    arena.extend_from_slice(&frag_len.to_le_bytes());
    debug_assert_eq!(arena.len() - start, HEADER);
}

fn cell_text(cell: Cell<'_>) -> std::borrow::Cow<'_, str> {
    match cell {
        Cell::Text(s) => s.into(),
        Cell::Json(serde_json::Value::String(s)) => s.as_str().into(),
        Cell::Json(v) => v.to_string().into(),
        Cell::Missing => "".into(),
    }
}

impl RowSink for Builder<'_> {
    fn row(&mut self, pos: RowPos, cells: &dyn CellSource) {
        self.report.rows_read += 1;
        let mut extras = Extras::default();
        let cidr = match self.render_row(cells, &mut extras) {
            Ok(c) => c,
            Err((col, reason)) => return self.problem(pos, Some(&col), reason),
        };
        let row_id = self.entries.len() as u32;
        let entry = self.arena.len() as u64;
        let duplicate = match cidr {
            Some(c) => match self.cidrs.get(&c) {
                Some(&first_row) => Some(first_row),
                None => {
                    self.cidrs.insert(c, pos.row);
                    self.cidr_list.push((c, row_id));
                    None
                }
            },
            None => {
                // Stage the header and key in the arena so the index compares in place.
                push_header(&mut self.arena, row_id, self.key.len(), 0);
                self.arena.extend_from_slice(&self.key);
                let arena = &self.arena;
                match self
                    .exact
                    .insert(&self.key, entry, |off| entry_at(arena, off).1)
                {
                    Ok(()) => None,
                    Err(first) => {
                        self.arena.truncate(entry as usize);
                        let (first, _, _) = entry_at(&self.arena, first);
                        Some(self.row_numbers[first as usize])
                    }
                }
            }
        };
        if let Some(first_row) = duplicate {
            self.report.duplicate_keys += 1;
            let key = String::from_utf8_lossy(&self.key).into_owned();
            let col = self.schema.fields[self.key_idx].name.clone();
            return self.problem(
                pos,
                Some(&col),
                format!(
                    "duplicate primary key {key:?} (rows {first_row} and {})",
                    pos.row
                ),
            );
        }
        if cidr.is_some() {
            push_header(&mut self.arena, row_id, self.key.len(), 0);
            self.arena.extend_from_slice(&self.key);
        }
        let frag_len = u32::try_from(self.frag.len()).expect("a row under 4 GiB");
        let at = entry as usize + 8;
        self.arena[at..at + 4].copy_from_slice(&frag_len.to_le_bytes());
        self.arena.extend_from_slice(&self.frag);
        self.entries.push(entry);
        self.row_numbers.push(pos.row);
        if self.has_expiry {
            self.expires.push(extras.expires_at.unwrap_or(NO_EXPIRY));
        }
    }

    fn bad_row(&mut self, pos: RowPos, column: Option<&str>, reason: String) {
        self.report.rows_read += 1;
        self.problem(pos, column, reason);
    }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
