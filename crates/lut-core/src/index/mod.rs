//! Lookup indexes over a built table: exact keys (hash) and CIDR blocks (longest prefix).

pub mod cidr;
pub mod exact;

pub use cidr::{CidrIndex, CidrIndexBuilder};
pub use exact::ExactIndex;
