//! lut-service: the long-running parts of lut.
//!
//! - [`sync::SyncEngine`]: one check of one table — conditional fetch, build beside the live
//!   version, record, swap — and the start-up load of every live version from the data
//!   directory before any network call.
//! - [`sync::Scheduler`]: checks every enabled table on its period with jitter, backs off
//!   failing tables, caps parallel downloads, and takes "sync now" requests. `lut sync
//!   --watch` runs it in the foreground; `lut serve` embeds it unchanged.
//! - [`alarms::Notifier`]: "no data" and "failing" alarms and new CRITICAL system errors,
//!   evaluated every minute and sent to [`destinations`] (webhook, Slack, PagerDuty, Teams,
//!   SNS).

pub mod api;
pub mod definitions;
pub mod iam;
pub mod lowprio;
pub mod sync;

pub mod alarms;
pub mod destinations;
