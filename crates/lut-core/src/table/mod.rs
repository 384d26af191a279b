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

/// Bytes in front of each row's key in the arena: the row id, the key length and the
/// fragment length, as little-endian `u32`s. An exact index points at this header, so one
/// probe finds the key to compare, the fragment to copy and the row (for its expiry) in
/// one cache line instead of going through a separate row array.
pub(crate) const HEADER: usize = 12;

#[inline]
fn read_u32(arena: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&arena[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The row id, key and fragment of the arena entry at `off`.
#[inline]
fn entry_at(arena: &[u8], off: u64) -> (RowId, &[u8], &[u8]) {
    let off = off as usize;
    let row = read_u32(arena, off);
    let key_len = read_u32(arena, off + 4) as usize;
    let frag_len = read_u32(arena, off + 8) as usize;
    let key = off + HEADER;
    let frag = key + key_len;
    (row, &arena[key..frag], &arena[frag..frag + frag_len])
}

/// An immutable, indexed table version.
#[derive(Debug)]
pub struct Table {
    /// Per row: [`HEADER`], key, fragment.
    arena: Vec<u8>,
    /// Arena offset of each row's entry.
    entries: Vec<u64>,
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
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        entry_at(&self.arena, self.entries[row as usize]).1
    }

    /// The row's pre-rendered members: `"col":value,"col2":value2`.
    #[inline]
    pub fn fragment(&self, row: RowId) -> &[u8] {
        entry_at(&self.arena, self.entries[row as usize]).2
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
        self.lookup(value, now, scratch).map(|(row, _)| row)
    }

    /// [`Table::get`] that also returns the row's fragment (read from the entry the probe
    /// already loaded).
    #[inline]
    pub fn lookup(&self, value: &[u8], now: i64, scratch: &mut Vec<u8>) -> Option<(RowId, &[u8])> {
        let KeyIndex::Exact { index, .. } = &self.key else {
            return None;
        };
        let probe = self.probe_key(value, scratch);
        let arena = &self.arena;
        let off = index.get(probe, |off| entry_at(arena, off).1)?;
        let (row, _, frag) = entry_at(arena, off);
        self.live(row, now).then_some((row, frag))
    }

    /// The bytes an exact lookup of `value` compares: `value` itself, or its folded form
    /// (left in `scratch`) in a case-insensitive table.
    #[inline]
    fn probe_key<'v>(&self, value: &'v [u8], scratch: &'v mut Vec<u8>) -> &'v [u8] {
        if self.case_insensitive() && needs_folding(value) {
            scratch.clear();
            fold_case(value, scratch);
            scratch
        } else {
            value
        }
    }

    /// For an exact table, the hash a lookup of `value` will probe with, for
    /// [`Table::prefetch_slot`] and [`Table::prefetch_entry`]; None for a CIDR table.
    #[inline]
    pub fn lookup_hash(&self, value: &[u8], scratch: &mut Vec<u8>) -> Option<u64> {
        let KeyIndex::Exact { index, .. } = &self.key else {
            return None;
        };
        Some(index.hash(self.probe_key(value, scratch)))
    }

    /// Starts loading the index slot a lookup with `hash` reads first. Prefetches only
    /// change timing: a caller batching lookups issues these for many keys, then
    /// [`Table::prefetch_entry`], then looks up, so the cache misses overlap.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if let KeyIndex::Exact { index, .. } = &self.key {
            index.prefetch_slot(hash);
        }
    }

    /// Starts loading the arena entry a lookup with `hash` most likely ends at. Reads the
    /// index slot, so call it after [`Table::prefetch_slot`] had time to land.
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        if let KeyIndex::Exact { index, .. } = &self.key {
            if let Some(off) = index.candidate(hash) {
                crate::index::exact::prefetch(self.arena.as_ptr().wrapping_add(off as usize));
            }
        }
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
            + self.entries.capacity() * std::mem::size_of::<u64>()
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
