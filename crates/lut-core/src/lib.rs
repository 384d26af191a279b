//! lut-core: the pure engine of lut.
//!
//! Everything here is deterministic and free of async runtimes, cloud SDKs and HTTP: it
//! parses Panther-format schemas (§3) and lookup-table specs (§2.1), builds validated,
//! indexed, immutable tables from data files (§4), and enriches NDJSON events (§5). The I/O
//! and service layers (S3 sync, catalog, API) are built on top of it in other crates.

pub mod aws;
pub mod data;
pub mod diag;
pub mod enrich;
pub mod iam;
pub mod index;
pub mod json;
pub mod log_types;
pub mod net;
pub mod project;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod spec;
pub mod table;
pub mod yaml;

#[cfg(test)]
mod testutil;
