//! Test support for lut's crates (a dev-dependency only; never shipped).
//!
//! - [`moto`]: one moto server per test process (AWS STS, IAM, S3 and KMS on 127.0.0.1),
//!   installed into a venv under the target directory on first use, with IAM enforcement on,
//!   and helpers that set up principals, roles, buckets, objects and KMS keys.
//! - [`proxy`]: a fault-injecting HTTP proxy to put in front of it, which also records every
//!   request.

pub mod moto;
pub mod proxy;

pub use moto::{
    ensure_lint_venv, ensure_schemathesis_venv, AccessKey, MotoError, MotoServer, Principal,
    PutOptions, RoleSpec,
};
pub use proxy::{Fault, FaultProxy, Match, Recorded};
/// For [`MotoServer::call`]'s arguments and answers.
pub use serde_json::{json, Value};
