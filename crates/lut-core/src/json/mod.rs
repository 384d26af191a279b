//! JSON handling for the enrichment hot path: strict validation of one NDJSON line as a JSON
//! object with the byte positions of its top-level members (`scan`), and writing of the small
//! JSON fragments that get spliced into a line (`write`). Nothing here builds a DOM: callers
//! read and patch the original bytes.

pub mod scan;
pub mod write;

#[cfg(test)]
mod tests;

pub use scan::{
    elements, members, raw_str_eq, scan_object, unescape_into, ElementIter, Kind, Member,
    MemberIter, ObjectSpan, ScanError, MAX_DEPTH,
};
pub use write::{write_number_canonical, write_str};
