//! Immutable lookup tables: rows pre-rendered as JSON fragments plus one key index.
//!
//! A [`Table`] is built once from a data file ([`build`]) and never changes; a new version
//! is a new `Table`. Each row is stored as the JSON text it contributes to an enrichment
//! (`"col":value,...`), so enriching an event copies bytes instead of serialising values.
//! Lookups return `Option`: a miss is normal, not an error.

pub mod build;
pub mod normalize;
pub mod report;

use std::net::IpAddr;

pub use build::{build, build_with, BuildOptions, Built, Rejected};
pub use report::{BuildReport, RowProblem};

use crate::index::{CidrIndex, ExactIndex};
use crate::schema::{FieldType, Schema};
use crate::spec::{CidrMatch, TableSpec};

/// Index of a row in its table.
pub type RowId = u32;

/// "Never expires".
pub const NO_EXPIRY: i64 = i64::MAX;

#[derive(Debug)]
pub enum KeyIndex {
    Exact {
        index: ExactIndex,
        case_insensitive: bool,
    },
    Cidr {
        index: CidrIndex,
        match_all: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Row {
    /// Start of the row's key in the arena; the fragment follows the key directly.
    key_off: u64,
    key_len: u32,
    frag_len: u32,
}

/// An immutable, indexed table version.
#[derive(Debug)]
pub struct Table {
    arena: Vec<u8>,
    rows: Vec<Row>,
    /// Per-row expiry (nanoseconds since the epoch); empty when the schema has no
    /// `isExpiration` field, so tables without expiry pay nothing.
    expires: Vec<i64>,
    key: KeyIndex,
}

/// How the primary key is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Exact,
    Cidr,
}

/// Checks that the spec's primary key can key this schema (§2): a top-level string or
/// integer field; a CIDR key is a string with `validate: cidr`. Returns the field index.
pub fn key_field(spec: &TableSpec, schema: &Schema) -> Result<(usize, KeyKind), String> {
    let Some(i) = schema
        .fields
        .iter()
        .position(|f| f.name == spec.primary_key)
    else {
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        return Err(format!(
            "primary key {:?} is not a top-level field of schema {:?} (fields: {})",
            spec.primary_key,
            schema.name,
            names.join(", ")
        ));
    };
    let f = &schema.fields[i];
    if !f.ty.can_be_key() {
        return Err(format!(
            "primary key {:?} has type {}; a primary key must be a string, int, smallint or bigint field",
            f.name,
            f.ty.name()
        ));
    }
    let cidr = f.validate.cidr.is_some();
    if spec.cidr_match == CidrMatch::All && !cidr {
        return Err(format!(
            "cidrMatch: all needs a CIDR primary key, but {:?} has no `validate: {{cidr: ...}}`",
            f.name
        ));
    }
    if cidr && f.ty != FieldType::String {
        return Err(format!(
            "CIDR primary key {:?} must be a string field",
            f.name
        ));
    }
    Ok((i, if cidr { KeyKind::Cidr } else { KeyKind::Exact }))
}

impl Table {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn kind(&self) -> KeyKind {
        match self.key {
            KeyIndex::Exact { .. } => KeyKind::Exact,
            KeyIndex::Cidr { .. } => KeyKind::Cidr,
        }
    }

    pub fn is_cidr(&self) -> bool {
        matches!(self.key, KeyIndex::Cidr { .. })
    }

    pub fn case_insensitive(&self) -> bool {
        matches!(
            self.key,
            KeyIndex::Exact {
                case_insensitive: true,
                ..
            }
        )
    }

    /// The stored key of a row (normalised; lower-cased in a case-insensitive table).
    #[inline]
    pub fn key(&self, row: RowId) -> &[u8] {
        let r = &self.rows[row as usize];
        let start = r.key_off as usize;
        &self.arena[start..start + r.key_len as usize]
    }

    /// The row's pre-rendered members: `"col":value,"col2":value2`.
    #[inline]
    pub fn fragment(&self, row: RowId) -> &[u8] {
        let r = &self.rows[row as usize];
        let start = r.key_off as usize + r.key_len as usize;
        &self.arena[start..start + r.frag_len as usize]
    }

    #[inline]
    fn live(&self, row: RowId, now: i64) -> bool {
        self.expires.is_empty() || self.expires[row as usize] > now
    }

    /// Exact lookup of a value's string form. `scratch` holds the folded key of a
    /// case-insensitive table, so a lookup allocates nothing once warmed up. Expired rows
    /// (at `now`, nanoseconds since the epoch) do not match.
    #[inline]
    pub fn get(&self, value: &[u8], now: i64, scratch: &mut Vec<u8>) -> Option<RowId> {
        let KeyIndex::Exact {
            index,
            case_insensitive,
        } = &self.key
        else {
            return None;
        };
        let probe: &[u8] = if *case_insensitive && needs_folding(value) {
            scratch.clear();
            fold_case(value, scratch);
            scratch
        } else {
            value
        };
        let row = index.get(probe, |r| self.key(r))?;
        self.live(row, now).then_some(row)
    }

    /// Calls `f` with the rows whose block contains `ip`: the most specific live one, or
    /// with `cidrMatch: all` every live one, most specific first. Returns how many.
    #[inline]
    pub fn get_ip(&self, ip: IpAddr, now: i64, mut f: impl FnMut(RowId)) -> usize {
        let KeyIndex::Cidr { index, match_all } = &self.key else {
            return 0;
        };
        let mut n = 0;
        for row in index.containing(ip) {
            if self.live(row, now) {
                f(row);
                n += 1;
                if !match_all {
                    break;
                }
            }
        }
        n
    }

    /// Whether this table answers `cidrMatch: all` (a list of blocks per value).
    pub fn match_all(&self) -> bool {
        matches!(
            self.key,
            KeyIndex::Cidr {
                match_all: true,
                ..
            }
        )
    }

    /// Approximate heap bytes used by rows and indexes.
    pub fn heap_bytes(&self) -> usize {
        let index = match &self.key {
            KeyIndex::Exact { index, .. } => index.heap_bytes(),
            KeyIndex::Cidr { index, .. } => index.heap_bytes(),
        };
        self.arena.capacity()
            + self.rows.capacity() * std::mem::size_of::<Row>()
            + self.expires.capacity() * 8
            + index
    }
}

fn needs_folding(s: &[u8]) -> bool {
    s.iter().any(|b| b.is_ascii_uppercase() || *b >= 0x80)
}

/// Lower-cases UTF-8 text for case-insensitive keys: ASCII in place, anything else through
/// Unicode lower-casing.
pub(crate) fn fold_case(s: &[u8], out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend(s.iter().map(u8::to_ascii_lowercase));
    } else {
        match std::str::from_utf8(s) {
            Ok(text) => out.extend_from_slice(text.to_lowercase().as_bytes()),
            Err(_) => out.extend_from_slice(s),
        }
    }
}
