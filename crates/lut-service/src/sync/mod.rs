//! The sync engine: one check of one table, and the start-up load (§6.2, §6.3).
//!
//! A check is a conditional fetch with the ETag lut holds. An unchanged object costs that
//! one request. A changed one is stored as a content-addressed blob (fsynced and renamed
//! into place), built into a table beside the live one, recorded in the catalog — version
//! and live pointer in one transaction — and only then swapped into the registry. Any
//! failure leaves the live version as it was and becomes a system error with its stage,
//! code, cause and remedy; the next successful check resolves it.

mod engine;
mod scheduler;

pub use engine::{
    CheckOutcome, Failure, LoadProblem, Phase, ProgressFn, SyncEngine, SyncEvent, SyncSettings,
};
pub use scheduler::{Scheduler, SchedulerHandle, SchedulerSettings};
